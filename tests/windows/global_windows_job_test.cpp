// Global windows with triggers inside whole jobs. Triggers that count see
// each key's records in arrival order, which only one source partition makes
// reproducible: ScriptedSource reads on worker 0 only, and key_by keeps each
// key's records in order, so 1, 2 and 4 workers give the same results per key.
#include <catch2/catch.hpp>

#include <string>

#include "job_support.hpp"
#include "spec_window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct Ev {
  std::string key;
  std::int64_t v;
  bool watermark = false;  // a punctuation record: the watermark is its timestamp
};

ScriptedSource<Ev> script() {
  return scripted_in_batches<Ev>(25, 7, [](int i) {
    const char* keys[] = {"a", "b", "a", "c"};
    return Record<Ev>{Ev{keys[i % 4], (i * 37) % 11}, 1000 + i};
  });
}

template <class Result, class Spec, class... A>
std::vector<Record<Result>> run(std::size_t workers, const Spec& spec, A... aggs) {
  Job job("global");
  CollectSink<Result> out;
  job.source(script())
      .key_by([](const Ev& e) { return e.key; })
      .window(spec)
      .aggregate(aggs...)
      .name("global-window")
      .sink(out);
  QueryMetrics m = job.run(QueryOptions{.workers = workers});
  CHECK(m.op("global-window")->records_in == 25);
  return in_key_order(out.records());
}

}  // namespace

TEST_CASE("global windows in a job: count_trigger, the same on 1, 2 and 4 workers") {
  using Result = WindowResult<std::string, std::tuple<std::int64_t, std::uint64_t>>;
  const auto spec = global().trigger(count_trigger(3));
  const auto one = run<Result>(1, spec, sum("v", &Ev::v), count());
  // a's 13th record (v 8) is in no result: nothing is flushed at the end.
  CHECK(show(one) == "+I a global = 13 3 @1004\n"
                     "+I a global = 19 3 @1010\n"
                     "+I a global = 14 3 @1016\n"
                     "+I a global = 9 3 @1022\n"
                     "+I b global = 16 3 @1009\n"
                     "+I b global = 17 3 @1021\n"
                     "+I c global = 7 3 @1011\n"
                     "+I c global = 19 3 @1023\n");
  CHECK(run<Result>(2, spec, sum("v", &Ev::v), count()) == one);
  CHECK(run<Result>(4, spec, sum("v", &Ev::v), count()) == one);
}

TEST_CASE("global windows in a job: every_element changelog, the same on 1, 2 and 4 workers") {
  using Result = WindowResult<std::string, std::tuple<std::int64_t>>;
  const auto spec = global().trigger(every_element());
  const auto one = run<Result>(1, spec, max("v", &Ev::v));
  CHECK(show(one) == "+I a global = 0 @1000\n"
                     "-U a global = 0 @1002\n"
                     "+U a global = 8 @1002\n"
                     "-U a global = 8 @1008\n"
                     "+U a global = 10 @1008\n"
                     "+I b global = 4 @1001\n"
                     "-U b global = 4 @1005\n"
                     "+U b global = 9 @1005\n"
                     "+I c global = 1 @1003\n"
                     "-U c global = 1 @1007\n"
                     "+U c global = 6 @1007\n"
                     "-U c global = 6 @1019\n"
                     "+U c global = 10 @1019\n");
  CHECK(run<Result>(2, spec, max("v", &Ev::v)) == one);
  CHECK(run<Result>(4, spec, max("v", &Ev::v)) == one);
}

namespace {

/// Fires and purges when a value exceeds 100, or 10 µs of event time after
/// the first record since the last firing.
struct ThresholdOrTimeout {
  struct state_type {
    Timestamp deadline = kMinTimestamp;
  };
  TriggerResult on_element(const Ev& e, Timestamp ts, TriggerContext<state_type>& ctx) const {
    if (e.v > 100) return TriggerResult::kFireAndPurge;
    if (ctx.state().deadline == kMinTimestamp) {
      ctx.state().deadline = ts + 10;
      ctx.register_event_time_timer(ts + 10);
    }
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp time, TriggerContext<state_type>& ctx) const {
    return ctx.state().deadline == time ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
};

}  // namespace

TEST_CASE("global windows in a job: a user trigger with event-time timers (1 worker)") {
  ScriptedSource<Ev> src;
  src.push_values({{Ev{"a", 1}, 0},
                   {Ev{"b", 2}, 4},
                   {Ev{"a", 2}, 3},
                   {Ev{"", 0, true}, 10},  // watermark 10: a's timer
                   {Ev{"a", 5}, 12},
                   {Ev{"a", 101}, 15},  // above the threshold
                   {Ev{"b", 7}, 16},
                   {Ev{"", 0, true}, 20},  // b's timer at 14; a's stale one at 22 not yet
                   {Ev{"a", 4}, 21}});     // a's new deadline: 31, fired by the end of input
  src.end();
  using Result = WindowResult<std::string, std::tuple<std::int64_t, std::uint64_t>>;
  Job job("timers");
  CollectSink<Result> out;
  job.source(src)
      .watermarks(watermarks_from_flagged_events())
      .filter(is_data_event)
      .key_by([](const Ev& e) { return e.key; })
      .window(global().trigger(ThresholdOrTimeout{}))
      .aggregate(sum("v", &Ev::v), count())
      .sink(out);
  // One worker: with more, when the watermark reaches the window operator
  // depends on when the other workers' (empty) channels end.
  job.run(QueryOptions{.workers = 1});
  CHECK(show(out.records()) == "+I a global = 3 2 @10\n"
                               "+I a global = 106 2 @15\n"
                               "+I b global = 9 2 @14\n"
                               "+I a global = 4 1 @31\n");
}
