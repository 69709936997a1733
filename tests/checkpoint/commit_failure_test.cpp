#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "store_support.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

// While alive, no file of this process may grow beyond `bytes` (writes past
// it fail with EFBIG instead of raising SIGXFSZ): a disk that is full, for
// the files RocksDB appends to.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  void (*old_handler_)(int) = nullptr;
};

std::uintmax_t largest_wal(const std::filesystem::path& dir) {
  std::uintmax_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "db"))
    if (e.path().extension() == ".log") n = std::max(n, e.file_size());
  return n;
}

}  // namespace

TEST_CASE("a commit that cannot be written throws and leaves the previous checkpoints intact", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    one.add_part("op", "kg/0", "one");
    one.put_extra("view/x", "1");
    one.commit();
    PendingCheckpoint two = store.begin(2);
    two.add_part("op", "kg/0", random_bytes(1 << 20, 5));
    two.put_extra("view/x", "2");
    std::string message;
    {
      // The WAL holds the 1 MB part already; the commit's batch does not fit.
      FileSizeLimit full(largest_wal(dir.path()) + 16);
      message = thrown_message<CheckpointError>([&] { two.commit(); });
    }
    INFO(message);
    CHECK(message.find("checkpoint store '" + dir.path().string() + "': commit checkpoint 2: IO error: ") == 0);
    CHECK(thrown_message<CheckpointError>([&] { two.commit(); }).find("the checkpoint is no longer open") !=
          std::string::npos);
    CHECK(store.list().size() == 1);
    CHECK(store.get_extra("view/x") == "1");
    // RocksDB refuses writes after a failed WAL append, so the payloads of 2
    // stay until the next open, which says so.
    CHECK(logged(log, {"failed commit of checkpoint 2: could not remove its payloads (the next open will)"}));
  }
  // RocksDB stops writing after a failed WAL write; reopened, the store holds
  // checkpoint 1 as it was, and nothing of 2.
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(store.read_part(*m, "op", "kg/0") == "one");
  CHECK(store.get_extra("view/x") == "1");
  CHECK(store.extras_checkpoint_id() == 1u);
  CHECK(store.storage_stats().payloads == 1);
  PendingCheckpoint two = store.begin(2);  // and writes again
  two.add_part("op", "kg/0", "two");
  two.commit();
  CHECK(store.latest_valid()->id == 2);
}
