#include <catch2/catch.hpp>

#include <algorithm>

#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using Vals = std::tuple<std::uint64_t, std::int64_t>;
using Res = WindowResult<std::string, Vals>;

Record<Res> res(std::string key, Timestamp start, Timestamp end, std::uint64_t count, std::int64_t sum,
                ChangeKind kind = ChangeKind::kInsert) {
  return Record<Res>{Res{std::move(key), TimeWindow{start, end}, Vals{count, sum}, kind}, end - 1};
}

std::vector<Record<Res>> sorted(std::vector<Record<Res>> v) {
  std::sort(v.begin(), v.end(), [](const Record<Res>& a, const Record<Res>& b) {
    return std::tie(a.value.window, a.value.key) < std::tie(b.value.window, b.value.key);
  });
  return v;
}

auto harness(TimeWindows w, DurationUs lateness = 0) {
  return window_harness<std::string, std::int64_t>(w, lateness, count(), sum("v", [](std::int64_t x) { return x; }));
}

}  // namespace

namespace Catch {
template <>
struct StringMaker<Record<Res>> {
  static std::string convert(const Record<Res>& r) {
    std::ostringstream os;
    os << to_string(r.value.kind) << " " << r.value.key << " " << r.value.window << " count=" << std::get<0>(r.value.values)
       << " sum=" << std::get<1>(r.value.values) << " @" << r.ts_us;
    return os.str();
  }
};
}  // namespace Catch

TEST_CASE("tumbling: out-of-order records within the watermark land in their windows") {
  auto h = harness(tumbling(10us));
  h.add("a", 1, 3);
  h.add("a", 2, 12);
  h.add("b", 4, 9);
  h.add("a", 8, 0);  // out of order, not late: the watermark has not moved
  h.add("b", 16, 19);
  CHECK(h.take().empty());
  h.watermark(9);  // window [0,10) ends: its max timestamp 9 <= watermark
  CHECK(sorted(h.take()) == std::vector{res("a", 0, 10, 2, 9), res("b", 0, 10, 1, 4)});
  h.watermark(18);
  CHECK(h.take().empty());
  h.watermark(19);
  CHECK(sorted(h.take()) == std::vector{res("a", 10, 20, 1, 2), res("b", 10, 20, 1, 16)});
  CHECK(h.key_count() == 0);
}

TEST_CASE("tumbling: a record at a window's end belongs to the next window") {
  auto h = harness(tumbling(10us));
  h.add("k", 1, 9);
  h.add("k", 10, 10);
  h.add("k", 100, 0);
  h.add("k", 1000, 19);
  h.add("k", 10000, 20);
  h.end_of_input();
  CHECK(sorted(h.take()) ==
        std::vector{res("k", 0, 10, 2, 101), res("k", 10, 20, 2, 1010), res("k", 20, 30, 1, 10000)});
}

TEST_CASE("tumbling: windows without records emit nothing, and big jumps fire only windows with data") {
  auto h = harness(tumbling(10us));
  h.watermark(1'000'000);  // nothing to fire
  CHECK(h.take().empty());
  auto g = harness(tumbling(10us));
  g.add("k", 1, 5);
  g.add("k", 2, 1'000'005);
  g.watermark(999'999'999);
  CHECK(g.take() == std::vector{res("k", 0, 10, 1, 1), res("k", 1'000'000, 1'000'010, 1, 2)});
}

TEST_CASE("tumbling: negative timestamps and offsets") {
  auto h = harness(tumbling(10us).with_offset(3us));
  h.add("k", 1, -8);  // [-17, -7)
  h.add("k", 2, -7);  // [-7, 3)
  h.add("k", 4, 2);   // [-7, 3)
  h.add("k", 8, 3);   // [3, 13)
  h.end_of_input();
  CHECK(h.take() == std::vector{res("k", -17, -7, 1, 1), res("k", -7, 3, 2, 6), res("k", 3, 13, 1, 8)});
}

TEST_CASE("tumbling: late records within the allowed lateness emit corrections") {
  auto h = harness(tumbling(10us), 5);
  h.add("a", 1, 2);
  h.watermark(9);
  CHECK(h.take() == std::vector{res("a", 0, 10, 1, 1)});
  h.add("a", 10, 4);  // late, window fired, within lateness (9 + 5 > 9)
  CHECK(h.take() ==
        std::vector{res("a", 0, 10, 1, 1, ChangeKind::kUpdateBefore), res("a", 0, 10, 2, 11, ChangeKind::kUpdateAfter)});
  h.add("b", 7, 5);  // late for a window where b had no result yet: an insert
  CHECK(h.take() == std::vector{res("b", 0, 10, 1, 7)});
  h.watermark(13);
  h.add("a", 100, 9);  // still within: 9 + 5 = 14 > 13
  CHECK(h.take() == std::vector{res("a", 0, 10, 2, 11, ChangeKind::kUpdateBefore),
                                res("a", 0, 10, 3, 111, ChangeKind::kUpdateAfter)});
  CHECK(h.late_count() == 0);
  h.watermark(14);  // window [0,10) is now closed: state dropped
  CHECK(h.key_count() == 0);
  h.add("a", 1000, 0);
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  auto late = h.take_late();
  REQUIRE(late.size() == 1);
  CHECK(late[0].value == 1000);
  CHECK(late[0].ts_us == 0);
}

TEST_CASE("tumbling: without lateness a record behind the watermark in a fired window goes to the late output") {
  auto h = harness(tumbling(10us));
  h.add("a", 1, 1);
  h.watermark(12);
  CHECK(h.take() == std::vector{res("a", 0, 10, 1, 1)});
  h.add("a", 2, 9);    // late: window [0,10) fired
  h.add("a", 3, 11);   // behind the watermark but its window [10,20) is open: counts
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  CHECK(h.take_late().size() == 1);
  h.watermark(19);
  CHECK(h.take() == std::vector{res("a", 10, 20, 1, 3)});
}
