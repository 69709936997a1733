// Session windows inside whole jobs: results are the same on any worker
// count, and late records reach the late side output.
#include <catch2/catch.hpp>

#include <map>

#include "job_support.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>;

std::vector<Result> run(std::size_t workers, SessionWindows w) {
  return run_bids<Result>(workers, [&](const auto& bids) {
    return bids.window(w).allowed_lateness(100us).aggregate(count(), sum("price", &Bid::price),
                                                            max("price", &Bid::price));
  });
}

}  // namespace

TEST_CASE("session results are identical on 1, 2 and 4 workers") {
  for (SessionWindows w : {session(4000us), session(300us)}) {
    const auto one = run(1, w);
    std::uint64_t counted = 0;
    for (const auto& r : one) {
      CHECK(r.kind == ChangeKind::kInsert);  // nothing is late: no corrections
      counted += r.get<0>();
    }
    CHECK(counted == kBidCount);  // every record in exactly one session
    // Sessions of one key neither overlap nor touch (sorted by start here).
    std::map<std::uint64_t, Timestamp> last_end;
    std::size_t touching = 0;
    for (const auto& r : one) {
      auto [it, first] = last_end.try_emplace(r.key, r.window.end);
      if (!first) {
        touching += it->second >= r.window.start ? 1 : 0;
        it->second = r.window.end;
      }
    }
    CHECK(touching == 0);
    INFO("gap " << w.gap_us << " us: " << one.size() << " sessions");
    CHECK(one.size() > 200);
    CHECK(one.size() < kBidCount);
    CHECK(run(2, w) == one);
    CHECK(run(4, w) == one);
  }
}

TEST_CASE("late records reach the late side output of a session job, and are counted") {
  struct Ev {
    std::string key;
    int v;
    bool watermark;  // a punctuation record carrying the watermark in v
  };
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1, false}, 1},
                   {Ev{"a", 2, false}, 8},   // [1,18)
                   {Ev{"", 0, true}, 20},    // watermark 20: [1,18) fires, kept until 17 + 5
                   {Ev{"a", 4, false}, 3},   // merges into [1,18) within lateness 5: -U/+U
                   {Ev{"", 0, true}, 40},    // [1,18) is dropped (17 + 5 <= 40)
                   {Ev{"a", 8, false}, 5},   // [5,15): 14 + 5 <= 40, nothing to merge with: late
                   {Ev{"a", 16, false}, 45}});
  src.end();
  OutputTag<Ev> late("late");
  Job job("late");
  auto results = job.source(src)
                     .watermarks(watermarks_from_flagged_events())
                     .filter(is_data_event)
                     .key_by([](const Ev& e) { return e.key; })
                     .window(session(10us))
                     .allowed_lateness(5us)
                     .late_data(late)
                     .aggregate(count(), sum("v", &Ev::v))
                     .name("sessions");
  using Vals = std::tuple<std::uint64_t, std::int64_t>;
  CollectSink<WindowResult<std::string, Vals>> out;
  CollectSink<Ev> late_out;
  results.sink(out);
  results.side_output(late).sink(late_out);
  // One worker: with more, what is late depends on when the other workers'
  // (empty) channels report their watermarks.
  QueryMetrics m = job.run(QueryOptions{.workers = 1});
  auto got = out.records();
  REQUIRE(got.size() == 4);
  CHECK(got[0].value.kind == ChangeKind::kInsert);
  CHECK(got[0].value.window == TimeWindow{1, 18});
  CHECK(got[0].value.values == Vals{2, 3});
  CHECK(got[0].ts_us == 17);
  CHECK(got[1].value.kind == ChangeKind::kUpdateBefore);
  CHECK(got[1].value.values == Vals{2, 3});
  CHECK(got[2].value.kind == ChangeKind::kUpdateAfter);
  CHECK(got[2].value.window == TimeWindow{1, 18});
  CHECK(got[2].value.values == Vals{3, 7});
  CHECK(got[3].value.kind == ChangeKind::kInsert);
  CHECK(got[3].value.window == TimeWindow{45, 55});
  CHECK(got[3].value.values == Vals{1, 16});
  auto lates = late_out.records();
  REQUIRE(lates.size() == 1);
  CHECK(lates[0].value.v == 8);
  CHECK(lates[0].ts_us == 5);
  CHECK(m.op("sessions")->late_records == 1);
}
