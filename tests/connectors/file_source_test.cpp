#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {
std::string data(const std::string& name) {
  const char* dir = std::getenv("SLUICE_TEST_DATA");
  REQUIRE(dir != nullptr);
  return std::string(dir) + "/" + name;
}
SchemaRef card_schema() {
  return Schema::make({{"card", ValueType::kString},
                       {"merchant", ValueType::kString},
                       {"amount", ValueType::kDouble},
                       {"ts", ValueType::kTimestamp}});
}
// Writes `content` to a fresh file under /tmp and returns its path.
std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = "/tmp/sluice_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("JSON-lines source: good rows with timestamps, bad lines to dead letters with reason and line",
          "[connectors]") {
  for (std::size_t workers : {1u, 2u}) {
    Job job("cards");
    CollectSink<Row> rows;
    CollectSink<DeadLetter> dead;
    auto src = job.source(JsonLinesSource(data("cards.jsonl"), card_schema(), {.timestamp_field = "ts"}));
    src.sink(rows);
    src.dead_letters().sink(dead);
    QueryOptions o;
    o.workers = workers;
    QueryMetrics m = job.run(o);

    std::vector<Record<Row>> got = rows.records();
    REQUIRE(got.size() == 3);
    CHECK(got[0].value.at(0).as_string() == "4000-01");
    CHECK(got[0].value.at(2).as_double() == 12.5);
    CHECK(got[0].ts_us == 1'795'428'000'000'000);  // 2026-11-23T10:00:00Z
    CHECK(got[1].value.at(2).as_double() == 60.0);  // int accepted for a double field
    CHECK(got[1].ts_us == 1'795'428'001'500'000);
    CHECK(got[2].value.at(1).as_string() == "jeweller");

    std::vector<DeadLetter> d = dead.values();
    REQUIRE(d.size() == 4);
    CHECK(d[0].position == 3);
    CHECK(d[0].source == "cards.jsonl");
    CHECK(d[0].raw == "not json at all");
    CHECK(d[0].reason.find("invalid JSON") == 0);
    CHECK(d[1].position == 4);
    CHECK(d[1].reason == "missing field 'amount'");
    CHECK(d[2].position == 5);
    CHECK(d[2].reason == "field 'amount': expected double, got string");
    CHECK(d[3].position == 8);
    CHECK(d[3].reason == "field 'ts': expected timestamp, got null");
    CHECK(m.dead_letters == 4);
    CHECK(m.records_in == 3);
  }
}

TEST_CASE("CSV source: header in any order, quoting, wrong field count is a dead letter", "[connectors]") {
  Job job("csv");
  CollectSink<Row> rows;
  CollectSink<DeadLetter> dead;
  SchemaRef schema = Schema::make({{"card", ValueType::kString},
                                   {"merchant", ValueType::kString},
                                   {"amount", ValueType::kDouble},
                                   {"ts", ValueType::kInt64}});
  auto src = job.source(CsvSource(data("cards.csv"), schema, {.timestamp_field = "ts"}));
  src.sink(rows);
  src.dead_letters().sink(dead);
  job.run();
  std::vector<Record<Row>> got = rows.records();
  REQUIRE(got.size() == 2);
  CHECK(got[0].value.at(0).as_string() == "4000-01");
  CHECK(got[0].ts_us == 1000);
  CHECK(got[1].value.at(1).as_string() == "say \"hi\"");
  CHECK(got[1].ts_us == 4000);
  std::vector<DeadLetter> d = dead.values();
  REQUIRE(d.size() == 2);
  CHECK(d[0].position == 3);
  CHECK(d[0].reason == "field 'amount': '1,5' is not a double");
  CHECK(d[1].position == 4);
  CHECK(d[1].reason == "expected 4 fields, got 3");
}

TEST_CASE("file sources: build-time and start-time mistakes name the source and the field", "[connectors]") {
  CHECK_THROWS_WITH(JsonLinesSource(data("cards.jsonl"), card_schema(), {.timestamp_field = "when"}),
                    "cards.jsonl: field 'when': no such field in schema (card, merchant, amount, ts)");
  CHECK_THROWS_WITH(JsonLinesSource(data("cards.jsonl"), card_schema(), {.timestamp_field = "merchant"}),
                    "cards.jsonl: field 'merchant': timestamp field must be timestamp or int64 (µs), schema has string");
  Job job("missing");
  job.source(JsonLinesSource("/nonexistent/x.jsonl", card_schema())).sink(CollectSink<Row>{});
  CHECK_THROWS_WITH(job.run(), Catch::Contains("x.jsonl: cannot open '/nonexistent/x.jsonl'"));
  Job bad_header("bad-header");
  SchemaRef other = Schema::make({{"card", ValueType::kString}, {"price", ValueType::kDouble}});
  bad_header.source(CsvSource(data("cards.csv"), other)).sink(CollectSink<Row>{});
  CHECK_THROWS_WITH(bad_header.run(), Catch::Contains("field 'amount'"));
}

TEST_CASE("JSON-lines file sink round-trips rows; empty input gives an empty file", "[connectors]") {
  const std::string path = "/tmp/sluice_sink_test_" + std::to_string(::getpid()) + ".jsonl";
  {
    Job job("roundtrip");
    job.source(JsonLinesSource(data("cards.jsonl"), card_schema(), {.timestamp_field = "ts"}))
        .sink(JsonLinesFileSink<Row>(path));
    QueryOptions o;
    o.workers = 2;
    job.run(o);
  }
  CHECK(read_file(path) ==
        "{\"card\":\"4000-01\",\"merchant\":\"grocer\",\"amount\":12.5,\"ts\":\"2026-11-23T10:00:00.000000Z\"}\n"
        "{\"card\":\"4000-02\",\"merchant\":\"fuel\",\"amount\":60.0,\"ts\":\"2026-11-23T10:00:01.500000Z\"}\n"
        "{\"card\":\"4000-01\",\"merchant\":\"jeweller\",\"amount\":990.0,\"ts\":\"2026-11-23T10:00:04.000000Z\"}\n");
  {
    const std::string empty_in = path + ".in";
    std::ofstream(empty_in).close();
    Job job("empty");
    CollectSink<DeadLetter> dead;
    auto src = job.source(JsonLinesSource(empty_in, card_schema()));
    src.sink(JsonLinesFileSink<Row>(path));
    src.dead_letters().sink(dead);
    QueryMetrics m = job.run();
    CHECK(read_file(path).empty());
    CHECK(dead.size() == 0);
    CHECK(m.records_in == 0);
    std::remove(empty_in.c_str());
  }
  std::remove(path.c_str());
}

TEST_CASE("JSON-lines source: a NUL byte makes its line a dead letter, nothing of that line is accepted",
          "[connectors]") {
  using namespace std::string_literals;
  const SchemaRef schema = Schema::make({{"id", ValueType::kInt64}});
  const std::string path = write_temp("nul.jsonl", "{\"id\":1}\n{\"id\":2}\0{\"id\":666}\n{\"id\":3}\n"s);
  Job job("nul");
  CollectSink<Row> rows;
  CollectSink<DeadLetter> dead;
  auto src = job.source(JsonLinesSource(path, schema));
  src.sink(rows);
  src.dead_letters().sink(dead);
  job.run();
  std::vector<std::int64_t> ids;
  for (const Row& r : rows.values()) ids.push_back(r.at(0).as_int64());
  CHECK(ids == std::vector<std::int64_t>{1, 3});
  std::vector<DeadLetter> d = dead.values();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason == "invalid JSON at offset 8: NUL byte");
  CHECK(d[0].position == 2);
  CHECK(d[0].raw == "{\"id\":2}\0{\"id\":666}"s);
  std::remove(path.c_str());
}
