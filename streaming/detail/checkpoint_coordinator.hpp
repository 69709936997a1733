// The checkpoints of one query: which one the sources inject next, the
// parts operators snapshot, and when one is complete and committed.
//
// trigger() asks for checkpoint n; every source task injects barrier n into
// its stream at its next step (after the records it already emitted:
// everything before the barrier belongs to checkpoint n), operators with
// several inputs align the barriers (streaming/barrier_aligner.hpp), and
// every participant (an instance holding state: source tasks, keyed
// operators, watermark generators, sinks) snapshots its state when the
// barrier reaches it, hands the parts over (add_part) and acknowledges.
// Checkpoint n is complete once every participant acknowledged it or ended
// (an ended participant's final parts stand for it).
//
// With storage (a CheckpointSession) the checkpoint thread owned here
// writes the parts as they come, off the workers' threads (a worker's cost
// is the in-memory copy its snapshot makes), and commits the checkpoint once
// it is complete; completed() moves only after the commit is durable. One
// checkpoint is in flight at a time: a trigger while one is runs the next
// right after it. A checkpoint not complete within the timeout, or whose
// storage fails, is aborted and logged; the query runs on.
//
// Without storage only the barrier protocol runs: parts are dropped and a
// checkpoint is complete when every participant acknowledged it.
//
// Thread-safe: participants call it from their workers' threads, the user
// from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "streaming/checkpoint_storage.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/errors.hpp"
#include "streaming/metrics.hpp"

namespace sluice::detail {

class CheckpointCoordinator {
 public:
  using Log = std::function<void(const std::string&)>;
  using Parts = std::vector<std::pair<std::string, std::string>>;

  /// `workers`: woken when a checkpoint is requested or committed (an idle
  /// worker sleeps). `session`: where checkpoints go (null: barrier protocol
  /// only). `next_id`: the id of the first checkpoint (after every stored
  /// one). `timeout`: how long a checkpoint may take before it is aborted.
  explicit CheckpointCoordinator(std::vector<Worker*> workers = {}, std::unique_ptr<CheckpointSession> session = nullptr,
                                 std::uint64_t next_id = 1,
                                 std::chrono::milliseconds timeout = std::chrono::minutes(10), Log log = {});
  /// Stops the checkpoint thread; a checkpoint in flight is aborted.
  ~CheckpointCoordinator();
  CheckpointCoordinator(const CheckpointCoordinator&) = delete;
  CheckpointCoordinator& operator=(const CheckpointCoordinator&) = delete;

  /// An instance holding state takes part; returns its slot. Called while
  /// the query is built, before the first trigger.
  std::size_t add_participant(std::string operator_name);

  /// Whether parts are kept (the query has checkpoint storage).
  bool storing() const { return had_storage_; }

  /// Requests a checkpoint; returns its id. With storage, while one is in
  /// flight the new one starts right after it (several requests meanwhile
  /// become one).
  std::uint64_t trigger();

  /// The newest checkpoint requested (0: none): sources inject it.
  std::uint64_t requested() const { return requested_.load(std::memory_order_acquire); }

  /// Part `key` of operator `operator_name` for checkpoint `id`. Dropped
  /// without storage or when checkpoint `id` is no longer in flight.
  void add_part(std::uint64_t id, const std::string& operator_name, std::string key, std::string bytes);

  /// Part `key` of operator `operator_name` for checkpoint `id`, unchanged
  /// since base_of(id): added by reference to the base's bytes.
  void reuse_part(std::uint64_t id, const std::string& operator_name, std::string key);

  /// The checkpoint that checkpoint `id` may reuse parts of (0: none, write
  /// every part in full): the previous checkpoint, when it completed (or
  /// the checkpoint this run restored, when it is the newest stored one)
  /// and the query checkpoints incrementally. A failed or aborted previous
  /// checkpoint makes the next one full. 0 as well when `id` is not in flight.
  std::uint64_t base_of(std::uint64_t id) const;

  /// Whether checkpoints reuse unchanged parts (default true). Before the run starts.
  void set_incremental(bool on) { incremental_ = on; }
  /// The run restored complete checkpoint `id`, the newest stored: the
  /// first checkpoint may reuse its parts. Before the run starts.
  void set_restored_base(std::uint64_t id) { base_candidate_ = id; }

  /// A participant spent `us` taking its snapshot for checkpoint `id` (for
  /// CheckpointStats::last_max_snapshot_us).
  void note_snapshot_time(std::uint64_t id, std::uint64_t us);

  /// Participant `slot` snapshotted checkpoint `id` (its parts are added).
  void acknowledge(std::size_t slot, std::uint64_t id);

  /// Participant `slot` ended; `final_parts` (key, bytes) stand for it in
  /// every checkpoint it did not acknowledge.
  void ended(std::size_t slot, Parts final_parts);

  /// Durable markers outside checkpoints (CheckpointSession::put_marker);
  /// without storage, put does nothing and get finds nothing. Thread-safe;
  /// not after close().
  void put_marker(std::string_view key, std::string_view value) {
    if (session_ != nullptr) session_->put_marker(key, value);
  }
  std::optional<std::string> get_marker(std::string_view key) {
    return session_ != nullptr && !fresh_start_ ? session_->get_marker(key) : std::nullopt;
  }
  /// Copies complete checkpoint `id` into a savepoint at `dir`. Any
  /// thread. Throws ConfigError without storage or after close(), and what
  /// the storage throws.
  void write_savepoint(std::uint64_t id, const std::filesystem::path& dir) {
    std::lock_guard lock(session_mu_);
    if (session_ == nullptr)
      throw ConfigError("Query::savepoint", "checkpoints.storage",
                        had_storage_ ? "the query has ended" : "a savepoint needs checkpoint storage");
    session_->write_savepoint(id, dir);
  }

  /// The run starts over (CheckpointOptions::restore false): markers of
  /// earlier runs are not read (and get overwritten). Before the run starts.
  void set_fresh_start() { fresh_start_ = true; }
  /// After more than `tolerable` consecutive failed checkpoints (the query
  /// ending does not count), calls fail(why) once, with the lock held: it
  /// must not call back into the coordinator.
  void set_failure_policy(std::size_t tolerable, std::function<void(const std::string&)> fail) {
    std::lock_guard lock(mu_);
    tolerable_failures_ = tolerable;
    fail_query_ = std::move(fail);
  }

  /// The newest complete (with storage: committed) checkpoint, 0: none.
  std::uint64_t completed() const;
  /// Waits until checkpoint `id` (or a newer one) is complete; false on
  /// timeout, or as soon as checkpoint `id` failed.
  bool wait_completed(std::uint64_t id, std::chrono::milliseconds timeout);

  CheckpointStats counters() const;

  /// The workers are about to be destroyed: wake them no more.
  void detach_workers();

  /// The query has ended: finishes what is queued (a checkpoint whose
  /// commit is queued still commits), aborts a checkpoint still waiting for
  /// participants, stops the checkpoint thread and closes the storage (so
  /// another run can open it). Triggers are ignored from now on. Idempotent.
  void close();

 private:
  struct Participant {
    std::string name = {};
    std::uint64_t acked = 0;  // newest checkpoint acknowledged
    bool ended = false;
    std::shared_ptr<const Parts> final_parts = {};
  };
  struct Job {
    enum class Kind { kBegin, kPart, kReuse, kCommit } kind;
    std::uint64_t id = 0;
    std::uint64_t base = 0;  // kBegin: base_of(id)
    std::string name = {}, key = {}, bytes = {};
    // kCommit: the final parts of participants that ended before acknowledging.
    std::vector<std::pair<std::string, std::shared_ptr<const Parts>>> finals = {};
  };

  // Under mu_.
  void start_locked(std::uint64_t id);
  void check_complete_locked();
  void finish_locked(std::uint64_t id, bool ok, const std::string& error);
  void wake_workers_locked();
  void log(const std::string& line) const;

  void run_thread();
  void run_job(Job& job);

  std::vector<Worker*> workers_;
  std::unique_ptr<CheckpointSession> session_;
  std::chrono::milliseconds timeout_;
  Log log_;
  const bool had_storage_;  // storing() before close()
  bool fresh_start_ = false;
  std::mutex session_mu_;  // write_savepoint (any thread) against close()

  mutable std::mutex mu_;
  std::condition_variable cv_;         // completed_ / failed_ / queue changes
  std::vector<Participant> participants_;
  std::uint64_t next_id_;              // the id the next trigger gets
  std::uint64_t in_flight_ = 0;        // the checkpoint being taken (0: none)
  bool commit_queued_ = false;         // in_flight_'s commit is queued
  bool another_requested_ = false;     // trigger() while in flight
  std::chrono::steady_clock::time_point in_flight_since_{};
  std::uint64_t completed_ = 0;
  std::uint64_t newest_failed_ = 0;
  std::uint64_t in_flight_bytes_ = 0;
  std::uint64_t in_flight_written_ = 0, in_flight_reused_ = 0, in_flight_max_snapshot_us_ = 0;
  std::uint64_t in_flight_base_ = 0;   // base_of(in_flight_)
  std::uint64_t base_candidate_ = 0;   // the previous checkpoint, if it completed (0: none or it failed)
  bool incremental_ = true;
  CheckpointStats counters_;
  std::size_t tolerable_failures_ = 0;
  std::function<void(const std::string&)> fail_query_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> requested_{0};
  std::unique_ptr<CheckpointWriter> writer_;  // checkpoint thread only
  std::uint64_t writer_id_ = 0;               // checkpoint thread only
  std::thread thread_;                        // with storage only; last member: starts after the rest
};

}  // namespace sluice::detail
