// Global windows with triggers (windows/global_windows.hpp,
// windows/triggers.hpp) through the operator harness: exact outputs.
#include <catch2/catch.hpp>

#include <string>

#include "spec_window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  std::int64_t v;
  TriggerResult cmd = TriggerResult::kContinue;  // for ScriptedTrigger
  Timestamp timer = 0;                           // ScriptedTrigger: an event-time timer to register (0: none) ...
  TriggerResult at_timer = TriggerResult::kFire;  // ... and what the key's timers return from then on
};

auto sum_v() { return sum("v", &Ev::v); }

/// Returns what each record says (Ev::cmd); registers the timer it asks
/// for, which returns Ev::at_timer (kFire for a fresh key).
struct ScriptedTrigger {
  struct state_type {
    TriggerResult at_timer = TriggerResult::kFire;
    bool operator==(const state_type&) const = default;
  };
  TriggerResult on_element(const Ev& e, Timestamp, TriggerContext<state_type>& ctx) const {
    if (e.timer != 0) {
      ctx.register_event_time_timer(e.timer);
      ctx.state().at_timer = e.at_timer;
    }
    return e.cmd;
  }
  TriggerResult on_event_time(Timestamp, TriggerContext<state_type>& ctx) const { return ctx.state().at_timer; }
};

/// Purges on a negative value, else fires on every second record since the
/// last purge (its state: the count).
struct PurgeOnNegative {
  using state_type = std::uint64_t;
  TriggerResult on_element(const Ev& e, Timestamp, TriggerContext<state_type>& ctx) const {
    if (e.v < 0) return TriggerResult::kPurge;
    return ++ctx.state() % 2 == 0 ? TriggerResult::kFire : TriggerResult::kContinue;
  }
};

/// Fires and purges when a value exceeds `threshold`, or 10 µs of event time
/// after the first record since the last firing, whichever comes first.
struct ThresholdOrTimeout {
  struct state_type {
    Timestamp deadline = kMinTimestamp;  // kMin: no record since the last firing
    bool operator==(const state_type&) const = default;
  };
  std::int64_t threshold = 100;
  bool delete_timer_on_threshold = false;

  TriggerResult on_element(const Ev& e, Timestamp ts, TriggerContext<state_type>& ctx) const {
    state_type& s = ctx.state();
    if (e.v > threshold) {
      if (delete_timer_on_threshold && s.deadline != kMinTimestamp) ctx.delete_event_time_timer(s.deadline);
      return TriggerResult::kFireAndPurge;
    }
    if (s.deadline == kMinTimestamp) {
      s.deadline = ts + 10;
      ctx.register_event_time_timer(s.deadline);
    }
    return TriggerResult::kContinue;
  }
  TriggerResult on_event_time(Timestamp time, TriggerContext<state_type>& ctx) const {
    // A timer of an earlier round (purged since by the threshold) is stale.
    return ctx.state().deadline == time ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
};

/// Fires (without purging) every 10 µs of processing time from a key's first
/// record on: a periodic changelog of the running aggregate.
struct EveryTenMicros {
  struct state_type {
    bool scheduled = false;
  };
  TriggerResult on_element(const Ev&, Timestamp, TriggerContext<state_type>& ctx) const {
    if (!ctx.state().scheduled) {
      ctx.state().scheduled = true;
      ctx.register_processing_time_timer(ctx.current_processing_time() + 10);
    }
    return TriggerResult::kContinue;
  }
  TriggerResult on_processing_time(Timestamp time, TriggerContext<state_type>& ctx) const {
    ctx.register_processing_time_timer(time + 10);
    return TriggerResult::kFire;
  }
};

}  // namespace

TEST_CASE("global windows: count_trigger fires and purges every n records of a key") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(count_trigger(3)), count(), sum_v());
  h.add_batch({{"a", {1}, 10}, {"b", {10}, 11}, {"a", {2}, 5}, {"a", {4}, 7}, {"b", {20}, 3}, {"a", {8}, 1},
               {"b", {30}, 2}, {"a", {16}, 9}, {"a", {32}, 9}, {"b", {40}, 0}});
  CHECK(show(h.take()) == "+I a global = 3 7 @7\n"
                          "+I b global = 3 60 @2\n"
                          "+I a global = 3 56 @9\n");
  CHECK(h.key_count() == 1);  // b holds 1 record; a was purged and holds none
  h.watermark(100);
  h.end_of_input();  // nothing flushed: b's last record is in no result
  CHECK(h.take().empty());
  CHECK(h.watermarks() == std::vector<Timestamp>{100, kMaxTimestamp});
}

TEST_CASE("global windows: every_element is a changelog of the running aggregate") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(every_element()), max("v", &Ev::v), count());
  h.add("a", {5}, 1);
  h.add("a", {3}, 2);
  h.add("b", {1}, 3);
  h.add("a", {9}, 4);
  CHECK(show(h.take()) == "+I a global = 5 1 @1\n"
                          "-U a global = 5 1 @2\n"
                          "+U a global = 5 2 @2\n"
                          "+I b global = 1 1 @3\n"
                          "-U a global = 5 2 @4\n"
                          "+U a global = 9 3 @4\n");
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("global windows: every_element emits nothing when the values did not change") {
  auto h = spec_window_harness<int, Ev>(global().trigger(every_element()), max("v", &Ev::v));
  h.add(1, {5}, 1);
  h.add(1, {3}, 2);  // max stays 5: nothing
  h.add(1, {5}, 3);  // nothing
  h.add(1, {7}, 4);
  h.add(1, {7}, 5);  // nothing
  CHECK(show(h.take()) == "+I 1 global = 5 @1\n"
                          "-U 1 global = 5 @4\n"
                          "+U 1 global = 7 @4\n");
}

TEST_CASE("global windows: values without == always emit the update pair") {
  struct Opaque {
    std::int64_t x = 0;  // no operator==
  };
  struct Keep {  // an aggregate whose result cannot be compared
    using acc_type = std::int64_t;
    acc_type create() const { return 0; }
    void add(acc_type& a, const Ev& e) const { a = std::max(a, e.v); }
    void merge(acc_type& a, const acc_type& b) const { a = std::max(a, b); }
    Opaque result(const acc_type& a) const { return Opaque{a}; }
  };
  auto h = spec_window_harness<int, Ev>(global().trigger(every_element()), Keep{});
  h.add(1, {5}, 1);
  h.add(1, {3}, 2);
  auto got = h.take();
  REQUIRE(got.size() == 3);
  CHECK(got[0].value.kind == ChangeKind::kInsert);
  CHECK(got[1].value.kind == ChangeKind::kUpdateBefore);
  CHECK(got[2].value.kind == ChangeKind::kUpdateAfter);
  CHECK(std::get<0>(got[2].value.values).x == 5);
}

TEST_CASE("global windows: fire, purge and fire-and-purge") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(ScriptedTrigger{}), sum_v(), count());
  using R = TriggerResult;
  h.add("a", {1, R::kContinue}, 1);
  CHECK(h.take().empty());
  h.add("a", {2, R::kFire}, 2);
  CHECK(show(h.take()) == "+I a global = 3 2 @2\n");
  h.add("a", {0, R::kFire}, 3);  // count changed: an update
  CHECK(show(h.take()) == "-U a global = 3 2 @3\n"
                          "+U a global = 3 3 @3\n");
  h.add("a", {4, R::kFire}, 4);
  CHECK(show(h.take()) == "-U a global = 3 3 @4\n"
                          "+U a global = 7 4 @4\n");
  // Purge: the window (this record included) and the trigger state go; nothing is emitted.
  h.add("a", {5, R::kPurge}, 5);
  CHECK(h.take().empty());
  CHECK(h.key_count() == 0);
  h.add("a", {6, R::kFire}, 6);  // the first firing after a purge is an insert
  CHECK(show(h.take()) == "+I a global = 6 1 @6\n");
  // Fire-and-purge after a firing: the update pair, then the purge.
  h.add("a", {1, R::kFireAndPurge}, 7);
  CHECK(show(h.take()) == "-U a global = 6 1 @7\n"
                          "+U a global = 7 2 @7\n");
  h.add("a", {2, R::kFireAndPurge}, 8);
  CHECK(show(h.take()) == "+I a global = 2 1 @8\n");
  h.add("a", {3, R::kFire}, 9);
  CHECK(show(h.take()) == "+I a global = 3 1 @9\n");
  // Records between firings: one update covering them all.
  h.add("a", {0, R::kContinue}, 10);
  h.add("a", {0, R::kFire}, 11);
  CHECK(show(h.take()) == "-U a global = 3 1 @11\n"
                          "+U a global = 3 3 @11\n");
  h.add("b", {0, R::kFire}, 12);
  CHECK(show(h.take()) == "+I b global = 0 1 @12\n");
  CHECK(h.key_count() == 2);
}

TEST_CASE("global windows: a firing with no record since the purge emits nothing") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(ScriptedTrigger{}), sum_v());
  using R = TriggerResult;
  h.add("a", {5, R::kPurge, 50}, 1);  // registers a timer at 50, then purges
  CHECK(h.key_count() == 0);
  CHECK(h.op().timer_count().first == 1);
  h.watermark(60);  // the timer fires (kFire) on an empty window: nothing
  CHECK(h.take().empty());
  CHECK(h.key_count() == 0);  // and the key is not kept for it
  h.add("a", {7, R::kContinue, 70}, 61);
  h.add("a", {1, R::kContinue, 70}, 62);  // the same timer twice: fires once
  CHECK(h.op().timer_count().first == 1);
  h.watermark(69);
  CHECK(h.take().empty());
  h.watermark(70);
  CHECK(show(h.take()) == "+I a global = 8 @70\n");
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("global windows: fire-and-purge with unchanged values emits nothing, and purges") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(ScriptedTrigger{}), sum_v());
  using R = TriggerResult;
  h.add("a", {3, R::kFire}, 1);
  h.add("a", {0, R::kContinue, 20, R::kFireAndPurge}, 2);
  CHECK(show(h.take()) == "+I a global = 3 @1\n");
  h.watermark(20);  // sum still 3: the table downstream already has it
  CHECK(h.take().empty());
  CHECK(h.key_count() == 0);
  h.add("a", {1, R::kFire}, 21);
  CHECK(show(h.take()) == "+I a global = 1 @21\n");
}

TEST_CASE("global windows: a purge resets the trigger state") {
  auto h = spec_window_harness<int, Ev>(global().trigger(PurgeOnNegative{}), sum_v());
  h.add(1, {1}, 1);   // state 1
  h.add(1, {-1}, 2);  // purge: state 0, window empty
  h.add(1, {2}, 3);   // state 1 (2 if the purge had kept it: that would fire)
  CHECK(h.take().empty());
  h.add(1, {3}, 4);  // state 2: fires 2 + 3
  CHECK(show(h.take()) == "+I 1 global = 5 @4\n");
}

TEST_CASE("global windows: a user trigger with state and event-time timers") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(ThresholdOrTimeout{}), sum_v(), count());
  h.add("a", {1}, 0);  // deadline 10
  h.add("b", {2}, 4);  // deadline 14
  h.add("a", {2}, 3);
  h.watermark(9);
  CHECK(h.take().empty());
  h.watermark(10);  // a's deadline
  CHECK(show(h.take()) == "+I a global = 3 2 @10\n");
  h.add("a", {5}, 12);    // deadline 22
  h.add("a", {100}, 13);  // not above the threshold
  h.add("a", {101}, 15);  // above: fires and purges now; the timer at 22 stays, stale
  CHECK(show(h.take()) == "+I a global = 206 3 @15\n");
  h.add("a", {4}, 16);  // deadline 26
  h.watermark(22);      // b fires at 14; a's stale timer at 22 does nothing
  CHECK(show(h.take()) == "+I b global = 2 1 @14\n");
  CHECK(h.key_count() == 1);  // a (holding 4); b was purged
  h.add("b", {7}, 40);        // deadline 50
  h.end_of_input();           // watermark +inf fires the timers left, in time order
  CHECK(show(h.take()) == "+I a global = 4 1 @26\n"
                          "+I b global = 7 1 @50\n");
  CHECK(h.key_count() == 0);
  CHECK(h.op().timer_count().first == 0);
}

TEST_CASE("global windows: a trigger can delete its timers") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(ThresholdOrTimeout{100, true}), sum_v());
  h.add("a", {5}, 12);    // deadline 22
  h.add("a", {101}, 15);  // fires, purges and deletes the timer at 22
  CHECK(show(h.take()) == "+I a global = 106 @15\n");
  CHECK(h.op().timer_count().first == 0);
  h.end_of_input();
  CHECK(h.take().empty());
}

TEST_CASE("global windows: processing-time timers fire by the clock (ManualClock)") {
  auto h = spec_window_harness<std::string, Ev>(global().trigger(EveryTenMicros{}), sum_v());
  h.clock.set(100);
  h.add("a", {1}, 0);  // timer at 110
  h.tick(105);
  h.add("a", {2}, 0);
  h.add("b", {5}, 0);  // timer at 115
  CHECK(h.take().empty());
  h.tick(110);
  CHECK(show(h.take()) == "+I a global = 3 @110\n");
  h.tick(119);  // b at 115; a's next at 120 not yet
  CHECK(show(h.take()) == "+I b global = 5 @115\n");
  h.tick(120);  // a unchanged: nothing
  CHECK(h.take().empty());
  h.add("a", {4}, 0);
  h.watermark(1'000'000);  // event time does not fire processing-time timers
  CHECK(h.take().empty());
  h.tick(145);  // a at 130 (changed), 140 (unchanged); b at 125, 135, 145 (unchanged)
  CHECK(show(h.take()) == "-U a global = 3 @130\n"
                          "+U a global = 7 @130\n");
  h.end_of_input();  // pending processing-time timers do not fire at the end
  CHECK(h.take().empty());
}

TEST_CASE("global windows: the context reports the watermark and the clock") {
  struct Probe {
    using state_type = char;
    std::vector<std::pair<Timestamp, Timestamp>>* seen;
    TriggerResult on_element(const Ev&, Timestamp, TriggerContext<state_type>& ctx) const {
      seen->emplace_back(ctx.current_watermark(), ctx.current_processing_time());
      return TriggerResult::kContinue;
    }
  };
  std::vector<std::pair<Timestamp, Timestamp>> seen;
  auto h = spec_window_harness<int, Ev>(global().trigger(Probe{&seen}), count());
  h.add(1, {0}, 0);
  h.clock.set(77);
  h.watermark(12);
  h.add(1, {0}, 0);
  CHECK(seen == std::vector<std::pair<Timestamp, Timestamp>>{{kMinTimestamp, 0}, {12, 77}});
}

TEST_CASE("global windows: spec validation") {
  Job job("v");
  auto keyed = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t i) { return Ev{std::int64_t(i)}; }))
                   .key_by([](const Ev& e) { return e.v; });
  try {
    keyed.window(global());
    FAIL("global() without a trigger must not build");
  } catch (const GraphError& e) {
    CHECK(e.operator_name() == "window");
    CHECK(e.field() == "trigger");
    CHECK(std::string(e.what()) ==
          "window: field 'trigger': global windows never end: give a trigger, e.g. "
          "global().trigger(count_trigger(100)) or global().trigger(every_element())");
  }
  CHECK_THROWS_AS(count_trigger(0), ConfigError);
  CHECK_THROWS_WITH(count_trigger(-2), "count_trigger: field 'n': must be at least 1, got -2");
  auto w = keyed.window(global().trigger(count_trigger(2)));
  CHECK_THROWS_WITH(w.allowed_lateness(5s), "window: field 'allowed_lateness': global windows have no late records");
  OutputTag<Ev> late("late");
  CHECK_THROWS_WITH(w.late_data(late), "window: field 'late_data': global windows have no late records");
}
