#include "http/query_json.hpp"

#include <nlohmann/json.hpp>

#include "streaming/engine.hpp"

namespace sluice {

namespace {

using Json = nlohmann::ordered_json;

Json watermark(Timestamp wm) { return wm == kMinTimestamp ? Json(nullptr) : Json(wm); }

Json to_json(const Query& q) {
  const QueryStatus status = q.status();
  const QueryMetrics m = q.metrics();
  Json j;
  j["name"] = q.name();
  j["state"] = to_string(status.state);
  j["started_at_us"] = q.started_at_us();
  j["workers"] = q.workers();
  j["records_in"] = m.records_in;
  j["records_out"] = m.records_out;
  j["late_records"] = m.late_records;
  j["dropped_records"] = m.dropped_records;
  j["dead_letters"] = m.dead_letters;
  j["watermark_us"] = watermark(m.watermark_us);
  j["event_time_lag_us"] = m.event_time_lag_us;
  if (status.state == QueryState::kFailed) {
    j["error"] = Json{{"message", status.error},
                      {"operator", status.failed_operator.empty() ? Json(nullptr) : Json(status.failed_operator)}};
  } else {
    j["error"] = nullptr;
  }
  const CheckpointStats cp = q.checkpoint_stats();
  if (cp.last_completed_id == 0) {
    j["last_checkpoint"] = nullptr;
  } else {
    j["last_checkpoint"] =
        Json{{"id", cp.last_completed_id},
             {"bytes", cp.last_bytes},
             {"duration_us", cp.last_duration_us},
             {"parts_written", cp.last_parts_written},
             {"parts_reused", cp.last_parts_reused},
             {"max_snapshot_us", cp.last_max_snapshot_us}};
  }
  j["checkpoints"] = Json{{"completed", cp.completed},
                          {"failed", cp.failed},
                          {"restored_from", cp.restored_id == 0 ? Json(nullptr) : Json(cp.restored_id)},
                          {"last_error", cp.last_error.empty() ? Json(nullptr) : Json(cp.last_error)}};
  Json ops = Json::array();
  for (const OperatorStats& o : m.operators)
    ops.push_back(Json{{"name", o.name},
                       {"kind", o.kind},
                       {"records_in", o.records_in},
                       {"records_out", o.records_out},
                       {"late_records", o.late_records},
                       {"dropped_records", o.dropped_records},
                       {"dead_letters", o.dead_letters},
                       {"watermark_us", watermark(o.watermark_us)}});
  j["operators"] = std::move(ops);
  Json bufs = Json::array();
  for (const BufferStats& b : m.buffers)
    bufs.push_back(Json{{"name", b.name},
                        {"batches", b.batches},
                        {"records", b.records},
                        {"dropped_records", b.dropped_records},
                        {"backpressure_events", b.backpressure_events},
                        {"blocked_us", b.blocked_us},
                        {"average_occupancy", b.average_occupancy},
                        {"capacity", b.capacity}});
  j["buffers"] = std::move(bufs);
  const QueryGraph& g = q.topology();
  Json nodes = Json::array(), edges = Json::array();
  for (const GraphNode& n : g.nodes) nodes.push_back(Json{{"id", n.id}, {"name", n.name}, {"kind", n.kind}});
  for (const GraphEdge& e : g.edges) edges.push_back(Json{{"from", e.from}, {"to", e.to}});
  j["graph"] = Json{{"nodes", std::move(nodes)}, {"edges", std::move(edges)}};
  return j;
}

// Input-derived strings (query and operator names, error text) may hold
// invalid UTF-8: replace it rather than throw.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string query_json(const Query& query) { return dump(to_json(query)); }

std::string queries_json(const Engine& engine) {
  Json all = Json::array();
  for (const std::string& name : engine.list())
    if (std::shared_ptr<Query> q = engine.get(name)) all.push_back(to_json(*q));
  Json j;
  j["now_us"] = engine.clock().now_us();
  j["queries"] = std::move(all);
  return dump(j);
}

}  // namespace sluice
