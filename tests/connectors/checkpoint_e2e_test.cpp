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

#include "checkpoint/rocksdb_checkpoints.hpp"
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
std::vector<std::string> sorted_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::sort(lines.begin(), lines.end());
  return lines;
}

// A record per generated number, except every 7th; one JSON object per line.
// `events_per_second` 0: as fast as possible.
Job make_job(const std::string& out, double events_per_second) {
  Job job("e2e");
  job.source(Generator(GeneratorOptions{.count = kCount,
                                        .events_per_second = events_per_second,
                                        .buffer = {.capacity = 1'000'000},
                                        .chunk = 64,
                                        .splits = 12},
                       [](std::uint64_t i) { return static_cast<std::int64_t>(i); }, "numbers"))
      .filter([](std::int64_t v) { return v % 7 != 3; })
      .map([](std::int64_t v) { return v * 3; })
      .sink(JsonLinesFileSink<std::int64_t>(out, [](const std::int64_t& v) {
        return "{\"v\":" + std::to_string(v) + "}";
      }));
  return job;
}

QueryOptions options(std::size_t workers, const Clock& clock, const std::string& state_dir) {
  QueryOptions o;
  o.workers = workers;
  o.clock = &clock;
  o.checkpoints.storage = rocksdb_checkpoints(state_dir);
  o.checkpoints.log = [](const std::string&) {};
  return o;
}

// The output of an uninterrupted run on `workers`.
std::string uninterrupted(std::size_t workers) {
  const std::string out = temp_path("reference_" + std::to_string(workers) + ".jsonl");
  make_job(out, 0).run(sluice::testing::workers(workers));
  return read_file(out);
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
      CHECK(got == reference);  // one worker: the very same bytes
    } else {
      CHECK(sorted_lines(got) == sorted_lines(reference));  // workers interleave their lines by timing
    }
    std::filesystem::remove_all(state);
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
  CHECK(sorted_lines(read_file(out)) == sorted_lines(reference));
  std::filesystem::remove_all(state);
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
