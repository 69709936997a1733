#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "store_support.hpp"
#include "support/thrown.hpp"

extern char** environ;

using namespace sluice;
using namespace sluice::testing;

namespace {

// The lock helper running as a child process, its stdin and stdout piped.
class Helper {
 public:
  Helper(const std::string& mode, const std::filesystem::path& dir) {
    int in[2], out[2];
    REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    const std::string path = SLUICE_CHECKPOINT_LOCK_HELPER, d = dir.string();
    std::vector<char*> argv{const_cast<char*>(path.c_str()), const_cast<char*>(mode.c_str()),
                            const_cast<char*>(d.c_str()), nullptr};
    const int rc = ::posix_spawn(&pid_, path.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    REQUIRE(rc == 0);
  }
  ~Helper() {
    close_stdin();
    if (stdout_ >= 0) ::close(stdout_);
    if (pid_ > 0) wait();
  }
  Helper(const Helper&) = delete;
  Helper& operator=(const Helper&) = delete;

  std::string read_line() {
    std::string line;
    char c;
    while (::read(stdout_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  /// The exit code, or 128 + the signal that killed it.
  int wait() {
    int status = 0;
    REQUIRE(::waitpid(pid_, &status, 0) == pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1, stdout_ = -1;
};

}  // namespace

TEST_CASE("another process cannot open a state directory this one holds, and the reverse", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  const std::string in_use = "state directory '" + dir.path().string() + "' is in use by another process";
  {
    CheckpointStore store(dir.path(), options_logging_to(log, 3, "lock-helper"));
    Helper other("open", dir.path());
    CHECK(other.read_line() == "checkpoint store '" + dir.path().string() + "': open: " + in_use);
    CHECK(other.wait() == 2);
  }
  {
    Helper other("open", dir.path());  // free again once the store closed
    CHECK(other.read_line() == "opened");
    CHECK(other.wait() == 0);
  }
  Helper holder("hold", dir.path());
  REQUIRE(holder.read_line() == "held");
  CHECK(thrown_message<CheckpointError>([&] { CheckpointStore store(dir.path(), options_logging_to(log)); })
            .find(in_use) != std::string::npos);
  holder.close_stdin();
  CHECK(holder.wait() == 0);
  CheckpointStore store(dir.path(), options_logging_to(log, 3, "lock-helper"));  // the holder is gone
  CHECK(store.list().empty());
}

TEST_CASE("a writer killed in the middle of a checkpoint leaves the previous one, and nothing of its own",
          "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    Helper writer("crash", dir.path());
    CHECK(writer.wait() == 128 + SIGKILL);
  }
  CheckpointStore store(dir.path(), options_logging_to(log, 3, "lock-helper"));  // the lock died with it
  CHECK(store.list().size() == 1);
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(store.read_part(*m, "op", "kg/0") == "one");
  CHECK(store.get_extra("view/x") == "1");
  CHECK(store.storage_stats().payloads == 1);  // checkpoint 2's, recovered from the WAL, removed at open
  CHECK(log.empty());
}
