// Metrics per query, per operator and per buffer.
//
// Counters are written by exactly one worker thread (each operator instance
// and each channel end belongs to one worker) and read by anyone, so a relaxed
// load+store is enough and costs no locked instruction. Operators update them
// once per batch, not per record. `MetricsRegistry::snapshot()` sums the
// per-worker instances into the figures users see.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "streaming/time.hpp"

namespace sluice {

/// Monotonic counter with a single writer.
class Counter {
 public:
  void add(std::uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// Last-value gauge with a single writer.
class Gauge {
 public:
  explicit Gauge(std::int64_t initial = 0) : v_(initial) {}
  void set(std::int64_t v) { v_.store(v, std::memory_order_relaxed); }
  std::int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_;
};

/// What one operator instance (one worker's share) counts.
struct OperatorMetrics {
  std::string name;  ///< operator name as given to the graph builder
  std::string kind;  ///< "source", "map", "key_by", "process", "sink", ...
  std::size_t worker = 0;  ///< the worker running this instance (see MetricsRegistry::begin_worker)
  Counter records_in;
  Counter records_out;
  Counter late_records;     ///< records behind the watermark (sent to a late output or dropped)
  Counter dropped_records;  ///< records dropped by an opt-in backpressure strategy
  Counter dead_letters;     ///< bad records routed to the dead-letter output
  Gauge watermark_us{kMinTimestamp};  ///< current watermark seen by this instance
};

/// What one bounded buffer (a source buffer or an exchange channel) counts.
struct BufferMetrics {
  std::string name;
  Counter batches;              ///< batches (or records, for source buffers) accepted
  Counter records;              ///< records accepted
  Counter dropped_records;      ///< lost to DropOldest / DropNewest
  Counter backpressure_events;  ///< times a producer found the buffer full
  Counter blocked_us;           ///< time producers spent waiting on a full buffer
  Counter occupancy_sum;        ///< sum of occupancy sampled at each accept ...
  Counter occupancy_samples;    ///< ... and the number of samples
  Gauge capacity{0};            ///< current capacity (Adaptive may grow it)
};

/// Summed figures of one operator over all workers.
struct OperatorStats {
  std::string name;
  std::string kind;
  std::uint64_t records_in = 0;
  std::uint64_t records_out = 0;
  std::uint64_t late_records = 0;
  std::uint64_t dropped_records = 0;
  std::uint64_t dead_letters = 0;
  Timestamp watermark_us = kMinTimestamp;  ///< minimum over workers
};

/// The figures of one operator instance: what one worker counted.
struct OperatorWorkerStats {
  std::size_t worker = 0;
  OperatorStats stats;  ///< `watermark_us` is this instance's own
};

/// Summed figures of one buffer over all its instances.
struct BufferStats {
  std::string name;
  std::uint64_t batches = 0;
  std::uint64_t records = 0;
  std::uint64_t dropped_records = 0;
  std::uint64_t backpressure_events = 0;
  std::uint64_t blocked_us = 0;
  double average_occupancy = 0;  ///< mean fill level at accept time, in [0, 1] of capacity
  std::int64_t capacity = 0;
};

/// A point-in-time view of a query's metrics.
/// A query's checkpoints so far (Query::checkpoint_stats).
struct CheckpointStats {
  std::uint64_t completed = 0;          ///< committed (without storage: complete) in this run
  std::uint64_t failed = 0;             ///< aborted: timeout, storage failure, query ended first
  std::uint64_t consecutive_failed = 0;  ///< failed since the last one that completed
  std::uint64_t last_completed_id = 0;  ///< 0: none yet in this run
  std::uint64_t last_bytes = 0;         ///< bytes of the parts of the last committed one (those written, not reused)
  std::uint64_t last_parts_written = 0; ///< parts of the last committed one written in full
  std::uint64_t last_parts_reused = 0;  ///< parts of it added by reference to the previous one (incremental)
  /// The longest a participant spent taking its snapshot of the last
  /// committed one (the in-memory copy; processing waits meanwhile), in µs.
  std::uint64_t last_max_snapshot_us = 0;
  std::uint64_t last_duration_us = 0;   ///< its trigger to commit, in µs (steady clock)
  std::uint64_t restored_id = 0;        ///< the checkpoint this run restored (0: started fresh)
  std::string last_error;               ///< why the last failed one failed
};

struct QueryMetrics {
  std::vector<OperatorStats> operators;  ///< in graph order
  std::vector<BufferStats> buffers;
  std::uint64_t records_in = 0;    ///< records read by all sources
  std::uint64_t records_out = 0;   ///< records written by all sinks
  std::uint64_t dead_letters = 0;  ///< bad records, all operators
  std::uint64_t dropped_records = 0;
  std::uint64_t late_records = 0;
  Timestamp watermark_us = kMinTimestamp;  ///< minimum over sinks
  DurationUs event_time_lag_us = 0;        ///< processing time minus that watermark (0 when none yet)

  /// The stats of the operator named `name`, or nullptr.
  const OperatorStats* op(const std::string& name) const;
  const BufferStats* buffer(const std::string& name) const;
};

/// Owns the metric objects of one query run. Registration happens while the
/// query is set up (one thread); snapshots may be taken from any thread.
class MetricsRegistry {
 public:
  /// Operators registered from now on run on worker `w` (the query sets it
  /// before instantiating each worker's operators). Default: 0.
  void begin_worker(std::size_t w);
  OperatorMetrics& add_operator(std::string name, std::string kind);
  BufferMetrics& add_buffer(std::string name);
  QueryMetrics snapshot(Timestamp now_us) const;
  /// Every operator instance on its own: operators in graph order, each one's
  /// workers in increasing order. For per-worker exposition (e.g. the HTTP
  /// endpoint's `worker` label); `snapshot` is the summed view.
  std::vector<OperatorWorkerStats> snapshot_by_worker() const;

 private:
  mutable std::mutex mu_;
  std::size_t worker_ = 0;
  std::deque<OperatorMetrics> operators_;  // deque: stable addresses
  std::deque<BufferMetrics> buffers_;
};

}  // namespace sluice
