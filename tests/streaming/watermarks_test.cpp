// Watermark strategies through real jobs: scripted sources, a manual clock,
// and sinks that log records and watermarks in order.
#include <catch2/catch.hpp>

#include <optional>
#include <thread>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using Ev = SinkEvent<int>;
constexpr Timestamp kInf = kMaxTimestamp;

std::string show(const std::vector<Ev>& evs) {
  std::string s;
  for (const Ev& e : evs)
    s += e.is_watermark ? "W(" + (e.ts == kInf ? std::string("inf") : std::to_string(e.ts)) + ") "
                        : "r" + std::to_string(e.value) + "@" + std::to_string(e.ts) + " ";
  return s;
}

std::string show(const std::vector<Timestamp>& v) {
  std::string s;
  for (Timestamp t : v) s += (t == kInf ? std::string("inf") : std::to_string(t)) + " ";
  return s;
}

}  // namespace

TEST_CASE("watermarks: bounded out-of-orderness with emit interval 0 emits max - bound - 1 after every batch",
          "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  src.push_values({{1, 10'000}, {2, 30'000}, {3, 20'000}});
  src.push_values({{4, 12'000}});  // out of order: no new watermark
  src.push_values({{5, 40'000}, {6, 39'000}});
  src.push_values({{7, 40'000}});  // same max: no new watermark
  src.end();
  ProbeSink<int> out;
  Job job("bounded");
  job.source(src).watermarks(bounded_out_of_orderness(5ms).with_emit_interval(0ms)).sink(out);
  QueryMetrics m = job.run(manual_options(clock));

  const std::vector<Ev> want{rec(1, 10'000), rec(2, 30'000), rec(3, 20'000), wm<int>(24'999), rec(4, 12'000),
                             rec(5, 40'000), rec(6, 39'000), wm<int>(34'999),  rec(7, 40'000), wm<int>(kInf)};
  INFO(show(out.events()));
  CHECK(out.events() == want);
  CHECK(out.ends() == 1);
  CHECK(m.records_in == 7);
  CHECK(m.records_out == 7);
  CHECK(m.watermark_us == kInf);
}

TEST_CASE("watermarks: ascending emits max - 1", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  src.push_values({{1, 100}, {2, 200}});
  src.push_values({{3, 300}});
  src.push_values({{4, 300}});
  src.end();
  ProbeSink<int> out;
  Job job("ascending");
  job.source(src).watermarks(ascending().with_emit_interval(0ms)).sink(out);
  job.run(manual_options(clock));
  const std::vector<Ev> want{rec(1, 100), rec(2, 200), wm<int>(199), rec(3, 300), wm<int>(299), rec(4, 300),
                             wm<int>(kInf)};
  INFO(show(out.events()));
  CHECK(out.events() == want);
}

TEST_CASE("watermarks: negative and zero timestamps are valid event times", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  src.push_values({{1, -1'000}, {2, -5'000}});
  src.push_values({{3, 0}});
  src.end();
  ProbeSink<int> out;
  Job job("negative");
  job.source(src).watermarks(bounded_out_of_orderness(1us).with_emit_interval(0ms)).sink(out);
  job.run(manual_options(clock));
  const std::vector<Ev> want{rec(1, -1'000), rec(2, -5'000), wm<int>(-1'002), rec(3, 0), wm<int>(-2), wm<int>(kInf)};
  INFO(show(out.events()));
  CHECK(out.events() == want);
}

TEST_CASE("watermarks: periodic emission follows the processing-time clock", "[streaming]") {
  // Bound 100 µs, default emit interval 200 ms. Watermarks only come out when
  // the manual clock has moved by the interval since the last emission.
  ManualClock clock(0);
  ScriptedSource<int> src;
  ProbeSink<int> out;
  Job job("periodic");
  job.source(src).watermarks(bounded_out_of_orderness(100us)).sink(out);
  Engine engine;
  auto q = engine.start("periodic", job, manual_options(clock));

  src.push_values({{1, 1'000}, {2, 500}});
  REQUIRE(out.wait_records(2));
  clock.advance(to_us(200ms));  // t = 200 ms: first emission
  REQUIRE(out.wait_watermarks(1));
  CHECK(out.watermarks() == std::vector<Timestamp>{899});

  src.push_values({{3, 700}, {4, 2'000}});
  REQUIRE(out.wait_records(4));
  clock.advance(to_us(100ms));  // t = 300 ms: only 100 ms since the last emission
  src.push_values({{5, 1'500}});
  REQUIRE(out.wait_records(5));
  src.push_values({{6, 3'000}});  // delivered after the t = 300 ms tick
  REQUIRE(out.wait_records(6));
  clock.advance(to_us(100ms));  // t = 400 ms: emission with max 3000
  REQUIRE(out.wait_watermarks(2));

  src.push_values({{7, 9'000}});
  REQUIRE(out.wait_records(7));
  clock.advance(to_us(100ms));  // t = 500 ms: no emission (100 ms since t = 400)
  src.push_values({{8, 0}});
  REQUIRE(out.wait_records(8));
  src.push_values({{9, 0}});
  REQUIRE(out.wait_records(9));
  src.end();
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
  // Any emission at t = 300 ms or t = 500 ms would show up as an extra entry.
  INFO(show(out.watermarks()));
  CHECK(out.watermarks() == std::vector<Timestamp>{899, 2'899, kInf});
  // Records are never held back waiting for a watermark, nor reordered.
  CHECK(out.values() == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("watermarks: without any record, periodic emission emits nothing but the final +inf", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  ProbeSink<int> out;
  Job job("empty-periodic");
  job.source(src).watermarks(bounded_out_of_orderness(0us).with_emit_interval(1ms)).sink(out);
  Engine engine;
  auto q = engine.start("q", job, manual_options(clock));
  for (int i = 0; i < 5; ++i) clock.advance(to_us(10ms));
  src.end();
  REQUIRE(q->wait_for(20s));
  CHECK(out.watermarks() == std::vector<Timestamp>{kInf});
}

TEST_CASE("watermarks: punctuated emits right after the record that carries it, splitting batches in order",
          "[streaming]") {
  struct Ev2 {
    int id;
    std::optional<Timestamp> mark;
  };
  for (std::size_t batch_size : {1024u, 3u, 1u}) {
    ManualClock clock(0);
    ScriptedSource<Ev2> src;
    Batch<Ev2> b1{{{1, {}}, 10}, {{2, 20}, 20}, {{3, {}}, 30}, {{4, 15}, 40}, {{5, 50}, 50}, {{6, {}}, 60}};
    Batch<Ev2> b2{{{7, 50}, 70}, {{8, {}}, 5}, {{9, 90}, 90}};
    src.push(b1);
    src.push(b2);
    src.end();
    ProbeSink<int> out;
    Job job("punctuated");
    job.source(src)
        .watermarks(punctuated([](const Ev2& e, Timestamp) { return e.mark; }))
        .map([](const Ev2& e) { return e.id; })
        .sink(out);
    QueryOptions o = manual_options(clock);
    o.batch_size = batch_size;
    job.run(o);
    // 4 carries 15 (behind 20) and 7 carries 50 again: both swallowed.
    const std::vector<Ev> want{rec(1, 10), rec(2, 20), wm<int>(20), rec(3, 30), rec(4, 40), rec(5, 50),
                               wm<int>(50), rec(6, 60), rec(7, 70), rec(8, 5), rec(9, 90), wm<int>(90),
                               wm<int>(kInf)};
    INFO("batch_size " << batch_size << ": " << show(out.events()));
    CHECK(out.events() == want);
  }
}

TEST_CASE("watermarks: punctuated ignores upstream watermarks but passes the final +inf", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  src.push_values({{1, 100}, {2, 200}});
  src.end();
  ProbeSink<int> out;
  Job job("replace");
  job.source(src)
      .watermarks(ascending().with_emit_interval(0ms))  // emits 199 upstream
      .watermarks(punctuated([](const int& v, Timestamp ts) -> std::optional<Timestamp> {
        if (v == 1) return ts - 50;
        return std::nullopt;
      }))
      .sink(out);
  job.run(manual_options(clock));
  const std::vector<Ev> want{rec(1, 100), wm<int>(50), rec(2, 200), wm<int>(kInf)};
  INFO(show(out.events()));
  CHECK(out.events() == want);
}

TEST_CASE("watermarks: processing_time stamps records with the clock and follows it", "[streaming]") {
  ManualClock clock(1'000'000);
  ScriptedSource<int> src;
  ProbeSink<int> out;
  Job job("proctime");
  job.source(src).watermarks(processing_time()).sink(out);
  Engine engine;
  auto q = engine.start("proctime", job, manual_options(clock));

  src.push_values({{1, 5}, {2, 999'999'999}});  // event times are replaced
  REQUIRE(out.wait_records(2));
  REQUIRE(out.wait_watermarks(1));
  clock.advance(to_us(50ms));  // t = 1.05 s; interval not elapsed since open (t = 1 s)
  src.push_values({{3, 0}});
  REQUIRE(out.wait_records(3));
  REQUIRE(out.wait_watermarks(2));  // after-batch watermark
  src.push_values({{4, 0}});        // same time: no new watermark
  REQUIRE(out.wait_records(4));
  clock.advance(to_us(200ms));      // t = 1.25 s: periodic emission
  REQUIRE(out.wait_watermarks(3));
  src.end();
  REQUIRE(q->wait_for(20s));

  std::vector<Record<int>> recs = out.records();
  REQUIRE(recs.size() == 4);
  CHECK(recs[0].ts_us == 1'000'000);
  CHECK(recs[1].ts_us == 1'000'000);
  CHECK(recs[2].ts_us == 1'050'000);
  CHECK(recs[3].ts_us == 1'050'000);
  INFO(show(out.watermarks()));
  CHECK(out.watermarks() == std::vector<Timestamp>{999'999, 1'049'999, 1'249'999, kInf});
}

TEST_CASE("watermarks: an idle source is left out of the union's watermark until it comes back", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> a("a"), b("b");
  ProbeSink<int> out;
  const WatermarkStrategy s = bounded_out_of_orderness(0us).with_idleness(1s).with_emit_interval(0ms);
  Job job("idleness");
  Stream<int> sa = job.source(a).watermarks(s);
  Stream<int> sb = job.source(b).watermarks(s);
  sa.union_with(sb).sink(out);
  Engine engine;
  auto q = engine.start("idleness", job, manual_options(clock));

  a.push_values({{1, 100}});
  REQUIRE(out.wait_records(1));
  b.push_values({{2, 50}});
  REQUIRE(out.wait_watermarks(1));
  CHECK(out.watermarks() == std::vector<Timestamp>{49});  // min(99, 49)

  // Let one tick note both sources' activity at t = 1 ms.
  clock.advance(1'000);
  a.push_values({{3, 200}});  // a's watermark 199; b still holds the union at 49
  REQUIRE(out.wait_records(3));
  a.push_values({{4, 150}});  // delivered after the t = 1 ms tick: a is active at the next tick
  REQUIRE(out.wait_records(4));
  CHECK(out.watermarks() == std::vector<Timestamp>{49});

  // b has seen nothing for 1 s: idle, so the union follows a alone.
  clock.advance(to_us(1s));
  REQUIRE(out.wait_watermarks(2));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 199});
  a.push_values({{5, 300}});
  REQUIRE(out.wait_watermarks(3));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 199, 299});

  // b comes back ahead of the union: counted again.
  b.push_values({{6, 1'000}});
  REQUIRE(out.wait_records(6));
  a.push_values({{7, 2'000}});
  REQUIRE(out.wait_watermarks(4));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 199, 299, 999});

  b.end();  // b counts as +inf: the union follows a
  REQUIRE(out.wait_watermarks(5));
  a.end();
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
  INFO(show(out.watermarks()));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 199, 299, 999, 1'999, kInf});
  CHECK(out.ends() == 1);
  CHECK(out.values() == std::vector<int>{1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("watermarks: once every source is idle the union advances to the largest watermark", "[streaming]") {
  // As Flink: when all inputs are idle nothing holds the output back, so the
  // windows the faster (now idle) input already passed fire.
  ManualClock clock(0);
  ScriptedSource<int> a("a"), b("b");
  ProbeSink<int> out;
  Job job("all-idle");
  job.source(a)
      .watermarks(bounded_out_of_orderness(0us).with_idleness(1s).with_emit_interval(0ms))
      .union_with(job.source(b).watermarks(bounded_out_of_orderness(0us).with_idleness(3s).with_emit_interval(0ms)))
      .sink(out);
  Engine engine;
  auto q = engine.start("all-idle", job, manual_options(clock));
  a.push_values({{1, 300}});
  REQUIRE(out.wait_records(1));
  b.push_values({{2, 50}});
  REQUIRE(out.wait_watermarks(1));
  CHECK(out.watermarks() == std::vector<Timestamp>{49});
  clock.advance(1'000);  // a tick notes both sources' activity at t = 1 ms

  // a turns idle first (1 s), b, the minimum, stays active: still 49.
  clock.advance(to_us(1s));
  std::this_thread::sleep_for(50ms);  // let a tick see t = 1.001 s alone
  CHECK(out.watermarks() == std::vector<Timestamp>{49});
  // Then b turns idle too: every input idle, the union goes to a's 299.
  clock.advance(to_us(3s));
  REQUIRE(out.wait_watermarks(2));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 299});

  a.end();
  b.end();
  REQUIRE(q->wait_for(20s));
  INFO(show(out.watermarks()));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 299, kInf});
}

TEST_CASE("watermarks: without idleness a quiet source holds the union back", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> a("a"), b("b");
  ProbeSink<int> out;
  const WatermarkStrategy s = bounded_out_of_orderness(0us).with_emit_interval(0ms);  // no idle timeout
  Job job("no-idleness");
  job.source(a).watermarks(s).union_with(job.source(b).watermarks(s)).sink(out);
  Engine engine;
  auto q = engine.start("q", job, manual_options(clock));
  a.push_values({{1, 100}});
  b.push_values({{2, 50}});
  REQUIRE(out.wait_watermarks(1));
  clock.advance(1'000);
  a.push_values({{3, 500}});
  REQUIRE(out.wait_records(3));
  clock.advance(to_us(10s));
  a.push_values({{4, 600}});
  REQUIRE(out.wait_records(4));
  a.push_values({{5, 700}});
  REQUIRE(out.wait_records(5));
  CHECK(out.watermarks() == std::vector<Timestamp>{49});
  b.end();  // b ended: +inf, the union now follows a
  REQUIRE(out.wait_watermarks(2));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 699});
  a.end();
  REQUIRE(q->wait_for(20s));
  CHECK(out.watermarks() == std::vector<Timestamp>{49, 699, kInf});
}

TEST_CASE("watermarks: max - bound - 1 saturates instead of wrapping at the bottom of the range", "[streaming]") {
  // A record at the smallest valid timestamp and a bound of 2^62: max - bound - 1
  // is below INT64_MIN. It used to wrap to a huge watermark, which made every
  // later record late downstream.
  ManualClock clock(0);
  ScriptedSource<int> src;
  src.push_values({{1, kMinValidTimestamp}});
  src.push_values({{2, 0}});  // 0 - 2^62 - 1: representable, the first real watermark
  src.end();
  ProbeSink<int> out;
  Job job("saturate");
  job.source(src)
      .watermarks(bounded_out_of_orderness(std::chrono::microseconds(kMaxValidTimestamp)).with_emit_interval(0ms))
      .sink(out);
  job.run(manual_options(clock));
  INFO(show(out.watermarks()));
  CHECK(out.watermarks() == std::vector<Timestamp>{-kMaxValidTimestamp - 1, kInf});
  CHECK(out.values() == std::vector<int>{1, 2});
}

TEST_CASE("watermarks: the bounded watermark saturates for any bound and maximum", "[streaming]") {
  using detail::bounded_watermark;
  CHECK(bounded_watermark(kMinTimestamp, 0) == kMinTimestamp);  // no record yet
  CHECK(bounded_watermark(kMinValidTimestamp, kMaxTimestamp) == kMinTimestamp);
  CHECK(bounded_watermark(kMinValidTimestamp, kMaxValidTimestamp) == kMinTimestamp);
  CHECK(bounded_watermark(kMaxValidTimestamp, kMaxTimestamp) == kMaxValidTimestamp - kMaxTimestamp - 1);
  CHECK(bounded_watermark(kMaxValidTimestamp, 5) == kMaxValidTimestamp - 6);
}

TEST_CASE("watermarks: a negative bound is refused with a ConfigError naming the field", "[streaming]") {
  Job job("bad");
  ScriptedSource<int> src;
  Stream<int> s = job.source(src);
  WatermarkStrategy st = bounded_out_of_orderness(0us);
  st.max_out_of_orderness_us = -1;
  try {
    s.watermarks(st);
    FAIL("expected ConfigError");
  } catch (const ConfigError& e) {
    CHECK(e.field() == "max_out_of_orderness");
  }
}
