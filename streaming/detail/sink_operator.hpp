// Runs one worker's sink writer at the end of a chain.
#pragma once

#include "streaming/detail/graph.hpp"
#include "streaming/sink.hpp"

namespace sluice::detail {

/// Feeds a sink writer; counts and reports the watermark.
template <class T>
class SinkOperator final : public Input<T>, public Lifecycle {
 public:
  SinkOperator(std::unique_ptr<SinkWriter<T>> writer, OperatorMetrics& metrics,
               std::shared_ptr<CheckpointCoordinator> checkpoints)
      : writer_(std::move(writer)),
        metrics_(metrics),
        checkpoints_(std::move(checkpoints)),
        slot_(checkpoints_ ? checkpoints_->add_sink() : 0) {}
  void push(Batch<T>& batch) override {
    metrics_.records_in.add(batch.size());
    writer_->write(batch);
  }
  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) {
      metrics_.watermark_us.set(c.ts_us);
      writer_->on_watermark(c.ts_us);
    } else if (c.kind == Control::Kind::kEndOfInput) {
      writer_->on_end_of_input();
      if (checkpoints_) checkpoints_->sink_ended(slot_);
    } else if (c.kind == Control::Kind::kBarrier) {
      writer_->on_checkpoint_barrier(c.checkpoint_id);
      if (checkpoints_) checkpoints_->acknowledge(slot_, c.checkpoint_id);
    }
  }
  void close() override { writer_->close(); }
  const std::string& operator_name() const override { return metrics_.name; }

 private:
  std::unique_ptr<SinkWriter<T>> writer_;
  OperatorMetrics& metrics_;
  std::shared_ptr<CheckpointCoordinator> checkpoints_;
  std::size_t slot_;  // this instance's place in the coordinator
};

template <class T>
class SinkNode final : public Node {
 public:
  SinkNode(int in, std::shared_ptr<Sink<T>> sink, std::string name)
      : Node("sink", std::move(name)), in_(in), sink_(std::move(sink)) {}
  void instantiate(BuildContext& ctx) const override {
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    SinkContext sc{ctx.worker_index(), ctx.settings.workers, name()};
    auto& op = ctx.make<SinkOperator<T>>(sink_->open(sc), m, ctx.shared.checkpoints);
    ctx.port<T>(in_).connect(&op);
  }

 private:
  int in_;
  std::shared_ptr<Sink<T>> sink_;
};

}  // namespace sluice::detail
