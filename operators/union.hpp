// union_with: merge streams of the same type on each worker.
//
// Records pass straight through; control messages of the inputs are combined
// by a watermark valve (minimum over the inputs, idle inputs left out, end of
// input once every input ended). Checkpoint barriers are aligned
// (streaming/barrier_aligner.hpp): records reaching an input that already
// delivered barrier n are held until every input did, and that input is a
// flow gate holding back the task feeding it meanwhile.
#pragma once

#include <memory>
#include <vector>

#include "streaming/barrier_aligner.hpp"
#include "streaming/detail/held_messages.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/stream.hpp"
#include "streaming/watermark_valve.hpp"

namespace sluice {
namespace detail {

template <class T>
class UnionOperator final : public Lifecycle {
 public:
  UnionOperator(std::size_t inputs, OperatorMetrics& metrics)
      : valve_(inputs), aligner_(inputs), held_(inputs), metrics_(metrics) {
    for (std::size_t i = 0; i < inputs; ++i) inputs_.push_back(std::make_unique<Side>(*this, i));
  }
  Input<T>& input(std::size_t i) { return *inputs_[i]; }
  Output<T>& output() { return out_; }

 private:
  class Side final : public Input<T>, public FlowGate {
   public:
    Side(UnionOperator& op, std::size_t index) : op_(op), index_(index) {}
    void push(Batch<T>& batch) override {
      op_.metrics_.records_in.add(batch.size());
      if (op_.aligner_.blocked(index_) || !op_.held_[index_].empty()) [[unlikely]] return op_.held_[index_].hold(batch);
      op_.forward(batch);
    }
    void control(const Control& c) override {
      // Held in order with the records while this input waits for an
      // alignment (e.g. a periodic watermark).
      if (op_.aligner_.blocked(index_) || !op_.held_[index_].empty()) [[unlikely]] return op_.held_[index_].hold(c);
      deliver_control(c);
    }
    void deliver_control(const Control& c) {
      if (c.kind == Control::Kind::kBarrier) {
        if (op_.aligner_.on_barrier(index_, c.checkpoint_id)) op_.release(c.checkpoint_id);
        return;
      }
      if (c.kind == Control::Kind::kEndOfInput && op_.aligner_.on_end_of_input(index_))
        op_.release(op_.aligner_.completed_id());
      op_.valve_.on_control(index_, c, [&](const Control& out) {
        if (out.kind == Control::Kind::kWatermark) op_.metrics_.watermark_us.set(out.ts_us);
        op_.out_.control(out);
      });
    }
    void reachable_gates(std::vector<FlowGate*>& out) override {
      out.push_back(this);
      op_.out_.reachable_gates(out);
    }
    bool holds_back() const override { return op_.aligner_.blocked(index_); }
    const std::string& operator_name() const override { return op_.metrics_.name; }

   private:
    UnionOperator& op_;
    std::size_t index_;
  };

  /// Alignment of barrier `id` complete: the barrier goes on, then what the
  /// blocked inputs received meanwhile (it came after the barrier), each in
  /// order until a barrier among it blocks that input again. A nested
  /// release (a held barrier completing the next alignment) leaves the
  /// replay to the outer one.
  void release(std::uint64_t id) {
    out_.control(Control::barrier(id));
    if (replaying_) return;
    replaying_ = true;
    for (bool progress = true; progress;) {
      progress = false;
      for (std::size_t i = 0; i < held_.size(); ++i)
        progress |= held_[i].replay([&] { return !aligner_.blocked(i); }, [&](Batch<T>& b) { forward(b); },
                                    [&](const Control& c) { inputs_[i]->deliver_control(c); });
    }
    replaying_ = false;
  }

  void forward(Batch<T>& batch) {
    metrics_.records_out.add(batch.size());
    out_.push(batch);
  }

  std::vector<std::unique_ptr<Side>> inputs_;
  WatermarkValve valve_;
  BarrierAligner aligner_;
  std::vector<HeldMessages<T>> held_;  // per input, while it waits for an alignment
  bool replaying_ = false;
  OperatorMetrics& metrics_;
  Output<T> out_;
};

template <class T>
class UnionNode final : public Node {
 public:
  UnionNode(int out, std::vector<int> ins) : Node("union", ""), out_(out), ins_(std::move(ins)) {}
  void instantiate(BuildContext& ctx) const override {
    auto& op = ctx.make<UnionOperator<T>>(ins_.size(), ctx.metrics.add_operator(name(), kind()));
    for (std::size_t i = 0; i < ins_.size(); ++i) ctx.port<T>(ins_[i]).connect(&op.input(i));
    ctx.set_port<T>(out_, op.output());
  }

 private:
  int out_;
  std::vector<int> ins_;
};

}  // namespace detail

template <class T>
template <class... More>
Stream<T> Stream<T>::union_with(const Stream<T>& other, const More&... more) const {
  std::vector<int> ports{port_, other.port(), more.port()...};
  std::vector<const std::shared_ptr<detail::Graph>*> graphs{&other.graph(), &more.graph()...};
  for (auto* g : graphs)
    if (g->get() != graph_.get()) throw GraphError("union", "", "cannot union streams of different jobs");
  const int port = graph_->new_port();
  auto& node = graph_->add(std::make_unique<detail::UnionNode<T>>(port, ports), ports, {port});
  return Stream<T>(graph_, node.id(), port);
}

}  // namespace sluice
