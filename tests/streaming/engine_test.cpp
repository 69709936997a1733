// Engine and query lifecycle: start, status, metrics, stop (cancel / drain),
// names, restarts, failures, shutdown.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Counts records without storing them (for unbounded inputs); remembers the
// last watermark per worker, end-of-input and close calls.
class CountingSink final : public Sink<std::int64_t> {
 public:
  struct State {
    std::atomic<std::uint64_t> count{0};
    std::atomic<int> ends{0}, closes{0};
    std::mutex mu;
    std::map<std::size_t, Timestamp> last_wm;
    std::set<std::int64_t> seen;  // only filled when `keep` is set
    std::uint64_t duplicates = 0;
    bool keep = false;
    Signal signal;
  };
  explicit CountingSink(bool keep = false) : s_(std::make_shared<State>()) { s_->keep = keep; }
  std::string default_name() const override { return "counting"; }
  std::unique_ptr<SinkWriter<std::int64_t>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }
  State& state() const { return *s_; }
  std::uint64_t count() const { return s_->count.load(); }
  bool wait_count(std::uint64_t n) const {
    return s_->signal.wait_until([&] { return count() >= n; });
  }

 private:
  class Writer final : public SinkWriter<std::int64_t> {
   public:
    Writer(std::shared_ptr<State> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    void write(Batch<std::int64_t>& batch) override {
      if (s_->keep) {
        std::lock_guard lock(s_->mu);
        for (const auto& r : batch)
          if (!s_->seen.insert(r.value).second) ++s_->duplicates;
      }
      s_->count += batch.size();
      s_->signal.notify();
    }
    void on_watermark(Timestamp wm) override {
      std::lock_guard lock(s_->mu);
      s_->last_wm[w_] = wm;
    }
    void on_end_of_input() override {
      ++s_->ends;
      s_->signal.notify();
    }
    void close() override { ++s_->closes; }

   private:
    std::shared_ptr<State> s_;
    std::size_t w_;
  };
  std::shared_ptr<State> s_;
};

Job unbounded_job(const CountingSink& sink) {
  Job job("unbounded");
  job.source(Generator(GeneratorOptions{.count = 0}, identity, "gen")).sink(sink);
  return job;
}

Job bounded_job(const ProbeSink<std::int64_t>& sink, std::uint64_t count) {
  Job job("bounded");
  job.source(Generator(GeneratorOptions{.count = count, .chunk = 16}, identity, "gen"))
      .key_by([](std::int64_t v) { return v % 13; })
      .routed()
      .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
      .sink(sink);
  return job;
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::int64_t> iota_vec(std::int64_t n, int times = 1) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = 0; i < n; ++i)
    for (int t = 0; t < times; ++t) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("engine: an unbounded query runs until cancelled; status and metrics while running", "[streaming]") {
  for (std::size_t n : {1u, 2u}) {
    INFO("workers " << n);
    CountingSink sink;
    Job job = unbounded_job(sink);
    Engine engine;
    auto q = engine.start("unbounded", job, workers(n));
    REQUIRE(q != nullptr);
    CHECK(q->name() == "unbounded");
    CHECK(q->workers() == n);
    REQUIRE(sink.wait_count(50'000));
    CHECK(q->status().state == QueryState::kRunning);
    CHECK(q->status().error.empty());
    CHECK_FALSE(q->wait_for(1ms));  // still running

    QueryMetrics running = q->metrics();
    CHECK(running.records_in >= 50'000);
    REQUIRE(running.op("gen") != nullptr);
    CHECK(running.op("gen")->kind == "source");
    REQUIRE(running.op("counting") != nullptr);
    CHECK(running.op("counting")->kind == "sink");
    CHECK(running.op("counting")->records_in >= 50'000);

    q->stop(StopMode::kCancel);
    CHECK(q->status().state == QueryState::kStopped);
    CHECK(q->status().error.empty());
    CHECK(q->wait_for(0ms));
    QueryMetrics m = q->metrics();
    CHECK(m.records_out == sink.count());  // everything counted reached the writer
    CHECK(m.records_in >= m.records_out);
    CHECK(sink.state().ends == 0);               // cancel: no end of input
    CHECK(sink.state().closes == static_cast<int>(n));  // but writers are always closed
    const std::uint64_t after = sink.count();
    q->stop();  // idempotent
    CHECK(sink.count() == after);
    CHECK(q->status().state == QueryState::kStopped);
  }
}

TEST_CASE("engine: stop(kDrain) ends the sources and delivers everything in flight", "[streaming]") {
  CountingSink sink(/*keep=*/true);
  Job job("drain");
  job.source(Generator(GeneratorOptions{.count = 0, .chunk = 100}, identity, "gen"))
      .watermarks(ascending().with_emit_interval(0ms))
      .key_by([](std::int64_t v) { return v % 7; })
      .routed()
      .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
      .sink(sink);
  Engine engine;
  QueryOptions o = workers(2);
  o.batch_size = 64;
  o.exchange_buffer.capacity = 2;
  auto q = engine.start("drain", job, o);
  REQUIRE(sink.wait_count(20'000));
  q->stop(StopMode::kDrain);
  CHECK(q->status().state == QueryState::kStopped);
  CHECK(q->status().error.empty());
  QueryMetrics m = q->metrics();
  CHECK(m.records_in == m.records_out);  // nothing in flight was lost
  CHECK(sink.count() == m.records_out);
  CHECK(sink.state().duplicates == 0);
  CHECK(sink.state().ends == 2);  // every worker's sink saw end of input
  std::lock_guard lock(sink.state().mu);
  REQUIRE(sink.state().last_wm.size() == 2);
  for (const auto& [w, wm] : sink.state().last_wm) CHECK(wm == kMaxTimestamp);
  CHECK(m.watermark_us == kMaxTimestamp);
}

TEST_CASE("engine: drain of a scripted source that is waiting for input", "[streaming]") {
  ManualClock clock(0);
  ScriptedSource<int> src;
  ProbeSink<int> out;
  Job job("drain-wait");
  job.source(src).watermarks(ascending().with_emit_interval(0ms)).sink(out);
  Engine engine;
  auto q = engine.start("q", job, manual_options(clock));
  src.push_values({{1, 10}, {2, 20}});
  REQUIRE(out.wait_records(2));
  q->stop(StopMode::kDrain);  // the source never ends by itself
  CHECK(q->status().state == QueryState::kStopped);
  CHECK(out.values() == std::vector<int>{1, 2});
  CHECK(out.watermarks() == std::vector<Timestamp>{19, kMaxTimestamp});
  CHECK(out.ends() == 1);
}

TEST_CASE("engine: a query name is unique while running; restarting a finished or stopped query works",
          "[streaming]") {
  Engine engine;
  CountingSink sink;
  Job job = unbounded_job(sink);
  auto q1 = engine.start("q", job, workers(2));
  REQUIRE(sink.wait_count(1));
  try {
    engine.start("q", job, workers(2));
    FAIL("expected SluiceError");
  } catch (const SluiceError& e) {
    CHECK_THAT(e.what(), Catch::Contains("'q'") && Catch::Contains("already running"));
  }
  CHECK(engine.get("q") == q1);  // the running query is untouched
  CHECK(q1->status().state == QueryState::kRunning);

  // Another name runs side by side.
  ProbeSink<std::int64_t> out;
  Job other = bounded_job(out, 1'000);
  auto q2 = engine.start("other", other, workers(2));
  REQUIRE(q2->wait_for(20s));
  CHECK(q2->status().state == QueryState::kFinished);
  CHECK(sorted(out.values()) == iota_vec(1'000));

  // Restart the finished one: a fresh run produces the full result again.
  auto q3 = engine.start("other", other, workers(2));
  CHECK(q3 != q2);
  CHECK(engine.get("other") == q3);
  REQUIRE(q3->wait_for(20s));
  CHECK(q3->status().state == QueryState::kFinished);
  CHECK(sorted(out.values()) == iota_vec(1'000, 2));
  CHECK(q3->metrics().records_out == 1'000);  // metrics are per run

  // Restart the cancelled one.
  q1->stop();
  CHECK(q1->status().state == QueryState::kStopped);
  const std::uint64_t before = sink.count();
  auto q4 = engine.start("q", job, workers(1));
  REQUIRE(sink.wait_count(before + 1'000));
  CHECK(q4->status().state == QueryState::kRunning);
  CHECK(q1->status().state == QueryState::kStopped);
  q4->stop();
}

TEST_CASE("engine: list() and get()", "[streaming]") {
  Engine engine;
  CHECK(engine.list().empty());
  CHECK(engine.get("a") == nullptr);
  ProbeSink<std::int64_t> out_a, out_b;
  Job ja = bounded_job(out_a, 10), jb = bounded_job(out_b, 20);
  auto b = engine.start("b", jb, workers(1));
  auto a = engine.start("a", ja, workers(2));
  CHECK(engine.get("a") == a);
  CHECK(engine.get("b") == b);
  CHECK(engine.get("c") == nullptr);
  REQUIRE(a->wait_for(20s));
  REQUIRE(b->wait_for(20s));
  std::vector<std::string> names = engine.list();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a", "b"});  // finished queries stay known
  CHECK(sorted(out_a.values()) == iota_vec(10));
  CHECK(sorted(out_b.values()) == iota_vec(20));
}

TEST_CASE("engine: a throwing user function fails the query with its message", "[streaming]") {
  for (std::size_t n : {1u, 2u}) {
    INFO("workers " << n);
    ProbeSink<std::int64_t> out;
    Job job("failing");
    job.source(Generator(GeneratorOptions{.count = 10'000, .chunk = 64}, identity, "gen"))
        .map([](std::int64_t v) {
          if (v == 4'321) throw std::runtime_error("bad value 4321");
          return v;
        })
        .sink(out);
    Engine engine;
    auto q = engine.start("failing", job, workers(n));
    REQUIRE(q->wait_for(20s));
    QueryStatus s = q->status();
    CHECK(s.state == QueryState::kFailed);
    CHECK_THAT(s.error, Catch::Contains("bad value 4321"));
    // The failing worker's sink never sees end of input (a healthy worker may
    // have finished its own share before it noticed the failure).
    CHECK(out.ends() < static_cast<int>(n));
    CHECK(out.closes() == static_cast<int>(n));  // every writer closed

    // Restarting a failed query is allowed (it fails again, the same way).
    auto again = engine.start("failing", job, workers(n));
    REQUIRE(again->wait_for(20s));
    CHECK(again->status().state == QueryState::kFailed);

    // Job::run rethrows the OperatorError naming the operator and the message.
    try {
      job.run(workers(n));
      FAIL("expected OperatorError");
    } catch (const OperatorError& e) {
      CHECK_THAT(e.what(), Catch::Contains("operator 'map") && Catch::Contains("bad value 4321"));
    }
  }
}

TEST_CASE("engine: a source that throws in open fails start, and nothing is left running", "[streaming]") {
  struct BadSource final : Source<int> {
    using value_type = int;
    std::string default_name() const override { return "bad"; }
    std::unique_ptr<SourceReader<int>> open(const SourceContext&) const override {
      throw SluiceError("cannot open bad source");
    }
  };
  Job job("bad-open");
  ProbeSink<int> out;
  job.source(BadSource{}).sink(out);
  Engine engine;
  CHECK_THROWS_WITH(engine.start("bad", job, workers(2)), Catch::Contains("cannot open bad source"));
  CHECK(engine.get("bad") == nullptr);
  CHECK(engine.list().empty());
  CHECK_THROWS_AS(job.run(workers(1)), SluiceError);
}

TEST_CASE("engine: destroying the engine stops its running queries", "[streaming]") {
  CountingSink s1, s2;
  Job j1 = unbounded_job(s1), j2 = unbounded_job(s2);
  std::shared_ptr<Query> q1, q2;
  {
    Engine engine;
    q1 = engine.start("one", j1, workers(2));
    q2 = engine.start("two", j2, workers(1));
    REQUIRE(s1.wait_count(1'000));
    REQUIRE(s2.wait_count(1'000));
  }
  CHECK(q1->status().state == QueryState::kStopped);
  CHECK(q2->status().state == QueryState::kStopped);
  CHECK(s1.state().closes == 2);
  CHECK(s2.state().closes == 1);
  const std::uint64_t c1 = s1.count();
  CHECK(q1->metrics().records_out == c1);  // the query object outlives the engine
}

TEST_CASE("engine: shutdown(kDrain) drains every query", "[streaming]") {
  CountingSink s1;
  Job j1("drain-all");
  j1.source(Generator(GeneratorOptions{.count = 0}, identity, "gen")).sink(s1);
  Engine engine;
  auto q = engine.start("one", j1, workers(2));
  REQUIRE(s1.wait_count(1'000));
  engine.shutdown(StopMode::kDrain);
  CHECK(q->status().state == QueryState::kStopped);
  CHECK(s1.state().ends == 2);
  CHECK(q->metrics().records_in == q->metrics().records_out);
}

TEST_CASE("engine: bad options are refused with a ConfigError naming the field", "[streaming]") {
  Engine engine;
  ProbeSink<std::int64_t> out;
  Job job = bounded_job(out, 10);
  auto field_of = [&](const std::string& name, QueryOptions o) -> std::string {
    try {
      engine.start(name, job, o);
    } catch (const ConfigError& e) {
      return e.field();
    }
    return "<no error>";
  };
  CHECK(field_of("", workers(1)) == "name");
  QueryOptions o = workers(4);
  o.max_parallelism = 2;
  CHECK(field_of("q", o) == "workers");
  o = workers(1);
  o.max_parallelism = 0;
  CHECK(field_of("q", o) == "max_parallelism");
  o = workers(1);
  o.tick_interval_us = 0;
  CHECK(field_of("q", o) == "tick_interval_us");
  CHECK(engine.list().empty());
}

TEST_CASE("engine: Job::run returns final metrics of a bounded job", "[streaming]") {
  ProbeSink<std::int64_t> out;
  Job job = bounded_job(out, 5'000);
  QueryMetrics m = job.run(workers(2));
  CHECK(m.records_in == 5'000);
  CHECK(m.records_out == 5'000);
  CHECK(m.dropped_records == 0);
  CHECK(m.watermark_us == kMaxTimestamp);
  CHECK(m.event_time_lag_us == 0);
  CHECK(sorted(out.values()) == iota_vec(5'000));
  CHECK(out.ends() == 2);
  // A job can be run again: fresh instances, same result.
  job.run(workers(4));
  CHECK(sorted(out.values()) == iota_vec(5'000, 2));
}

TEST_CASE("engine: a failure names the operator that threw", "[streaming]") {
  Job job("failing");
  job.source(Generator(GeneratorOptions{.count = 100}, identity, "gen"))
      .map([](std::int64_t v) -> std::int64_t { throw std::runtime_error("boom " + std::to_string(v)); })
      .name("explode")
      .sink(CollectSink<std::int64_t>{});
  Engine engine;
  auto q = engine.start("failing", job, workers(1));
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFailed);
  CHECK_THAT(q->status().error, Catch::Contains("operator 'explode': boom 0"));
}
