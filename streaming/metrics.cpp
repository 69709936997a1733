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

void MetricsRegistry::begin_worker(std::size_t w) {
  std::lock_guard lock(mu_);
  worker_ = w;
}

OperatorMetrics& MetricsRegistry::add_operator(std::string name, std::string kind) {
  std::lock_guard lock(mu_);
  OperatorMetrics& m = operators_.emplace_back();
  m.worker = worker_;
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

std::vector<OperatorWorkerStats> MetricsRegistry::snapshot_by_worker() const {
  std::lock_guard lock(mu_);
  // Graph order is the order of first registration (worker 0 registers every
  // operator of the graph, in order, before worker 1 registers any).
  std::vector<const std::string*> names;
  for (const OperatorMetrics& m : operators_)
    if (std::find_if(names.begin(), names.end(), [&](const std::string* n) { return *n == m.name; }) == names.end())
      names.push_back(&m.name);
  std::vector<OperatorWorkerStats> out;
  out.reserve(operators_.size());
  for (const std::string* name : names) {
    const std::size_t first = out.size();
    for (const OperatorMetrics& m : operators_) {
      if (m.name != *name) continue;
      OperatorWorkerStats& w = out.emplace_back();
      w.worker = m.worker;
      w.stats.name = m.name;
      w.stats.kind = m.kind;
      w.stats.records_in = m.records_in.get();
      w.stats.records_out = m.records_out.get();
      w.stats.late_records = m.late_records.get();
      w.stats.dropped_records = m.dropped_records.get();
      w.stats.dead_letters = m.dead_letters.get();
      w.stats.watermark_us = m.watermark_us.get();
    }
    std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                     [](const OperatorWorkerStats& a, const OperatorWorkerStats& b) { return a.worker < b.worker; });
  }
  return out;
}

}  // namespace sluice
