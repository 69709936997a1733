// The queue under a channel between two workers: moodycamel's lock-free
// queue, or, in ThreadSanitizer builds, a mutex-guarded deque.
//
// TSan does not model the standalone fences moodycamel's queue orders its
// slots with, so it would report races that are not there and could miss
// real ones in the code around the channel. The sanitizer build
// (SLUICE_SANITIZE=thread defines SLUICE_TSAN_VISIBLE_QUEUES) swaps in a
// queue TSan understands, so the channel and exchange tests check the
// protocol itself; release builds keep the lock-free queue.
#pragma once

#include <cstddef>
#include <utility>

#if SLUICE_TSAN_VISIBLE_QUEUES
#include <deque>
#include <mutex>
#else
#include <concurrentqueue/concurrentqueue.h>
#endif

namespace sluice::detail {

#if SLUICE_TSAN_VISIBLE_QUEUES

template <class T>
class ChannelQueue {
 public:
  void enqueue(T&& v) {
    std::lock_guard lock(mu_);
    q_.push_back(std::move(v));
  }
  bool try_dequeue(T& out) {
    std::lock_guard lock(mu_);
    if (q_.empty()) return false;
    out = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  std::size_t size_approx() const {
    std::lock_guard lock(mu_);
    return q_.size();
  }

 private:
  mutable std::mutex mu_;
  std::deque<T> q_;
};

#else

/// One thread enqueues and one thread dequeues (tokens for both).
template <class T>
class ChannelQueue {
 public:
  void enqueue(T&& v) { q_.enqueue(producer_, std::move(v)); }
  bool try_dequeue(T& out) { return q_.try_dequeue(consumer_, out); }
  std::size_t size_approx() const { return q_.size_approx(); }

 private:
  // No blocks up front (the default preallocates 192 slots): with N workers
  // there are N(N-1) channels, most of them idle or nearly so.
  moodycamel::ConcurrentQueue<T> q_{0};
  moodycamel::ProducerToken producer_{q_};
  moodycamel::ConsumerToken consumer_{q_};
};

#endif

}  // namespace sluice::detail
