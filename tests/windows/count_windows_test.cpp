// Count windows (windows/count_windows.hpp) through the operator harness:
// exact outputs, in order.
#include <catch2/catch.hpp>

#include <string>

#include "spec_window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
};

auto sum_v() { return sum("v", &Ev::v); }

}  // namespace

TEST_CASE("count windows: empty input emits nothing, and watermarks pass through unchanged") {
  auto h = spec_window_harness<std::string, Ev>(count_tumbling(3), count(), sum_v());
  h.watermark(5);
  h.watermark(17);
  h.end_of_input();
  CHECK(h.take().empty());
  CHECK(h.watermarks() == std::vector<Timestamp>{5, 17, kMaxTimestamp});
  CHECK(h.key_count() == 0);
}

TEST_CASE("count windows: one record") {
  SECTION("a window of 1 fires at once") {
    auto h = spec_window_harness<std::string, Ev>(count_tumbling(1), count(), sum_v());
    h.add("a", {7}, 42);
    CHECK(show(h.take()) == "+I a [0, 1) = 1 7 @42\n");
    h.end_of_input();
    CHECK(h.take().empty());
  }
  SECTION("a window of 2 never completes") {
    auto h = spec_window_harness<std::string, Ev>(count_tumbling(2), count(), sum_v());
    h.add("a", {7}, 42);
    h.end_of_input();
    CHECK(h.take().empty());
  }
  SECTION("sliding: the first window of a slide of 1 holds one record") {
    auto h = spec_window_harness<std::string, Ev>(count_sliding(5, 1), count(), sum_v());
    h.add("a", {7}, 42);
    CHECK(show(h.take()) == "+I a [0, 1) = 1 7 @42\n");
  }
}

TEST_CASE("count windows: exactly size records fire once, at the last one's timestamp") {
  auto h = spec_window_harness<std::string, Ev>(count_tumbling(3), count(), sum_v());
  h.add("a", {1}, 10);
  h.add("a", {2}, 11);
  CHECK(h.take().empty());
  h.add("a", {4}, 12);
  CHECK(show(h.take()) == "+I a [0, 3) = 3 7 @12\n");
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("count windows: size - 1 records emit nothing, also at the end of input (incomplete windows are dropped)") {
  auto h = spec_window_harness<std::string, Ev>(count_tumbling(4), count(), sum_v());
  for (int i = 0; i < 3; ++i) h.add("a", {i}, i);
  h.watermark(100);
  h.end_of_input();
  CHECK(h.take().empty());

  // 2.5 windows: two results; the last 2 records are in none.
  auto t = spec_window_harness<std::string, Ev>(count_tumbling(4), count(), sum_v());
  for (int i = 0; i < 10; ++i) t.add("a", {i}, 100 + i);
  t.end_of_input();
  CHECK(show(t.take()) == "+I a [0, 4) = 4 6 @103\n"
                          "+I a [4, 8) = 4 22 @107\n");

  // Sliding: after the last window end, nothing more fires either.
  auto s = spec_window_harness<std::string, Ev>(count_sliding(4, 3), count(), sum_v());
  for (int i = 0; i < 8; ++i) s.add("a", {i}, i);
  s.end_of_input();
  CHECK(show(s.take()) == "+I a [0, 3) = 3 3 @2\n"
                          "+I a [2, 6) = 4 14 @5\n");
}

TEST_CASE("count windows: ties and out-of-order timestamps do not matter, arrival order does") {
  auto h = spec_window_harness<std::string, Ev>(count_tumbling(3), count(), sum_v(), first("v", &Ev::v),
                                                last("v", &Ev::v), list("v", &Ev::v));
  // Arrival order: 50, 10, 30 | 5, 5, 5 | 40, 40, 1
  h.add("a", {1}, 50);
  h.add("a", {2}, 10);
  h.add("a", {3}, 30);  // completes [0, 3): result at ts 30, though 50 came first
  h.add("a", {4}, 5);
  h.add("a", {5}, 5);
  h.add("a", {6}, 5);  // ties
  h.add("a", {7}, 40);
  h.add("a", {8}, 40);
  h.add("a", {9}, 1);  // the completing record is the oldest: the result carries 1
  // first/last/list are by timestamp inside the window (ties: arrival order).
  CHECK(show(h.take()) == "+I a [0, 3) = 3 6 2 1 [2 3 1] @30\n"
                          "+I a [3, 6) = 3 15 4 6 [4 5 6] @5\n"
                          "+I a [6, 9) = 3 24 9 8 [9 7 8] @1\n");
  // Watermarks do not fire or drop anything: count windows have no late records.
  h.watermark(1000);
  h.add("a", {10}, 0);
  h.add("a", {11}, 0);
  h.add("a", {12}, 0);
  CHECK(show(h.take()) == "+I a [9, 12) = 3 33 10 12 [10 11 12] @0\n");
  CHECK(h.metrics().late_records.get() == 0);
}

TEST_CASE("count windows: keys interleaved keep their own positions") {
  auto h = spec_window_harness<std::string, Ev>(count_tumbling(2), count(), sum_v());
  h.add_batch({{"a", {1}, 1}, {"b", {10}, 2}, {"b", {20}, 3}, {"c", {100}, 4}, {"a", {2}, 5}, {"b", {30}, 6},
               {"a", {3}, 7}, {"c", {200}, 8}, {"b", {40}, 9}, {"a", {4}, 10}});
  CHECK(show(h.take()) == "+I b [0, 2) = 2 30 @3\n"
                          "+I a [0, 2) = 2 3 @5\n"
                          "+I c [0, 2) = 2 300 @8\n"
                          "+I b [2, 4) = 2 70 @9\n"
                          "+I a [2, 4) = 2 7 @10\n");
  CHECK(h.key_count() == 3);  // positions are kept
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("count sliding: partial first windows, then the last size records every slide") {
  SECTION("slide divides size (retract path)") {
    auto h = spec_window_harness<int, Ev>(count_sliding(4, 2), count(), sum_v());
    for (int i = 1; i <= 9; ++i) h.add(7, {i}, 100 + i);
    CHECK(show(h.take()) == "+I 7 [0, 2) = 2 3 @102\n"
                            "+I 7 [0, 4) = 4 10 @104\n"
                            "+I 7 [2, 6) = 4 18 @106\n"
                            "+I 7 [4, 8) = 4 26 @108\n");
  }
  SECTION("slide does not divide size: slices of gcd(size, slide)") {
    auto h = spec_window_harness<int, Ev>(count_sliding(6, 4), count(), sum_v());  // slices of 2
    for (int i = 1; i <= 13; ++i) h.add(7, {i}, i);
    CHECK(show(h.take()) == "+I 7 [0, 4) = 4 10 @4\n"
                            "+I 7 [2, 8) = 6 33 @8\n"
                            "+I 7 [6, 12) = 6 57 @12\n");
  }
  SECTION("slide 1: every record") {
    auto h = spec_window_harness<int, Ev>(count_sliding(3, 1), count(), sum_v());
    for (int i = 1; i <= 5; ++i) h.add(7, {i}, i);
    CHECK(show(h.take()) == "+I 7 [0, 1) = 1 1 @1\n"
                            "+I 7 [0, 2) = 2 3 @2\n"
                            "+I 7 [0, 3) = 3 6 @3\n"
                            "+I 7 [1, 4) = 3 9 @4\n"
                            "+I 7 [2, 5) = 3 12 @5\n");
  }
  SECTION("count_sliding(n, n) is count_tumbling(n)") {
    auto a = spec_window_harness<int, Ev>(count_sliding(3, 3), count(), sum_v());
    auto b = spec_window_harness<int, Ev>(count_tumbling(3), count(), sum_v());
    for (int i = 1; i <= 10; ++i) {
      a.add(i % 2, {i}, i);
      b.add(i % 2, {i}, i);
    }
    const std::string got = show(a.take());
    CHECK(got == show(b.take()));
    CHECK(got == "+I 1 [0, 3) = 3 9 @5\n"
                 "+I 0 [0, 3) = 3 12 @6\n");
  }
}

TEST_CASE("count sliding: min and max (two-stacks path) across many flips") {
  auto h = spec_window_harness<int, Ev>(count_sliding(3, 1), min("v", &Ev::v), max("v", &Ev::v));
  using Op = typename decltype(h)::Op;
  static_assert(Op::kCombine == detail::SliceCombine::kTwoStacks);
  const int vs[] = {5, 3, 8, 1, 9, 9, 2, 7, 4, 6};
  for (int i = 0; i < 10; ++i) h.add(1, {vs[i]}, i);
  CHECK(show(h.take()) == "+I 1 [0, 1) = 5 5 @0\n"
                          "+I 1 [0, 2) = 3 5 @1\n"
                          "+I 1 [0, 3) = 3 8 @2\n"
                          "+I 1 [1, 4) = 1 8 @3\n"
                          "+I 1 [2, 5) = 1 9 @4\n"
                          "+I 1 [3, 6) = 1 9 @5\n"
                          "+I 1 [4, 7) = 2 9 @6\n"
                          "+I 1 [5, 8) = 2 9 @7\n"
                          "+I 1 [6, 9) = 2 7 @8\n"
                          "+I 1 [7, 10) = 4 7 @9\n");
}

TEST_CASE("count sliding: min/max with a slide that does not divide the size") {
  auto h = spec_window_harness<int, Ev>(count_sliding(5, 2), min("v", &Ev::v), max("v", &Ev::v), count());
  const int vs[] = {4, -1, 6, 0, 3, 8, 2, 2, -7, 5, 1};
  for (int i = 0; i < 11; ++i) h.add(1, {vs[i]}, 10 * i);
  // slices of 1; windows end at 2, 4, 6, 8, 10
  CHECK(show(h.take()) == "+I 1 [0, 2) = -1 4 2 @10\n"
                          "+I 1 [0, 4) = -1 6 4 @30\n"
                          "+I 1 [1, 6) = -1 8 5 @50\n"
                          "+I 1 [3, 8) = 0 8 5 @70\n"
                          "+I 1 [5, 10) = -7 8 5 @90\n");
}

TEST_CASE("count sliding: list is holistic (slices merged on demand)") {
  auto h = spec_window_harness<std::string, Ev>(count_sliding(4, 2), list("v", &Ev::v), count());
  using Op = typename decltype(h)::Op;
  static_assert(Op::kCombine == detail::SliceCombine::kMergeAll);
  // Timestamps out of order: list orders by timestamp inside each window.
  const std::pair<int, Timestamp> rs[] = {{1, 10}, {2, 5}, {3, 7}, {4, 20}, {5, 1}, {6, 30}, {7, 30}};
  for (auto [v, ts] : rs) h.add("k", {v}, ts);
  CHECK(show(h.take()) == "+I k [0, 2) = [2 1] 2 @5\n"
                          "+I k [0, 4) = [2 3 1 4] 4 @20\n"
                          "+I k [2, 6) = [5 3 4 6] 4 @30\n");
}

TEST_CASE("count windows: distinct (a retractable aggregate with map accumulators)") {
  auto h = spec_window_harness<int, Ev>(count_sliding(3, 1), distinct("v", &Ev::v));
  using Op = typename decltype(h)::Op;
  static_assert(Op::kCombine == detail::SliceCombine::kRetract);
  const int vs[] = {1, 1, 2, 1, 3, 3, 3};
  for (int i = 0; i < 7; ++i) h.add(1, {vs[i]}, i);
  CHECK(show(h.take()) == "+I 1 [0, 1) = 1 @0\n"
                          "+I 1 [0, 2) = 1 @1\n"
                          "+I 1 [0, 3) = 2 @2\n"
                          "+I 1 [1, 4) = 2 @3\n"
                          "+I 1 [2, 5) = 3 @4\n"
                          "+I 1 [3, 6) = 2 @5\n"
                          "+I 1 [4, 7) = 1 @6\n");
}

TEST_CASE("count windows: spec validation and no late records") {
  auto keyed = [] {
    Job job("v");
    return job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t i) { return Ev{std::int64_t(i)}; }))
        .key_by([](const Ev& e) { return e.v; });
  };
  auto error = [&](CountWindows w) -> std::string {
    try {
      keyed().window(w);
    } catch (const GraphError& e) {
      return e.operator_name() + " | " + e.field() + " | " + e.detail();
    }
    return "no error";
  };
  CHECK(error(count_tumbling(0)) == "window | size | count window size must be at least 1, got 0");
  CHECK(error(count_tumbling(-3)) == "window | size | count window size must be at least 1, got -3");
  CHECK(error(count_sliding(5, 0)) == "window | slide | count window slide must be at least 1, got 0");
  CHECK(error(count_sliding(5, -1)) == "window | slide | count window slide must be at least 1, got -1");
  CHECK(error(count_sliding(5, 6)) == "window | slide | count window slide (6) must not exceed its size (5)");
  CHECK(error(count_sliding(5, 5)) == "no error");
  CHECK(error(count_tumbling(1)) == "no error");

  auto w = keyed().window(count_tumbling(10));
  CHECK_THROWS_WITH(w.allowed_lateness(5s), "window: field 'allowed_lateness': count windows have no late records");
  OutputTag<Ev> late("late");
  CHECK_THROWS_WITH(w.late_data(late), "window: field 'late_data': count windows have no late records");
}
