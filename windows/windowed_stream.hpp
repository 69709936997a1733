// Windowed aggregation: the fluent API.
//
//   OutputTag<Bid> late("late bids");
//   auto per_second = bids.key_by([](const Bid& b) { return b.auction; })
//                         .window(tumbling(1s))
//                         .allowed_lateness(5s)          // optional: corrections
//                         .late_data(late)               // optional: records beyond it
//                         .aggregate(count(), sum("price", &Bid::price));
//   // per_second: Stream<WindowResult<uint64_t, std::tuple<uint64_t, uint64_t>>>
//   per_second.side_output(late).sink(...);
//
// Each result carries the key, the window, the aggregate values (a tuple in
// the order given; `r.get<1>()`) and a ChangeKind. `field_names()` on the
// windowed stream lists the values' names ("count", "sum_price").
//
// Without a key, `bids.window_all(tumbling(1s)).aggregate(count())` windows
// the whole stream on one worker; its results carry the key NoKey{}.
#pragma once

#include <chrono>
#include <optional>
#include <type_traits>
#include <string>
#include <vector>

#include "operators/key_by.hpp"
#include "streaming/errors.hpp"
#include "streaming/side_output.hpp"
#include "streaming/stream.hpp"
#include "windows/aggregate.hpp"
#include "windows/aggregates.hpp"
#include "windows/assigners.hpp"
#include "windows/window.hpp"
#include "windows/count_window_operator.hpp"
#include "windows/global_window_operator.hpp"
#include "windows/local_aggregation.hpp"
#include "windows/session_window_operator.hpp"
#include "windows/window_operator.hpp"

namespace sluice {

/// A keyed stream with a window spec (windows/assigners.hpp), waiting for
/// its aggregates.
template <class K, class T, class Spec>
class WindowedStream {
 public:
  WindowedStream(Stream<Keyed<K, T>> routed, Spec spec) : routed_(std::move(routed)), spec_(std::move(spec)) {
    spec_.validate("window");
  }

  /// Keeps window state `lateness` past each window's end: records that
  /// arrive within it still count, and each window they change emits a
  /// correction (kUpdateBefore / kUpdateAfter; for sessions whose bounds
  /// change, kDelete of the old session and kInsert of the new). Event-time
  /// windows only.
  template <class Rep, class Period>
  WindowedStream allowed_lateness(std::chrono::duration<Rep, Period> lateness) const {
    const DurationUs us = to_us(lateness);
    if (us < 0) throw GraphError("window", "allowed_lateness", "must not be negative, got " + std::to_string(us) + " us");
    if (us > kMaxLatenessUs) throw GraphError("window", "allowed_lateness", "must be at most 2^60 us");
    if (!spec_.has_late_records())
      throw GraphError("window", "allowed_lateness", spec_.kind_name() + " windows have no late records");
    WindowedStream w = *this;
    w.late_.allowed_lateness_us = us;
    return w;
  }

  /// Sends records that arrive after every window holding them is closed
  /// (past end + allowed lateness) to side output `tag` of the result
  /// stream: `results.side_output(tag)`. Without it they are dropped; either
  /// way they are counted in the operator's late_records metric.
  WindowedStream late_data(const OutputTag<T>& tag) const {
    if (!spec_.has_late_records())
      throw GraphError("window", "late_data", spec_.kind_name() + " windows have no late records");
    WindowedStream w = *this;
    w.late_.late_tag_id = tag.id();
    return w;
  }

  /// With several workers, tumbling and sliding event-time windows first
  /// aggregate on the worker that reads each record and move only partial
  /// aggregates to the key's worker (windows/local_aggregation.hpp says when
  /// it applies and what changes). On by default; off keeps one step: every
  /// record moves to its key's worker (for an aggregate whose merge must see
  /// slices whole and in time order).
  WindowedStream local_aggregation(bool enabled) const {
    WindowedStream w = *this;
    w.local_aggregation_ = enabled;
    return w;
  }

  /// Computes `aggs` (count(), sum(...), ... or your own; see
  /// windows/aggregate.hpp) per key and window.
  template <class... A>
  auto aggregate(A... aggs) const {
    static_assert(sizeof...(A) > 0, "aggregate(...) needs at least one aggregate, e.g. count()");
    using Aggs = detail::AggregateList<T, decltype(detail::bind_aggregate<T>(aggs))...>;
    static_assert((AggregateFunction<decltype(detail::bind_aggregate<T>(aggs)), T> && ...),
                  "every aggregate needs create(), add(acc, const T&[, ts]), merge(acc, acc) and result(acc); "
                  "see windows/aggregate.hpp");
    using Out = WindowResult<K, typename Aggs::result_type>;
    using Node = typename detail::WindowNodeOf<K, T, Aggs, Spec>::type;
    Aggs list(detail::bind_aggregate<T>(aggs)...);
    std::optional<Stream<Out>> local_global;
    if constexpr (std::is_same_v<Spec, TimeWindows> && !Aggs::holistic) {
      if (const auto* keys = local_global_source()) {
        const int in = keys->input_port();
        const Stream<T> input(routed_.graph(), routed_.graph()->producer(in), in);
        local_global = input.template then<Out, detail::LocalGlobalWindowNode<K, T, Aggs>>(keys, list, spec_);
      }
    }
    Stream<Out> out = local_global ? *local_global : routed_.template then<Out, Node>(std::move(list), spec_, late_);
    // Without watermarks an event-time window fires only at end of input and
    // keeps all its state until then; the job checks this when it starts,
    // once the stream has its final name.
    if constexpr (requires { spec_.time; }) {
      if (spec_.time == WindowTime::kEventTime)
        out.graph()->node(out.node_id()).require_watermarks("window uses event time", ", or use .processing_time()");
    }
    return out;
  }

  /// Output field names of aggregate(aggs...), in order.
  template <class... A>
  static std::vector<std::string> field_names(const A&... aggs) {
    return aggregate_field_names<T>(aggs...);
  }

  const Spec& spec() const { return spec_; }

 private:
  /// The key_by whose input a local-global window reads, if this window
  /// qualifies (windows/local_aggregation.hpp).
  const detail::KeySource<K, T>* local_global_source() const {
    if constexpr (std::is_same_v<Spec, TimeWindows>) {
      if (!local_aggregation_ || spec_.time != WindowTime::kEventTime || spec_.emit.kind != EmitPolicy::Kind::kAtEnd ||
          late_.allowed_lateness_us != 0 || late_.late_tag_id != 0)
        return nullptr;
      return dynamic_cast<const detail::KeySource<K, T>*>(&routed_.graph()->node(routed_.node_id()));
    }
    return nullptr;
  }

  static constexpr DurationUs kMaxLatenessUs = DurationUs{1} << 60;
  Stream<Keyed<K, T>> routed_;
  Spec spec_;
  detail::LateSettings late_;
  bool local_aggregation_ = true;
};

template <class K, class T>
template <class Spec>
WindowedStream<K, T, Spec> KeyedStream<K, T>::window(const Spec& spec) const {
  return WindowedStream<K, T, Spec>(routed_, spec);
}

template <class T>
template <class Spec>
WindowedStream<NoKey, T, Spec> Stream<T>::window_all(const Spec& spec) const {
  return key_by([](const T&) { return NoKey{}; }).name(graph_->unique_name("window_all")).window(spec);
}

}  // namespace sluice
