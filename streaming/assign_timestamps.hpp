// The operator behind `assign_timestamps`: sets each record's event
// timestamp from the record.
//
// This is where user code decides timestamps, so it is one of the places
// that enforce the valid range (streaming/time.hpp): a record whose
// timestamp falls outside ±2^62 µs becomes a dead letter ("timestamp out of
// range", on `stream.dead_letters()` of this stream, counted) instead of
// flowing on into window arithmetic. The dead letter's source is this
// operator's name, its position the record's 1-based number among those this
// worker's instance saw, and `raw` is empty (a typed record has no text). The per-record cost is one unsigned
// compare; bad records are taken out of the batch only when there are any.
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "streaming/detail/graph.hpp"
#include "streaming/detail/operator_base.hpp"
#include "streaming/detail/source_task.hpp"
#include "streaming/side_output.hpp"
#include "streaming/stream.hpp"

namespace sluice {
namespace detail {

template <class T, class F>
class AssignTimestampsOperator final : public OneInputOperator<T, T> {
 public:
  AssignTimestampsOperator(OperatorMetrics& m, const F& f) : OneInputOperator<T, T>(m), f_(f) {}

  SideOutputs& sides() { return sides_; }

  void push(Batch<T>& batch) override {
    this->metrics_.records_in.add(batch.size());
    bool any_invalid = false;
    for (Record<T>& r : batch) {
      r.ts_us = f_(r.value);
      any_invalid |= !is_valid_timestamp(r.ts_us);
    }
    if (any_invalid) [[unlikely]] take_out_invalid(batch);
    seen_ += batch.size() + dead_in_batch_;
    dead_in_batch_ = 0;
    this->metrics_.records_out.add(batch.size());
    this->out_.push(batch);
  }

  void control(const Control& c) override {
    OneInputOperator<T, T>::control(c);
    sides_.control(c);
  }

 private:
  void reachable_more(std::vector<FlowGate*>& out) override {
    this->out_.reachable_gates(out);
    sides_.reachable_gates(out);
  }

  /// Moves records with timestamps outside the valid range to the dead
  /// letters; the position is the record's 1-based number on this worker.
  void take_out_invalid(Batch<T>& batch) {
    SideOutput<DeadLetter>* side = sides_.find<DeadLetter>(dead_letter_tag().id());
    std::size_t kept = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (is_valid_timestamp(batch[i].ts_us)) {
        if (kept != i) batch[kept] = std::move(batch[i]);
        ++kept;
        continue;
      }
      ++dead_in_batch_;
      ++dead_count_;
      DeadLetter d{timestamp_out_of_range(batch[i].ts_us), this->metrics_.name,
                   static_cast<std::int64_t>(seen_ + i + 1), ""};
      if (side != nullptr && side->output().connected()) {
        side->emit(std::move(d), 0);
      } else {
        log_unconsumed_dead_letter(d, dead_count_);
      }
    }
    this->metrics_.dead_letters.add(batch.size() - kept);
    batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(kept), batch.end());
    sides_.flush();
  }

  F f_;
  SideOutputs sides_;
  std::uint64_t seen_ = 0;           // records before this batch
  std::uint64_t dead_in_batch_ = 0;  // of the batch being pushed
  std::uint64_t dead_count_ = 0;
};

template <class T, class F>
class AssignTimestampsNode final : public Node {
 public:
  AssignTimestampsNode(int in, int out, F fn) : Node("assign_timestamps", ""), in_(in), out_(out), fn_(std::move(fn)) {}
  bool has_side_outputs() const override { return true; }

  void instantiate(BuildContext& ctx) const override {
    auto& op = ctx.make<AssignTimestampsOperator<T, F>>(ctx.metrics.add_operator(name(), kind()), fn_);
    make_side_outputs(ctx, op.sides());
    ctx.port<T>(in_).connect(&op);
    ctx.set_port<T>(out_, op.output());
  }

 private:
  int in_, out_;
  F fn_;
};

}  // namespace detail

template <class T>
template <class F>
Stream<T> Stream<T>::assign_timestamps(F f) const {
  static_assert(std::is_invocable_r_v<Timestamp, F&, const T&>,
                "assign_timestamps(f): f must be callable as Timestamp f(const T&) (µs since epoch)");
  return then<T, detail::AssignTimestampsNode<T, F>>(std::move(f));
}

}  // namespace sluice
