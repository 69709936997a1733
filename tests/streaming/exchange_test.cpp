// The keyed exchange between workers: what crosses a channel and what does not.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {

// Which worker's generator share holds record i: chunk c is in split
// c % splits (default 128), split s on worker s % workers.
std::size_t producer_of(std::uint64_t i, std::uint64_t chunk, std::size_t workers) {
  return static_cast<std::size_t>(((i / chunk) % GeneratorOptions{}.splits) % workers);
}

std::size_t owner_of(std::int64_t key, std::size_t max_parallelism, std::size_t workers) {
  return worker_of_key_group(key_group_of(hash_key(key), max_parallelism), max_parallelism, workers);
}

}  // namespace

TEST_CASE("exchange: a worker's own share never enters a channel; every record arrives once", "[streaming]") {
  const std::size_t workers = GENERATE(2, 3, 4);
  constexpr std::uint64_t kCount = 30'000, kChunk = 64;
  std::uint64_t remote = 0;
  for (std::uint64_t i = 0; i < kCount; ++i) {
    const auto key = static_cast<std::int64_t>(i % 997);
    remote += owner_of(key, 128, workers) != producer_of(i, kChunk, workers);
  }
  CollectSink<std::int64_t> out;
  Job job("exchange-own-share");
  job.source(Generator(GeneratorOptions{.count = kCount, .chunk = kChunk}, [](std::uint64_t i) { return i; }))
      .key_by([](std::uint64_t i) { return static_cast<std::int64_t>(i % 997); })
      .name("kb")
      .routed()
      .map([](const Keyed<std::int64_t, std::uint64_t>& k) { return static_cast<std::int64_t>(k.value); })
      .sink(out);
  QueryOptions options;
  options.workers = workers;
  const QueryMetrics m = job.run(options);

  INFO("workers " << workers);
  const BufferStats* channels = m.buffer("kb");
  REQUIRE(channels != nullptr);
  CHECK(channels->records == remote);
  CHECK(remote > kCount / 3);  // the test means something: many records do cross
  std::vector<std::int64_t> got = out.values();
  std::sort(got.begin(), got.end());
  REQUIRE(got.size() == kCount);
  for (std::uint64_t i = 0; i < kCount; ++i) REQUIRE(got[i] == static_cast<std::int64_t>(i));
}
