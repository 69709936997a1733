// Global windows: one window per key holding all of its records, emitted
// whenever a trigger (windows/triggers.hpp) says so.
//
//   keyed.window(global().trigger(count_trigger(100))).aggregate(count(), sum("v", &Ev::v))
//   keyed.window(global().trigger(every_element())).aggregate(max("v", &Ev::v))  // running max, as a changelog
//
// The window is TimeWindow{kMinTimestamp, kMaxTimestamp} for every result.
// A global window never ends: without a trigger nothing would ever be
// emitted, so `.window(global())` without `.trigger(...)` throws GraphError
// ("window", "trigger"). Global windows have no late records
// (allowed_lateness / late_data throw GraphError); watermarks pass through
// the operator, after the results of the event-time timers they fire.
//
// The operator is in windows/global_window_operator.hpp (sluice/sluice.hpp
// includes it).
#pragma once

#include <string>
#include <type_traits>
#include <utility>

#include "streaming/errors.hpp"
#include "windows/triggers.hpp"

namespace sluice {

/// The trigger of `global()` before `.trigger(...)`: a spec holding it is
/// rejected by validate().
struct NoTrigger {
  using state_type = char;
  template <class T>
  TriggerResult on_element(const T&, Timestamp, TriggerContext<state_type>&) const {
    return TriggerResult::kContinue;
  }
};

/// Global windows with trigger Trigger.
template <class Trigger = NoTrigger>
struct GlobalWindows {
  Trigger trigger_fn{};

  /// The same windows, firing as `t` says.
  template <class U>
  GlobalWindows<U> trigger(U t) const {
    static_assert(std::is_default_constructible_v<typename U::state_type>,
                  "a trigger needs a default-constructible `using state_type = ...;` (see windows/triggers.hpp)");
    return GlobalWindows<U>{std::move(t)};
  }

  bool has_late_records() const { return false; }
  std::string kind_name() const { return "global"; }

  /// Throws GraphError (naming `op`) if no trigger was given.
  void validate(const std::string& op) const {
    if constexpr (std::is_same_v<Trigger, NoTrigger>)
      throw GraphError(op, "trigger",
                       "global windows never end: give a trigger, e.g. "
                       "global().trigger(count_trigger(100)) or global().trigger(every_element())");
  }
};

/// One window per key over all its records; needs `.trigger(...)`.
inline GlobalWindows<> global() { return {}; }

}  // namespace sluice
