#include "streaming/backpressure.hpp"

#include "streaming/errors.hpp"

namespace sluice {

const char* to_string(Backpressure b) {
  switch (b) {
    case Backpressure::kBlock: return "Block";
    case Backpressure::kDropOldest: return "DropOldest";
    case Backpressure::kDropNewest: return "DropNewest";
    case Backpressure::kSignal: return "Signal";
    case Backpressure::kAdaptive: return "Adaptive";
  }
  return "?";
}

void BufferOptions::validate(const std::string& where) const {
  if (capacity == 0) throw ConfigError(where, "capacity", "must be > 0");
  if (max_capacity != 0 && max_capacity < capacity)
    throw ConfigError(where, "max_capacity",
                      "must be 0 (8 x capacity) or >= capacity (" + std::to_string(capacity) + "), got " +
                          std::to_string(max_capacity));
}

}  // namespace sluice
