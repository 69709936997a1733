// Checkpoints of the window operators (issue 15): snapshot -> restore ->
// the same output, also on another instance count; final snapshots; damaged
// and missing state. See tests/support/checkpoint_harness.hpp.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/checkpoint_harness.hpp"
#include "windows/operator_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace sluice::testing::checkpoints;
using namespace std::chrono_literals;

namespace {

using i64 = std::int64_t;

/// A record that carries its key, so the late output shows whose it was.
struct Ev {
  std::string key;
  i64 v = 0;
};

using EvStep = Step<std::string, Ev>;

const std::vector<std::string> kKeys = {"a", "b", "", "a-rather-long-key-that-does-not-fit-in-sso", "k4", "k5", "k6"};

struct GenOptions {
  i64 late_span = 200;     // how far behind the clock a late record lands
  bool ticks = false;      // processing-time ticks between steps
  bool watermarks = true;  // event-time watermarks
};

/// Random steps: records around a rising clock (ties, disorder, some far
/// behind), watermarks trailing the largest timestamp, ticks; then the end.
std::vector<EvStep> random_steps(std::mt19937_64& rng, const GenOptions& o = {}) {
  auto pick = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  std::vector<EvStep> steps;
  const i64 n = pick(20, 90);
  const i64 keys = pick(2, static_cast<i64>(kKeys.size()));
  const i64 bound = pick(0, 15);
  i64 clock = pick(-40, 40), max_ts = kMinTimestamp, wm = kMinTimestamp, now = 0;
  for (i64 i = 0; i < n; ++i) {
    const i64 r = pick(0, 99);
    if (r < 60) {
      EvStep s;
      const i64 m = pick(1, 6);
      for (i64 j = 0; j < m; ++j) {
        const std::string& k = kKeys[static_cast<std::size_t>(pick(0, keys - 1))];
        i64 ts = clock + pick(-5, 5);
        if (pick(0, 9) == 0) ts = clock - pick(1, o.late_span);
        s.records.emplace_back(k, Ev{k, pick(-100, 100)}, ts);
        max_ts = std::max(max_ts, ts);
      }
      clock += pick(0, 4);
      steps.push_back(std::move(s));
    } else if (r < 88 && o.watermarks) {
      if (max_ts == kMinTimestamp || max_ts - bound <= wm) continue;
      wm = max_ts - bound;
      steps.push_back(EvStep{EvStep::kWatermark, {}, wm});
    } else if (o.ticks) {
      now += pick(1, 30);
      steps.push_back(EvStep{EvStep::kTick, {}, now});
    }
  }
  steps.push_back(EvStep{EvStep::kEnd, {}, 0});
  return steps;
}

/// (key, line) of a window result.
template <class Out>
std::pair<std::string, std::string> show_result(const Record<Out>& r) {
  return {r.value.key, show(std::vector<Record<Out>>{r})};
}
std::pair<std::string, std::string> show_late(const Record<Ev>& r) {
  return {r.value.key, std::to_string(r.value.v) + " @" + std::to_string(r.ts_us)};
}

// The aggregate sets: each takes a different path of combining slices.
auto retractable() { return std::make_tuple(count(), sum("v", &Ev::v), avg("v", &Ev::v)); }
auto two_stacks() {
  return std::make_tuple(count(), min("v", &Ev::v), max("v", &Ev::v), first("v", &Ev::v), last("v", &Ev::v));
}
auto holistic() { return std::make_tuple(list("v", &Ev::v), sum("v", &Ev::v)); }

template <class Tuple>
auto aggs_of(Tuple t) {
  return std::apply(
      [](auto... a) { return detail::AggregateList<Ev, decltype(detail::bind_aggregate<Ev>(a))...>(detail::bind_aggregate<Ev>(a)...); },
      t);
}

constexpr std::size_t kBatch = 5;  // small: results leave in several batches

// ---- time windows: slicing and pane operators ----

template <class Aggs>
void time_window_round_trips(TimeWindows w, DurationUs lateness, Aggs aggs, std::uint64_t seed, const GenOptions& o) {
  std::mt19937_64 rng(seed);
  const auto steps = random_steps(rng, o);
  const auto cuts = cuts_for(steps.size(), rng);
  using Out = WindowResult<std::string, typename Aggs::result_type>;
  if (w.emit.kind == EmitPolicy::Kind::kAtEnd) {
    using Op = detail::SlicingWindowOperator<std::string, Ev, Aggs>;
    Factory<Op> make = [&](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                           detail::OperatorState* state, std::uint64_t late_tag, std::size_t) {
      return std::make_unique<Op>(aggs, detail::WindowSettings{w, lateness, late_tag}, m, clock, first, count,
                                  kKeyGroups, kBatch, state);
    };
    check_round_trips<Op, std::string, Ev, Out>(make, steps, cuts, show_result<Out>, show_late);
  } else {
    using Op = detail::PaneWindowOperator<std::string, Ev, Aggs>;
    Factory<Op> make = [&](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                           detail::OperatorState* state, std::uint64_t late_tag, std::size_t) {
      return std::make_unique<Op>(aggs, w, lateness, late_tag, m, clock, first, count, kBatch, state);
    };
    check_round_trips<Op, std::string, Ev, Out>(make, steps, cuts, show_result<Out>, show_late);
  }
}

TimeWindows random_windows(std::mt19937_64& rng) {
  auto pick = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  const i64 slide = pick(1, 12);
  const i64 size = pick(0, 2) == 0 ? slide : slide * pick(1, 4) + pick(0, slide - 1);
  TimeWindows w = sliding(std::chrono::microseconds(size), std::chrono::microseconds(slide));
  if (pick(0, 3) == 0) w = w.with_offset(std::chrono::microseconds(pick(0, 20)));
  return w;
}

}  // namespace

TEST_CASE("checkpoints: tumbling and sliding windows restore to the same output, on any instance count",
          "[windows][checkpoint]") {
  coverage() = {};
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    std::mt19937_64 rng(seed * 7919);
    const TimeWindows w = random_windows(rng);
    const DurationUs lateness = std::uniform_int_distribution<i64>(0, 2)(rng) == 0 ? 0 : std::uniform_int_distribution<i64>(1, 30)(rng);
    INFO("seed " << seed << ", size " << w.size_us << " slide " << w.slide_us << " offset " << w.offset_us
                 << ", lateness " << lateness);
    time_window_round_trips(w, lateness, aggs_of(retractable()), seed, {});
    time_window_round_trips(w, lateness, aggs_of(two_stacks()), seed + 1000, {});
    time_window_round_trips(w, lateness, aggs_of(holistic()), seed + 2000, {});
  }
  CHECK(coverage().updates > 50);  // corrections of fired windows within the lateness
  CHECK(coverage().late > 50);
}

TEST_CASE("checkpoints: windows firing early (pane operator) restore to the same output", "[windows][checkpoint]") {
  coverage() = {};
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed * 104729);
    const TimeWindows base = random_windows(rng);
    const DurationUs lateness = std::uniform_int_distribution<i64>(0, 1)(rng) == 0 ? 0 : 20;
    INFO("seed " << seed << ", size " << base.size_us << " slide " << base.slide_us << ", lateness " << lateness);
    time_window_round_trips(base.fire_every_element(), lateness, aggs_of(retractable()), seed, {});
    time_window_round_trips(base.early_fire_every_records(3), lateness, aggs_of(two_stacks()), seed + 1000, {});
    time_window_round_trips(base.early_fire_every(10us), lateness, aggs_of(holistic()), seed + 2000,
                            GenOptions{.ticks = true});
  }
  CHECK(coverage().updates > 50);
  CHECK(coverage().late > 20);
}

// ---- sessions ----

namespace {

template <class Aggs>
void session_round_trips(SessionWindows w, DurationUs lateness, Aggs aggs, std::uint64_t seed, const GenOptions& o) {
  std::mt19937_64 rng(seed);
  const auto steps = random_steps(rng, o);
  const auto cuts = cuts_for(steps.size(), rng);
  using Out = WindowResult<std::string, typename Aggs::result_type>;
  using Op = detail::SessionWindowOperator<std::string, Ev, Aggs>;
  Factory<Op> make = [&](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                         detail::OperatorState* state, std::uint64_t late_tag, std::size_t) {
    return std::make_unique<Op>(aggs, detail::SessionSettings{w, lateness, late_tag}, m, clock, first, count, kBatch,
                                state);
  };
  check_round_trips<Op, std::string, Ev, Out>(make, steps, cuts, show_result<Out>, show_late);
}

}  // namespace

TEST_CASE("checkpoints: session windows restore to the same output, on any instance count", "[windows][checkpoint]") {
  coverage() = {};
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed * 31337);
    const i64 gap = std::uniform_int_distribution<i64>(1, 12)(rng);
    SessionWindows w = session(std::chrono::microseconds(gap));
    if (seed % 3 == 0) w = w.with_max_sessions(2);
    const DurationUs lateness = seed % 2 == 0 ? 0 : 15;
    INFO("seed " << seed << ", gap " << gap << ", lateness " << lateness);
    session_round_trips(w, lateness, aggs_of(retractable()), seed, {});
    session_round_trips(w, lateness, aggs_of(holistic()), seed + 1000, {});
  }
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    INFO("processing time, seed " << seed);
    session_round_trips(session(5us).processing_time(), 0, aggs_of(two_stacks()), seed + 5000,
                        GenOptions{.ticks = true, .watermarks = false});
  }
  CHECK(coverage().updates > 50);  // sessions growing, merging after they fired
  CHECK(coverage().late > 20);
}

// ---- count windows ----

namespace {

template <class Aggs>
void count_round_trips(CountWindows w, Aggs aggs, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto steps = random_steps(rng);
  const auto cuts = cuts_for(steps.size(), rng);
  using Out = WindowResult<std::string, typename Aggs::result_type>;
  using Op = detail::CountWindowOperator<std::string, Ev, Aggs>;
  Factory<Op> make = [&](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                         detail::OperatorState* state, std::uint64_t, std::size_t) {
    return std::make_unique<Op>(aggs, w, m, clock, first, count, kBatch, state);
  };
  check_round_trips<Op, std::string, Ev, Out>(make, steps, cuts, show_result<Out>, show_late);
}

}  // namespace

TEST_CASE("checkpoints: count windows restore to the same output, on any instance count", "[windows][checkpoint]") {
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    std::mt19937_64 rng(seed * 65537);
    auto pick = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
    const i64 slide = pick(1, 4);
    const i64 size = pick(0, 2) == 0 ? slide : slide * pick(1, 4) + pick(0, 2);
    const CountWindows w = count_sliding(size, slide);
    INFO("seed " << seed << ", size " << size << " slide " << slide);
    count_round_trips(w, aggs_of(retractable()), seed);
    count_round_trips(w, aggs_of(two_stacks()), seed + 1000);
    count_round_trips(w, aggs_of(holistic()), seed + 2000);
  }
}

// ---- global windows ----

namespace {

/// Fires the key's window when the watermark passes the next multiple of
/// 10 after a record, and every 25 us of processing time after its first
/// record; purges every 7 records. Exercises both timer kinds and state.
struct TimerTrigger {
  struct state_type {
    std::int64_t records = 0;
    Timestamp processing_timer = kMinTimestamp;
    bool operator==(const state_type&) const = default;
  };
  TriggerResult on_element(const Ev&, Timestamp ts, TriggerContext<state_type>& ctx) const {
    ctx.register_event_time_timer((ts / 10 + 1) * 10);
    if (ctx.state().processing_timer == kMinTimestamp) {
      ctx.state().processing_timer = ctx.current_processing_time() + 25;
      ctx.register_processing_time_timer(ctx.state().processing_timer);
    }
    return ++ctx.state().records % 7 == 0 ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp, TriggerContext<state_type>&) const { return TriggerResult::kFire; }
  TriggerResult on_processing_time(Timestamp, TriggerContext<state_type>& ctx) const {
    ctx.state().processing_timer = kMinTimestamp;
    return TriggerResult::kFire;
  }
};

template <class Trigger, class Aggs>
void global_round_trips(Trigger trigger, Aggs aggs, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto steps = random_steps(rng, GenOptions{.ticks = true});
  const auto cuts = cuts_for(steps.size(), rng);
  using Out = WindowResult<std::string, typename Aggs::result_type>;
  using Op = detail::GlobalWindowOperator<std::string, Ev, Aggs, Trigger>;
  const GlobalWindows<Trigger> spec{trigger};
  Factory<Op> make = [&](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                         detail::OperatorState* state, std::uint64_t, std::size_t) {
    return std::make_unique<Op>(aggs, spec, m, clock, first, count, kBatch, state);
  };
  check_round_trips<Op, std::string, Ev, Out>(make, steps, cuts, show_result<Out>, show_late);
}

}  // namespace

TEST_CASE("checkpoints: global windows with triggers restore to the same output, timers included",
          "[windows][checkpoint]") {
  coverage() = {};
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    global_round_trips(TimerTrigger{}, aggs_of(retractable()), seed);
    global_round_trips(count_trigger(3), aggs_of(two_stacks()), seed + 1000);
    global_round_trips(every_element(), aggs_of(holistic()), seed + 2000);
  }
  CHECK(coverage().updates > 50);
}

// ---- final snapshots, damaged and missing state ----

namespace {

using SlidingAggs = decltype(aggs_of(two_stacks()));
using SlidingOp = detail::SlicingWindowOperator<std::string, Ev, SlidingAggs>;
using SlidingOut = WindowResult<std::string, SlidingAggs::result_type>;

Factory<SlidingOp> sliding_factory(DurationUs lateness) {
  return [lateness](OperatorMetrics& m, const Clock& clock, std::uint32_t first, std::uint32_t count,
                    detail::OperatorState* state, std::uint64_t late_tag, std::size_t) {
    return std::make_unique<SlidingOp>(aggs_of(two_stacks()),
                                       detail::WindowSettings{sliding(10us, 5us), lateness, late_tag}, m, clock, first,
                                       count, kKeyGroups, kBatch, state);
  };
}

using SlidingCluster = Cluster<SlidingOp, std::string, Ev, SlidingOut, decltype(&show_result<SlidingOut>),
                               decltype(&show_late)>;

/// The steps of seed 3 up to (not including) the end; the state they leave.
std::vector<EvStep> some_steps() {
  std::mt19937_64 rng(3);
  auto steps = random_steps(rng);
  steps.pop_back();
  return steps;
}

std::size_t entries(const PerKey& p) {
  std::size_t n = 0;
  for (const auto& [k, v] : p) n += v.size();
  return n;
}

}  // namespace

TEST_CASE("checkpoints: an ended operator's final snapshot restores to nothing more to emit",
          "[windows][checkpoint]") {
  ManualClock clock(0);
  const auto make = sliding_factory(20);
  SlidingCluster before(make, 2, nullptr, clock, &show_result<SlidingOut>, &show_late);
  const auto steps = some_steps();
  for (std::size_t i = 0; i < steps.size(); ++i) before.run(steps[i], i);
  before.run(EvStep{EvStep::kEnd, {}, 0}, steps.size());
  PerKey out, late;
  before.collect(out, late);
  REQUIRE(entries(out) > 0);
  const RestoredCheckpoint restored = checkpoint_of(before.snapshot());
  for (std::size_t n : {1, 3}) {
    SlidingCluster after(make, n, &restored, clock, &show_result<SlidingOut>, &show_late);
    after.run(EvStep{EvStep::kEnd, {}, 0}, 0);
    PerKey again, again_late;
    after.collect(again, again_late);
    CHECK(entries(again) == 0);
    CHECK(entries(again_late) == 0);
    for (std::size_t i = 0; i < n; ++i) CHECK(after.op(i).key_count() == 0);
  }
}

TEST_CASE("checkpoints: damaged state fails with StateFormatError naming the operator and key group",
          "[windows][checkpoint]") {
  ManualClock clock(0);
  const auto make = sliding_factory(20);
  SlidingCluster before(make, 1, nullptr, clock, &show_result<SlidingOut>, &show_late);
  const auto steps = some_steps();
  for (std::size_t i = 0; i < steps.size(); ++i) before.run(steps[i], i);
  const Parts parts = before.snapshot();
  REQUIRE(parts.size() == kKeyGroups + 1);  // and the instance's times
  REQUIRE(parts.count("times/0") == 1);
  // The largest part: the one holding the most state.
  auto big = parts.begin();
  for (auto it = parts.begin(); it != parts.end(); ++it)
    if (it->second.size() > big->second.size()) big = it;
  REQUIRE(big->second.size() > 40);
  const std::string kg = big->first.substr(3);
  const std::string expected = "key group " + kg + " of operator 'w'";

  SECTION("cut off anywhere") {
    for (std::size_t len = 0; len < big->second.size(); ++len) {
      Parts damaged = parts;
      damaged[big->first].resize(len);
      const RestoredCheckpoint c = checkpoint_of(damaged);
      INFO("cut to " << len << " of " << big->second.size() << " bytes");
      try {
        SlidingCluster after(make, 1, &c, clock, &show_result<SlidingOut>, &show_late);
        FAIL("restored from a cut-off part");
      } catch (const StateFormatError& e) {
        CHECK_THAT(e.what(), Catch::Contains(expected));
      }
    }
  }
  SECTION("trailing bytes") {
    Parts damaged = parts;
    damaged[big->first] += "x";
    const RestoredCheckpoint c = checkpoint_of(damaged);
    CHECK_THROWS_WITH((SlidingCluster(make, 1, &c, clock, &show_result<SlidingOut>, &show_late)),
                      Catch::Contains(expected) && Catch::Contains("trailing"));
  }
  SECTION("a newer format version") {
    Parts damaged = parts;
    damaged[big->first][0] = 9;
    const RestoredCheckpoint c = checkpoint_of(damaged);
    CHECK_THROWS_AS((SlidingCluster(make, 1, &c, clock, &show_result<SlidingOut>, &show_late)), StateFormatError);
  }
  SECTION("flipped bytes: refused, or restored and run on, never a crash") {
    std::mt19937_64 rng(11);
    std::size_t refused = 0;
    for (int round = 0; round < 300; ++round) {
      Parts damaged = parts;
      std::string& b = damaged[big->first];
      const std::size_t at = std::uniform_int_distribution<std::size_t>(4, b.size() - 1)(rng);
      b[at] = static_cast<char>(b[at] ^ (1 << std::uniform_int_distribution<int>(0, 7)(rng)));
      const RestoredCheckpoint c = checkpoint_of(damaged);
      try {
        SlidingCluster after(make, 1, &c, clock, &show_result<SlidingOut>, &show_late);
        after.run(EvStep{EvStep::kEnd, {}, 0}, 0);
      } catch (const StateFormatError& e) {
        ++refused;
        CHECK_THAT(e.what(), Catch::Contains(expected));
      }
    }
    CHECK(refused > 0);
  }
}

TEST_CASE("checkpoints: key groups missing from a checkpoint start empty", "[windows][checkpoint]") {
  ManualClock clock(0);
  const auto make = sliding_factory(20);
  SlidingCluster before(make, 1, nullptr, clock, &show_result<SlidingOut>, &show_late);
  const auto steps = some_steps();
  for (std::size_t i = 0; i < steps.size(); ++i) before.run(steps[i], i);
  const std::size_t keys = before.op(0).key_count();
  REQUIRE(keys > 1);
  Parts parts = before.snapshot();

  SECTION("none at all: as a fresh start") {
    const RestoredCheckpoint c = checkpoint_of({});
    SlidingCluster after(make, 2, &c, clock, &show_result<SlidingOut>, &show_late);
    CHECK(after.op(0).key_count() + after.op(1).key_count() == 0);
  }
  SECTION("some: their keys hold nothing") {
    // Drop the key groups of half the keys.
    std::size_t dropped_keys = 0;
    for (std::size_t i = 0; i < kKeys.size(); i += 2) {
      const std::uint32_t kg = key_group_of(hash_key(kKeys[i]), kKeyGroups);
      dropped_keys += parts.erase("kg/" + std::to_string(kg));
    }
    const RestoredCheckpoint c = checkpoint_of(parts);
    SlidingCluster after(make, 1, &c, clock, &show_result<SlidingOut>, &show_late);
    CHECK(after.op(0).key_count() < keys);
    (void)dropped_keys;
  }
}

TEST_CASE("checkpoints: empty state round-trips", "[windows][checkpoint]") {
  ManualClock clock(0);
  const auto make = sliding_factory(0);
  SlidingCluster fresh(make, 3, nullptr, clock, &show_result<SlidingOut>, &show_late);
  const Parts parts = fresh.snapshot();
  REQUIRE(parts.size() == kKeyGroups + 3);  // and each instance's times
  const RestoredCheckpoint c = checkpoint_of(parts);
  SlidingCluster after(make, 2, &c, clock, &show_result<SlidingOut>, &show_late);
  CHECK(after.op(0).key_count() + after.op(1).key_count() == 0);
  // The same key group sections; the times parts are per instance.
  auto sections = [](Parts p) {
    std::erase_if(p, [](const auto& part) { return part.first.starts_with("times/"); });
    return p;
  };
  const Parts again = after.snapshot();
  CHECK(sections(again) == sections(parts));
  CHECK(again.count("times/0") == 1);
  CHECK(again.count("times/64") == 1);
  CHECK(again.at("times/0") == parts.at("times/0"));
}
