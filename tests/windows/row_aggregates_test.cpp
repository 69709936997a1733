// Aggregates over fields of Row records, named as the schema names them.
#include <catch2/catch.hpp>

#include "support/harness.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

SchemaRef requests() {
  return Schema::make({{"service", ValueType::kString},
                       {"response_time", ValueType::kInt64},
                       {"bytes", ValueType::kDouble},
                       {"ok", ValueType::kBool},
                       {"note", ValueType::kString, true}});
}

Row request(const SchemaRef& s, const char* service, std::int64_t ms, double bytes, bool ok) {
  return Row(s, {Value(service), Value(ms), Value(bytes), Value(ok), Value()});
}

}  // namespace

TEST_CASE("row_field aggregates read Row fields by name and name their outputs after them") {
  const SchemaRef s = requests();
  ScriptedSource<Row> src;
  src.push_values({{request(s, "api", 120, 10.5, true), 1},
                   {request(s, "web", 30, 2.0, true), 2},
                   {request(s, "api", 80, 4.0, false), 9},   // last timestamp of [0, 10)
                   {request(s, "api", 200, 1.0, true), 10}});  // next window
  src.end();
  const std::size_t service = s->require("service", "test");
  auto rt = row_field<std::int64_t>(s, "response_time");
  auto bytes = row_field<double>(s, "bytes");
  auto ok = row_field<bool>(s, "ok");
  auto svc = row_field<std::string>(s, "service");

  Job job("requests");
  auto windowed = job.source(src)
                      .watermarks(ascending())
                      .key_by([service](const Row& r) { return r[service].as_string(); })
                      .window(tumbling(10us));
  CHECK(windowed.field_names(count(), avg(rt), sum(bytes), max(rt), min(ok), distinct(svc), last(rt).as("latest")) ==
        std::vector<std::string>{"count", "avg_response_time", "sum_bytes", "max_response_time", "min_ok",
                                 "distinct_service", "latest"});
  CHECK(windowed.field_names(approx_distinct(rt), list(bytes), first(rt)) ==
        std::vector<std::string>{"approx_distinct_response_time", "list_bytes", "first_response_time"});
  using Values = std::tuple<std::uint64_t, double, double, std::int64_t, bool>;
  CollectSink<WindowResult<std::string, Values>> out;
  windowed.aggregate(count(), avg(rt), sum(bytes), max(rt), min(ok)).sink(out);
  job.run(QueryOptions{.workers = 1});

  auto got = out.records();
  std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
    return std::tie(a.value.window, a.value.key) < std::tie(b.value.window, b.value.key);
  });
  REQUIRE(got.size() == 3);
  CHECK(got[0].value.key == "api");
  CHECK(got[0].value.window == TimeWindow{0, 10});
  CHECK(got[0].value.values == Values{2, 100.0, 14.5, 120, false});
  CHECK(got[1].value.key == "web");
  CHECK(got[1].value.values == Values{1, 30.0, 2.0, 30, true});
  CHECK(got[2].value.key == "api");
  CHECK(got[2].value.window == TimeWindow{10, 20});
  CHECK(got[2].value.values == Values{1, 200.0, 1.0, 200, true});
}

TEST_CASE("row_field refuses unknown, mistyped and nullable fields when the query is built") {
  const SchemaRef s = requests();
  CHECK(thrown_message<UnknownFieldError>([&] { row_field<double>(s, "latency"); }) ==
        "row_field: field 'latency': no such field in schema (service, response_time, bytes, ok, note)");
  CHECK(thrown_message<TypeMismatchError>([&] { row_field<double>(s, "response_time"); }) ==
        "row_field: field 'response_time': expected double, schema has int64");
  CHECK(thrown_message<GraphError>([&] { row_field<std::string>(s, "note"); }) ==
        "row_field: field 'note': field is nullable; aggregates take no nulls (filter or map them away first)");
  CHECK(thrown_message<GraphError>([&] { row_field<std::int64_t>(nullptr, "x"); }) == "row_field: field 'x': schema is null");
  CHECK(row_field<std::int64_t>(s, "response_time").index() == 1);
}
