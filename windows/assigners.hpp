// Window specifications: which windows a record belongs to.
//
//   tumbling(1s)                  [0,1s) [1s,2s) ...        every record in one window
//   sliding(60s, 1s)              [t, t+60s) for every t on the 1 s grid
//   sliding(10s, 4s)              [-4s,6s) [0s,10s) [4s,14s) ...   starts every 4 s
//   tumbling(1h).with_offset(15min)                         windows start at :15
//   tumbling(10s).processing_time()                         by the clock on arrival
//
// As in Flink, window starts lie on the grid offset + k * slide, aligned to
// the epoch, so every key's windows share boundaries; a window ends size
// later (when slide does not divide size, ends are not on the start grid).
// A record at ts is in every window [start, start + size) with start on the
// grid and ts - size < start <= ts: floor(size/slide) or ceil(size/slide)
// windows. Event-time windows fire when the watermark passes their
// end; processing-time windows when the query clock does (and all of them at
// end of input).
#pragma once

#include <chrono>
#include <cstdint>
#include <numeric>
#include <string>

#include "streaming/errors.hpp"
#include "streaming/time.hpp"

namespace sluice {

/// Which clock assigns records to windows and fires them.
enum class WindowTime { kEventTime, kProcessingTime };

/// When a time window emits, besides its final result when the watermark
/// (or clock) passes its end.
struct EmitPolicy {
  enum class Kind : std::uint8_t {
    kAtEnd,          ///< only the final result (the default)
    kEarlyInterval,  ///< also every `interval_us` of processing time, if it changed
    kEarlyCount,     ///< also after every `count` records added to the window
    kEveryElement,   ///< after every record: a changelog of the running result
  };
  Kind kind = Kind::kAtEnd;
  DurationUs interval_us = 0;
  std::uint64_t count = 0;
};

/// Tumbling (slide == size) or sliding windows over time.
struct TimeWindows {
  DurationUs size_us = 0;
  DurationUs slide_us = 0;
  DurationUs offset_us = 0;
  WindowTime time = WindowTime::kEventTime;
  EmitPolicy emit{};

  /// The same windows over processing time: records are assigned by the
  /// query clock when they arrive, and windows fire by that clock.
  TimeWindows processing_time() const {
    TimeWindows w = *this;
    w.time = WindowTime::kProcessingTime;
    return w;
  }
  /// Shifts the window grid: window starts fall at offset + k * slide (as
  /// Flink's offset; any offset, taken modulo the slide).
  template <class Rep, class Period>
  TimeWindows with_offset(std::chrono::duration<Rep, Period> offset) const {
    TimeWindows w = *this;
    w.offset_us = to_us(offset);
    return w;
  }
  /// Early firing: every `interval` of processing time, each window not yet
  /// at its end whose result changed since it last emitted emits it (the
  /// first time kInsert, then kUpdateBefore/kUpdateAfter); the final result
  /// at the window's end follows the same rule.
  template <class Rep, class Period>
  TimeWindows early_fire_every(std::chrono::duration<Rep, Period> interval) const {
    TimeWindows w = *this;
    w.emit = EmitPolicy{EmitPolicy::Kind::kEarlyInterval, to_us(interval), 0};
    return w;
  }
  /// Early firing after every `records` records added to a window.
  TimeWindows early_fire_every_records(std::uint64_t records) const {
    TimeWindows w = *this;
    w.emit = EmitPolicy{EmitPolicy::Kind::kEarlyCount, 0, records};
    return w;
  }
  /// Emits after every record, for every window holding it: the running
  /// result as a changelog (kInsert, then kUpdateBefore/kUpdateAfter).
  TimeWindows fire_every_element() const {
    TimeWindows w = *this;
    w.emit = EmitPolicy{EmitPolicy::Kind::kEveryElement, 0, 0};
    return w;
  }
  bool is_tumbling() const { return size_us == slide_us; }
  /// Only event-time windows see late records.
  bool has_late_records() const { return time == WindowTime::kEventTime; }
  std::string kind_name() const {
    return time == WindowTime::kEventTime ? "event-time" : "processing-time";
  }
  /// The unit partial aggregates are kept in: gcd(size, slide).
  DurationUs slice_us() const { return std::gcd(size_us, slide_us); }

  /// The largest window size: 2^60 µs (about 36,000 years). With record
  /// timestamps within ±2^62 (streaming/time.hpp) window arithmetic then
  /// stays far from int64's bounds.
  static constexpr DurationUs kMaxSizeUs = DurationUs{1} << 60;

  /// Throws GraphError (naming `op`) unless 0 < slide <= size <= 2^60 us.
  void validate(const std::string& op) const {
    if (size_us <= 0) throw GraphError(op, "size", "window size must be positive, got " + std::to_string(size_us) + " us");
    if (size_us > kMaxSizeUs)
      throw GraphError(op, "size", "window size must be at most 2^60 us, got " + std::to_string(size_us) + " us");
    if (slide_us <= 0)
      throw GraphError(op, "slide", "window slide must be positive, got " + std::to_string(slide_us) + " us");
    if (slide_us > size_us)
      throw GraphError(op, "slide",
                       "window slide (" + std::to_string(slide_us) + " us) must not exceed its size (" +
                           std::to_string(size_us) + " us)");
    if (emit.kind == EmitPolicy::Kind::kEarlyInterval && emit.interval_us <= 0)
      throw GraphError(op, "early_fire_every", "interval must be positive, got " + std::to_string(emit.interval_us) + " us");
    if (emit.kind == EmitPolicy::Kind::kEarlyCount && emit.count == 0)
      throw GraphError(op, "early_fire_every_records", "must be at least 1");
  }
};

/// Back-to-back windows of `size`.
template <class Rep, class Period>
TimeWindows tumbling(std::chrono::duration<Rep, Period> size) {
  return TimeWindows{to_us(size), to_us(size), 0, WindowTime::kEventTime};
}

/// Windows of `size` starting every `slide` (on the epoch-aligned grid; a
/// record is in floor(size/slide) or ceil(size/slide) of them).
template <class Rep1, class Period1, class Rep2, class Period2>
TimeWindows sliding(std::chrono::duration<Rep1, Period1> size, std::chrono::duration<Rep2, Period2> slide) {
  return TimeWindows{to_us(size), to_us(slide), 0, WindowTime::kEventTime};
}

}  // namespace sluice
