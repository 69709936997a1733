// The control dispatch every stateful keyed operator shares
// (streaming/detail/keyed_operator_base.hpp), on a minimal operator that
// logs its hooks and emits one result per hook call.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/stream.hpp"

namespace sluice {
namespace {

/// What reached a consumer, in order: "record <v>" or "control <kind> <ts>".
struct Log : detail::Input<std::string> {
  void push(Batch<std::string>& batch) override {
    for (auto& r : batch) lines.push_back("record " + r.value);
  }
  void control(const Control& c) override {
    lines.push_back("control " + std::to_string(static_cast<int>(c.kind)) + " " + std::to_string(c.ts_us));
  }
  const std::string& operator_name() const override { return name; }
  std::vector<std::string> lines;
  std::string name = "log";
};

class Probe;
using ProbeBase = detail::KeyedOperatorBase<Probe, detail::Input<Keyed<int, int>>, std::string, int>;

class Probe final : public ProbeBase {
 public:
  Probe(OperatorMetrics& m, const Clock& clock) : ProbeBase(m, clock, {4, 2, 8, 0}) {}
  void push(Batch<Keyed<int, int>>&) override {}

  std::vector<Timestamp> watermark_metric_at_hook;  // the metric as the hook saw it
  bool throw_on_tick = false;
  std::uint32_t group_count() const { return groups_.count(); }
  int& group(std::uint32_t kg) { return groups_[kg]; }

 private:
  friend ProbeBase;
  void on_event_time(Timestamp wm) {
    watermark_metric_at_hook.push_back(metrics_.watermark_us.get());
    emit("event " + std::to_string(wm));
  }
  void on_end_of_input() { emit("end"); }
  void on_processing_time_tick(Timestamp now) {
    if (throw_on_tick) throw std::runtime_error("boom");
    emit("tick " + std::to_string(now));
  }
  void emit(std::string v) {
    out_buf_.push_back(Record<std::string>{std::move(v), 0});
    flush();
  }
};

TEST_CASE("keyed operator base: hooks run before the control message is forwarded", "[streaming]") {
  OperatorMetrics m;
  m.name = "probe";
  ManualClock clock(0);
  Probe op(m, clock);
  Log out;
  op.output().connect(&out);

  op.control(Control::watermark(10));
  op.control(Control::idle());
  op.control(Control::active());
  op.control(Control::watermark(kMaxTimestamp));
  op.control(Control::end_of_input());
  op.on_processing_time(7);

  const std::string wm = std::to_string(static_cast<int>(Control::Kind::kWatermark));
  const std::string idle = std::to_string(static_cast<int>(Control::Kind::kIdle));
  const std::string active = std::to_string(static_cast<int>(Control::Kind::kActive));
  const std::string eoi = std::to_string(static_cast<int>(Control::Kind::kEndOfInput));
  const std::string max = std::to_string(kMaxTimestamp), min = std::to_string(kMinTimestamp);
  CHECK(out.lines == std::vector<std::string>{"record event 10", "control " + wm + " 10", "control " + idle + " " + min,
                                              "control " + active + " " + min, "record event " + max,
                                              "control " + wm + " " + max, "record end", "control " + eoi + " " + max,
                                              "record tick 7"});
  // The watermark metric is set before the hook runs.
  CHECK(op.watermark_metric_at_hook == std::vector<Timestamp>{10, kMaxTimestamp});
  CHECK(m.records_out.get() == 4);
  CHECK(op.operator_name() == "probe");
}

TEST_CASE("keyed operator base: a processing-time hook that throws names the operator", "[streaming]") {
  OperatorMetrics m;
  m.name = "probe";
  ManualClock clock(0);
  Probe op(m, clock);
  op.throw_on_tick = true;
  try {
    op.on_processing_time(1);
    FAIL("no exception");
  } catch (const OperatorError& e) {
    CHECK(e.operator_name() == "probe");
  }
}

TEST_CASE("keyed operator base: one table per local key group", "[streaming]") {
  OperatorMetrics m;
  ManualClock clock(0);
  Probe op(m, clock);  // key groups [4, 6)
  CHECK(op.group_count() == 2);
  op.group(5) = 3;
  CHECK(op.group(4) == 0);
  CHECK(op.group(5) == 3);
}

}  // namespace
}  // namespace sluice
