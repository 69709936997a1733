// Runs one worker's sink writer at the end of a chain.
#pragma once

#include "streaming/detail/graph.hpp"
#include "streaming/sink.hpp"

namespace sluice::detail {

/// Feeds a sink writer; counts and reports the watermark.
template <class T>
class SinkOperator final : public Input<T>, public Lifecycle {
 public:
  SinkOperator(std::unique_ptr<SinkWriter<T>> writer, OperatorMetrics& metrics)
      : writer_(std::move(writer)), metrics_(metrics) {}
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
    }
  }
  void close() override { writer_->close(); }
  const std::string& operator_name() const override { return metrics_.name; }

 private:
  std::unique_ptr<SinkWriter<T>> writer_;
  OperatorMetrics& metrics_;
};

template <class T>
class SinkNode final : public Node {
 public:
  SinkNode(int in, std::shared_ptr<Sink<T>> sink, std::string name)
      : Node("sink", std::move(name)), in_(in), sink_(std::move(sink)) {}
  void instantiate(BuildContext& ctx) const override {
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    SinkContext sc{ctx.worker_index(), ctx.settings.workers, name()};
    auto& op = ctx.make<SinkOperator<T>>(sink_->open(sc), m);
    ctx.port<T>(in_).connect(&op);
  }

 private:
  int in_;
  std::shared_ptr<Sink<T>> sink_;
};

}  // namespace sluice::detail
