// Sinks: where results leave a job.
//
// A `Sink<T>` is shared by all workers of a query; each worker gets its own
// `SinkWriter` and calls it from its thread only. Writers see whole batches
// (one call per batch) plus the watermark and end of input.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/record.hpp"
#include "streaming/serde.hpp"

namespace sluice {

struct SinkContext {
  std::size_t worker_index = 0;
  std::size_t worker_count = 1;
  std::string name;
};

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  /// Consumes a batch. May mutate it.
  virtual void write(Batch<T>& batch) = 0;
  /// The sink's input watermark advanced.
  virtual void on_watermark(Timestamp wm) {}
  /// All input delivered (not called on a cancelling stop).
  virtual void on_end_of_input() {}
  /// Checkpoint barrier `checkpoint_id` arrived: every record before it has
  /// been written, none after it yet. Pre-commit here: make what was written
  /// durable but not yet final (flush and sync a file, pre-commit a
  /// transaction) and write into `handle` what committing it, or recovering
  /// to this checkpoint, needs (a file length, a transaction id). The handle
  /// is stored in the checkpoint only when checkpoints have storage.
  virtual void on_checkpoint_barrier(std::uint64_t checkpoint_id, StateWriter& handle) {}
  /// Checkpoint `checkpoint_id` is committed (durable): make its output
  /// final. Called on the writer's thread, in increasing id order; ids may be
  /// skipped (a newer commit covers the older ones). Not called for a
  /// checkpoint that failed.
  virtual void on_checkpoint_complete(std::uint64_t checkpoint_id) {}
  /// Recovery: called once after open, before any write, with the handles
  /// every writer of the checkpointed run wrote at checkpoint `checkpoint_id`
  /// (indexed by worker index; the old worker count is handles.size()).
  /// Roll back what came after that checkpoint and commit what it pre-committed.
  virtual void restore(std::uint64_t checkpoint_id, const std::vector<std::string_view>& handles) {}
  /// Last call, always made. Must not throw.
  virtual void close() {}
};

template <class T>
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::string default_name() const = 0;
  virtual std::unique_ptr<SinkWriter<T>> open(const SinkContext& ctx) = 0;
};

}  // namespace sluice
