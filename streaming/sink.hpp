// Sinks: where results leave a job.
//
// A `Sink<T>` is shared by all workers of a query; each worker gets its own
// `SinkWriter` and calls it from its thread only. Writers see whole batches
// (one call per batch) plus the watermark and end of input.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "streaming/record.hpp"

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
  /// Checkpoint barrier `checkpoint_id` arrived: every record of that
  /// checkpoint has been written, none after it yet. (Transactional sinks
  /// will pre-commit here.)
  virtual void on_checkpoint_barrier(std::uint64_t checkpoint_id) {}
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
