// GET /metrics: the exact exposition of a query with known counts, parsed
// back, and accepted by Prometheus' own promtool.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "http/http_client.hpp"
#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

// Sample lines of an exposition, by series ("name{labels}") -> value text.
// Checks the 0.0.4 grammar as it goes: every sample belongs to the family of
// the last TYPE line, each family has HELP then TYPE, once.
std::map<std::string, std::string> parse_exposition(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::set<std::string> families;
  std::string family, helped;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      helped = line.substr(7, line.find(' ', 7) - 7);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string type;
      t >> family >> type;
      REQUIRE(family == helped);
      REQUIRE(families.insert(family).second);
      REQUIRE((type == "counter" || type == "gauge"));
      if (type == "counter") REQUIRE(family.size() > 6);
      if (type == "counter") REQUIRE(family.substr(family.size() - 6) == "_total");
      continue;
    }
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string series = line.substr(0, space);
    const std::string name = series.substr(0, series.find('{'));
    INFO(line);
    REQUIRE(name == family);
    REQUIRE(samples.emplace(series, line.substr(space + 1)).second);
  }
  return samples;
}

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// `promtool check metrics` on `text` (it lints the exposition: names, units,
// _total suffixes, HELP text, and fails on any problem).
PromtoolResult promtool_check(const std::string& text) {
  const std::string promtool = SLUICE_PROMTOOL;
  if (promtool.empty() || promtool.find("NOTFOUND") != std::string::npos)
    FAIL("promtool not found: run tools/install-deps.sh (Debian package 'prometheus') and re-run cmake");
  char path[] = "/tmp/sluice-metrics-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(path) << text;
  const std::string cmd = promtool + " check metrics < " + path + " 2>&1";
  PromtoolResult r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  std::remove(path);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Forwards every record (a keyed operator behind an exchange).
struct PassThrough : KeyedProcessFunction<std::int64_t, std::int64_t, std::int64_t> {
  void process(const std::int64_t& v, Context&, Collector<std::int64_t>& out) { out.emit(v); }
};

}  // namespace

TEST_CASE("GET /metrics: exact exposition of a finished query with known counts", "[http]") {
  ManualClock clock(1'700'000'000'500'000);
  Engine engine(EngineOptions{.workers = 1, .clock = &clock});
  ScriptedSource<std::int64_t> source("numbers");
  ProbeSink<std::int64_t> sink;
  Job job("numbers");
  job.source(source).filter([](std::int64_t v) { return v % 2 == 0; }).name("evens").sink(sink);
  source.push_values({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}});
  source.end();
  auto q = engine.start("numbers", job, manual_options(clock));
  REQUIRE(q->wait_for(20s));
  REQUIRE(q->status().state == QueryState::kFinished);

  HttpServer http(engine, {.listen = "127.0.0.1:0"});
  const HttpReply reply = http_get(http.port(), "/metrics");
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.at("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  // Source watermarks are not tracked (no sample); the others passed end of
  // input (+Inf). No buffers: one worker and no rate limit.
  const std::string expected = R"(# HELP sluice_query_state 1 for the state the query is in (running, finished, stopped, failed), 0 for the others.
# TYPE sluice_query_state gauge
sluice_query_state{query="numbers",state="running"} 0
sluice_query_state{query="numbers",state="finished"} 1
sluice_query_state{query="numbers",state="stopped"} 0
sluice_query_state{query="numbers",state="failed"} 0
# HELP sluice_query_start_time_seconds When the query was started, in seconds since the epoch of its clock.
# TYPE sluice_query_start_time_seconds gauge
sluice_query_start_time_seconds{query="numbers"} 1700000000.5
# HELP sluice_query_workers Worker threads the query runs on.
# TYPE sluice_query_workers gauge
sluice_query_workers{query="numbers"} 1
# HELP sluice_query_records_in_total Records read by the query's sources.
# TYPE sluice_query_records_in_total counter
sluice_query_records_in_total{query="numbers"} 5
# HELP sluice_query_records_out_total Records written by the query's sinks.
# TYPE sluice_query_records_out_total counter
sluice_query_records_out_total{query="numbers"} 2
# HELP sluice_query_late_records_total Records behind the watermark beyond the allowed lateness, all operators.
# TYPE sluice_query_late_records_total counter
sluice_query_late_records_total{query="numbers"} 0
# HELP sluice_query_dropped_records_total Records dropped by an opt-in backpressure strategy, all operators.
# TYPE sluice_query_dropped_records_total counter
sluice_query_dropped_records_total{query="numbers"} 0
# HELP sluice_query_dead_letters_total Bad records routed to dead-letter outputs, all operators.
# TYPE sluice_query_dead_letters_total counter
sluice_query_dead_letters_total{query="numbers"} 0
# HELP sluice_query_watermark_seconds The query's watermark (minimum over its sinks), in seconds of event time; +Inf after end of input.
# TYPE sluice_query_watermark_seconds gauge
sluice_query_watermark_seconds{query="numbers"} +Inf
# HELP sluice_query_event_time_lag_seconds Processing time minus the query's watermark, in seconds (0 before the first watermark).
# TYPE sluice_query_event_time_lag_seconds gauge
sluice_query_event_time_lag_seconds{query="numbers"} 0
# HELP sluice_query_checkpoints_completed_total Checkpoints the query completed (committed) in this run.
# TYPE sluice_query_checkpoints_completed_total counter
sluice_query_checkpoints_completed_total{query="numbers"} 0
# HELP sluice_query_checkpoints_failed_total Checkpoints aborted in this run: timeout, storage failure, or the query ended first.
# TYPE sluice_query_checkpoints_failed_total counter
sluice_query_checkpoints_failed_total{query="numbers"} 0
# HELP sluice_query_last_checkpoint_id Id of the newest checkpoint completed in this run.
# TYPE sluice_query_last_checkpoint_id gauge
# HELP sluice_query_last_checkpoint_duration_seconds From trigger to commit of the newest completed checkpoint, in seconds.
# TYPE sluice_query_last_checkpoint_duration_seconds gauge
# HELP sluice_query_last_checkpoint_size_bytes Bytes of state in the newest completed checkpoint.
# TYPE sluice_query_last_checkpoint_size_bytes gauge
# HELP sluice_operator_records_in_total Records the operator instance received.
# TYPE sluice_operator_records_in_total counter
sluice_operator_records_in_total{query="numbers",operator="numbers",worker="0"} 0
sluice_operator_records_in_total{query="numbers",operator="evens",worker="0"} 5
sluice_operator_records_in_total{query="numbers",operator="probe",worker="0"} 2
# HELP sluice_operator_records_out_total Records the operator instance emitted.
# TYPE sluice_operator_records_out_total counter
sluice_operator_records_out_total{query="numbers",operator="numbers",worker="0"} 5
sluice_operator_records_out_total{query="numbers",operator="evens",worker="0"} 2
sluice_operator_records_out_total{query="numbers",operator="probe",worker="0"} 0
# HELP sluice_operator_late_records_total Records behind the watermark sent to a late output or dropped.
# TYPE sluice_operator_late_records_total counter
sluice_operator_late_records_total{query="numbers",operator="numbers",worker="0"} 0
sluice_operator_late_records_total{query="numbers",operator="evens",worker="0"} 0
sluice_operator_late_records_total{query="numbers",operator="probe",worker="0"} 0
# HELP sluice_operator_dropped_records_total Records dropped by an opt-in backpressure strategy.
# TYPE sluice_operator_dropped_records_total counter
sluice_operator_dropped_records_total{query="numbers",operator="numbers",worker="0"} 0
sluice_operator_dropped_records_total{query="numbers",operator="evens",worker="0"} 0
sluice_operator_dropped_records_total{query="numbers",operator="probe",worker="0"} 0
# HELP sluice_operator_dead_letters_total Bad records routed to the dead-letter output.
# TYPE sluice_operator_dead_letters_total counter
sluice_operator_dead_letters_total{query="numbers",operator="numbers",worker="0"} 0
sluice_operator_dead_letters_total{query="numbers",operator="evens",worker="0"} 0
sluice_operator_dead_letters_total{query="numbers",operator="probe",worker="0"} 0
# HELP sluice_operator_watermark_seconds The operator instance's current watermark, in seconds of event time; +Inf after end of input.
# TYPE sluice_operator_watermark_seconds gauge
sluice_operator_watermark_seconds{query="numbers",operator="evens",worker="0"} +Inf
sluice_operator_watermark_seconds{query="numbers",operator="probe",worker="0"} +Inf
# HELP sluice_buffer_batches_total Batches (records, for source buffers) the buffer accepted.
# TYPE sluice_buffer_batches_total counter
# HELP sluice_buffer_records_total Records the buffer accepted.
# TYPE sluice_buffer_records_total counter
# HELP sluice_buffer_dropped_records_total Records lost to DropOldest or DropNewest.
# TYPE sluice_buffer_dropped_records_total counter
# HELP sluice_buffer_backpressure_events_total Times a producer found the buffer full.
# TYPE sluice_buffer_backpressure_events_total counter
# HELP sluice_buffer_blocked_seconds_total Time producers spent waiting on the full buffer, in seconds.
# TYPE sluice_buffer_blocked_seconds_total counter
# HELP sluice_buffer_occupancy_ratio Mean fill level of the buffer when it accepted, as a fraction of its capacity.
# TYPE sluice_buffer_occupancy_ratio gauge
# HELP sluice_buffer_capacity Capacity of the buffer: batches for exchanges, records for source buffers.
# TYPE sluice_buffer_capacity gauge
)";
  CHECK(reply.body == expected);

  const auto samples = parse_exposition(reply.body);
  CHECK(samples.size() == 32);  // 15 per query, 5 x 3 operator counters, 2 watermarks
  CHECK(samples.at(R"(sluice_query_records_in_total{query="numbers"})") == "5");
  CHECK(samples.at(R"(sluice_query_records_out_total{query="numbers"})") == "2");
  CHECK(samples.at(R"(sluice_operator_records_in_total{query="numbers",operator="evens",worker="0"})") == "5");
  CHECK(samples.at(R"(sluice_operator_records_out_total{query="numbers",operator="evens",worker="0"})") == "2");
  CHECK(samples.at(R"(sluice_query_start_time_seconds{query="numbers"})") == "1700000000.5");
  CHECK(samples.at(R"(sluice_query_state{query="numbers",state="finished"})") == "1");

  const PromtoolResult lint = promtool_check(reply.body);
  INFO(lint.output);
  CHECK(lint.exit_code == 0);
  CHECK(lint.output.empty());
}

TEST_CASE("GET /metrics: two workers, buffers, running and odd-named queries pass promtool", "[http]") {
  Engine engine(EngineOptions{.workers = 2});
  HttpServer http(engine, {.listen = "127.0.0.1:0"});

  // A bounded, rate-limited generator (a source buffer per worker) keyed
  // across 2 workers (exchange buffers), with watermarks.
  ProbeSink<std::int64_t> sink;
  Job job("keyed");
  job.source(Generator(GeneratorOptions{.count = 2000, .events_per_second = 1e6, .chunk = 16}, identity, "gen"))
      .watermarks(ascending())
      .key_by([](std::int64_t v) { return v % 7; })
      .process(PassThrough{})
      .name("same")
      .sink(sink);
  auto keyed = engine.start("keyed", job, workers(2));
  REQUIRE(keyed->wait_for(20s));
  REQUIRE(keyed->status().state == QueryState::kFinished);

  // Still running while scraped, with a name that needs escaping.
  ScriptedSource<std::int64_t> source("numbers");
  ProbeSink<std::int64_t> probe;
  Job odd("odd");
  odd.source(source).sink(probe);
  const std::string odd_name = "we\"ird\\name\nline 2";
  auto running = engine.start(odd_name, odd, workers(1));
  source.push_values({{1, 10}});
  REQUIRE(probe.wait_records(1));

  const HttpReply reply = http_get(http.port(), "/metrics");
  REQUIRE(reply.status == 200);
  const auto samples = parse_exposition(reply.body);
  std::uint64_t source_out = 0, sink_in = 0;
  for (const char* w : {"0", "1"}) {
    source_out += std::stoull(samples.at(std::string(R"(sluice_operator_records_out_total{query="keyed",operator="gen",worker=")") + w + "\"}"));
    sink_in += std::stoull(samples.at(std::string(R"(sluice_operator_records_in_total{query="keyed",operator="probe",worker=")") + w + "\"}"));
  }
  CHECK(source_out == 2000);
  CHECK(sink_in == 2000);
  CHECK(samples.at(R"(sluice_buffer_records_total{query="keyed",buffer="gen.buffer"})") == "2000");
  CHECK(samples.count(R"(sluice_buffer_capacity{query="keyed",buffer="gen.buffer"})") == 1);
  CHECK(samples.at(R"(sluice_query_state{query="we\"ird\\name\nline 2",state="running"})") == "1");
  CHECK(samples.at(R"(sluice_query_records_out_total{query="we\"ird\\name\nline 2"})") == "1");

  // Not UTF-8 (a lone continuation byte, a truncated sequence): U+FFFD each;
  // valid multi-byte text is kept.
  ScriptedSource<std::int64_t> source2("numbers");
  ProbeSink<std::int64_t> probe2;
  Job bytes("bytes");
  bytes.source(source2).sink(probe2);
  auto bad = engine.start("caf\xc3\xa9 \x80 \xe2\x82", bytes, workers(1));
  const std::string scraped = http_get(http.port(), "/metrics").body;
  CHECK(scraped.find("sluice_query_workers{query=\"caf\xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\"} 1\n") !=
        std::string::npos);
  const PromtoolResult bad_lint = promtool_check(scraped);
  INFO(bad_lint.output);
  CHECK(bad_lint.exit_code == 0);
  bad->stop();

  const PromtoolResult lint = promtool_check(reply.body);
  INFO(reply.body);
  INFO(lint.output);
  CHECK(lint.exit_code == 0);
  CHECK(lint.output.empty());
  running->stop();
}
