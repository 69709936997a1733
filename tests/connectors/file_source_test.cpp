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

namespace {
SchemaRef order_schema() {
  return Schema::make({{"order", ValueType::kInt64},
                       {"note", ValueType::kString},
                       {"amount", ValueType::kDouble},
                       {"qty", ValueType::kInt64}});
}
struct CsvRun {
  std::vector<Row> rows;
  std::vector<DeadLetter> dead;
};
CsvRun run_csv(const std::string& name, const std::string& content, FileSourceOptions options = {}) {
  const std::string path = write_temp(name, content);
  Job job("csv");
  CollectSink<Row> rows;
  CollectSink<DeadLetter> dead;
  auto src = job.source(CsvSource(path, order_schema(), options));
  src.sink(rows);
  src.dead_letters().sink(dead);
  job.run();
  std::remove(path.c_str());
  return CsvRun{rows.values(), dead.values()};
}
Row order(std::int64_t id, std::string note, double amount, std::int64_t qty) {
  return Row(order_schema(), {Value(id), Value(std::move(note)), Value(amount), Value(qty)});
}
}  // namespace

TEST_CASE("CSV source: a quoted field spanning lines is one record; its text cannot inject records",
          "[connectors][csv]") {
  const CsvRun r = run_csv("inject.csv",
                           "order,note,amount,qty\n"
                           "1,first,10.5,1\n"
                           "2,\"note: \n666,injected,9999.99,5\n\",1,2\n"
                           "3,third,7,3\n");
  CHECK(r.rows == std::vector<Row>{order(1, "first", 10.5, 1), order(2, "note: \n666,injected,9999.99,5\n", 1, 2),
                                   order(3, "third", 7, 3)});
  CHECK(r.dead.empty());
}

TEST_CASE("CSV source: CRLF line breaks inside quotes are kept, doubled quotes across lines", "[connectors][csv]") {
  const CsvRun r = run_csv("crlf.csv",
                           "order,note,amount,qty\r\n"
                           "1,\"a\r\nb\",1,2\r\n"
                           "2,\"say \"\"hi\"\"\r\n\"\"bye\"\"\",3,4\r\n"
                           "3,\"ends in a quote\"\"\nand goes on\",5,6\r\n"
                           "4,\"\",7,8\r\n");
  CHECK(r.rows == std::vector<Row>{order(1, "a\r\nb", 1, 2), order(2, "say \"hi\"\r\n\"bye\"", 3, 4),
                                   order(3, "ends in a quote\"\nand goes on", 5, 6), order(4, "", 7, 8)});
  CHECK(r.dead.empty());
}

TEST_CASE("CSV source: a bad record spanning lines is a dead letter at its first line; later lines keep their numbers",
          "[connectors][csv]") {
  const CsvRun r = run_csv("positions.csv",
                           "order,note,amount,qty\n"
                           "1,\"a\nb\nc\",1,x\n"
                           "2,ok,1,2\n"
                           "3,\"d\ne\",1\n"
                           "oops\n");
  CHECK(r.rows == std::vector<Row>{order(2, "ok", 1, 2)});
  REQUIRE(r.dead.size() == 3);
  CHECK(r.dead[0].reason == "field 'qty': 'x' is not an int64");
  CHECK(r.dead[0].position == 2);
  CHECK(r.dead[0].raw == "1,\"a\nb\nc\",1,x");
  CHECK(r.dead[1].reason == "expected 4 fields, got 3");
  CHECK(r.dead[1].position == 6);
  CHECK(r.dead[1].raw == "3,\"d\ne\",1");
  CHECK(r.dead[2].reason == "expected 4 fields, got 1");
  CHECK(r.dead[2].position == 8);
}

TEST_CASE("CSV source: a quote in an unquoted field is an error and does not open a multi-line record",
          "[connectors][csv]") {
  const CsvRun r = run_csv("stray.csv",
                           "order,note,amount,qty\n"
                           "1,ab\"c,1,2\n"
                           "2,ok,1,2\n"
                           "3,\"x\"y,1,2\n"
                           "4,ok,1,2\n");
  CHECK(r.rows == std::vector<Row>{order(2, "ok", 1, 2), order(4, "ok", 1, 2)});
  REQUIRE(r.dead.size() == 2);
  CHECK(r.dead[0].reason == "unexpected quote in unquoted field at offset 4");
  CHECK(r.dead[0].position == 2);
  CHECK(r.dead[0].raw == "1,ab\"c,1,2");
  CHECK(r.dead[1].reason == "unexpected character after closing quote at offset 5");
  CHECK(r.dead[1].position == 4);
}

TEST_CASE("CSV source: an unterminated quoted field at end of file is one dead letter holding every line",
          "[connectors][csv]") {
  const CsvRun r = run_csv("eof.csv",
                           "order,note,amount,qty\n"
                           "1,ok,1,2\n"
                           "2,\"never closed,1,2\n"
                           "3,x,1,2\r\n"
                           "4,y,1,2\n");
  CHECK(r.rows == std::vector<Row>{order(1, "ok", 1, 2)});
  REQUIRE(r.dead.size() == 1);
  CHECK(r.dead[0].reason == "unterminated quoted field starting at offset 2: end of file after 3 lines");
  CHECK(r.dead[0].position == 3);
  CHECK(r.dead[0].raw == "2,\"never closed,1,2\n3,x,1,2\r\n4,y,1,2");
  // Also on the last line, without a final line break.
  const CsvRun last = run_csv("eof2.csv", "order,note,amount,qty\n1,\"open");
  CHECK(last.rows.empty());
  REQUIRE(last.dead.size() == 1);
  CHECK(last.dead[0].reason == "unterminated quoted field starting at offset 2: end of file after 1 line");
  CHECK(last.dead[0].position == 2);
  CHECK(last.dead[0].raw == "1,\"open");
}

TEST_CASE("CSV source: a record still open after csv_max_record_lines or _bytes is a dead letter; reading resyncs",
          "[connectors][csv]") {
  const std::string text =
      "order,note,amount,qty\n"
      "1,\"open\n"
      "a\n"
      "b\n"
      "c\n"
      "5,x,1,2\n";
  const CsvRun by_lines = run_csv("cap_lines.csv", text, {.csv_max_record_lines = 3});
  CHECK(by_lines.rows == std::vector<Row>{order(5, "x", 1, 2)});
  REQUIRE(by_lines.dead.size() == 2);
  CHECK(by_lines.dead[0].reason ==
        "unterminated quoted field starting at offset 2: still open after 3 lines (csv_max_record_lines), "
        "reading on at line 5");
  CHECK(by_lines.dead[0].position == 2);
  CHECK(by_lines.dead[0].raw == "1,\"open\na\nb");
  CHECK(by_lines.dead[1].reason == "expected 4 fields, got 1");
  CHECK(by_lines.dead[1].position == 5);
  CHECK(by_lines.dead[1].raw == "c");

  const CsvRun by_bytes = run_csv("cap_bytes.csv", text, {.csv_max_record_bytes = 8});
  CHECK(by_bytes.rows == std::vector<Row>{order(5, "x", 1, 2)});
  REQUIRE(by_bytes.dead.size() == 3);
  CHECK(by_bytes.dead[0].reason ==
        "unterminated quoted field starting at offset 2: still open after 9 bytes (csv_max_record_bytes 8), "
        "reading on at line 4");
  CHECK(by_bytes.dead[0].position == 2);
  CHECK(by_bytes.dead[0].raw == "1,\"open\na");
  CHECK(by_bytes.dead[1].position == 4);
  CHECK(by_bytes.dead[2].position == 5);

  // Within the caps a record may span lines.
  const CsvRun within = run_csv("cap_ok.csv", "order,note,amount,qty\n1,\"a\nb\nc\",1,2\n", {.csv_max_record_lines = 3});
  CHECK(within.rows == std::vector<Row>{order(1, "a\nb\nc", 1, 2)});
  CHECK(within.dead.empty());

  CHECK_THROWS_WITH(CsvSource("x.csv", order_schema(), {.csv_max_record_lines = 0}),
                    "x.csv: field 'csv_max_record_lines': must be at least 1");
  CHECK_THROWS_WITH(CsvSource("x.csv", order_schema(), {.csv_max_record_bytes = 0}),
                    "x.csv: field 'csv_max_record_bytes': must be at least 1");
}
