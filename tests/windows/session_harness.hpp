// Drives one SessionWindowOperator instance directly, like WindowHarness
// does for the slicing operator: push records, send watermarks, tick the
// clock, read what came out.
#pragma once

#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "window_harness.hpp"

namespace sluice::testing {

/// One SessionWindowOperator over key groups [0, 128).
template <class K, class T, class... A>
class SessionHarness {
 public:
  using Aggs = detail::AggregateList<T, decltype(detail::bind_aggregate<T>(std::declval<A>()))...>;
  using Out = WindowResult<K, typename Aggs::result_type>;
  using Op = detail::SessionWindowOperator<K, T, Aggs>;

  SessionHarness(SessionWindows windows, DurationUs lateness_us, A... aggs) : late_tag_("late") {
    windows.validate("window");
    detail::SessionSettings s;
    s.windows = windows;
    s.allowed_lateness_us = lateness_us;
    s.late_tag_id = late_tag_.id();
    metrics_.name = "session";
    op_ = std::make_unique<Op>(Aggs(detail::bind_aggregate<T>(aggs)...), s, metrics_, clock, 0, 128, 1024);
    auto side = std::make_unique<detail::SideOutput<T>>(late_tag_.id());
    side->output().connect(&late_);
    op_->sides().add(std::move(side));
    op_->output().connect(&out_);
    op_->open();
  }

  SessionHarness(const SessionHarness&) = delete;  // outputs point into it
  SessionHarness& operator=(const SessionHarness&) = delete;

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
    op_->on_processing_time(now);
  }

  std::vector<Record<Out>> take() { return out_.take(); }
  std::vector<Record<T>> take_late() { return late_.take(); }
  std::uint64_t late_count() const { return metrics_.late_records.get(); }
  std::uint64_t records_out() const { return metrics_.records_out.get(); }
  std::size_t key_count() const { return op_->key_count(); }
  std::size_t session_count() const { return op_->session_count(); }
  std::uint64_t evicted() const { return op_->evicted_sessions(); }
  ManualClock clock{0};

 private:
  static Record<Keyed<K, T>> record(K key, T value, Timestamp ts) {
    const std::uint64_t h = hash_key(key);
    return Record<Keyed<K, T>>{Keyed<K, T>{std::move(key), key_group_of(h, 128), std::move(value), h}, ts};
  }

  OutputTag<T> late_tag_;
  OperatorMetrics metrics_;
  std::unique_ptr<Op> op_;
  Collect<Out> out_;
  Collect<T> late_;
};

/// A session harness for keys K and records T computing `aggs`.
template <class K, class T, class... A>
SessionHarness<K, T, A...> session_harness(SessionWindows windows, DurationUs lateness_us, A... aggs) {
  return SessionHarness<K, T, A...>(windows, lateness_us, std::move(aggs)...);
}

}  // namespace sluice::testing
