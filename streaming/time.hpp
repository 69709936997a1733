// Time in Sluice.
//
// Every record carries an event timestamp in microseconds since the Unix epoch
// (`Timestamp`, one unit project-wide). Processing time comes from a `Clock`
// that is injected into the engine, so tests can drive time by hand
// (`ManualClock`) and stay deterministic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace sluice {

/// Event or processing time in microseconds since the Unix epoch.
using Timestamp = std::int64_t;
/// A span of time in microseconds.
using DurationUs = std::int64_t;

/// Sentinels, never record timestamps: kMinTimestamp is "no watermark yet",
/// kMaxTimestamp the watermark of the end of input.
inline constexpr Timestamp kMinTimestamp = std::numeric_limits<Timestamp>::min();
inline constexpr Timestamp kMaxTimestamp = std::numeric_limits<Timestamp>::max();

/// The valid range of record timestamps: ±2^62 µs (about ±146,000 years
/// around 1970). Sources turn a record outside it into a dead letter
/// ("timestamp out of range"), so operators may add durations of up to 2^60
/// µs (window sizes, allowed lateness, session gaps) to two timestamps'
/// worth of headroom without overflowing int64.
inline constexpr Timestamp kMinValidTimestamp = -(Timestamp{1} << 62);
inline constexpr Timestamp kMaxValidTimestamp = Timestamp{1} << 62;

/// Whether `ts` lies in [kMinValidTimestamp, kMaxValidTimestamp].
constexpr bool is_valid_timestamp(Timestamp ts) {
  // One unsigned compare: ts + 2^62 in [0, 2^63].
  return static_cast<std::uint64_t>(ts) + (std::uint64_t{1} << 62) <= (std::uint64_t{1} << 63);
}

/// The dead-letter reason for a record at `ts` outside the valid range:
/// "timestamp out of range: <ts> is outside the valid range [<min>, <max>] (µs, ±2^62)".
std::string timestamp_out_of_range(Timestamp ts);

/// a + b, or the int64 bound it passes (for watermark arithmetic on values
/// that are not record timestamps, such as user-chosen bounds).
constexpr Timestamp saturating_add(Timestamp a, DurationUs b) {
  Timestamp r = 0;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMaxTimestamp : kMinTimestamp;
  return r;
}
/// a - b, or the int64 bound it passes.
constexpr Timestamp saturating_sub(Timestamp a, DurationUs b) {
  Timestamp r = 0;
  if (__builtin_sub_overflow(a, b, &r)) return b > 0 ? kMinTimestamp : kMaxTimestamp;
  return r;
}

/// Converts any std::chrono duration to microseconds (truncating).
template <class Rep, class Period>
constexpr DurationUs to_us(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

/// Source of processing time. Implementations must be thread-safe: every
/// worker thread reads the same clock.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Current processing time in µs. Never goes backwards.
  virtual Timestamp now_us() const = 0;
};

/// Wall-clock time (std::chrono::system_clock), made monotonic.
class SystemClock final : public Clock {
 public:
  Timestamp now_us() const override;
  /// A process-wide instance; the engine's default clock.
  static SystemClock& instance();

 private:
  mutable std::atomic<Timestamp> last_{0};
};

/// A clock that only moves when told to. For deterministic tests.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start_us = 0) : now_(start_us) {}
  Timestamp now_us() const override { return now_.load(std::memory_order_acquire); }
  /// Sets the time; a value earlier than the current time is ignored.
  void set(Timestamp t_us);
  void advance(DurationUs d_us) { set(now_us() + d_us); }

 private:
  std::atomic<Timestamp> now_;
};

}  // namespace sluice
