// What monitoring reads from a query: its graph, start time, per-worker
// operator figures and the operator that failed it.
#include <catch2/catch.hpp>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {
struct PassThrough : KeyedProcessFunction<std::int64_t, std::int64_t, std::int64_t> {
  void process(const std::int64_t& v, Context&, Collector<std::int64_t>& out) { out.emit(v); }
};
}  // namespace

TEST_CASE("monitoring: topology lists nodes in graph order and one edge per input", "[streaming]") {
  ProbeSink<std::int64_t> sink;
  Job job("shape");
  auto a = job.source(Generator(GeneratorOptions{.count = 10}, identity, "a"));
  auto b = job.source(Generator(GeneratorOptions{.count = 10}, identity, "b"));
  a.union_with(b).name("both").filter([](std::int64_t) { return true; }).name("all").sink(sink);
  ManualClock clock(42'000'000);
  Engine engine(EngineOptions{.workers = 1, .clock = &clock});
  auto q = engine.start("shape", job);
  REQUIRE(q->wait_for(20s));
  q->stop();

  const QueryGraph& g = q->topology();  // still there after the query ended
  REQUIRE(g.nodes.size() == 5);
  std::vector<std::pair<std::string, std::string>> nodes;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    CHECK(g.nodes[i].id == static_cast<int>(i));
    nodes.emplace_back(g.nodes[i].name, g.nodes[i].kind);
  }
  CHECK(nodes == std::vector<std::pair<std::string, std::string>>{
                     {"a", "source"}, {"b", "source"}, {"both", "union"}, {"all", "filter"}, {"probe", "sink"}});
  CHECK(g.edges == std::vector<GraphEdge>{{0, 2}, {1, 2}, {2, 3}, {3, 4}});
  CHECK(q->started_at_us() == 42'000'000);
}

TEST_CASE("monitoring: metrics_by_worker gives each instance's own counts, summing to metrics()", "[streaming]") {
  ProbeSink<std::int64_t> sink;
  Job job("keyed");
  job.source(Generator(GeneratorOptions{.count = 1000, .chunk = 16}, identity, "gen"))
      .key_by([](std::int64_t v) { return v % 5; })
      .process(PassThrough{})
      .name("pass")
      .sink(sink);
  Engine engine;
  auto q = engine.start("keyed", job, workers(2));
  REQUIRE(q->wait_for(20s));
  const auto by_worker = q->metrics_by_worker();
  const QueryMetrics total = q->metrics();
  // Graph order, then worker order.
  std::vector<std::pair<std::string, std::size_t>> order;
  for (const auto& i : by_worker) order.emplace_back(i.stats.name, i.worker);
  CHECK(order == std::vector<std::pair<std::string, std::size_t>>{
                     {"gen", 0}, {"gen", 1}, {"key_by#1", 0}, {"key_by#1", 1}, {"pass", 0}, {"pass", 1}, {"probe", 0}, {"probe", 1}});
  for (const OperatorStats& op : total.operators) {
    std::uint64_t in = 0, out = 0;
    for (const auto& i : by_worker)
      if (i.stats.name == op.name) {
        in += i.stats.records_in;
        out += i.stats.records_out;
        CHECK(i.stats.kind == op.kind);
      }
    CHECK(in == op.records_in);
    CHECK(out == op.records_out);
  }
  // The generator deals chunks of 16 round-robin: 63 chunks, the last (#62,
  // worker 0's) of 8 records. Worker 0: 31 full chunks + 8, worker 1: 31.
  CHECK(by_worker[0].stats.records_out == 31 * 16 + 8);
  CHECK(by_worker[1].stats.records_out == 31 * 16);
  CHECK(total.op("probe")->records_in == 1000);
}

TEST_CASE("monitoring: a failed query's status names the operator that failed it", "[streaming]") {
  Job job("failing");
  job.source(Generator(GeneratorOptions{.count = 100}, identity, "gen"))
      .map([](std::int64_t v) {
        if (v == 50) throw std::runtime_error("bad value 50");
        return v;
      })
      .name("check")
      .sink(CollectSink<std::int64_t>{});
  Engine engine;
  auto q = engine.start("failing", job, workers(1));
  REQUIRE(q->wait_for(20s));
  const QueryStatus s = q->status();
  CHECK(s.state == QueryState::kFailed);
  CHECK(s.failed_operator == "check");
  CHECK(s.error == "worker 0: operator 'check': bad value 50");
}
