#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "store_support.hpp"
#include "support/child_process.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

// The lock helper as a child process: `mode` and the directory as arguments.
class Helper : public ChildProcess {
 public:
  Helper(const std::string& mode, const std::filesystem::path& dir)
      : ChildProcess({SLUICE_CHECKPOINT_LOCK_HELPER, mode, dir.string()}) {}
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
