// Sinks: where results leave a job.
//
// A `Sink<T>` is shared by all workers of a query; each worker gets its own
// `SinkWriter` and calls it from its thread only. Writers see whole batches
// (one call per batch) plus the watermark and end of input.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
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
  /// Whether the query stores checkpoints (the writer's checkpoint calls
  /// then matter; see SinkWriter).
  bool checkpointed = false;
  /// Durable markers of this sink, outside checkpoints: put_marker writes
  /// key -> value at once (synced), so it survives a crash between
  /// checkpoints (e.g. how far committed output was delivered). Keys are
  /// this sink's own. Without checkpoint storage put does nothing and get
  /// finds nothing. Callable from the writer's thread.
  std::function<void(std::string_view key, std::string_view value)> put_marker = {};
  std::function<std::optional<std::string>(std::string_view key)> get_marker = {};
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
  /// is stored in the checkpoint only when checkpoints have storage. At end
  /// of input, after on_end_of_input, it is called once more with
  /// checkpoint_id 0 when the query stores checkpoints: that handle is the
  /// writer's final state, standing for it in every later checkpoint.
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
