#include "http/prometheus.hpp"

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "streaming/engine.hpp"

namespace sluice {

namespace {

// One query's figures, read once so every family shows the same moment.
struct QuerySample {
  std::string name;
  QueryStatus status;
  std::size_t workers = 0;
  Timestamp started_at_us = 0;
  QueryMetrics totals;
  CheckpointStats checkpoints;
  std::vector<OperatorWorkerStats> instances;
};

// Length of the valid UTF-8 sequence at v[i] (a byte >= 0x80), or 0.
std::size_t utf8_length(const std::string& v, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(v[k]); };
  const unsigned char c = b(i);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  else return 0;
  if (i + n > v.size() || b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  return n;
}

// Label values: backslash, double quote and line feed escaped (0.0.4); a
// byte that is not valid UTF-8 (names are the user's) becomes U+FFFD, as
// Prometheus requires UTF-8.
void append_label_value(std::string& out, const std::string& v) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t n = utf8_length(v, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
      } else {
        out.append(v, i, n);
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_uint(std::string& out, std::uint64_t v) { out += std::to_string(v); }

// µs as exact decimal seconds ("1.5", "-0.000001", "3"): no rounding through double.
void append_us_as_seconds(std::string& out, std::int64_t us) {
  if (us == kMaxTimestamp) {
    out += "+Inf";
    return;
  }
  std::uint64_t mag = us < 0 ? std::uint64_t(0) - static_cast<std::uint64_t>(us) : static_cast<std::uint64_t>(us);
  if (us < 0) out += '-';
  out += std::to_string(mag / 1'000'000);
  std::uint64_t frac = mag % 1'000'000;
  if (frac == 0) return;
  std::string digits = std::to_string(frac);
  digits.insert(0, 6 - digits.size(), '0');
  while (digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
}

void append_double(std::string& out, double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(const char* name, const char* type, const char* help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // our own text: no backslash or line feed to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // Starts a sample of the current family: name{labels} (then the caller appends the value).
  Writer& begin() {
    out_ += name_;
    first_label_ = true;
    return *this;
  }
  Writer& label(const char* key, const std::string& value) {
    out_ += first_label_ ? '{' : ',';
    first_label_ = false;
    out_ += key;
    out_ += "=\"";
    append_label_value(out_, value);
    out_ += '"';
    return *this;
  }
  std::string& value() {
    if (!first_label_) out_ += '}';
    out_ += ' ';
    return out_;
  }
  void end() { out_ += '\n'; }

 private:
  std::string& out_;
  const char* name_ = "";
  bool first_label_ = true;
};

}  // namespace

std::string prometheus_text(const Engine& engine) {
  std::vector<QuerySample> queries;
  for (const std::string& name : engine.list()) {
    std::shared_ptr<Query> q = engine.get(name);
    if (!q) continue;  // removed meanwhile
    QuerySample& s = queries.emplace_back();
    s.name = name;
    s.status = q->status();
    s.workers = q->workers();
    s.started_at_us = q->started_at_us();
    s.totals = q->metrics();
    s.checkpoints = q->checkpoint_stats();
    s.instances = q->metrics_by_worker();
  }

  std::string out;
  Writer w(out);

  // ---- per query ----
  w.family("sluice_query_state", "gauge", "1 for the state the query is in (running, finished, stopped, failed), 0 for the others.");
  for (const QuerySample& q : queries)
    for (QueryState st : {QueryState::kRunning, QueryState::kFinished, QueryState::kStopped, QueryState::kFailed}) {
      w.begin().label("query", q.name).label("state", to_string(st)).value() += q.status.state == st ? '1' : '0';
      w.end();
    }
  w.family("sluice_query_start_time_seconds", "gauge", "When the query was started, in seconds since the epoch of its clock.");
  for (const QuerySample& q : queries) {
    append_us_as_seconds(w.begin().label("query", q.name).value(), q.started_at_us);
    w.end();
  }
  w.family("sluice_query_workers", "gauge", "Worker threads the query runs on.");
  for (const QuerySample& q : queries) {
    append_uint(w.begin().label("query", q.name).value(), q.workers);
    w.end();
  }
  struct QueryCounter {
    const char* name;
    const char* help;
    std::uint64_t QueryMetrics::*field;
  };
  for (const QueryCounter& c : {
           QueryCounter{"sluice_query_records_in_total", "Records read by the query's sources.", &QueryMetrics::records_in},
           QueryCounter{"sluice_query_records_out_total", "Records written by the query's sinks.", &QueryMetrics::records_out},
           QueryCounter{"sluice_query_late_records_total", "Records behind the watermark beyond the allowed lateness, all operators.",
                        &QueryMetrics::late_records},
           QueryCounter{"sluice_query_dropped_records_total", "Records dropped by an opt-in backpressure strategy, all operators.",
                        &QueryMetrics::dropped_records},
           QueryCounter{"sluice_query_dead_letters_total", "Bad records routed to dead-letter outputs, all operators.",
                        &QueryMetrics::dead_letters},
       }) {
    w.family(c.name, "counter", c.help);
    for (const QuerySample& q : queries) {
      append_uint(w.begin().label("query", q.name).value(), q.totals.*c.field);
      w.end();
    }
  }
  w.family("sluice_query_watermark_seconds", "gauge",
           "The query's watermark (minimum over its sinks), in seconds of event time; +Inf after end of input.");
  for (const QuerySample& q : queries) {
    if (q.totals.watermark_us == kMinTimestamp) continue;  // none yet
    append_us_as_seconds(w.begin().label("query", q.name).value(), q.totals.watermark_us);
    w.end();
  }
  w.family("sluice_query_event_time_lag_seconds", "gauge", "Processing time minus the query's watermark, in seconds (0 before the first watermark).");
  for (const QuerySample& q : queries) {
    append_us_as_seconds(w.begin().label("query", q.name).value(), q.totals.event_time_lag_us);
    w.end();
  }
  w.family("sluice_query_checkpoints_completed_total", "counter", "Checkpoints the query completed (committed) in this run.");
  for (const QuerySample& q : queries) {
    append_uint(w.begin().label("query", q.name).value(), q.checkpoints.completed);
    w.end();
  }
  w.family("sluice_query_checkpoints_failed_total", "counter",
           "Checkpoints aborted in this run: timeout, storage failure, or the query ended first.");
  for (const QuerySample& q : queries) {
    append_uint(w.begin().label("query", q.name).value(), q.checkpoints.failed);
    w.end();
  }
  // The last checkpoint's figures exist once one completed.
  w.family("sluice_query_last_checkpoint_id", "gauge", "Id of the newest checkpoint completed in this run.");
  for (const QuerySample& q : queries) {
    if (q.checkpoints.last_completed_id == 0) continue;
    append_uint(w.begin().label("query", q.name).value(), q.checkpoints.last_completed_id);
    w.end();
  }
  w.family("sluice_query_last_checkpoint_duration_seconds", "gauge",
           "From trigger to commit of the newest completed checkpoint, in seconds.");
  for (const QuerySample& q : queries) {
    if (q.checkpoints.last_completed_id == 0) continue;
    append_us_as_seconds(w.begin().label("query", q.name).value(),
                         static_cast<Timestamp>(q.checkpoints.last_duration_us));
    w.end();
  }
  w.family("sluice_query_last_checkpoint_size_bytes", "gauge", "Bytes of state in the newest completed checkpoint.");
  for (const QuerySample& q : queries) {
    if (q.checkpoints.last_completed_id == 0) continue;
    append_uint(w.begin().label("query", q.name).value(), q.checkpoints.last_bytes);
    w.end();
  }

  // ---- per operator instance ----
  struct OperatorCounter {
    const char* name;
    const char* help;
    std::uint64_t OperatorStats::*field;
  };
  for (const OperatorCounter& c : {
           OperatorCounter{"sluice_operator_records_in_total", "Records the operator instance received.", &OperatorStats::records_in},
           OperatorCounter{"sluice_operator_records_out_total", "Records the operator instance emitted.", &OperatorStats::records_out},
           OperatorCounter{"sluice_operator_late_records_total", "Records behind the watermark sent to a late output or dropped.",
                           &OperatorStats::late_records},
           OperatorCounter{"sluice_operator_dropped_records_total", "Records dropped by an opt-in backpressure strategy.",
                           &OperatorStats::dropped_records},
           OperatorCounter{"sluice_operator_dead_letters_total", "Bad records routed to the dead-letter output.",
                           &OperatorStats::dead_letters},
       }) {
    w.family(c.name, "counter", c.help);
    for (const QuerySample& q : queries)
      for (const OperatorWorkerStats& i : q.instances) {
        append_uint(w.begin().label("query", q.name).label("operator", i.stats.name).label("worker", std::to_string(i.worker)).value(),
                    i.stats.*c.field);
        w.end();
      }
  }
  w.family("sluice_operator_watermark_seconds", "gauge",
           "The operator instance's current watermark, in seconds of event time; +Inf after end of input.");
  for (const QuerySample& q : queries)
    for (const OperatorWorkerStats& i : q.instances) {
      if (i.stats.watermark_us == kMinTimestamp) continue;
      append_us_as_seconds(
          w.begin().label("query", q.name).label("operator", i.stats.name).label("worker", std::to_string(i.worker)).value(),
          i.stats.watermark_us);
      w.end();
    }

  // ---- per buffer ----
  struct BufferCounter {
    const char* name;
    const char* help;
    std::uint64_t BufferStats::*field;
  };
  for (const BufferCounter& c : {
           BufferCounter{"sluice_buffer_batches_total", "Batches (records, for source buffers) the buffer accepted.", &BufferStats::batches},
           BufferCounter{"sluice_buffer_records_total", "Records the buffer accepted.", &BufferStats::records},
           BufferCounter{"sluice_buffer_dropped_records_total", "Records lost to DropOldest or DropNewest.", &BufferStats::dropped_records},
           BufferCounter{"sluice_buffer_backpressure_events_total", "Times a producer found the buffer full.",
                         &BufferStats::backpressure_events},
       }) {
    w.family(c.name, "counter", c.help);
    for (const QuerySample& q : queries)
      for (const BufferStats& b : q.totals.buffers) {
        append_uint(w.begin().label("query", q.name).label("buffer", b.name).value(), b.*c.field);
        w.end();
      }
  }
  w.family("sluice_buffer_blocked_seconds_total", "counter", "Time producers spent waiting on the full buffer, in seconds.");
  for (const QuerySample& q : queries)
    for (const BufferStats& b : q.totals.buffers) {
      append_us_as_seconds(w.begin().label("query", q.name).label("buffer", b.name).value(), static_cast<std::int64_t>(b.blocked_us));
      w.end();
    }
  w.family("sluice_buffer_occupancy_ratio", "gauge", "Mean fill level of the buffer when it accepted, as a fraction of its capacity.");
  for (const QuerySample& q : queries)
    for (const BufferStats& b : q.totals.buffers) {
      append_double(w.begin().label("query", q.name).label("buffer", b.name).value(), b.average_occupancy);
      w.end();
    }
  w.family("sluice_buffer_capacity", "gauge", "Capacity of the buffer: batches for exchanges, records for source buffers.");
  for (const QuerySample& q : queries)
    for (const BufferStats& b : q.totals.buffers) {
      append_uint(w.begin().label("query", q.name).label("buffer", b.name).value(), static_cast<std::uint64_t>(b.capacity));
      w.end();
    }
  return out;
}

}  // namespace sluice
