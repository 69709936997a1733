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

#include "operator_harness.hpp"

namespace sluice::testing {

/// One window operator for `Spec` over key groups [0, 128).
template <class K, class T, class Spec, class... A>
class SpecWindowHarness : public KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>> {
  using Base = KeyedOperatorHarness<K, T, WindowResultOf<K, T, A...>>;

 public:
  using Aggs = AggregatesOf<T, A...>;
  using Out = typename Base::Out;
  using Op = typename detail::WindowNodeOf<K, T, Aggs, Spec>::type::operator_type;

  SpecWindowHarness(const Spec& spec, A... aggs) : Base("window") {
    spec.validate("window");
    op_ = &this->install(std::make_unique<Op>(Aggs(detail::bind_aggregate<T>(aggs)...), spec, this->metrics_,
                                              this->clock, 0, Base::kKeyGroups, Base::kBatchSize));
  }

  /// Watermarks the operator forwarded, in order.
  const std::vector<Timestamp>& watermarks() const { return this->out_.watermarks; }
  std::size_t key_count() const { return op_->key_count(); }
  const OperatorMetrics& metrics() const { return this->metrics_; }
  Op& op() { return *op_; }

 private:
  Op* op_ = nullptr;  // owned by the base
};

/// A harness for keys K and records T computing `aggs` over windows `spec`.
template <class K, class T, class Spec, class... A>
SpecWindowHarness<K, T, Spec, A...> spec_window_harness(const Spec& spec, A... aggs) {
  return SpecWindowHarness<K, T, Spec, A...>(spec, std::move(aggs)...);
}

}  // namespace sluice::testing
