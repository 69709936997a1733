// Sources keep record timestamps within the valid range (±2^62 µs,
// streaming/time.hpp): the JSON and CSV sources turn a line outside it into
// a dead letter naming the value and the range; a Generator refuses a
// bounded sequence that would leave it and ends an unbounded one at its
// last record within it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "sluice/sluice.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

const std::string kRange = " is outside the valid range [-4611686018427387904, 4611686018427387904] (µs, ±2^62)";

std::string write_temp(const std::string& suffix, const std::string& text) {
  const std::string path = "/tmp/sluice_time_range_" + std::to_string(::getpid()) + suffix;
  std::ofstream(path) << text;
  return path;
}

using Values = std::tuple<std::uint64_t, std::int64_t>;
using Result = WindowResult<std::string, Values>;

/// Runs `src` through key_by(k).window(tumbling(1s)).aggregate(count, max(v)):
/// the results sorted by window, and the dead letters.
template <class Src>
std::pair<std::vector<Result>, std::vector<DeadLetter>> run_windows(const Src& source, const SchemaRef& schema) {
  Job job("edges");
  CollectSink<Result> out;
  CollectSink<DeadLetter> dead;
  auto rows = job.source(source);
  rows.dead_letters().sink(dead);
  const std::size_t k = schema->require("k", "test");
  // No periodic watermark within the test (emit interval 1 h): windows fire
  // at end of input, so the rows' order in the file does not matter.
  rows.watermarks(ascending().with_emit_interval(std::chrono::hours(1)))
      .key_by([k](const Row& r) { return r[k].as_string(); })
      .window(tumbling(1s))
      .aggregate(count(), max(row_field<std::int64_t>(schema, "v")))
      .sink(out);
  job.run(QueryOptions{.workers = 2});
  std::vector<Result> got = out.values();
  std::sort(got.begin(), got.end(), [](const Result& a, const Result& b) { return a.window < b.window; });
  return {got, dead.values()};
}

void check_edge_windows(const std::vector<Result>& got) {
  REQUIRE(got.size() == 2);
  CHECK(got[0].window == TimeWindow{-4'611'686'018'428'000'000, -4'611'686'018'427'000'000});
  CHECK(got[0].values == Values{1, 4});
  CHECK(got[1].window == TimeWindow{4'611'686'018'427'000'000, 4'611'686'018'428'000'000});
  CHECK(got[1].values == Values{2, 6});
}

}  // namespace

TEST_CASE("JSON-lines source: timestamps outside ±2^62 are dead letters; the edges window exactly", "[connectors]") {
  // "ts" as a timestamp field (checked by the JSON row reader).
  const SchemaRef schema =
      Schema::make({{"k", ValueType::kString}, {"v", ValueType::kInt64}, {"ts", ValueType::kTimestamp}});
  const std::string path = write_temp(".jsonl",
                                      "{\"k\":\"a\",\"v\":1,\"ts\":9223372036854775807}\n"
                                      "{\"k\":\"a\",\"v\":2,\"ts\":-9223372036854775808}\n"
                                      "{\"k\":\"a\",\"v\":3,\"ts\":4611686018427387904}\n"
                                      "{\"k\":\"a\",\"v\":4,\"ts\":-4611686018427387904}\n"
                                      "{\"k\":\"a\",\"v\":5,\"ts\":4611686018427387905}\n"
                                      "{\"k\":\"a\",\"v\":6,\"ts\":4611686018427387903}\n");
  auto [got, dead] = run_windows(JsonLinesSource(path, schema, {.timestamp_field = "ts"}), schema);
  std::remove(path.c_str());
  check_edge_windows(got);
  REQUIRE(dead.size() == 3);
  CHECK(dead[0].reason == "field 'ts': timestamp out of range: 9223372036854775807" + kRange);
  CHECK(dead[0].position == 1);
  CHECK(dead[1].reason == "field 'ts': timestamp out of range: -9223372036854775808" + kRange);
  CHECK(dead[1].position == 2);
  CHECK(dead[2].reason == "field 'ts': timestamp out of range: 4611686018427387905" + kRange);
  CHECK(dead[2].position == 5);
  CHECK(dead[2].raw == "{\"k\":\"a\",\"v\":5,\"ts\":4611686018427387905}");
}

TEST_CASE("CSV source: an int64 event-time column outside ±2^62 is a dead letter", "[connectors]") {
  // "ts" as an int64 field (checked where the source takes the event time).
  const SchemaRef schema = Schema::make({{"k", ValueType::kString}, {"v", ValueType::kInt64}, {"ts", ValueType::kInt64}});
  const std::string path = write_temp(".csv",
                                      "k,v,ts\n"
                                      "a,1,9223372036854775807\n"
                                      "a,2,-9223372036854775808\n"
                                      "a,3,4611686018427387904\n"
                                      "a,4,-4611686018427387904\n"
                                      "a,5,-4611686018427387905\n"
                                      "a,6,4611686018427387903\n");
  auto [got, dead] = run_windows(CsvSource(path, schema, {.timestamp_field = "ts"}), schema);
  std::remove(path.c_str());
  check_edge_windows(got);
  REQUIRE(dead.size() == 3);
  CHECK(dead[0].reason == "field 'ts': timestamp out of range: 9223372036854775807" + kRange);
  CHECK(dead[0].position == 2);
  CHECK(dead[1].reason == "field 'ts': timestamp out of range: -9223372036854775808" + kRange);
  CHECK(dead[1].position == 3);
  CHECK(dead[2].reason == "field 'ts': timestamp out of range: -4611686018427387905" + kRange);
  CHECK(dead[2].position == 6);
}

TEST_CASE("CSV row reader: a timestamp-typed value outside ±2^62 is refused", "[connectors]") {
  const SchemaRef schema = Schema::make({{"t", ValueType::kTimestamp}});
  const std::string path = write_temp(".ts.csv", "t\n4611686018427387905\n4611686018427387904\n");
  Job job("csv-ts");
  CollectSink<Row> rows;
  CollectSink<DeadLetter> dead;
  auto src = job.source(CsvSource(path, schema));
  src.sink(rows);
  src.dead_letters().sink(dead);
  job.run();
  std::remove(path.c_str());
  REQUIRE(dead.size() == 1);
  CHECK(dead.values()[0].reason == "field 't': timestamp out of range: 4611686018427387905" + kRange);
  REQUIRE(rows.size() == 1);
  CHECK(rows.values()[0][0].as_timestamp() == kMaxValidTimestamp);
}

TEST_CASE("Generator: a bounded sequence leaving the valid range is a ConfigError", "[connectors]") {
  auto make = [](std::uint64_t i) { return i; };
  CHECK_THROWS_WITH(Generator(GeneratorOptions{.count = 3, .ts_step_us = DurationUs{1} << 62}, make),
                    "generator: field 'ts_step_us': record 2 of 3 would leave the valid timestamp range "
                    "[-4611686018427387904, 4611686018427387904] (µs, ±2^62)");
  CHECK_THROWS_WITH(Generator(GeneratorOptions{.count = 2, .first_ts_us = 0, .ts_step_us = kMinTimestamp}, make),
                    Catch::Contains("record 1 of 2 would leave the valid timestamp range"));
  CHECK_THROWS_WITH(Generator(GeneratorOptions{.count = 1, .first_ts_us = kMaxTimestamp}, make),
                    "generator: field 'first_ts_us': timestamp out of range: 9223372036854775807" + kRange);
}

TEST_CASE("Generator: huge steps within the range produce exact timestamps", "[connectors]") {
  // Record 1 is at 2^62 - 1; the end of the run, one step further, is past
  // INT64_MAX (it overflowed before).
  for (std::uint64_t chunk : {1u, 1024u}) {
    Job job("huge-step");
    CollectSink<std::uint64_t> out;
    job.source(Generator(GeneratorOptions{.count = 2, .first_ts_us = kMinValidTimestamp, .ts_step_us = kMaxTimestamp,
                                          .chunk = chunk},
                         [](std::uint64_t i) { return i; }))
        .sink(out);
    job.run(QueryOptions{.workers = 1});
    std::vector<Record<std::uint64_t>> got = out.records();
    REQUIRE(got.size() == 2);
    CHECK(got[0].ts_us == kMinValidTimestamp);
    CHECK(got[1].ts_us == kMaxValidTimestamp - 1);
  }
}

TEST_CASE("Generator: an unbounded sequence ends at its last timestamp within the range", "[connectors]") {
  struct Case {
    Timestamp first;
    DurationUs step;
    std::vector<Timestamp> want;
  };
  const Case cases[] = {
      {0, DurationUs{1} << 61, {0, DurationUs{1} << 61, kMaxValidTimestamp}},
      {kMaxValidTimestamp, -(DurationUs{1} << 62), {kMaxValidTimestamp, 0, kMinValidTimestamp}},
      {5, kMinTimestamp, {5}},
      {kMaxValidTimestamp, 1, {kMaxValidTimestamp}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.first, c.step);
    Job job("unbounded");
    CollectSink<std::uint64_t> out;
    job.source(Generator(GeneratorOptions{.first_ts_us = c.first, .ts_step_us = c.step},
                         [](std::uint64_t i) { return i; }))
        .sink(out);
    job.run(QueryOptions{.workers = 2});  // returns: the sequence ends
    std::vector<Timestamp> got;
    for (const auto& r : out.records()) got.push_back(r.ts_us);
    std::sort(got.begin(), got.end());
    std::vector<Timestamp> want = c.want;
    std::sort(want.begin(), want.end());
    CHECK(got == want);
  }
}
