#include <catch2/catch.hpp>

#include <algorithm>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {
QueryOptions with_workers(std::size_t n) {
  QueryOptions o;
  o.workers = n;
  return o;
}
}  // namespace

TEST_CASE("map, filter, flat_map over a generator give exact results for 1, 2 and 4 workers", "[operators]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    Job job("stateless");
    CollectSink<std::int64_t> out;
    job.source(Generator(GeneratorOptions{.count = 10'000, .chunk = 7}, [](std::uint64_t i) { return std::int64_t(i); }))
        .filter([](std::int64_t v) { return v % 3 == 0; })
        .map([](std::int64_t v) { return v * 2; })
        .flat_map<std::int64_t>([](std::int64_t v, Collector<std::int64_t>& c) {
          c.emit(v);
          if (v % 4 == 0) c.emit(-v);
        })
        .sink(out);
    QueryMetrics m = job.run(with_workers(workers));
    std::vector<std::int64_t> got = out.values();
    std::sort(got.begin(), got.end());
    std::vector<std::int64_t> want;
    for (std::int64_t i = 0; i < 10'000; ++i)
      if (i % 3 == 0) {
        want.push_back(2 * i);
        if ((2 * i) % 4 == 0) want.push_back(-2 * i);
      }
    std::sort(want.begin(), want.end());
    INFO("workers " << workers);
    CHECK(got == want);
    CHECK(m.records_in == 10'000);
    CHECK(m.records_out == want.size());
    REQUIRE(m.op("filter#1") != nullptr);
  }
}
