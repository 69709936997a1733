// A sink that appends one line per record to a file (JSON lines by default).
//
// All workers write to the same file; each batch is formatted outside the
// lock and written under it, so lines never interleave. Lines of one worker
// keep their order; how lines of different workers interleave depends on
// timing. A fresh run starts the file afresh (truncates it) with its first
// write or end of input, not when it opens, so a run that fails to start
// (say, a restore that cannot be used) leaves the file as it was. The file is
// flushed once every writer passed a checkpoint barrier, at end of input
// and at close.
//
// Exactly-once with checkpoints. At a checkpoint barrier each writer records
// the file length in its pre-commit handle; a writer that has passed barrier
// n holds what it writes next in memory until every writer still running
// has passed barrier n too, so when the last one records its length the
// file holds exactly the output from before barrier n of every worker, and
// that writer flushes and fsyncs it before acknowledging. A restore
// truncates the file to that length (the largest in the checkpoint's
// handles) and the job replays from there. What this promises, with a
// replayable source and deterministic operators:
// - after a crash (or a cancel) and a restore, once the job finishes, the
//   file holds exactly the lines of a run without a crash: none lost, none
//   twice (with several workers, in an interleaving that may differ, as it
//   may between any two runs);
// - the file is not transactional for readers: one that reads it while the
//   job runs can see lines that a restore later removes (written after the
//   restored checkpoint) and written again. Read it after the job finished,
//   or only up to the length of the last completed checkpoint;
// - on_checkpoint_complete has nothing left to do: the lines of a checkpoint
//   are in the file when it completes;
// - the file must not be changed by others while the job or its checkpoints
//   live: a file shorter than the restored length fails the restore;
// - memory: a writer holds its lines while others have not reached the
//   barrier it passed (usually a few batches; more when workers are skewed).
// Without checkpoint storage checkpoint_now() runs the same protocol (the
// handles are just not stored).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connectors/json_row.hpp"
#include "streaming/errors.hpp"
#include "streaming/row.hpp"
#include "streaming/sink.hpp"

namespace sluice {

namespace detail {
/// The file shared by the writers of one sink; opened once per query run.
/// Thread-safe: every call takes the lock.
class SharedLineFile {
 public:
  explicit SharedLineFile(std::string path) : path_(std::move(path)) {}
  ~SharedLineFile();
  SharedLineFile(const SharedLineFile&) = delete;
  SharedLineFile& operator=(const SharedLineFile&) = delete;

  /// Registers writer `index` of `count`; the first one of a run opens the
  /// file (without truncating it: the first write or restore decides).
  void open_writer(std::size_t index, std::size_t count);
  /// Recovery to checkpoint `checkpoint_id`: truncates the file to `length`
  /// (nullopt: keep it whole, every writer of that checkpoint had ended).
  /// The first call of a run acts, later ones (other writers) find it done.
  /// Throws SluiceError when the file is shorter than `length`.
  void restore(std::uint64_t checkpoint_id, std::optional<std::uint64_t> length);
  /// The length writer `index` recorded when it ended: its lines and every
  /// line from before the barrier the running writers are at, none after
  /// it. It stands for the writer in checkpoints it did not reach.
  std::uint64_t end_length(std::size_t index);
  /// Appends a chunk of whole lines written by writer `index`, or holds it
  /// while other writers have not reached the barrier this one passed.
  void write(std::size_t index, std::string_view chunk);
  /// Writer `index` passed barrier `checkpoint_id`: returns the file length
  /// to record (see the file comment); the last running writer to pass it
  /// flushes and fsyncs the file.
  std::uint64_t barrier(std::size_t index, std::uint64_t checkpoint_id);
  /// Writer `index` got all its input; the last one flushes and fsyncs.
  void end(std::size_t index);
  /// Unregisters a writer; the last one writes what is held, and closes the file.
  void close_writer(std::size_t index);
  const std::string& path() const { return path_; }

 private:
  struct Slot {
    std::uint64_t epoch = 0;  // the last barrier this writer passed
    bool registered = false;
    bool ended = false;
    std::uint64_t end_length = 0;  // the length that covers its lines, recorded when it ended
    std::deque<std::pair<std::uint64_t, std::string>> held;  // (epoch written in, lines), oldest first
  };
  void start_locked(std::uint64_t length, std::uint64_t epoch);
  void append_locked(std::string_view chunk);
  void sync_locked();
  std::uint64_t min_epoch_locked() const;
  void release_locked(std::uint64_t up_to_epoch, bool inclusive);

  std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  int writers_ = 0;
  bool started_ = false;     // this run truncated (or restored) the file
  std::uint64_t length_ = 0;  // bytes in the file
  std::vector<Slot> slots_;  // by worker index
};
}  // namespace detail

template <class T>
class JsonLinesFileSink final : public Sink<T> {
 public:
  /// `format(const T&) -> std::string` renders one line (without newline).
  /// For Row, it defaults to one compact JSON object per line.
  using Format = std::function<std::string(const T&)>;

  explicit JsonLinesFileSink(std::string path, Format format = default_format())
      : file_(std::make_shared<detail::SharedLineFile>(std::move(path))), format_(std::move(format)) {
    if (!format_) throw ConfigError("JsonLinesFileSink", "format", "a formatting function is required for this type");
  }

  std::string default_name() const override {
    const std::string& p = file_->path();
    const std::size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }

  std::unique_ptr<SinkWriter<T>> open(const SinkContext& ctx) override {
    file_->open_writer(ctx.worker_index, ctx.worker_count);
    return std::make_unique<Writer>(file_, format_, ctx.worker_index);
  }

 private:
  static Format default_format() {
    if constexpr (std::is_same_v<T, Row>) return [](const Row& r) { return row_to_json(r); };
    return nullptr;
  }

  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<detail::SharedLineFile> f, Format fmt, std::size_t index)
        : file_(std::move(f)), format_(std::move(fmt)), index_(index) {}
    void write(Batch<T>& batch) override {
      chunk_.clear();
      for (const auto& r : batch) {
        chunk_ += format_(r.value);
        chunk_ += '\n';
      }
      file_->write(index_, chunk_);
    }
    void on_end_of_input() override { file_->end(index_); }
    // Handle: the file length (see the file comment).
    // Id 0 is the final handle after the end of input (streaming/sink.hpp).
    void on_checkpoint_barrier(std::uint64_t checkpoint_id, StateWriter& handle) override {
      handle.write(checkpoint_id == 0 ? file_->end_length(index_) : file_->barrier(index_, checkpoint_id));
    }
    // Truncates to the largest length recorded (an empty handle: nothing
    // recorded, its lines are within the others' lengths).
    void restore(std::uint64_t checkpoint_id, const std::vector<std::string_view>& handles) override {
      std::optional<std::uint64_t> length;
      for (std::size_t i = 0; i < handles.size(); ++i) {
        if (handles[i].empty()) continue;
        StateReader r(handles[i]);
        const auto n = r.read<std::uint64_t>();
        r.expect_end("file sink handle of writer " + std::to_string(i));
        length = std::max(length.value_or(0), n);
      }
      file_->restore(checkpoint_id, length);
    }
    void close() override {
      if (!closed_) file_->close_writer(index_);
      closed_ = true;
    }
    // A run that fails to start never calls close(); do not leak the registration.
    ~Writer() override { close(); }

   private:
    std::shared_ptr<detail::SharedLineFile> file_;
    Format format_;
    std::size_t index_;
    std::string chunk_;
    bool closed_ = false;
  };

  std::shared_ptr<detail::SharedLineFile> file_;
  Format format_;
};

}  // namespace sluice
