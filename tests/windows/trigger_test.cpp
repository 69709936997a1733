// Early firing and per-element emission of time windows (the pane operator).
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <sstream>

#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
};

}  // namespace

TEST_CASE("fire_every_element: a changelog of each window's running result") {
  auto h = window_harness<int, Ev>(tumbling(10us).fire_every_element(), 5, count(), max("v", &Ev::v));
  using Res = typename decltype(h)::Out;
  auto r = [](Timestamp start, std::uint64_t c, std::int64_t m, ChangeKind k) {
    return Record<Res>{Res{1, TimeWindow{start, start + 10}, {c, m}, k}, start + 9};
  };
  h.add(1, {5}, 3);
  h.add(1, {2}, 4);
  h.add(1, {7}, 12);
  CHECK(show(h.take()) == show(std::vector{r(0, 1, 5, ChangeKind::kInsert), r(0, 1, 5, ChangeKind::kUpdateBefore),
                                           r(0, 2, 5, ChangeKind::kUpdateAfter), r(10, 1, 7, ChangeKind::kInsert)}));
  h.watermark(9);  // the window's end: nothing changed since the last emission
  CHECK(h.take().empty());
  h.add(1, {9}, 1);  // late, within lateness 5: a correction
  CHECK(show(h.take()) == show(std::vector{r(0, 2, 5, ChangeKind::kUpdateBefore), r(0, 3, 9, ChangeKind::kUpdateAfter)}));
  h.watermark(14);  // [0,10) closes
  h.add(1, {1}, 2);
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  h.end_of_input();
  CHECK(h.take().empty());
  CHECK(h.key_count() == 0);
}

TEST_CASE("fire_every_element on sliding windows emits for every window holding the record") {
  auto h = window_harness<int, Ev>(sliding(20us, 10us).fire_every_element(), 0, count());
  h.add(1, {0}, 15);  // windows [0,20) and [10,30)
  auto got = h.take();
  REQUIRE(got.size() == 2);
  CHECK(got[0].value.window == TimeWindow{0, 20});
  CHECK(got[1].value.window == TimeWindow{10, 30});
  CHECK(got[0].value.kind == ChangeKind::kInsert);
  CHECK(got[1].value.kind == ChangeKind::kInsert);
}

TEST_CASE("early_fire_every_records: every N records of a window, then the final result if it changed") {
  auto h = window_harness<int, Ev>(tumbling(100us).early_fire_every_records(2), 0, count());
  using Res = typename decltype(h)::Out;
  auto r = [](std::uint64_t c, ChangeKind k) { return Record<Res>{Res{1, TimeWindow{0, 100}, {c}, k}, 99}; };
  for (int i = 0; i < 5; ++i) h.add(1, {0}, i);
  CHECK(show(h.take()) == show(std::vector{r(2, ChangeKind::kInsert), r(2, ChangeKind::kUpdateBefore),
                                           r(4, ChangeKind::kUpdateAfter)}));
  h.watermark(99);
  CHECK(show(h.take()) == show(std::vector{r(4, ChangeKind::kUpdateBefore), r(5, ChangeKind::kUpdateAfter)}));
  // A window whose record count is a multiple of N emits nothing more at its end.
  auto g = window_harness<int, Ev>(tumbling(100us).early_fire_every_records(2), 0, count());
  g.add(1, {0}, 1);
  g.add(1, {0}, 2);
  CHECK(g.take().size() == 1);
  g.end_of_input();
  CHECK(g.take().empty());
}

TEST_CASE("early_fire_every: on processing time, only windows that changed") {
  auto h = window_harness<std::string, Ev>(tumbling(100us).early_fire_every(10us), 0, sum("v", &Ev::v));
  using Res = typename decltype(h)::Out;
  auto r = [](std::string k, std::int64_t s, ChangeKind kind) {
    return Record<Res>{Res{std::move(k), TimeWindow{0, 100}, {s}, kind}, 99};
  };
  h.tick(0);  // the first tick schedules the first early firing at 10
  h.add("a", {1}, 5);
  h.add("b", {2}, 6);
  h.tick(9);
  CHECK(h.take().empty());
  h.tick(10);
  auto first = h.take();
  std::sort(first.begin(), first.end(), [](const auto& x, const auto& y) { return x.value.key < y.value.key; });
  CHECK(show(first) == show(std::vector{r("a", 1, ChangeKind::kInsert), r("b", 2, ChangeKind::kInsert)}));
  h.add("a", {3}, 7);
  h.tick(20);  // only a changed
  CHECK(show(h.take()) == show(std::vector{r("a", 1, ChangeKind::kUpdateBefore), r("a", 4, ChangeKind::kUpdateAfter)}));
  h.tick(30);
  CHECK(h.take().empty());
  h.add("b", {5}, 8);
  h.watermark(99);  // the end: b changed since its early result, a did not
  CHECK(show(h.take()) == show(std::vector{r("b", 2, ChangeKind::kUpdateBefore), r("b", 7, ChangeKind::kUpdateAfter)}));
}

TEST_CASE("early firing options are checked when the graph is built") {
  Job job("bad");
  auto keyed = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t) { return Ev{1}; }))
                   .key_by([](const Ev& e) { return e.v; });
  CHECK_THROWS_WITH(keyed.window(tumbling(1s).early_fire_every(0s)),
                    "window: field 'early_fire_every': interval must be positive, got 0 us");
  CHECK_THROWS_WITH(keyed.window(tumbling(1s).early_fire_every_records(0)),
                    "window: field 'early_fire_every_records': must be at least 1");
}

// The changelog of the pane operator, applied to a table, must end in the
// same table as the slicing operator's (which the differential test checks
// against a reference), for random inputs with lateness.
TEST_CASE("every-element changelogs end in the same results as windows firing at their end") {
  using Table = std::map<std::pair<int, TimeWindow>, std::tuple<std::uint64_t, std::int64_t, std::int64_t>>;
  auto apply = [](Table& t, const auto& records) {
    for (const auto& r : records) {
      const auto id = std::make_pair(r.value.key, r.value.window);
      switch (r.value.kind) {
        case ChangeKind::kInsert:
        case ChangeKind::kUpdateAfter:
          REQUIRE(t.count(id) == 0);
          t[id] = r.value.values;
          break;
        case ChangeKind::kUpdateBefore:
        case ChangeKind::kDelete:
          REQUIRE(t.count(id) == 1);
          REQUIRE(t[id] == r.value.values);
          t.erase(id);
          break;
      }
    }
  };
  std::mt19937_64 rng(20261123);
  for (int c = 0; c < 400; ++c) {
    const DurationUs size = 1 + static_cast<DurationUs>(rng() % 20);
    const DurationUs slide = 1 + static_cast<DurationUs>(rng() % static_cast<std::uint64_t>(size));
    const DurationUs lateness = static_cast<DurationUs>(rng() % 3 == 0 ? 0 : rng() % 15);
    const TimeWindows w = sliding(std::chrono::microseconds(size), std::chrono::microseconds(slide));
    CAPTURE(c, size, slide, lateness);
    auto at_end = window_harness<int, Ev>(w, lateness, count(), sum("v", &Ev::v), max("v", &Ev::v));
    auto every = window_harness<int, Ev>(w.fire_every_element(), lateness, count(), sum("v", &Ev::v), max("v", &Ev::v));
    Table a, b;
    Timestamp wm = -20;
    for (int step = 0; step < 40; ++step) {
      if (rng() % 4 == 0) {
        wm += static_cast<Timestamp>(rng() % 8);
        at_end.watermark(wm);
        every.watermark(wm);
      } else {
        const int key = static_cast<int>(rng() % 3);
        const Ev e{static_cast<std::int64_t>(rng() % 100) - 50};
        const Timestamp ts = wm + static_cast<Timestamp>(rng() % 30) - 18;  // some late
        at_end.add(key, e, ts);
        every.add(key, e, ts);
      }
      apply(a, at_end.take());
      apply(b, every.take());
    }
    at_end.end_of_input();
    every.end_of_input();
    apply(a, at_end.take());
    apply(b, every.take());
    CHECK(a == b);
    CHECK(at_end.late_count() == every.late_count());
    CHECK(every.key_count() == 0);
  }
}
