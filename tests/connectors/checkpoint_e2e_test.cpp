// Exactly-once end to end: generator -> map/filter -> JSON-lines file,
// checkpointed to RocksDB, cancelled after a checkpoint with output written
// past it, restarted on the same or another worker count: the file ends up
// holding exactly what an uninterrupted run writes. The manual clock paces
// the generator, so the cut points are deterministic without sleeping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint/rocksdb_checkpoints.hpp"
#include "connectors/e2e_job.hpp"
#include "support/harness.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kCount = 20'000;

std::string temp_path(const std::string& name) {
  return "/tmp/sluice_" + std::to_string(::getpid()) + "_e2e_" + name;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// "" when the texts hold the same lines in any order, else the first
// difference in sorted order (a failure prints this, not every line).
std::string same_lines(const std::string& got, const std::string& expected);

std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::sort(lines.begin(), lines.end());
  return lines;
}

Job make_job(const std::string& out, double events_per_second) {
  return make_file_job(out, kCount, events_per_second);
}

QueryOptions options(std::size_t workers, const Clock& clock, const std::string& state_dir) {
  QueryOptions o;
  o.workers = workers;
  o.clock = &clock;
  o.checkpoints.storage = rocksdb_checkpoints(state_dir);
  o.checkpoints.log = [](const std::string&) {};
  return o;
}

std::string same_lines(const std::string& got, const std::string& expected) {
  const auto a = sorted_lines(got), b = sorted_lines(expected);
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    if (a[i] != b[i]) return "line " + std::to_string(i) + " in sorted order: got " + a[i] + ", expected " + b[i];
  if (a.size() != b.size())
    return "got " + std::to_string(a.size()) + " lines, expected " + std::to_string(b.size());
  return "";
}

// The output of an uninterrupted run on `workers`.
std::string uninterrupted(std::size_t workers, std::uint64_t count = kCount) {
  const std::string out = temp_path("reference_" + std::to_string(workers) + ".jsonl");
  make_file_job(out, count, 0).run(sluice::testing::workers(workers));
  std::string text = read_file(out);
  std::filesystem::remove(out);
  return text;
}

std::uint64_t records_out(const Query& q) { return q.metrics().records_out; }

}  // namespace

TEST_CASE("exactly-once file output: cancel after a checkpoint, restart, the file equals an uninterrupted run's",
          "[connectors][checkpoint][e2e]") {
  const std::string reference = uninterrupted(1);
  REQUIRE(!reference.empty());
  for (auto [before, after] : {std::pair<std::size_t, std::size_t>{1, 1}, {2, 2}, {4, 4}, {2, 3}, {4, 1}, {1, 4}}) {
    CAPTURE(before, after);
    const std::string tag = std::to_string(before) + "_" + std::to_string(after);
    const std::string state = temp_path("state_" + tag), out = temp_path("out_" + tag + ".jsonl");
    std::filesystem::remove_all(state);
    std::filesystem::remove(out);
    ManualClock clock(1'000'000);
    Engine engine;
    // 10^6 records per second of the manual clock: one per µs over all workers.
    std::uint64_t checkpoint = 0;
    {
      auto q = engine.start("e2e", make_job(out, 1e6), options(before, clock, state));
      CHECK(q->restored_checkpoint() == 0);
      clock.advance(6'000);
      REQUIRE(eventually([&] { return records_out(*q) >= 4'000; }));
      checkpoint = q->checkpoint_now();
      REQUIRE(q->wait_for_checkpoint(checkpoint, 20s));
      // Output past the checkpoint, which the restore must cut off.
      const std::uint64_t at_checkpoint = records_out(*q);
      clock.advance(4'000);
      REQUIRE(eventually([&] { return records_out(*q) >= at_checkpoint + 2'000; }));
      q->stop(StopMode::kCancel);
      q->wait();
    }
    {
      auto q = engine.start("e2e", make_job(out, 1e6), options(after, clock, state));
      CHECK(q->restored_checkpoint() == checkpoint);
      clock.advance(2 * kCount);  // the rest arrives
      REQUIRE(q->wait_for(20s));
      REQUIRE(q->status().state == QueryState::kFinished);
    }
    const std::string got = read_file(out);
    if (before == 1 && after == 1) {
      CHECK((got == reference));  // one worker: the very same bytes
      CHECK(same_lines(got, reference).empty());
    } else {
      CHECK(same_lines(got, reference).empty());  // workers interleave their lines by timing
    }
    std::filesystem::remove_all(state);
    std::filesystem::remove(out);
  }
}

TEST_CASE("exactly-once file output: a second failure after restoring, then a restore of the newer checkpoint",
          "[connectors][checkpoint][e2e]") {
  const std::string reference = uninterrupted(2);
  const std::string state = temp_path("state_twice"), out = temp_path("out_twice.jsonl");
  std::filesystem::remove_all(state);
  std::filesystem::remove(out);
  ManualClock clock(1'000'000);
  Engine engine;
  std::uint64_t last = 0;
  for (std::size_t run = 0; run < 3; ++run) {
    CAPTURE(run);
    auto q = engine.start("e2e", make_job(out, 1e6), options(run == 1 ? 3 : 2, clock, state));
    CHECK(q->restored_checkpoint() == last);
    if (run == 2) {
      clock.advance(2 * kCount);
      REQUIRE(q->wait_for(20s));
      REQUIRE(q->status().state == QueryState::kFinished);
      break;
    }
    const std::uint64_t start = records_out(*q);
    clock.advance(5'000);
    REQUIRE(eventually([&] { return records_out(*q) >= start + 3'000; }));
    last = q->checkpoint_now();
    REQUIRE(q->wait_for_checkpoint(last, 20s));
    clock.advance(3'000);
    REQUIRE(eventually([&] { return records_out(*q) >= start + 4'500; }));
    q->stop(StopMode::kCancel);
    q->wait();
  }
  CHECK(same_lines(read_file(out), reference).empty());
  std::filesystem::remove_all(state);
  std::filesystem::remove(out);
}

TEST_CASE("a query with checkpoint storage refuses a PushSource, naming it", "[connectors][checkpoint]") {
  const std::string state = temp_path("state_push");
  std::filesystem::remove_all(state);
  PushSource<std::int64_t> orders;
  Job job("push");
  job.source(orders, "orders").sink(CollectSink<std::int64_t>{});
  QueryOptions o;
  o.workers = 1;
  o.checkpoints.storage = rocksdb_checkpoints(state);
  o.checkpoints.log = [](const std::string&) {};
  Engine engine;
  const std::string msg = thrown_message<GraphError>([&] { engine.start("push", job, o); });
  CHECK(msg.find("orders") != std::string::npos);
  CHECK(msg.find("cannot replay") != std::string::npos);
  std::filesystem::remove_all(state);
}

extern char** environ;

TEST_CASE("exactly-once file output: a process killed by SIGKILL after checkpoints, restored in another",
          "[connectors][checkpoint][e2e][crash]") {
  constexpr std::uint64_t kCrashCount = 400'000;
  for (auto [before, after] : {std::pair<std::size_t, std::size_t>{1, 1}, {2, 3}}) {
    CAPTURE(before, after);
    const std::string tag = std::to_string(before) + "_" + std::to_string(after);
    const std::string state = temp_path("state_crash_" + tag), out = temp_path("out_crash_" + tag + ".jsonl");
    std::filesystem::remove_all(state);
    std::filesystem::remove(out);
    // The helper produces 100'000 records a second (4 s for all) and prints
    // each completed checkpoint; it is killed after the third.
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, pipe_fds[0]);
    const std::string path = SLUICE_CONNECTORS_CRASH_HELPER, workers_arg = std::to_string(before),
                      count_arg = std::to_string(kCrashCount), rate_arg = "100000";
    std::vector<char*> argv{const_cast<char*>(path.c_str()),       const_cast<char*>(state.c_str()),
                            const_cast<char*>(out.c_str()),        const_cast<char*>(workers_arg.c_str()),
                            const_cast<char*>(count_arg.c_str()),  const_cast<char*>(rate_arg.c_str()),
                            nullptr};
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(pipe_fds[1]);
    REQUIRE(rc == 0);
    std::vector<std::string> lines;
    std::string line;
    char c;
    while (lines.size() < 3 && ::read(pipe_fds[0], &c, 1) == 1) {
      if (c != '\n') {
        line += c;
        continue;
      }
      lines.push_back(line);
      line.clear();
      if (lines.back() == "finished") break;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(pipe_fds[0]);
    REQUIRE(lines.size() == 3);
    REQUIRE(lines.back().rfind("checkpoint ", 0) == 0);
    CHECK(WIFSIGNALED(status));
    const std::uint64_t third = std::stoull(lines.back().substr(11));
    // The file holds only what committed checkpoints cover (the sinks commit
    // a moment after a checkpoint completes, so it may still be empty), and
    // never lines a restore would take back: all of them are in the output
    // of an uninterrupted run (a kill in the middle of a commit can leave a
    // partial last line, which the restore cuts off).
    std::string at_crash = read_file(out);
    at_crash.erase(at_crash.find_last_of('\n') == std::string::npos ? 0 : at_crash.find_last_of('\n') + 1);
    const auto committed = sorted_lines(at_crash), all = sorted_lines(uninterrupted(before, kCrashCount));
    CHECK(std::includes(all.begin(), all.end(), committed.begin(), committed.end()));

    QueryOptions o;
    o.workers = after;
    o.checkpoints.storage = rocksdb_checkpoints(state);
    o.checkpoints.log = [](const std::string&) {};
    Engine engine;
    auto q = engine.start("crash", make_file_job(out, kCrashCount, 0), o);
    CHECK(q->restored_checkpoint() >= third);
    REQUIRE(q->wait_for(60s));
    REQUIRE(q->status().state == QueryState::kFinished);
    CHECK(same_lines(read_file(out), uninterrupted(after, kCrashCount)).empty());
    std::filesystem::remove_all(state);
    std::filesystem::remove(out);
  }
}
