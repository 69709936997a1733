// Checkpoint barriers through real jobs on 1, 2 and 4 workers: every sink
// instance sees each barrier once, and the barriers cut every source's
// sequence at one place (a consistent cut): across all sinks, each record a
// source emitted before its barrier n arrives before barrier n, each after
// it arrives after. Exchanges and unions align barriers for that to hold.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <variant>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kStreamB = 1'000'000'000;  // b's values start here
constexpr std::uint64_t kChunk = 16;              // generator chunk: record i is on worker (i / kChunk) % workers

// One sink instance's input, in order: a record's value or a barrier's id.
struct Entry {
  bool barrier;
  std::int64_t value;
};

class LogSink final : public Sink<std::int64_t> {
 public:
  explicit LogSink(std::size_t workers) : s_(std::make_shared<State>()) { s_->logs.resize(workers); }
  std::string default_name() const override { return "log"; }
  std::unique_ptr<SinkWriter<std::int64_t>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }
  std::vector<std::vector<Entry>> logs() const {
    std::lock_guard lock(s_->mu);
    return s_->logs;
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<std::vector<Entry>> logs;
  };
  class Writer final : public SinkWriter<std::int64_t> {
   public:
    Writer(std::shared_ptr<State> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    void write(Batch<std::int64_t>& batch) override {
      std::lock_guard lock(s_->mu);
      for (auto& r : batch) s_->logs[w_].push_back(Entry{false, r.value});
    }
    void on_checkpoint_barrier(std::uint64_t id, StateWriter&) override {
      std::lock_guard lock(s_->mu);
      s_->logs[w_].push_back(Entry{true, static_cast<std::int64_t>(id)});
    }

   private:
    std::shared_ptr<State> s_;
    std::size_t w_;
  };
  std::shared_ptr<State> s_;
};

// A record's source instance: (stream, worker that read it), and its place in that source's sequence.
struct Origin {
  int stream;
  std::size_t worker;
  bool operator<(const Origin& o) const { return std::tie(stream, worker) < std::tie(o.stream, o.worker); }
};
Origin origin(std::int64_t v, std::size_t workers) {
  const int stream = v >= kStreamB ? 1 : 0;
  const auto i = static_cast<std::uint64_t>(stream ? v - kStreamB : v);
  return Origin{stream, static_cast<std::size_t>((i / kChunk) % workers)};
}

}  // namespace

TEST_CASE("checkpoint barriers: every sink sees each barrier once, at one consistent cut of every source",
          "[operators][checkpoint]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    INFO("workers " << workers);
    LogSink sink(workers);
    Job job("barriers");
    // Paced sources, so they are still running when the checkpoints come.
    GeneratorOptions paced{.events_per_second = 400'000, .chunk = kChunk};
    Stream<std::int64_t> a = job.source(Generator(paced, identity), "a")
                                 .key_by([](std::int64_t v) { return v % 13; })
                                 .routed()
                                 .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; });
    Stream<std::int64_t> b =
        job.source(Generator(paced, identity), "b").map([](std::int64_t v) { return v + kStreamB; });
    a.union_with(b).sink(sink);

    Engine engine;
    QueryOptions o;
    o.workers = workers;
    o.batch_size = 32;
    auto q = engine.start("barriers", job, o);
    constexpr std::uint64_t kCheckpoints = 4;
    for (std::uint64_t n = 1; n <= kCheckpoints; ++n) {
      REQUIRE(eventually([&] {  // some records between two barriers
        std::size_t seen = 0;
        for (const auto& log : sink.logs()) seen += log.size();
        return seen >= n * 200;
      }));
      CHECK(q->checkpoint_now() == n);
      REQUIRE(q->wait_for_checkpoint(n, 20s));
    }
    CHECK(q->last_completed_checkpoint() == kCheckpoints);
    q->stop(StopMode::kDrain);
    q->wait();

    // Per source instance and checkpoint: the latest record before the
    // barrier and the earliest after it, over all sinks.
    std::map<std::pair<Origin, std::uint64_t>, std::int64_t> last_before, first_after;
    std::map<std::int64_t, int> seen;
    std::size_t records = 0;
    for (const auto& log : sink.logs()) {
      std::vector<std::uint64_t> barriers;
      for (const Entry& e : log) {
        if (e.barrier) {
          barriers.push_back(static_cast<std::uint64_t>(e.value));
          continue;
        }
        ++records;
        ++seen[e.value];
        const Origin o = origin(e.value, workers);
        for (std::uint64_t n = 1; n <= kCheckpoints; ++n) {
          const bool before = std::find(barriers.begin(), barriers.end(), n) == barriers.end();
          auto& m = before ? last_before : first_after;
          auto [it, inserted] = m.try_emplace({o, n}, e.value);
          if (!inserted) it->second = before ? std::max(it->second, e.value) : std::min(it->second, e.value);
        }
      }
      std::vector<std::uint64_t> want(kCheckpoints);
      for (std::uint64_t n = 1; n <= kCheckpoints; ++n) want[n - 1] = n;
      CHECK(barriers == want);  // each once, in order
    }
    CHECK(records > kCheckpoints * 200);
    std::size_t duplicates = 0;
    for (const auto& [v, count] : seen) duplicates += count != 1;
    CHECK(duplicates == 0);
    std::size_t cuts = 0, broken = 0;
    for (const auto& [key, before] : last_before) {
      auto it = first_after.find(key);
      if (it == first_after.end()) continue;
      ++cuts;
      if (!(before < it->second)) {
        ++broken;
        UNSCOPED_INFO("source " << key.first.stream << "/" << key.first.worker << " checkpoint " << key.second
                                << ": " << before << " before the barrier, " << it->second << " after");
      }
    }
    CHECK(broken == 0);
    CHECK(cuts >= kCheckpoints);  // the property was exercised
  }
}

TEST_CASE("checkpoint barriers: a query whose sinks all ended completes a checkpoint at once", "[operators][checkpoint]") {
  CollectSink<std::int64_t> out;
  Job job("done");
  job.source(Generator(GeneratorOptions{.count = 10}, identity)).sink(out);
  Engine engine;
  QueryOptions o;
  o.workers = 2;
  auto q = engine.start("done", job, o);
  q->wait();
  CHECK(q->last_completed_checkpoint() == 0);
  const std::uint64_t id = q->checkpoint_now();
  CHECK(id == 1);
  CHECK(q->wait_for_checkpoint(id, 1s));
  CHECK(q->last_completed_checkpoint() == 1);
  CHECK(out.values().size() == 10);
}
