// Crashes for real: examples/crash_replay (JSON-lines file source, keyed
// process state with event-time timers and a late side output, keyed
// tumbling windows with allowed lateness, the exactly-once file sink and an
// on_commit callback sink, RocksDB checkpoints every 20 ms) runs as a child
// process and is killed with SIGKILL at random moments (while processing,
// while a checkpoint is written, between a checkpoint's completion and the
// sinks' commit: no destructor, no flush), then started again on the same
// state directory, each time on 1, 2 or 4 workers, until a run finishes.
// The output file must then hold exactly the lines of a run that never
// crashed: the same multiset, and the same order per key within each result
// stream (lines of different streams interleave by timing).
//
// Seeded: a failure prints the seed, and SLUICE_CRASH_SEED=<seed> repeats
// it. A longer soak run: `make soak` (more kills, more events, a new seed
// each time), or set SLUICE_CRASH_KILLS and SLUICE_CRASH_EVENTS.
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store_support.hpp"
#include "support/child_process.hpp"

using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

std::uint64_t knob(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoull(v) : fallback;
}

std::vector<std::string> lines_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Every line starts {"key":"<key>", then a field naming the result stream
// it belongs to (window results, late events, timer reports): each stream's
// lines of each key in file order.
std::map<std::string, std::vector<std::string>> by_key(const std::vector<std::string>& lines) {
  std::map<std::string, std::vector<std::string>> m;
  for (const std::string& l : lines) {
    REQUIRE(l.rfind("{\"key\":\"", 0) == 0);
    const std::size_t key_end = l.find('"', 8);
    const std::size_t field_end = l.find('"', key_end + 3);
    m[l.substr(8, key_end - 8) + " " + l.substr(key_end + 3, field_end - key_end - 3)].push_back(l);
  }
  return m;
}

struct Paths {
  TempDir dir;
  std::string input() const { return (dir / "events.jsonl").string(); }
  std::vector<std::string> args(const std::string& run, std::size_t workers) const {
    return {SLUICE_CRASH_REPLAY,
            "--input",
            input(),
            "--state-dir",
            (dir / (run + "-state")).string(),
            "--output",
            (dir / (run + ".jsonl")).string(),
            "--workers",
            std::to_string(workers),
            "--checkpoint-interval-ms",
            "20",
            "--callback-output",
            (dir / (run + "-delivered.jsonl")).string()};
  }
};

// Runs it to its end; returns what it printed.
std::string run_to_end(const std::vector<std::string>& args) {
  ChildProcess p(args, true);
  std::string out;
  for (std::optional<std::string> line; (line = p.read_line_within(120s));) out += *line + "\n";
  const int rc = p.wait();
  INFO(out);
  REQUIRE(rc == 0);
  return out;
}

}  // namespace

TEST_CASE("a job killed by SIGKILL at random moments and restarted on 1, 2 and 4 workers writes exactly the output "
          "of a run without a crash",
          "[checkpoint][crash]") {
  const std::uint64_t seed = knob("SLUICE_CRASH_SEED", 20261202);
  const std::uint64_t kills_wanted = knob("SLUICE_CRASH_KILLS", 6);
  const std::uint64_t events = knob("SLUICE_CRASH_EVENTS", 300'000);
  INFO("SLUICE_CRASH_SEED=" << seed << " SLUICE_CRASH_KILLS=" << kills_wanted << " SLUICE_CRASH_EVENTS=" << events);
  Paths paths;
  {
    ChildProcess gen({SLUICE_CRASH_REPLAY, "--generate", paths.input(), "--events", std::to_string(events), "--seed",
                      std::to_string(seed)});
    REQUIRE(gen.wait() == 0);
  }
  run_to_end(paths.args("reference", 2));
  const std::vector<std::string> want = lines_of(paths.dir / "reference.jsonl");
  REQUIRE(want.size() > events / 10);
  // Late events and timer reports are part of it (the input plants late ones).
  auto count = [&](const char* text) {
    return std::count_if(want.begin(), want.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  };
  REQUIRE(count("late_ts_ms") > 0);
  REQUIRE(count("until_ms") > 0);

  std::mt19937_64 rng(seed);
  const std::size_t worker_counts[] = {1, 2, 4};
  std::string log;
  std::uint64_t kills = 0, restores = 0;
  for (std::uint64_t attempt = 0; attempt < kills_wanted; ++attempt) {
    const std::size_t workers = worker_counts[rng() % 3];
    // Within the first ~half of a run on this machine (300k events take
    // 0.3-0.6 s here at full speed, much longer under a sanitizer).
    const auto delay = std::chrono::milliseconds(rng() % 150);
    // Every other run is killed only after a checkpoint completed (so some
    // restores happen however slow the build, a sanitizer's say); the delay
    // counts from there, or from the query's start.
    const bool after_checkpoint = attempt % 2 == 1;
    ChildProcess run(paths.args("crashed", workers), true);
    log += "--- run on " + std::to_string(workers) + " workers, kill " + std::to_string(delay.count()) + " ms after " +
           (after_checkpoint ? "a checkpoint" : "the start") + "\n";
    bool ended = false;
    for (const std::string prefix : {"crash_replay: query ", "crash_replay: checkpoint "}) {
      if (ended || (prefix.find("checkpoint") != std::string::npos && !after_checkpoint)) continue;
      for (;;) {
        std::optional<std::string> line = run.read_line_within(120s);
        if (!line) {
          REQUIRE(run.output_ended());
          ended = true;
          break;
        }
        log += *line + "\n";
        restores += line->find("restoring checkpoint") != std::string::npos;
        if (line->rfind(prefix, 0) == 0) break;
      }
    }
    // Read what it prints until the moment to kill it comes (or it ends first).
    const auto kill_at = std::chrono::steady_clock::now() + delay;
    for (;;) {
      if (ended) break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kill_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      std::optional<std::string> line = run.read_line_within(left);
      if (!line) {
        ended = run.output_ended();  // it exited before the moment came
        break;
      }
      log += *line + "\n";
      restores += line->find("restoring checkpoint") != std::string::npos;
    }
    if (ended) {
      INFO(log);
      REQUIRE(run.wait() == 0);
      continue;
    }
    run.kill_hard();
    const int rc = run.wait();
    ++kills;
    log += "--- killed (exit " + std::to_string(rc) + ")\n";
  }
  const std::size_t last_workers = worker_counts[rng() % 3];
  log += "--- last run on " + std::to_string(last_workers) + " workers\n";
  log += run_to_end(paths.args("crashed", last_workers));
  restores += log.find("restoring checkpoint", log.rfind("--- last run")) != std::string::npos;
  INFO(log);
  CHECK(kills > 0);
  CHECK(restores > 0);

  const std::vector<std::string> got = lines_of(paths.dir / "crashed.jsonl");
  CHECK(got.size() == want.size());
  // Nothing lost, nothing twice (the difference, if any, shown in full).
  const std::vector<std::string> got_sorted = sorted(got), want_sorted = sorted(want);
  std::vector<std::string> lost, doubled;
  std::set_difference(want_sorted.begin(), want_sorted.end(), got_sorted.begin(), got_sorted.end(),
                      std::back_inserter(lost));
  std::set_difference(got_sorted.begin(), got_sorted.end(), want_sorted.begin(), want_sorted.end(),
                      std::back_inserter(doubled));
  CHECK(lost == std::vector<std::string>{});
  CHECK(doubled == std::vector<std::string>{});
  // And in order per key (within each result stream).
  const auto got_by_key = by_key(got), want_by_key = by_key(want);
  for (const auto& [key, lines] : want_by_key) {
    INFO("key and stream: " << key);
    CHECK((got_by_key.count(key) ? got_by_key.at(key) : std::vector<std::string>{}) == lines);
    if (!got_by_key.count(key) || got_by_key.at(key) != lines) break;  // one key shows it
  }

  // The on_commit callback delivered every timer report, nothing else; a
  // kill in the middle of one delivery may repeat that delivery's lines.
  std::set<std::string> reports;
  for (const std::string& l : want)
    if (l.find("until_ms") != std::string::npos) reports.insert(l);
  const std::vector<std::string> delivered = lines_of(paths.dir / "crashed-delivered.jsonl");
  const std::set<std::string> distinct(delivered.begin(), delivered.end());
  CHECK(distinct.size() == reports.size());
  CHECK(std::includes(reports.begin(), reports.end(), distinct.begin(), distinct.end()));
  UNSCOPED_INFO("callback deliveries repeated by kills: " << delivered.size() - distinct.size());
}
