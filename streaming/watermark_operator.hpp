// The operators behind `watermarks` (assign_timestamps: streaming/assign_timestamps.hpp).
#pragma once

#include <algorithm>

#include "streaming/detail/chained_node.hpp"
#include "streaming/detail/operator_base.hpp"
#include "streaming/stream.hpp"

namespace sluice {
namespace detail {

/// The largest timestamp in `batch` (kMinTimestamp if empty), with four
/// independent maxima so the compare-and-selects do not wait on each other.
template <class T>
Timestamp max_timestamp(const Batch<T>& batch) {
  Timestamp m[4] = {kMinTimestamp, kMinTimestamp, kMinTimestamp, kMinTimestamp};
  const std::size_t n = batch.size();
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (std::size_t j = 0; j < 4; ++j) m[j] = std::max(m[j], batch[i + j].ts_us);
  for (; i < n; ++i) m[0] = std::max(m[0], batch[i].ts_us);
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

/// max_ts - bound - 1, the bounded-out-of-orderness watermark, saturating
/// at kMinTimestamp: the bound is the user's and unlimited, and max_ts is
/// kMinTimestamp before the first record.
constexpr Timestamp bounded_watermark(Timestamp max_ts, DurationUs bound) {
  return saturating_sub(saturating_sub(max_ts, bound), 1);
}

struct NoPunctuation {};

/// How far each worker's share of one aligned stream has got in event time:
/// the watermark it would emit now (published after every batch, not only
/// when emitted, so alignment does not throttle to the emit interval).
class AlignmentGroup {
 public:
  explicit AlignmentGroup(std::size_t workers) : watermarks_(workers) {
    for (auto& w : watermarks_) w.store(kMinTimestamp, std::memory_order_relaxed);
  }
  void publish(std::size_t worker, Timestamp wm) { watermarks_[worker].store(wm, std::memory_order_release); }
  /// The slowest worker's watermark (idle and finished ones publish +inf).
  Timestamp min() const {
    Timestamp m = kMaxTimestamp;
    for (const auto& w : watermarks_) m = std::min(m, w.load(std::memory_order_acquire));
    return m;
  }

 private:
  std::vector<std::atomic<Timestamp>> watermarks_;
};

/// Generates watermarks per a strategy on one worker's share of a stream.
/// Upstream watermarks are replaced by our own, except the final +inf one
/// that marks the end of input (as Flink's TimestampsAndWatermarksOperator).
template <class T, class Punctuation = NoPunctuation>
class WatermarkOperator final : public OneInputOperator<T, T>, public FlowGate {
  using Base = OneInputOperator<T, T>;

 public:
  WatermarkOperator(OperatorMetrics& m, const Clock& clock, const WatermarkStrategy& s,
                    const Punctuation* punct = nullptr, AlignmentGroup* group = nullptr, std::size_t worker = 0,
                    OperatorState* state = nullptr, std::size_t workers = 1)
      : Base(m),
        clock_(clock),
        strategy_(s),
        punct_(punct),
        group_(group),
        worker_(worker),
        state_(state),
        workers_(workers) {}

  /// Aligned streams: hold the source back while this worker's next
  /// watermark would lead the slowest worker's by more than the max drift.
  /// A worker that has data waits for peers that have reported no watermark
  /// yet; idle and finished peers report +inf, so a share that may stay
  /// empty needs `with_idleness` (as with Flink's alignment).
  bool holds_back() const override {
    if (group_ == nullptr || max_ts_ == kMinTimestamp || current_ == kMaxTimestamp) return false;
    const Timestamp slowest = group_->min();
    if (slowest == kMaxTimestamp) return false;
    if (slowest == kMinTimestamp) return true;
    return bounded_watermark(max_ts_, strategy_.max_out_of_orderness_us) >
           saturating_add(slowest, strategy_.max_drift_us);
  }

  void open() override {
    last_activity_us_ = last_emit_us_ = clock_.now_us();
    restore();
  }

  void push(Batch<T>& batch) override {
    if (restored_pending_) emit_restored();
    this->metrics_.records_in.add(batch.size());
    this->metrics_.records_out.add(batch.size());
    saw_records_ = true;
    if (idle_) {
      idle_ = false;
      publish(max_ts_ == kMinTimestamp ? current_ : bounded_watermark(max_ts_, strategy_.max_out_of_orderness_us));
      this->out_.control(Control::active());
    }
    if constexpr (!std::is_same_v<Punctuation, NoPunctuation>) {
      push_punctuated(batch);
    } else if (strategy_.kind == WatermarkStrategy::Kind::kProcessingTime) {
      const Timestamp now = clock_.now_us();
      for (Record<T>& r : batch) r.ts_us = now;
      this->out_.push(batch);
      if (now - 1 > current_) advance(now - 1);
    } else {
      max_ts_ = std::max(max_ts_, max_timestamp(batch));
      this->out_.push(batch);
      if (group_ != nullptr && current_ != kMaxTimestamp)
        publish(bounded_watermark(max_ts_, strategy_.max_out_of_orderness_us));
      if (strategy_.emit_interval_us == 0) emit_periodic();
    }
  }

  void control(const Control& c) override {
    // Only the end-of-input watermark passes; idleness is decided here.
    if (c.kind == Control::Kind::kWatermark && c.ts_us != kMaxTimestamp) return;
    if (c.kind == Control::Kind::kIdle || c.kind == Control::Kind::kActive) return;
    if (restored_pending_) emit_restored();
    if (c.kind == Control::Kind::kWatermark) {
      current_ = kMaxTimestamp;
      publish(kMaxTimestamp);
    }
    if (state_ != nullptr && c.kind == Control::Kind::kBarrier)
      state_->snapshot_instance(c.checkpoint_id, worker_, write_state());
    if (state_ != nullptr && c.kind == Control::Kind::kEndOfInput) state_->end_instance(worker_, write_state());
    Base::control(c);
  }

  void on_processing_time(Timestamp now) override {
    if (restored_pending_) emit_restored();
    // A source paused by alignment is not idle: it has records, we hold them.
    if (saw_records_ || holds_back()) {
      saw_records_ = false;
      last_activity_us_ = now;
    }
    if (current_ == kMaxTimestamp) return;
    if constexpr (std::is_same_v<Punctuation, NoPunctuation>) {
      if (now - last_emit_us_ >= strategy_.emit_interval_us) {
        last_emit_us_ = now;
        if (strategy_.kind == WatermarkStrategy::Kind::kProcessingTime) {
          if (now - 1 > current_) advance(now - 1);
        } else {
          emit_periodic();
        }
      }
    }
    if (idle_timeout() > 0 && !idle_ && now - last_activity_us_ >= idle_timeout()) {
      idle_ = true;
      publish(kMaxTimestamp);  // an idle share must not hold the others back
      this->out_.control(Control::idle());
    }
  }

 private:
  // Checkpointed: the largest timestamp seen and the watermark emitted, so
  // a restored run emits the same watermarks as one without a crash.
  auto write_state() const {
    return [this](StateWriter& w) {
      w.write(max_ts_);
      w.write(current_);
    };
  }
  // The same worker count: each instance continues its own share. Another
  // count: shares are dealt anew, so every instance starts from the
  // smallest of the old ones (never ahead of any share's data).
  void restore() {
    if (state_ == nullptr) return;
    const std::vector<std::string_view> parts = state_->restored_instance_states();
    if (parts.empty()) return;
    const bool same_share = parts.size() == workers_;
    Timestamp max_ts = kMaxTimestamp, current = kMaxTimestamp;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      StateReader r(parts[i]);
      const auto m = r.read<Timestamp>();
      const auto c = r.read<Timestamp>();
      r.expect_end("watermark state of instance " + std::to_string(i) + " of '" + this->metrics_.name + "'");
      if (same_share && i != worker_) continue;
      max_ts = std::min(max_ts, m);
      current = std::min(current, c);
    }
    max_ts_ = max_ts;
    current_ = current;
    restored_pending_ = current_ != kMinTimestamp;
  }
  // Downstream channels start at the minimum again: tell them the restored
  // watermark before anything else (not in open(): consumers open later).
  void emit_restored() {
    restored_pending_ = false;
    if (current_ == kMaxTimestamp) {
      publish(kMaxTimestamp);
      return;  // the share had ended; its end of input follows from upstream
    }
    publish(current_);
    this->metrics_.watermark_us.set(current_);
    this->out_.control(Control::watermark(current_));
  }

  DurationUs idle_timeout() const {
    if constexpr (!std::is_same_v<Punctuation, NoPunctuation>) return punct_->idle_timeout_us;
    return strategy_.idle_timeout_us;
  }

  void emit_periodic() {
    if (max_ts_ == kMinTimestamp) return;
    const Timestamp candidate = bounded_watermark(max_ts_, strategy_.max_out_of_orderness_us);
    if (candidate > current_) advance(candidate);
  }

  void publish(Timestamp wm) {
    if (group_ != nullptr) group_->publish(worker_, wm);
  }

  void reachable_more(std::vector<FlowGate*>& out) override {
    if (group_ != nullptr) out.push_back(this);
    this->out_.reachable_gates(out);
  }

  void advance(Timestamp wm) {
    current_ = wm;
    this->metrics_.watermark_us.set(wm);
    this->out_.control(Control::watermark(wm));
  }

  void push_punctuated(Batch<T>& batch) {
    if constexpr (!std::is_same_v<Punctuation, NoPunctuation>) {
      // Split the batch after each record that carries a watermark, so the
      // watermark follows exactly the records before it.
      std::size_t start = 0;
      for (std::size_t i = 0; i < batch.size(); ++i) {
        std::optional<Timestamp> wm = punct_->fn(batch[i].value, batch[i].ts_us);
        if (!wm || *wm <= current_) continue;
        emit_slice(batch, start, i + 1);
        start = i + 1;
        advance(*wm);
      }
      if (start == 0) {
        this->out_.push(batch);
      } else {
        emit_slice(batch, start, batch.size());
      }
    }
  }

  void emit_slice(Batch<T>& batch, std::size_t begin, std::size_t end) {
    if (begin == end) return;
    slice_.assign(std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(begin)),
                  std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(end)));
    this->out_.push(slice_);
    slice_.clear();
  }

  const Clock& clock_;
  WatermarkStrategy strategy_;
  const Punctuation* punct_;
  Timestamp max_ts_ = kMinTimestamp;
  Timestamp current_ = kMinTimestamp;
  Timestamp last_emit_us_ = 0;
  Timestamp last_activity_us_ = 0;
  bool saw_records_ = false;
  bool idle_ = false;
  Batch<T> slice_;
  AlignmentGroup* group_;
  std::size_t worker_;
  OperatorState* state_;
  std::size_t workers_;  // of this run
  bool restored_pending_ = false;  // the restored watermark is still to be sent
};

template <class T, class Punctuation = NoPunctuation>
class WatermarkNode final : public Node {
 public:
  WatermarkNode(int in, int out, WatermarkStrategy s, std::optional<Punctuation> punct = std::nullopt)
      : Node("watermarks", ""), in_(in), out_(out), strategy_(s), punct_(std::move(punct)) {}

  bool emits_watermarks() const override { return true; }

  void prepare(const RunSettings& settings, SharedState& shared, MetricsRegistry&) const override {
    // One worker has nobody to align with.
    if (strategy_.max_drift_us > 0 && settings.workers > 1)
      shared.by_node[static_cast<std::size_t>(id())] = std::make_shared<AlignmentGroup>(settings.workers);
  }

  void instantiate(BuildContext& ctx) const override {
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    const Punctuation* p = nullptr;
    if constexpr (!std::is_same_v<Punctuation, NoPunctuation>) p = &*punct_;
    AlignmentGroup* group = nullptr;
    if (strategy_.max_drift_us > 0 && ctx.settings.workers > 1)
      group = std::any_cast<std::shared_ptr<AlignmentGroup>>(ctx.shared.by_node[static_cast<std::size_t>(id())]).get();
    auto& op = ctx.make<WatermarkOperator<T, Punctuation>>(m, *ctx.settings.clock, strategy_, p, group,
                                                           ctx.worker_index(), ctx.operator_state(name()),
                                                           ctx.settings.workers);
    ctx.port<T>(in_).connect(&op);
    ctx.set_port<T>(out_, op.output());
  }

 private:
  int in_, out_;
  WatermarkStrategy strategy_;
  std::optional<Punctuation> punct_;
};

}  // namespace detail

template <class T>
Stream<T> Stream<T>::watermarks(const WatermarkStrategy& s) const {
  if (s.max_out_of_orderness_us < 0)
    throw ConfigError(name(), "max_out_of_orderness", "must be >= 0");
  if (s.emit_interval_us < 0) throw ConfigError(name(), "emit_interval", "must be >= 0");
  if (s.idle_timeout_us < 0) throw ConfigError(name(), "idle_timeout", "must be >= 0");
  if (s.max_drift_us < 0) throw ConfigError(name(), "max_drift", "must be >= 0");
  return then<T, detail::WatermarkNode<T>>(s);
}

template <class T>
template <class F>
Stream<T> Stream<T>::watermarks(const PunctuatedWatermarks<F>& s) const {
  static_assert(std::is_invocable_r_v<std::optional<Timestamp>, const F&, const T&, Timestamp>,
                "punctuated(f): f must be callable as std::optional<Timestamp> f(const T&, Timestamp ts)");
  WatermarkStrategy base;
  base.idle_timeout_us = s.idle_timeout_us;
  return then<T, detail::WatermarkNode<T, PunctuatedWatermarks<F>>>(base, s);
}

}  // namespace sluice
