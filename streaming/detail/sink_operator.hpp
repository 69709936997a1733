// Runs one worker's sink writer at the end of a chain.
#pragma once

#include "streaming/detail/graph.hpp"
#include "streaming/sink.hpp"

namespace sluice::detail {

/// Feeds a sink writer; counts and reports the watermark; pre-commits at a
/// checkpoint barrier and commits when the checkpoint is committed.
template <class T>
class SinkOperator final : public Input<T>, public Lifecycle {
 public:
  SinkOperator(std::unique_ptr<SinkWriter<T>> writer, OperatorMetrics& metrics, OperatorState* state,
               std::size_t worker_index)
      : writer_(std::move(writer)), metrics_(metrics), state_(state), worker_index_(worker_index) {}

  void open() override {
    if (state_ == nullptr || state_->restored() == nullptr) return;
    const std::vector<std::string_view> handles = state_->restored_instance_states();
    // A sink with no part in the checkpoint (added since) starts fresh.
    if (!handles.empty()) writer_->restore(state_->restored()->id, handles);
    committed_ = state_->restored()->id;
  }
  void push(Batch<T>& batch) override {
    metrics_.records_in.add(batch.size());
    writer_->write(batch);
  }
  void control(const Control& c) override {
    switch (c.kind) {
      case Control::Kind::kWatermark:
        metrics_.watermark_us.set(c.ts_us);
        writer_->on_watermark(c.ts_us);
        break;
      case Control::Kind::kEndOfInput:
        writer_->on_end_of_input();
        if (state_ != nullptr && state_->storing()) {
          state_->end_instance(worker_index_, [&](StateWriter& w) { writer_->on_checkpoint_barrier(0, w); });
        } else if (state_ != nullptr) {
          state_->ended();
        }
        break;
      case Control::Kind::kBarrier: {
        const std::uint64_t id = c.checkpoint_id;
        auto pre_commit = [&](StateWriter& w) { writer_->on_checkpoint_barrier(id, w); };
        if (state_ != nullptr) {
          state_->snapshot_instance(id, worker_index_, pre_commit);
        } else {
          StateWriter unused;
          pre_commit(unused);
        }
        commit_completed();
        break;
      }
      case Control::Kind::kIdle:
      case Control::Kind::kActive:
        break;
    }
  }
  void on_processing_time(Timestamp) override { commit_completed(); }
  void close() override { writer_->close(); }
  const std::string& operator_name() const override { return metrics_.name; }

 private:
  // Tells the writer about checkpoints committed since it last heard.
  void commit_completed() {
    if (state_ == nullptr || !state_->storing()) return;
    const std::uint64_t done = state_->completed();
    if (done > committed_) {
      committed_ = done;
      writer_->on_checkpoint_complete(done);
    }
  }

  std::unique_ptr<SinkWriter<T>> writer_;
  OperatorMetrics& metrics_;
  OperatorState* state_;
  std::size_t worker_index_;
  std::uint64_t committed_ = 0;  // the newest checkpoint the writer was told is committed
};

template <class T>
class SinkNode final : public Node {
 public:
  SinkNode(int in, std::shared_ptr<Sink<T>> sink, std::string name)
      : Node("sink", std::move(name)), in_(in), sink_(std::move(sink)) {}
  void instantiate(BuildContext& ctx) const override {
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    OperatorState* state = ctx.operator_state(name());
    SinkContext sc{ctx.worker_index(), ctx.settings.workers, name()};
    if (state != nullptr && state->storing()) {
      sc.checkpointed = true;
      std::shared_ptr<CheckpointCoordinator> c = ctx.shared.checkpoints;
      const std::string prefix = name() + "/";
      sc.put_marker = [c, prefix](std::string_view key, std::string_view value) {
        c->put_marker(prefix + std::string(key), value);
      };
      sc.get_marker = [c, prefix](std::string_view key) { return c->get_marker(prefix + std::string(key)); };
    }
    auto& op = ctx.make<SinkOperator<T>>(sink_->open(sc), m, state, ctx.worker_index());
    ctx.port<T>(in_).connect(&op);
  }

 private:
  int in_;
  std::shared_ptr<Sink<T>> sink_;
};

}  // namespace sluice::detail
