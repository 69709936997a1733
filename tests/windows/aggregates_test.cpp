// Unit tests of the built-in aggregates and the aggregate contract: create /
// add / merge / retract / result called directly on aggregates bound to a
// record type, as the window operator calls them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {

struct Trade {
  std::string user{};
  std::int32_t qty = 0;
  std::uint32_t lots = 0;
  float px = 0;
  double amount = 0;
  std::int64_t response_time = 0;
};

Trade qty(std::int32_t q) { return Trade{.qty = q}; }
Trade user(std::string u) { return Trade{.user = std::move(u)}; }

/// `spec` bound to records of type T.
template <class T = Trade, class S>
auto bound(const S& spec) {
  return detail::bind_aggregate<T>(spec);
}

/// An accumulator holding `records`, added with timestamps 0, 1, 2, ...
template <class A, class T>
typename A::acc_type fold(const A& a, const std::vector<T>& records, Timestamp first_ts = 0) {
  typename A::acc_type acc = a.create();
  Timestamp ts = first_ts;
  for (const T& r : records) detail::add_value(a, acc, r, ts++);
  return acc;
}

/// merge(a, b) as a value.
template <class A>
typename A::acc_type merged(const A& agg, typename A::acc_type a, const typename A::acc_type& b) {
  agg.merge(a, b);
  return a;
}

/// A distinct accumulator as an ordered map (FlatHashMap has no ==).
template <class V>
std::map<V, std::uint64_t> entries(const detail::FlatHashMap<V, std::uint64_t>& m) {
  return std::map<V, std::uint64_t>(m.begin(), m.end());
}

std::vector<Trade> qtys(std::initializer_list<std::int32_t> qs) {
  std::vector<Trade> v;
  for (std::int32_t q : qs) v.push_back(qty(q));
  return v;
}

template <class... A>
std::vector<std::string> names(const A&... aggs) {
  return aggregate_field_names<Trade>(aggs...);
}

}  // namespace

// ---------------------------------------------------------------- count

TEST_CASE("count: counts records; merges with empty on either side; retracts exactly", "[windows][aggregates]") {
  const auto c = bound(count());
  CHECK(c.result(c.create()) == 0);
  CHECK(c.result(fold(c, qtys({7}))) == 1);
  const auto a = fold(c, qtys({1, 2, 3}));
  const auto b = fold(c, qtys({4, 5}));
  CHECK(c.result(a) == 3);
  CHECK(c.result(merged(c, a, b)) == 5);
  CHECK(c.result(merged(c, c.create(), a)) == 3);
  CHECK(c.result(merged(c, a, c.create())) == 3);
  auto ab = merged(c, a, b);
  c.retract(ab, b);
  CHECK(ab == a);
  STATIC_REQUIRE(std::is_same_v<decltype(c.result(a)), std::uint64_t>);
  STATIC_REQUIRE(RetractableAggregate<decltype(c)>);
  STATIC_REQUIRE(!HolisticAggregate<decltype(c)>);
}

// ---------------------------------------------------------------- sum

TEST_CASE("sum: int32 widens to int64, exact past the int32 range, negatives", "[windows][aggregates]") {
  const auto s = bound(sum("qty", &Trade::qty));
  STATIC_REQUIRE(std::is_same_v<decltype(s)::acc_type, std::int64_t>);
  STATIC_REQUIRE(std::is_same_v<decltype(s.result(s.create())), std::int64_t>);
  constexpr std::int32_t big = std::numeric_limits<std::int32_t>::max();
  CHECK(s.result(fold(s, qtys({big, big, big}))) == 3 * std::int64_t{big});
  CHECK(s.result(fold(s, qtys({-5, 3, -10}))) == -12);
  CHECK(s.result(fold(s, qtys({-7}))) == -7);
  CHECK(s.result(s.create()) == 0);
  const auto a = fold(s, qtys({-5, 3}));
  const auto b = fold(s, qtys({big, -1}));
  CHECK(s.result(merged(s, a, b)) == -2 + std::int64_t{big} - 1);
  CHECK(merged(s, s.create(), a) == a);
  CHECK(merged(s, a, s.create()) == a);
  auto ab = merged(s, a, b);
  s.retract(ab, b);
  CHECK(ab == a);
}

TEST_CASE("sum: uint32 widens to uint64", "[windows][aggregates]") {
  const auto s = bound(sum("lots", &Trade::lots));
  STATIC_REQUIRE(std::is_same_v<decltype(s.result(s.create())), std::uint64_t>);
  std::vector<Trade> v(3);
  for (Trade& t : v) t.lots = 4'000'000'000u;
  const auto a = fold(s, v);
  CHECK(s.result(a) == 12'000'000'000ull);
  const auto b = fold(s, std::vector<Trade>(1, Trade{.lots = 1}));
  auto ab = merged(s, a, b);
  CHECK(s.result(ab) == 12'000'000'001ull);
  s.retract(ab, b);
  CHECK(ab == a);
  STATIC_REQUIRE(RetractableAggregate<decltype(s)>);
}

TEST_CASE("sum: float widens to double; floating sums are not retractable", "[windows][aggregates]") {
  const auto s = bound(sum("px", &Trade::px));
  STATIC_REQUIRE(std::is_same_v<decltype(s.result(s.create())), double>);
  std::vector<Trade> v{Trade{.px = 0.5f}, Trade{.px = -0.25f}, Trade{.px = 16777216.0f}, Trade{.px = 1.0f}};
  // 2^24 + 1 is not a float; the double sum keeps it.
  CHECK(s.result(fold(s, v)) == 16777217.25);
  const auto d = bound(sum("amount", &Trade::amount));
  STATIC_REQUIRE(std::is_same_v<decltype(d.result(d.create())), double>);
  const auto a = fold(d, std::vector<Trade>{Trade{.amount = 1.5}, Trade{.amount = -4.0}});
  CHECK(d.result(a) == -2.5);
  CHECK(d.result(merged(d, d.create(), a)) == -2.5);
  CHECK(d.result(merged(d, a, d.create())) == -2.5);
  STATIC_REQUIRE(!RetractableAggregate<decltype(s)>);
  STATIC_REQUIRE(!RetractableAggregate<decltype(d)>);
}

// ---------------------------------------------------------------- avg

TEST_CASE("avg: mean as double; retractable for integer fields only", "[windows][aggregates]") {
  const auto m = bound(avg("response_time", &Trade::response_time));
  STATIC_REQUIRE(std::is_same_v<decltype(m.result(m.create())), double>);
  std::vector<Trade> v;
  for (std::int64_t x : {1, 2, 4}) v.push_back(Trade{.response_time = x});
  const auto a = fold(m, v);
  CHECK(m.result(a) == Approx(7.0 / 3.0));
  CHECK(m.result(m.create()) == 0.0);
  CHECK(m.result(fold(m, std::vector<Trade>{Trade{.response_time = -9}})) == -9.0);
  const auto b = fold(m, std::vector<Trade>{Trade{.response_time = -7}});
  auto ab = merged(m, a, b);
  CHECK(m.result(ab) == 0.0);  // (1 + 2 + 4 - 7) / 4
  CHECK(m.result(merged(m, m.create(), a)) == m.result(a));
  CHECK(m.result(merged(m, a, m.create())) == m.result(a));
  m.retract(ab, b);
  CHECK(ab.sum == a.sum);
  CHECK(ab.count == a.count);
  STATIC_REQUIRE(RetractableAggregate<decltype(m)>);
  STATIC_REQUIRE(!RetractableAggregate<decltype(bound(avg("amount", &Trade::amount)))>);
  // An int32 field averages over an int64 sum: no overflow.
  const auto q = bound(avg("qty", &Trade::qty));
  constexpr std::int32_t big = std::numeric_limits<std::int32_t>::max();
  CHECK(q.result(fold(q, qtys({big, big}))) == static_cast<double>(big));
}

// ---------------------------------------------------------------- min / max

TEST_CASE("min and max: one element, negatives, ties, merge with empty", "[windows][aggregates]") {
  const auto lo = bound(min("qty", &Trade::qty));
  const auto hi = bound(max("qty", &Trade::qty));
  STATIC_REQUIRE(std::is_same_v<decltype(lo.result(lo.create())), std::int32_t>);
  CHECK(lo.result(fold(lo, qtys({4}))) == 4);
  CHECK(hi.result(fold(hi, qtys({4}))) == 4);
  CHECK(lo.result(fold(lo, qtys({3, -8, 5, -8}))) == -8);
  CHECK(hi.result(fold(hi, qtys({-3, -8, -5}))) == -3);
  CHECK(hi.result(fold(hi, qtys({2, 2, 2}))) == 2);
  const auto a = fold(lo, qtys({3, 9}));
  const auto b = fold(lo, qtys({-1, 12}));
  CHECK(lo.result(merged(lo, a, b)) == -1);
  CHECK(lo.result(merged(lo, b, a)) == -1);
  CHECK(lo.result(merged(lo, lo.create(), a)) == 3);
  CHECK(lo.result(merged(lo, a, lo.create())) == 3);
  const auto x = fold(hi, qtys({3, 9}));
  const auto y = fold(hi, qtys({-1, 12}));
  CHECK(hi.result(merged(hi, x, y)) == 12);
  CHECK(hi.result(merged(hi, hi.create(), x)) == 9);
  CHECK(hi.result(merged(hi, x, hi.create())) == 9);
  // A value smaller than the default-constructed V{} is not mistaken for "empty".
  CHECK(hi.result(merged(hi, hi.create(), fold(hi, qtys({-4})))) == -4);
  // Strings compare lexicographically.
  const auto s = bound(min("user", &Trade::user));
  CHECK(s.result(fold(s, std::vector<Trade>{user("bob"), user("ann"), user("cat")})) == "ann");
  STATIC_REQUIRE(!RetractableAggregate<decltype(lo)>);
  STATIC_REQUIRE(!RetractableAggregate<decltype(hi)>);
}

// ---------------------------------------------------------------- first / last

TEST_CASE("first and last: by timestamp, ties by arrival, merge ties and empties", "[windows][aggregates]") {
  const auto f = bound(first("user", &Trade::user));
  const auto l = bound(last("user", &Trade::user));
  auto add = [](const auto& agg, auto& acc, const char* u, Timestamp ts) { detail::add_value(agg, acc, user(u), ts); };

  auto fa = f.create();
  auto la = l.create();
  for (auto [u, ts] : {std::pair{"b", 20}, {"a", 10}, {"c", 30}, {"d", 10}, {"e", 30}}) {
    add(f, fa, u, ts);
    add(l, la, u, ts);
  }
  CHECK(f.result(fa) == "a");  // ts 10: "a" arrived before "d"
  CHECK(l.result(la) == "e");  // ts 30: "e" arrived after "c"

  auto one = f.create();
  add(f, one, "x", -5);
  CHECK(f.result(one) == "x");
  CHECK(l.result(fold(l, std::vector<Trade>{user("y")})) == "y");

  // merge(into, from): `from` covers later input, so ties go to into for first, from for last.
  auto f1 = f.create(), f2 = f.create();
  add(f, f1, "into", 7);
  add(f, f2, "from", 7);
  CHECK(f.result(merged(f, f1, f2)) == "into");
  auto l1 = l.create(), l2 = l.create();
  add(l, l1, "into", 7);
  add(l, l2, "from", 7);
  CHECK(l.result(merged(l, l1, l2)) == "from");
  // Earlier / later timestamps win whatever side they are on.
  auto f3 = f.create();
  add(f, f3, "early", 3);
  CHECK(f.result(merged(f, f1, f3)) == "early");
  auto l3 = l.create();
  add(l, l3, "late", 9);
  CHECK(l.result(merged(l, l3, l1)) == "late");
  // Empty on either side.
  CHECK(f.result(merged(f, f.create(), f1)) == "into");
  CHECK(f.result(merged(f, f1, f.create())) == "into");
  CHECK(l.result(merged(l, l.create(), l1)) == "into");
  CHECK(l.result(merged(l, l1, l.create())) == "into");
  STATIC_REQUIRE(!RetractableAggregate<decltype(f)>);
}

// ---------------------------------------------------------------- distinct

TEST_CASE("distinct: exact count of distinct values", "[windows][aggregates]") {
  const auto d = bound(distinct("qty", &Trade::qty));
  STATIC_REQUIRE(std::is_same_v<decltype(d.result(d.create())), std::uint64_t>);
  CHECK(d.result(d.create()) == 0);
  CHECK(d.result(fold(d, qtys({-3}))) == 1);
  CHECK(d.result(fold(d, qtys({5, -5, 5, 0, -5, 5}))) == 3);
  CHECK(entries(fold(d, qtys({5, -5, 5}))) == std::map<std::int32_t, std::uint64_t>{{-5, 1}, {5, 2}});
  // Many values (the table grows) and strings.
  std::vector<Trade> v;
  for (int i = 0; i < 5000; ++i) v.push_back(qty(i % 1234));
  CHECK(d.result(fold(d, v)) == 1234);
  const auto s = bound(distinct("user", &Trade::user));
  CHECK(s.result(fold(s, std::vector<Trade>{user("ann"), user("bob"), user("ann"), user("")})) == 3);
}

TEST_CASE("distinct: merge adds multiplicities; retract(merge(a, b), b) == a", "[windows][aggregates]") {
  const auto d = bound(distinct("qty", &Trade::qty));
  const auto a = fold(d, qtys({1, 2, 2, 3}));
  const auto b = fold(d, qtys({3, 4, 2, -1}));
  const auto ab = merged(d, a, b);
  CHECK(d.result(ab) == 5);
  CHECK(entries(ab) == std::map<std::int32_t, std::uint64_t>{{-1, 1}, {1, 1}, {2, 3}, {3, 2}, {4, 1}});
  CHECK(entries(merged(d, d.create(), a)) == entries(a));
  CHECK(entries(merged(d, a, d.create())) == entries(a));
  auto back = ab;
  d.retract(back, b);
  CHECK(entries(back) == entries(a));  // zeros erased: -1 and 4 are gone
  CHECK(d.result(back) == 3);
  d.retract(back, a);
  CHECK(back.empty());
  // Retracting the older part works too (a sliding window drops its oldest slice).
  auto newer = ab;
  d.retract(newer, a);
  CHECK(entries(newer) == entries(b));
  STATIC_REQUIRE(RetractableAggregate<decltype(d)>);
  STATIC_REQUIRE(!HolisticAggregate<decltype(d)>);
}

// ---------------------------------------------------------------- list

TEST_CASE("list: values by timestamp, ties in arrival order", "[windows][aggregates]") {
  const auto l = bound(list("qty", &Trade::qty));
  STATIC_REQUIRE(std::is_same_v<decltype(l.result(l.create())), std::vector<std::int32_t>>);
  CHECK(l.result(l.create()).empty());
  CHECK(l.result(fold(l, qtys({-4}))) == std::vector<std::int32_t>{-4});
  CHECK(l.result(fold(l, qtys({3, 1, 2}))) == std::vector<std::int32_t>{3, 1, 2});  // ts 0, 1, 2
  auto acc = l.create();
  for (auto [q, ts] : {std::pair{1, 20}, {2, 10}, {3, 20}, {4, 5}, {5, 10}, {6, 20}})
    detail::add_value(l, acc, qty(q), ts);
  CHECK(l.result(acc) == std::vector<std::int32_t>{4, 2, 5, 1, 3, 6});
}

TEST_CASE("list: merge appends `from` after `into`; empties on either side", "[windows][aggregates]") {
  const auto l = bound(list("qty", &Trade::qty));
  const auto a = fold(l, qtys({1, 2}), 0);    // ts 0, 1
  const auto b = fold(l, qtys({3, 4}), 1);    // ts 1, 2: ts 1 ties with a's 2
  CHECK(l.result(merged(l, a, b)) == std::vector<std::int32_t>{1, 2, 3, 4});
  CHECK(l.result(merged(l, b, a)) == std::vector<std::int32_t>{1, 3, 2, 4});  // tie: into (b) first
  CHECK(l.result(merged(l, l.create(), a)) == l.result(a));
  CHECK(l.result(merged(l, a, l.create())) == l.result(a));
  const auto later = fold(l, qtys({9}), 100);
  CHECK(l.result(merged(l, merged(l, a, b), later)) == std::vector<std::int32_t>{1, 2, 3, 4, 9});
  STATIC_REQUIRE(HolisticAggregate<decltype(l)>);
  STATIC_REQUIRE(!RetractableAggregate<decltype(l)>);
}

// ---------------------------------------------------------------- approx_distinct

namespace {

/// Within 3 standard errors (1.04 / sqrt(2^p)) of `n`.
bool within_3_se(std::uint64_t estimate, std::uint64_t n, int p) {
  const double se = 1.04 / std::sqrt(static_cast<double>(1u << p));
  return std::abs(static_cast<double>(estimate) - static_cast<double>(n)) <= 3 * se * static_cast<double>(n);
}

template <class A>
typename A::acc_type sketch(const A& a, std::int32_t from, std::int32_t to, int repeat = 1) {
  typename A::acc_type acc = a.create();
  for (int r = 0; r < repeat; ++r)
    for (std::int32_t i = from; i < to; ++i) a.add(acc, qty(i));
  return acc;
}

}  // namespace

TEST_CASE("approx_distinct: estimates within 3 standard errors, exact for tiny inputs", "[windows][aggregates]") {
  const auto h = bound(approx_distinct("qty", &Trade::qty));
  STATIC_REQUIRE(std::is_same_v<decltype(h.result(h.create())), std::uint64_t>);
  CHECK(h.precision() == 12);
  CHECK(h.result(h.create()) == 0);
  CHECK(h.result(sketch(h, 0, 0)) == 0);
  CHECK(h.result(sketch(h, 0, 1)) == 1);
  CHECK(h.result(sketch(h, 0, 10)) == 10);
  for (std::int32_t n : {0, 1, 10, 1000, 100000}) {
    const std::uint64_t est = h.result(sketch(h, 0, n));
    INFO("n = " << n << ", estimate " << est);
    CHECK(within_3_se(est, static_cast<std::uint64_t>(n), 12));
  }
  // Other precisions, other value types.
  for (int p : {4, 8, 16}) {
    const auto hp = bound(approx_distinct("qty", &Trade::qty, p));
    const std::uint64_t est = hp.result(sketch(hp, -50000, 50000));
    INFO("p = " << p << ", estimate " << est);
    CHECK(within_3_se(est, 100000, p));
  }
  const auto s = bound(approx_distinct("user", &Trade::user));
  auto acc = s.create();
  for (int i = 0; i < 20000; ++i) s.add(acc, user("user-" + std::to_string(i % 5000)));
  CHECK(within_3_se(s.result(acc), 5000, 12));
}

TEST_CASE("approx_distinct: duplicates change nothing; merge estimates the union", "[windows][aggregates]") {
  const auto h = bound(approx_distinct("qty", &Trade::qty));
  const auto once = sketch(h, 0, 50000);
  const auto thrice = sketch(h, 0, 50000, 3);
  CHECK(thrice.registers == once.registers);
  CHECK(h.result(thrice) == h.result(once));

  const auto a = sketch(h, 0, 60000);
  const auto b = sketch(h, 40000, 100000);  // overlaps a in [40000, 60000)
  const auto ab = merged(h, a, b);
  CHECK(ab.registers == sketch(h, 0, 100000).registers);  // the union's sketch, exactly
  CHECK(within_3_se(h.result(ab), 100000, 12));
  CHECK(h.result(merged(h, b, a)) == h.result(ab));
  CHECK(merged(h, h.create(), a).registers == a.registers);
  CHECK(merged(h, a, h.create()).registers == a.registers);
  CHECK(h.result(merged(h, h.create(), h.create())) == 0);
  STATIC_REQUIRE(!RetractableAggregate<decltype(h)>);
  STATIC_REQUIRE(!HolisticAggregate<decltype(h)>);
}

TEST_CASE("approx_distinct: precision outside [4, 16] throws a GraphError naming it", "[windows][aggregates]") {
  for (int p : {-1, 0, 3, 17, 64}) {
    INFO("precision " << p);
    try {
      (void)approx_distinct("qty", &Trade::qty, p);
      FAIL("no exception");
    } catch (const GraphError& e) {
      CHECK(e.operator_name() == "approx_distinct");
      CHECK(e.field() == "precision");
      CHECK_THAT(e.what(), Catch::Contains("approx_distinct") && Catch::Contains("precision") &&
                               Catch::Contains(std::to_string(p)));
    }
  }
  CHECK_THROWS_AS(approx_distinct(&Trade::qty, 17), GraphError);
  CHECK_NOTHROW(approx_distinct("qty", &Trade::qty, 4));
  CHECK_NOTHROW(approx_distinct("qty", &Trade::qty, 16));
  CHECK(approx_distinct("qty", &Trade::qty, 14).as("users").bind<Trade>().precision() == 14);
}

// ---------------------------------------------------------------- names and flags

TEST_CASE("aggregate field names: defaults, .as(), duplicates get #2", "[windows][aggregates]") {
  CHECK(names(count(), sum("amount", &Trade::amount), avg("response_time", &Trade::response_time)) ==
        std::vector<std::string>{"count", "sum_amount", "avg_response_time"});
  CHECK(names(min("qty", &Trade::qty), max("qty", &Trade::qty), first("user", &Trade::user),
              last("user", &Trade::user)) == std::vector<std::string>{"min_qty", "max_qty", "first_user", "last_user"});
  CHECK(names(distinct("user", &Trade::user), approx_distinct("user", &Trade::user), list("qty", &Trade::qty)) ==
        std::vector<std::string>{"distinct_user", "approx_distinct_user", "list_qty"});
  CHECK(names(sum(&Trade::qty), distinct(&Trade::qty), approx_distinct(&Trade::qty), list(&Trade::qty)) ==
        std::vector<std::string>{"sum", "distinct", "approx_distinct", "list"});
  CHECK(names(sum("amount", &Trade::amount).as("total"), count().as("n"), distinct("user", &Trade::user).as("users"),
              approx_distinct("user", &Trade::user).as("approx_users"), list("qty", &Trade::qty).as("qtys")) ==
        std::vector<std::string>{"total", "n", "users", "approx_users", "qtys"});
  CHECK(names(sum("amount", &Trade::amount), sum("amount", &Trade::amount), count(), sum("amount", &Trade::amount)) ==
        std::vector<std::string>{"sum_amount", "sum_amount#2", "count", "sum_amount#3"});
  CHECK(names(count(), sum("qty", &Trade::qty).as("count")) == std::vector<std::string>{"count", "count#2"});
  // .as() on a bound aggregate keeps its behaviour.
  const auto renamed = bound(sum("qty", &Trade::qty)).as("total");
  CHECK(renamed.name() == "total");
  CHECK(renamed.result(fold(renamed, qtys({2, 3}))) == 5);
}

namespace {
template <class... S>
using ListOf = detail::AggregateList<Trade, decltype(bound(std::declval<S>()))...>;
using CountSpec = decltype(count());
using SumQty = decltype(sum("qty", &Trade::qty));
using SumAmount = decltype(sum("amount", &Trade::amount));
using AvgQty = decltype(avg("qty", &Trade::qty));
using MinQty = decltype(min("qty", &Trade::qty));
using FirstQty = decltype(first("qty", &Trade::qty));
using DistinctQty = decltype(distinct("qty", &Trade::qty));
using ApproxQty = decltype(approx_distinct("qty", &Trade::qty));
using ListQty = decltype(list("qty", &Trade::qty));
}  // namespace

TEST_CASE("AggregateList: retractable only if every aggregate is, holistic if any is", "[windows][aggregates]") {
  STATIC_REQUIRE(ListOf<CountSpec>::retractable);
  STATIC_REQUIRE(ListOf<CountSpec, SumQty, AvgQty, DistinctQty>::retractable);
  STATIC_REQUIRE(!ListOf<CountSpec, SumAmount>::retractable);
  STATIC_REQUIRE(!ListOf<CountSpec, MinQty>::retractable);
  STATIC_REQUIRE(!ListOf<FirstQty>::retractable);
  STATIC_REQUIRE(!ListOf<DistinctQty, ApproxQty>::retractable);
  STATIC_REQUIRE(!ListOf<CountSpec, SumQty, DistinctQty, ApproxQty, MinQty>::holistic);
  STATIC_REQUIRE(ListOf<ListQty>::holistic);
  STATIC_REQUIRE(ListOf<CountSpec, ListQty, SumQty>::holistic);
  STATIC_REQUIRE(!ListOf<ListQty>::retractable);
  STATIC_REQUIRE(std::is_same_v<ListOf<CountSpec, DistinctQty, ApproxQty, ListQty>::result_type,
                                std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::vector<std::int32_t>>>);
}

TEST_CASE("AggregateList: computes every aggregate together, retracts together", "[windows][aggregates]") {
  ListOf<CountSpec, SumQty, DistinctQty, ListQty> aggs(bound(count()), bound(sum("qty", &Trade::qty)),
                                                       bound(distinct("qty", &Trade::qty)), bound(list("qty", &Trade::qty)));
  auto acc = aggs.create();
  aggs.add(acc, qty(5), 2);
  aggs.add(acc, qty(-1), 1);
  aggs.add(acc, qty(5), 3);
  CHECK(aggs.result(acc) == std::tuple{std::uint64_t{3}, std::int64_t{9}, std::uint64_t{2}, std::vector<std::int32_t>{-1, 5, 5}});
  ListOf<CountSpec, SumQty, DistinctQty> r(bound(count()), bound(sum("qty", &Trade::qty)), bound(distinct("qty", &Trade::qty)));
  auto a = r.create(), b = r.create();
  r.add(a, qty(1), 0);
  r.add(b, qty(2), 1);
  r.add(b, qty(1), 2);
  auto ab = a;
  r.merge(ab, b);
  CHECK(r.result(ab) == std::tuple{std::uint64_t{3}, std::int64_t{4}, std::uint64_t{2}});
  r.retract(ab, b);
  CHECK(r.result(ab) == r.result(a));
  CHECK(entries(std::get<2>(ab)) == entries(std::get<2>(a)));
}

// ---------------------------------------------------------------- user-defined aggregates

namespace {

// No name(): the output field is "agg<i>". Sum of squares, add(acc, v).
struct SumOfSquares {
  using acc_type = std::int64_t;
  acc_type create() const { return 0; }
  void add(acc_type& a, const Trade& t) const { a += std::int64_t{t.qty} * t.qty; }
  void merge(acc_type& a, const acc_type& b) const { a += b; }
  std::int64_t result(const acc_type& a) const { return a; }
};

// name() returning a C string; same as above plus retract.
struct RetractableSquares : SumOfSquares {
  const char* name() const { return "squares"; }
  void retract(acc_type& a, const acc_type& b) const { a -= b; }
};

// add(acc, v, ts): the span of timestamps seen.
struct Span {
  struct acc_type {
    Timestamp lo = kMaxTimestamp;
    Timestamp hi = kMinTimestamp;
  };
  std::string name() const { return "span_us"; }
  acc_type create() const { return {}; }
  void add(acc_type& a, const Trade&, Timestamp ts) const {
    a.lo = std::min(a.lo, ts);
    a.hi = std::max(a.hi, ts);
  }
  void merge(acc_type& a, const acc_type& b) const {
    a.lo = std::min(a.lo, b.lo);
    a.hi = std::max(a.hi, b.hi);
  }
  DurationUs result(const acc_type& a) const { return a.hi < a.lo ? 0 : a.hi - a.lo; }
};

// A user holistic aggregate: the median of qty (holistic = true), and one
// declaring holistic = false.
struct Median {
  using acc_type = std::vector<std::int32_t>;
  static constexpr bool holistic = true;
  acc_type create() const { return {}; }
  void add(acc_type& a, const Trade& t) const { a.push_back(t.qty); }
  void merge(acc_type& a, const acc_type& b) const { a.insert(a.end(), b.begin(), b.end()); }
  std::int32_t result(acc_type a) const {
    if (a.empty()) return 0;
    std::nth_element(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(a.size() / 2), a.end());
    return a[a.size() / 2];
  }
};
struct NotHolistic : SumOfSquares {
  static constexpr bool holistic = false;
};

}  // namespace

TEST_CASE("user-defined aggregates: the contract of windows/aggregate.hpp is enough", "[windows][aggregates]") {
  STATIC_REQUIRE(AggregateFunction<SumOfSquares, Trade>);
  STATIC_REQUIRE(AggregateFunction<RetractableSquares, Trade>);
  STATIC_REQUIRE(AggregateFunction<Span, Trade>);
  STATIC_REQUIRE(AggregateFunction<Median, Trade>);
  STATIC_REQUIRE(!AggregateFunction<SumOfSquares, std::string>);  // add takes a Trade

  STATIC_REQUIRE(!detail::AggregateList<Trade, SumOfSquares>::retractable);
  STATIC_REQUIRE(detail::AggregateList<Trade, RetractableSquares>::retractable);
  STATIC_REQUIRE(!detail::AggregateList<Trade, RetractableSquares, SumOfSquares>::retractable);
  STATIC_REQUIRE(detail::AggregateList<Trade, RetractableSquares, decltype(count())>::retractable);
  STATIC_REQUIRE(detail::AggregateList<Trade, Median>::holistic);
  STATIC_REQUIRE(!detail::AggregateList<Trade, NotHolistic>::holistic);
  STATIC_REQUIRE(!detail::AggregateList<Trade, SumOfSquares, Span>::holistic);

  // bind_aggregate leaves a user aggregate as it is.
  STATIC_REQUIRE(std::is_same_v<decltype(bound(SumOfSquares{})), SumOfSquares>);

  CHECK(names(count(), SumOfSquares{}, RetractableSquares{}, Span{}, SumOfSquares{}) ==
        std::vector<std::string>{"count", "agg1", "squares", "span_us", "agg4"});

  detail::AggregateList<Trade, SumOfSquares, RetractableSquares, Span, Median> aggs{{}, {}, {}, {}};
  auto acc = aggs.create();
  aggs.add(acc, qty(3), 100);
  aggs.add(acc, qty(-4), 40);
  aggs.add(acc, qty(10), 70);
  CHECK(aggs.result(acc) == std::tuple{std::int64_t{125}, std::int64_t{125}, DurationUs{60}, std::int32_t{3}});

  detail::AggregateList<Trade, RetractableSquares, decltype(count())> r{{}, {}};
  auto a = r.create(), b = r.create();
  r.add(a, qty(2), 0);
  r.add(b, qty(5), 1);
  auto ab = a;
  r.merge(ab, b);
  CHECK(r.result(ab) == std::tuple{std::int64_t{29}, std::uint64_t{2}});
  r.retract(ab, b);
  CHECK(ab == a);
}
