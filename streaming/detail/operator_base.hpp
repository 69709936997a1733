// Base of single-input, single-output operator instances.
//
// Control messages pass straight through: the operator sees a watermark (its
// hook runs first, so timers fire and results go out before the watermark
// that caused them) and then forwards it.
#pragma once

#include "streaming/dataflow.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/metrics.hpp"

namespace sluice::detail {

template <class In, class Out>
class OneInputOperator : public Input<In>, public Lifecycle {
 public:
  explicit OneInputOperator(OperatorMetrics& metrics) : metrics_(metrics) {}

  Output<Out>& output() { return out_; }

  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) {
      on_watermark(c.ts_us);
      metrics_.watermark_us.set(c.ts_us);
    } else if (c.kind == Control::Kind::kEndOfInput) {
      on_end_of_input();
    }
    out_.control(c);
  }
  void reachable_gates(std::vector<FlowGate*>& out) override { reachable_more(out); }
  const std::string& operator_name() const override { return metrics_.name; }

 protected:
  /// The watermark advanced to `wm`; emit whatever it completes.
  virtual void on_watermark(Timestamp wm) {}
  /// No more input; flush. (A final watermark of +inf came just before.)
  virtual void on_end_of_input() {}
  /// Operators with side outputs add those outputs' senders too.
  virtual void reachable_more(std::vector<FlowGate*>& out) { out_.reachable_gates(out); }

  Output<Out> out_;
  OperatorMetrics& metrics_;
};

}  // namespace sluice::detail
