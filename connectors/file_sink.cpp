#include "connectors/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace sluice::detail {

namespace {
std::string failure(const std::string& path, const char* what) {
  return "JsonLinesFileSink: " + std::string(what) + " '" + path + "' failed: " + std::strerror(errno);
}
}  // namespace

SharedLineFile::~SharedLineFile() {
  if (file_) std::fclose(file_);
}

void SharedLineFile::open_writer(std::size_t index, std::size_t count) {
  std::lock_guard lock(mu_);
  if (writers_ == 0) {
    // Append mode, not truncated: a restore keeps the lines of its checkpoint.
    file_ = std::fopen(path_.c_str(), "a");
    if (!file_)
      throw SluiceError("JsonLinesFileSink: cannot open '" + path_ + "' for writing: " + std::strerror(errno));
    started_ = false;
    slots_.assign(count, Slot{});
  }
  if (index >= slots_.size()) slots_.resize(index + 1);
  slots_[index].registered = true;
  ++writers_;
}

void SharedLineFile::start_locked(std::uint64_t length, std::uint64_t epoch) {
  started_ = true;
  if (std::fflush(file_) != 0 || ::ftruncate(::fileno(file_), static_cast<off_t>(length)) != 0)
    throw SluiceError(failure(path_, "truncating"));
  length_ = length;
  for (Slot& s : slots_) s.epoch = epoch;
}

void SharedLineFile::restore(std::uint64_t checkpoint_id, std::optional<std::uint64_t> length) {
  std::lock_guard lock(mu_);
  if (!file_ || started_) return;
  struct stat st {};
  if (::fstat(::fileno(file_), &st) != 0) throw SluiceError(failure(path_, "reading the size of"));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (length && size < *length)
    throw SluiceError("JsonLinesFileSink: cannot restore '" + path_ + "' to checkpoint " +
                      std::to_string(checkpoint_id) + ": it has " + std::to_string(size) +
                      " bytes, the checkpoint wrote " + std::to_string(*length) +
                      " (was it changed or replaced since?)");
  start_locked(length.value_or(size), checkpoint_id);
}

void SharedLineFile::append_locked(std::string_view chunk) {
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size())
    throw SluiceError(failure(path_, "writing to"));
  length_ += chunk.size();
}

void SharedLineFile::sync_locked() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) throw SluiceError(failure(path_, "syncing"));
}

std::uint64_t SharedLineFile::min_epoch_locked() const {
  std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
  for (const Slot& s : slots_)
    if (s.registered && !s.ended) m = std::min(m, s.epoch);
  return m;
}

// Writes held lines written in epochs < up_to_epoch (or <=, `inclusive`),
// epoch by epoch, so the file stays ordered by barriers.
void SharedLineFile::release_locked(std::uint64_t up_to_epoch, bool inclusive) {
  for (;;) {
    std::uint64_t next = std::numeric_limits<std::uint64_t>::max();
    for (const Slot& s : slots_)
      if (!s.held.empty()) next = std::min(next, s.held.front().first);
    if (next == std::numeric_limits<std::uint64_t>::max() || next > up_to_epoch ||
        (!inclusive && next == up_to_epoch))
      return;
    for (Slot& s : slots_) {
      while (!s.held.empty() && s.held.front().first == next) {
        append_locked(s.held.front().second);
        s.held.pop_front();
      }
    }
  }
}

void SharedLineFile::write(std::size_t index, std::string_view chunk) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (!started_) start_locked(0, 0);
  Slot& s = slots_[index];
  // Lines after a barrier wait until every running writer passed it.
  if (s.epoch > min_epoch_locked()) {
    s.held.emplace_back(s.epoch, std::string(chunk));
  } else {
    append_locked(chunk);
  }
}

std::uint64_t SharedLineFile::barrier(std::size_t index, std::uint64_t checkpoint_id) {
  std::lock_guard lock(mu_);
  if (!file_) return 0;
  if (!started_) start_locked(0, 0);
  slots_[index].epoch = checkpoint_id;
  const std::uint64_t m = min_epoch_locked();
  // Lines from before barrier m of every writer are in once those written
  // in earlier epochs are; this length is the checkpoint's when m is its id.
  release_locked(m, false);
  const std::uint64_t length = length_;
  release_locked(m, true);
  // The last running writer to pass the barrier syncs for all: the
  // checkpoint completes only once it acknowledged.
  if (m == checkpoint_id) sync_locked();
  return length;
}

void SharedLineFile::end(std::size_t index) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (!started_) start_locked(0, 0);
  slots_[index].ended = true;
  // An ended writer no longer holds anyone back (none running: all goes).
  // Before the running writers' current epoch goes out, the length is what
  // a checkpoint this writer never reached holds of the file.
  const std::uint64_t m = min_epoch_locked();
  release_locked(m, false);
  slots_[index].end_length = length_;
  release_locked(m, true);
  if (min_epoch_locked() == std::numeric_limits<std::uint64_t>::max()) sync_locked();
}

std::uint64_t SharedLineFile::end_length(std::size_t index) {
  std::lock_guard lock(mu_);
  return slots_.at(index).end_length;
}

void SharedLineFile::close_writer(std::size_t index) {
  std::lock_guard lock(mu_);
  if (writers_ == 0) return;
  if (index < slots_.size()) slots_[index].registered = false;
  if (--writers_ > 0) {
    // It no longer holds the others back.
    try {
      if (file_ && started_) release_locked(min_epoch_locked(), true);
    } catch (...) {
      // close must not throw; a later write reports the failure.
    }
    return;
  }
  if (file_) {
    // A stopped run: what is held is output too (a restore cuts it off anyway).
    try {
      if (started_) release_locked(std::numeric_limits<std::uint64_t>::max(), true);
    } catch (...) {
      // close must not throw; the write error was reported by a write before, or is lost with the run.
    }
    std::fclose(file_);  // a later run of the same job starts the file afresh
    file_ = nullptr;
  }
  slots_.clear();
}

}  // namespace sluice::detail
