// Moving records between workers: the sending and receiving halves of an
// exchange, and the N(N-1) channels between them.
//
// The sender routes each record into one buffer per destination worker and
// ships a buffer when it is full, when a control message must follow it, or
// when the worker runs dry. The buffer for its own worker never enters a
// channel: at the end of each batch it goes straight to the local receiver's
// consumers, and control messages for this worker go to the receiver's
// watermark valve directly, so with N workers only (N-1)/N of the records
// cross a queue, and a worker never signals itself. The receiver merges the
// N-1 incoming channels and that local input, combining their watermarks.
#pragma once

#include <deque>
#include <memory>
#include <vector>

#include "streaming/barrier_aligner.hpp"
#include "streaming/detail/channel.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/held_messages.hpp"
#include "streaming/detail/keyed_input.hpp"
#include "streaming/watermark_valve.hpp"

namespace sluice::detail {

/// channels[src][dst]: from worker src to worker dst; null for src == dst
/// (a worker hands its own share over directly).
template <class T>
struct ChannelMatrix {
  std::vector<std::vector<std::unique_ptr<Channel<T>>>> channels;

  ChannelMatrix(const RunSettings& settings, const std::vector<Worker*>& workers, MetricsRegistry& metrics,
                const std::string& name) {
    const std::size_t n = settings.workers;
    channels.resize(n);
    for (std::size_t s = 0; s < n; ++s) {
      channels[s].resize(n);
      for (std::size_t d = 0; d < n; ++d)  // one metrics object per channel: each has a single writer
        if (s != d)
          channels[s][d] = std::make_unique<Channel<T>>(settings.exchange_buffer, metrics.add_buffer(name),
                                                        &workers[d]->wake(), &workers[s]->wake());
    }
  }
};

/// The receiving half on one worker: a task that drains the channels from the
/// other workers, and the entry for this worker's own share (`push_batch`,
/// `control_local`), which its sender hands over by direct calls.
///
/// Checkpoint barriers are aligned (streaming/barrier_aligner.hpp): a channel
/// that delivered barrier n is not read until every worker's barrier n came.
/// This worker's own share cannot be left in a queue, so what its sender
/// hands over meanwhile is held here, and the receiver is a flow gate that
/// holds the sender's source back until the alignment completes.
template <class T>
class ExchangeReceiver final : public Task, public FlowGate {
 public:
  /// `channels[w]` comes from worker w; `channels[self]` is null.
  ExchangeReceiver(std::vector<Channel<T>*> channels, std::size_t self, OperatorMetrics& metrics)
      : valve_(channels.size()), aligner_(channels.size()), self_(self), metrics_(metrics) {
    for (std::size_t w = 0; w < channels.size(); ++w)
      if (channels[w] != nullptr) inputs_.push_back({channels[w], w});
  }

  Output<T>& output() { return out_; }

  bool run_once() override {
    // Round-robin, a bounded number of messages per call so sources and
    // other receivers on this worker get their turn.
    constexpr int kMaxMessages = 16;
    bool progress = false;
    const std::size_t n = inputs_.size();
    for (int i = 0; i < kMaxMessages; ++i) {
      bool got = false;
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t c = next_ + k < n ? next_ + k : next_ + k - n;
        if (aligner_.blocked(inputs_[c].worker)) continue;  // after a barrier, until aligned
        if (!inputs_[c].channel->try_pop(msg_)) continue;
        next_ = c + 1 < n ? c + 1 : 0;
        got = true;
        deliver(inputs_[c]);
        break;
      }
      if (!got) break;
      progress = true;
      if (blocked()) break;
    }
    return progress;
  }

  /// This worker's own share, from its sender (held while it waits for an alignment).
  void push_batch(Batch<T>& batch) {
    if (aligner_.blocked(self_) || !held_.empty()) [[unlikely]] return held_.hold(batch);
    forward(batch);
  }
  /// A control message from this worker's own sender (held, in order with
  /// its records, while they wait for an alignment: e.g. a periodic watermark).
  void control_local(const Control& c) {
    if (aligner_.blocked(self_) || !held_.empty()) [[unlikely]] return held_.hold(c);
    deliver_control(self_, c);
  }

  /// Holds back the source feeding this worker's own share while that share
  /// waits for a barrier alignment.
  bool holds_back() const override { return aligner_.blocked(self_); }

  bool finished() const override { return valve_.all_ended(); }
  void collect_gates() override {
    gates_.clear();
    out_.reachable_gates(gates_);
  }

 private:
  struct Incoming {
    Channel<T>* channel;
    std::size_t worker;
  };

  void deliver(const Incoming& in) {
    if (msg_.is_control) {
      deliver_control(in.worker, msg_.control);
    } else {
      forward(msg_.batch);  // its channel is not blocked, or it would not have been read
      in.channel->recycle(std::move(msg_.batch));
    }
    msg_ = Message<T>{};
  }

  void deliver_control(std::size_t worker, const Control& control) {
    if (control.kind == Control::Kind::kBarrier) {
      if (aligner_.on_barrier(worker, control.checkpoint_id)) release(control.checkpoint_id);
      return;
    }
    if (control.kind == Control::Kind::kEndOfInput && aligner_.on_end_of_input(worker))
      release(aligner_.completed_id());
    valve_.on_control(worker, control, [&](const Control& c) {
      if (c.kind == Control::Kind::kWatermark) metrics_.watermark_us.set(c.ts_us);
      out_.control(c);
    });
  }

  /// Alignment of barrier `id` complete: the barrier goes on, then what this
  /// worker's sender handed over meanwhile (it came after the barrier).
  void release(std::uint64_t id) {
    out_.control(Control::barrier(id));
    replay_held();
  }

  /// Delivers what this worker's sender handed over while blocked, in order,
  /// until a barrier among it blocks the local input again. A barrier that
  /// completes another alignment meanwhile releases it from inside (the
  /// flag keeps that nested release from replaying out of order).
  void replay_held() {
    if (replaying_) return;
    replaying_ = true;
    held_.replay([&] { return !aligner_.blocked(self_); }, [&](Batch<T>& b) { forward(b); },
                 [&](const Control& c) { deliver_control(self_, c); });
    replaying_ = false;
  }

  void forward(Batch<T>& batch) {
    metrics_.records_out.add(batch.size());
    out_.push(batch);
  }

  std::vector<Incoming> inputs_;
  WatermarkValve valve_;  // one input per worker, this one's included
  BarrierAligner aligner_;
  HeldMessages<T> held_;  // this worker's own share, while it waits for an alignment
  bool replaying_ = false;
  std::size_t self_;
  OperatorMetrics& metrics_;
  Output<T> out_;
  Message<T> msg_;
  std::size_t next_ = 0;
};

/// The sending half on one worker. `Route::route(In&&, std::size_t& dst) -> Out`
/// converts a record into its routed form and sets its destination worker;
/// `Route::bind(const RunSettings&)` is called once per worker before use.
template <class In, class Out, class Route>
class ExchangeSender final : public Input<In>, public ExchangeSenderBase, public Lifecycle {
 public:
  /// `channels[w]` leads to worker w; `channels[self]` is null: this worker's
  /// share goes to `local` directly.
  ExchangeSender(std::vector<Channel<Out>*> channels, std::size_t self, ExchangeReceiver<Out>& local, Route route,
                 std::size_t batch_size, OperatorMetrics& metrics)
      : channels_(std::move(channels)),
        self_(self),
        local_(local),
        route_(std::move(route)),
        batch_size_(batch_size),
        metrics_(metrics),
        buffers_(channels_.size()),
        pending_(channels_.size()) {}  // buffers grow on first use: most pairs of many workers never talk

  void push(Batch<In>& batch) override {
    metrics_.records_in.add(batch.size());
    // Every record goes into its destination's buffer, ours included: a
    // branch on "is it ours?" would be mispredicted for half the records.
    for (Record<In>& r : batch) {
      std::size_t dst = 0;
      Out routed = route_.route(std::move(r.value), dst);
      Batch<Out>& buf = buffers_[dst];
      buf.push_back(Record<Out>{std::move(routed), r.ts_us});
      if (buf.size() >= batch_size_) ship(dst);
    }
    deliver_own();
  }

  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) metrics_.watermark_us.set(c.ts_us);
    for (std::size_t d = 0; d < channels_.size(); ++d) {
      if (d == self_) continue;
      if (!buffers_[d].empty()) ship(d);
      Message<Out> m;
      m.is_control = true;
      m.control = c;
      send(d, std::move(m));
    }
    local_.control_local(c);
  }

  // The source feeding us also feeds, by direct calls, whatever consumes our
  // own share downstream of the receiver.
  void reachable_gates(std::vector<FlowGate*>& out) override {
    out.push_back(this);
    out.push_back(&local_);
    local_.output().reachable_gates(out);
  }
  const std::string& operator_name() const override { return metrics_.name; }

  bool has_pending() const override { return pending_count_ > 0; }

  bool try_flush() override {
    if (pending_count_ == 0) return false;
    bool progress = false;
    for (std::size_t d = 0; d < pending_.size(); ++d) {
      auto& q = pending_[d];
      while (!q.empty() && channels_[d]->try_push(q.front())) {
        q.pop_front();
        --pending_count_;
        progress = true;
      }
    }
    return progress;
  }

  bool flush_partial() override {
    bool any = false;
    for (std::size_t d = 0; d < buffers_.size(); ++d)
      if (d != self_ && !buffers_[d].empty()) {
        ship(d);
        any = true;
      }
    return any;
  }

 private:
  // Our own share skips the channel: straight to the receiver's consumers.
  void deliver_own() {
    Batch<Out>& own = buffers_[self_];
    if (own.empty()) return;
    local_.push_batch(own);
    own.clear();
  }

  void ship(std::size_t d) {
    if (d == self_) return deliver_own();
    Message<Out> m;
    m.batch.swap(buffers_[d]);
    if (!channels_[d]->take_recycled(buffers_[d])) buffers_[d].reserve(batch_size_);
    send(d, std::move(m));
  }

  void send(std::size_t d, Message<Out>&& m) {
    if (pending_[d].empty() && channels_[d]->try_push(m)) return;
    pending_[d].push_back(std::move(m));
    ++pending_count_;
  }

  std::vector<Channel<Out>*> channels_;
  std::size_t self_;
  ExchangeReceiver<Out>& local_;
  Route route_;
  std::size_t batch_size_;
  OperatorMetrics& metrics_;
  std::vector<Batch<Out>> buffers_;  // by destination; ours is handed over at the end of each push
  std::vector<std::deque<Message<Out>>> pending_;
  std::size_t pending_count_ = 0;
};

/// With one worker an exchange is a plain chained conversion. When key_by
/// feeds a single KeyedInput (and its Route can key a record in place:
/// `key_of(const In&, K&, hash&, key group&)`), the records stay where they
/// are and only their keys are computed (streaming/detail/keyed_input.hpp).
template <class In, class Out, class Route>
class LocalExchange final : public Input<In>, public Lifecycle {
 public:
  LocalExchange(Route route, OperatorMetrics& metrics) : route_(std::move(route)), metrics_(metrics) {}
  Output<Out>& output() { return out_; }
  void push(Batch<In>& batch) override {
    metrics_.records_in.add(batch.size());
    metrics_.records_out.add(batch.size());
    if constexpr (kCanKeyInPlace) {
      if (!checked_consumer_) {
        local_ = dynamic_cast<KeyedInput<typename Out::key_type, In>*>(out_.sole_consumer());
        checked_consumer_ = true;
      }
      if (local_ != nullptr) {
        push_local(batch);
        return;
      }
    }
    buf_.clear();
    buf_.reserve(batch.size());
    for (Record<In>& r : batch) {
      std::size_t dst = 0;
      buf_.push_back(Record<Out>{route_.route(std::move(r.value), dst), r.ts_us});
    }
    out_.push(buf_);
  }
  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) metrics_.watermark_us.set(c.ts_us);
    out_.control(c);
  }
  void reachable_gates(std::vector<FlowGate*>& out) override { out_.reachable_gates(out); }
  const std::string& operator_name() const override { return metrics_.name; }

 private:
  static constexpr bool kCanKeyInPlace = requires(const Route& r, const In& v, typename Out::key_type& k,
                                                  std::uint64_t& h, std::uint32_t& kg) {
    r.key_of(v, k, h, kg);
    requires std::is_same_v<Out, Keyed<typename Out::key_type, In>>;
  };

  void push_local(Batch<In>& batch) {
    if (batch.empty()) return;
    const std::size_t n = batch.size();
    local_batch_.records = &batch;
    local_batch_.keys.resize(n);
    key_records(route_, batch, local_batch_.keys.data());
    try {
      local_->push_local(local_batch_);
    } catch (...) {
      rethrow_in_operator(local_->operator_name());
    }
  }

  struct NoLocal {};
  template <class O>
  struct LocalTypes {
    using input = NoLocal*;
    using batch = NoLocal;
  };
  template <class O>
    requires requires { typename O::key_type; }
  struct LocalTypes<O> {
    using input = KeyedInput<typename O::key_type, In>*;
    using batch = LocalKeyedBatch<typename O::key_type, In>;
  };

  Route route_;
  OperatorMetrics& metrics_;
  Output<Out> out_;
  Batch<Out> buf_;
  bool checked_consumer_ = false;
  typename LocalTypes<Out>::input local_ = nullptr;
  typename LocalTypes<Out>::batch local_batch_;
};

/// Connects this worker's half of an exchange: a sender reading `from` and a
/// receiver draining the channels of `matrix` (made in Node::prepare), whose
/// output it returns. Metrics go to `metrics`.
template <class In, class Out, class Route>
Output<Out>& wire_exchange(BuildContext& ctx, ChannelMatrix<Out>& matrix, Route route, OperatorMetrics& metrics,
                           Output<In>& from) {
  const std::size_t self = ctx.worker_index();
  std::vector<Channel<Out>*> outgoing, incoming;
  for (std::size_t w = 0; w < ctx.settings.workers; ++w) {
    outgoing.push_back(matrix.channels[self][w].get());
    incoming.push_back(matrix.channels[w][self].get());
  }
  auto& receiver = ctx.make<ExchangeReceiver<Out>>(std::move(incoming), self, metrics);
  auto& sender = ctx.make<ExchangeSender<In, Out, Route>>(std::move(outgoing), self, receiver, std::move(route),
                                                          ctx.settings.batch_size, metrics);
  from.connect(&sender);
  ctx.worker.add_sender(sender);
  ctx.worker.add_task(receiver);
  return receiver.output();
}

/// A node that repartitions its input across workers with `Route`. A node
/// nobody reads (a window computing its own partial aggregates in its place,
/// windows/local_aggregation.hpp) creates nothing.
template <class In, class Out, class Route>
class ExchangeNode : public Node {
 public:
  ExchangeNode(int in, int out, std::string kind, Route route)
      : Node(std::move(kind), ""), in_(in), out_(out), route_(std::move(route)) {}

  void prepare(const RunSettings& settings, SharedState& shared, MetricsRegistry& metrics) const override {
    if (settings.workers > 1 && consumed(shared))
      shared.by_node[static_cast<std::size_t>(id())] =
          std::make_shared<ChannelMatrix<Out>>(settings, shared.workers, metrics, name());
  }

  void instantiate(BuildContext& ctx) const override {
    if (!consumed(ctx.shared)) return;
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    Route route = route_;
    route.bind(ctx.settings);
    if (ctx.settings.workers == 1) {
      auto& op = ctx.make<LocalExchange<In, Out, Route>>(std::move(route), m);
      ctx.port<In>(in_).connect(&op);
      ctx.set_port<Out>(out_, op.output());
      return;
    }
    auto matrix = std::any_cast<std::shared_ptr<ChannelMatrix<Out>>>(ctx.shared.by_node[static_cast<std::size_t>(id())]);
    ctx.set_port<Out>(out_, wire_exchange<In, Out>(ctx, *matrix, std::move(route), m, ctx.port<In>(in_)));
  }

  const Route& route() const { return route_; }
  int out_port() const { return out_; }

 private:
  bool consumed(const SharedState& shared) const {
    return shared.port_consumers.empty() || shared.port_consumers.at(static_cast<std::size_t>(out_)) > 0;
  }

  int in_, out_;
  Route route_;
};

}  // namespace sluice::detail
