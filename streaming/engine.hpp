// The engine: runs named continuous queries.
//
//   Engine engine;                                  // workers = hardware threads
//   auto q = engine.start("fraud", job);            // returns at once; runs on worker threads
//   q->metrics();                                   // any time, from any thread
//   q->stop();                                      // or StopMode::kDrain to flush results first
//
// Each query runs on its own N worker threads. Names are unique among
// running queries; a stopped, finished or failed query's name can be started
// again (a restart: fresh state until checkpoints land). Destroying the engine
// stops every query (cancel) and waits for its threads.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "streaming/backpressure.hpp"
#include "streaming/job.hpp"
#include "streaming/metrics.hpp"
#include "streaming/time.hpp"

namespace sluice {

struct QueryOptions {
  /// Worker threads. 0: the engine's default. Results do not depend on it.
  std::size_t workers = 0;
  /// Number of key groups: the unit of keyed state and the upper bound for
  /// workers of keyed operators. Fixed for the life of a job's state. Default: 128.
  std::size_t max_parallelism = 128;
  /// Records per batch moved between operators and workers. Default: 1024.
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

  /// Throws ConfigError naming the field when a value is out of range.
  void validate() const;
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
};

class Query {
 public:
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  const std::string& name() const { return name_; }
  QueryStatus status() const;
  QueryMetrics metrics() const;
  std::size_t workers() const { return settings_.workers; }

  /// Requests a stop and waits for the workers to exit. Idempotent.
  void stop(StopMode mode = StopMode::kCancel);
  /// Waits until the query is no longer running.
  void wait();
  /// Waits at most `timeout`; true if the query is no longer running.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return state_ != QueryState::kRunning; });
  }

 private:
  friend class Engine;
  Query(std::string name, const Job& job, const detail::RunSettings& settings);
  void launch();
  void worker_main(std::size_t index);
  void join();

  std::string name_;
  std::shared_ptr<const detail::Graph> graph_;
  detail::RunSettings settings_;
  MetricsRegistry metrics_;
  detail::SharedState shared_;
  std::vector<std::unique_ptr<detail::Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> drain_{false};
  std::atomic<bool> cancelled_{false};
  std::atomic<std::size_t> running_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  QueryState state_ = QueryState::kRunning;
  std::string error_;
  std::mutex join_mu_;
};

struct EngineOptions {
  /// Default workers per query. 0: std::thread::hardware_concurrency().
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
  /// Stops every query and waits for them.
  void shutdown(StopMode mode = StopMode::kCancel);

  const Clock& clock() const { return *clock_; }

 private:
  EngineOptions options_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Query>> queries_;
};

}  // namespace sluice
