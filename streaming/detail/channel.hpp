// A bounded single-producer single-consumer channel between two workers.
//
// Carries batches and in-band control messages in order, over a moodycamel
// lock-free queue. The bound is counted in messages. The producer never
// blocks inside `try_push`: a refused message stays with the producer (the
// exchange sender keeps it pending and the worker stops pulling the input that
// feeds it), which is what makes Block lossless without deadlocks.
// Capacity strategies: Block, Signal, Adaptive (DropOldest/DropNewest are
// refused for exchanges: they would have to drop in-band watermarks).
#pragma once

#include <concurrentqueue/concurrentqueue.h>  // defines macros lightweightsemaphore.h needs
#include <concurrentqueue/lightweightsemaphore.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "streaming/backpressure.hpp"
#include "streaming/detail/channel_queue.hpp"
#include "streaming/metrics.hpp"
#include "streaming/record.hpp"

namespace sluice::detail {

template <class T>
struct Message {
  Batch<T> batch;
  Control control;
  bool is_control = false;
};

template <class T>
class Channel {
 public:
  Channel(const BufferOptions& options, BufferMetrics& metrics, moodycamel::LightweightSemaphore* consumer_wake,
          moodycamel::LightweightSemaphore* producer_wake)
      : options_(options),
        capacity_(static_cast<std::int64_t>(options.capacity)),
        max_recycled_(options.strategy == Backpressure::kAdaptive ? options.adaptive_limit() : options.capacity),
        metrics_(metrics),
        consumer_wake_(consumer_wake),
        producer_wake_(producer_wake) {
    metrics_.capacity.set(capacity_);
  }

  /// Producer side. Returns false (and leaves `m` intact) when full under Block
  /// or Adaptive at its limit.
  bool try_push(Message<T>& m) {
    const std::int64_t size = size_.load(std::memory_order_acquire);
    if (size >= capacity_ && !make_room()) {
      if (blocked_since_ns_ == 0) {
        blocked_since_ns_ = now_ns();
        metrics_.backpressure_events.add(1);
        producer_waiting_.store(true, std::memory_order_release);
      }
      return false;
    }
    if (size == 0 && capacity_ > static_cast<std::int64_t>(options_.capacity)) {
      capacity_ = std::max<std::int64_t>(static_cast<std::int64_t>(options_.capacity), capacity_ / 2);
      metrics_.capacity.set(capacity_);
    }
    if (blocked_since_ns_ != 0) {
      metrics_.blocked_us.add(static_cast<std::uint64_t>((now_ns() - blocked_since_ns_) / 1000));
      blocked_since_ns_ = 0;
    }
    if (!m.is_control) {
      metrics_.batches.add(1);
      metrics_.records.add(m.batch.size());
    }
    metrics_.occupancy_sum.add(static_cast<std::uint64_t>(size));
    metrics_.occupancy_samples.add(1);
    queue_.enqueue(std::move(m));
    size_.fetch_add(1, std::memory_order_release);
    if (consumer_wake_) consumer_wake_->signal();
    return true;
  }

  /// Consumer side. Returns false when empty.
  bool try_pop(Message<T>& out) {
    if (!queue_.try_dequeue(out)) return false;
    size_.fetch_sub(1, std::memory_order_acq_rel);
    if (producer_waiting_.exchange(false, std::memory_order_acq_rel) && producer_wake_) producer_wake_->signal();
    return true;
  }

  std::int64_t size() const { return size_.load(std::memory_order_acquire); }

  /// Consumer side: hands an emptied batch back for reuse. Buffers then stay
  /// with the thread that allocated them instead of being freed across
  /// threads (slow in malloc) and allocated anew for every batch. Up to one
  /// per message the channel can hold come back: the consumer often drains
  /// many messages at once, and a smaller pool made the producer allocate
  /// most of its buffers anew (3 of 4 in workload B).
  void recycle(Batch<T>&& batch) {
    if (batch.capacity() == 0 || recycled_.size_approx() >= max_recycled_) return;
    batch.clear();
    recycled_.enqueue(std::move(batch));
  }
  /// Producer side: an empty batch with capacity, if one came back.
  bool take_recycled(Batch<T>& out) { return recycled_.try_dequeue(out); }

 private:
  // Called by the producer when full: true if the strategy admits one more.
  bool make_room() {
    switch (options_.strategy) {
      case Backpressure::kSignal:
        metrics_.backpressure_events.add(1);
        return true;
      case Backpressure::kAdaptive:
        if (capacity_ < static_cast<std::int64_t>(options_.adaptive_limit())) {
          capacity_ = std::min<std::int64_t>(capacity_ * 2, static_cast<std::int64_t>(options_.adaptive_limit()));
          metrics_.capacity.set(capacity_);
          metrics_.backpressure_events.add(1);
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  ChannelQueue<Batch<T>> recycled_;  // the consumer enqueues, the producer dequeues
  const BufferOptions options_;
  std::int64_t capacity_;  // producer-owned
  const std::size_t max_recycled_;
  BufferMetrics& metrics_;
  ChannelQueue<Message<T>> queue_;
  std::atomic<std::int64_t> size_{0};
  std::atomic<bool> producer_waiting_{false};
  std::int64_t blocked_since_ns_ = 0;  // producer-owned
  moodycamel::LightweightSemaphore* consumer_wake_;
  moodycamel::LightweightSemaphore* producer_wake_;
};

}  // namespace sluice::detail
