#include "connectors/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

namespace sluice::detail {

namespace {

constexpr std::size_t kKeptCommits = 64;
constexpr std::string_view kCommittedMarker = "committed";

std::string failure(const std::string& path, const char* what) {
  return "JsonLinesFileSink: " + std::string(what) + " '" + path + "' failed: " + std::strerror(errno);
}

std::string parts_dir_of(const std::string& path) {
  const std::filesystem::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".parts")).string();
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw SluiceError(failure(dir, "opening the directory"));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw SluiceError(failure(dir, "syncing the directory"));
}

bool part_order(const SharedLineFile::Part& a, const SharedLineFile::Part& b) {
  return std::tie(a.epoch, a.writer, a.seq) < std::tie(b.epoch, b.writer, b.seq);
}

}  // namespace

SharedLineFile::SharedLineFile(std::string path) : path_(std::move(path)), parts_dir_(parts_dir_of(path_)) {}

SharedLineFile::~SharedLineFile() {
  for (Slot& s : slots_)
    if (s.part) std::fclose(s.part);
  if (file_) std::fclose(file_);
}

std::string SharedLineFile::part_path(const Part& p) const {
  return parts_dir_ + "/w" + std::to_string(p.writer) + "-" + std::to_string(p.seq);
}

void SharedLineFile::open_writer(const SinkContext& ctx) {
  std::lock_guard lock(mu_);
  if (writers_ == 0) {
    // Append mode, not truncated: a restore keeps what its checkpoint committed.
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_)
      throw SluiceError("JsonLinesFileSink: cannot open '" + path_ + "' for writing: " + std::strerror(errno));
    started_ = false;
    checkpointed_ = ctx.checkpointed;
    put_marker_ = ctx.put_marker;
    get_marker_ = ctx.get_marker;
    length_ = 0;
    committed_id_ = 0;
    history_.clear();
    slots_.assign(ctx.worker_count, Slot{});
  }
  if (ctx.worker_index >= slots_.size()) slots_.resize(ctx.worker_index + 1);
  slots_[ctx.worker_index].registered = true;
  ++writers_;
}

std::uint64_t SharedLineFile::file_size_locked() {
  struct stat st {};
  if (std::fflush(file_) != 0 || ::fstat(::fileno(file_), &st) != 0)
    throw SluiceError(failure(path_, "reading the size of"));
  return static_cast<std::uint64_t>(st.st_size);
}

void SharedLineFile::clear_parts_dir_locked() {
  std::error_code ec;
  std::filesystem::remove_all(parts_dir_, ec);
  if (ec) throw SluiceError("JsonLinesFileSink: removing '" + parts_dir_ + "' failed: " + ec.message());
}

// A fresh run: the file starts empty, no parts, nothing committed.
void SharedLineFile::start_locked(bool restoring) {
  started_ = true;
  if (restoring) return;
  if (std::fflush(file_) != 0 || ::ftruncate(::fileno(file_), 0) != 0) throw SluiceError(failure(path_, "truncating"));
  length_ = 0;
  if (!checkpointed_) return;
  clear_parts_dir_locked();
  committed_id_ = 0;
  history_.clear();
  if (put_marker_) put_marker_(kCommittedMarker, serialize(history_));
}

void SharedLineFile::append_locked(std::string_view chunk) {
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size())
    throw SluiceError(failure(path_, "writing to"));
  length_ += chunk.size();
}

void SharedLineFile::sync_locked() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) throw SluiceError(failure(path_, "syncing"));
}

void SharedLineFile::close_part_locked(std::size_t index, std::uint64_t epoch) {
  Slot& s = slots_[index];
  if (!s.part) return;
  const Part p{epoch, index, s.next_seq++, s.part_size};
  const bool ok = std::fflush(s.part) == 0 && ::fsync(::fileno(s.part)) == 0;
  std::fclose(s.part);
  s.part = nullptr;
  if (!ok) throw SluiceError(failure(part_path(p), "syncing"));
  fsync_dir(parts_dir_);  // the part's name is durable too
  s.pending.push_back(p);
}

// Appends `parts` (all of epochs <= up_to) in order, remembering the file's
// length after each epoch, makes it durable, records it, removes the parts.
void SharedLineFile::commit_locked(std::uint64_t up_to, std::vector<Part> parts) {
  std::sort(parts.begin(), parts.end(), part_order);
  std::vector<char> buffer(1 << 20);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    const std::string name = part_path(p);
    std::FILE* in = std::fopen(name.c_str(), "rb");
    if (!in) throw SluiceError(failure(name, "opening the part"));
    std::uint64_t copied = 0;
    for (std::size_t n; (n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0; copied += n)
      append_locked(std::string_view(buffer.data(), n));
    std::fclose(in);
    if (copied != p.size)
      throw SluiceError("JsonLinesFileSink: part '" + name + "' has " + std::to_string(copied) + " bytes, " +
                        std::to_string(p.size) + " were written to it (was it changed?)");
    if (i + 1 == parts.size() || parts[i + 1].epoch != p.epoch) history_.emplace_back(p.epoch, length_);
  }
  if (history_.empty() || history_.back().first != up_to) history_.emplace_back(up_to, length_);
  if (history_.size() > kKeptCommits) history_.erase(history_.begin(), history_.end() - kKeptCommits);
  sync_locked();
  committed_id_ = up_to;
  if (put_marker_) put_marker_(kCommittedMarker, serialize(history_));
  for (const Part& p : parts) std::filesystem::remove(part_path(p));
}

void SharedLineFile::restore(std::uint64_t checkpoint_id, const std::vector<std::string_view>& handles) {
  std::lock_guard lock(mu_);
  if (!file_ || started_) return;
  // Read everything before changing anything: a bad handle leaves the file as it is.
  std::uint64_t base_id = 0, base_length = 0;
  std::vector<Part> parts;
  for (std::size_t i = 0; i < handles.size(); ++i) {
    if (handles[i].empty()) continue;
    const std::string what = "file sink handle of writer " + std::to_string(i);
    StateReader r(handles[i]);
    const auto id = r.read<std::uint64_t>();
    const auto length = r.read<std::uint64_t>();
    const std::size_t n = r.read_count(ReadContext::of<Part>("pending part count"), 4);
    for (std::size_t k = 0; k < n; ++k) {
      Part p;
      p.epoch = r.read<std::uint64_t>();
      p.writer = r.read<std::uint64_t>();
      p.seq = r.read<std::uint64_t>();
      p.size = r.read<std::uint64_t>();
      parts.push_back(p);
    }
    r.expect_end(what);
    if (id > checkpoint_id)
      throw StateFormatError(what, std::nullopt,
                             "committed checkpoint " + std::to_string(id) + " is newer than checkpoint " +
                                 std::to_string(checkpoint_id) + " that holds it");
    if (id >= base_id) base_id = id, base_length = length;
  }
  // What this sink committed since, as recorded durably after each commit.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> history;
  if (get_marker_) {
    if (std::optional<std::string> m = get_marker_(kCommittedMarker))
      history = deserialize<std::vector<std::pair<std::uint64_t, std::uint64_t>>>(*m);
  }
  std::erase_if(history, [&](const auto& e) { return e.first > checkpoint_id; });  // output after it goes
  if (!history.empty() && history.back().first >= base_id) std::tie(base_id, base_length) = history.back();

  const std::uint64_t size = file_size_locked();
  if (size < base_length)
    throw SluiceError("JsonLinesFileSink: cannot restore '" + path_ + "' to checkpoint " +
                      std::to_string(checkpoint_id) + ": it has " + std::to_string(size) + " bytes, " +
                      std::to_string(base_length) + " were committed (was it changed or replaced since?)");
  std::erase_if(parts, [&](const Part& p) { return p.epoch <= base_id; });  // in the file already
  std::uint64_t pending_bytes = 0;
  std::size_t missing = 0;
  for (const Part& p : parts) {
    std::error_code ec;
    const auto part_size = std::filesystem::file_size(part_path(p), ec);
    if (!ec && part_size != p.size)
      throw SluiceError("JsonLinesFileSink: cannot restore '" + path_ + "' to checkpoint " +
                        std::to_string(checkpoint_id) + ": its pending part '" + part_path(p) + "' has " +
                        std::to_string(part_size) + " bytes, not " + std::to_string(p.size) +
                        " (was the parts directory changed?)");
    missing += ec ? 1 : 0;
    pending_bytes += p.size;
  }
  // Parts are removed only once they are in the file, all of a commit at
  // once: when they are gone and the file is long enough to hold them, that
  // commit happened without a marker this storage knows of (a savepoint
  // restored into new storage), as Flink skips a pending file already
  // committed.
  const bool already_in = missing > 0 && missing == parts.size() && size >= base_length + pending_bytes;
  if (missing > 0 && !already_in) {
    const auto gone = std::find_if(parts.begin(), parts.end(), [&](const Part& p) {
      return !std::filesystem::exists(part_path(p));
    });
    throw SluiceError("JsonLinesFileSink: cannot restore '" + path_ + "' to checkpoint " +
                      std::to_string(checkpoint_id) + ": its pending part '" + part_path(*gone) +
                      "' is missing and the file does not hold it (was the parts directory changed?)");
  }
  if (already_in) {
    base_length += pending_bytes;
    parts.clear();
  }
  started_ = true;
  if (std::fflush(file_) != 0 || ::ftruncate(::fileno(file_), static_cast<off_t>(base_length)) != 0)
    throw SluiceError(failure(path_, "truncating"));
  length_ = base_length;
  history_ = std::move(history);
  committed_id_ = base_id;
  // Commit what the checkpoint pre-committed if its commit did not happen.
  commit_locked(checkpoint_id, std::move(parts));
  clear_parts_dir_locked();  // what came after the checkpoint
  for (Slot& s : slots_) s.epoch = checkpoint_id;
}

void SharedLineFile::write(std::size_t index, std::string_view chunk) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (!started_) start_locked(false);
  if (!checkpointed_) {
    append_locked(chunk);
    return;
  }
  Slot& s = slots_[index];
  if (!s.part) {
    std::error_code ec;
    std::filesystem::create_directories(parts_dir_, ec);
    const std::string name = part_path(Part{0, index, s.next_seq, 0});
    s.part = std::fopen(name.c_str(), "wb");
    if (!s.part) throw SluiceError(failure(name, "creating the part"));
    s.part_size = 0;
  }
  if (std::fwrite(chunk.data(), 1, chunk.size(), s.part) != chunk.size())
    throw SluiceError(failure(part_path(Part{0, index, s.next_seq, 0}), "writing to"));
  s.part_size += chunk.size();
}

void SharedLineFile::barrier(std::size_t index, std::uint64_t checkpoint_id, StateWriter& handle) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (!started_) start_locked(false);
  if (!checkpointed_) {
    if (std::fflush(file_) != 0) throw SluiceError(failure(path_, "writing to"));
    return;
  }
  Slot& s = slots_[index];
  if (checkpoint_id != 0) {
    close_part_locked(index, checkpoint_id);
    s.epoch = checkpoint_id;
  }
  handle.write(committed_id_);
  handle.write(length_);
  handle.write_varint(s.pending.size());
  for (const Part& p : s.pending) {
    handle.write(p.epoch);
    handle.write(p.writer);
    handle.write(p.seq);
    handle.write(p.size);
  }
}

void SharedLineFile::end(std::size_t index) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (!started_) start_locked(false);
  Slot& s = slots_[index];
  s.ended = true;
  if (!checkpointed_) {
    if (std::all_of(slots_.begin(), slots_.end(), [](const Slot& x) { return x.ended || !x.registered; }))
      sync_locked();
    return;
  }
  // Its last lines: committed by the first checkpoint it did not pass (its
  // final handle stands for it there), or when the run closes.
  close_part_locked(index, s.epoch + 1);
}

void SharedLineFile::committed(std::uint64_t checkpoint_id) {
  std::lock_guard lock(mu_);
  if (!file_ || !checkpointed_ || !started_ || checkpoint_id <= committed_id_) return;
  std::vector<Part> parts;
  for (Slot& s : slots_) {
    auto due = std::stable_partition(s.pending.begin(), s.pending.end(),
                                     [&](const Part& p) { return p.epoch > checkpoint_id; });
    parts.insert(parts.end(), due, s.pending.end());
    s.pending.erase(due, s.pending.end());
  }
  commit_locked(checkpoint_id, std::move(parts));
}

void SharedLineFile::close_writer(std::size_t index) {
  std::lock_guard lock(mu_);
  if (writers_ == 0) return;
  const bool finished = std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.ended; });
  if (index < slots_.size()) slots_[index].registered = false;
  if (--writers_ > 0) return;
  if (file_) {
    try {
      if (checkpointed_ && started_ && finished) {
        // The input is complete: its last parts are final (as Flink's last checkpoint at the end).
        std::vector<Part> parts;
        std::uint64_t up_to = committed_id_;
        for (Slot& s : slots_)
          for (const Part& p : s.pending) parts.push_back(p), up_to = std::max(up_to, p.epoch);
        commit_locked(up_to, std::move(parts));
      } else if (!checkpointed_) {
        std::fflush(file_);
      }
      // A stopped run leaves its pending parts for a restore to commit.
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());  // close must not throw; the run's output is incomplete
    }
    for (Slot& s : slots_)
      if (s.part) std::fclose(s.part);
    std::fclose(file_);  // a later run of the same job starts the file afresh
    file_ = nullptr;
  }
  slots_.clear();
}

}  // namespace sluice::detail
