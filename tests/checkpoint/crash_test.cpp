// Crashes for real: examples/crash_replay runs as a child process, is killed
// with SIGKILL after some checkpoints completed (no destructor, no flush),
// started again on the same state directory, and so on; once a run
// finishes, its output file must hold exactly the lines of a run that never
// crashed. Lines of different workers interleave by timing, so the files
// are compared sorted.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "store_support.hpp"
#include "support/child_process.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> sorted_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

std::vector<std::string> crash_replay_args(const TempDir& dir, const std::string& name, std::size_t workers) {
  return {SLUICE_CRASH_REPLAY, "--state", (dir / (name + "-state")).string(), "--out",
          (dir / (name + ".jsonl")).string(), "--workers", std::to_string(workers), "--count", "300000",
          "--rate", "150000", "--interval-ms", "100", "--keys", "500"};
}

// Reads the child's lines until one starts with `prefix`; false if it ends first.
bool wait_for_line(ChildProcess& p, const std::string& prefix, std::vector<std::string>& seen) {
  for (;;) {
    std::optional<std::string> line = p.read_line_within(60s);
    if (!line) return false;
    seen.push_back(*line);
    if (line->rfind(prefix, 0) == 0) return true;
  }
}

}  // namespace

TEST_CASE("a job killed with SIGKILL and restarted writes exactly the output of a run without a crash",
          "[checkpoint][crash]") {
  const std::size_t workers = GENERATE(1, 2, 4);
  CAPTURE(workers);
  TempDir dir;
  {
    ChildProcess reference(crash_replay_args(dir, "reference", workers));
    std::vector<std::string> seen;
    REQUIRE(wait_for_line(reference, "finished", seen));
    REQUIRE(reference.wait() == 0);
  }
  const std::vector<std::string> want = sorted_lines(dir / "reference.jsonl");
  REQUIRE(want.size() > 1000);

  // Killed twice, each time after two more checkpoints completed.
  std::vector<std::string> seen;
  for (int crash = 0; crash < 2; ++crash) {
    ChildProcess run(crash_replay_args(dir, "crashed", workers));
    REQUIRE(wait_for_line(run, crash == 0 ? "query 'crash_replay': no checkpoint" : "query 'crash_replay': restoring",
                          seen));
    REQUIRE(wait_for_line(run, "checkpoint ", seen));
    REQUIRE(wait_for_line(run, "checkpoint ", seen));
    run.kill_hard();
    CHECK(run.wait() == 128 + SIGKILL);
  }
  ChildProcess last(crash_replay_args(dir, "crashed", workers));
  REQUIRE(wait_for_line(last, "query 'crash_replay': restoring checkpoint", seen));
  REQUIRE(wait_for_line(last, "finished", seen));
  REQUIRE(last.wait() == 0);
  UNSCOPED_INFO("child output:\n" << [&] {
    std::string all;
    for (const std::string& l : seen) all += l + "\n";
    return all;
  }());
  const std::vector<std::string> got = sorted_lines(dir / "crashed.jsonl");
  CHECK(got.size() == want.size());
  CHECK(got == want);
}
