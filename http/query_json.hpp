// Query status as JSON: what `GET /api/queries[/NAME]` serves, for scripts
// and the dashboard.
//
// A query object:
//   {"name": "fraud", "state": "running" | "finished" | "stopped" | "failed",
//    "started_at_us": 1700000000000000,    // µs of the query's clock
//    "workers": 2,
//    "records_in": 10, "records_out": 10, "late_records": 0, "dropped_records": 0, "dead_letters": 0,
//    "watermark_us": 12345 | null,          // null before the first watermark;
//                                           // 9223372036854775807 after end of input
//    "event_time_lag_us": 0,
//    "error": null | {"message": "...", "operator": "enrich" | null},
//    "last_checkpoint": null | {"id": 17, "bytes": 40960, "duration_us": 1200},  // newest completed in this run
//    "checkpoints": {"completed": 17, "failed": 0, "restored_from": 3 | null, "last_error": null | "..."},
//    "operators": [{"name", "kind", "records_in", "records_out", "late_records",
//                   "dropped_records", "dead_letters", "watermark_us"}, ...],   // graph order
//    "buffers": [{"name", "batches", "records", "dropped_records", "backpressure_events",
//                 "blocked_us", "average_occupancy", "capacity"}, ...],
//    "graph": {"nodes": [{"id": 0, "name": "gen", "kind": "source"}, ...],
//              "edges": [{"from": 0, "to": 1}, ...]}}
// `GET /api/queries` serves {"now_us": <engine clock>, "queries": [query objects, by name]}.
#pragma once

#include <string>

namespace sluice {

class Engine;
class Query;

/// One query object, as above. Thread-safe; reads only published state.
std::string query_json(const Query& query);
/// {"now_us": ..., "queries": [...]} for every query of `engine`, in name order.
std::string queries_json(const Engine& engine);

}  // namespace sluice
