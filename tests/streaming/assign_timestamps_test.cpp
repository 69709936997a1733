// assign_timestamps enforces the valid timestamp range (±2^62 µs): a record
// whose timestamp falls outside becomes a dead letter, the others flow on.
#include <catch2/catch.hpp>

#include "sluice/sluice.hpp"

using namespace sluice;

TEST_CASE("assign_timestamps: timestamps outside the valid range become dead letters", "[streaming]") {
  const std::vector<Timestamp> ts{5, kMaxTimestamp, kMaxValidTimestamp, kMinValidTimestamp, kMinTimestamp,
                                  kMaxValidTimestamp + 1, 7};
  for (std::size_t workers : {1u, 2u}) {
    Job job("assign");
    CollectSink<std::uint64_t> out;
    CollectSink<DeadLetter> dead;
    auto s = job.source(Generator(GeneratorOptions{.count = ts.size(), .chunk = 64}, [](std::uint64_t i) { return i; }))
                 .assign_timestamps([&ts](std::uint64_t i) { return ts[i]; })
                 .name("stamp");
    s.sink(out);
    s.dead_letters().sink(dead);
    QueryMetrics m = job.run(QueryOptions{.workers = workers});

    std::vector<Record<std::uint64_t>> got = out.records();
    std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.value < b.value; });
    REQUIRE(got.size() == 4);
    CHECK(got[0].value == 0);
    CHECK(got[0].ts_us == 5);
    CHECK(got[1].value == 2);
    CHECK(got[1].ts_us == kMaxValidTimestamp);
    CHECK(got[2].value == 3);
    CHECK(got[2].ts_us == kMinValidTimestamp);
    CHECK(got[3].value == 6);

    std::vector<DeadLetter> d = dead.values();
    REQUIRE(d.size() == 3);
    std::vector<std::string> reasons;
    for (const DeadLetter& x : d) reasons.push_back(x.reason);
    std::sort(reasons.begin(), reasons.end());
    const std::string range = " is outside the valid range [-4611686018427387904, 4611686018427387904] (µs, ±2^62)";
    CHECK(reasons == std::vector<std::string>{"timestamp out of range: -9223372036854775808" + range,
                                              "timestamp out of range: 4611686018427387905" + range,
                                              "timestamp out of range: 9223372036854775807" + range});
    for (const DeadLetter& x : d) CHECK(x.source == "stamp");
    if (workers == 1) {  // positions are per worker: the record's number there
      CHECK(d[0].position == 2);
      CHECK(d[1].position == 5);
      CHECK(d[2].position == 6);
    }
    CHECK(m.dead_letters == 3);
  }
}
