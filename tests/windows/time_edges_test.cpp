// Window operators at the edges of time: record timestamps at the ends of the
// valid range (±2^62 µs) with sizes and lateness up to their maximum (2^60),
// watermarks beyond the range (punctuated, end of input), and records outside
// the range that reach an operator anyway (a source that does not check).
// Exact windows, no overflow (the ASan+UBSan build aborts on one), no hang,
// no late misclassification.
#include <catch2/catch.hpp>

#include <sstream>

#include "differential_support.hpp"
#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
};

constexpr Timestamp kTop = kMaxValidTimestamp;      // 4611686018427387904
constexpr Timestamp kBottom = kMinValidTimestamp;   // -4611686018427387904
constexpr DurationUs k2p59 = DurationUs{1} << 59;
constexpr DurationUs k2p60 = DurationUs{1} << 60;

}  // namespace

TEST_CASE("tumbling(1s) at both ends of the valid range: exact windows", "[windows]") {
  auto h = window_harness<int, Ev>(tumbling(1s), 0, count(), min("v", &Ev::v), max("v", &Ev::v));
  using Res = typename decltype(h)::Out;
  h.add(1, {7}, kBottom);
  h.add(2, {8}, kTop);
  h.add(2, {9}, kTop - 1);
  h.end_of_input();
  auto res = [](int key, Timestamp start, std::uint64_t c, std::int64_t mn, std::int64_t mx) {
    return Record<Res>{Res{key, TimeWindow{start, start + 1'000'000}, {c, mn, mx}, ChangeKind::kInsert},
                       start + 999'999};
  };
  CHECK(show(by_window(h.take())) ==
        show(std::vector{res(1, -4'611'686'018'428'000'000, 1, 7, 7), res(2, 4'611'686'018'427'000'000, 2, 8, 9)}));
  CHECK(h.late_count() == 0);
  CHECK(h.key_count() == 0);
}

TEST_CASE("sliding(2^60, 2^59) with lateness 2^60 at the top of the range: corrections, not late", "[windows]") {
  auto h = window_harness<int, Ev>(sliding(std::chrono::microseconds(k2p60), std::chrono::microseconds(k2p59)), k2p60,
                                   count());
  using Res = typename decltype(h)::Out;
  auto res = [](Timestamp start, std::uint64_t c, ChangeKind kind) {
    return Record<Res>{Res{1, TimeWindow{start, start + k2p60}, {c}, kind}, start + k2p60 - 1};
  };
  h.add(1, {0}, kTop);  // in [2^62 - 2^59, 2^62 + 2^59) and [2^62, 2^62 + 2^60)
  h.watermark(kTop + k2p60);  // both fire; the first still takes corrections up to its end - 1 + 2^60
  CHECK(show(by_window(h.take())) ==
        show(std::vector{res(kTop - k2p59, 1, ChangeKind::kInsert), res(kTop, 1, ChangeKind::kInsert)}));
  // kTop - 1 is in [2^62 - 2^60, 2^62) (closed: end - 1 + 2^60 <= watermark, no result) and in
  // [2^62 - 2^59, 2^62 + 2^59), still within its lateness: a correction, not a late record.
  h.add(1, {0}, kTop - 1);
  CHECK(show(h.take()) == show(std::vector{res(kTop - k2p59, 1, ChangeKind::kUpdateBefore),
                                           res(kTop - k2p59, 2, ChangeKind::kUpdateAfter)}));
  CHECK(h.late_count() == 0);
  h.add(1, {0}, kTop - k2p59 - 1);  // only in windows closed by now: late
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  h.end_of_input();
  CHECK(h.take().empty());
  CHECK(h.key_count() == 0);
}

TEST_CASE("sliding(2^60, 2^59) at the bottom of the range: exact windows", "[windows]") {
  auto h = window_harness<int, Ev>(sliding(std::chrono::microseconds(k2p60), std::chrono::microseconds(k2p59)), k2p60,
                                   count());
  using Res = typename decltype(h)::Out;
  h.add(1, {0}, kBottom);  // starts -2^62 and -2^62 - 2^59
  h.end_of_input();
  auto res = [](Timestamp start) {
    return Record<Res>{Res{1, TimeWindow{start, start + k2p60}, {1}, ChangeKind::kInsert}, start + k2p60 - 1};
  };
  CHECK(show(by_window(h.take())) == show(std::vector{res(kBottom - k2p59), res(kBottom)}));
}

TEST_CASE("watermarks beyond the valid range fire and drop everything without overflow", "[windows]") {
  for (TimeWindows w : {tumbling(1s), sliding(10s, 4s), sliding(10s, 4s).fire_every_element()}) {
    CAPTURE(w.size_us, w.slide_us);
    for (Timestamp wm : {kMaxTimestamp - 1, kTop + 3 * k2p60}) {
      CAPTURE(wm);
      auto h = window_harness<int, Ev>(w, k2p60, count());
      h.watermark(kMinTimestamp + 1);  // before every window: nothing to do
      h.add(1, {0}, kTop);
      h.watermark(wm);
      CHECK(h.take().size() == differential::flink_sliding_windows(kTop, w.size_us, w.slide_us, 0).size());
      CHECK(h.key_count() == 0);  // past every cleanup time
      h.add(1, {0}, kTop);        // every window holding it is closed
      CHECK(h.take().empty());
      CHECK(h.late_count() == 1);
      h.end_of_input();
      CHECK(h.take().empty());
    }
  }
}

TEST_CASE("records outside the valid range reaching a window operator go to the late output", "[windows]") {
  // Sources turn them into dead letters; a custom source that does not check
  // must not make the window arithmetic overflow (it emitted windows like
  // [9223372036854000000, -9223372036854551616) before).
  for (TimeWindows w : {tumbling(1s), sliding(10s, 4s), tumbling(1s).fire_every_element()}) {
    for (DurationUs lateness : {DurationUs{0}, k2p60}) {
      CAPTURE(w.size_us, w.slide_us, lateness);
      auto h = window_harness<int, Ev>(w, lateness, count());
      using Res = typename decltype(h)::Out;
      h.add(1, {0}, kMaxTimestamp);
      h.add(1, {0}, kMinTimestamp);
      h.add(1, {0}, kTop + 1);
      h.add(1, {0}, 0);
      h.add(1, {0}, kBottom - 1);
      std::vector<Record<Ev>> late = h.take_late();
      REQUIRE(late.size() == 4);
      CHECK(late[0].ts_us == kMaxTimestamp);
      CHECK(late[1].ts_us == kMinTimestamp);
      CHECK(late[2].ts_us == kTop + 1);
      CHECK(late[3].ts_us == kBottom - 1);
      CHECK(h.late_count() == 4);
      h.take();  // early results of the pane operator
      h.end_of_input();
      std::vector<Record<Res>> got = by_window(h.take());
      if (w.emit.kind != EmitPolicy::Kind::kAtEnd) continue;  // emitted early already
      std::vector<Record<Res>> want;
      for (const TimeWindow& tw : differential::flink_sliding_windows(0, w.size_us, w.slide_us, 0))
        want.push_back(Record<Res>{Res{1, tw, {1}, ChangeKind::kInsert}, tw.end - 1});
      CHECK(show(got) == show(want));
    }
  }
}

TEST_CASE("window sizes above 2^60 us are refused when the graph is built", "[windows]") {
  Job job("big");
  auto keyed = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t) { return Ev{1}; }))
                   .key_by([](const Ev& e) { return e.v; });
  CHECK_THROWS_WITH(keyed.window(tumbling(std::chrono::microseconds(k2p60 + 1))),
                    "window: field 'size': window size must be at most 2^60 us, got 1152921504606846977 us");
  CHECK_NOTHROW(keyed.window(tumbling(std::chrono::microseconds(k2p60))));
}
