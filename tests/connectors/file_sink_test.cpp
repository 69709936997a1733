// The JSON-lines file sink at the writer level: direct appends without
// checkpoint storage; with it, part files pre-committed at barriers and
// appended to the file when their checkpoint commits, the final commit at
// the end, and recovery (idempotent re-commit, cut-off of what came after,
// other worker counts, lost markers, damaged files and handles).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "support/thrown.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

class TempFile {
 public:
  explicit TempFile(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / ("sluice_sink_" + std::to_string(::getpid()) + "_" + name)) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "out.jsonl").string(); }
  std::filesystem::path parts() const { return dir_ / ".out.jsonl.parts"; }
  std::size_t part_count() const {
    if (!std::filesystem::exists(parts())) return 0;
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(parts()), {}));
  }

 private:
  std::filesystem::path dir_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void put_file(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

// The durable markers the checkpoint storage keeps for the sink.
struct Markers {
  std::map<std::string, std::string, std::less<>> values;
  SinkContext context(std::size_t index, std::size_t count) {
    SinkContext c{index, count, "out", true};
    c.put_marker = [this](std::string_view k, std::string_view v) { values[std::string(k)] = std::string(v); };
    c.get_marker = [this](std::string_view k) -> std::optional<std::string> {
      auto it = values.find(k);
      if (it == values.end()) return std::nullopt;
      return it->second;
    };
    return c;
  }
};

using Sink = JsonLinesFileSink<std::string>;
using Writers = std::vector<std::unique_ptr<SinkWriter<std::string>>>;

Sink make_sink(const std::string& path) {
  return Sink(path, [](const std::string& s) { return s; });
}
Writers open_writers(Sink& sink, Markers& m, std::size_t count) {
  Writers ws;
  for (std::size_t i = 0; i < count; ++i) ws.push_back(sink.open(m.context(i, count)));
  return ws;
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
// Barrier `id` on every writer; the handles by writer.
std::vector<std::string> barrier_all(Writers& ws, std::uint64_t id) {
  std::vector<std::string> hs;
  for (auto& w : ws) hs.push_back(barrier(*w, id));
  return hs;
}
std::vector<std::string_view> views(const std::vector<std::string>& hs) { return {hs.begin(), hs.end()}; }
void close_all(Writers& ws) {
  for (auto& w : ws) w->close();
}

}  // namespace

TEST_CASE("file sink without checkpoint storage: lines go to the file as they come; a fresh run starts it afresh",
          "[connectors][file_sink]") {
  TempFile f("plain");
  put_file(f.path(), "old run\n");
  auto sink = make_sink(f.path());
  {
    auto w0 = sink.open({0, 2, "out"});
    auto w1 = sink.open({1, 2, "out"});
    CHECK(read_file(f.path()) == "old run\n");  // opening does not truncate: the first write does
    write(*w1, {"x"});
    w1->on_end_of_input();
    barrier(*w0, 1);  // flushes
    CHECK(read_file(f.path()) == "x\n");
    write(*w0, {"y"});
    w0->on_end_of_input();
    w0->close();
    w1->close();
    CHECK(read_file(f.path()) == "x\ny\n");
    CHECK(f.part_count() == 0);
  }
  {
    auto w0 = sink.open({0, 1, "out"});
    w0->on_end_of_input();  // no output at all: still a fresh file
    w0->close();
    CHECK(read_file(f.path()).empty());
  }
}

TEST_CASE("file sink with checkpoints: the file holds only committed checkpoints' lines, in checkpoint and writer order",
          "[connectors][file_sink]") {
  TempFile f("commit");
  put_file(f.path(), "old run\n");
  Markers m;
  auto sink = make_sink(f.path());
  Writers ws = open_writers(sink, m, 2);
  write(*ws[1], {"b1"});
  write(*ws[0], {"a1", "a2"});
  CHECK(read_file(f.path()).empty());  // a fresh run: truncated, nothing committed yet
  barrier_all(ws, 1);
  write(*ws[0], {"a3"});  // after barrier 1
  CHECK(read_file(f.path()).empty());
  CHECK(f.part_count() == 3);  // two pending, one in progress
  ws[1]->on_checkpoint_complete(1);
  CHECK(read_file(f.path()) == "a1\na2\nb1\n");
  ws[0]->on_checkpoint_complete(1);  // the other writer finds it done
  CHECK(read_file(f.path()) == "a1\na2\nb1\n");
  CHECK(f.part_count() == 1);

  SECTION("a failed checkpoint's parts are committed by the next one") {
    barrier_all(ws, 2);  // checkpoint 2 fails: no completion
    write(*ws[1], {"b2"});
    barrier_all(ws, 3);
    ws[0]->on_checkpoint_complete(3);
    CHECK(read_file(f.path()) == "a1\na2\nb1\na3\nb2\n");
    CHECK(f.part_count() == 0);
    close_all(ws);  // a cancel: nothing more
    CHECK(read_file(f.path()) == "a1\na2\nb1\na3\nb2\n");
  }
  SECTION("at the end of the input the last parts are committed when the run closes") {
    write(*ws[1], {"b2"});
    ws[1]->on_end_of_input();
    barrier(*ws[1], 0);  // its final handle
    barrier(*ws[0], 2);
    write(*ws[0], {"a4"});
    ws[0]->on_end_of_input();
    barrier(*ws[0], 0);
    CHECK(read_file(f.path()) == "a1\na2\nb1\n");
    close_all(ws);
    CHECK(read_file(f.path()) == "a1\na2\nb1\na3\nb2\na4\n");
    CHECK(f.part_count() == 0);
  }
  SECTION("a cancelled run leaves uncommitted lines out of the file") {
    barrier_all(ws, 2);
    close_all(ws);
    CHECK(read_file(f.path()) == "a1\na2\nb1\n");
  }
}

TEST_CASE("file sink recovery: cut to the checkpoint, re-commit what its crash left pending, on any worker count",
          "[connectors][file_sink]") {
  const std::size_t workers = GENERATE(1, 2, 3);
  CAPTURE(workers);
  TempFile f("restore");
  Markers m;
  auto sink = make_sink(f.path());
  std::vector<std::string> at2;
  {
    Writers ws = open_writers(sink, m, 2);
    write(*ws[0], {"a1"});
    write(*ws[1], {"b1"});
    barrier_all(ws, 1);
    ws[0]->on_checkpoint_complete(1);
    write(*ws[0], {"a2"});
    write(*ws[1], {"b2"});
    at2 = barrier_all(ws, 2);
    write(*ws[0], {"a3"});  // after checkpoint 2: rolled back
    barrier_all(ws, 3);     // never completes
    SECTION("the commit of checkpoint 2 had happened") {
      ws[1]->on_checkpoint_complete(2);
      CHECK(read_file(f.path()) == "a1\nb1\na2\nb2\n");
    }
    SECTION("checkpoint 2 completed, the crash came before its commit") {
      CHECK(read_file(f.path()) == "a1\nb1\n");
    }
    SECTION("a crash in the middle of appending: a partial line at the end") {
      std::ofstream(f.path(), std::ios::app) << "a2\nb";
    }
    // A crash: a stopped run leaves the file and the parts as a killed one does.
    close_all(ws);
  }
  Markers restarted = m;  // the markers survive; each worker count restores from the same state
  auto again = make_sink(f.path());
  Writers ws = open_writers(again, restarted, workers);
  for (auto& w : ws) w->restore(2, views(at2));
  CHECK(read_file(f.path()) == "a1\nb1\na2\nb2\n");
  CHECK(f.part_count() == 0);  // the pending parts went in, the rest is gone
  write(*ws.back(), {"c3"});
  for (auto& w : ws) w->on_end_of_input();
  close_all(ws);
  CHECK(read_file(f.path()) == "a1\nb1\na2\nb2\nc3\n");
  // Restoring checkpoint 2 again (a second crash before checkpoint 3) commits nothing twice.
  auto third = make_sink(f.path());
  Writers ws3 = open_writers(third, restarted, 1);
  ws3[0]->restore(2, views(at2));
  CHECK(read_file(f.path()) == "a1\nb1\na2\nb2\n");
  close_all(ws3);
}

TEST_CASE("file sink recovery without the markers (a savepoint into new storage) relies on the handles",
          "[connectors][file_sink]") {
  TempFile f("nomarkers");
  Markers m;
  auto sink = make_sink(f.path());
  Writers ws = open_writers(sink, m, 1);
  write(*ws[0], {"a1"});
  barrier_all(ws, 1);
  ws[0]->on_checkpoint_complete(1);
  write(*ws[0], {"a2"});
  const std::vector<std::string> at2 = barrier_all(ws, 2);
  ws[0]->on_checkpoint_complete(2);
  write(*ws[0], {"a3"});
  barrier_all(ws, 3);
  ws[0]->on_checkpoint_complete(3);
  close_all(ws);
  CHECK(read_file(f.path()) == "a1\na2\na3\n");
  Markers none;
  auto again = make_sink(f.path());
  Writers r = open_writers(again, none, 1);
  // At barrier 2 checkpoint 1 was committed (3 bytes); checkpoint 2's part
  // is gone and the file holds 3 more bytes: it was committed, the restore
  // cuts after it.
  r[0]->restore(2, views(at2));
  CHECK(read_file(f.path()) == "a1\na2\n");
  close_all(r);
}

TEST_CASE("file sink recovery refuses a shortened file, a missing part and bad handles, changing nothing",
          "[connectors][file_sink]") {
  TempFile f("bad");
  Markers m;
  auto sink = make_sink(f.path());
  std::vector<std::string> at2;
  {
    Writers ws = open_writers(sink, m, 1);
    write(*ws[0], {"a1"});
    barrier_all(ws, 1);
    ws[0]->on_checkpoint_complete(1);
    write(*ws[0], {"a2"});
    at2 = barrier_all(ws, 2);
    close_all(ws);  // a crash before checkpoint 2's commit
  }
  auto again = make_sink(f.path());
  SECTION("the file is shorter than what was committed") {
    put_file(f.path(), "a");
    Writers r = open_writers(again, m, 1);
    const std::string what = thrown_message<SluiceError>([&] { r[0]->restore(2, views(at2)); });
    CHECK(what.find(f.path()) != std::string::npos);
    CHECK(what.find("it has 1 bytes, 3 were committed") != std::string::npos);
    CHECK(read_file(f.path()) == "a");
    close_all(r);
  }
  SECTION("a pending part is gone") {
    std::filesystem::remove_all(f.parts());
    Writers r = open_writers(again, m, 1);
    const std::string what = thrown_message<SluiceError>([&] { r[0]->restore(2, views(at2)); });
    CHECK(what.find("pending part") != std::string::npos);
    CHECK(what.find("is missing and the file does not hold it") != std::string::npos);
    CHECK(read_file(f.path()) == "a1\n");
    close_all(r);
  }
  SECTION("handles cut short or with trailing bytes") {
    Writers r = open_writers(again, m, 1);
    CHECK_THROWS_AS(r[0]->restore(2, {std::string_view(at2[0]).substr(0, 5)}), StateFormatError);
    CHECK_THROWS_AS(r[0]->restore(2, {at2[0] + "x"}), StateFormatError);
    CHECK(read_file(f.path()) == "a1\n");
    // The good handle still restores afterwards.
    r[0]->restore(2, views(at2));
    CHECK(read_file(f.path()) == "a1\na2\n");
    close_all(r);
  }
}
