// The aggregate function contract, and several aggregates computed together.
//
// An aggregate folds the records of one window into an accumulator and
// turns it into a result. Window operators keep one accumulator per key and
// *slice* (a stretch of time shared by overlapping windows) and combine
// slices into windows with `merge`, so an aggregate must provide:
//
//   struct MyAgg {
//     using acc_type = ...;                        // default-constructible, copyable
//     acc_type create() const;                     // the empty accumulator
//     void add(acc_type&, const T& value, Timestamp ts) const;   // or add(acc_type&, const T&)
//     void merge(acc_type& into, const acc_type& from) const;    // into := into + from
//     R result(const acc_type&) const;             // R: the output value
//     // optional:
//     std::string name() const;                    // output field name ("sum_amount")
//     void retract(acc_type& acc, const acc_type& part) const;   // undo merge(acc, part), exactly
//     static constexpr bool holistic = true;       // accumulators grow with the input (lists):
//                                                  //   windows merge slices on demand instead of
//                                                  //   keeping partial merges
//     void check_restored(const acc_type&) const;  // throws StateFormatError when an accumulator
//   };                                             //   read from a checkpoint does not fit this
//                                                  //   aggregate (a sketch of another precision)
//
// Checkpoints write accumulators with `Serde<acc_type>` (streaming/serde.hpp),
// so acc_type must be Serializable for a window's state to be saved: the
// built-in aggregates' are, and so is AggregateList's tuple when its parts
// are. After reading one back, call check_restored.
//
// `merge` must be associative; the window operator merges slices in time
// order, `from` always covering later slices than `into`. On several
// workers, tumbling and sliding windows also merge partial accumulators of
// the same slice that different workers computed, in arrival order
// (windows/local_aggregation.hpp); `.local_aggregation(false)` on the
// windowed stream keeps an aggregate to whole slices. With `retract`, a
// sliding window keeps one running accumulator per key and subtracts the
// slice that leaves it; without, it keeps partial merges (two stacks), so
// either way the cost per record does not grow with size/slide.
#pragma once

#include <concepts>
#include <cstddef>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "streaming/time.hpp"

namespace sluice {

template <class A, class T>
concept AggregateFunction =
    requires(const A& a, typename A::acc_type& acc, const typename A::acc_type& part) {
      { a.create() } -> std::convertible_to<typename A::acc_type>;
      a.merge(acc, part);
      a.result(part);
    } && (requires(const A& a, typename A::acc_type& acc, const T& v, Timestamp ts) { a.add(acc, v, ts); } ||
          requires(const A& a, typename A::acc_type& acc, const T& v) { a.add(acc, v); });

/// An aggregate whose merge can be undone exactly (counts, integer sums).
template <class A>
concept RetractableAggregate = requires(const A& a, typename A::acc_type& acc, const typename A::acc_type& part) {
  a.retract(acc, part);
};

/// An aggregate whose accumulator keeps every input (lists).
template <class A>
concept HolisticAggregate = requires {
  requires A::holistic;
};

namespace detail {

template <class A, class T>
void add_value(const A& a, typename A::acc_type& acc, const T& v, Timestamp ts) {
  if constexpr (requires { a.add(acc, v, ts); })
    a.add(acc, v, ts);
  else
    a.add(acc, v);
}

template <class A>
using aggregate_result_t =
    std::decay_t<decltype(std::declval<const A&>().result(std::declval<const typename A::acc_type&>()))>;

/// Several aggregates over T, computed together: one accumulator tuple, one
/// result tuple, field names in order.
template <class T, class... A>
class AggregateList {
 public:
  using acc_type = std::tuple<typename A::acc_type...>;
  using result_type = std::tuple<aggregate_result_t<A>...>;
  static constexpr bool retractable = (RetractableAggregate<A> && ...);
  static constexpr bool holistic = (HolisticAggregate<A> || ...);

  explicit AggregateList(A... aggs) : aggs_(std::move(aggs)...) {}

  acc_type create() const {
    return std::apply([](const auto&... a) { return acc_type(a.create()...); }, aggs_);
  }
  void add(acc_type& acc, const T& v, Timestamp ts) const {
    each(acc, [&](const auto& a, auto& x) { add_value(a, x, v, ts); });
  }
  void merge(acc_type& into, const acc_type& from) const {
    each2(into, from, [](const auto& a, auto& x, const auto& y) { a.merge(x, y); });
  }
  void retract(acc_type& acc, const acc_type& part) const
    requires retractable
  {
    each2(acc, part, [](const auto& a, auto& x, const auto& y) { a.retract(x, y); });
  }
  /// Calls check_restored(part) of every aggregate that has one, on its
  /// part of `acc`: throws StateFormatError for an accumulator read from a
  /// checkpoint that does not fit its aggregate.
  void check_restored(const acc_type& acc) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (check_one(std::get<I>(aggs_), std::get<I>(acc)), ...);
    }(std::index_sequence_for<A...>{});
  }
  result_type result(const acc_type& acc) const {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      return result_type(std::get<I>(aggs_).result(std::get<I>(acc))...);
    }(std::index_sequence_for<A...>{});
  }
  /// Output field names: each aggregate's name(), or "agg<i>" without one.
  /// Duplicates get "#2", "#3" appended so names stay unique.
  std::vector<std::string> names() const {
    std::vector<std::string> base;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (base.push_back(name_of(std::get<I>(aggs_), I)), ...);
    }(std::index_sequence_for<A...>{});
    std::vector<std::string> out = base;
    for (std::size_t i = 0; i < base.size(); ++i) {
      int earlier = 0;
      for (std::size_t j = 0; j < i; ++j) earlier += base[j] == base[i] ? 1 : 0;
      if (earlier > 0) out[i] += "#" + std::to_string(earlier + 1);
    }
    return out;
  }

 private:
  template <class Agg, class Acc>
  static void check_one(const Agg& a, const Acc& acc) {
    if constexpr (requires { a.check_restored(acc); }) a.check_restored(acc);
  }
  template <class Agg>
  static std::string name_of(const Agg& a, std::size_t i) {
    if constexpr (requires { a.name(); })
      return std::string(a.name());
    else
      return "agg" + std::to_string(i);
  }
  template <class F>
  void each(acc_type& acc, F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(aggs_), std::get<I>(acc)), ...);
    }(std::index_sequence_for<A...>{});
  }
  template <class F>
  void each2(acc_type& x, const acc_type& y, F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(aggs_), std::get<I>(x), std::get<I>(y)), ...);
    }(std::index_sequence_for<A...>{});
  }

  std::tuple<A...> aggs_;
};

}  // namespace detail
}  // namespace sluice
