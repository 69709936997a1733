// key_by routing and union, through real jobs on 1, 2 and 4 workers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

QueryOptions opts(std::size_t workers, std::size_t max_parallelism = 128, std::size_t batch_size = 1024) {
  QueryOptions o;
  o.workers = workers;
  o.max_parallelism = max_parallelism;
  o.batch_size = batch_size;
  return o;
}

// What a keyed sink instance saw: key, key group, value, and its worker.
template <class K>
struct Seen {
  K key;
  std::uint32_t key_group;
  std::int64_t value;
  std::size_t worker;
};

template <class K>
class RoutingSink final : public Sink<Keyed<K, std::int64_t>> {
 public:
  RoutingSink() : s_(std::make_shared<State>()) {}
  std::string default_name() const override { return "routing"; }
  std::unique_ptr<SinkWriter<Keyed<K, std::int64_t>>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }
  std::vector<Seen<K>> seen() const {
    std::lock_guard lock(s_->mu);
    return s_->seen;
  }
  int ends() const { return s_->ends; }

 private:
  struct State {
    std::mutex mu;
    std::vector<Seen<K>> seen;
    std::atomic<int> ends{0};
  };
  class Writer final : public SinkWriter<Keyed<K, std::int64_t>> {
   public:
    Writer(std::shared_ptr<State> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    void write(Batch<Keyed<K, std::int64_t>>& batch) override {
      std::lock_guard lock(s_->mu);
      for (auto& r : batch) s_->seen.push_back(Seen<K>{r.value.key, r.value.key_group, r.value.value, w_});
    }
    void on_end_of_input() override { ++s_->ends; }

   private:
    std::shared_ptr<State> s_;
    std::size_t w_;
  };
  std::shared_ptr<State> s_;
};

template <class K>
void check_routing(const std::vector<Seen<K>>& seen, std::size_t workers, std::size_t maxp) {
  std::map<K, std::set<std::size_t>> workers_of_key;
  std::size_t bad_group = 0, bad_worker = 0, out_of_range = 0;
  for (const Seen<K>& s : seen) {
    const std::uint32_t kg = key_group_of(hash_key(s.key), maxp);
    if (s.key_group != kg) ++bad_group;
    if (s.worker != worker_of_key_group(kg, maxp, workers)) ++bad_worker;
    if (kg < first_key_group(s.worker, maxp, workers) || kg >= first_key_group(s.worker + 1, maxp, workers))
      ++out_of_range;
    workers_of_key[s.key].insert(s.worker);
  }
  CHECK(bad_group == 0);
  CHECK(bad_worker == 0);
  CHECK(out_of_range == 0);
  std::size_t split_keys = 0;
  for (const auto& [k, ws] : workers_of_key) split_keys += ws.size() != 1;
  CHECK(split_keys == 0);
}

}  // namespace

TEST_CASE("key_by: every key goes to exactly one worker, the owner of its key group", "[operators]") {
  constexpr std::int64_t kCount = 20'000;
  for (auto [workers, maxp] : std::vector<std::pair<std::size_t, std::size_t>>{
           {1, 128}, {2, 128}, {4, 128}, {3, 7}, {4, 4}, {2, 1'000}}) {
    INFO("workers " << workers << ", max_parallelism " << maxp);
    RoutingSink<std::int64_t> sink;
    Job job("route");
    job.source(Generator(GeneratorOptions{.count = kCount, .chunk = 100}, identity))
        .key_by([](std::int64_t v) { return v % 1'000; })
        .routed()
        .sink(sink);
    QueryMetrics m = job.run(opts(workers, maxp, 64));
    std::vector<Seen<std::int64_t>> seen = sink.seen();
    REQUIRE(seen.size() == static_cast<std::size_t>(kCount));
    check_routing(seen, workers, maxp);
    std::vector<std::int64_t> values;
    for (const auto& s : seen) {
      values.push_back(s.value);
      if (s.key != s.value % 1'000) FAIL("key " << s.key << " does not belong to value " << s.value);
    }
    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> want(kCount);
    for (std::int64_t i = 0; i < kCount; ++i) want[static_cast<std::size_t>(i)] = i;
    CHECK(values == want);
    CHECK(sink.ends() == static_cast<int>(workers));
    if (workers > 1) {
      // With 1000 distinct keys every worker owns some of them.
      std::set<std::size_t> used;
      for (const auto& s : seen) used.insert(s.worker);
      CHECK(used.size() == workers);
    }
    CHECK(m.records_in == static_cast<std::uint64_t>(kCount));
    CHECK(m.records_out == static_cast<std::uint64_t>(kCount));
  }
}

TEST_CASE("key_by: string keys are routed consistently", "[operators]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    INFO("workers " << workers);
    RoutingSink<std::string> sink;
    Job job("route-strings");
    job.source(Generator(GeneratorOptions{.count = 5'000, .chunk = 33}, identity))
        .key_by([](std::int64_t v) { return "card-" + std::to_string(v % 257); })
        .routed()
        .sink(sink);
    job.run(opts(workers));
    std::vector<Seen<std::string>> seen = sink.seen();
    REQUIRE(seen.size() == 5'000);
    check_routing(seen, workers, 128);
  }
}

TEST_CASE("key_by: results are the same multiset for 1, 2 and 4 workers", "[operators]") {
  auto run = [](std::size_t workers, std::size_t batch_size) {
    CollectSink<std::pair<std::int64_t, std::int64_t>> out;
    Job job("multiset");
    job.source(Generator(GeneratorOptions{.count = 30'000, .chunk = 17}, identity))
        .filter([](std::int64_t v) { return v % 5 != 0; })
        .key_by([](std::int64_t v) { return v % 101; })
        .routed()
        .map([](const Keyed<std::int64_t, std::int64_t>& k) { return std::make_pair(k.key, k.value * 3); })
        .sink(out);
    QueryMetrics m = job.run(opts(workers, 128, batch_size));
    std::vector<std::pair<std::int64_t, std::int64_t>> v = out.values();
    std::sort(v.begin(), v.end());
    CHECK(m.records_out == v.size());
    return v;
  };
  const auto one = run(1, 1024);
  REQUIRE(one.size() == 24'000);
  CHECK(run(2, 1024) == one);
  CHECK(run(4, 1024) == one);
  CHECK(run(4, 3) == one);  // tiny batches: many exchange messages
  CHECK(run(2, 1) == one);
}

TEST_CASE("key_by: timestamps travel with the records across workers", "[operators]") {
  CollectSink<std::int64_t> out;
  Job job("ts");
  job.source(Generator(GeneratorOptions{.count = 2'000, .first_ts_us = 1'000'000, .ts_step_us = 10, .chunk = 8},
                       identity))
      .key_by([](std::int64_t v) { return v % 3; })
      .routed()
      .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
      .sink(out);
  job.run(opts(4));
  std::vector<Record<std::int64_t>> recs = out.records();
  REQUIRE(recs.size() == 2'000);
  std::size_t wrong = 0;
  for (const auto& r : recs) wrong += r.ts_us != 1'000'000 + r.value * 10;
  CHECK(wrong == 0);
}

TEST_CASE("union: three streams merge into one, on 1, 2 and 4 workers", "[operators]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    INFO("workers " << workers);
    CollectSink<std::int64_t> out;
    Job job("union3");
    Stream<std::int64_t> a = job.source(Generator(GeneratorOptions{.count = 1'000, .chunk = 10}, identity), "a");
    Stream<std::int64_t> b = job.source(Generator(GeneratorOptions{.count = 500, .chunk = 7}, identity), "b")
                                 .map([](std::int64_t v) { return v + 10'000; });
    Stream<std::int64_t> c = job.source(Generator(GeneratorOptions{.count = 1, .chunk = 1}, identity), "c")
                                 .map([](std::int64_t v) { return v + 20'000; });
    a.union_with(b, c).sink(out);
    QueryMetrics m = job.run(opts(workers));
    std::vector<std::int64_t> got = out.values();
    std::sort(got.begin(), got.end());
    std::vector<std::int64_t> want;
    for (std::int64_t i = 0; i < 1'000; ++i) want.push_back(i);
    for (std::int64_t i = 0; i < 500; ++i) want.push_back(10'000 + i);
    want.push_back(20'000);
    CHECK(got == want);
    CHECK(m.records_in == 1'501);
    CHECK(m.records_out == 1'501);
    CHECK(m.watermark_us == kMaxTimestamp);
    // One final +inf per worker, and nothing after it.
    std::vector<Timestamp> wms = out.watermarks();
    CHECK(std::count(wms.begin(), wms.end(), kMaxTimestamp) == static_cast<long>(workers));
  }
}

TEST_CASE("union: a stream united with itself sees every record twice; union then key_by", "[operators]") {
  for (std::size_t workers : {1u, 2u}) {
    INFO("workers " << workers);
    CollectSink<std::int64_t> out;
    Job job("self-union");
    Stream<std::int64_t> s = job.source(Generator(GeneratorOptions{.count = 100, .chunk = 9}, identity));
    s.union_with(s)
        .key_by([](std::int64_t v) { return v; })
        .routed()
        .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
        .sink(out);
    job.run(opts(workers));
    std::vector<std::int64_t> got = out.values();
    std::sort(got.begin(), got.end());
    std::vector<std::int64_t> want;
    for (std::int64_t i = 0; i < 100; ++i) want.insert(want.end(), {i, i});
    CHECK(got == want);
  }
}

TEST_CASE("union: streams of different jobs are refused", "[operators]") {
  Job j1("one"), j2("two");
  auto a = j1.source(Generator(GeneratorOptions{.count = 1}, identity));
  auto b = j2.source(Generator(GeneratorOptions{.count = 1}, identity));
  CHECK_THROWS_AS(a.union_with(b), GraphError);
}

TEST_CASE("key_by and union: empty input gives empty output and still ends", "[operators]") {
  // (A Generator with count 0 is unbounded by definition, so an empty input is
  // a source that ends at once, and a generator whose records are all filtered.)
  for (std::size_t workers : {1u, 2u, 4u}) {
    INFO("workers " << workers);
    ScriptedSource<std::int64_t> empty;
    empty.end();
    ProbeSink<std::int64_t> out;
    Job job("empty");
    Stream<std::int64_t> filtered =
        job.source(Generator(GeneratorOptions{.count = 50}, identity)).filter([](std::int64_t) { return false; });
    job.source(empty)
        .watermarks(ascending())
        .union_with(filtered)
        .key_by([](std::int64_t v) { return v; })
        .routed()
        .map([](const Keyed<std::int64_t, std::int64_t>& k) { return k.value; })
        .sink(out);
    QueryMetrics m = job.run(opts(workers));
    CHECK(out.size() == 0);
    CHECK(out.ends() == static_cast<int>(workers));
    CHECK(m.records_out == 0);
    CHECK(m.records_in == 50);
    CHECK(m.watermark_us == kMaxTimestamp);
    for (std::size_t w = 0; w < workers; ++w) CHECK(out.watermarks(w) == std::vector<Timestamp>{kMaxTimestamp});
  }
}

TEST_CASE("key_by: a single element reaches exactly one worker, the owner of its key", "[operators]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    INFO("workers " << workers);
    ScriptedSource<std::int64_t> one;
    one.push_values({{42, 7}});
    one.end();
    RoutingSink<std::int64_t> sink;
    Job job("one");
    job.source(one).key_by([](std::int64_t v) { return v * 1'000'003; }).routed().sink(sink);
    job.run(opts(workers));
    std::vector<Seen<std::int64_t>> seen = sink.seen();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].value == 42);
    CHECK(seen[0].key == 42'000'126);
    const std::uint32_t kg = key_group_of(hash_key(std::int64_t{42'000'126}), 128);
    CHECK(seen[0].key_group == kg);
    CHECK(seen[0].worker == worker_of_key_group(kg, 128, workers));
    CHECK(sink.ends() == static_cast<int>(workers));
  }
}
