// Engine metrics in the Prometheus text exposition format, version 0.0.4.
//
// One family per metric, each with HELP and TYPE, every query of the engine
// (running or ended: an ended query keeps its final figures until removed)
// in name order. Counters end in `_total`, durations are in seconds,
// timestamps (watermarks, start time) in seconds since the epoch of the
// query's clock. Labels: `query`, and `operator` + `worker` for operator
// instances, `buffer` for buffers (summed over a buffer's instances).
//
//   sluice_query_state{query,state}          gauge   1 for the query's state, 0 for the others
//                                                    (state: running, finished, stopped, failed)
//   sluice_query_start_time_seconds{query}   gauge
//   sluice_query_workers{query}              gauge
//   sluice_query_records_in_total{query}     counter records read by all sources
//   sluice_query_records_out_total{query}    counter records written by all sinks
//   sluice_query_late_records_total, sluice_query_dropped_records_total,
//   sluice_query_dead_letters_total{query}   counter
//   sluice_query_watermark_seconds{query}    gauge   minimum over sinks; no sample before
//                                                    the first watermark, +Inf after end of input
//   sluice_query_event_time_lag_seconds{query} gauge processing time minus that watermark
//   sluice_query_checkpoints_completed_total, sluice_query_checkpoints_failed_total{query} counter
//   sluice_query_last_checkpoint_id, sluice_query_last_checkpoint_duration_seconds,
//   sluice_query_last_checkpoint_size_bytes{query}  gauge  no sample before one completed
//   sluice_operator_records_in_total, _records_out_total, _late_records_total,
//   _dropped_records_total, _dead_letters_total{query,operator,worker}  counter
//   sluice_operator_watermark_seconds{query,operator,worker} gauge (as the query's)
//   sluice_buffer_batches_total, _records_total, _dropped_records_total,
//   _backpressure_events_total{query,buffer}  counter
//   sluice_buffer_blocked_seconds_total{query,buffer} counter time producers waited on a full buffer
//   sluice_buffer_occupancy_ratio{query,buffer} gauge   mean fill level at accept time, in [0, 1]
//   sluice_buffer_capacity{query,buffer}      gauge   batches (exchanges) or records (source buffers)
//
// Label values are escaped as 0.0.4 requires; bytes of a (user-given) name
// that are not valid UTF-8 are shown as U+FFFD.
#pragma once

#include <string>

namespace sluice {

class Engine;

/// The text served at `GET /metrics`. Thread-safe; reads only published metrics.
std::string prometheus_text(const Engine& engine);

/// The Content-Type of that text.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sluice
