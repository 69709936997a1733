// GET /api/queries and /api/queries/NAME: status, metrics and operator graph
// as JSON, with exact values.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "http/http_client.hpp"
#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using nlohmann::json;

namespace {
constexpr Timestamp kStart = 1'700'000'000'500'000;
constexpr std::int64_t kEndOfInput = std::numeric_limits<std::int64_t>::max();
}  // namespace

TEST_CASE("GET /api/queries/NAME: exact status, metrics and graph of a finished query", "[http]") {
  ManualClock clock(kStart);
  Engine engine(EngineOptions{.workers = 1, .clock = &clock});
  ScriptedSource<std::int64_t> source("numbers");
  ProbeSink<std::int64_t> sink;
  Job job("numbers");
  job.source(source).filter([](std::int64_t v) { return v % 2 == 0; }).name("evens").sink(sink);
  source.push_values({{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}});
  source.end();
  auto q = engine.start("numbers", job, manual_options(clock));
  REQUIRE(q->wait_for(20s));

  HttpServer http(engine, {.listen = "127.0.0.1:0"});
  const HttpReply reply = http_get(http.port(), "/api/queries/numbers");
  REQUIRE(reply.status == 200);
  CHECK(reply.headers.at("content-type") == "application/json");
  const json expected = {
      {"name", "numbers"},
      {"state", "finished"},
      {"started_at_us", kStart},
      {"workers", 1},
      {"records_in", 5},
      {"records_out", 2},
      {"late_records", 0},
      {"dropped_records", 0},
      {"dead_letters", 0},
      {"watermark_us", kEndOfInput},
      {"event_time_lag_us", 0},
      {"error", nullptr},
      {"last_checkpoint", nullptr},
      {"checkpoints", {{"completed", 0}, {"failed", 0}, {"restored_from", nullptr}, {"last_error", nullptr}}},
      {"operators",
       {{{"name", "numbers"}, {"kind", "source"}, {"records_in", 0}, {"records_out", 5}, {"late_records", 0},
         {"dropped_records", 0}, {"dead_letters", 0}, {"watermark_us", nullptr}},
        {{"name", "evens"}, {"kind", "filter"}, {"records_in", 5}, {"records_out", 2}, {"late_records", 0},
         {"dropped_records", 0}, {"dead_letters", 0}, {"watermark_us", kEndOfInput}},
        {{"name", "probe"}, {"kind", "sink"}, {"records_in", 2}, {"records_out", 0}, {"late_records", 0},
         {"dropped_records", 0}, {"dead_letters", 0}, {"watermark_us", kEndOfInput}}}},
      {"buffers", json::array()},
      {"graph",
       {{"nodes",
         {{{"id", 0}, {"name", "numbers"}, {"kind", "source"}},
          {{"id", 1}, {"name", "evens"}, {"kind", "filter"}},
          {{"id", 2}, {"name", "probe"}, {"kind", "sink"}}}},
        {"edges", {{{"from", 0}, {"to", 1}}, {{"from", 1}, {"to", 2}}}}}},
  };
  const json got = json::parse(reply.body);
  INFO(got.dump(2));
  CHECK(got == expected);
  // Served as built: the same text as query_json().
  CHECK(reply.body == query_json(*q));
}

TEST_CASE("GET /api/queries: every query by name, failures with their operator, percent-encoded names", "[http]") {
  ManualClock clock(kStart);
  Engine engine(EngineOptions{.workers = 1, .clock = &clock});
  HttpServer http(engine, {.listen = "127.0.0.1:0"});

  Job failing("failing");
  failing.source(Generator(GeneratorOptions{.count = 100}, identity, "gen"))
      .map([](std::int64_t v) {
        if (v == 3) throw std::runtime_error("bad value 3");
        return v;
      })
      .name("check")
      .sink(CollectSink<std::int64_t>{});
  auto f = engine.start("b failing", failing, manual_options(clock));
  REQUIRE(f->wait_for(20s));

  clock.set(kStart + 2'000'000);
  ScriptedSource<std::int64_t> source("numbers");
  ProbeSink<std::int64_t> probe;
  Job running("running");
  running.source(source).watermarks(ascending()).sink(probe);
  auto r = engine.start("a/running", running, manual_options(clock));
  source.push_values({{7, 1'000'000}, {8, 1'500'000}});
  REQUIRE(probe.wait_records(2));

  const HttpReply all = http_get(http.port(), "/api/queries");
  REQUIRE(all.status == 200);
  const json j = json::parse(all.body);
  CHECK(j.at("now_us") == kStart + 2'000'000);
  REQUIRE(j.at("queries").size() == 2);
  const json& a = j["queries"][0];  // by name: "a/running" < "b failing"
  CHECK(a.at("name") == "a/running");
  CHECK(a.at("state") == "running");
  CHECK(a.at("started_at_us") == kStart + 2'000'000);
  CHECK(a.at("records_in") == 2);
  CHECK(a.at("records_out") == 2);
  CHECK(a.at("error") == nullptr);
  CHECK(a.at("graph").at("edges") == json::parse(R"([{"from":0,"to":1},{"from":1,"to":2}])"));
  const json& b = j["queries"][1];
  CHECK(b.at("name") == "b failing");
  CHECK(b.at("state") == "failed");
  CHECK(b.at("started_at_us") == kStart);
  CHECK(b.at("error") == json{{"message", "worker 0: operator 'check': bad value 3"}, {"operator", "check"}});

  // Names are percent-decoded; a missing query is 404.
  const HttpReply one = http_get(http.port(), "/api/queries/a%2Frunning");
  REQUIRE(one.status == 200);
  CHECK(json::parse(one.body).at("name") == "a/running");
  CHECK(http_get(http.port(), "/api/queries/b%20failing").status == 200);
  const HttpReply missing = http_get(http.port(), "/api/queries/nope");
  CHECK(missing.status == 404);
  CHECK(json::parse(missing.body) == json{{"error", "no such query"}});
  CHECK(http_get(http.port(), "/api/queries/bad%zz").status == 400);
  r->stop();
}
