// key_by on one worker hands a window operator the records in place
// (streaming/detail/keyed_input.hpp) when the window is its only consumer,
// and as Keyed copies when it has several. Both give the same results.
#include <catch2/catch.hpp>

#include <mutex>

#include "support/harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::string user;  // a key that owns memory: moved, not copied, on the local path
  std::int64_t v;
};

using Result = WindowResult<std::string, std::tuple<std::uint64_t, std::int64_t, std::string>>;

std::uint64_t mix(std::uint64_t x) { return detail::mix64(x + 0x9E3779B97F4A7C15ULL); }

Ev event(std::uint64_t i) { return Ev{"user-" + std::to_string(mix(i) % 37), static_cast<std::int64_t>(mix(i) % 100)}; }
Timestamp time_of(std::uint64_t i) { return static_cast<Timestamp>(i * 3 + mix(i) % 200); }

template <class Sink>
auto windowed(const KeyedStream<std::string, Ev>& keyed, Sink& out) {
  keyed.window(tumbling(100us))
      .allowed_lateness(20us)
      .aggregate(count(), sum("v", &Ev::v), max("user", &Ev::user))
      .sink(out);
}

}  // namespace

TEST_CASE("one key_by feeding one window or two gives the same results, late records included") {
  // Records up to 200 µs out of order behind a 10 µs bound, in batches of
  // 16 with a watermark after each: some are late, some within the
  // lateness (corrections), some beyond it (dropped).
  auto source = [] {
    return Generator(GeneratorOptions{.count = 5'000, .chunk = 16}, [](std::uint64_t i) { return i; });
  };
  auto keyed = [&source](Job& job) {
    return job.source(source())
        .assign_timestamps([](const std::uint64_t& i) { return time_of(i); })
        .watermarks(bounded_out_of_orderness(10us).with_emit_interval(0us))
        .map([](const std::uint64_t& i) { return event(i); })
        .key_by([](const Ev& e) { return e.user; });
  };

  Job alone("alone");
  CollectSink<Result> single;
  windowed(keyed(alone), single);
  QueryMetrics m_alone = alone.run(QueryOptions{.workers = 1, .max_parallelism = 128, .batch_size = 16});

  Job shared("shared");
  CollectSink<Result> first, second;
  auto k = keyed(shared);
  windowed(k, first);
  windowed(k, second);
  QueryMetrics m_shared = shared.run(QueryOptions{.workers = 1, .max_parallelism = 128, .batch_size = 16});

  REQUIRE(m_alone.late_records > 0);  // the late path ran on the in-place batches
  CHECK(m_shared.late_records == 2 * m_alone.late_records);
  const auto a = single.records();
  bool corrected = false;
  for (const auto& r : a) corrected |= r.value.kind == ChangeKind::kUpdateAfter;
  CHECK(corrected);
  CHECK(first.records() == a);
  CHECK(second.records() == a);

  // And the same as a reference: count per (user, window) of records not dropped.
  std::uint64_t counted = 0;
  for (const auto& r : a)
    if (r.value.kind == ChangeKind::kInsert) counted += r.value.get<0>();
    else if (r.value.kind == ChangeKind::kUpdateAfter) counted += r.value.get<0>();
    else if (r.value.kind == ChangeKind::kUpdateBefore) counted -= r.value.get<0>();
  CHECK(counted + m_alone.late_records == 5'000);
}
