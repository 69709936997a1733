// Local-global aggregation (windows/local_aggregation.hpp): on several
// workers a tumbling or sliding event-time window aggregates on the worker
// that reads each record and moves only partials. Results and late counts
// must equal the one-step path's, on any worker count.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::string user;  // a key that owns memory
  std::int64_t v;
};

using Values = std::tuple<std::uint64_t, std::int64_t, std::int64_t, std::int64_t, double>;
using Result = WindowResult<std::string, Values>;

}  // namespace

namespace Catch {
template <>
struct StringMaker<Result> {
  static std::string convert(const Result& r) {
    const auto& [n, sum, lo, hi, mean] = r.values;
    return r.key + " [" + std::to_string(r.window.start) + "," + std::to_string(r.window.end) + ") count " +
           std::to_string(n) + " sum " + std::to_string(sum) + " min " + std::to_string(lo) + " max " +
           std::to_string(hi) + " avg " + std::to_string(mean);
  }
};
}  // namespace Catch

namespace {

struct Run {
  std::vector<Result> results;  // sorted by (window, key)
  QueryMetrics metrics;
};

struct Case {
  std::vector<Batch<Ev>> batches;
  TimeWindows windows;
  std::int64_t bound_us;  // watermark bound: records further behind are late
};

std::string describe(const Case& c) {
  std::size_t n = 0;
  for (const auto& b : c.batches) n += b.size();
  return "windows size " + std::to_string(c.windows.size_us) + " slide " + std::to_string(c.windows.slide_us) +
         " offset " + std::to_string(c.windows.offset_us) + ", bound " + std::to_string(c.bound_us) + ", " +
         std::to_string(n) + " records in " + std::to_string(c.batches.size()) + " batches";
}

/// Random events: a rising clock with jitter, some far behind it (late).
Case random_case(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  Case c;
  const std::int64_t slide = pick(1, 40);
  const std::int64_t size = pick(0, 1) == 0 ? slide : slide * pick(1, 5) + pick(0, slide - 1);
  c.windows = sliding(std::chrono::microseconds(size), std::chrono::microseconds(slide));
  if (pick(0, 3) == 0) c.windows = c.windows.with_offset(std::chrono::microseconds(pick(0, 100)));
  c.bound_us = pick(0, 30);
  const int keys = static_cast<int>(pick(1, 12));
  const std::int64_t n = pick(0, 400);
  std::int64_t clock = pick(-200, 200);
  Batch<Ev> batch;
  for (std::int64_t i = 0; i < n; ++i) {
    clock += pick(0, 4);
    const std::int64_t behind = pick(0, 9) == 0 ? pick(0, 120) : pick(0, 8);
    batch.push_back(Record<Ev>{Ev{"k" + std::to_string(pick(0, keys - 1)), pick(-1000, 1000)}, clock - behind});
    if (pick(0, 30) == 0) c.batches.push_back(std::move(batch)), batch = {};
  }
  if (!batch.empty()) c.batches.push_back(std::move(batch));
  return c;
}

/// Runs `c` on `workers` workers through one scripted source, a batch at a
/// time (never split: one watermark after each): each waits until every
/// window instance has the watermark of the batches before it, so what is
/// late does not depend on how the workers' threads interleave (a worker
/// whose source has not yet ended holds every window's watermark back).
Run run_case(const Case& c, std::size_t workers, bool local) {
  ScriptedSource<Ev> source;
  Job job("local-aggregation");
  CollectSink<Result> out;
  job.source(source)
      .watermarks(bounded_out_of_orderness(std::chrono::microseconds(c.bound_us)).with_emit_interval(0us))
      .key_by([](const Ev& e) { return e.user; })
      .name("kb")
      .window(c.windows)
      .local_aggregation(local)
      .aggregate(count(), sum("v", &Ev::v), min("v", &Ev::v), max("v", &Ev::v), avg("v", &Ev::v))
      .name("w")
      .sink(out);
  Engine engine;
  auto query = engine.start("q", job, QueryOptions{.workers = workers, .max_parallelism = 16, .batch_size = 1024});
  Timestamp max_ts = kMinTimestamp;
  for (const Batch<Ev>& b : c.batches) {
    source.push(b);
    for (const Record<Ev>& r : b) max_ts = std::max(max_ts, r.ts_us);
    const Timestamp want = max_ts - c.bound_us - 1;
    REQUIRE(eventually([&] {
      const QueryMetrics m = query->metrics();  // op() points into it
      const OperatorStats* w = m.op("w");
      return w != nullptr && w->watermark_us >= want;
    }));
  }
  source.end();
  query->wait();
  Run run;
  run.metrics = query->metrics();
  run.results = out.values();
  std::sort(run.results.begin(), run.results.end(), [](const Result& a, const Result& b) {
    return std::tie(a.window.start, a.key) < std::tie(b.window.start, b.key);
  });
  return run;
}

std::uint64_t late_of(const QueryMetrics& m) { return m.late_records; }

}  // namespace

TEST_CASE("local-global windows: the same results and late counts as one step, on 1 to 4 workers") {
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    const Case c = random_case(seed);
    INFO("seed " << seed << ": " << describe(c));
    const Run reference = run_case(c, 1, false);
    for (std::size_t workers : {1, 2, 3, 4}) {
      INFO("workers " << workers);
      const Run one_step = run_case(c, workers, false);
      const Run local = run_case(c, workers, true);
      REQUIRE(one_step.results == reference.results);
      REQUIRE(local.results == reference.results);
      REQUIRE(late_of(local.metrics) == late_of(reference.metrics));
      REQUIRE(late_of(one_step.metrics) == late_of(reference.metrics));
    }
  }
}

TEST_CASE("local-global windows: what the metrics show") {
  // 12 records of 3 keys in two windows [0,10) and [10,20), then one late
  // once every window instance has the watermark 16.
  ScriptedSource<Ev> source;
  Job job("metrics");
  CollectSink<Result> out;
  job.source(source)
      .watermarks(ascending().with_emit_interval(0us))
      .key_by([](const Ev& e) { return e.user; })
      .name("kb")
      .window(tumbling(10us))
      .aggregate(count(), sum("v", &Ev::v), min("v", &Ev::v), max("v", &Ev::v), avg("v", &Ev::v))
      .name("w")
      .sink(out);
  Engine engine;
  auto query = engine.start("q", job, QueryOptions{.workers = 2});
  Batch<Ev> b;
  for (int i = 0; i < 12; ++i) b.push_back(Record<Ev>{Ev{"k" + std::to_string(i % 3), i}, i < 6 ? i : 6 + i});
  source.push(b);
  REQUIRE(eventually([&] {
    const QueryMetrics now = query->metrics();  // op() points into it
    const OperatorStats* w = now.op("w");
    return w != nullptr && w->watermark_us >= 16;
  }));
  source.push_values({{Ev{"k0", 100}, 3}});
  source.end();
  query->wait();
  const QueryMetrics m = query->metrics();

  CHECK(out.values().size() == 6);  // 3 keys x 2 windows
  CHECK(m.op("w.exchange") == nullptr);  // key_by's own name counts the partials moved
  const OperatorStats* local = m.op("w.local");
  const OperatorStats* exchange = m.op("kb");
  const OperatorStats* window = m.op("w");
  REQUIRE(local != nullptr);
  REQUIRE(exchange != nullptr);
  REQUIRE(window != nullptr);
  CHECK(local->kind == "local_window");
  CHECK(local->records_in == 13);
  CHECK(local->records_out == 7);  // 6 (key, slice) partials and the late record's own
  CHECK(exchange->kind == "key_by");
  CHECK(exchange->records_in == 7);
  CHECK(window->records_in == 7);
  CHECK(window->late_records == 1);
  CHECK(m.late_records == 1);
  const BufferStats* channels = m.buffer("kb");
  REQUIRE(channels != nullptr);
  CHECK(channels->records <= 7);
}

TEST_CASE("local-global windows: when they do not apply, every record moves to its key's worker") {
  // Each variant runs one step: the window counts records, not partials.
  auto window_records_in = [](auto configure) {
    ScriptedSource<Ev> source;
    Batch<Ev> b;
    for (int i = 0; i < 50; ++i) b.push_back(Record<Ev>{Ev{"k" + std::to_string(i % 2), i}, i});
    source.push(b);
    source.end();
    Job job("one-step");
    CollectSink<Result> out;
    auto windowed = job.source(source)
                        .watermarks(ascending().with_emit_interval(0us))
                        .key_by([](const Ev& e) { return e.user; })
                        .name("kb")
                        .window(tumbling(10us));
    configure(windowed)
        .aggregate(count(), sum("v", &Ev::v), min("v", &Ev::v), max("v", &Ev::v), avg("v", &Ev::v))
        .name("w")
        .sink(out);
    const QueryMetrics m = job.run(QueryOptions{.workers = 2});
    CHECK(m.op("w.local") == nullptr);
    REQUIRE(m.op("w") != nullptr);
    return m.op("w")->records_in;
  };
  using W = WindowedStream<std::string, Ev, TimeWindows>;
  OutputTag<Ev> late("late");
  CHECK(window_records_in([](const W& w) { return w.local_aggregation(false); }) == 50);
  CHECK(window_records_in([](const W& w) { return w.allowed_lateness(5us); }) == 50);
  CHECK(window_records_in([&](const W& w) { return w.late_data(late); }) == 50);
}

TEST_CASE("local-global windows: key_by read by another operator too still feeds it") {
  ScriptedSource<Ev> source;
  Batch<Ev> b;
  for (int i = 0; i < 40; ++i) b.push_back(Record<Ev>{Ev{"k" + std::to_string(i % 4), 1}, i});
  source.push(b);
  source.end();
  Job job("shared-key-by");
  CollectSink<Result> windows;
  CollectSink<std::int64_t> plain;
  auto keyed = job.source(source).watermarks(ascending().with_emit_interval(0us)).key_by([](const Ev& e) {
    return e.user;
  });
  keyed.name("kb")
      .window(tumbling(20us))
      .aggregate(count(), sum("v", &Ev::v), min("v", &Ev::v), max("v", &Ev::v), avg("v", &Ev::v))
      .name("w")
      .sink(windows);
  keyed.routed().map([](const Keyed<std::string, Ev>& k) { return k.value.v; }).sink(plain);
  const QueryMetrics m = job.run(QueryOptions{.workers = 3});
  REQUIRE(m.op("kb") != nullptr);
  CHECK(m.op("kb")->records_in == 40);  // key_by runs for the map
  REQUIRE(m.op("w.exchange") != nullptr);
  CHECK(m.op("w.local")->records_in == 40);
  CHECK(plain.values().size() == 40);
  std::uint64_t counted = 0;
  for (const Result& r : windows.values()) counted += r.get<0>();
  CHECK(counted == 40);
  CHECK(windows.values().size() == 8);  // 4 keys x 2 windows
}

TEST_CASE("local-global windows: empty input, one record, timestamps at the ends of the valid range") {
  SECTION("empty input emits nothing") {
    Case c;
    c.windows = tumbling(10us);
    c.bound_us = 0;
    for (std::size_t workers : {1, 2}) {
      const Run run = run_case(c, workers, true);
      CHECK(run.results.empty());
      CHECK(run.metrics.late_records == 0);
    }
  }
  SECTION("one record") {
    Case c;
    c.windows = sliding(10us, 5us);
    c.bound_us = 0;
    c.batches.push_back({Record<Ev>{Ev{"a", 7}, 12}});
    const Run run = run_case(c, 2, true);
    REQUIRE(run.results.size() == 2);  // [5,15) and [10,20)
    CHECK(run.results[0].window.start == 5);
    CHECK(run.results[1].window.start == 10);
    CHECK(run.results[0].values == Values{1, 7, 7, 7, 7.0});
  }
  SECTION("the largest and smallest valid timestamps; outside the range counts as late") {
    Case c;
    c.windows = tumbling(1s);
    c.bound_us = 0;
    c.batches.push_back({Record<Ev>{Ev{"lo", 1}, kMinValidTimestamp}, Record<Ev>{Ev{"hi", 2}, kMaxValidTimestamp},
                         Record<Ev>{Ev{"out", 3}, std::numeric_limits<Timestamp>::max()}});
    const Run run = run_case(c, 2, true);
    const Run reference = run_case(c, 1, false);
    CHECK(run.results == reference.results);
    REQUIRE(run.results.size() == 2);
    CHECK(run.metrics.late_records == 1);
    CHECK(reference.metrics.late_records == 1);
  }
}

TEST_CASE("local-global windows: window_all pre-aggregates on every worker") {
  Job job("all");
  CollectSink<WindowResult<NoKey, std::tuple<std::uint64_t>>> out;
  job.source(Generator(GeneratorOptions{.count = 10'000, .chunk = 100}, [](std::uint64_t i) { return i; }))
      .watermarks(ascending().with_emit_interval(0us))
      .window_all(tumbling(1000us))
      .aggregate(count())
      .name("all")
      .sink(out);
  const QueryMetrics m = job.run(QueryOptions{.workers = 4});
  const auto results = out.values();
  REQUIRE(results.size() == 10);
  for (const auto& r : results) CHECK(r.get<0>() == 1000);
  REQUIRE(m.op("all.local") != nullptr);
  CHECK(m.op("all.local")->records_in == 10'000);
  CHECK(m.op("all")->records_in < 10'000 / 10);  // partials, not records
}

