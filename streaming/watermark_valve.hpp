// Combines the watermarks of several input channels into one.
//
// An operator's watermark is the minimum over its inputs. Idle channels are
// left out of the minimum (a quiet Kafka partition must not stall every
// window); when every live channel is idle the output advances to the largest
// watermark of any channel (nothing will move the channels any more, and each
// one's promise holds for what it may still send, as Flink's
// StatusWatermarkValve flushes) and then itself turns idle. An ended channel
// counts as +inf. The output watermark never goes back: a
// channel that becomes active again behind the output simply does not hold it
// back until it catches up (as Flink's StatusWatermarkValve does).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "streaming/record.hpp"

namespace sluice {

class WatermarkValve {
 public:
  explicit WatermarkValve(std::size_t channels) : channels_(channels) {}

  /// Feeds control message `c` from `channel`; calls `emit(Control)` for every
  /// control message that results downstream (in order). Watermarks that do
  /// not advance the output are swallowed.
  template <class Emit>
  void on_control(std::size_t channel, const Control& c, Emit&& emit) {
    Channel& ch = channels_[channel];
    switch (c.kind) {
      case Control::Kind::kWatermark:
        if (ch.ended) return;
        if (c.ts_us > ch.watermark) ch.watermark = c.ts_us;
        ch.idle = false;  // a watermark implies the channel is active
        break;
      case Control::Kind::kIdle:
        if (ch.ended) return;
        ch.idle = true;
        break;
      case Control::Kind::kActive:
        if (ch.ended) return;
        ch.idle = false;
        break;
      case Control::Kind::kBarrier:
        return;  // aligned by a BarrierAligner, not combined here
      case Control::Kind::kEndOfInput:
        if (ch.ended) return;
        ch.ended = true;
        ch.idle = false;
        ch.watermark = kMaxTimestamp;
        ++ended_;
        break;
    }
    recompute(emit);
    if (ended_ == channels_.size() && !end_sent_) {
      end_sent_ = true;
      emit(Control::end_of_input());
    }
  }

  /// The combined watermark emitted so far.
  Timestamp watermark() const { return output_; }
  bool is_idle() const { return output_idle_; }
  bool all_ended() const { return end_sent_; }
  std::size_t channel_count() const { return channels_.size(); }

 private:
  struct Channel {
    Timestamp watermark = kMinTimestamp;
    bool idle = false;
    bool ended = false;
  };

  template <class Emit>
  void recompute(Emit& emit) {
    Timestamp min = kMaxTimestamp;
    bool any_active = false;
    bool any_aligned = false;
    for (const Channel& ch : channels_) {
      if (ch.idle) continue;
      any_active = true;
      // Only a channel that came back from idleness can be behind the output;
      // it is not counted until it catches up.
      if (ch.watermark < output_) continue;
      any_aligned = true;
      if (ch.watermark < min) min = ch.watermark;
    }
    if (!any_active) {
      if (!output_idle_) {
        // Every channel idle: flush to the largest watermark, then go idle.
        Timestamp max = kMinTimestamp;
        for (const Channel& ch : channels_) max = std::max(max, ch.watermark);
        if (max > output_) {
          output_ = max;
          emit(Control::watermark(max));
        }
        output_idle_ = true;
        emit(Control::idle());
      }
      return;
    }
    if (output_idle_) {
      output_idle_ = false;
      emit(Control::active());
    }
    if (any_aligned && min > output_) {
      output_ = min;
      emit(Control::watermark(min));
    }
  }

  std::vector<Channel> channels_;
  std::size_t ended_ = 0;
  Timestamp output_ = kMinTimestamp;
  bool output_idle_ = false;
  bool end_sent_ = false;
};

}  // namespace sluice
