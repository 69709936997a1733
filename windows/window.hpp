// Windows and window results.
//
// A time window is the half-open interval [start, end) of event (or
// processing) time. Its results carry the timestamp `end - 1`, the largest
// timestamp the window holds (Flink's maxTimestamp), so a result is never
// late for the watermark that fired it.
#pragma once

#include <cstddef>
#include <ostream>
#include <tuple>

#include "streaming/changelog.hpp"
#include "streaming/time.hpp"

namespace sluice {

/// The interval [start, end) of a window.
struct TimeWindow {
  Timestamp start = 0;
  Timestamp end = 0;

  /// The last timestamp inside the window; results carry it.
  Timestamp max_timestamp() const { return end - 1; }
  bool contains(Timestamp ts) const { return ts >= start && ts < end; }
  bool operator==(const TimeWindow&) const = default;
  auto operator<=>(const TimeWindow&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const TimeWindow& w) {
  return os << '[' << w.start << ", " << w.end << ')';
}

/// One result of a window operator: the key, the window, the aggregate
/// values (a std::tuple, one element per aggregate, in the order given) and
/// the change kind. Without allowed lateness or early firing every result is
/// a kInsert; with them a revised result comes as kUpdateBefore (old values)
/// followed by kUpdateAfter (new values).
template <class K, class Values>
struct WindowResult {
  K key{};
  TimeWindow window;
  Values values{};
  ChangeKind kind = ChangeKind::kInsert;

  /// The I-th aggregate's value.
  template <std::size_t I>
  const auto& get() const {
    return std::get<I>(values);
  }
  bool operator==(const WindowResult&) const = default;
};

}  // namespace sluice
