// Drives one SessionWindowOperator instance directly, like WindowHarness
// does for the slicing operator: push records, send watermarks, tick the
// clock, read what came out.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "operator_harness.hpp"

namespace sluice::testing {

/// One SessionWindowOperator over key groups [0, 128).
template <class K, class T, class... A>
class SessionHarness : public KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>> {
  using Base = KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>>;

 public:
  using Aggs = AggregatesOf<T, A...>;
  using Out = typename Base::Out;
  using Op = detail::SessionWindowOperator<K, T, Aggs>;

  SessionHarness(SessionWindows windows, DurationUs lateness_us, A... aggs) : Base("session") {
    windows.validate("window");
    detail::SessionSettings s;
    s.windows = windows;
    s.allowed_lateness_us = lateness_us;
    s.late_tag_id = late_.tag.id();
    auto op = std::make_unique<Op>(Aggs(detail::bind_aggregate<T>(aggs)...), s, this->metrics_, this->clock, 0,
                                   Base::kKeyGroups, Base::kBatchSize);
    late_.connect(*op);
    op_ = &this->install(std::move(op));
  }

  std::vector<Record<T>> take_late() { return late_.records.take(); }
  std::uint64_t late_count() const { return this->metrics_.late_records.get(); }
  std::uint64_t records_out() const { return this->metrics_.records_out.get(); }
  std::size_t key_count() const { return op_->key_count(); }
  std::size_t session_count() const { return op_->session_count(); }
  std::uint64_t evicted() const { return op_->evicted_sessions(); }

 private:
  LateOutput<T> late_;
  Op* op_ = nullptr;  // owned by the base
};

/// A session harness for keys K and records T computing `aggs`.
template <class K, class T, class... A>
SessionHarness<K, T, A...> session_harness(SessionWindows windows, DurationUs lateness_us, A... aggs) {
  return SessionHarness<K, T, A...>(windows, lateness_us, std::move(aggs)...);
}

}  // namespace sluice::testing
