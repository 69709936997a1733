// Records, batches and in-band control messages.
//
// Data moves through the runtime in batches (`Batch<T>`): operators are
// dispatched once per batch and loop over the records inline. Control
// messages (watermarks, idleness, end of input, checkpoint barriers)
// travel in-band between batches, so a control message is always ordered
// after every record sent before it on the same channel.
#pragma once

#include <cstdint>
#include <vector>

#include "streaming/time.hpp"

namespace sluice {

/// One element of a stream: a value and its event timestamp.
template <class T>
struct Record {
  T value;
  Timestamp ts_us = 0;
  bool operator==(const Record&) const = default;  // needs T == T when used
};

/// A run of records. Operators may mutate or consume the batch they are given.
template <class T>
using Batch = std::vector<Record<T>>;

/// An in-band control message.
struct Control {
  enum class Kind : std::uint8_t {
    kWatermark,   ///< no more records with ts <= `ts_us` on this channel
    kIdle,        ///< this channel is idle: leave it out of watermark minimums
    kActive,      ///< this channel carries records again
    kEndOfInput,  ///< nothing more will come on this channel (implies watermark +inf)
    kBarrier,     ///< checkpoint barrier `checkpoint_id`: what came before belongs to that checkpoint
  };
  Kind kind = Kind::kWatermark;
  Timestamp ts_us = kMinTimestamp;
  std::uint64_t checkpoint_id = 0;  ///< kBarrier only

  static Control watermark(Timestamp ts) { return {Kind::kWatermark, ts}; }
  static Control idle() { return {Kind::kIdle, kMinTimestamp}; }
  static Control active() { return {Kind::kActive, kMinTimestamp}; }
  static Control end_of_input() { return {Kind::kEndOfInput, kMaxTimestamp}; }
  static Control barrier(std::uint64_t checkpoint_id) { return {Kind::kBarrier, kMinTimestamp, checkpoint_id}; }
};

}  // namespace sluice
