#include "streaming/metrics.hpp"

#include <algorithm>

namespace sluice {

const OperatorStats* QueryMetrics::op(const std::string& name) const {
  for (const auto& o : operators)
    if (o.name == name) return &o;
  return nullptr;
}

const BufferStats* QueryMetrics::buffer(const std::string& name) const {
  for (const auto& b : buffers)
    if (b.name == name) return &b;
  return nullptr;
}

OperatorMetrics& MetricsRegistry::add_operator(std::string name, std::string kind) {
  std::lock_guard lock(mu_);
  OperatorMetrics& m = operators_.emplace_back();
  m.name = std::move(name);
  m.kind = std::move(kind);
  return m;
}

BufferMetrics& MetricsRegistry::add_buffer(std::string name) {
  std::lock_guard lock(mu_);
  BufferMetrics& m = buffers_.emplace_back();
  m.name = std::move(name);
  return m;
}

namespace {
// The entry named `name` in `v`, appended (initialized by `init`) if absent.
template <class Stats, class Init>
Stats& find_or_add(std::vector<Stats>& v, const std::string& name, Init init) {
  for (Stats& s : v)
    if (s.name == name) return s;
  Stats& s = v.emplace_back();
  s.name = name;
  init(s);
  return s;
}
}  // namespace

QueryMetrics MetricsRegistry::snapshot(Timestamp now_us) const {
  std::lock_guard lock(mu_);
  QueryMetrics q;
  Timestamp sink_wm = kMaxTimestamp;
  bool any_sink = false;
  for (const OperatorMetrics& m : operators_) {
    OperatorStats* it = &find_or_add(q.operators, m.name, [&](OperatorStats& s) {
      s.kind = m.kind;
      s.watermark_us = kMaxTimestamp;
    });
    it->records_in += m.records_in.get();
    it->records_out += m.records_out.get();
    it->late_records += m.late_records.get();
    it->dropped_records += m.dropped_records.get();
    it->dead_letters += m.dead_letters.get();
    it->watermark_us = std::min<Timestamp>(it->watermark_us, m.watermark_us.get());
  }
  for (const OperatorStats& s : q.operators) {
    if (s.kind == "source") q.records_in += s.records_out;
    if (s.kind == "sink") {
      q.records_out += s.records_in;
      sink_wm = std::min(sink_wm, s.watermark_us);
      any_sink = true;
    }
    q.dead_letters += s.dead_letters;
    q.dropped_records += s.dropped_records;
    q.late_records += s.late_records;
  }
  q.watermark_us = any_sink ? sink_wm : kMinTimestamp;
  if (q.watermark_us != kMinTimestamp && q.watermark_us != kMaxTimestamp)
    q.event_time_lag_us = std::max<DurationUs>(0, now_us - q.watermark_us);
  for (const BufferMetrics& m : buffers_) {
    BufferStats* it = &find_or_add(q.buffers, m.name, [](BufferStats&) {});
    it->batches += m.batches.get();
    it->records += m.records.get();
    it->dropped_records += m.dropped_records.get();
    it->backpressure_events += m.backpressure_events.get();
    it->blocked_us += m.blocked_us.get();
    it->capacity = std::max(it->capacity, m.capacity.get());
  }
  // Average occupancy: pooled over instances, as a fraction of capacity.
  for (BufferStats& s : q.buffers) {
    std::uint64_t sum = 0, samples = 0;
    for (const BufferMetrics& m : buffers_)
      if (m.name == s.name) {
        sum += m.occupancy_sum.get();
        samples += m.occupancy_samples.get();
      }
    if (samples > 0 && s.capacity > 0)
      s.average_occupancy = static_cast<double>(sum) / static_cast<double>(samples) / static_cast<double>(s.capacity);
  }
  return q;
}

}  // namespace sluice
