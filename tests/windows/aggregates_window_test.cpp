// distinct, list and approx_distinct inside the sliding window operator, one
// per way of combining slices: retraction (distinct), merging on demand
// (list: holistic) and partial merges in two stacks (approx_distinct); and
// all of them in a job with two workers against a reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

auto value = [](std::int64_t v) { return v; };

std::string show(std::uint64_t v) { return std::to_string(v); }
std::string show(const std::vector<std::int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i > 0 ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

/// Results of a one-aggregate window as "+I a [0, 30) 4", ordered by window
/// then key (changes of one result keep their order).
template <class V>
std::vector<std::string> rows(std::vector<Record<WindowResult<std::string, std::tuple<V>>>> rs) {
  std::stable_sort(rs.begin(), rs.end(), [](const auto& a, const auto& b) {
    return std::tie(a.value.window, a.value.key) < std::tie(b.value.window, b.value.key);
  });
  std::vector<std::string> out;
  for (const auto& r : rs) {
    CHECK(r.ts_us == r.value.window.max_timestamp());
    std::ostringstream os;
    os << r.value.kind << ' ' << r.value.key << ' ' << r.value.window << ' ' << show(r.value.template get<0>());
    out.push_back(os.str());
  }
  return out;
}

using Steps = std::vector<std::vector<std::string>>;

/// sliding(30us, 10us); what comes out after each watermark. Slices:
///   [0,10)  a: 5@1 5@4               [10,20) a: 7@12 7@15   b: 8@18 6@11
///   [20,30) a: 9@25 3@25 1@21        [30,40) a: 5@33        [40,50) a: 2@47
/// Records arrive out of order within the watermark (5@4 after 7@12, 7@15
/// after 9@25, 1@21 after 5@33); 3@25 ties with 9@25 and arrives later.
template <class H>
Steps run_sliding(H& h) {
  Steps out;
  h.add("a", 5, 1);
  h.add("a", 7, 12);
  h.add("b", 8, 18);
  h.add("a", 5, 4);
  h.watermark(9);
  out.push_back(rows(h.take()));
  h.add_batch({{"a", 9, 25}, {"a", 7, 15}, {"b", 6, 11}});
  h.watermark(19);
  out.push_back(rows(h.take()));
  h.add_batch({{"a", 5, 33}, {"a", 3, 25}, {"a", 1, 21}});
  h.watermark(29);
  out.push_back(rows(h.take()));
  h.watermark(39);
  out.push_back(rows(h.take()));
  h.add("a", 2, 47);
  h.end_of_input();
  out.push_back(rows(h.take()));
  CHECK(h.key_count() == 0);
  CHECK(h.late_count() == 0);
  return out;
}

const Steps kDistinctSliding{
    {"+I a [-20, 10) 1"},
    {"+I a [-10, 20) 2", "+I b [-10, 20) 2"},
    {"+I a [0, 30) 5", "+I b [0, 30) 2"},
    {"+I a [10, 40) 5", "+I b [10, 40) 2"},
    {"+I a [20, 50) 5", "+I a [30, 60) 2", "+I a [40, 70) 1"},
};

/// sliding(30us, 10us), allowed lateness 10us: a late record changes the
/// window that fired last (a correction), and the windows after it must be
/// rebuilt rather than continued from the running state.
template <class H>
Steps run_late(H& h) {
  Steps out;
  h.add("a", 1, 5);
  h.add("a", 2, 15);
  h.watermark(19);  // fires [-20,10) and [-10,20)
  out.push_back(rows(h.take()));
  h.add("a", 2, 25);
  h.watermark(29);  // fires [0,30)
  out.push_back(rows(h.take()));
  h.add("a", 3, 8);  // late: only [0,30) still takes corrections (29 + 10 > 29)
  out.push_back(rows(h.take()));
  h.add("a", 3, 35);
  h.watermark(39);  // fires [10,40); [0,10) no longer counts
  out.push_back(rows(h.take()));
  h.add("a", 9, 1);  // beyond the lateness of every window holding it
  CHECK(h.take().empty());
  CHECK(h.late_count() == 1);
  h.end_of_input();
  out.push_back(rows(h.take()));
  CHECK(h.key_count() == 0);
  return out;
}

const Steps kDistinctLate{
    {"+I a [-20, 10) 1", "+I a [-10, 20) 2"},
    {"+I a [0, 30) 2"},
    {"-U a [0, 30) 2", "+U a [0, 30) 3"},
    {"+I a [10, 40) 2"},
    {"+I a [20, 50) 2", "+I a [30, 60) 1"},
};

}  // namespace

TEST_CASE("sliding distinct: running map, slices retracted as they leave", "[windows][aggregates]") {
  auto h = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 0, distinct(value));
  STATIC_REQUIRE(decltype(h)::Aggs::retractable);  // the retract path
  CHECK(run_sliding(h) == kDistinctSliding);
}

TEST_CASE("sliding distinct: a late record within the lateness corrects and forces a rebuild", "[windows][aggregates]") {
  auto h = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 10, distinct(value));
  CHECK(run_late(h) == kDistinctLate);
}

TEST_CASE("sliding list: slices merged when a window fires, values by timestamp", "[windows][aggregates]") {
  auto h = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 0, list(value));
  STATIC_REQUIRE(decltype(h)::Aggs::holistic);  // the merge-on-demand path
  CHECK(run_sliding(h) == Steps{
                              {"+I a [-20, 10) [5,5]"},
                              {"+I a [-10, 20) [5,5,7,7]", "+I b [-10, 20) [6,8]"},
                              {"+I a [0, 30) [5,5,7,7,1,9,3]", "+I b [0, 30) [6,8]"},
                              {"+I a [10, 40) [7,7,1,9,3,5]", "+I b [10, 40) [6,8]"},
                              {"+I a [20, 50) [1,9,3,5,2]", "+I a [30, 60) [5,2]", "+I a [40, 70) [2]"},
                          });
}

TEST_CASE("sliding list: a late record lands at its timestamp in the corrected window", "[windows][aggregates]") {
  auto h = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 10, list(value));
  CHECK(run_late(h) == Steps{
                           {"+I a [-20, 10) [1]", "+I a [-10, 20) [1,2]"},
                           {"+I a [0, 30) [1,2,2]"},
                           {"-U a [0, 30) [1,2,2]", "+U a [0, 30) [1,3,2,2]"},
                           {"+I a [10, 40) [2,2,3]"},
                           {"+I a [20, 50) [2,3]", "+I a [30, 60) [3]"},
                       });
}

TEST_CASE("sliding approx_distinct: partial merges in two stacks, exact for few values", "[windows][aggregates]") {
  auto h = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 0, approx_distinct(value));
  STATIC_REQUIRE(!decltype(h)::Aggs::retractable);  // the two-stacks path
  STATIC_REQUIRE(!decltype(h)::Aggs::holistic);
  CHECK(run_sliding(h) == kDistinctSliding);
  auto late = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 10, approx_distinct(value));
  CHECK(run_late(late) == kDistinctLate);
}

TEST_CASE("sliding: distinct and approx_distinct agree over many slices (two stacks, retract)", "[windows][aggregates]") {
  // 2000 records, values cycling with a period that does not divide the
  // window, so slices keep entering and leaving with different contents.
  auto exact = window_harness<std::string, std::int64_t>(sliding(100us, 10us), 0, distinct(value));
  auto approx = window_harness<std::string, std::int64_t>(sliding(100us, 10us), 0, approx_distinct("v", value, 16));
  auto both = window_harness<std::string, std::int64_t>(sliding(100us, 10us), 0, distinct(value), approx_distinct(value, 16));
  std::map<Timestamp, std::set<std::int64_t>> per_slice;
  for (std::int64_t i = 0; i < 2000; ++i) {
    const std::int64_t v = (i * 7919) % 173;
    exact.add("k", v, i);
    approx.add("k", v, i);
    both.add("k", v, i);
    per_slice[i / 10].insert(v);
    if (i % 50 == 49) {
      exact.watermark(i);
      approx.watermark(i);
      both.watermark(i);
    }
  }
  exact.end_of_input();
  approx.end_of_input();
  both.end_of_input();
  const auto e = exact.take();
  const auto a = approx.take();
  const auto b = both.take();
  REQUIRE(e.size() == 209);  // window ends 10 .. 2090
  REQUIRE(a.size() == e.size());
  REQUIRE(b.size() == e.size());
  for (std::size_t i = 0; i < e.size(); ++i) {
    const Timestamp end = e[i].value.window.end;
    std::set<std::int64_t> want;
    for (Timestamp s = end / 10 - 10; s < end / 10; ++s)
      if (auto it = per_slice.find(s); it != per_slice.end()) want.insert(it->second.begin(), it->second.end());
    INFO("window ending " << end);
    CHECK(e[i].value.get<0>() == want.size());
    CHECK(a[i].value.window.end == end);
    // p = 16: linear counting over 65536 registers is within 1 of the truth here.
    CHECK(a[i].value.get<0>() + 1 >= want.size());
    CHECK(a[i].value.get<0>() <= want.size() + 1);
    CHECK(b[i].value.get<0>() == want.size());
    CHECK(b[i].value.get<1>() == a[i].value.get<0>());
  }
}

namespace {

// User aggregates: the sum of squares without name() and retract (two
// stacks), with retract (the retract path), and the latest timestamp seen
// (add with ts).
struct Squares {
  using acc_type = std::int64_t;
  acc_type create() const { return 0; }
  void add(acc_type& a, const std::int64_t& v) const { a += v * v; }
  void merge(acc_type& a, const acc_type& b) const { a += b; }
  std::int64_t result(const acc_type& a) const { return a; }
};
struct RetractableSquares : Squares {
  std::string name() const { return "squares"; }
  void retract(acc_type& a, const acc_type& b) const { a -= b; }
};
struct Latest {
  using acc_type = Timestamp;
  acc_type create() const { return kMinTimestamp; }
  void add(acc_type& a, const std::int64_t&, Timestamp ts) const { a = std::max(a, ts); }
  void merge(acc_type& a, const acc_type& b) const { a = std::max(a, b); }
  Timestamp result(const acc_type& a) const { return a; }
};

template <class H>
std::vector<std::tuple<std::string, Timestamp, typename H::Aggs::result_type>> user_results(H& h) {
  h.add_batch({{"a", 1, 5}, {"a", 2, 15}, {"b", -3, 12}, {"a", 4, 3}, {"a", 5, 25}});
  h.end_of_input();
  auto rs = h.take();
  std::vector<std::tuple<std::string, Timestamp, typename H::Aggs::result_type>> out;
  for (const auto& r : rs) out.emplace_back(r.value.key, r.value.window.end, r.value.values);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("sliding: user-defined aggregates run through every combine path", "[windows][aggregates]") {
  using R = std::tuple<std::int64_t, Timestamp>;
  // [0,10): a 1@5 4@3   [10,20): a 2@15, b -3@12   [20,30): a 5@25
  const std::vector<std::tuple<std::string, Timestamp, R>> want{
      {"a", 10, {17, 5}}, {"a", 20, {21, 15}}, {"a", 30, {46, 25}}, {"a", 40, {29, 25}}, {"a", 50, {25, 25}},
      {"b", 20, {9, 12}}, {"b", 30, {9, 12}},  {"b", 40, {9, 12}},
  };
  auto two_stacks = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 0, Squares{}, Latest{});
  STATIC_REQUIRE(!decltype(two_stacks)::Aggs::retractable);
  CHECK(user_results(two_stacks) == want);
  auto retract = window_harness<std::string, std::int64_t>(sliding(30us, 10us), 0, RetractableSquares{}, count());
  STATIC_REQUIRE(decltype(retract)::Aggs::retractable);
  const auto got = user_results(retract);
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(std::get<0>(got[i]) == std::get<0>(want[i]));
    CHECK(std::get<1>(got[i]) == std::get<1>(want[i]));
    CHECK(std::get<0>(std::get<2>(got[i])) == std::get<0>(std::get<2>(want[i])));
  }
}

namespace {

struct Visit {
  std::uint32_t user;
  std::int64_t page;
};

}  // namespace

TEST_CASE("job: sliding distinct, approx_distinct and list with 1 and 2 workers equal a reference", "[windows][aggregates]") {
  constexpr std::uint64_t n = 3000;
  auto make = [](std::uint64_t i) {
    const std::uint64_t h = detail::mix64(i + 17);
    return Visit{static_cast<std::uint32_t>(h % 5), static_cast<std::int64_t>((h >> 32) % 11)};
  };
  // Reference: record i has timestamp i; window ends e = 10, 20, ... cover [e - 30, e).
  using Key = std::pair<std::uint32_t, Timestamp>;  // user, window end
  std::map<Key, std::vector<std::int64_t>> ref;
  for (std::uint64_t i = 0; i < n; ++i) {
    const Visit v = make(i);
    const auto ts = static_cast<Timestamp>(i);
    for (Timestamp e = (ts / 10 + 1) * 10; e <= ts + 30; e += 10) ref[{v.user, e}].push_back(v.page);
  }
  for (std::size_t workers : {1u, 2u}) {
    using Vals = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::vector<std::int64_t>>;
    CollectSink<WindowResult<std::uint32_t, Vals>> out;
    Job job("aggregates");
    job.source(Generator(GeneratorOptions{.count = n, .chunk = 64}, make))
        .watermarks(ascending().with_emit_interval(0us))
        .key_by([](const Visit& v) { return v.user; })
        .window(sliding(30us, 10us))
        .aggregate(count(), distinct("page", &Visit::page), approx_distinct("page", &Visit::page), list("page", &Visit::page))
        .sink(out);
    QueryOptions o;
    o.workers = workers;
    o.batch_size = 100;
    job.run(o);
    std::map<Key, Vals> got;
    for (const auto& r : out.values()) {
      CHECK(r.kind == ChangeKind::kInsert);
      CHECK(got.emplace(Key{r.key, r.window.end}, r.values).second);
    }
    INFO("workers " << workers);
    REQUIRE(got.size() == ref.size());
    for (const auto& [k, pages] : ref) {
      const std::set<std::int64_t> unique(pages.begin(), pages.end());
      const auto& [c, d, a, l] = got.at(k);
      INFO("user " << k.first << ", window ending " << k.second);
      CHECK(c == pages.size());
      CHECK(d == unique.size());
      CHECK(a == unique.size());  // at most 11 values in 4096 registers
      CHECK(l == pages);
    }
  }
}
