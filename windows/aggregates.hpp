// Built-in aggregates: count, sum, avg, min, max, first, last.
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
// Floating-point sums are not retracted: subtracting a slice from a running
// double sum leaves rounding residue that grows with the stream.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "streaming/time.hpp"
#include "windows/aggregate.hpp"

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

}  // namespace detail

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
  struct acc_type {
    detail::widened_t<V> sum = 0;
    std::uint64_t count = 0;
  };
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
  struct acc_type {
    V value{};
    bool set = false;
  };
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
  struct acc_type {
    V value{};
    Timestamp ts = 0;
    bool set = false;
  };
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

template <template <class, class> class Agg, class F>
FieldSpec<Agg, F> field_spec(const char* op, std::string field, F f) {
  return FieldSpec<Agg, F>{field.empty() ? std::string(op) : std::string(op) + "_" + field, std::move(f)};
}

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

}  // namespace sluice
