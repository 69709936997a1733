#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <thread>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {
std::vector<int> run_closed(PushSource<int>& src, std::size_t workers = 1) {
  src.close();
  Job job("push");
  CollectSink<int> out;
  job.source(src).sink(out);
  QueryOptions o;
  o.workers = workers;
  job.run(o);
  std::vector<int> v = out.values();
  std::sort(v.begin(), v.end());
  return v;
}
}  // namespace

TEST_CASE("PushSource: DropNewest refuses new records when full, DropOldest evicts old ones", "[connectors]") {
  PushSource<int> newest(BufferOptions{.capacity = 3, .strategy = Backpressure::kDropNewest});
  std::vector<bool> accepted;
  for (int i = 0; i < 5; ++i) accepted.push_back(newest.push(i, i));
  CHECK(accepted == std::vector<bool>{true, true, true, false, false});
  CHECK(run_closed(newest) == std::vector<int>{0, 1, 2});

  PushSource<int> oldest(BufferOptions{.capacity = 3, .strategy = Backpressure::kDropOldest});
  for (int i = 0; i < 5; ++i) CHECK(oldest.push(i, i));
  CHECK(oldest.buffered() == 3);
  CHECK(run_closed(oldest) == std::vector<int>{2, 3, 4});
}

TEST_CASE("PushSource: Signal and Adaptive accept beyond capacity; closed sources refuse", "[connectors]") {
  PushSource<int> signal(BufferOptions{.capacity = 2, .strategy = Backpressure::kSignal});
  for (int i = 0; i < 5; ++i) CHECK(signal.push(i, i));
  CHECK(run_closed(signal, 2) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK_FALSE(signal.push(9, 9));

  PushSource<int> adaptive(BufferOptions{.capacity = 2, .strategy = Backpressure::kAdaptive, .max_capacity = 8});
  for (int i = 0; i < 8; ++i) CHECK(adaptive.push(i, i));  // grows 2 -> 4 -> 8 without blocking
  CHECK(adaptive.buffered() == 8);
  CHECK(run_closed(adaptive) == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("PushSource: Block is lossless with a producer thread far faster than a tiny buffer", "[connectors]") {
  for (std::size_t workers : {1u, 2u}) {
    PushSource<int> src(BufferOptions{.capacity = 4}, "orders");
    Job job("push-block");
    CollectSink<int> out;
    job.source(src).map([](int v) { return v * 2; }).sink(out);
    Engine engine;
    QueryOptions o;
    o.workers = workers;
    auto q = engine.start("push", job, o);
    int refused = 0;  // no Catch assertions off the main thread
    std::thread producer([&] {
      for (int i = 0; i < 20'000; ++i) refused += src.push(i, i) ? 0 : 1;
      src.close();
    });
    producer.join();
    CHECK(refused == 0);
    REQUIRE(q->wait_for(std::chrono::seconds(30)));
    CHECK(q->status().state == QueryState::kFinished);
    std::vector<int> got = out.values();
    std::sort(got.begin(), got.end());
    std::vector<int> want(20'000);
    for (int i = 0; i < 20'000; ++i) want[i] = 2 * i;
    CHECK(got == want);
    QueryMetrics m = q->metrics();
    const BufferStats* b = m.buffer("orders.buffer");
    REQUIRE(b != nullptr);
    CHECK(b->records == 20'000);
    CHECK(b->dropped_records == 0);
    CHECK(b->capacity == 4);
  }
}

TEST_CASE("PushSource: a blocked producer is released by close", "[connectors]") {
  PushSource<int> src(BufferOptions{.capacity = 1});
  CHECK(src.push(1, 1));
  std::thread closer([&] { src.close(); });
  CHECK_FALSE(src.push(2, 2));  // waits until closed, then is refused
  closer.join();
  CHECK(src.buffered() == 1);
}
