// Where sliding windows fall when the slide does not divide the size: as in
// Flink, window *starts* lie on the grid offset + k * slide, and a record at
// ts is in every window [start, start + size) with start on that grid and
// ts - size < start <= ts (SlidingEventTimeWindows.assignWindows). Ends then
// lie on the grid offset + size + k * slide, which differs from the start
// grid when size % slide != 0.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <vector>

#include "differential_support.hpp"
#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
};

using Windows = std::vector<TimeWindow>;

/// The windows of the results, sorted (one record per key, so per window once).
template <class R>
Windows windows_of(const std::vector<R>& rs) {
  Windows w;
  for (const auto& r : rs) w.push_back(r.value.window);
  std::sort(w.begin(), w.end());
  return w;
}

/// The windows a single record at `ts` yields through the slicing operator.
Windows slicing_windows(TimeWindows spec, Timestamp ts) {
  auto h = window_harness<int, Ev>(spec, 0, count());
  h.add(1, {0}, ts);
  h.end_of_input();
  return windows_of(h.take());
}

/// The same through the pane operator (early firing after every record).
Windows pane_windows(TimeWindows spec, Timestamp ts) {
  auto h = window_harness<int, Ev>(spec.fire_every_element(), 0, count());
  h.add(1, {0}, ts);
  return windows_of(h.take());
}

}  // namespace

TEST_CASE("sliding(10, 4): a record at 5 is in [-4,6) [0,10) [4,14), as in Flink", "[windows]") {
  const Windows want{{-4, 6}, {0, 10}, {4, 14}};
  CHECK(slicing_windows(sliding(10us, 4us), 5) == want);
  CHECK(pane_windows(sliding(10us, 4us), 5) == want);
  CHECK(differential::flink_sliding_windows(5, 10, 4, 0) == want);
}

TEST_CASE("sliding(10, 4) with an offset: starts on offset + k * slide", "[windows]") {
  // Offset 1: starts ..., -3, 1, 5, ...; ts 5 is in the windows starting 5, 1, -3.
  const Windows want{{-3, 7}, {1, 11}, {5, 15}};
  CHECK(slicing_windows(sliding(10us, 4us).with_offset(1us), 5) == want);
  CHECK(pane_windows(sliding(10us, 4us).with_offset(1us), 5) == want);
  // A negative offset is the same grid as offset mod slide (-3 ~ 1).
  CHECK(slicing_windows(sliding(10us, 4us).with_offset(-3us), 5) == want);
  // Offset 3: starts ..., -5, -1, 3; only those > 5 - 10 = -5 hold ts 5.
  CHECK(slicing_windows(sliding(10us, 4us).with_offset(3us), 5) == Windows{{-1, 9}, {3, 13}});
}

TEST_CASE("sliding(10, 4): negative timestamps follow Flink's floor grid", "[windows]") {
  // ts -5: the last start at or before it is -8 (floor, not truncation); -12 > -15 too.
  const Windows want{{-12, -2}, {-8, 2}};
  CHECK(slicing_windows(sliding(10us, 4us), -5) == want);
  CHECK(pane_windows(sliding(10us, 4us), -5) == want);
  CHECK(slicing_windows(sliding(10us, 4us), -4) == Windows{{-12, -2}, {-8, 2}, {-4, 6}});
}

TEST_CASE("sliding: every record is in floor or ceil(size/slide) windows, exactly Flink's", "[windows]") {
  struct Spec {
    DurationUs size, slide, offset;
  };
  const Spec specs[] = {{10, 4, 0}, {10, 4, 1}, {10, 4, -7}, {7, 3, 0}, {7, 3, 2}, {9, 6, 5}, {5, 2, 0}, {12, 8, 3}};
  for (const Spec& s : specs) {
    CAPTURE(s.size, s.slide, s.offset);
    // One key per timestamp, so each key's results are its record's windows.
    auto h = window_harness<std::int64_t, Ev>(
        sliding(std::chrono::microseconds(s.size), std::chrono::microseconds(s.slide))
            .with_offset(std::chrono::microseconds(s.offset)),
        0, count());
    for (Timestamp ts = -40; ts <= 40; ++ts) h.add(ts, {0}, ts);
    h.end_of_input();
    std::map<std::int64_t, Windows> got;
    for (const auto& r : h.take()) {
      CHECK(r.value.get<0>() == 1);
      got[r.value.key].push_back(r.value.window);
    }
    const std::size_t lo = static_cast<std::size_t>(s.size / s.slide);
    const std::size_t hi = static_cast<std::size_t>((s.size + s.slide - 1) / s.slide);
    for (Timestamp ts = -40; ts <= 40; ++ts) {
      CAPTURE(ts);
      Windows& w = got[ts];
      std::sort(w.begin(), w.end());
      CHECK(w == differential::flink_sliding_windows(ts, s.size, s.slide, s.offset));
      CHECK((w.size() == lo || w.size() == hi));
    }
  }
}
