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

namespace sluice {

/// Event or processing time in microseconds since the Unix epoch.
using Timestamp = std::int64_t;
/// A span of time in microseconds.
using DurationUs = std::int64_t;

inline constexpr Timestamp kMinTimestamp = std::numeric_limits<Timestamp>::min();
inline constexpr Timestamp kMaxTimestamp = std::numeric_limits<Timestamp>::max();

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
