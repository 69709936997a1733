// Checkpointing the built-in aggregates' accumulators (streaming/serde.hpp):
// each accumulator round-trips, and the restored one goes on aggregating
// exactly as the original; restored state that does not fit its aggregate
// is refused.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "sluice/sluice.hpp"
#include "streaming/serde.hpp"

using namespace sluice;

namespace {

struct Trade {
  std::string user{};
  std::int32_t qty = 0;
  std::uint32_t lots = 0;
  double amount = 0;
};

template <class S>
auto bound(const S& spec) {
  return detail::bind_aggregate<Trade>(spec);
}

std::vector<Trade> trades(int from, int to) {
  std::vector<Trade> v;
  for (int i = from; i < to; ++i)
    v.push_back(Trade{"u" + std::to_string(i % 7), i * 37 % 101 - 50, static_cast<std::uint32_t>(i), i * 0.25 - 3});
  return v;
}

template <class A>
void add_all(const A& a, typename A::acc_type& acc, const std::vector<Trade>& records, Timestamp first_ts) {
  Timestamp ts = first_ts;
  for (const Trade& r : records) detail::add_value(a, acc, r, ts++);
}

template <class A>
typename A::acc_type restored(const A& a, const typename A::acc_type& acc) {
  auto back = deserialize<typename A::acc_type>(serialize(acc));
  if constexpr (requires { a.check_restored(back); }) a.check_restored(back);
  return back;
}

/// Folds `before`, checkpoints, then adds `after` and merges a third part
/// into both the original and the restored accumulator: results agree at
/// every step (the same records, timestamps and merges on both sides).
template <class A>
void restored_continues(const A& a) {
  const std::vector<Trade> before = trades(0, 40), after = trades(40, 90), part = trades(90, 120);
  // An empty accumulator first.
  CHECK(a.result(restored(a, a.create())) == a.result(a.create()));

  auto acc = a.create();
  add_all(a, acc, before, 0);
  auto back = restored(a, acc);
  CHECK(a.result(back) == a.result(acc));

  add_all(a, acc, after, 40);
  add_all(a, back, after, 40);
  CHECK(a.result(back) == a.result(acc));

  auto other = a.create();
  add_all(a, other, part, 20);  // timestamps overlapping the others: first/last ties matter
  a.merge(acc, other);
  a.merge(back, other);
  CHECK(a.result(back) == a.result(acc));

  // A restored accumulator merged into a live one, too.
  auto into_live = a.create();
  add_all(a, into_live, part, 200);
  auto into_live2 = into_live;
  a.merge(into_live, acc);
  a.merge(into_live2, restored(a, acc));
  CHECK(a.result(into_live2) == a.result(into_live));
}

}  // namespace

TEST_CASE("aggregate state: every built-in accumulator is Serializable", "[windows][serde]") {
  STATIC_REQUIRE(Serializable<decltype(bound(count()))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(sum("q", &Trade::qty)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(avg("q", &Trade::amount)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(min("u", &Trade::user)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(max("q", &Trade::qty)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(first("u", &Trade::user)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(last("a", &Trade::amount)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(distinct("u", &Trade::user)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(approx_distinct("u", &Trade::user)))::acc_type>);
  STATIC_REQUIRE(Serializable<decltype(bound(list("u", &Trade::user)))::acc_type>);
  using Aggs = detail::AggregateList<Trade, decltype(bound(count())), decltype(bound(list("u", &Trade::user)))>;
  STATIC_REQUIRE(Serializable<Aggs::acc_type>);
}

TEST_CASE("aggregate state: accumulator encodings are pinned", "[windows][serde]") {
  CHECK(serialize(detail::AvgAcc<std::int64_t>{5, 2}) == std::string("\5\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0", 16));
  CHECK(serialize(detail::ExtremeAcc<std::int32_t>{}) == std::string("\0", 1));
  CHECK(serialize(detail::ExtremeAcc<std::int32_t>{7, true}) == std::string("\1\7\0\0\0", 5));
  CHECK(serialize(detail::AtTimeAcc<std::string>{"x", 3, true}) == std::string("\1\3\0\0\0\0\0\0\0\1x", 11));
  CHECK(serialize(detail::AtTimeAcc<std::string>{}) == std::string("\0", 1));
  CHECK(serialize(detail::HyperLogLog{}) == std::string("\0", 1));
}

TEST_CASE("aggregate state: count and sum continue after restore", "[windows][serde]") {
  restored_continues(bound(count()));
  restored_continues(bound(sum("qty", &Trade::qty)));
  restored_continues(bound(sum("lots", &Trade::lots)));
  restored_continues(bound(sum("amount", &Trade::amount)));
}

TEST_CASE("aggregate state: avg, min, max continue after restore", "[windows][serde]") {
  restored_continues(bound(avg("qty", &Trade::qty)));
  restored_continues(bound(avg("amount", &Trade::amount)));
  restored_continues(bound(min("qty", &Trade::qty)));
  restored_continues(bound(max("amount", &Trade::amount)));
  restored_continues(bound(min("user", &Trade::user)));
  restored_continues(bound(max("user", &Trade::user)));
}

TEST_CASE("aggregate state: first and last continue after restore, ties included", "[windows][serde]") {
  restored_continues(bound(first("user", &Trade::user)));
  restored_continues(bound(last("user", &Trade::user)));
  restored_continues(bound(first("qty", &Trade::qty)));
  restored_continues(bound(last("amount", &Trade::amount)));
}

TEST_CASE("aggregate state: distinct continues and retracts after restore", "[windows][serde]") {
  const auto d = bound(distinct("user", &Trade::user));
  restored_continues(d);
  restored_continues(bound(distinct("qty", &Trade::qty)));
  // Retract works on a restored accumulator as on the original.
  auto a = d.create(), b = d.create();
  add_all(d, a, trades(0, 30), 0);
  add_all(d, b, trades(30, 35), 30);
  auto ab = a;
  d.merge(ab, b);
  auto back = restored(d, ab);
  d.retract(back, restored(d, b));
  d.retract(ab, b);
  CHECK(d.result(back) == d.result(ab));
  CHECK(d.result(back) == d.result(a));
}

TEST_CASE("aggregate state: approx_distinct sketches continue after restore", "[windows][serde]") {
  restored_continues(bound(approx_distinct("user", &Trade::user)));
  restored_continues(bound(approx_distinct("qty", &Trade::qty, 4)));
  restored_continues(bound(approx_distinct("lots", &Trade::lots, 16)));
  const auto h = bound(approx_distinct("lots", &Trade::lots));
  auto acc = h.create();
  add_all(h, acc, trades(0, 5000), 0);
  CHECK(restored(h, acc).registers == acc.registers);
}

TEST_CASE("aggregate state: list keeps values and arrival order after restore", "[windows][serde]") {
  restored_continues(bound(list("user", &Trade::user)));
  restored_continues(bound(list("amount", &Trade::amount)));
}

TEST_CASE("aggregate state: a window's tuple of accumulators round-trips and continues", "[windows][serde]") {
  const auto aggs = detail::AggregateList<Trade, decltype(bound(count())), decltype(bound(sum("q", &Trade::qty))),
                                          decltype(bound(avg("a", &Trade::amount))),
                                          decltype(bound(min("u", &Trade::user))),
                                          decltype(bound(last("q", &Trade::qty))),
                                          decltype(bound(distinct("u", &Trade::user))),
                                          decltype(bound(approx_distinct("q", &Trade::qty))),
                                          decltype(bound(list("u", &Trade::user)))>(
      bound(count()), bound(sum("q", &Trade::qty)), bound(avg("a", &Trade::amount)), bound(min("u", &Trade::user)),
      bound(last("q", &Trade::qty)), bound(distinct("u", &Trade::user)), bound(approx_distinct("q", &Trade::qty)),
      bound(list("u", &Trade::user)));
  restored_continues(aggs);
  // Cut anywhere, the tuple's bytes are refused.
  auto acc = aggs.create();
  add_all(aggs, acc, trades(0, 3), 0);
  const std::string full = serialize(acc);
  for (std::size_t n = 0; n < full.size(); n += 97) {
    INFO("cut at " << n);
    CHECK_THROWS_AS(deserialize<decltype(acc)>(std::string_view(full).substr(0, n)), StateFormatError);
  }
}

TEST_CASE("aggregate state: restored state that does not fit its aggregate is refused", "[windows][serde]") {
  const auto h12 = bound(approx_distinct("qty", &Trade::qty, 12));
  const auto h10 = bound(approx_distinct("qty", &Trade::qty, 10));
  auto sketch = h12.create();
  add_all(h12, sketch, trades(0, 100), 0);
  const std::string bytes = serialize(sketch);
  CHECK_NOTHROW(restored(h12, sketch));
  const auto back = deserialize<detail::HyperLogLog>(bytes);
  try {
    h10.check_restored(back);
    FAIL("a 4096-register sketch passed for precision 10");
  } catch (const StateFormatError& e) {
    CHECK_THAT(e.what(), Catch::Contains("approx_distinct_qty") && Catch::Contains("4096 registers") &&
                             Catch::Contains("precision 10"));
  }
  // Through the tuple of a window.
  const auto aggs = detail::AggregateList<Trade, decltype(bound(count())), decltype(h10)>(bound(count()), h10);
  CHECK_THROWS_AS(aggs.check_restored(std::tuple<std::uint64_t, detail::HyperLogLog>{1, back}), StateFormatError);

  // Register counts that are no sketch, ranks above the largest possible.
  StateWriter w17;
  w17.write(std::vector<std::uint8_t>(17, 1));
  auto e = std::string();
  try {
    (void)deserialize<detail::HyperLogLog>(w17.buffer());
  } catch (const StateFormatError& x) {
    e = x.what();
  }
  CHECK_THAT(e, Catch::Contains("sluice::detail::HyperLogLog") && Catch::Contains("17 registers"));
  CHECK_THROWS_AS(deserialize<detail::HyperLogLog>(serialize(std::vector<std::uint8_t>(8, 0))), StateFormatError);
  CHECK_THROWS_AS(deserialize<detail::HyperLogLog>(serialize(std::vector<std::uint8_t>(1 << 17, 0))),
                  StateFormatError);
  std::vector<std::uint8_t> ranks(16, 0);
  ranks[3] = 62;  // p = 4: ranks go up to 61
  CHECK_THROWS_AS(deserialize<detail::HyperLogLog>(serialize(ranks)), StateFormatError);
  ranks[3] = 61;
  CHECK(deserialize<detail::HyperLogLog>(serialize(ranks)).registers == ranks);

  // Distinct: a value counted 0 times.
  const auto d = bound(distinct("user", &Trade::user));
  detail::FlatHashMap<std::string, std::uint64_t> zero;
  zero.try_emplace("ghost", std::uint64_t{0});
  CHECK_THROWS_AS(d.check_restored(deserialize<decltype(zero)>(serialize(zero))), StateFormatError);
}
