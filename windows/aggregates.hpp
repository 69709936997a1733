// Built-in aggregates: count, sum, avg, min, max, first, last, distinct,
// approx_distinct, list.
//
//   .aggregate(count(), sum("price", &Bid::price), avg("price", &Bid::price),
//              max("price", [](const Bid& b) { return b.price; }))
//
// Each takes the field's name (for the output: "sum_price") and an extractor:
// a pointer to a data member or any callable `V(const T&)`. `.as("total")`
// renames the output field. Results:
//   count          std::uint64_t                     retractable
//   sum            int64 / uint64 / double (widened)  retractable for integers
//   avg            double                            retractable for integers
//   min, max       the value's type                  kept as partial merges
//   first, last    value at the smallest / largest timestamp (ties: the one
//                  that arrived first / last)
//   distinct       std::uint64_t, exact              retractable (a count per value)
//   approx_distinct std::uint64_t, HyperLogLog       kept as partial merges; fixed
//                  (windows/hyperloglog.hpp)         memory, standard error
//                                                    1.04/sqrt(2^precision)
//   list           std::vector<V>, by timestamp      holistic (keeps every value)
//                  (ties: arrival order)
// Floating-point sums are not retracted: subtracting a slice from a running
// double sum leaves rounding residue that grows with the stream.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/serde.hpp"
#include "streaming/time.hpp"
#include "windows/aggregate.hpp"
#include "windows/hyperloglog.hpp"

namespace sluice {

namespace detail {

/// The sum type of V: 64-bit signed or unsigned integers, or double.
template <class V>
using widened_t = std::conditional_t<std::is_floating_point_v<V>, double,
                                     std::conditional_t<std::is_signed_v<V>, std::int64_t, std::uint64_t>>;

/// Name and extractor shared by the field aggregates.
template <class F>
class FieldAggregate {
 public:
  FieldAggregate(std::string name, F f) : name_(std::move(name)), f_(std::move(f)) {}
  const std::string& name() const { return name_; }

 protected:
  template <class T>
  decltype(auto) extract(const T& v) const {
    return std::invoke(f_, v);
  }
  std::string name_;
  F f_;
};

// The accumulators with more than one member live here rather than inside
// their aggregate, so that each can have one Serde (a type nested in a class
// template cannot be matched by a partial specialization). They depend only
// on the value type, not on the extractor.

/// Accumulator of Avg: sum of the values (widened) and their number.
template <class S>
struct AvgAcc {
  S sum = 0;
  std::uint64_t count = 0;
};

/// Accumulator of Min / Max: the extreme value, once there is one.
template <class V>
struct ExtremeAcc {
  V value{};
  bool set = false;
};

/// Accumulator of First / Last: the value and its timestamp, once there is one.
template <class V>
struct AtTimeAcc {
  V value{};
  Timestamp ts = 0;
  bool set = false;
};

}  // namespace detail

// State encodings (streaming/serde.hpp): Count, Sum and List accumulators are
// built-in types, Distinct's a FlatHashMap, ApproxDistinct's a HyperLogLog
// (windows/hyperloglog.hpp).

/// AvgAcc: sum, then count.
template <Serializable S>
struct Serde<detail::AvgAcc<S>> {
  static constexpr std::size_t kMinEncodedSize = detail::min_encoded_size<S>() + 8;
  static void write(StateWriter& w, const detail::AvgAcc<S>& a) {
    w.write(a.sum);
    w.write(a.count);
  }
  static detail::AvgAcc<S> read(StateReader& r) { return detail::AvgAcc<S>{r.read<S>(), r.read<std::uint64_t>()}; }
};

/// ExtremeAcc: bool set, then the value if set (an unset one reads back as V{}).
template <Serializable V>
struct Serde<detail::ExtremeAcc<V>> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const detail::ExtremeAcc<V>& a) {
    w.write(a.set);
    if (a.set) w.write(a.value);
  }
  static detail::ExtremeAcc<V> read(StateReader& r) {
    detail::ExtremeAcc<V> a;
    a.set = r.read<bool>();
    if (a.set) a.value = r.read<V>();
    return a;
  }
};

/// AtTimeAcc: bool set, then if set the timestamp and the value (an unset
/// one reads back as V{} at 0).
template <Serializable V>
struct Serde<detail::AtTimeAcc<V>> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const detail::AtTimeAcc<V>& a) {
    w.write(a.set);
    if (!a.set) return;
    w.write(a.ts);
    w.write(a.value);
  }
  static detail::AtTimeAcc<V> read(StateReader& r) {
    detail::AtTimeAcc<V> a;
    a.set = r.read<bool>();
    if (!a.set) return a;
    a.ts = r.read<Timestamp>();
    a.value = r.read<V>();
    return a;
  }
};

/// Number of records.
struct Count {
  using acc_type = std::uint64_t;
  std::string field = "count";
  const std::string& name() const { return field; }
  Count as(std::string n) const { return Count{std::move(n)}; }
  acc_type create() const { return 0; }
  template <class T>
  void add(acc_type& a, const T&) const {
    ++a;
  }
  void merge(acc_type& a, const acc_type& b) const { a += b; }
  void retract(acc_type& a, const acc_type& b) const { a -= b; }
  std::uint64_t result(const acc_type& a) const { return a; }
};

template <class F, class V>
class Sum : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::widened_t<V>;
  using detail::FieldAggregate<F>::FieldAggregate;
  Sum as(std::string n) const { return Sum(std::move(n), this->f_); }
  acc_type create() const { return 0; }
  template <class T>
  void add(acc_type& a, const T& v) const {
    a += static_cast<acc_type>(this->extract(v));
  }
  void merge(acc_type& a, const acc_type& b) const { a += b; }
  void retract(acc_type& a, const acc_type& b) const
    requires std::integral<acc_type>
  {
    a -= b;
  }
  acc_type result(const acc_type& a) const { return a; }
};

template <class F, class V>
class Avg : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::AvgAcc<detail::widened_t<V>>;
  using detail::FieldAggregate<F>::FieldAggregate;
  Avg as(std::string n) const { return Avg(std::move(n), this->f_); }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v) const {
    a.sum += static_cast<detail::widened_t<V>>(this->extract(v));
    ++a.count;
  }
  void merge(acc_type& a, const acc_type& b) const {
    a.sum += b.sum;
    a.count += b.count;
  }
  void retract(acc_type& a, const acc_type& b) const
    requires std::integral<detail::widened_t<V>>
  {
    a.sum -= b.sum;
    a.count -= b.count;
  }
  /// The mean; 0 for no records (a window never has none).
  double result(const acc_type& a) const {
    return a.count == 0 ? 0.0 : static_cast<double>(a.sum) / static_cast<double>(a.count);
  }
};

/// Min (Less = std::less) or max (Less = std::greater) of a field.
template <class F, class V, class Less>
class Extreme : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::ExtremeAcc<V>;
  using detail::FieldAggregate<F>::FieldAggregate;
  Extreme as(std::string n) const { return Extreme(std::move(n), this->f_); }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v) const {
    decltype(auto) x = this->extract(v);
    if (!a.set || Less{}(x, a.value)) {
      a.value = x;
      a.set = true;
    }
  }
  void merge(acc_type& a, const acc_type& b) const {
    if (b.set && (!a.set || Less{}(b.value, a.value))) a = b;
  }
  V result(const acc_type& a) const { return a.value; }
};

/// The value at the earliest (kFirst) or latest timestamp.
template <class F, class V, bool kFirst>
class AtTime : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::AtTimeAcc<V>;
  using detail::FieldAggregate<F>::FieldAggregate;
  AtTime as(std::string n) const { return AtTime(std::move(n), this->f_); }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v, Timestamp ts) const {
    if (!a.set || (kFirst ? ts < a.ts : ts >= a.ts)) {
      a.value = this->extract(v);
      a.ts = ts;
      a.set = true;
    }
  }
  // `from` covers later input than `into`: ties go to into for first, from for last.
  void merge(acc_type& a, const acc_type& b) const {
    if (b.set && (!a.set || (kFirst ? b.ts < a.ts : b.ts >= a.ts))) a = b;
  }
  V result(const acc_type& a) const { return a.value; }
};

/// Exact number of distinct values. The accumulator counts each value's
/// occurrences, so a slice can be subtracted exactly (retract) and sliding
/// windows keep one running map per key. Memory grows with the number of
/// distinct values; approx_distinct keeps it fixed. V needs == and a
/// KeyHasher (std::hash works). Floating-point NaNs never equal each other:
/// each counts as a new value and is never retracted, so keep them out.
template <class F, class V>
class Distinct : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::FlatHashMap<V, std::uint64_t>;  // value -> occurrences (> 0)
  using detail::FieldAggregate<F>::FieldAggregate;
  Distinct as(std::string n) const { return Distinct(std::move(n), this->f_); }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v) const {
    ++*a.try_emplace(this->extract(v), std::uint64_t{0}).first;
  }
  void merge(acc_type& a, const acc_type& b) const {
    if (a.empty()) {
      a = b;  // a window's first slice: a copy beats re-inserting
      return;
    }
    b.for_each([&](const V& x, std::uint64_t n) { *a.try_emplace(x, std::uint64_t{0}).first += n; });
  }
  /// Undoes merge(a, b); values whose count drops to zero are erased.
  void retract(acc_type& a, const acc_type& b) const {
    b.for_each([&](const V& x, std::uint64_t n) {
      std::uint64_t* have = a.find(x);
      if (have == nullptr) return;  // b was not merged into a: nothing to undo
      if (*have <= n)
        a.erase(x);
      else
        *have -= n;
    });
  }
  std::uint64_t result(const acc_type& a) const { return a.size(); }
  /// Throws StateFormatError when a restored accumulator holds a count of 0,
  /// which add/merge/retract never leave (it would count as a value).
  void check_restored(const acc_type& a) const {
    a.for_each([&](const V&, std::uint64_t n) {
      if (n == 0)
        throw StateFormatError("accumulator of " + this->name_, std::nullopt, "a value with 0 occurrences");
    });
  }
};

/// Approximate number of distinct values: a HyperLogLog sketch of 2^precision
/// one-byte registers over mix64 of the value's KeyHasher (see windows/hyperloglog.hpp
/// for the estimator). Standard error 1.04/sqrt(2^precision): 1.6% at the
/// default precision 12 (4 KiB per sketch). Not retractable (a register
/// keeps a max); sliding windows keep partial merges.
template <class F, class V>
class ApproxDistinct : public detail::FieldAggregate<F> {
 public:
  using acc_type = detail::HyperLogLog;
  /// Throws ConfigError (a GraphError) unless 4 <= precision <= 16.
  ApproxDistinct(std::string name, F f, int precision = 12)
      : detail::FieldAggregate<F>(std::move(name), std::move(f)), precision_(precision) {
    detail::validate_hll_precision("approx_distinct", precision);
  }
  ApproxDistinct as(std::string n) const { return ApproxDistinct(std::move(n), this->f_, precision_); }
  int precision() const { return precision_; }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v) const {
    // mix64, not hash_key: the estimate needs bits that look random even
    // for sequential values.
    a.add_hash(detail::mix64(KeyHasher<V>{}(this->extract(v))), precision_);
  }
  void merge(acc_type& a, const acc_type& b) const { a.merge(b); }
  /// The estimate, rounded; 0 for no values.
  std::uint64_t result(const acc_type& a) const {
    return static_cast<std::uint64_t>(std::llround(a.estimate(precision_)));
  }
  /// Throws StateFormatError unless a restored sketch has this aggregate's
  /// 2^precision registers (or none): adding to or merging a sketch of
  /// another size would index past its registers.
  void check_restored(const acc_type& a) const {
    if (!a.registers.empty() && a.registers.size() != std::size_t{1} << precision_)
      throw StateFormatError("accumulator of " + this->name_, std::nullopt,
                             "sketch of " + std::to_string(a.registers.size()) + " registers, precision " +
                                 std::to_string(precision_) + " needs " + std::to_string(std::size_t{1} << precision_));
  }

 private:
  int precision_;
};

/// Every value of the window, ordered by timestamp; equal timestamps keep
/// arrival order. Holistic: the accumulator keeps each value with its
/// timestamp, slices are concatenated when a window fires, and result()
/// sorts stably by timestamp (skipped when already in order, the usual case
/// as records arrive mostly in order and slices merge in time order).
template <class F, class V>
class List : public detail::FieldAggregate<F> {
 public:
  using acc_type = std::vector<std::pair<Timestamp, V>>;  // in arrival order (merge: `into` first)
  static constexpr bool holistic = true;
  using detail::FieldAggregate<F>::FieldAggregate;
  List as(std::string n) const { return List(std::move(n), this->f_); }
  acc_type create() const { return {}; }
  template <class T>
  void add(acc_type& a, const T& v, Timestamp ts) const {
    a.emplace_back(ts, this->extract(v));
  }
  void merge(acc_type& a, const acc_type& b) const { a.insert(a.end(), b.begin(), b.end()); }
  std::vector<V> result(const acc_type& a) const {
    std::vector<V> out;
    out.reserve(a.size());
    const auto by_ts = [](const auto& x, const auto& y) { return x.first < y.first; };
    if (std::is_sorted(a.begin(), a.end(), by_ts)) {
      for (const auto& e : a) out.push_back(e.second);
      return out;
    }
    std::vector<std::size_t> order(a.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return a[x].first < a[y].first; });
    for (const std::size_t i : order) out.push_back(a[i].second);
    return out;
  }
};

template <class F, class V>
using Min = Extreme<F, V, std::less<>>;
template <class F, class V>
using Max = Extreme<F, V, std::greater<>>;
template <class F, class V>
using First = AtTime<F, V, true>;
template <class F, class V>
using Last = AtTime<F, V, false>;

namespace detail {

template <class F, class T>
using field_t = std::decay_t<std::invoke_result_t<const F&, const T&>>;

/// A field aggregate before it knows its record type: the name and the
/// extractor. The window's aggregate(...) binds it to the stream's record
/// type T, which fixes the value type V = decltype(extractor(t)).
template <template <class, class> class Agg, class F>
struct FieldSpec {
  std::string field;
  F f;
  FieldSpec as(std::string n) const { return FieldSpec{std::move(n), f}; }
  template <class T>
  Agg<F, field_t<F, T>> bind() const {
    return Agg<F, field_t<F, T>>(field, f);
  }
};

/// The spec of aggregate `op` over `field`; without a field name, an
/// extractor that knows its field (RowField) names it.
template <template <class, class> class Agg, class F>
FieldSpec<Agg, F> field_spec(const char* op, std::string field, F f) {
  if constexpr (requires { f.field_name(); })
    if (field.empty()) field = f.field_name();
  return FieldSpec<Agg, F>{field.empty() ? std::string(op) : std::string(op) + "_" + field, std::move(f)};
}

/// approx_distinct before it knows its record type: FieldSpec plus the precision.
template <class F>
struct ApproxDistinctSpec {
  std::string field;
  F f;
  int precision;
  ApproxDistinctSpec as(std::string n) const { return ApproxDistinctSpec{std::move(n), f, precision}; }
  template <class T>
  ApproxDistinct<F, field_t<F, T>> bind() const {
    return ApproxDistinct<F, field_t<F, T>>(field, f, precision);
  }
};

/// `a` bound to record type T (field aggregates), or `a` itself.
template <class T, class A>
auto bind_aggregate(const A& a) {
  if constexpr (requires { a.template bind<T>(); })
    return a.template bind<T>();
  else
    return a;
}

}  // namespace detail

/// Output field names of aggregates `aggs` over records of T, in order
/// ("count", "sum_price", ...; repeated names get "#2", "#3").
template <class T, class... A>
std::vector<std::string> aggregate_field_names(const A&... aggs) {
  return detail::AggregateList<T, decltype(detail::bind_aggregate<T>(aggs))...>(detail::bind_aggregate<T>(aggs)...)
      .names();
}

/// Number of records; field "count".
inline Count count() { return Count{}; }

/// Sum of `extractor(record)`; field "sum_<field>" ("sum" without a field).
template <class F>
auto sum(std::string field, F extractor) {
  return detail::field_spec<Sum>("sum", std::move(field), std::move(extractor));
}
template <class F>
auto sum(F extractor) {
  return detail::field_spec<Sum>("sum", "", std::move(extractor));
}

/// Arithmetic mean (double); field "avg_<field>".
template <class F>
auto avg(std::string field, F extractor) {
  return detail::field_spec<Avg>("avg", std::move(field), std::move(extractor));
}
template <class F>
auto avg(F extractor) {
  return detail::field_spec<Avg>("avg", "", std::move(extractor));
}

/// Smallest value; field "min_<field>".
template <class F>
auto min(std::string field, F extractor) {
  return detail::field_spec<Min>("min", std::move(field), std::move(extractor));
}
template <class F>
auto min(F extractor) {
  return detail::field_spec<Min>("min", "", std::move(extractor));
}

/// Largest value; field "max_<field>".
template <class F>
auto max(std::string field, F extractor) {
  return detail::field_spec<Max>("max", std::move(field), std::move(extractor));
}
template <class F>
auto max(F extractor) {
  return detail::field_spec<Max>("max", "", std::move(extractor));
}

/// Value of the record with the smallest timestamp; field "first_<field>".
template <class F>
auto first(std::string field, F extractor) {
  return detail::field_spec<First>("first", std::move(field), std::move(extractor));
}
template <class F>
auto first(F extractor) {
  return detail::field_spec<First>("first", "", std::move(extractor));
}

/// Value of the record with the largest timestamp; field "last_<field>".
template <class F>
auto last(std::string field, F extractor) {
  return detail::field_spec<Last>("last", std::move(field), std::move(extractor));
}
template <class F>
auto last(F extractor) {
  return detail::field_spec<Last>("last", "", std::move(extractor));
}

/// Exact number of distinct values (std::uint64_t); field "distinct_<field>".
/// Memory per key and slice grows with the distinct values; see Distinct.
template <class F>
auto distinct(std::string field, F extractor) {
  return detail::field_spec<Distinct>("distinct", std::move(field), std::move(extractor));
}
template <class F>
auto distinct(F extractor) {
  return detail::field_spec<Distinct>("distinct", "", std::move(extractor));
}

/// Approximate number of distinct values (std::uint64_t, HyperLogLog with
/// 2^precision registers, standard error 1.04/sqrt(2^precision): 1.6% at
/// 12); field "approx_distinct_<field>". Throws ConfigError (a GraphError)
/// naming approx_distinct and precision unless 4 <= precision <= 16.
template <class F>
auto approx_distinct(std::string field, F extractor, int precision = 12) {
  detail::validate_hll_precision("approx_distinct", precision);
  return detail::ApproxDistinctSpec<F>{field.empty() ? "approx_distinct" : "approx_distinct_" + field,
                                       std::move(extractor), precision};
}
template <class F>
auto approx_distinct(F extractor, int precision = 12) {
  std::string field;
  if constexpr (requires { extractor.field_name(); }) field = extractor.field_name();
  return approx_distinct(std::move(field), std::move(extractor), precision);
}

/// Every value of the window (std::vector<V>) ordered by timestamp, equal
/// timestamps in arrival order; field "list_<field>". Keeps every value
/// until the window closes (holistic).
template <class F>
auto list(std::string field, F extractor) {
  return detail::field_spec<List>("list", std::move(field), std::move(extractor));
}
template <class F>
auto list(F extractor) {
  return detail::field_spec<List>("list", "", std::move(extractor));
}

}  // namespace sluice
