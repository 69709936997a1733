// Session windows: exact outputs of the session window operator, driven
// directly (session_harness.hpp).
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <type_traits>

#include "session_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using Vals = std::tuple<std::uint64_t, std::int64_t>;
using Res = WindowResult<std::string, Vals>;

constexpr ChangeKind I = ChangeKind::kInsert;
constexpr ChangeKind UB = ChangeKind::kUpdateBefore;
constexpr ChangeKind UA = ChangeKind::kUpdateAfter;
constexpr ChangeKind D = ChangeKind::kDelete;

Record<Res> res(ChangeKind kind, std::string key, Timestamp start, Timestamp end, std::uint64_t count,
                std::int64_t sum) {
  return Record<Res>{Res{std::move(key), TimeWindow{start, end}, Vals{count, sum}, kind}, end - 1};
}

std::string show(const std::vector<Record<Res>>& rs) {
  std::ostringstream os;
  for (const auto& r : rs)
    os << to_string(r.value.kind) << ' ' << r.value.key << ' ' << r.value.window << " count=" << r.value.get<0>()
       << " sum=" << r.value.get<1>() << " @" << r.ts_us << '\n';
  return os.str();
}

std::vector<Record<Res>> sorted(std::vector<Record<Res>> v) {
  std::stable_sort(v.begin(), v.end(), [](const Record<Res>& a, const Record<Res>& b) {
    return std::tie(a.value.window.end, a.value.key) < std::tie(b.value.window.end, b.value.key);
  });
  return v;
}

auto harness(SessionWindows w, DurationUs lateness = 0) {
  return session_harness<std::string, std::int64_t>(w, lateness, count(),
                                                    sum("v", [](std::int64_t x) { return x; }));
}

}  // namespace

TEST_CASE("session: records closer than the gap share a session; a longer pause starts a new one") {
  auto h = harness(session(10us));
  h.add("a", 1, 0);   // [0,10)
  h.add("a", 2, 5);   // [5,15): merged [0,15)
  h.add("a", 4, 20);  // [20,30): 20 > 15, a new session
  h.add("b", 8, 3);   // [3,13)
  CHECK(h.take().empty());
  CHECK(h.key_count() == 2);
  CHECK(h.session_count() == 3);
  h.watermark(12);  // b's session ends at 13: its max timestamp 12 is reached
  CHECK(show(h.take()) == show({res(I, "b", 3, 13, 1, 8)}));
  h.watermark(13);
  CHECK(h.take().empty());
  h.watermark(14);
  CHECK(show(h.take()) == show({res(I, "a", 0, 15, 2, 3)}));
  h.watermark(29);
  CHECK(show(h.take()) == show({res(I, "a", 20, 30, 1, 4)}));
  CHECK(h.key_count() == 0);
  CHECK(h.session_count() == 0);
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("session: windows that touch merge; one microsecond apart they do not") {
  auto h = harness(session(10us));
  h.add("a", 1, 0);    // [0,10)
  h.add("a", 2, 10);   // [10,20) touches [0,10): [0,20)
  h.add("a", 4, 21);   // [21,31): 21 > 20, separate
  h.add("b", 8, 10);   // [10,20)
  h.add("b", 16, 0);   // [0,10) touches [10,20) from below: [0,20)
  CHECK(h.session_count() == 3);
  h.end_of_input();
  CHECK(show(sorted(h.take())) ==
        show({res(I, "a", 0, 20, 2, 3), res(I, "b", 0, 20, 2, 24), res(I, "a", 21, 31, 1, 4)}));
}

TEST_CASE("session: out-of-order records merge sessions before they fire") {
  auto h = harness(session(10us));
  h.add("a", 1, 0);    // [0,10)
  h.add("a", 2, 25);   // [25,35)
  h.add("a", 4, 12);   // [12,22): between, touching neither
  CHECK(h.session_count() == 3);
  h.add("a", 8, 18);   // [18,28) meets [12,22) and [25,35): [12,35)
  CHECK(h.session_count() == 2);
  h.add("a", 16, 9);   // [9,19) meets [0,10) and [12,35): [0,35)
  CHECK(h.session_count() == 1);
  h.watermark(33);
  CHECK(h.take().empty());
  h.watermark(34);
  CHECK(show(h.take()) == show({res(I, "a", 0, 35, 5, 31)}));
  CHECK(h.key_count() == 0);
}

TEST_CASE("session: records with equal timestamps, and sessions of several keys ending together") {
  const auto v = [](std::int64_t x) { return x; };
  auto h = session_harness<std::string, std::int64_t>(session(10us), 0, count(), first("v", v), last("v", v));
  using R = decltype(h)::Out;
  h.add("a", 1, 5);
  h.add("a", 2, 5);
  h.add_batch({{"a", 3, 5}, {"b", 7, 5}, {"c", 9, 2}, {"c", 10, 5}});
  h.add("a", 4, 3);
  h.watermark(14);  // every session ends at 15
  auto got = h.take();
  std::sort(got.begin(), got.end(), [](const auto& x, const auto& y) { return x.value.key < y.value.key; });
  // first: the value at the smallest timestamp; last: at the largest, ties to the latest arrival.
  CHECK(got == std::vector<Record<R>>{{R{"a", TimeWindow{3, 15}, {4, 4, 3}, I}, 14},
                                      {R{"b", TimeWindow{5, 15}, {1, 7, 7}, I}, 14},
                                      {R{"c", TimeWindow{2, 15}, {2, 9, 10}, I}, 14}});
}

TEST_CASE("session: empty input emits nothing; one record makes one session") {
  auto e = harness(session(10us));
  e.watermark(100);
  e.end_of_input();
  CHECK(e.take().empty());
  CHECK(e.key_count() == 0);

  auto h = harness(session(10us));
  h.add("k", 3, 7);
  h.end_of_input();
  CHECK(show(h.take()) == show({res(I, "k", 7, 17, 1, 3)}));
  CHECK(h.key_count() == 0);
}

TEST_CASE("session: negative timestamps, and windows that would end past the largest timestamp") {
  auto h = harness(session(10us));
  h.add("k", 1, -25);  // [-25,-15)
  h.add("k", 2, -15);  // touches: [-25,-5)
  h.add("k", 4, kMaxTimestamp - 3);
  h.watermark(-6);
  CHECK(show(h.take()) == show({res(I, "k", -25, -5, 2, 3)}));
  h.end_of_input();  // the window [max - 3, max + 7) saturates at max
  CHECK(show(h.take()) == show({res(I, "k", kMaxTimestamp - 3, kMaxTimestamp, 1, 4)}));
}

TEST_CASE("session: a late record inside a fired session updates it (-U/+U)") {
  auto h = harness(session(10us), 20);
  h.add("a", 1, 0);
  h.add("a", 2, 5);  // [0,15)
  h.watermark(14);
  CHECK(show(h.take()) == show({res(I, "a", 0, 15, 2, 3)}));
  h.add("a", 10, 3);  // [3,13) lies inside [0,15): bounds unchanged
  CHECK(show(h.take()) == show({res(UB, "a", 0, 15, 2, 3), res(UA, "a", 0, 15, 3, 13)}));
  h.watermark(30);
  h.add("a", 100, 5);  // [5,15) still inside; 14 + 20 > 30
  CHECK(show(h.take()) == show({res(UB, "a", 0, 15, 3, 13), res(UA, "a", 0, 15, 4, 113)}));
  CHECK(h.late_count() == 0);
}

TEST_CASE("session: a late record extending a fired session retracts it and inserts the new one") {
  SECTION("the grown session is already past the watermark: -D old, +I new at once") {
    auto h = harness(session(10us), 20);
    h.add("a", 1, 0);  // [0,10)
    h.watermark(20);
    CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
    h.add("a", 2, 6);  // [6,16): [0,16), end - 1 = 15 <= 20
    CHECK(show(h.take()) == show({res(D, "a", 0, 10, 1, 1), res(I, "a", 0, 16, 2, 3)}));
    h.add("a", 4, 8);  // [8,18): [0,18)
    CHECK(show(h.take()) == show({res(D, "a", 0, 16, 2, 3), res(I, "a", 0, 18, 3, 7)}));
    h.add("a", 8, 1);  // inside [0,18): an update
    CHECK(show(h.take()) == show({res(UB, "a", 0, 18, 3, 7), res(UA, "a", 0, 18, 4, 15)}));
    h.end_of_input();
    CHECK(h.take().empty());
  }
  SECTION("the grown session ends after the watermark: -D old now, +I when it fires") {
    auto h = harness(session(10us), 20);
    h.add("a", 1, 0);  // [0,10)
    h.watermark(9);
    CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
    h.add("a", 2, 8);  // [8,18): [0,18), end - 1 = 17 > 9
    CHECK(show(h.take()) == show({res(D, "a", 0, 10, 1, 1)}));
    h.add("a", 4, 12);  // not late, extends the unfired session silently: [0,22)
    CHECK(h.take().empty());
    h.watermark(20);
    CHECK(h.take().empty());
    h.watermark(21);
    CHECK(show(h.take()) == show({res(I, "a", 0, 22, 3, 7)}));
  }
  SECTION("a session grows downwards") {
    auto h = harness(session(10us), 100);
    h.add("a", 1, 50);  // [50,60)
    h.watermark(70);
    CHECK(show(h.take()) == show({res(I, "a", 50, 60, 1, 1)}));
    h.add("a", 2, 41);  // [41,51): [41,60)
    CHECK(show(h.take()) == show({res(D, "a", 50, 60, 1, 1), res(I, "a", 41, 60, 2, 3)}));
  }
}

TEST_CASE("session: a late record bridging two fired sessions retracts both and inserts the merged one") {
  auto h = harness(session(10us), 50);
  h.add("a", 1, 0);   // [0,10)
  h.add("a", 2, 15);  // [15,25)
  h.add("a", 4, 33);  // [33,43)
  h.watermark(30);
  CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1), res(I, "a", 15, 25, 1, 2)}));
  h.add("a", 8, 7);  // [7,17) meets both fired sessions
  CHECK(show(h.take()) ==
        show({res(D, "a", 0, 10, 1, 1), res(D, "a", 15, 25, 1, 2), res(I, "a", 0, 25, 3, 11)}));
  CHECK(h.session_count() == 2);
  h.add("a", 16, 25);  // [25,35) bridges [0,25) (fired) and [33,43) (not fired): -D now, +I when it fires
  CHECK(show(h.take()) == show({res(D, "a", 0, 25, 3, 11)}));
  CHECK(h.session_count() == 1);
  h.watermark(41);
  CHECK(h.take().empty());
  h.watermark(42);
  CHECK(show(h.take()) == show({res(I, "a", 0, 43, 5, 31)}));
}

TEST_CASE("session: records beyond the allowed lateness go to the late output; state goes at end - 1 + lateness") {
  auto h = harness(session(10us), 5);
  h.add("a", 1, 0);    // [0,10): fires at 9, cleaned up at 14
  h.add("b", 2, 100);  // [100,110)
  h.watermark(9);
  CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
  CHECK(h.key_count() == 2);
  h.watermark(13);
  CHECK(h.key_count() == 2);
  h.add("a", 4, 0);  // [0,10) is still retained: an update
  CHECK(show(h.take()) == show({res(UB, "a", 0, 10, 1, 1), res(UA, "a", 0, 10, 2, 5)}));
  h.watermark(14);  // [0,10) is dropped, and with it key a
  CHECK(h.key_count() == 1);
  CHECK(h.session_count() == 1);
  h.add("a", 8, -2);  // [-2,8): nothing retained to merge with, 7 + 5 <= 14: late
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  auto late = h.take_late();
  REQUIRE(late.size() == 1);
  CHECK(late[0].value == 8);
  CHECK(late[0].ts_us == -2);
  CHECK(h.key_count() == 1);
  // [4,14) on its own is still within the lateness (13 + 5 > 14): a new
  // session, already past the watermark, so inserted at once.
  h.add("a", 16, 4);
  CHECK(show(h.take()) == show({res(I, "a", 4, 14, 1, 16)}));
  CHECK(h.late_count() == 1);
  h.watermark(18);
  CHECK(h.key_count() == 1);
  h.end_of_input();
  CHECK(show(h.take()) == show({res(I, "b", 100, 110, 1, 2)}));
  CHECK(h.key_count() == 0);
}

TEST_CASE("session: without allowed lateness a fired session is gone at once") {
  auto h = harness(session(10us));
  h.add("a", 1, 0);
  h.watermark(9);
  CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
  CHECK(h.key_count() == 0);
  h.add("a", 2, 0);  // late
  h.add("a", 4, 9);  // [9,19): ends after the watermark, a new session
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  CHECK(h.take_late().size() == 1);
  h.watermark(18);
  CHECK(show(h.take()) == show({res(I, "a", 9, 19, 1, 4)}));
}

TEST_CASE("session: with_max_sessions fires and drops the oldest session of a key") {
  auto h = harness(session(10us).with_max_sessions(2));
  h.add("a", 1, 0);   // [0,10)
  h.add("a", 2, 20);  // [20,30)
  h.add("b", 4, 0);
  CHECK(h.take().empty());
  h.add("a", 8, 40);  // a third session: [0,10) fires now and goes
  CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
  CHECK(h.evicted() == 1);
  CHECK(h.session_count() == 3);
  h.add("a", 16, 5);  // [5,15) meets nothing retained: it is now the oldest, so it goes at once
  CHECK(show(h.take()) == show({res(I, "a", 5, 15, 1, 16)}));
  CHECK(h.evicted() == 2);
  h.add("a", 32, 28);  // merges into [20,38): no new session, no eviction
  CHECK(h.take().empty());
  CHECK(h.evicted() == 2);
  h.end_of_input();
  CHECK(show(sorted(h.take())) ==
        show({res(I, "b", 0, 10, 1, 4), res(I, "a", 20, 38, 2, 34), res(I, "a", 40, 50, 1, 8)}));
}

TEST_CASE("session: an evicted session that had fired is dropped without output") {
  auto h = harness(session(10us).with_max_sessions(1), 100);
  h.add("a", 1, 0);
  h.watermark(9);
  CHECK(show(h.take()) == show({res(I, "a", 0, 10, 1, 1)}));
  h.add("a", 2, 30);  // the second session: fired [0,10) goes silently
  CHECK(h.take().empty());
  CHECK(h.evicted() == 1);
  h.add("a", 4, 5);  // [0,10) is gone, so [5,15) is a new session; the oldest, so it is the one evicted
  CHECK(show(h.take()) == show({res(I, "a", 5, 15, 1, 4)}));
  CHECK(h.evicted() == 2);
  h.end_of_input();
  CHECK(show(h.take()) == show({res(I, "a", 30, 40, 1, 2)}));
}

TEST_CASE("session: processing-time sessions take the clock's time and fire by the clock") {
  auto h = harness(session(10us).processing_time());
  h.clock.set(100);
  h.add("a", 1, 999'999);  // the event timestamp does not place it: [100,110)
  h.clock.set(105);
  h.add("a", 2, -5);  // [105,115): [100,115)
  h.add("b", 4, 0);   // [105,115)
  h.tick(113);
  CHECK(h.take().empty());
  h.tick(114);
  CHECK(show(sorted(h.take())) == show({res(I, "a", 100, 115, 2, 3), res(I, "b", 105, 115, 1, 4)}));
  CHECK(h.key_count() == 0);
  h.add("a", 8, 0);  // the clock is at 114, which has fired: placed at 115, [115,125)
  h.watermark(1'000'000);  // watermarks do not fire processing-time sessions
  CHECK(h.take().empty());
  h.end_of_input();  // fires what is open
  CHECK(show(h.take()) == show({res(I, "a", 115, 125, 1, 8)}));
  CHECK(h.late_count() == 0);
}

TEST_CASE("session: specs are checked when the graph is built") {
  struct Ev {
    std::int64_t v;
  };
  Job job("bad");
  auto keyed = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t) { return Ev{1}; }))
                   .key_by([](const Ev& e) { return e.v; });
  CHECK_THROWS_WITH(keyed.window(session(0s)), "window: field 'gap': session gap must be positive, got 0 us");
  CHECK_THROWS_WITH(keyed.window(session(-3us)), "window: field 'gap': session gap must be positive, got -3 us");
  CHECK_THROWS_WITH(keyed.window(session(std::chrono::hours(400'000'000))),
                    "window: field 'gap': session gap must be at most 2^60 us");
  CHECK_THROWS_WITH(keyed.window(session(1s).with_max_sessions(0)),
                    "window: field 'max_sessions': must be at least 1, got 0");
  CHECK_THROWS_WITH(keyed.window(session(1s).with_max_sessions(-2)),
                    "window: field 'max_sessions': must be at least 1, got -2");
  CHECK_THROWS_WITH(keyed.window(session(1s).processing_time()).allowed_lateness(1s),
                    "window: field 'allowed_lateness': processing-time session windows have no late records");
  OutputTag<Ev> late("late");
  CHECK_THROWS_WITH(keyed.window(session(1s).processing_time()).late_data(late),
                    "window: field 'late_data': processing-time session windows have no late records");
  CHECK_THROWS_WITH(keyed.window(session(1s)).allowed_lateness(-1s),
                    "window: field 'allowed_lateness': must not be negative, got -1000000 us");
  auto ok = keyed.window(session(30s).with_max_sessions(4)).allowed_lateness(1min).late_data(late).aggregate(count());
  static_assert(std::is_same_v<decltype(ok), Stream<WindowResult<std::int64_t, std::tuple<std::uint64_t>>>>);
  CHECK(keyed.window(session(30s)).spec().gap_us == 30'000'000);
}
