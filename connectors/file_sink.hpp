// A sink that appends one line per record to a file (JSON lines by default).
//
// All workers write to the same file. A fresh run starts the file afresh
// (truncates it) with its first write, barrier or end of input, not when it
// opens, so a run that fails to start (say, a restore that cannot be used)
// leaves the file as it was.
//
// Without checkpoint storage lines are appended as they come (each batch
// formatted outside the lock and written under it, so lines never
// interleave; one worker's lines keep their order) and flushed at barriers,
// end of input and close.
//
// Exactly-once with checkpoint storage, as Flink's FileSink does it: each
// writer writes its lines into its own in-progress part file, in a hidden
// directory next to the file (".<file name>.parts/"). At a checkpoint
// barrier the writer syncs and closes its part; the part is then pending,
// and the writer's pre-commit handle names its pending parts. When the
// checkpoint has committed, the first writer to hear of it appends every
// pending part of that checkpoint (and older ones) to the file, in
// (checkpoint, writer, part) order, syncs it, records the file's committed
// length durably (a marker in the checkpoint storage, outside checkpoints)
// and deletes the parts. So:
// - the file only ever holds committed output: a reader sees whole
//   checkpoints' lines, never lines a restore later takes back (a crash in
//   the middle of a commit can leave a partly appended part at the end;
//   the restore cuts it off before anything else happens);
// - a restore to checkpoint n cuts the file to what was committed through n
//   and appends n's pending parts if their commit had not happened (a crash
//   between the checkpoint's completion and the commit): committing is
//   idempotent. Then the job replays from n. Once it finishes, the file
//   holds exactly the lines of a run without a crash, none lost, none twice
//   (grouped by checkpoint and writer, where an uninterrupted run groups
//   them the same way);
// - at the end of the input, once every writer ended, the last parts are
//   committed when the run closes;
// - latency: lines reach the file at the checkpoint after them (the
//   checkpoint interval); memory: none held, the parts are on disk;
// - the file and its parts directory must not be changed by others while
//   the job or its checkpoints live: a file shorter than what was committed,
//   or a missing part, fails the restore naming it. Restoring a checkpoint
//   older than the newest committed one works while it is among the last 64
//   commits (their lengths are kept).
#pragma once

#include <cstdint>
#include <cstdio>
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
#include "streaming/serde.hpp"
#include "streaming/sink.hpp"

namespace sluice {

namespace detail {
/// The file shared by the writers of one sink, and its part files; opened
/// once per query run. Thread-safe: every call takes the lock.
class SharedLineFile {
 public:
  explicit SharedLineFile(std::string path);
  ~SharedLineFile();
  SharedLineFile(const SharedLineFile&) = delete;
  SharedLineFile& operator=(const SharedLineFile&) = delete;

  /// Registers writer ctx.worker_index of ctx.worker_count; the first one
  /// of a run opens the file (without truncating it: the first write or the
  /// restore decides).
  void open_writer(const SinkContext& ctx);
  /// Recovery to checkpoint `checkpoint_id` from its handles (see the file
  /// comment). The first call of a run acts, later ones find it done.
  /// Throws SluiceError naming the file when what the checkpoint committed
  /// is not there, StateFormatError for a malformed handle.
  void restore(std::uint64_t checkpoint_id, const std::vector<std::string_view>& handles);
  /// Appends a chunk of whole lines written by writer `index`.
  void write(std::size_t index, std::string_view chunk);
  /// Writer `index` passed barrier `checkpoint_id` (0: its final handle
  /// after the end of input): pre-commits and writes its handle.
  void barrier(std::size_t index, std::uint64_t checkpoint_id, StateWriter& handle);
  /// Writer `index` got all its input.
  void end(std::size_t index);
  /// Checkpoint `checkpoint_id` committed: commits its parts (once).
  void committed(std::uint64_t checkpoint_id);
  /// Unregisters a writer; the last one commits what is left if every
  /// writer ended (a finished run), and closes the file.
  void close_writer(std::size_t index);
  const std::string& path() const { return path_; }

  /// A pending part: what writer `writer` wrote before barrier `epoch`.
  struct Part {
    std::uint64_t epoch = 0;
    std::uint64_t writer = 0;
    std::uint64_t seq = 0;  ///< numbers the writer's parts within a run
    std::uint64_t size = 0;
  };

 private:
  struct Slot {
    bool registered = false;
    bool ended = false;
    std::uint64_t epoch = 0;      // the barrier its current part ends at, less one: the last it passed
    std::FILE* part = nullptr;    // the in-progress part, if any
    std::uint64_t part_size = 0;
    std::uint64_t next_seq = 0;
    std::vector<Part> pending;
  };
  void start_locked(bool restoring);
  void append_locked(std::string_view chunk);
  void sync_locked();
  void close_part_locked(std::size_t index, std::uint64_t epoch);
  void commit_locked(std::uint64_t up_to, std::vector<Part> parts);
  void clear_parts_dir_locked();
  std::string part_path(const Part& p) const;
  std::uint64_t file_size_locked();

  std::string path_;
  std::string parts_dir_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  int writers_ = 0;
  bool started_ = false;       // this run truncated (or restored) the file
  bool checkpointed_ = false;  // parts (exactly-once) or direct appends
  std::function<void(std::string_view, std::string_view)> put_marker_;
  std::function<std::optional<std::string>(std::string_view)> get_marker_;
  std::uint64_t length_ = 0;        // bytes in the file
  std::uint64_t committed_id_ = 0;  // the newest checkpoint whose parts are in the file
  std::vector<std::pair<std::uint64_t, std::uint64_t>> history_;  // (checkpoint, file length), last 64
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
    file_->open_writer(ctx);
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
    // Id 0 is the final handle after the end of input (streaming/sink.hpp).
    void on_checkpoint_barrier(std::uint64_t checkpoint_id, StateWriter& handle) override {
      file_->barrier(index_, checkpoint_id, handle);
    }
    void on_checkpoint_complete(std::uint64_t checkpoint_id) override { file_->committed(checkpoint_id); }
    void restore(std::uint64_t checkpoint_id, const std::vector<std::string_view>& handles) override {
      file_->restore(checkpoint_id, handles);
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
