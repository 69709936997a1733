#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
};

// (window start, window end, values...) per result, sorted, for exact comparison.
template <class R>
std::vector<std::pair<TimeWindow, typename R::value_type>> rows(std::vector<R> rs) {
  std::vector<std::pair<TimeWindow, typename R::value_type>> out;
  for (auto& r : rs) out.emplace_back(r.value.window, r.value);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

TEST_CASE("sliding: every window holding a record counts it, retracting (count, sum) path") {
  auto h = window_harness<std::string, Ev>(sliding(30us, 10us), 0, count(), sum("v", &Ev::v));
  h.add("a", {1}, 5);    // windows ending 10, 20, 30
  h.add("a", {2}, 15);   // 20, 30, 40
  h.add("a", {4}, 29);   // 30, 40, 50
  h.add("a", {8}, 30);   // 40, 50, 60
  h.end_of_input();
  using Res = typename decltype(h)::Out;
  auto got = by_window(h.take());
  auto res = [](Timestamp end, std::uint64_t c, std::int64_t s) {
    return Record<Res>{Res{"a", TimeWindow{end - 30, end}, {c, s}, ChangeKind::kInsert}, end - 1};
  };
  CHECK(show(got) == show(std::vector{res(10, 1, 1), res(20, 2, 3), res(30, 3, 7), res(40, 3, 14), res(50, 2, 12),
                                      res(60, 1, 8)}));
  CHECK(h.key_count() == 0);
}

TEST_CASE("sliding: min, max, first, last over slices (two-stacks path), out of order") {
  auto h = window_harness<int, Ev>(sliding(4us, 2us), 0, min("v", &Ev::v), max("v", &Ev::v), first("v", &Ev::v),
                                   last("v", &Ev::v));
  // slices of 2: [0,2) [2,4) [4,6) [6,8); windows end at 2, 4, 6, 8, 10
  h.add(7, {50}, 3);
  h.add(7, {10}, 1);
  h.add(7, {30}, 1);  // tie at ts 1: first keeps 10, last takes 30
  h.add(7, {-5}, 4);
  h.watermark(3);     // fires windows ending 2 and 4
  using Res = typename decltype(h)::Out;
  auto res = [](Timestamp end, std::int64_t mn, std::int64_t mx, std::int64_t f, std::int64_t l) {
    return Record<Res>{Res{7, TimeWindow{end - 4, end}, {mn, mx, f, l}, ChangeKind::kInsert}, end - 1};
  };
  CHECK(show(by_window(h.take())) == show(std::vector{res(2, 10, 30, 10, 30), res(4, 10, 50, 10, 50)}));
  h.add(7, {99}, 7);
  h.end_of_input();
  CHECK(show(by_window(h.take())) ==
        show(std::vector{res(6, -5, 50, 50, -5), res(8, -5, 99, -5, 99), res(10, 99, 99, 99, 99)}));
}

TEST_CASE("sliding: a slide that does not divide the size (slices of gcd)") {
  // size 10, slide 4: windows start at 0, 4, 8, ... (as in Flink), so end
  // at 2, 6, 10, 14, ...; slices of 2.
  auto h = window_harness<int, Ev>(sliding(10us, 4us), 0, count());
  h.add(1, {0}, 0);  // windows starting 0, -4, -8: [-8,2) [-4,6) [0,10)
  h.add(1, {0}, 9);  // windows starting 8, 4, 0: [0,10) [4,14) [8,18)
  h.end_of_input();
  auto got = by_window(h.take());
  std::vector<std::pair<TimeWindow, std::uint64_t>> windows;
  for (auto& r : got) windows.emplace_back(r.value.window, r.value.get<0>());
  CHECK(windows == std::vector<std::pair<TimeWindow, std::uint64_t>>{
                       {{-8, 2}, 1}, {{-4, 6}, 1}, {{0, 10}, 2}, {{4, 14}, 1}, {{8, 18}, 1}});
}

TEST_CASE("sliding: late records correct every fired window that still accepts them") {
  auto h = window_harness<int, Ev>(sliding(20us, 10us), 15, count());
  using Res = typename decltype(h)::Out;
  h.add(1, {0}, 12);   // windows ending 20, 30
  h.watermark(29);     // fires 20 and 30
  CHECK(h.take().size() == 2);
  // ts 5 is in windows ending 10 and 20. Window 10 fired (9 <= 29) but had no
  // result and is closed (9 + 15 <= 29): nothing. Window 20: 19 + 15 > 29 -> correction.
  h.add(1, {0}, 5);
  auto got = h.take();
  auto rec = [](Timestamp end, std::uint64_t c, ChangeKind k) {
    return Record<Res>{Res{1, TimeWindow{end - 20, end}, {c}, k}, end - 1};
  };
  CHECK(show(got) == show(std::vector{rec(20, 1, ChangeKind::kUpdateBefore), rec(20, 2, ChangeKind::kUpdateAfter)}));
  // ts 25: windows 30 (fired, open) and 40 (not fired).
  h.add(1, {0}, 25);
  CHECK(show(h.take()) == show(std::vector{rec(30, 1, ChangeKind::kUpdateBefore), rec(30, 2, ChangeKind::kUpdateAfter)}));
  h.watermark(34);  // window 20 closes (19 + 15 <= 34)
  h.add(1, {0}, 3);  // windows 10 and 20, both closed: late
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  h.end_of_input();
  CHECK(show(h.take()) == show(std::vector{rec(40, 1, ChangeKind::kInsert)}));
  CHECK(h.key_count() == 0);
}

TEST_CASE("processing-time windows take the clock's time and fire by the clock") {
  auto h = window_harness<int, Ev>(tumbling(10us).processing_time(), 0, count(), sum("v", &Ev::v));
  using Res = typename decltype(h)::Out;
  h.tick(3);
  h.add(1, {1}, 999'999);  // event timestamp ignored for assignment
  h.add(1, {2}, -5);
  h.tick(9);               // window [0,10) fires when the clock reaches 9
  CHECK(show(h.take()) == show(std::vector{Record<Res>{Res{1, TimeWindow{0, 10}, {2, 3}, ChangeKind::kInsert}, 9}}));
  h.add(1, {4}, 0);        // the clock is at 9 and [0,10) has fired: goes to [10,20)
  h.watermark(1'000'000);  // watermarks do not fire processing-time windows
  CHECK(h.take().empty());
  h.end_of_input();        // flushes what is open
  CHECK(show(h.take()) == show(std::vector{Record<Res>{Res{1, TimeWindow{10, 20}, {1, 4}, ChangeKind::kInsert}, 19}}));
  CHECK(h.late_count() == 0);
}

TEST_CASE("window specs are checked when the graph is built") {
  Job job("bad");
  auto keyed = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t i) { return Ev{1}; }))
                   .key_by([](const Ev& e) { return e.v; });
  CHECK_THROWS_WITH(keyed.window(sliding(1s, 2s)),
                    "window: field 'slide': window slide (2000000 us) must not exceed its size (1000000 us)");
  CHECK_THROWS_WITH(keyed.window(tumbling(0s)), "window: field 'size': window size must be positive, got 0 us");
  CHECK_THROWS_WITH(keyed.window(tumbling(1s)).allowed_lateness(-1s),
                    "window: field 'allowed_lateness': must not be negative, got -1000000 us");
  CHECK_THROWS_WITH(keyed.window(tumbling(1s).processing_time()).allowed_lateness(1s),
                    "window: field 'allowed_lateness': processing-time windows have no late records");
}

TEST_CASE("aggregate field names") {
  struct Req {
    double amount;
    std::int64_t response_time;
  };
  CHECK(aggregate_field_names<Req>(count(), sum("amount", &Req::amount),
                                              avg("response_time", &Req::response_time)) ==
        std::vector<std::string>{"count", "sum_amount", "avg_response_time"});
  CHECK(aggregate_field_names<Req>(count(), count(), max(&Req::amount).as("peak")) ==
        std::vector<std::string>{"count", "count#2", "peak"});
}
