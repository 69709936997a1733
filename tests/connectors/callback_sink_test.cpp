// CallbackSink at the writer level: what on_commit delivers at each
// checkpoint completion and at the end of the input, and what it never
// delivers twice.
#include <catch2/catch.hpp>

#include <vector>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {

using Writer = std::unique_ptr<SinkWriter<int>>;

void write(SinkWriter<int>& w, std::vector<int> values) {
  Batch<int> b;
  for (int v : values) b.push_back(Record<int>{v, 0});
  w.write(b);
}
void barrier(SinkWriter<int>& w, std::uint64_t id) {
  StateWriter h;
  w.on_checkpoint_barrier(id, h);
}

}  // namespace

TEST_CASE("on_commit callback sink: a record is delivered once the checkpoint after it completes, in order",
          "[connectors][callback]") {
  std::vector<int> seen;
  CallbackSink<int> sink = CallbackSink<int>::on_commit([&](const int& v) { seen.push_back(v); });
  Writer w = sink.open(SinkContext{0, 1, "alerts", true});
  write(*w, {1, 2});
  barrier(*w, 1);
  write(*w, {3});
  barrier(*w, 2);
  write(*w, {4});
  CHECK(seen.empty());
  w->on_checkpoint_complete(1);
  CHECK(seen == std::vector<int>{1, 2});
  w->on_checkpoint_complete(1);  // again: nothing more
  CHECK(seen == std::vector<int>{1, 2});
  w->on_checkpoint_complete(2);
  CHECK(seen == std::vector<int>{1, 2, 3});
  w->on_end_of_input();
  CHECK(seen == std::vector<int>{1, 2, 3, 4});
  w->close();
}

TEST_CASE("on_commit callback sink: checkpoints completing after the end of input deliver nothing more",
          "[connectors][callback]") {
  std::vector<int> seen;
  CallbackSink<int> sink = CallbackSink<int>::on_commit([&](const int& v) { seen.push_back(v); });
  Writer w = sink.open(SinkContext{0, 1, "alerts", true});
  write(*w, {1, 2, 3});
  barrier(*w, 1);
  write(*w, {4, 5});
  barrier(*w, 2);
  write(*w, {6});
  w->on_end_of_input();  // everything goes: the input is complete
  CHECK(seen == std::vector<int>{1, 2, 3, 4, 5, 6});
  barrier(*w, 0);  // the final handle
  // Checkpoints 1 and 2 complete only now (they were in flight).
  w->on_checkpoint_complete(1);
  w->on_checkpoint_complete(2);
  CHECK(seen == std::vector<int>{1, 2, 3, 4, 5, 6});
  w->close();
}
