// Sources: where records enter a job.
//
// A `Source<T>` is a description (file name, generator settings, ...). When a
// query runs, every worker calls `open` once and polls the `SourceReader` it
// gets from its own thread. A source splits its input between workers itself
// (a file is read by worker 0; a generator gives each worker a share of the
// sequence; Kafka will assign partitions). Bad input never throws: the reader
// appends a `DeadLetter` and carries on.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/errors.hpp"
#include "streaming/metrics.hpp"
#include "streaming/record.hpp"
#include "streaming/serde.hpp"
#include "streaming/time.hpp"

namespace sluice {

/// What a reader learns about where it runs.
struct SourceContext {
  std::size_t worker_index = 0;  ///< this worker, in [0, worker_count)
  std::size_t worker_count = 1;
  const Clock* clock = nullptr;  ///< the query's processing-time clock (never null)
  std::string name;              ///< the source's operator name (use it in dead letters)
  OperatorMetrics* metrics = nullptr;  ///< this worker's source metrics (count drops here)
  MetricsRegistry* registry = nullptr; ///< to register buffer metrics (`add_buffer`)
  /// Wakes this worker if it is waiting for work. Thread-safe and cheap: a
  /// push-based source calls it when data arrives, so the worker does not
  /// sit out its idle wait.
  std::function<void()> wake;
};

enum class SourceStatus {
  kMore,        ///< more may be read right away
  kNothingNow,  ///< nothing available now (rate limit, waiting for data); poll again later
  kEnd,         ///< this reader's input is exhausted
};

/// One worker's reader. Called from that worker's thread only.
template <class T>
class SourceReader {
 public:
  virtual ~SourceReader() = default;
  /// Appends at most `max_records` records to `out` and bad input to `dead`.
  /// Must not block for long: return kNothingNow instead.
  virtual SourceStatus poll(Batch<T>& out, std::vector<DeadLetter>& dead, std::size_t max_records) = 0;
  /// Releases resources. Called once, also after a failure or a stop.
  virtual void close() {}

  // Checkpoints (only when the Source says supports_checkpoints()).

  /// Writes where this reader is: enough to continue right after the last
  /// record poll() returned. Called on the reader's thread between polls,
  /// when a checkpoint barrier is injected, and once more after the end.
  virtual void snapshot_position(StateWriter& w) const {}
  /// Continues from a checkpoint: called once after open, before the first
  /// poll. `positions` holds what every reader of the checkpointed run wrote,
  /// indexed by its worker index, so positions.size() is that run's worker
  /// count, which may differ from this run's (rescaling): each reader takes
  /// its share of the union, and together the readers of this run must
  /// continue every split exactly where it stopped. Throw StateFormatError or
  /// ConfigError (the query then fails to start) for positions it cannot use.
  virtual void restore_position(const std::vector<std::string_view>& positions) {}
};

/// A source description. Shared by all workers and all runs of a query, so
/// `open` must be const and thread-safe.
template <class T>
class Source {
 public:
  using value_type = T;
  virtual ~Source() = default;
  /// Operator name used when the user gives none, e.g. "cards.jsonl".
  virtual std::string default_name() const = 0;
  /// Creates the reader of worker `ctx.worker_index`. May throw (the query
  /// then fails to start with that message).
  virtual std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const = 0;
  /// Whether its readers can replay from a position (snapshot_position /
  /// restore_position). A checkpointed query refuses to start with a source
  /// that cannot (e.g. PushSource: what was pushed is gone after a crash).
  virtual bool supports_checkpoints() const { return false; }
};

}  // namespace sluice
