// The part every single-operator harness of the window tests shares
// (window_harness.hpp, session_harness.hpp, spec_window_harness.hpp): it
// owns one keyed operator over key groups [0, 128), pushes records and
// control messages into it directly, without threads, and collects what it
// emits. Deterministic, so tests can assert exact output sequences (like
// Flink's operator test harnesses). Each harness builds its own operator
// and adds the accessors that operator has.
#pragma once

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "sluice/sluice.hpp"

namespace sluice::testing {

/// Collects what an operator emits: records and watermarks.
template <class T>
class Collect final : public detail::Input<T> {
 public:
  void push(Batch<T>& batch) override {
    for (auto& r : batch) records.push_back(r);
  }
  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) watermarks.push_back(c.ts_us);
  }
  const std::string& operator_name() const override { return name_; }
  /// Records since the last take().
  std::vector<Record<T>> take() { return std::exchange(records, {}); }

  std::vector<Record<T>> records;
  std::vector<Timestamp> watermarks;

 private:
  std::string name_ = "collect";
};

/// The late side output of a window operator, collected.
template <class T>
struct LateOutput {
  OutputTag<T> tag{"late"};
  Collect<T> records;

  /// Routes `op`'s records tagged `tag` to `records`. Before the operator opens.
  template <class Op>
  void connect(Op& op) {
    auto side = std::make_unique<detail::SideOutput<T>>(tag.id());
    side->output().connect(&records);
    op.sides().add(std::move(side));
  }
};

/// The aggregate list that `.aggregate(aggs...)` builds over records T.
template <class T, class... A>
using AggregatesOf = detail::AggregateList<T, decltype(detail::bind_aggregate<T>(std::declval<A>()))...>;

/// The results of `.aggregate(aggs...)` over records T with keys K.
template <class K, class T, class... A>
using WindowResultOf = WindowResult<K, typename AggregatesOf<T, A...>::result_type>;

/// Drives one operator from Keyed<K, T> to Result. A derived harness builds
/// the operator (with `metrics_` and `clock`), connects any side outputs,
/// and hands it to install().
template <class K, class T, class Result>
class KeyedOperatorHarness {
 public:
  using Out = Result;

  /// The key groups [0, kKeyGroups) of the operator, and their count.
  static constexpr std::uint32_t kKeyGroups = 128;
  /// The batch size the operator emits with.
  static constexpr std::size_t kBatchSize = 1024;

  KeyedOperatorHarness(const KeyedOperatorHarness&) = delete;  // outputs point into it
  KeyedOperatorHarness& operator=(const KeyedOperatorHarness&) = delete;

  void add(K key, T value, Timestamp ts) {
    std::vector<std::tuple<K, T, Timestamp>> rs;
    rs.emplace_back(std::move(key), std::move(value), ts);
    add_batch(std::move(rs));
  }
  /// Pushes the records as one batch. An operator that takes records in
  /// place (detail::KeyedInput, as key_by feeds it on one worker) gets every
  /// other batch that way, so both forms run in every test.
  void add_batch(std::vector<std::tuple<K, T, Timestamp>> rs) {
    auto* local = dynamic_cast<detail::KeyedInput<K, T>*>(op_.get());
    if (local != nullptr && batches_++ % 2 == 1) {
      Batch<T> values;
      detail::LocalKeyedBatch<K, T> b;
      b.records = &values;
      for (auto& [k, v, ts] : rs) {
        const std::uint64_t h = hash_key(k);
        values.push_back(Record<T>{std::move(v), ts});
        b.keys.push_back(detail::RecordKey<K>{std::move(k), h, key_group_of(h, kKeyGroups)});
      }
      local->push_local(b);
      return;
    }
    Batch<Keyed<K, T>> b;
    for (auto& [k, v, ts] : rs) b.push_back(record(std::move(k), std::move(v), ts));
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
    life_->on_processing_time(now);
  }

  /// Results since the last take().
  std::vector<Record<Out>> take() { return out_.take(); }
  ManualClock clock{0};

 protected:
  /// `metrics_name`: the operator's name in its metrics.
  explicit KeyedOperatorHarness(std::string metrics_name) { metrics_.name = std::move(metrics_name); }

  /// Takes `op`, connects its main output and opens it. Returns it, for the
  /// accessors of its own type.
  template <class Op>
  Op& install(std::unique_ptr<Op> op) {
    Op& ref = *op;
    ref.output().connect(&out_);
    life_ = &ref;
    op_ = std::move(op);
    ref.open();
    return ref;
  }

  OperatorMetrics metrics_;
  Collect<Out> out_;

 private:
  static Record<Keyed<K, T>> record(K key, T value, Timestamp ts) {
    const std::uint64_t h = hash_key(key);
    return Record<Keyed<K, T>>{Keyed<K, T>{std::move(key), key_group_of(h, kKeyGroups), std::move(value), h}, ts};
  }

  std::unique_ptr<detail::Input<Keyed<K, T>>> op_;
  detail::Lifecycle* life_ = nullptr;
  std::size_t batches_ = 0;
};

/// Prints an aggregate value: ranges (a list aggregate) as "[1 2 3]".
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
    std::apply([&](const auto&... v) { ((os << ' ', show_value(os, v)), ...); }, r.value.values);
    os << " @" << r.ts_us << '\n';
  }
  return os.str();
}

/// Results sorted by window, then key (stable: a window's changelog keeps its order).
template <class Res>
std::vector<Record<Res>> by_window(std::vector<Record<Res>> v) {
  std::stable_sort(v.begin(), v.end(), [](const Record<Res>& a, const Record<Res>& b) {
    return std::tie(a.value.window, a.value.key) < std::tie(b.value.window, b.value.key);
  });
  return v;
}

}  // namespace sluice::testing
