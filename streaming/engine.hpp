// The engine: runs named continuous queries.
//
//   Engine engine;                                  // workers = hardware threads
//   auto q = engine.start("fraud", job);            // returns at once; runs on worker threads
//   q->metrics();                                   // any time, from any thread
//   q->stop();                                      // or StopMode::kDrain to flush results first
//
// Each query runs on its own N worker threads. Names are unique among
// running queries; a stopped, finished or failed query's name can be started
// again (a restart: fresh state until checkpoints land). A query that ends
// releases its operators, state, channels and files at once, keeping only
// its final status and metrics; `engine.remove(name)` forgets it. Destroying
// the engine stops every query (cancel) and waits for its threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "streaming/backpressure.hpp"
#include "streaming/checkpoint_storage.hpp"
#include "streaming/job.hpp"
#include "streaming/metrics.hpp"
#include "streaming/time.hpp"

namespace sluice {

/// How a query takes checkpoints and recovers from them.
struct CheckpointOptions {
  /// Where checkpoints go, e.g. sluice::rocksdb_checkpoints(dir)
  /// (checkpoint/rocksdb_checkpoints.hpp). null (default): nothing is
  /// stored; checkpoint_now() still runs the barrier protocol. With storage,
  /// every source must be replayable and every stateful operator
  /// checkpointable, else the query refuses to start, naming the operator.
  std::shared_ptr<const CheckpointStorage> storage = nullptr;
  /// Take a checkpoint every interval_us of the query's clock (checked on
  /// worker 0's tick). 0 (default): only on checkpoint_now().
  DurationUs interval_us = 0;
  /// Complete checkpoints kept; older ones are deleted. Default 3.
  std::size_t retained = 3;
  /// A checkpoint not complete within this is aborted (logged, counted);
  /// the query runs on. Default 10 minutes.
  std::chrono::milliseconds timeout{600'000};
  /// Failed checkpoints in a row (timeouts, storage failures) the query
  /// runs on through; one more fails the query with the last one's error,
  /// as Flink's tolerable-failed-checkpoints does. Default 3.
  std::size_t tolerable_failures = 3;
  /// Restore on start: the newest complete checkpoint of this query name in
  /// the storage, if there is one (default); false: start fresh (new
  /// checkpoints still get ids above the stored ones).
  bool restore = true;
  /// Restore exactly this checkpoint instead of the newest; the query fails
  /// to start when it is missing or damaged.
  std::optional<std::uint64_t> restore_id = std::nullopt;
  /// Restore the savepoint in this directory (Query::savepoint), on any
  /// worker count, instead of a checkpoint; new checkpoints go to `storage`.
  std::optional<std::filesystem::path> restore_savepoint = std::nullopt;
  /// Incremental checkpoints (default true): a checkpoint writes only the
  /// key groups of operators that track changes (the keyed process
  /// operator) that changed since the previous checkpoint, and refers to the
  /// previous one's bytes for the rest. The first checkpoint of a run
  /// (unless it restored the newest stored one), savepoints and the one after
  /// a failed checkpoint are written in full. false: every checkpoint in full.
  bool incremental = true;
  /// Receives one line per notable event (restore, failed checkpoint). Default: stderr.
  std::function<void(const std::string&)> log = {};
};

struct QueryOptions {
  /// Worker threads, at most kMaxWorkers. 0: the engine's default, capped at
  /// max_parallelism. Results do not depend on it.
  std::size_t workers = 0;
  /// Number of key groups: the unit of keyed state and the upper bound for
  /// workers of keyed operators. Fixed for the life of a job's state. Default: 128.
  std::size_t max_parallelism = 128;
  /// Records per batch moved between operators and workers, at most
  /// kMaxBatchSize. Default: 1024.
  std::size_t batch_size = 1024;
  /// Buffer between each pair of workers at an exchange (key_by), in batches.
  /// Block (default), Signal or Adaptive; dropping strategies are refused here
  /// because these buffers carry watermarks (drop at sources instead).
  BufferOptions exchange_buffer{};
  /// Processing-time clock. nullptr: the engine's clock.
  const Clock* clock = nullptr;
  /// How often workers advance processing time (timers, periodic watermarks,
  /// idleness), in µs of the clock. Default: 1 ms.
  DurationUs tick_interval_us = 1000;
  /// Checkpoints and recovery; default: none stored.
  CheckpointOptions checkpoints{};

  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;

  /// Every pair of workers has a channel at each exchange, so memory and
  /// start-up grow with workers²: beyond this, run several queries instead.
  static constexpr std::size_t kMaxWorkers = 256;
  static constexpr std::size_t kMaxBatchSize = std::size_t{1} << 20;
};

enum class QueryState { kRunning, kFinished, kStopped, kFailed };
const char* to_string(QueryState s);

enum class StopMode {
  kCancel,  ///< stop as soon as possible; results still in flight are dropped
  kDrain,   ///< end the sources now, then flush: final watermark, timers, sinks
};

struct QueryStatus {
  QueryState state = QueryState::kRunning;
  std::string error;  ///< why it failed (kFailed only): the operator and the message
  /// The operator that failed the query (kFailed, when an operator's code
  /// failed it: an OperatorError); empty otherwise.
  std::string failed_operator;
};

/// One operator of a query's dataflow graph, for display and monitoring.
struct GraphNode {
  int id = 0;        ///< position in graph (creation) order, from 0
  std::string name;  ///< the operator's unique name in its job (its metrics' name)
  std::string kind;  ///< "source", "map", "key_by", "window", "sink", ...
};

/// Records (or side outputs) flow from node `from` to node `to` (node ids).
struct GraphEdge {
  int from = 0;
  int to = 0;
  bool operator==(const GraphEdge&) const = default;
};

/// The shape of a query's dataflow graph: nodes in graph order, one edge per
/// input of each node. Fixed for the life of the query.
struct QueryGraph {
  std::vector<GraphNode> nodes;
  std::vector<GraphEdge> edges;
};

class Query {
 public:
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  const std::string& name() const { return name_; }
  QueryStatus status() const;
  QueryMetrics metrics() const;
  /// Every operator instance's own figures (not summed over workers); see
  /// MetricsRegistry::snapshot_by_worker. Any time, from any thread.
  std::vector<OperatorWorkerStats> metrics_by_worker() const { return metrics_.snapshot_by_worker(); }
  std::size_t workers() const { return settings_.workers; }
  /// The query's operators and how they connect; kept after the query ends.
  const QueryGraph& topology() const { return topology_; }
  /// When the query was started, in µs of the engine's (or the query's) clock.
  Timestamp started_at_us() const { return started_at_us_; }

  /// How long stop(kDrain) waits for the drain by default.
  static constexpr std::chrono::milliseconds kDefaultDrainTimeout{30'000};

  /// Requests a stop and waits for the workers to exit. Idempotent.
  /// kDrain: if the drain has not finished within `drain_timeout`, the query
  /// is cancelled (what was not yet flushed is dropped; logged to stderr).
  /// Called from one of this query's own workers (a sink, callback or user
  /// function), it only requests the stop and returns at once: the worker
  /// stops after the call it is in returns (as Kafka Streams' close() from a
  /// stream thread). Waiting there would wait for itself.
  void stop(StopMode mode = StopMode::kCancel, std::chrono::milliseconds drain_timeout = kDefaultDrainTimeout);
  /// Waits until the query is no longer running. Throws SluiceError when
  /// called from one of the query's own workers (it would never return).
  void wait();
  /// Waits at most `timeout`; true if the query is no longer running.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return state_ != QueryState::kRunning; });
  }
  /// What failed the query (kFailed; usually an OperatorError naming the
  /// operator), or nullptr.
  std::exception_ptr failure() const;

  /// Requests a checkpoint now: every source injects its barrier at its next
  /// step, every stateful operator snapshots when the barrier reaches it,
  /// and the checkpoint is complete when every instance has (or ended) and,
  /// with storage, it is committed. Returns its id (ids grow across runs on
  /// the same storage). While one is in flight the next starts after it.
  std::uint64_t checkpoint_now();
  /// Waits until checkpoint `id` (or a newer one) is complete; false on
  /// timeout or when it failed.
  bool wait_for_checkpoint(std::uint64_t id, std::chrono::milliseconds timeout);
  /// The newest complete checkpoint (0: none yet in this run).
  std::uint64_t last_completed_checkpoint() const;
  /// Takes a checkpoint now and copies it, in full, into a savepoint at
  /// `dir` (a directory of its own): a portable snapshot the user keeps
  /// (retention never deletes it) and restores with
  /// CheckpointOptions::restore_savepoint, on any worker count. Returns its
  /// id. Throws SluiceError when the checkpoint does not complete within
  /// `timeout`, ConfigError without checkpoint storage, and CheckpointError
  /// when the copy fails. A directory may hold several savepoints of one
  /// query (restoring takes the newest).
  std::uint64_t savepoint(const std::filesystem::path& dir,
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(60'000));
  /// The checkpoint this run restored (0: it started fresh).
  std::uint64_t restored_checkpoint() const { return restored_id_; }
  /// Checkpoint counts, the last one's size and duration, the last failure.
  CheckpointStats checkpoint_stats() const;

 private:
  friend class Engine;
  Query(std::string name, const Job& job, const detail::RunSettings& settings, const CheckpointOptions& checkpoints);
  void open_checkpoints(const CheckpointOptions& options);
  void launch();
  void worker_main(std::size_t index);
  /// The first failure wins: its text for status(), the exception for
  /// Job::run; the workers stop.
  void record_failure(std::string what, std::string op, std::exception_ptr failure);
  void request_stop(StopMode mode);
  bool on_own_worker() const;
  void release();
  void join();

  std::string name_;
  std::shared_ptr<const detail::Graph> graph_;
  detail::RunSettings settings_;
  QueryGraph topology_;
  Timestamp started_at_us_ = 0;
  MetricsRegistry metrics_;
  detail::SharedState shared_;
  std::shared_ptr<detail::CheckpointCoordinator> checkpoints_;  // outlives release()
  std::unique_ptr<RestoredCheckpoint> restored_;               // freed by release()
  std::uint64_t restored_id_ = 0;
  std::vector<std::unique_ptr<detail::Worker>> workers_;  // emptied by release()
  std::mutex workers_mu_;                                 // guards workers_ against release()
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> drain_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<std::size_t> running_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  QueryState state_ = QueryState::kRunning;
  std::string error_;
  std::string failed_operator_;
  std::exception_ptr failure_;
  std::mutex join_mu_;
};

struct EngineOptions {
  /// Default workers per query (capped at each query's max_parallelism).
  /// 0: std::thread::hardware_concurrency().
  std::size_t workers = 0;
  /// Processing-time clock for all queries. nullptr: the system clock.
  /// REQUIRES: outlives the engine.
  const Clock* clock = nullptr;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Builds and starts `job` as query `name`. Throws SluiceError if a query
  /// of that name is running, ConfigError for bad options, and whatever a
  /// source or sink throws while opening (nothing is left running then).
  std::shared_ptr<Query> start(const std::string& name, const Job& job, QueryOptions options = {});
  /// The query named `name` (running or not), or nullptr.
  std::shared_ptr<Query> get(const std::string& name) const;
  /// Names of all known queries.
  std::vector<std::string> list() const;
  /// Forgets the query named `name` (its status and metrics); false if there
  /// is none. Throws SluiceError if it is still running.
  bool remove(const std::string& name);
  /// query(name)->savepoint(dir); throws SluiceError when there is no such query.
  std::uint64_t savepoint(const std::string& name, const std::filesystem::path& dir);
  /// Stops every query and waits for them.
  void shutdown(StopMode mode = StopMode::kCancel);

  const Clock& clock() const { return *clock_; }

 private:
  /// Joins the threads of queries that have ended (they exit right away).
  void reap();

  EngineOptions options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Query>> queries_;
};

}  // namespace sluice
