// What a bounded buffer does when it is full.
//
// Every buffer between a producer and the job (source buffers) or between
// workers (exchange channels) is bounded. The default, Block, is lossless: the
// producer waits (inside the runtime: the worker stops pulling input that would
// feed the full buffer). Dropping is explicit opt-in and always counted.
#pragma once

#include <cstddef>
#include <string>

namespace sluice {

enum class Backpressure {
  kBlock,       ///< producer waits until there is room. Lossless. Default.
  kDropOldest,  ///< make room by discarding the oldest buffered element (counted)
  kDropNewest,  ///< discard the element being added (counted)
  kSignal,      ///< never wait, never drop: accept beyond capacity and count the event (monitor only)
  kAdaptive,    ///< grow capacity (doubling) up to `max_capacity` when full, shrink back when drained; then block
};

const char* to_string(Backpressure b);

/// Options of one bounded buffer.
struct BufferOptions {
  /// Elements the buffer holds before its strategy applies: batches for
  /// exchange channels, records for source buffers. REQUIRES: > 0.
  std::size_t capacity = 64;
  /// What happens when full. Default: kBlock.
  Backpressure strategy = Backpressure::kBlock;
  /// Upper bound for kAdaptive; 0 means 8 x capacity. REQUIRES: 0 or >= capacity.
  std::size_t max_capacity = 0;

  /// Throws ConfigError naming `where` and the field when a value is out of range.
  void validate(const std::string& where) const;
  std::size_t adaptive_limit() const { return max_capacity == 0 ? capacity * 8 : max_capacity; }
};

}  // namespace sluice
