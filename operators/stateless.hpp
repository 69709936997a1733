// Stateless operators: map, filter, flat_map.
//
// Each runs its record loop inline over a batch (the user function is a
// template parameter, so lambdas inline); one virtual call per batch.
// map to the same type and filter work in place, without copying records.
#pragma once

#include "streaming/detail/chained_node.hpp"
#include "streaming/stream.hpp"

namespace sluice {
namespace detail {

template <class In, class Out, class F>
class MapOperator final : public OneInputOperator<In, Out> {
 public:
  MapOperator(OperatorMetrics& m, const F& f) : OneInputOperator<In, Out>(m), f_(f) {}
  void push(Batch<In>& batch) override {
    const std::size_t n = batch.size();
    this->metrics_.records_in.add(n);
    this->metrics_.records_out.add(n);
    if constexpr (std::is_same_v<In, Out> && std::is_move_assignable_v<Out>) {
      for (Record<In>& r : batch) r.value = f_(std::as_const(r.value));
      this->out_.push(batch);
    } else {
      out_buf_.clear();
      out_buf_.reserve(n);
      for (Record<In>& r : batch) out_buf_.push_back(Record<Out>{f_(std::as_const(r.value)), r.ts_us});
      this->out_.push(out_buf_);
    }
  }

 private:
  F f_;
  Batch<Out> out_buf_;
};

template <class In, class Out, class F>
class FilterOperator final : public OneInputOperator<In, In> {
 public:
  FilterOperator(OperatorMetrics& m, const F& f) : OneInputOperator<In, In>(m), f_(f) {}
  void push(Batch<In>& batch) override {
    const std::size_t n = batch.size();
    std::size_t kept = 0;
    if constexpr (std::is_trivially_copyable_v<Record<In>> && sizeof(Record<In>) <= 64) {
      // Branch-free compaction: a filter's outcome is often unpredictable,
      // and a mispredicted branch costs more than copying a small record.
      for (std::size_t i = 0; i < n; ++i) {
        const bool keep = f_(std::as_const(batch[i].value));
        batch[kept] = batch[i];
        kept += keep ? 1 : 0;
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        if (!f_(std::as_const(batch[i].value))) continue;
        if (kept != i) batch[kept] = std::move(batch[i]);
        ++kept;
      }
    }
    batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(kept), batch.end());
    this->metrics_.records_in.add(n);
    this->metrics_.records_out.add(kept);
    this->out_.push(batch);
  }

 private:
  F f_;
};

/// Appends to the operator's output batch with the current input timestamp.
template <class Out>
class BatchCollector final : public Collector<Out> {
 public:
  explicit BatchCollector(Batch<Out>& out) : out_(out) {}
  void emit(Out value) override { out_.push_back(Record<Out>{std::move(value), ts_}); }
  void set_timestamp(Timestamp ts) { ts_ = ts; }

 private:
  Batch<Out>& out_;
  Timestamp ts_ = 0;
};

template <class In, class Out, class F>
class FlatMapOperator final : public OneInputOperator<In, Out> {
 public:
  FlatMapOperator(OperatorMetrics& m, const F& f) : OneInputOperator<In, Out>(m), f_(f), collector_(out_buf_) {}
  void push(Batch<In>& batch) override {
    out_buf_.clear();
    for (Record<In>& r : batch) {
      if constexpr (std::is_invocable_v<F&, const In&, Collector<Out>&>) {
        collector_.set_timestamp(r.ts_us);
        f_(std::as_const(r.value), static_cast<Collector<Out>&>(collector_));
      } else {
        for (auto&& v : f_(std::as_const(r.value))) out_buf_.push_back(Record<Out>{Out(std::move(v)), r.ts_us});
      }
    }
    this->metrics_.records_in.add(batch.size());
    this->metrics_.records_out.add(out_buf_.size());
    this->out_.push(out_buf_);
  }

 private:
  F f_;
  Batch<Out> out_buf_;
  BatchCollector<Out> collector_;
};

}  // namespace detail

template <class T>
template <class F>
auto Stream<T>::map(F f) const -> Stream<std::decay_t<std::invoke_result_t<F&, const T&>>> {
  using Out = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static_assert(!std::is_void_v<Out>, "map(f): f(const T&) must return the new value (use a sink for side effects)");
  return then<Out, detail::ChainedNode<T, Out, detail::MapOperator, F>>("map", std::move(f));
}

template <class T>
template <class F>
Stream<T> Stream<T>::filter(F pred) const {
  static_assert(std::is_invocable_r_v<bool, F&, const T&>, "filter(pred): pred must be callable as bool pred(const T&)");
  return then<T, detail::ChainedNode<T, T, detail::FilterOperator, F>>("filter", std::move(pred));
}

template <class T>
template <class Out, class F>
Stream<Out> Stream<T>::flat_map(F f) const {
  static_assert(std::is_invocable_v<F&, const T&, Collector<Out>&>,
                "flat_map<Out>(f): f must be callable as void f(const T&, Collector<Out>&)");
  return then<Out, detail::ChainedNode<T, Out, detail::FlatMapOperator, F>>("flat_map", std::move(f));
}

template <class T>
template <class F>
auto Stream<T>::flat_map(F f) const
    -> Stream<std::ranges::range_value_t<std::decay_t<std::invoke_result_t<F&, const T&>>>> {
  using Out = std::ranges::range_value_t<std::decay_t<std::invoke_result_t<F&, const T&>>>;
  return then<Out, detail::ChainedNode<T, Out, detail::FlatMapOperator, F>>("flat_map", std::move(f));
}

}  // namespace sluice
