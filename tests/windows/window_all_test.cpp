// Non-keyed windows (`Stream::window_all`): one window per time range over
// the whole stream, whatever the worker count.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::string user;
  int v;
};

using CountSum = std::tuple<std::uint64_t, std::int64_t>;
using AllResult = WindowResult<NoKey, CountSum>;

std::uint64_t mix(std::uint64_t x) { return detail::mix64(x + 0x9E3779B97F4A7C15ULL); }

// Record i of the generated jobs: its value and a timestamp up to 50 µs out
// of order behind a rising clock.
std::uint64_t value_of(std::uint64_t i) { return mix(i) % 1000; }
Timestamp time_of(std::uint64_t i) { return static_cast<Timestamp>(i * 10 + mix(i) % 50); }

constexpr std::uint64_t kRecords = 20'000;

std::vector<WindowResult<NoKey, std::tuple<std::uint64_t, std::uint64_t>>> run_generated(std::size_t workers,
                                                                                        TimeWindows w,
                                                                                        QueryMetrics* metrics = nullptr) {
  using Result = WindowResult<NoKey, std::tuple<std::uint64_t, std::uint64_t>>;
  Job job("all");
  auto results = std::make_shared<std::vector<Result>>();
  auto mu = std::make_shared<std::mutex>();
  job.source(Generator(GeneratorOptions{.count = kRecords, .chunk = 64}, [](std::uint64_t i) { return i; }))
      .assign_timestamps([](const std::uint64_t& i) { return time_of(i); })
      .watermarks(bounded_out_of_orderness(std::chrono::microseconds(60)).with_emit_interval(0us))
      .window_all(w)
      .aggregate(count(), sum("value", [](const std::uint64_t& i) { return value_of(i); }))
      .sink(CallbackSink<Result>([results, mu](const Result& r) {
        std::lock_guard lock(*mu);
        results->push_back(r);
      }));
  QueryMetrics m = job.run(QueryOptions{.workers = workers});
  CHECK(m.late_records == 0);
  if (metrics != nullptr) *metrics = m;
  std::sort(results->begin(), results->end(),
            [](const Result& a, const Result& b) { return a.window < b.window; });
  return *results;
}

}  // namespace

TEST_CASE("window_all aggregates every record of a window together, out of order and across keys") {
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1}, 1},
                   {Ev{"b", 2}, 9},   // tie at the window's last timestamp
                   {Ev{"c", 4}, 10},  // tie at the next window's first
                   {Ev{"a", 8}, 5},   // out of order, still in [0, 10)
                   {Ev{"b", 16}, 31}});  // [20, 30) stays empty: no result
  src.end();
  Job job("all");
  CollectSink<AllResult> out;
  job.source(src)
      .watermarks(bounded_out_of_orderness(5us).with_emit_interval(0us))
      .window_all(tumbling(10us))
      .aggregate(count(), sum("v", &Ev::v))
      .sink(out);
  job.run(QueryOptions{.workers = 1});
  const auto got = out.records();
  REQUIRE(got.size() == 3);
  CHECK(got[0].value.window == TimeWindow{0, 10});
  CHECK(got[0].value.values == CountSum{3, 11});
  CHECK(got[0].ts_us == 9);
  CHECK(got[1].value.window == TimeWindow{10, 20});
  CHECK(got[1].value.values == CountSum{1, 4});
  CHECK(got[2].value.window == TimeWindow{30, 40});
  CHECK(got[2].value.values == CountSum{1, 16});
  for (const auto& r : got) {
    CHECK(r.value.key == NoKey{});
    CHECK(r.value.kind == ChangeKind::kInsert);
  }
}

TEST_CASE("window_all over an empty stream emits nothing") {
  ScriptedSource<Ev> src;
  src.end();
  Job job("all");
  CollectSink<AllResult> out;
  job.source(src).watermarks(ascending()).window_all(tumbling(10us)).aggregate(count(), sum("v", &Ev::v)).sink(out);
  job.run(QueryOptions{.workers = 2});
  CHECK(out.records().empty());
}

TEST_CASE("window_all results match a reference and are identical on 1, 2 and 4 workers") {
  for (TimeWindows w : {tumbling(1000us), sliding(3000us, 500us)}) {
    // Reference: every record into each window holding it.
    std::map<Timestamp, std::pair<std::uint64_t, std::uint64_t>> expected;  // window start -> (count, sum)
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      const Timestamp ts = time_of(i);
      for (Timestamp start = ts - ts % w.slide_us; start > ts - w.size_us; start -= w.slide_us) {
        auto& [c, s] = expected[start];
        ++c;
        s += value_of(i);
      }
    }
    QueryMetrics m;
    const auto one = run_generated(1, w, &m);
    REQUIRE(one.size() == expected.size());
    std::size_t i = 0;
    for (const auto& [start, cs] : expected) {
      INFO("window " << start);
      CHECK(one[i].window == TimeWindow{start, start + w.size_us});
      CHECK(one[i].values == std::tuple<std::uint64_t, std::uint64_t>{cs.first, cs.second});
      ++i;
    }
    CHECK(m.op("window_all") != nullptr);
    CHECK(run_generated(2, w) == one);
    CHECK(run_generated(4, w) == one);
  }
}

TEST_CASE("window_all takes session and count windows") {
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1}, 1}, {Ev{"b", 2}, 4}, {Ev{"c", 4}, 20}, {Ev{"a", 8}, 22}, {Ev{"b", 16}, 23}});
  src.end();
  Job job("all");
  CollectSink<AllResult> sessions;
  CollectSink<WindowResult<NoKey, std::tuple<std::int64_t>>> pairs;
  auto events = job.source(src).watermarks(ascending().with_emit_interval(0us));
  events.window_all(session(5us)).aggregate(count(), sum("v", &Ev::v)).sink(sessions);
  events.window_all(count_tumbling(2)).aggregate(sum("v", &Ev::v)).sink(pairs);
  job.run(QueryOptions{.workers = 1});

  const auto s = sessions.records();
  REQUIRE(s.size() == 2);
  CHECK(s[0].value.window == TimeWindow{1, 9});  // last record + gap
  CHECK(s[0].value.values == CountSum{2, 3});
  CHECK(s[1].value.window == TimeWindow{20, 28});
  CHECK(s[1].value.values == CountSum{3, 28});

  // Count windows of two records in arrival order; the fifth record's
  // window never fills and is not emitted.
  const auto p = pairs.records();
  REQUIRE(p.size() == 2);
  CHECK(std::get<0>(p[0].value.values) == 3);
  CHECK(std::get<0>(p[1].value.values) == 12);
}

TEST_CASE("window_all names its exchange window_all, window_all#2, ...") {
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1}, 1}});
  src.end();
  Job job("all");
  CollectSink<AllResult> a, b;
  auto events = job.source(src).watermarks(ascending());
  events.window_all(tumbling(10us)).aggregate(count(), sum("v", &Ev::v)).sink(a);
  events.window_all(tumbling(20us)).aggregate(count(), sum("v", &Ev::v)).sink(b);
  QueryMetrics m = job.run(QueryOptions{.workers = 2});
  REQUIRE(m.op("window_all") != nullptr);
  REQUIRE(m.op("window_all#2") != nullptr);
  CHECK(m.op("window_all")->records_in == 1);
  CHECK(m.op("window_all#2")->records_in == 1);
  REQUIRE(a.records().size() == 1);
  REQUIRE(b.records().size() == 1);
}
