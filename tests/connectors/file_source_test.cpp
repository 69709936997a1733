#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

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

namespace {
// Captures what is written to std::cerr while it lives.
class CerrCapture {
 public:
  CerrCapture() : old_(std::cerr.rdbuf(out_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(old_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::streambuf* old_;
};
}  // namespace

TEST_CASE("dead letters: a huge bad line gives a capped reason and the whole raw line", "[connectors]") {
  const SchemaRef schema = Schema::make({{"id", ValueType::kInt64}});
  // An unterminated 1 MB string: the parser's message quotes all of it.
  const std::string bad = "{\"id\":1,\"note\":\"" + std::string(1 << 20, 'a');
  const std::string path = write_temp("huge.jsonl", "{\"id\":1}\n" + bad + "\n");
  const std::string full_reason = parse_json_row(bad, schema).error;
  REQUIRE(full_reason.size() > (1u << 20));
  Job job("huge");
  CollectSink<Row> rows;
  CollectSink<DeadLetter> dead;
  auto src = job.source(JsonLinesSource(path, schema));
  src.sink(rows);
  src.dead_letters().sink(dead);
  job.run();
  CHECK(rows.size() == 1);
  std::vector<DeadLetter> d = dead.values();
  REQUIRE(d.size() == 1);
  CHECK(d[0].reason == full_reason.substr(0, 256) + "... (" + std::to_string(full_reason.size()) + " bytes)");
  CHECK(d[0].reason.rfind("invalid JSON at offset 1048592: syntax error while parsing value - invalid string: "
                          "missing closing quote; last read: '\"aaaa",
                          0) == 0);
  CHECK(d[0].raw == bad);
  CHECK(d[0].position == 2);
  std::remove(path.c_str());
}

TEST_CASE("dead letters nobody consumes are logged capped, with control characters escaped", "[connectors]") {
  const SchemaRef schema = Schema::make({{"id", ValueType::kInt64}});
  // A bad line trying to clear the screen and forge a log line with CR.
  const std::string bad = "{\"id\":\"\x1b[2J\"}\rsluice: all good";
  const std::string huge = "{\"id\":\"" + std::string(100000, 'b');
  const std::string path = write_temp("forge.jsonl", bad + "\n" + huge + "\n");
  Job job("forge");
  CollectSink<Row> rows;
  job.source(JsonLinesSource(path, schema)).sink(rows);
  std::string log;
  {
    CerrCapture capture;
    job.run();
    log = capture.text();
  }
  const std::string reason2 = parse_json_row(huge, schema).error;
  const std::string source = path.substr(path.find_last_of('/') + 1);
  CHECK(log ==
        "sluice: dead letter from " + source + " at 1: invalid JSON at offset 7: syntax error while parsing value - "
        "invalid string: control character U+001B (ESC) must be escaped to \\\\u001B; last read: "
        "'\"<U+001B>' (raw: {\"id\":\"\\x1b[2J\"}\\rsluice: all good)\n"
        "sluice: dead letter from " + source + " at 2: " +
            reason2.substr(0, 256) + "... (" + std::to_string(reason2.size()) + " bytes) (raw: {\"id\":\"" +
            std::string(256 - 7, 'b') + "... (100007 bytes))\n");
  std::remove(path.c_str());
}
