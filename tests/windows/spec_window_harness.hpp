// Drives one instance of the window operator of any window spec (count
// windows, global windows with a trigger, ...) directly, without threads:
// the sibling of window_harness.hpp, which drives the slicing operator of
// time windows with its late output. The operator is the one
// `.window(spec).aggregate(aggs...)` would build.
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "window_harness.hpp"

namespace sluice::testing {

/// One window operator for `Spec` over key groups [0, 128).
template <class K, class T, class Spec, class... A>
class SpecWindowHarness {
 public:
  using Aggs = detail::AggregateList<T, decltype(detail::bind_aggregate<T>(std::declval<A>()))...>;
  using Out = WindowResult<K, typename Aggs::result_type>;
  using Op = typename detail::WindowNodeOf<K, T, Aggs, Spec>::type::operator_type;

  SpecWindowHarness(const Spec& spec, A... aggs) {
    spec.validate("window");
    metrics_.name = "window";
    op_ = std::make_unique<Op>(Aggs(detail::bind_aggregate<T>(aggs)...), spec, metrics_, clock, 0, 128, 1024);
    op_->output().connect(&out_);
    op_->open();
  }

  SpecWindowHarness(const SpecWindowHarness&) = delete;  // outputs point into it
  SpecWindowHarness& operator=(const SpecWindowHarness&) = delete;

  void add(K key, T value, Timestamp ts) {
    Batch<Keyed<K, T>> b;
    b.push_back(record(std::move(key), std::move(value), ts));
    op_->push(b);
  }
  void add_batch(std::vector<std::tuple<K, T, Timestamp>> rs) {
    Batch<Keyed<K, T>> b;
    for (auto& [k, v, ts] : rs) b.push_back(record(k, v, ts));
    op_->push(b);
  }
  void watermark(Timestamp wm) { op_->control(Control::watermark(wm)); }
  /// What a source sends at its end: watermark +inf, then end of input.
  void end_of_input() {
    op_->control(Control::watermark(kMaxTimestamp));
    op_->control(Control::end_of_input());
  }
  /// Sets the clock to `now` and lets the operator fire processing-time timers.
  void tick(Timestamp now) {
    clock.set(now);
    op_->on_processing_time(now);
  }

  std::vector<Record<Out>> take() { return out_.take(); }
  /// Watermarks the operator forwarded, in order.
  const std::vector<Timestamp>& watermarks() const { return out_.watermarks; }
  std::size_t key_count() const { return op_->key_count(); }
  const OperatorMetrics& metrics() const { return metrics_; }
  Op& op() { return *op_; }
  ManualClock clock{0};

 private:
  static Record<Keyed<K, T>> record(K key, T value, Timestamp ts) {
    const std::uint64_t h = hash_key(key);
    return Record<Keyed<K, T>>{Keyed<K, T>{std::move(key), key_group_of(h, 128), std::move(value), h}, ts};
  }

  OperatorMetrics metrics_;
  std::unique_ptr<Op> op_;
  Collect<Out> out_;
};

namespace detail_show {
template <class V>
void show_value(std::ostream& os, const V& v) {
  if constexpr (requires { v.begin(); v.end(); } && !std::is_same_v<V, std::string>) {
    os << '[';
    bool first = true;
    for (const auto& e : v) {
      os << (first ? "" : " ") << e;
      first = false;
    }
    os << ']';
  } else {
    os << v;
  }
}
}  // namespace detail_show

/// Window results, one per line: "+I a [0, 3) = 3 6 @5" (kind, key, window,
/// values, record timestamp), for exact comparisons with readable diffs.
template <class Res>
std::string show(const std::vector<Record<Res>>& rs) {
  std::ostringstream os;
  for (const auto& r : rs) {
    os << to_string(r.value.kind) << ' ' << r.value.key << ' ';
    if (r.value.window == TimeWindow{kMinTimestamp, kMaxTimestamp})
      os << "global";
    else
      os << r.value.window;
    os << " =";
    std::apply([&](const auto&... v) { ((os << ' ', detail_show::show_value(os, v)), ...); }, r.value.values);
    os << " @" << r.ts_us << '\n';
  }
  return os.str();
}

/// A harness for keys K and records T computing `aggs` over windows `spec`.
template <class K, class T, class Spec, class... A>
SpecWindowHarness<K, T, Spec, A...> spec_window_harness(const Spec& spec, A... aggs) {
  return SpecWindowHarness<K, T, Spec, A...>(spec, std::move(aggs)...);
}

}  // namespace sluice::testing
