#include "checkpoint/detail/dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "checkpoint/checkpoint_error.hpp"

namespace sluice::detail {
namespace {
std::mutex registry_mu;
std::set<std::string>& registry() {
  static std::set<std::string> open_dirs;
  return open_dirs;
}
}  // namespace

DirLock::DirLock(const std::filesystem::path& dir) {
  const std::string shown = dir.string();
  std::error_code ec;
  key_ = std::filesystem::canonical(dir, ec).string();
  if (ec) throw CheckpointError(shown, "lock state directory", ec.message());
  {
    std::lock_guard lock(registry_mu);
    if (!registry().insert(key_).second)
      throw CheckpointError(shown, "open", "state directory '" + shown +
                                               "' is in use by another CheckpointStore in this process");
  }
  const std::string file = (std::filesystem::path(key_) / "sluice.lock").string();
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  int err = fd_ < 0 ? errno : 0;
  if (fd_ >= 0 && ::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    err = errno;
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) {
    {
      std::lock_guard lock(registry_mu);
      registry().erase(key_);
    }
    if (err == EWOULDBLOCK)
      throw CheckpointError(shown, "open", "state directory '" + shown + "' is in use by another process");
    throw CheckpointError(shown, "lock state directory", file + ": " + std::strerror(err));
  }
}

DirLock::~DirLock() {
  ::close(fd_);  // releases the flock
  std::lock_guard lock(registry_mu);
  registry().erase(key_);
}

}  // namespace sluice::detail
