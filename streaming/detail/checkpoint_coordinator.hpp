// The barrier protocol of one query: which checkpoint the sources should
// inject next, and when one is complete.
//
// trigger() asks for a checkpoint; every source task injects barrier n
// into its stream at its next step (after the records it already emitted:
// everything before the barrier belongs to checkpoint n), operators with
// several inputs align the barriers (streaming/barrier_aligner.hpp), and
// every sink instance acknowledges barrier n when it reaches it. Checkpoint
// n is complete once every sink instance acknowledged it or ended (a sink
// whose input ended has nothing more to add). Snapshot content and storage
// are attached to this protocol by later steps (checkpoint/).
//
// Thread-safe: sources and sinks call it from their workers' threads, the
// user from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

#include "streaming/detail/worker.hpp"

namespace sluice::detail {

class CheckpointCoordinator {
 public:
  /// `workers`: woken when a checkpoint is requested (an idle worker sleeps).
  explicit CheckpointCoordinator(std::vector<Worker*> workers = {}) : workers_(std::move(workers)) {}

  /// A sink instance takes part; returns its slot. Called while the query is built.
  std::size_t add_sink() {
    std::lock_guard lock(mu_);
    sinks_.push_back(SinkSlot{});
    return sinks_.size() - 1;
  }

  /// Requests the next checkpoint; returns its id (1, 2, ...).
  std::uint64_t trigger() {
    std::lock_guard lock(mu_);
    const std::uint64_t id = ++last_triggered_;
    requested_.store(id, std::memory_order_release);
    check_complete();  // a query whose sinks all ended completes it at once
    for (Worker* w : workers_) w->wake().signal();
    return id;
  }

  /// The workers are about to be destroyed: wake them no more.
  void detach_workers() {
    std::lock_guard lock(mu_);
    workers_.clear();
  }

  /// The newest checkpoint requested (0: none): sources inject it.
  std::uint64_t requested() const { return requested_.load(std::memory_order_acquire); }

  /// Sink `slot` reached barrier `id` (everything before it is in the sink).
  void acknowledge(std::size_t slot, std::uint64_t id) {
    std::lock_guard lock(mu_);
    SinkSlot& s = sinks_[slot];
    s.acked = std::max(s.acked, id);
    check_complete();
  }

  /// Sink `slot` received its end of input: it holds back no checkpoint.
  void sink_ended(std::size_t slot) {
    std::lock_guard lock(mu_);
    sinks_[slot].ended = true;
    check_complete();
  }

  /// The newest complete checkpoint (0: none).
  std::uint64_t completed() const {
    std::lock_guard lock(mu_);
    return completed_;
  }

  /// Waits until checkpoint `id` (or a newer one) is complete; false on timeout.
  template <class Rep, class Period>
  bool wait_completed(std::uint64_t id, std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return completed_ >= id; });
  }

 private:
  struct SinkSlot {
    std::uint64_t acked = 0;  // newest barrier acknowledged
    bool ended = false;
  };

  // Under mu_: the newest triggered checkpoint every sink acknowledged (or
  // ended) is complete, and with it every older one.
  void check_complete() {
    std::uint64_t done = last_triggered_;
    for (const SinkSlot& s : sinks_)
      if (!s.ended) done = std::min(done, s.acked);
    if (done > completed_) {
      completed_ = done;
      cv_.notify_all();
    }
  }

  std::vector<Worker*> workers_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SinkSlot> sinks_;
  std::uint64_t last_triggered_ = 0;
  std::uint64_t completed_ = 0;
  std::atomic<std::uint64_t> requested_{0};
};

}  // namespace sluice::detail
