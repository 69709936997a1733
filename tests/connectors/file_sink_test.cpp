// The JSON-lines file sink's checkpoint protocol at the writer level: the
// lengths its writers record at a barrier, what they hold back meanwhile,
// and the truncation on restore (also onto another worker count).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/thrown.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/sluice_" + std::to_string(::getpid()) + "_sink_" + name;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using Sink = JsonLinesFileSink<std::string>;
Sink make_sink(const std::string& path) {
  return Sink(path, [](const std::string& s) { return s; });
}
void write(SinkWriter<std::string>& w, std::vector<std::string> lines) {
  Batch<std::string> b;
  for (auto& l : lines) b.push_back(Record<std::string>{std::move(l), 0});
  w.write(b);
}
std::string barrier(SinkWriter<std::string>& w, std::uint64_t id) {
  StateWriter h;
  w.on_checkpoint_barrier(id, h);
  return h.take();
}
std::uint64_t length_in(const std::string& handle) { return deserialize<std::uint64_t>(handle); }

}  // namespace

TEST_CASE("file sink: a writer past a barrier holds its lines until every writer passed it", "[connectors][file_sink]") {
  const std::string path = temp_path("hold.jsonl");
  std::ofstream(path) << "old run\n";
  auto sink = make_sink(path);
  auto w0 = sink.open({0, 2, "out"});
  auto w1 = sink.open({1, 2, "out"});
  CHECK(read_file(path) == "old run\n");  // opening does not truncate: the first write does
  write(*w0, {"a"});
  CHECK(read_file(path).empty());  // not flushed yet, but truncated
  const std::string h0 = barrier(*w0, 1);
  CHECK(length_in(h0) == 2);
  write(*w0, {"b"});  // after barrier 1: held
  write(*w1, {"c"});  // before barrier 1: written
  const std::string h1 = barrier(*w1, 1);
  CHECK(length_in(h1) == 4);  // a and c: all that came before barrier 1
  CHECK(read_file(path) == "a\nc\nb\n");
  write(*w1, {"d"});
  w0->on_end_of_input();
  w1->on_end_of_input();
  w0->close();
  w1->close();
  CHECK(read_file(path) == "a\nc\nb\nd\n");

  SECTION("a restore truncates to the largest length, on any worker count") {
    for (std::size_t workers : {1u, 2u, 3u}) {
      CAPTURE(workers);
      std::ofstream(path, std::ios::trunc) << "a\nc\nb\nd\n";
      std::vector<std::unique_ptr<SinkWriter<std::string>>> ws;
      for (std::size_t w = 0; w < workers; ++w) ws.push_back(sink.open({w, workers, "out"}));
      for (auto& w : ws) w->restore(1, {h0, h1});
      CHECK(read_file(path) == "a\nc\n");
      write(*ws.back(), {"e"});
      for (auto& w : ws) w->on_end_of_input();
      for (auto& w : ws) w->close();
      CHECK(read_file(path) == "a\nc\ne\n");
    }
  }
  SECTION("a writer that had ended recorded nothing; if none recorded a length the file stays whole") {
    auto r = sink.open({0, 1, "out"});
    r->restore(1, {"", h1});
    r->close();
    CHECK(read_file(path) == "a\nc\n");
    auto r2 = sink.open({0, 1, "out"});
    r2->restore(1, {"", ""});
    write(*r2, {"f"});
    r2->close();
    CHECK(read_file(path) == "a\nc\nf\n");
  }
  SECTION("a file shorter than the checkpoint's length fails the restore; bad handles are refused") {
    std::ofstream(path, std::ios::trunc) << "a\n";
    auto r = sink.open({0, 1, "out"});
    const std::string msg = thrown_message<SluiceError>([&] { r->restore(1, {h0, h1}); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("has 2 bytes, the checkpoint wrote 4") != std::string::npos);
    CHECK(read_file(path) == "a\n");
    CHECK_THROWS_AS(r->restore(1, {h0.substr(0, 3)}), StateFormatError);
    CHECK_THROWS_AS(r->restore(1, {h0 + "x"}), StateFormatError);
  }
}

TEST_CASE("file sink: an ended writer does not hold the others back; a fresh run starts the file afresh",
          "[connectors][file_sink]") {
  const std::string path = temp_path("ended.jsonl");
  auto sink = make_sink(path);
  {
    auto w0 = sink.open({0, 2, "out"});
    auto w1 = sink.open({1, 2, "out"});
    write(*w1, {"x"});
    w1->on_end_of_input();  // ended before barrier 1
    barrier(*w0, 1);
    write(*w0, {"y"});  // every running writer passed 1: written
    CHECK(length_in(barrier(*w0, 2)) == 4);
    w0->on_end_of_input();
    w0->close();
    w1->close();
    CHECK(read_file(path) == "x\ny\n");
  }
  {
    auto w0 = sink.open({0, 1, "out"});
    w0->on_end_of_input();  // no output at all: still a fresh file
    w0->close();
    CHECK(read_file(path).empty());
  }
}
