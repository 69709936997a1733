// Drives one window operator of time windows directly, without threads:
// push records, send watermarks, tick the clock, read what came out,
// including the late side output.
#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "operator_harness.hpp"

namespace sluice::testing {

/// One window operator over key groups [0, 128): the slicing operator, or
/// the pane operator when the windows emit early (as WindowNode picks).
template <class K, class T, class... A>
class WindowHarness : public KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>> {
  using Base = KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>>;

 public:
  using Aggs = AggregatesOf<T, A...>;
  using Out = typename Base::Out;
  using Slicing = detail::SlicingWindowOperator<K, T, Aggs>;
  using Pane = detail::PaneWindowOperator<K, T, Aggs>;

  WindowHarness(TimeWindows windows, DurationUs lateness_us, A... aggs) : Base("window") {
    detail::WindowSettings s;
    s.windows = windows;
    s.allowed_lateness_us = lateness_us;
    s.late_tag_id = late_.tag.id();
    Aggs list(detail::bind_aggregate<T>(aggs)...);
    if (windows.emit.kind == EmitPolicy::Kind::kAtEnd) {
      install_with_late_output(std::make_unique<Slicing>(list, s, this->metrics_, this->clock, 0, Base::kKeyGroups,
                                                         Base::kKeyGroups, Base::kBatchSize));
    } else {
      install_with_late_output(std::make_unique<Pane>(list, windows, lateness_us, late_.tag.id(), this->metrics_,
                                                      this->clock, 0, Base::kKeyGroups, Base::kBatchSize));
    }
  }

  std::vector<Record<T>> take_late() { return late_.records.take(); }
  std::uint64_t late_count() const { return this->metrics_.late_records.get(); }
  std::size_t key_count() const { return key_count_(); }

 private:
  template <class Op>
  void install_with_late_output(std::unique_ptr<Op> op) {
    late_.connect(*op);
    // Slicing and Pane share no base with key_count().
    key_count_ = [p = op.get()] { return p->key_count(); };
    this->install(std::move(op));
  }

  LateOutput<T> late_;
  std::function<std::size_t()> key_count_;
};

/// A harness for keys K and records T computing `aggs`.
template <class K, class T, class... A>
WindowHarness<K, T, A...> window_harness(TimeWindows windows, DurationUs lateness_us, A... aggs) {
  return WindowHarness<K, T, A...>(windows, lateness_us, std::move(aggs)...);
}

}  // namespace sluice::testing
