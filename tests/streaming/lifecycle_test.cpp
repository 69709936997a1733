// Query lifecycle: stopping from inside a query, releasing what an ended
// query held, the drain timeout, worker and batch limits, Job::run's errors.
#include <catch2/catch.hpp>

#include <dirent.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

std::size_t open_fds() {
  std::size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

}  // namespace

TEST_CASE("lifecycle: stop() from inside a sink requests the stop and returns; the query stops", "[streaming]") {
  for (StopMode mode : {StopMode::kCancel, StopMode::kDrain}) {
    for (std::size_t n : {1u, 2u}) {
      INFO("workers " << n << ", drain " << (mode == StopMode::kDrain));
      std::atomic<Query*> self{nullptr};
      std::atomic<int> stops{0};
      std::atomic<std::int64_t> seen{0};
      Job job("self-stop");
      job.source(Generator(GeneratorOptions{.count = 0, .chunk = 64}, identity, "gen"))  // unbounded
          .sink(CallbackSink<std::int64_t>([&, mode](const std::int64_t&) {
            if (seen.fetch_add(1) == 1'000) {
              Query* q = nullptr;
              while ((q = self.load()) == nullptr) std::this_thread::yield();  // start() has not returned yet
              q->stop(mode);  // must not wait for this very worker
              q->stop(mode);  // idempotent, also from inside
              stops.fetch_add(1);
            }
          }));
      Engine engine;
      auto q = engine.start("self-stop", job, workers(n));
      self.store(q.get());
      REQUIRE(q->wait_for(20s));
      CHECK(stops.load() == 1);
      CHECK(q->status().state == QueryState::kStopped);
      CHECK(q->status().error.empty());
    }
  }
}

TEST_CASE("lifecycle: wait() from inside a query's own worker throws instead of hanging", "[streaming]") {
  std::atomic<Query*> self{nullptr};
  Job job("self-wait");
  job.source(Generator(GeneratorOptions{.count = 0}, identity, "gen"))
      .map([&](std::int64_t v) {
        Query* q = nullptr;
        while ((q = self.load()) == nullptr) std::this_thread::yield();
        q->wait();
        return v;
      })
      .name("waiter")
      .sink(CollectSink<std::int64_t>{});
  Engine engine;
  auto q = engine.start("self-wait", job, workers(1));
  self.store(q.get());
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFailed);
  CHECK_THAT(q->status().error,
             Catch::Contains("operator 'waiter'") && Catch::Contains("wait() called from one of its own workers"));
}

TEST_CASE("lifecycle: an ended query releases its files and operators, keeping status and metrics", "[streaming]") {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "sluice-lifecycle";
  std::filesystem::create_directories(dir);
  {
    std::ofstream in(dir / "in.jsonl");
    for (int i = 0; i < 10; ++i) in << "{\"v\": " << i << "}\n";
  }
  auto schema = Schema::make({{"v", ValueType::kInt64}});
  Engine engine;
  // Warm up once: the first run allocates what the process keeps anyway.
  const auto run_one = [&](int i) {
    Job job("files");
    job.source(JsonLinesSource((dir / "in.jsonl").string(), schema)).sink(CollectSink<Row>{});
    auto q = engine.start("q" + std::to_string(i), job, workers(2));
    REQUIRE(q->wait_for(20s));
    CHECK(q->status().state == QueryState::kFinished);
  };
  run_one(0);
  const std::size_t before = open_fds();
  for (int i = 1; i <= 200; ++i) run_one(i);
  // The last worker releases everything before it reports the end.
  CHECK(open_fds() == before);
  CHECK(engine.list().size() == 201);
  auto q = engine.get("q7");
  REQUIRE(q != nullptr);
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(q->metrics().records_out == 10);  // metrics outlive the run

  CHECK(engine.remove("q7"));
  CHECK(engine.get("q7") == nullptr);
  CHECK_FALSE(engine.remove("q7"));
  CHECK(engine.list().size() == 200);
  CHECK(q->metrics().records_out == 10);  // a handle the user kept still reads
  std::filesystem::remove_all(dir);
}

TEST_CASE("lifecycle: remove() refuses a running query", "[streaming]") {
  Job job("running");
  job.source(Generator(GeneratorOptions{.count = 0}, identity, "gen")).sink(CollectSink<std::int64_t>{});
  Engine engine;
  auto q = engine.start("running", job, workers(1));
  try {
    engine.remove("running");
    FAIL("expected SluiceError");
  } catch (const SluiceError& e) {
    CHECK(std::string(e.what()) == "query 'running' is running; stop it before removing it");
  }
  q->stop();
  CHECK(engine.remove("running"));
}

TEST_CASE("lifecycle: stop(kDrain) gives up after its timeout and cancels", "[streaming]") {
  // A sink that takes 1 ms per record, behind 2,000 buffered records: a full
  // drain would take seconds.
  std::atomic<std::int64_t> delivered{0};
  Job job("slow-drain");
  job.source(Generator(GeneratorOptions{.count = 0, .chunk = 64}, identity, "gen"))
      .sink(CallbackSink<std::int64_t>([&](const std::int64_t&) {
        std::this_thread::sleep_for(1ms);  // a slow external system, not a wait for a result
        delivered.fetch_add(1);
      }));
  QueryOptions o = workers(1);
  o.batch_size = 2'000;
  Engine engine;
  auto q = engine.start("slow-drain", job, o);
  REQUIRE(eventually([&] { return delivered.load() > 0; }));
  const auto t0 = std::chrono::steady_clock::now();
  q->stop(StopMode::kDrain, 50ms);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(q->status().state == QueryState::kStopped);
  // It returned once the batch in hand was done, not after the whole backlog.
  CHECK(delivered.load() < 4'000);
  CHECK(took < 10s);
}

TEST_CASE("lifecycle: absurd worker counts and batch sizes are ConfigErrors naming the field", "[streaming]") {
  Job job("limits");
  job.source(Generator(GeneratorOptions{.count = 1}, identity, "gen")).sink(CollectSink<std::int64_t>{});
  Engine engine;
  QueryOptions o;
  o.workers = 257;
  o.max_parallelism = 1024;
  CHECK_THROWS_WITH(engine.start("w", job, o), Catch::Contains("field 'workers'") && Catch::Contains("<= 256"));
  o = QueryOptions{};
  o.batch_size = std::size_t{1} << 60;
  CHECK_THROWS_WITH(engine.start("b", job, o),
                    Catch::Contains("field 'batch_size'") && Catch::Contains("1152921504606846976"));
  CHECK_THROWS_AS(engine.start("b", job, o), ConfigError);
  o.batch_size = QueryOptions::kMaxBatchSize;
  o.workers = 1;
  auto q = engine.start("b", job, o);
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
}

TEST_CASE("lifecycle: the default worker count is capped at max_parallelism", "[streaming]") {
  Job job("wide");
  CollectSink<std::int64_t> out;
  job.source(Generator(GeneratorOptions{.count = 1'000}, identity, "gen")).key_by([](std::int64_t v) { return v; }).routed().map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; }).sink(out);
  Engine engine(EngineOptions{.workers = 200});  // a large host: more hardware threads than key groups
  QueryOptions o;
  o.max_parallelism = 16;
  auto q = engine.start("wide", job, o);
  CHECK(q->workers() == 16);
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(out.size() == 1'000);
}

TEST_CASE("lifecycle: Job::run rethrows a failure as the OperatorError naming the operator", "[streaming]") {
  for (std::size_t n : {1u, 2u}) {
    Job job("failing");
    job.source(Generator(GeneratorOptions{.count = 10'000, .chunk = 64}, identity, "gen"))
        .map([](std::int64_t v) {
          if (v == 4'321) throw std::runtime_error("bad value 4321");
          return v;
        })
        .name("check")
        .sink(CollectSink<std::int64_t>{});
    try {
      job.run(workers(n));
      FAIL("expected OperatorError");
    } catch (const OperatorError& e) {
      CHECK(e.operator_name() == "check");
      CHECK(std::string(e.what()) == "operator 'check': bad value 4321");
    }
  }
}
