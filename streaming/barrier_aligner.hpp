// Aligns the checkpoint barriers of several input channels (Flink's aligned
// checkpoints, the Chandy-Lamport snapshot of asynchronous barrier
// snapshotting).
//
// A barrier n splits each channel into what belongs to checkpoint n (before
// it) and what comes after. An operator with several inputs may snapshot only
// once it has everything before barrier n on every input and nothing after it
// on any: so a channel that delivered barrier n is blocked (its reader stops
// taking from it, or holds what still arrives) until every channel has
// delivered barrier n; then the barrier goes downstream, once, and every
// channel is released. A channel that has ended counts as aligned: nothing
// more can come on it. Barriers come in increasing ids and a blocked channel
// delivers nothing more, so at most one alignment is in progress.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "streaming/record.hpp"

namespace sluice {

class BarrierAligner {
 public:
  explicit BarrierAligner(std::size_t channels) : channels_(channels) {}

  /// Barrier `id` arrived on `channel`. Returns true when it completes the
  /// alignment: the caller then sends Control::barrier(id) downstream and
  /// delivers what it held back. A barrier older than the one aligning or
  /// not newer than the last one completed is ignored: false.
  bool on_barrier(std::size_t channel, std::uint64_t id) {
    Channel& ch = channels_[channel];
    if (ch.ended || id <= completed_ || ch.blocked) return false;
    if (aligning_ == 0) aligning_ = id;
    // Sources inject the newest checkpoint requested, so one that was slow
    // may skip one: a newer barrier while an older one aligns means the
    // older cannot complete; the newer takes over (what the released
    // channels deliver next comes before the newer barrier). An older
    // barrier then is stale: ignored.
    if (id < aligning_) return false;
    if (id > aligning_) restart(id);
    ch.blocked = true;
    ++arrived_;
    return try_complete();
  }

  /// `channel` ended; true if that completes an alignment in progress (the
  /// caller sends the barrier before the end of input it forwards, if any).
  bool on_end_of_input(std::size_t channel) {
    Channel& ch = channels_[channel];
    if (ch.ended) return false;
    ch.ended = true;
    ++ended_;
    if (ch.blocked) {
      ch.blocked = false;
      --arrived_;
    }
    return aligning_ != 0 && try_complete();
  }

  /// True while `channel` delivered the barrier being aligned: take nothing
  /// more from it.
  bool blocked(std::size_t channel) const { return channels_[channel].blocked; }
  /// True while an alignment is in progress.
  bool aligning() const { return aligning_ != 0; }
  /// The barrier being aligned (0: none).
  std::uint64_t aligning_id() const { return aligning_; }
  /// The newest barrier whose alignment completed (0: none).
  std::uint64_t completed_id() const { return completed_; }
  std::size_t channel_count() const { return channels_.size(); }

 private:
  struct Channel {
    bool blocked = false;
    bool ended = false;
  };

  bool try_complete() {
    if (arrived_ + ended_ < channels_.size()) return false;
    completed_ = aligning_;
    aligning_ = 0;
    arrived_ = 0;
    for (Channel& ch : channels_) ch.blocked = false;
    return true;
  }

  void restart(std::uint64_t id) {
    aligning_ = id;
    arrived_ = 0;
    for (Channel& ch : channels_) ch.blocked = false;
  }

  std::vector<Channel> channels_;
  std::size_t arrived_ = 0;  // channels blocked on the barrier being aligned
  std::size_t ended_ = 0;
  std::uint64_t aligning_ = 0;
  std::uint64_t completed_ = 0;
};

}  // namespace sluice
