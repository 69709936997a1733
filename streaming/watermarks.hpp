// Watermark strategies.
//
// A watermark W promises that no further record with timestamp <= W will
// arrive on that stream. Strategies decide how a stream's watermark follows
// the timestamps it sees:
//
//   bounded_out_of_orderness(5s)  W = max timestamp seen - 5 s - 1 µs
//   ascending()                   W = max timestamp seen - 1 µs (no disorder)
//   punctuated(f)                 W = whatever f returns for a record
//   processing_time()             records are stamped with the clock on arrival
//                                 (ingestion time) and W follows the clock
//
// Periodic strategies emit on processing time every `emit_interval` (Flink's
// auto-watermark interval, default 200 ms; 0 emits after every batch).
// `with_idleness(t)`: a stream that sees no records for t of processing time
// turns idle and is left out of downstream minimums until records come back.
// `with_alignment(d)`: workers share a stream's source in parallel; one that
// runs more than d of event time ahead of the slowest pauses its source until
// the others catch up (Flink's watermark alignment). Without it, a fast
// worker's records wait in keyed state and timers until the slowest worker's
// watermark arrives, so state grows with the skew.
#pragma once

#include <chrono>
#include <optional>

#include "streaming/time.hpp"

namespace sluice {

struct WatermarkStrategy {
  enum class Kind { kBoundedOutOfOrderness, kProcessingTime };
  Kind kind = Kind::kBoundedOutOfOrderness;
  /// How far behind the largest timestamp seen the watermark stays. >= 0.
  DurationUs max_out_of_orderness_us = 0;
  /// Processing time without records after which the stream is idle; 0 = never.
  DurationUs idle_timeout_us = 0;
  /// Processing time between periodic watermarks; 0 = after every batch. Default 200 ms.
  DurationUs emit_interval_us = 200'000;
  /// Largest lead in event time a worker may take over the slowest worker of
  /// this stream before its source pauses; 0 = no alignment (default).
  DurationUs max_drift_us = 0;

  template <class Rep, class Period>
  WatermarkStrategy with_idleness(std::chrono::duration<Rep, Period> timeout) const {
    WatermarkStrategy s = *this;
    s.idle_timeout_us = to_us(timeout);
    return s;
  }
  template <class Rep, class Period>
  WatermarkStrategy with_alignment(std::chrono::duration<Rep, Period> max_drift) const {
    WatermarkStrategy s = *this;
    s.max_drift_us = to_us(max_drift);
    return s;
  }
  template <class Rep, class Period>
  WatermarkStrategy with_emit_interval(std::chrono::duration<Rep, Period> interval) const {
    WatermarkStrategy s = *this;
    s.emit_interval_us = to_us(interval);
    return s;
  }
};

template <class Rep, class Period>
WatermarkStrategy bounded_out_of_orderness(std::chrono::duration<Rep, Period> bound) {
  return WatermarkStrategy{WatermarkStrategy::Kind::kBoundedOutOfOrderness, to_us(bound)};
}

inline WatermarkStrategy ascending() { return WatermarkStrategy{WatermarkStrategy::Kind::kBoundedOutOfOrderness, 0}; }

inline WatermarkStrategy processing_time() { return WatermarkStrategy{WatermarkStrategy::Kind::kProcessingTime, 0}; }

/// Watermarks carried by the records themselves. `fn(const T&, Timestamp ts)`
/// returns the watermark to emit right after that record, or nullopt.
template <class F>
struct PunctuatedWatermarks {
  F fn;
  DurationUs idle_timeout_us = 0;

  template <class Rep, class Period>
  PunctuatedWatermarks with_idleness(std::chrono::duration<Rep, Period> timeout) const {
    PunctuatedWatermarks s = *this;
    s.idle_timeout_us = to_us(timeout);
    return s;
  }
};

template <class F>
PunctuatedWatermarks<F> punctuated(F fn) {
  return PunctuatedWatermarks<F>{std::move(fn)};
}

}  // namespace sluice
