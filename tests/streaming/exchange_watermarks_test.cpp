// Watermarks across an exchange (key_by between workers): combined per
// receiving worker, monotonic, +inf exactly once at the end.
#include <catch2/catch.hpp>

#include <algorithm>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {
using KeyedInt = Keyed<int, int>;
}

TEST_CASE("exchange: a watermark from one worker reaches every worker after key_by", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;  // only worker 0 reads; worker 1's share is empty (ends at once)
  ProbeSink<int> out;
  Job job("exchange-wm");
  job.source(src)
      .watermarks(bounded_out_of_orderness(0us).with_emit_interval(0ms))
      .key_by([](int v) { return v; })
      .routed()
      .map([](const KeyedInt& k) { return k.value; })
      .sink(out);
  Engine engine;
  QueryOptions o = manual_options(clock, 2);
  o.batch_size = 3;  // the source hands out the first batch whole
  auto q = engine.start("q", job, o);

  src.push_values({{1, 100}, {2, 50}, {3, 70}});
  REQUIRE(out.wait([&] { return out.watermarks(0).size() >= 1 && out.watermarks(1).size() >= 1; }));
  // Records are flushed before the watermark that follows them on each channel.
  CHECK(out.size() == 3);
  src.push_values({{4, 300}});
  REQUIRE(out.wait([&] { return out.watermarks(0).size() >= 2 && out.watermarks(1).size() >= 2; }));
  src.end();
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
  for (std::size_t w = 0; w < 2; ++w) {
    INFO("worker " << w);
    CHECK(out.watermarks(w) == std::vector<Timestamp>{99, 299, kMaxTimestamp});
    // Per worker: every record precedes the watermark that covers it.
    Timestamp current = kMinTimestamp;
    for (const auto& e : out.events(w)) {
      if (e.is_watermark) {
        current = e.ts;
      } else {
        CHECK(e.ts > current);
      }
    }
  }
  std::vector<int> got = out.values();
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("exchange: watermarks are monotonic per worker with disordered input on 4 workers", "[streaming]") {
  for (std::size_t batch_size : {1024u, 5u}) {
    INFO("batch_size " << batch_size);
    ProbeSink<std::int64_t> out;
    Job job("disorder");
    job.source(Generator(GeneratorOptions{.count = 20'000, .chunk = 50},
                         [](std::uint64_t i) { return std::int64_t(i); }))
        // Disordered event time: within +-500 µs of i * 10.
        .assign_timestamps([](std::int64_t v) { return v * 10 + static_cast<Timestamp>((v * 7919) % 1001) - 500; })
        .watermarks(bounded_out_of_orderness(1ms).with_emit_interval(0ms))
        .key_by([](std::int64_t v) { return v % 31; })
        .routed()
        .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
        .sink(out);
    QueryOptions o;
    o.workers = 4;
    o.batch_size = batch_size;
    o.exchange_buffer.capacity = 4;
    QueryMetrics m = job.run(o);
    CHECK(m.records_out == 20'000);
    for (std::size_t w = 0; w < 4; ++w) {
      INFO("worker " << w);
      std::vector<Timestamp> wms = out.watermarks(w);
      REQUIRE_FALSE(wms.empty());
      CHECK(wms.back() == kMaxTimestamp);
      CHECK(std::count(wms.begin(), wms.end(), kMaxTimestamp) == 1);
      CHECK(std::adjacent_find(wms.begin(), wms.end(), [](Timestamp a, Timestamp b) { return b <= a; }) ==
            wms.end());
      // The bound covers the disorder (max 1000 µs < 1 ms + 1): no record arrives behind
      // its worker's watermark.
      Timestamp current = kMinTimestamp;
      std::size_t late = 0;
      for (const auto& e : out.events(w)) {
        if (e.is_watermark) current = e.ts;
        else late += e.ts <= current;
      }
      CHECK(late == 0);
    }
  }
}
