// Windows inside whole jobs: results are the same on any worker count, and
// late records reach the late side output.
#include <catch2/catch.hpp>

#include "job_support.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

template <class Result>
std::vector<Result> run(std::size_t workers, TimeWindows w) {
  return run_bids<Result>(workers, [&](const auto& bids) {
    return bids.window(w).aggregate(count(), sum("price", &Bid::price), max("price", &Bid::price));
  });
}

}  // namespace

TEST_CASE("window results are identical on 1, 2 and 4 workers") {
  using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>;
  for (TimeWindows w : {tumbling(1000us), sliding(3000us, 500us)}) {
    const auto one = run<Result>(1, w);
    // Every record is counted size/slide times.
    std::uint64_t counted = 0;
    for (const auto& r : one) counted += r.get<0>();
    CHECK(counted == kBidCount * static_cast<std::uint64_t>(w.size_us / w.slide_us));
    CHECK(run<Result>(2, w) == one);
    CHECK(run<Result>(4, w) == one);
  }
}

TEST_CASE("late records reach the late side output of a job, and are counted") {
  struct Ev {
    std::string key;
    int v;
    bool watermark;  // a punctuation record carrying the watermark in v
  };
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1, false}, 1},
                   {Ev{"a", 2, false}, 8},
                   {Ev{"", 0, true}, 10},   // watermark 10: window [0,10) fires
                   {Ev{"a", 4, false}, 3},  // late, beyond lateness 0
                   {Ev{"a", 8, false}, 12}});
  src.end();
  OutputTag<Ev> late("late");
  Job job("late");
  auto results = job.source(src)
                     .watermarks(watermarks_from_flagged_events())
                     .filter(is_data_event)
                     .key_by([](const Ev& e) { return e.key; })
                     .window(tumbling(10us))
                     .late_data(late)
                     .aggregate(count(), sum("v", &Ev::v))
                     .name("per-10us");
  CollectSink<WindowResult<std::string, std::tuple<std::uint64_t, std::int64_t>>> out;
  CollectSink<Ev> late_out;
  results.sink(out);
  results.side_output(late).sink(late_out);
  // One worker: with more, whether ts 3 is late depends on when the other
  // workers' (empty) channels report their watermarks.
  QueryMetrics m = job.run(QueryOptions{.workers = 1});
  auto got = out.records();
  REQUIRE(got.size() == 2);
  CHECK(got[0].value.window == TimeWindow{0, 10});
  CHECK(got[0].value.values == std::tuple<std::uint64_t, std::int64_t>{2, 3});
  CHECK(got[1].value.window == TimeWindow{10, 20});
  CHECK(got[1].value.values == std::tuple<std::uint64_t, std::int64_t>{1, 8});
  auto lates = late_out.records();
  REQUIRE(lates.size() == 1);
  CHECK(lates[0].value.v == 4);
  CHECK(lates[0].ts_us == 3);
  CHECK(m.op("per-10us")->late_records == 1);
}
