// Drives one window operator instance directly, without threads: push
// records, send watermarks, read what came out. Deterministic, so tests can
// assert exact output sequences (like Flink's operator test harnesses).
#pragma once

#include <functional>
#include <memory>
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

/// One window operator over key groups [0, 128): the slicing operator, or
/// the pane operator when the windows emit early (as WindowNode picks).
template <class K, class T, class... A>
class WindowHarness {
 public:
  using Aggs = detail::AggregateList<T, decltype(detail::bind_aggregate<T>(std::declval<A>()))...>;
  using Out = WindowResult<K, typename Aggs::result_type>;
  using Slicing = detail::SlicingWindowOperator<K, T, Aggs>;
  using Pane = detail::PaneWindowOperator<K, T, Aggs>;

  WindowHarness(TimeWindows windows, DurationUs lateness_us, A... aggs)
      : late_tag_("late") {
    detail::WindowSettings s;
    s.windows = windows;
    s.allowed_lateness_us = lateness_us;
    s.late_tag_id = late_tag_.id();
    metrics_.name = "window";
    Aggs list(detail::bind_aggregate<T>(aggs)...);
    if (windows.emit.kind == EmitPolicy::Kind::kAtEnd) {
      auto op = std::make_unique<Slicing>(list, s, metrics_, clock, 0, 128, 1024);
      key_count_ = [p = op.get()] { return p->key_count(); };
      wire(*op);
      op_ = std::move(op);
    } else {
      auto op = std::make_unique<Pane>(list, windows, lateness_us, late_tag_.id(), metrics_, clock, 0, 128, 1024);
      key_count_ = [p = op.get()] { return p->key_count(); };
      wire(*op);
      op_ = std::move(op);
    }
    life_ = dynamic_cast<detail::Lifecycle*>(op_.get());
    life_->open();
  }

  WindowHarness(const WindowHarness&) = delete;  // outputs point into it
  WindowHarness& operator=(const WindowHarness&) = delete;

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
  void end_of_input() {
    op_->control(Control::watermark(kMaxTimestamp));
    op_->control(Control::end_of_input());
  }
  void tick(Timestamp now) {
    clock.set(now);
    life_->on_processing_time(now);
  }

  std::vector<Record<Out>> take() { return out_.take(); }
  std::vector<Record<T>> take_late() { return late_.take(); }
  std::uint64_t late_count() const { return metrics_.late_records.get(); }
  std::size_t key_count() const { return key_count_(); }
  ManualClock clock{0};

 private:
  static Record<Keyed<K, T>> record(K key, T value, Timestamp ts) {
    const std::uint64_t h = hash_key(key);
    return Record<Keyed<K, T>>{Keyed<K, T>{std::move(key), key_group_of(h, 128), std::move(value), h}, ts};
  }

  OutputTag<T> late_tag_;
  OperatorMetrics metrics_;
  template <class Op>
  void wire(Op& op) {
    auto side = std::make_unique<detail::SideOutput<T>>(late_tag_.id());
    side->output().connect(&late_);
    op.sides().add(std::move(side));
    op.output().connect(&out_);
  }

  std::unique_ptr<detail::Input<Keyed<K, T>>> op_;
  detail::Lifecycle* life_ = nullptr;
  std::function<std::size_t()> key_count_;
  Collect<Out> out_;
  Collect<T> late_;
};

/// A harness for keys K and records T computing `aggs`.
template <class K, class T, class... A>
WindowHarness<K, T, A...> window_harness(TimeWindows windows, DurationUs lateness_us, A... aggs) {
  return WindowHarness<K, T, A...>(windows, lateness_us, std::move(aggs)...);
}

}  // namespace sluice::testing
