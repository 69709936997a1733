// File source positions at the reader level: a reader restored from the
// position after any number of polls reads on exactly where the first one
// stopped (rows, dead letters and their line numbers), over CRLF lines, a
// last line without newline, CSV headers and quoted fields spanning lines.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/thrown.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

std::string write_temp(const std::string& name, const std::string& content) {
  const std::string path = "/tmp/sluice_" + std::to_string(::getpid()) + "_ckpt_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

struct Env {
  ManualClock clock{0};
  MetricsRegistry registry;
  OperatorMetrics* metrics = &registry.add_operator("src", "source");
  SourceContext ctx(std::size_t w, std::size_t n) {
    return SourceContext{w, n, &clock, "src", metrics, &registry, [] {}};
  }
};

// Rows as JSON and dead letters as "line N: reason | raw", in reading order.
struct Read {
  std::vector<std::string> items;
  SourceStatus last = SourceStatus::kMore;
};
void poll_times(SourceReader<Row>& r, std::size_t polls, Read& into) {
  for (std::size_t p = 0; p < polls && into.last != SourceStatus::kEnd; ++p) {
    Batch<Row> b;
    std::vector<DeadLetter> dead;
    into.last = r.poll(b, dead, 1);  // one line (record, dead letter or blank) per poll
    for (auto& rec : b) into.items.push_back(row_to_json(rec.value) + " @" + std::to_string(rec.ts_us));
    for (auto& d : dead) into.items.push_back("line " + std::to_string(d.position) + ": " + d.reason + " | " + d.raw);
  }
}
std::string position(const SourceReader<Row>& r) {
  StateWriter w;
  r.snapshot_position(w);
  return w.take();
}

// For every k: read k polls, snapshot, restore a fresh reader (on 1 or 2
// workers, from a run on 1 or 2), read to the end: the same as one read.
void check_every_cut(const LineFileSource& src) {
  Env env;
  Read whole;
  poll_times(*src.open(env.ctx(0, 1)), 1'000, whole);
  REQUIRE(whole.last == SourceStatus::kEnd);
  for (std::size_t old_workers : {1u, 2u}) {
    for (std::size_t new_workers : {1u, 2u}) {
      for (std::size_t k = 0; k <= whole.items.size() + 2; ++k) {
        CAPTURE(old_workers, new_workers, k);
        Read got;
        auto a = src.open(env.ctx(0, old_workers));
        poll_times(*a, k, got);
        std::vector<std::string> parts{position(*a)};
        if (old_workers == 2) parts.push_back(position(*src.open(env.ctx(1, 2))));
        std::vector<std::string_view> views(parts.begin(), parts.end());
        auto b = src.open(env.ctx(0, new_workers));
        b->restore_position(views);
        got.last = SourceStatus::kMore;
        poll_times(*b, 1'000, got);
        CHECK(got.items == whole.items);
        if (new_workers == 2) {
          auto other = src.open(env.ctx(1, 2));
          other->restore_position(views);
          Read none;
          poll_times(*other, 10, none);
          CHECK(none.items.empty());
        }
      }
    }
  }
}

SchemaRef schema() { return Schema::make({{"id", ValueType::kInt64}, {"name", ValueType::kString}}); }

}  // namespace

TEST_CASE("file source position: JSON lines with CRLF, blank and bad lines, last line without newline",
          "[connectors][file_source]") {
  const std::string path = write_temp("a.jsonl",
                                      "{\"id\":1,\"name\":\"a\"}\r\n"
                                      "\r\n"
                                      "not json\n"
                                      "{\"id\":2,\"name\":\"b\"}\n"
                                      "{\"id\":\"x\",\"name\":\"c\"}\r\n"
                                      "{\"id\":3,\"name\":\"d\"}");
  JsonLinesSource src(path, schema(), {.timestamp_field = "id"});
  check_every_cut(src);
  Env env;
  Read whole;
  poll_times(*src.open(env.ctx(0, 1)), 100, whole);
  CHECK(whole.items.size() == 5);
  CHECK(whole.items.back() == "{\"id\":3,\"name\":\"d\"} @3");
}

TEST_CASE("file source position: CSV with a header and quoted fields spanning lines", "[connectors][file_source]") {
  const std::string path = write_temp("a.csv",
                                      "name,id\r\n"
                                      "a,1\r\n"
                                      "\"b\nb\",2\n"
                                      "c,notanumber\n"
                                      "\"d\r\nd\",4\r\n"
                                      "e,5\n");
  check_every_cut(CsvSource(path, schema()));
  check_every_cut(CsvSource(path, schema(), {.has_header = false}));
}

TEST_CASE("file source position: empty file, position at the start and at the end", "[connectors][file_source]") {
  check_every_cut(JsonLinesSource(write_temp("empty.jsonl", ""), schema()));
  check_every_cut(CsvSource(write_temp("empty.csv", ""), schema(), {.has_header = false}));
  check_every_cut(CsvSource(write_temp("header_only.csv", "id,name\n"), schema()));
}

TEST_CASE("file source position: a file shorter than the offset fails naming the file and the offset; bad bytes",
          "[connectors][file_source]") {
  const std::string path = write_temp("shrink.jsonl", "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n");
  JsonLinesSource src(path, schema());
  Env env;
  auto a = src.open(env.ctx(0, 1));
  Read got;
  poll_times(*a, 2, got);
  const std::string pos = position(*a);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "{\"id\":1}\n";
  const std::string msg = thrown_message<ConfigError>([&] { src.open(env.ctx(0, 1))->restore_position({pos}); });
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find("byte 40") != std::string::npos);
  CHECK(msg.find("has only 9 bytes") != std::string::npos);
  // Appending is fine: reading goes on with the new lines.
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n{\"id\":3,\"name\":\"c\"}\n";
  auto b = src.open(env.ctx(0, 1));
  b->restore_position({pos});
  Read rest;
  poll_times(*b, 10, rest);
  CHECK(rest.items == std::vector<std::string>{"{\"id\":3,\"name\":\"c\"} @0"});

  for (std::size_t cut = 0; cut < pos.size(); ++cut) {
    CAPTURE(cut);
    CHECK_THROWS_AS(src.open(env.ctx(0, 1))->restore_position({std::string_view(pos).substr(0, cut)}),
                    StateFormatError);
  }
  CHECK_THROWS_AS(src.open(env.ctx(0, 1))->restore_position({pos + "x"}), StateFormatError);
  // Worker 1's position says it read nothing: it cannot stand for worker 0's.
  const std::string other = position(*src.open(env.ctx(1, 2)));
  CHECK_THROWS_AS(src.open(env.ctx(0, 1))->restore_position({other}), StateFormatError);
}
