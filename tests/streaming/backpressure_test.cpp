// Backpressure at source buffers (rate-limited generator + manual clock: fully
// deterministic) and at exchange channels (key_by across workers).
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// 1e6 events/s over one worker is exactly one record per µs of the manual clock.
GeneratorOptions rate_limited(std::uint64_t count, std::size_t capacity, Backpressure strategy,
                              std::size_t max_capacity = 0) {
  GeneratorOptions o;
  o.count = count;
  o.events_per_second = 1e6;
  o.buffer = BufferOptions{capacity, strategy, max_capacity};
  return o;
}

std::vector<std::int64_t> iota_vec(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

struct Run {
  ManualClock clock{0};
  ProbeSink<std::int64_t> out;
  Engine engine;
  std::shared_ptr<Query> q;

  Run(const GeneratorOptions& g, std::size_t workers = 1) {
    Job job("bp");
    job.source(Generator(g, identity, "gen")).sink(out);
    q = engine.start("bp", job, manual_options(clock, workers));
  }
  QueryMetrics finish() {
    REQUIRE(q->wait_for(20s));
    REQUIRE(q->status().state == QueryState::kFinished);
    return q->metrics();
  }
};

}  // namespace

TEST_CASE("backpressure: nothing arrives while the manual clock stands still", "[streaming]") {
  Run r(rate_limited(100, 1'000, Backpressure::kBlock));
  // Let the worker poll a few times at t = 0 (a sync point: metrics are only
  // registered once, and the query is running).
  REQUIRE(r.q->status().state == QueryState::kRunning);
  r.clock.advance(5);  // exactly 5 records are due
  REQUIRE(r.out.wait_records(5));
  r.clock.advance(3);
  REQUIRE(r.out.wait_records(8));
  CHECK(r.out.values() == iota_vec(0, 8));
  r.clock.advance(1'000);
  QueryMetrics m = r.finish();
  CHECK(r.out.values() == iota_vec(0, 100));
  CHECK(m.records_in == 100);
  CHECK(m.dropped_records == 0);
  // Records keep their event time (i µs), not their arrival time.
  std::vector<Record<std::int64_t>> recs = r.out.records();
  for (const auto& rec : recs) CHECK(rec.ts_us == rec.value);
}

TEST_CASE("backpressure: Block on the source buffer is lossless and counts each stall", "[streaming]") {
  Run r(rate_limited(100, 10, Backpressure::kBlock));
  // Each jump of the clock brings far more than the buffer holds: the producer
  // fills the 10 slots and waits; nothing is lost.
  for (std::size_t round = 1; round <= 10; ++round) {
    r.clock.advance(1'000);
    REQUIRE(r.out.wait_records(10 * round));
    CHECK(r.out.size() == 10 * round);  // exactly one buffer full per jump
  }
  QueryMetrics m = r.finish();
  CHECK(r.out.values() == iota_vec(0, 100));
  CHECK(m.records_in == 100);
  CHECK(m.records_out == 100);
  CHECK(m.dropped_records == 0);
  const BufferStats* b = m.buffer("gen.buffer");
  REQUIRE(b != nullptr);
  CHECK(b->dropped_records == 0);
  CHECK(b->backpressure_events == 9);  // the last jump only brings the final 10
  CHECK(b->records == 100);
  CHECK(b->capacity == 10);
}

TEST_CASE("backpressure: DropNewest keeps the oldest records and counts the rest", "[streaming]") {
  Run r(rate_limited(100, 10, Backpressure::kDropNewest));
  r.clock.advance(1'000);  // all 100 arrive at once into a 10-record buffer
  QueryMetrics m = r.finish();
  CHECK(r.out.values() == iota_vec(0, 10));
  CHECK(m.records_in == 10);
  CHECK(m.dropped_records == 90);
  const BufferStats* b = m.buffer("gen.buffer");
  REQUIRE(b != nullptr);
  CHECK(b->dropped_records == 90);
  CHECK(b->records == 10);
  CHECK(b->backpressure_events == 1);
  REQUIRE(m.op("gen") != nullptr);
  CHECK(m.op("gen")->dropped_records == 90);
}

TEST_CASE("backpressure: DropOldest keeps the newest records and counts the rest", "[streaming]") {
  Run r(rate_limited(100, 10, Backpressure::kDropOldest));
  r.clock.advance(1'000);
  QueryMetrics m = r.finish();
  CHECK(r.out.values() == iota_vec(90, 100));
  std::vector<Record<std::int64_t>> recs = r.out.records();
  for (const auto& rec : recs) CHECK(rec.ts_us == rec.value);
  CHECK(m.records_in == 10);
  CHECK(m.dropped_records == 90);
  const BufferStats* b = m.buffer("gen.buffer");
  REQUIRE(b != nullptr);
  CHECK(b->dropped_records == 90);
  CHECK(b->records == 100);  // every record was accepted, 90 were pushed out again
  // Counted once per buffer-full of evictions (90 evicted in chunks of 10).
  CHECK(b->backpressure_events == 9);
}

TEST_CASE("backpressure: DropOldest across several clock jumps keeps only the newest per drain", "[streaming]") {
  Run r(rate_limited(100, 10, Backpressure::kDropOldest));
  r.clock.advance(25);  // records 0..24 due: 15 oldest evicted
  REQUIRE(r.out.wait_records(10));
  r.clock.advance(5);   // 25..29 arrive into an empty buffer: kept
  REQUIRE(r.out.wait_records(15));
  r.clock.advance(1'000);  // 30..99: 60 evicted
  QueryMetrics m = r.finish();
  std::vector<std::int64_t> want = iota_vec(15, 30);
  for (std::int64_t v = 90; v < 100; ++v) want.push_back(v);
  CHECK(r.out.values() == want);
  CHECK(m.dropped_records == 75);
  CHECK(m.records_in == 25);
}

TEST_CASE("backpressure: Signal never waits and never drops, and counts the overflow", "[streaming]") {
  Run r(rate_limited(100, 10, Backpressure::kSignal));
  r.clock.advance(1'000);
  QueryMetrics m = r.finish();
  CHECK(r.out.values() == iota_vec(0, 100));
  CHECK(m.dropped_records == 0);
  const BufferStats* b = m.buffer("gen.buffer");
  REQUIRE(b != nullptr);
  CHECK(b->backpressure_events == 1);
  CHECK(b->dropped_records == 0);
  CHECK(b->records == 100);
  CHECK(b->capacity == 10);
}

TEST_CASE("backpressure: Adaptive doubles up to its limit, then blocks; lossless", "[streaming]") {
  SECTION("default limit: 8 x capacity") {
    Run r(rate_limited(100, 10, Backpressure::kAdaptive));
    r.clock.advance(1'000);  // 10 -> 20 -> 40 -> 80 (3 growths), then the producer waits
    REQUIRE(r.out.wait_records(80));
    CHECK(r.q->metrics().buffer("gen.buffer")->capacity == 80);
    CHECK(r.out.size() == 80);
    r.clock.advance(1'000);  // the last 20 arrive into the drained buffer
    QueryMetrics m = r.finish();
    CHECK(r.out.values() == iota_vec(0, 100));
    CHECK(m.dropped_records == 0);
    const BufferStats* b = m.buffer("gen.buffer");
    REQUIRE(b != nullptr);
    CHECK(b->backpressure_events == 4);  // 3 growths + 1 stall at the limit
    CHECK(b->dropped_records == 0);
    // Documented: "shrink back when drained" (halving, as exchange channels do).
    CHECK(b->capacity == 40);
  }
  SECTION("explicit max_capacity") {
    Run r(rate_limited(100, 10, Backpressure::kAdaptive, 30));
    r.clock.advance(1'000);  // 10 -> 20 -> 30, then the producer waits
    REQUIRE(r.out.wait_records(30));
    CHECK(r.out.size() == 30);
    CHECK(r.q->metrics().buffer("gen.buffer")->capacity == 30);
    CHECK(r.q->metrics().buffer("gen.buffer")->backpressure_events == 3);
    r.clock.advance(1'000);
    REQUIRE(r.out.wait_records(60));
    r.clock.advance(1'000);
    REQUIRE(r.out.wait_records(90));
    r.clock.advance(1'000);
    QueryMetrics m = r.finish();
    CHECK(r.out.values() == iota_vec(0, 100));
    CHECK(m.dropped_records == 0);
  }
}

TEST_CASE("backpressure: per-worker source buffers are summed under one name", "[streaming]") {
  GeneratorOptions g = rate_limited(200, 10, Backpressure::kDropNewest);
  g.events_per_second = 2e6;  // 1 record per µs per worker
  g.chunk = 10;               // worker 0: 0..9, 20..29, ...; worker 1: 10..19, 30..39, ...
  Run r(g, 2);
  r.clock.advance(1'000);
  QueryMetrics m = r.finish();
  std::vector<std::int64_t> got = r.out.values();
  std::sort(got.begin(), got.end());
  CHECK(got == iota_vec(0, 20));  // each worker kept its first 10
  CHECK(m.dropped_records == 180);
  const BufferStats* b = m.buffer("gen.buffer");
  REQUIRE(b != nullptr);
  CHECK(b->dropped_records == 180);
  CHECK(b->backpressure_events == 2);
  CHECK(b->records == 20);
}

namespace {

// A sink whose worker-0 writer waits at a gate on its first batch, so the
// exchange channels into worker 0 fill up. Other workers write freely.
class GatedSink final : public Sink<std::int64_t> {
 public:
  struct State {
    Gate gate;
    std::mutex mu;
    std::vector<std::int64_t> values;
    std::map<std::int64_t, std::set<std::size_t>> workers;
  };
  GatedSink() : s_(std::make_shared<State>()) {}
  std::string default_name() const override { return "gated"; }
  std::unique_ptr<SinkWriter<std::int64_t>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }
  State& state() { return *s_; }

 private:
  class Writer final : public SinkWriter<std::int64_t> {
   public:
    Writer(std::shared_ptr<State> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    void write(Batch<std::int64_t>& batch) override {
      if (w_ == 0 && !passed_) {
        s_->gate.pass();
        passed_ = true;
      }
      std::lock_guard lock(s_->mu);
      for (auto& r : batch) {
        s_->values.push_back(r.value);
        s_->workers[r.value].insert(w_);
      }
    }

   private:
    std::shared_ptr<State> s_;
    std::size_t w_;
    bool passed_ = false;
  };
  std::shared_ptr<State> s_;
};

QueryOptions exchange_options(Backpressure strategy, std::size_t max_capacity = 0) {
  QueryOptions o;
  o.workers = 2;
  o.batch_size = 4;
  o.exchange_buffer = BufferOptions{1, strategy, max_capacity};
  return o;
}

}  // namespace

TEST_CASE("backpressure: Block on exchange channels is lossless and reports backpressure", "[streaming]") {
  for (Backpressure strategy : {Backpressure::kBlock, Backpressure::kSignal, Backpressure::kAdaptive}) {
    INFO("strategy " << to_string(strategy));
    constexpr std::int64_t kCount = 2'000;
    GatedSink sink;
    Job job("exchange-bp");
    job.source(Generator(GeneratorOptions{.count = kCount, .chunk = 64}, identity, "gen"))
        .key_by([](std::int64_t v) { return v % 97; })
        .name("kb")
        .routed()
        .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
        .sink(sink);
    Engine engine;
    auto q = engine.start("exchange-bp", job, exchange_options(strategy));
    // Worker 0's sink is stuck: worker 1 keeps producing into its channel to worker 0.
    REQUIRE(sink.state().gate.wait_for_arrival());
    REQUIRE(eventually([&] {
      const QueryMetrics now = q->metrics();
      const BufferStats* b = now.buffer("kb");
      return b != nullptr && b->backpressure_events > 0;
    }));
    CHECK(q->status().state == QueryState::kRunning);
    sink.state().gate.open();
    REQUIRE(q->wait_for(20s));
    REQUIRE(q->status().state == QueryState::kFinished);

    QueryMetrics m = q->metrics();
    std::vector<std::int64_t> got;
    {
      std::lock_guard lock(sink.state().mu);
      got = sink.state().values;
    }
    std::sort(got.begin(), got.end());
    CHECK(got == iota_vec(0, kCount));
    CHECK(m.dropped_records == 0);
    CHECK(m.records_in == static_cast<std::uint64_t>(kCount));
    CHECK(m.records_out == static_cast<std::uint64_t>(kCount));
    const BufferStats* b = m.buffer("kb");
    REQUIRE(b != nullptr);
    CHECK(b->backpressure_events > 0);
    CHECK(b->dropped_records == 0);
    // Only records bound for the other worker cross a channel.
    std::uint64_t remote = 0;
    for (std::int64_t i = 0; i < kCount; ++i)
      remote += worker_of_key_group(key_group_of(hash_key(i % 97), 128), 128, 2) != static_cast<std::size_t>(i / 64 % 2);
    CHECK(b->records == remote);
    if (strategy == Backpressure::kAdaptive) CHECK(b->capacity <= 8);
    if (strategy != Backpressure::kAdaptive) CHECK(b->capacity == 1);
    // Every key went to exactly one worker.
    std::lock_guard lock(sink.state().mu);
    std::map<std::int64_t, std::set<std::size_t>> by_key;
    for (const auto& [v, ws] : sink.state().workers) by_key[v % 97].insert(ws.begin(), ws.end());
    for (const auto& [k, ws] : by_key) CHECK(ws.size() == 1);
  }
}

TEST_CASE("backpressure: dropping strategies are refused on exchange buffers", "[streaming]") {
  Job job("bad");
  CollectSink<std::int64_t> out;
  job.source(Generator(GeneratorOptions{.count = 10}, identity)).sink(out);
  for (Backpressure s : {Backpressure::kDropOldest, Backpressure::kDropNewest}) {
    QueryOptions o;
    o.workers = 2;
    o.exchange_buffer.strategy = s;
    INFO(to_string(s));
    try {
      job.run(o);
      FAIL("expected ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.field() == "strategy");
      CHECK(e.operator_name() == "QueryOptions.exchange_buffer");
      CHECK_THAT(e.what(), Catch::Contains("exchange_buffer") && Catch::Contains(to_string(s)));
    }
    Engine engine;
    CHECK_THROWS_AS(engine.start("q", job, o), ConfigError);
    CHECK(engine.get("q") == nullptr);
  }
  CHECK(out.size() == 0);
}

TEST_CASE("backpressure: capacity 0 and a max_capacity below capacity are refused, naming the field",
          "[streaming]") {
  SECTION("exchange buffer capacity 0") {
    QueryOptions o;
    o.exchange_buffer.capacity = 0;
    try {
      o.validate();
      FAIL("expected ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.field() == "capacity");
      CHECK_THAT(e.what(), Catch::Contains("exchange_buffer") && Catch::Contains("capacity"));
    }
  }
  SECTION("exchange buffer max_capacity < capacity") {
    QueryOptions o;
    o.exchange_buffer = BufferOptions{16, Backpressure::kAdaptive, 8};
    try {
      o.validate();
      FAIL("expected ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.field() == "max_capacity");
    }
  }
  SECTION("generator buffer capacity 0") {
    GeneratorOptions g;
    g.events_per_second = 1000;
    g.buffer.capacity = 0;
    try {
      Generator gen(g, identity, "ticks");
      FAIL("expected ConfigError");
    } catch (const ConfigError& e) {
      CHECK(e.field() == "capacity");
      CHECK(e.operator_name() == "ticks.buffer");
      CHECK_THAT(e.what(), Catch::Contains("ticks.buffer") && Catch::Contains("capacity"));
    }
  }
  SECTION("batch_size 0") {
    QueryOptions o;
    o.batch_size = 0;
    CHECK_THROWS_AS(o.validate(), ConfigError);
  }
}
