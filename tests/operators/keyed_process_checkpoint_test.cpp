// Checkpoints of the keyed process operator (issue 15): declared state,
// timers of both kinds and the watermark restore to the same output, also on
// another instance count. See tests/support/checkpoint_harness.hpp.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/checkpoint_harness.hpp"

using namespace sluice;
using namespace sluice::testing::checkpoints;

namespace {

using i64 = std::int64_t;

struct Ev {
  std::string key;
  i64 v = 0;
};

struct Out {
  std::string key;
  std::string text;
};

/// Keeps a running sum, the last three values and a count per bucket of
/// values; reports on every record, and on timers: an event-time timer 10
/// after each record, a processing-time timer 20 after a key's first record
/// (re-armed when it fires), one deleted again when a value is negative.
struct Tracker : KeyedProcessFunction<std::string, Ev, Out> {
  ValueState<std::string, i64> sum;
  ListState<std::string, i64> recent;
  MapState<std::string, i64, i64> buckets;
  ValueState<std::string, Timestamp> ptimer;

  void open(Context& ctx) {
    sum = ctx.value_state<i64>("sum");
    recent = ctx.list_state<i64>("recent");
    buckets = ctx.map_state<i64, i64>("buckets");
    ptimer = ctx.value_state<Timestamp>("ptimer");
  }
  void process(const Ev& e, Context& ctx, Collector<Out>& out) {
    sum.set(sum.value().value_or(0) + e.v);
    std::vector<i64> r = recent.get();
    r.push_back(e.v);
    if (r.size() > 3) r.erase(r.begin());
    recent.update(r);
    const i64 b = e.v / 25;
    buckets.put(b, (buckets.get(b) ? *buckets.get(b) : 0) + 1);
    ctx.register_event_time_timer(ctx.timestamp() + 10);
    if (e.v < 0) ctx.delete_event_time_timer(ctx.timestamp() + 10);
    if (!ptimer.get()) {
      ptimer.set(ctx.current_processing_time() + 20);
      ctx.register_processing_time_timer(ctx.current_processing_time() + 20);
    }
    out.emit(Out{ctx.key(), "rec " + describe(ctx)});
  }
  void on_timer(Timestamp ts, Context& ctx, Collector<Out>& out) {
    const bool event = ctx.time_domain() == TimeDomain::kEventTime;
    if (!event) ptimer.clear();
    if (event && sum.value().value_or(0) > 100) sum.clear();
    out.emit(Out{ctx.key(), std::string(event ? "etimer " : "ptimer ") + std::to_string(ts) + " wm " +
                                std::to_string(ctx.current_watermark()) + " " + describe(ctx)});
  }
  std::string describe(Context&) const {
    std::string s = "sum " + std::to_string(sum.value().value_or(0)) + " recent";
    for (i64 v : recent.get()) s += " " + std::to_string(v);
    std::vector<std::pair<i64, i64>> bs;
    buckets.entries().for_each([&](const i64& k, const i64& n) { bs.emplace_back(k, n); });
    std::sort(bs.begin(), bs.end());
    s += " buckets";
    for (auto [k, n] : bs) s += " " + std::to_string(k) + ":" + std::to_string(n);
    return s;
  }
};

using Op = KeyedProcessOperator<std::string, Ev, Tracker>;
using EvStep = Step<std::string, Ev>;

const std::vector<std::string> kKeys = {"a", "b", "", "a-rather-long-key-that-does-not-fit-in-sso", "k4", "k5"};

std::vector<EvStep> random_steps(std::mt19937_64& rng) {
  auto pick = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  std::vector<EvStep> steps;
  i64 clock = 0, max_ts = kMinTimestamp, wm = kMinTimestamp, now = 0;
  const i64 n = pick(20, 80);
  for (i64 i = 0; i < n; ++i) {
    const i64 r = pick(0, 99);
    if (r < 55) {
      EvStep s;
      for (i64 j = pick(1, 5); j > 0; --j) {
        const std::string& k = kKeys[static_cast<std::size_t>(pick(0, static_cast<i64>(kKeys.size()) - 1))];
        const i64 ts = clock + pick(-4, 4);
        s.records.emplace_back(k, Ev{k, pick(-30, 90)}, ts);
        max_ts = std::max(max_ts, ts);
      }
      clock += pick(0, 5);
      steps.push_back(std::move(s));
    } else if (r < 80) {
      if (max_ts == kMinTimestamp || max_ts - 3 <= wm) continue;
      wm = max_ts - 3;
      steps.push_back(EvStep{EvStep::kWatermark, {}, wm});
    } else {
      now += pick(1, 15);
      steps.push_back(EvStep{EvStep::kTick, {}, now});
    }
  }
  steps.push_back(EvStep{EvStep::kEnd, {}, 0});
  return steps;
}

std::pair<std::string, std::string> show_out(const Record<Out>& r) {
  return {r.value.key, r.value.text + " @" + std::to_string(r.ts_us)};
}
std::pair<std::string, std::string> show_ev(const Record<Ev>& r) { return {r.value.key, std::to_string(r.value.v)}; }

Factory<Op> factory() {
  return [](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
            detail::OperatorState* state, std::uint64_t, std::size_t index) {
    return std::make_unique<Op>(Tracker{}, m, clock, kName, first, count, index, state);
  };
}

}  // namespace

TEST_CASE("checkpoints: keyed process state and timers restore to the same output, on any instance count",
          "[operators][checkpoint]") {
  coverage() = {};
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed * 977);
    const auto steps = random_steps(rng);
    check_round_trips<Op, std::string, Ev, Out>(factory(), steps, cuts_for(steps.size(), rng), show_out, show_ev);
  }
  CHECK(coverage().results > 1000);
}

TEST_CASE("checkpoints: keyed process refuses state a restored run does not declare, or damaged state",
          "[operators][checkpoint]") {
  using C = Cluster<Op, std::string, Ev, Out, decltype(&show_out), decltype(&show_ev)>;
  ManualClock clock(0);
  std::mt19937_64 rng(5);
  auto steps = random_steps(rng);
  steps.pop_back();
  C before(factory(), 1, nullptr, clock, &show_out, &show_ev);
  for (std::size_t i = 0; i < steps.size(); ++i) before.run(steps[i], i);
  Parts parts = before.snapshot();
  auto big = parts.begin();
  for (auto it = parts.begin(); it != parts.end(); ++it)
    if (it->second.size() > big->second.size()) big = it;
  const std::string expected = "key group " + big->first.substr(3) + " of operator 'w'";

  SECTION("an undeclared state name") {
    // Rename the state "sum" in the bytes ("sum" is written after its length 3).
    std::string& b = big->second;
    const std::size_t at = b.find(std::string("\x03sum", 4));
    REQUIRE(at != std::string::npos);
    b[at + 1] = 'x';
    const RestoredCheckpoint c = checkpoint_of(parts);
    CHECK_THROWS_WITH((C(factory(), 2, &c, clock, &show_out, &show_ev)),
                      Catch::Contains(expected) && Catch::Contains("state 'xum'") &&
                          Catch::Contains("does not declare"));
  }
  SECTION("cut off anywhere") {
    for (std::size_t len = 0; len < big->second.size(); ++len) {
      Parts damaged = parts;
      damaged[big->first].resize(len);
      const RestoredCheckpoint c = checkpoint_of(damaged);
      INFO("cut to " << len);
      CHECK_THROWS_WITH((C(factory(), 1, &c, clock, &show_out, &show_ev)), Catch::Contains(expected));
    }
  }
  SECTION("the final snapshot restores to nothing more to emit") {
    before.run(EvStep{EvStep::kEnd, {}, 0}, steps.size());
    const RestoredCheckpoint c = checkpoint_of(before.snapshot());
    C after(factory(), 3, &c, clock, &show_out, &show_ev);
    after.run(EvStep{EvStep::kEnd, {}, 0}, 0);
    PerKey out, late;
    after.collect(out, late);
    CHECK(out.empty());
  }
}

namespace {

/// Reports the watermark it sees with every record.
struct WmProbe : KeyedProcessFunction<std::string, Ev, Out> {
  void process(const Ev&, Context& ctx, Collector<Out>& out) {
    out.emit(Out{ctx.key(), "wm " + std::to_string(ctx.current_watermark())});
  }
};
using ProbeOp = KeyedProcessOperator<std::string, Ev, WmProbe>;

Factory<ProbeOp> probe_factory() {
  return [](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
            detail::OperatorState* state, std::uint64_t, std::size_t index) {
    return std::make_unique<ProbeOp>(WmProbe{}, m, clock, kName, first, count, index, state);
  };
}

}  // namespace

TEST_CASE("checkpoints: a reused key group section's older watermark does not hold the restored one back",
          "[operators][checkpoint][incremental]") {
  // An incremental checkpoint refers to sections of an older snapshot for
  // the key groups that did not change; those repeat the watermark of then.
  // The instance's "times/" part carries the current one.
  using C = Cluster<ProbeOp, std::string, Ev, Out, decltype(&show_out), decltype(&show_ev)>;
  ManualClock clock(0);
  C run(probe_factory(), 1, nullptr, clock, &show_out, &show_ev);
  EvStep records;
  for (int i = 0; i < 40; ++i) records.records.emplace_back("k" + std::to_string(i), Ev{"k", i}, 5);
  run.run(records, 0);
  run.run(EvStep{EvStep::kWatermark, {}, 10}, 1);
  const Parts older = run.snapshot();
  REQUIRE(older.count("times/0") == 1);
  run.run(EvStep{EvStep::kRecords, {{"k0", Ev{"k0", 1}, 50}}, 0}, 2);
  run.run(EvStep{EvStep::kWatermark, {}, 40}, 3);
  const Parts newer = run.snapshot();
  // What the incremental checkpoint holds: k0's group and the times anew, the rest from before.
  Parts incremental = older;
  const std::string k0 = "kg/" + std::to_string(key_group_of(hash_key(std::string("k0")), kKeyGroups));
  incremental[k0] = newer.at(k0);
  incremental["times/0"] = newer.at("times/0");

  for (std::size_t workers : {1, 2, 3}) {
    CAPTURE(workers);
    auto probe = [&](const Parts& parts) {
      const RestoredCheckpoint c = checkpoint_of(parts);
      C after(probe_factory(), workers, &c, clock, &show_out, &show_ev);
      after.run(EvStep{EvStep::kRecords, {{"k7", Ev{"k7", 1}, 60}}, 0}, 0);
      PerKey out, late;
      after.collect(out, late);
      return out["k7"];
    };
    CHECK(probe(incremental) == std::vector<std::string>{"0: wm 40 @60"});
    CHECK(probe(newer) == std::vector<std::string>{"0: wm 40 @60"});
    // Without the times part the sections' smallest watermark would win.
    Parts no_times = incremental;
    no_times.erase("times/0");
    CHECK(probe(no_times) == std::vector<std::string>{"0: wm 10 @60"});
  }
}
