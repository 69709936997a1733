// Session windows: a key's records grouped into bursts of activity separated
// by at least `gap` without records.
//
//   keyed.window(session(30s))                        event time
//        .allowed_lateness(1min)                      optional: corrections
//        .late_data(late)                             optional: records beyond it
//        .aggregate(count(), sum("amount", &Txn::amount));
//   keyed.window(session(30s).processing_time())      by the clock on arrival
//   keyed.window(session(30s).with_max_sessions(16))  bounds the state per key
//
// A record at ts opens the window [ts, ts + gap). Windows of one key that
// overlap or touch (a.start <= b.end && a.end >= b.start, as Flink's
// TimeWindow.intersects) merge into one session [min start, max end). A
// session fires once the watermark reaches end - 1 (its result carries that
// timestamp); processing-time sessions fire when the clock does, and all at
// end of input. Unlike tumbling and sliding windows, sessions are not aligned:
// each key has its own. The operator is windows/session_window_operator.hpp,
// which documents lateness and the changelog it emits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "streaming/errors.hpp"
#include "streaming/time.hpp"
#include "windows/assigners.hpp"

namespace sluice {

/// Session windows with an inactivity gap (see the top of this file).
struct SessionWindows {
  DurationUs gap_us = 0;
  WindowTime time = WindowTime::kEventTime;
  /// At most this many sessions per key (nullopt: unbounded). When a record
  /// would open one more, the key's oldest session (smallest start) is fired
  /// at once (if it has not fired yet) and dropped from state; a record that
  /// later falls into its span opens a new session (or is late).
  std::optional<std::int64_t> max_sessions;

  /// The same sessions over processing time: records take the query clock's
  /// time when they arrive, and sessions fire by that clock.
  SessionWindows processing_time() const {
    SessionWindows w = *this;
    w.time = WindowTime::kProcessingTime;
    return w;
  }
  /// Keeps at most `n` (>= 1) sessions per key; see max_sessions.
  SessionWindows with_max_sessions(std::int64_t n) const {
    SessionWindows w = *this;
    w.max_sessions = n;
    return w;
  }

  /// Only event-time sessions see late records.
  bool has_late_records() const { return time == WindowTime::kEventTime; }
  std::string kind_name() const {
    return time == WindowTime::kEventTime ? "event-time session" : "processing-time session";
  }

  /// Throws GraphError (naming `op`) unless 0 < gap <= 2^60 us and max_sessions >= 1.
  void validate(const std::string& op) const {
    if (gap_us <= 0) throw GraphError(op, "gap", "session gap must be positive, got " + std::to_string(gap_us) + " us");
    if (gap_us > kMaxGapUs) throw GraphError(op, "gap", "session gap must be at most 2^60 us");
    if (max_sessions && *max_sessions < 1)
      throw GraphError(op, "max_sessions", "must be at least 1, got " + std::to_string(*max_sessions));
  }

  static constexpr DurationUs kMaxGapUs = DurationUs{1} << 60;
};

/// Sessions of one key: records closer than `gap` to each other belong to
/// the same session.
template <class Rep, class Period>
SessionWindows session(std::chrono::duration<Rep, Period> gap) {
  return SessionWindows{to_us(gap), WindowTime::kEventTime, std::nullopt};
}

}  // namespace sluice
