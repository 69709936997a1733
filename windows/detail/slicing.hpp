// Slicing: the bookkeeping behind tumbling and sliding windows.
//
// Time is cut into slices of gcd(size, slide); every window is a run of
// size/slice consecutive slices, and every record lands in exactly one slice.
// A key keeps one accumulator per slice, so a record costs one `add`
// whatever size/slide is; windows are combined from slices when they fire
// (see window_operator.hpp).
//
// Overflow: record timestamps lie within ±2^62 (kMinValidTimestamp,
// kMaxValidTimestamp: sources reject others), and size, slide, slice and the
// allowed lateness are at most 2^60. So a slice end is within ±(2^62 + 2^60),
// a window end at most 2^62 + 2^60 and a cleanup time (last window end - 1 +
// lateness) below 2^62 + 2^61: plain int64 arithmetic on them cannot
// overflow, and the per-record path needs no check. Watermarks are not
// bounded that way (punctuated watermarks are arbitrary, the end of input is
// kMaxTimestamp): operators clamp them once with clamp_watermark().
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "streaming/time.hpp"
#include "windows/assigners.hpp"

namespace sluice::detail {

/// Floor division (rounds toward -infinity; b > 0).
constexpr Timestamp floor_div(Timestamp a, DurationUs b) {
  const Timestamp q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// Beyond every cleanup time of a window holding a valid timestamp (see
/// above): a watermark past it closes everything, like kMaxTimestamp.
inline constexpr Timestamp kWatermarkHorizon = kMaxValidTimestamp + (Timestamp{1} << 61);

/// The watermark `wm` as the window arithmetic may use it: kMaxTimestamp if
/// it passes every window (so `wm + 1`, `fired + slide` cannot overflow),
/// kMinTimestamp if it precedes every window (nothing to do), else itself.
constexpr Timestamp clamp_watermark(Timestamp wm) {
  if (wm >= kWatermarkHorizon) return kMaxTimestamp;
  if (wm <= -kWatermarkHorizon) return kMinTimestamp;
  return wm;
}

/// The slice and window grid of one window spec. A window is named by its
/// end e and covers [e - size, e); a slice by its end s and covers
/// [s - slice, s). As in Flink, window starts lie on spec.offset + k * slide,
/// so ends lie on `offset` + k * slide with offset = spec.offset + size (mod
/// slide): the two grids differ when slide does not divide size. Slice ends
/// lie on `offset` + k * slice, which holds every window start and end (size
/// and slide are multiples of slice).
struct SliceGrid {
  DurationUs size;
  DurationUs slide;
  DurationUs slice;
  DurationUs offset;  // of the window ends, in [0, slide)

  explicit SliceGrid(const TimeWindows& w)
      : size(w.size_us), slide(w.slide_us), slice(w.slice_us()), offset(end_offset(w)) {}

  /// (offset + size) mod slide, in [0, slide), without overflow.
  static DurationUs end_offset(const TimeWindows& w) {
    const DurationUs o = (w.offset_us % w.slide_us + w.size_us % w.slide_us) % w.slide_us;
    return o < 0 ? o + w.slide_us : o;
  }

  /// End of the slice holding `ts`.
  Timestamp slice_end(Timestamp ts) const { return floor_div(ts - offset, slice) * slice + offset + slice; }
  /// Largest slice end <= t.
  Timestamp floor_slice_end(Timestamp t) const { return floor_div(t - offset, slice) * slice + offset; }
  /// Largest window end <= t.
  Timestamp floor_window_end(Timestamp t) const { return floor_div(t - offset, slide) * slide + offset; }
  /// Smallest window end >= t.
  Timestamp ceil_window_end(Timestamp t) const {
    const Timestamp f = floor_window_end(t);
    return f == t ? f : f + slide;
  }
  /// The windows holding the slice ending at `s` end in [first, last] (step slide).
  Timestamp first_window_end(Timestamp s) const { return ceil_window_end(s); }
  Timestamp last_window_end(Timestamp s) const { return floor_window_end(s + size - slice); }
};

/// A key's accumulator for one slice. Keeping partial merges (two stacks)
/// needs a second accumulator per slice: the merge of this slice and every
/// later one up to the stacks' midpoint.
template <class Acc, bool kSuffix>
struct Slice {
  Timestamp end;
  Acc acc;
};
template <class Acc>
struct Slice<Acc, true> {
  Timestamp end;
  Acc acc;
  Acc suffix{};  // written by flip() before it is read
};

/// A key's slices, oldest first. Dropping the oldest is O(1) amortized (a
/// head offset, compacted once half the vector is dead); records usually
/// append to the newest, and a late record may insert in the middle.
template <class S>
class SliceList {
 public:
  std::size_t size() const { return v_.size() - head_; }
  bool empty() const { return v_.size() == head_; }
  S& operator[](std::size_t i) { return v_[head_ + i]; }
  const S& operator[](std::size_t i) const { return v_[head_ + i]; }
  S& back() { return v_.back(); }

  S& push_back(S s) { return v_.emplace_back(std::move(s)); }
  S& insert(std::size_t i, S s) { return *v_.insert(v_.begin() + static_cast<std::ptrdiff_t>(head_ + i), std::move(s)); }
  void pop_front() {
    ++head_;
    if (head_ == v_.size()) {
      v_.clear();
      head_ = 0;
    } else if (head_ >= 8 && head_ * 2 >= v_.size()) {
      v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  /// Position of the first slice with end >= `end` (size() if none).
  std::size_t lower_bound(Timestamp end) const {
    std::size_t i = size();
    while (i > 0 && (*this)[i - 1].end >= end) --i;  // usually 0 or 1 steps: slices arrive in order
    return i;
  }

 private:
  std::vector<S> v_;
  std::size_t head_ = 0;
};

}  // namespace sluice::detail
