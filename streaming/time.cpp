#include "streaming/time.hpp"

namespace sluice {

std::string timestamp_out_of_range(Timestamp ts) {
  return "timestamp out of range: " + std::to_string(ts) + " is outside the valid range [" +
         std::to_string(kMinValidTimestamp) + ", " + std::to_string(kMaxValidTimestamp) + "] (µs, ±2^62)";
}

Timestamp SystemClock::now_us() const {
  const Timestamp t = to_us(std::chrono::system_clock::now().time_since_epoch());
  // The wall clock can step back (NTP); processing time must not.
  Timestamp prev = last_.load(std::memory_order_relaxed);
  while (t > prev && !last_.compare_exchange_weak(prev, t, std::memory_order_relaxed)) {
  }
  return t > prev ? t : prev;
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}

void ManualClock::set(Timestamp t_us) {
  Timestamp prev = now_.load(std::memory_order_relaxed);
  while (t_us > prev && !now_.compare_exchange_weak(prev, t_us, std::memory_order_acq_rel)) {
  }
}

}  // namespace sluice
