// Runs one worker's source reader as a task: polls a batch at a time, pushes
// it down the chain, and at the end emits the final watermark and end of input.
#pragma once

#include <iosfwd>
#include <string>

#include "streaming/detail/graph.hpp"
#include "streaming/detail/log_text.hpp"
#include "streaming/source.hpp"

namespace sluice::detail {

/// How much of a dead letter's raw input a log line shows.
inline constexpr std::size_t kMaxLoggedRawBytes = 256;

/// One log line (no newline) for a dead letter nobody consumes:
/// "sluice: dead letter from <source> at <position>: <reason> (raw: <raw>)".
/// Source, reason and raw are escaped and cut by escape_for_log (raw to
/// kMaxLoggedRawBytes; the reason was capped when routed, this only guards
/// direct callers), so input can neither forge log lines nor flood the log.
std::string format_dead_letter_log(const DeadLetter& d);

/// Writes the first few dead letters nobody consumes to `out` (stderr by
/// default), so they are not silent (they are also counted in metrics).
void log_unconsumed_dead_letter(const DeadLetter& d, std::uint64_t count_so_far);
void log_unconsumed_dead_letter(const DeadLetter& d, std::uint64_t count_so_far, std::ostream& out);

template <class T>
class SourceTask final : public Task {
 public:
  /// `state`: the link to checkpoints (null: none), `worker_index`: whose
  /// reader this is (names its position part).
  SourceTask(std::unique_ptr<SourceReader<T>> reader, OperatorMetrics& metrics, std::size_t batch_size,
             OperatorState* state = nullptr, std::size_t worker_index = 0)
      : reader_(std::move(reader)),
        metrics_(metrics),
        batch_size_(batch_size),
        state_(state),
        worker_index_(worker_index) {
    batch_.reserve(batch_size);
  }

  /// Seeks the reader to the positions of the checkpoint the run restores
  /// (if any). Before the first step; throws when they cannot be used.
  void restore() {
    if (state_ == nullptr || state_->restored() == nullptr) return;
    const std::vector<std::string_view> positions = state_->restored_instance_states();
    // A source added since the checkpoint has no positions: it starts fresh.
    if (!positions.empty()) reader_->restore_position(positions);
  }

  Output<T>& output() { return out_; }
  SideOutputs& sides() { return sides_; }

  bool run_once() override {
    try {
      return step();
    } catch (...) {
      rethrow_in_operator(metrics_.name);
    }
  }
  bool finished() const override { return ended_; }
  void request_end() override { end_requested_ = true; }
  void collect_gates() override {
    gates_.clear();
    out_.reachable_gates(gates_);
    sides_.reachable_gates(gates_);
  }
  void close() override { reader_->close(); }

 private:
  bool step() {
    if (ended_) return false;
    if (end_requested_) {
      finish();
      return true;
    }
    // A checkpoint was requested: its barrier goes after every record
    // emitted so far (a slow source injects only the newest one requested).
    if (state_ != nullptr) {
      const std::uint64_t id = state_->requested();
      if (id > injected_) {
        injected_ = id;
        state_->snapshot_instance(id, worker_index_, write_position());
        out_.control(Control::barrier(id));
        sides_.control(Control::barrier(id));
      }
    }
    batch_.clear();
    dead_.clear();
    const SourceStatus status = reader_->poll(batch_, dead_, batch_size_);
    const std::size_t n = batch_.size();
    if (n > 0) {
      metrics_.records_out.add(n);
      out_.push(batch_);
    }
    if (!dead_.empty()) route_dead_letters();
    if (status == SourceStatus::kEnd) {
      finish();
      return true;
    }
    return n > 0 || status == SourceStatus::kMore;
  }

  void route_dead_letters() {
    metrics_.dead_letters.add(dead_.size());
    SideOutput<DeadLetter>* side = sides_.find<DeadLetter>(dead_letter_tag().id());
    for (DeadLetter& d : dead_) {
      ++dead_count_;
      // The raw input is kept whole; the reason, meant for people, is capped
      // (a parser may quote a whole 50 MB line in its message).
      d.reason = cap_text(std::move(d.reason), kMaxDeadLetterReasonBytes);
      if (side != nullptr && side->output().connected()) {
        side->emit(std::move(d), 0);
      } else {
        log_unconsumed_dead_letter(d, dead_count_);
      }
    }
    sides_.flush();
  }

  auto write_position() const {
    return [this](StateWriter& w) { reader_->snapshot_position(w); };
  }

  void finish() {
    ended_ = true;
    if (state_ != nullptr) state_->end_instance(worker_index_, write_position());
    out_.control(Control::watermark(kMaxTimestamp));
    out_.control(Control::end_of_input());
    sides_.control(Control::watermark(kMaxTimestamp));
    sides_.control(Control::end_of_input());
  }

  std::unique_ptr<SourceReader<T>> reader_;
  OperatorMetrics& metrics_;
  std::size_t batch_size_;
  Output<T> out_;
  SideOutputs sides_;
  Batch<T> batch_;
  std::vector<DeadLetter> dead_;
  std::uint64_t dead_count_ = 0;
  bool ended_ = false;
  bool end_requested_ = false;
  OperatorState* state_;
  std::size_t worker_index_;
  std::uint64_t injected_ = 0;  // the newest barrier injected
};

template <class T>
class SourceNode final : public Node {
 public:
  SourceNode(int out, std::shared_ptr<const Source<T>> source, std::string name)
      : Node("source", std::move(name)), out_(out), source_(std::move(source)) {}

  bool has_side_outputs() const override { return true; }

  void instantiate(BuildContext& ctx) const override {
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    Worker* worker = &ctx.worker;
    SourceContext sc{ctx.worker_index(), ctx.settings.workers, ctx.settings.clock, name(), &m, &ctx.metrics,
                     [worker] { worker->wake().signal(); }};
    OperatorState* state = ctx.operator_state(name());
    if (state != nullptr && state->storing() && !source_->supports_checkpoints())
      throw GraphError(name(), "",
                       "this source cannot replay its input after a crash, so a query with checkpoint storage "
                       "cannot use it (a PushSource: what was pushed is gone); use a replayable source "
                       "(file, generator, Kafka) or run without checkpoints");
    auto& task = ctx.make<SourceTask<T>>(source_->open(sc), m, ctx.settings.batch_size, state, ctx.worker_index());
    task.restore();
    make_side_outputs(ctx, task.sides());
    ctx.set_port<T>(out_, task.output());
    ctx.worker.add_task(task);
  }

 private:
  int out_;
  std::shared_ptr<const Source<T>> source_;
};

}  // namespace sluice::detail
