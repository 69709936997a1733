// Triggers: when a global window (windows/global_windows.hpp) emits its
// result, and when it starts over.
//
//   keyed.window(global().trigger(count_trigger(100))).aggregate(sum("v", &Ev::v))
//
// A global window holds all of a key's records; it never ends by itself. A
// trigger decides, per key, after each record and at timers it registered,
// what to do:
//
//   enum class TriggerResult { kContinue, kFire, kPurge, kFireAndPurge };
//
//   struct MyTrigger {
//     using state_type = ...;  // per key; default-constructible (a fresh key's state)
//     TriggerResult on_element(const T& value, Timestamp ts, TriggerContext<state_type>& ctx);
//     // optional (without them a timer that fires does nothing):
//     TriggerResult on_event_time(Timestamp time, TriggerContext<state_type>& ctx);
//     TriggerResult on_processing_time(Timestamp time, TriggerContext<state_type>& ctx);
//   };
//
// on_element runs after the record was added to the window's accumulator.
// TriggerContext gives the key's trigger state (`ctx.state()`), timers
// (`register_event_time_timer(ts)`, `register_processing_time_timer(ts)`,
// and `delete_...`), `current_watermark()` and `current_processing_time()`.
// A timer is per key and timestamp (registering it twice fires once). An
// event-time timer fires when the watermark reaches it (the +inf watermark
// at the end of input fires all that are left); a processing-time timer when
// the query clock does. Processing-time timers still pending at the end of
// input never fire, and nothing else is flushed at the end: what a key's
// window holds when the input ends is only emitted if its trigger fires.
//
// What the window does with the result:
//   kContinue      nothing.
//   kFire          emits the window's current result, as a changelog: the
//                  first firing (since the start or the last purge) is a
//                  kInsert; later firings emit kUpdateBefore (the previous
//                  values) + kUpdateAfter (the new ones), or nothing when the
//                  values did not change (if they are equality-comparable;
//                  otherwise the pair is always emitted). A firing with no
//                  record since the start or the last purge emits nothing.
//   kPurge         clears the accumulator and resets the trigger state to
//                  state_type{}: the key starts over, and its next firing is
//                  a kInsert again. Timers already registered stay: a trigger
//                  that purges should check its state when one fires.
//   kFireAndPurge  kFire, then kPurge (a kInsert unless the key fired
//                  without a purge before).
// Results carry the window TimeWindow{kMinTimestamp, kMaxTimestamp} and the
// timestamp of the record (on_element) or of the timer that fired.
//
// Each worker copies the trigger object given to .trigger(...); its methods
// are called from that worker's thread only. Keep per-key data in
// state_type, not in the trigger object (keys share it).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "streaming/errors.hpp"
#include "streaming/time.hpp"

namespace sluice {

enum class TriggerResult : std::uint8_t {
  kContinue,      ///< do nothing
  kFire,          ///< emit the window's current result
  kPurge,         ///< clear the window and the trigger state
  kFireAndPurge,  ///< emit, then clear
};

constexpr const char* to_string(TriggerResult r) {
  switch (r) {
    case TriggerResult::kContinue: return "continue";
    case TriggerResult::kFire: return "fire";
    case TriggerResult::kPurge: return "purge";
    case TriggerResult::kFireAndPurge: return "fire_and_purge";
  }
  return "?";
}

namespace detail {

/// Timers of the key a trigger is called for (implemented by the operator).
class TriggerTimers {
 public:
  virtual void add_event_time_timer(Timestamp ts) = 0;
  virtual void delete_event_time_timer(Timestamp ts) = 0;
  virtual void add_processing_time_timer(Timestamp ts) = 0;
  virtual void delete_processing_time_timer(Timestamp ts) = 0;

 protected:
  ~TriggerTimers() = default;
};

template <class K, class T, class Aggs, class Trigger>
class GlobalWindowOperator;

}  // namespace detail

/// What a trigger sees of its window operator, for one key. Valid only
/// during the call it is passed to.
template <class S>
class TriggerContext {
 public:
  /// The key's trigger state (S{} for a new key and after a purge).
  S& state() { return *state_; }
  /// Calls on_event_time(ts) for this key when the watermark reaches ts.
  void register_event_time_timer(Timestamp ts) { timers_->add_event_time_timer(ts); }
  void delete_event_time_timer(Timestamp ts) { timers_->delete_event_time_timer(ts); }
  /// Calls on_processing_time(ts) for this key when the query clock reaches ts.
  void register_processing_time_timer(Timestamp ts) { timers_->add_processing_time_timer(ts); }
  void delete_processing_time_timer(Timestamp ts) { timers_->delete_processing_time_timer(ts); }
  /// The operator's current event-time watermark (kMinTimestamp before the first).
  Timestamp current_watermark() const { return watermark_; }
  /// The query clock's time.
  Timestamp current_processing_time() const { return clock_->now_us(); }

 private:
  template <class K, class T, class Aggs, class Trigger>
  friend class detail::GlobalWindowOperator;
  TriggerContext(detail::TriggerTimers& timers, const Clock& clock) : timers_(&timers), clock_(&clock) {}

  S* state_ = nullptr;
  detail::TriggerTimers* timers_;
  const Clock* clock_;
  Timestamp watermark_ = kMinTimestamp;
};

/// A trigger for records of T: state_type, and on_element for T.
template <class Tr, class T>
concept WindowTrigger = std::is_default_constructible_v<typename Tr::state_type> &&
                        requires(Tr& tr, const T& v, Timestamp ts, TriggerContext<typename Tr::state_type>& ctx) {
                          { tr.on_element(v, ts, ctx) } -> std::same_as<TriggerResult>;
                        };

/// Fires and purges every `n` records of a key: tumbling count windows
/// (each result a kInsert of the last n records).
struct CountTrigger {
  using state_type = std::uint64_t;  // records since the last firing
  std::uint64_t n = 1;

  template <class T>
  TriggerResult on_element(const T&, Timestamp, TriggerContext<state_type>& ctx) const {
    return ++ctx.state() >= n ? TriggerResult::kFireAndPurge : TriggerResult::kContinue;
  }
};

/// Fires on every record without purging: a changelog of the key's running
/// aggregate over all its records (kInsert, then kUpdateBefore/kUpdateAfter
/// pairs whenever the values change).
struct EveryElementTrigger {
  struct state_type {
    bool operator==(const state_type&) const = default;
  };
  template <class T>
  TriggerResult on_element(const T&, Timestamp, TriggerContext<state_type>&) const {
    return TriggerResult::kFire;
  }
};

/// Fires and purges every `n` records of a key (n >= 1; ConfigError otherwise).
inline CountTrigger count_trigger(std::int64_t n) {
  if (n < 1) throw ConfigError("count_trigger", "n", "must be at least 1, got " + std::to_string(n));
  return CountTrigger{static_cast<std::uint64_t>(n)};
}

/// Fires on every record: the running aggregate as a changelog.
inline EveryElementTrigger every_element() { return {}; }

}  // namespace sluice
