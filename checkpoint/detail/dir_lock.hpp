// Exclusive ownership of a state directory, for the lifetime of one object.
//
// RocksDB's own LOCK file refuses a second opener too, but with a raw
// "IO error: While lock file ..." message, and only once RocksDB is half-way
// into opening. This lock comes first and says plainly who holds the
// directory: another process (flock on <dir>/sluice.lock, released by the
// kernel when the holder dies, so a crash never leaves it stale) or another
// store in this process (a process-wide registry; flock alone cannot tell
// the two apart).
#pragma once

#include <filesystem>
#include <string>

namespace sluice::detail {

class DirLock {
 public:
  /// Locks `dir` (which must exist). Throws CheckpointError "state directory
  /// '<dir>' is in use by another process" (or "by another CheckpointStore in
  /// this process") when it is held, or naming the system error otherwise.
  explicit DirLock(const std::filesystem::path& dir);
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  std::string key_;  // canonical path, the registry's key
  int fd_ = -1;
};

}  // namespace sluice::detail
