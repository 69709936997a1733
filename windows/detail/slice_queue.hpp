// A key's most recent slices and the merge of them, for count windows.
//
// A sliding count window is the last size/slice slices of its key. The
// queue keeps them in a ring (at most `capacity`, the oldest dropped when a
// new one comes) and answers the merge of its contents without merging every
// slice each time, so the cost per slice does not grow with size/slide:
//   - aggregates that can retract: one running accumulator; the slice that
//     enters is merged in, the one that leaves retracted;
//   - others: two stacks. The older slices [0, mid) hold suffix merges
//     (slice i merged with every later one up to mid), `window_` merges the
//     newer ones [mid, len). Dropping the oldest when mid is 0 first turns
//     everything into suffix merges (a flip): about three merges per slice;
//   - holistic aggregates (lists): slices are merged when asked for.
// Merges are always in order: `into` covers older slices than `from`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "streaming/serde.hpp"

namespace sluice::detail {

enum class SliceCombine { kRetract, kTwoStacks, kMergeAll };

/// How windows of Aggs combine their slices.
template <class Aggs>
inline constexpr SliceCombine slice_combine_of =
    Aggs::holistic ? SliceCombine::kMergeAll : (Aggs::retractable ? SliceCombine::kRetract : SliceCombine::kTwoStacks);

template <class Acc, bool kSuffix>
struct QueueSlot {
  Acc acc;
};
template <class Acc>
struct QueueSlot<Acc, true> {
  Acc acc;
  Acc suffix{};  // written by flip() before it is read
};

template <class Aggs>
class SliceQueue {
 public:
  using Acc = typename Aggs::acc_type;
  static constexpr SliceCombine kCombine = slice_combine_of<Aggs>;

  explicit SliceQueue(const Aggs& aggs) : window_(aggs.create()) {}

  std::size_t size() const { return len_; }
  bool empty() const { return len_ == 0; }

  /// Appends the newest slice; first drops the oldest if `capacity` are held.
  void push(const Aggs& aggs, Acc slice, std::size_t capacity) {
    if (len_ == capacity) pop(aggs);
    if (ring_.size() < capacity) {
      // Still filling: nothing was dropped yet, so the ring starts at 0.
      ring_.push_back(Slot{std::move(slice)});
    } else {
      at(len_).acc = std::move(slice);
    }
    if constexpr (kCombine != SliceCombine::kMergeAll) aggs.merge(window_, at(len_).acc);
    ++len_;
  }

  /// Hints the CPU to fetch the slot the next push(…, capacity) will write:
  /// once the ring is full, the oldest (dropped and overwritten).
  void prefetch(std::size_t capacity) const {
    if (len_ == capacity)
      __builtin_prefetch(ring_.data() + head_, 1);
    else if (len_ < ring_.capacity())
      __builtin_prefetch(ring_.data() + len_, 1);
  }

  /// The merge of every slice held (aggs.create() if none).
  Acc merged(const Aggs& aggs) {
    if constexpr (kCombine == SliceCombine::kRetract) {
      return window_;
    } else if constexpr (kCombine == SliceCombine::kTwoStacks) {
      if (mid_ == 0) return window_;
      if (mid_ == len_) return at(0).suffix;
      Acc acc = at(0).suffix;
      aggs.merge(acc, window_);
      return acc;
    } else {
      Acc acc = aggs.create();
      for (std::size_t i = 0; i < len_; ++i) aggs.merge(acc, at(i).acc);
      return acc;
    }
  }

  /// The result of merged(), without copying the accumulator where it can.
  auto result(const Aggs& aggs) {
    if constexpr (kCombine == SliceCombine::kRetract) {
      return aggs.result(window_);
    } else if constexpr (kCombine == SliceCombine::kTwoStacks) {
      if (mid_ == 0) return aggs.result(window_);
      if (mid_ == len_) return aggs.result(at(0).suffix);
      return aggs.result(merged(aggs));
    } else {
      return aggs.result(merged(aggs));
    }
  }

  /// Writes the slices oldest first with the partial merges as they are, so
  /// that a restored queue gives bit-identical results (a rebuilt running
  /// sum of doubles could round differently). For checkpoints.
  void write(StateWriter& w) const
    requires Serializable<Acc>
  {
    w.write_varint(len_);
    w.write_varint(mid_);
    for (std::size_t i = 0; i < len_; ++i) {
      const Slot& s = at(i);
      w.write(s.acc);
      if constexpr (kCombine == SliceCombine::kTwoStacks) w.write(s.suffix);
    }
    w.write(window_);
  }

  /// Reads what write() wrote, into an empty queue; `check(acc)` vets each
  /// accumulator read. Refuses (StateFormatError) more than `capacity` slices.
  template <class Check>
  void read(StateReader& r, std::size_t capacity, Check&& check)
    requires Serializable<Acc>
  {
    const ReadContext what = ReadContext::of<SliceQueue>("slice count");
    const std::size_t at_len = r.offset();
    const std::size_t len = r.read_count(what, 1);
    const std::size_t mid = r.read_varint(ReadContext::of<SliceQueue>("midpoint"));
    if (len > capacity || mid > len)
      StateReader::fail(at_len, what,
                        std::to_string(len) + " slices, midpoint " + std::to_string(mid) + ", capacity " +
                            std::to_string(capacity));
    ring_.clear();
    ring_.reserve(len);
    for (std::size_t i = 0; i < len; ++i) {
      Slot s{r.read<Acc>()};
      check(s.acc);
      if constexpr (kCombine == SliceCombine::kTwoStacks) {
        s.suffix = r.read<Acc>();
        check(s.suffix);
      }
      ring_.push_back(std::move(s));
    }
    window_ = r.read<Acc>();
    check(window_);
    // The ring restarts at 0 holding exactly len slices: push() fills it up
    // to capacity before it wraps, as it did.
    head_ = 0;
    len_ = len;
    mid_ = mid;
  }

 private:
  using Slot = QueueSlot<Acc, kCombine == SliceCombine::kTwoStacks>;

  /// The i-th oldest slice.
  Slot& at(std::size_t i) {
    std::size_t p = head_ + i;
    if (p >= ring_.size()) p -= ring_.size();
    return ring_[p];
  }
  const Slot& at(std::size_t i) const { return const_cast<SliceQueue&>(*this).at(i); }

  void pop(const Aggs& aggs) {
    if constexpr (kCombine == SliceCombine::kRetract) {
      aggs.retract(window_, at(0).acc);
    } else if constexpr (kCombine == SliceCombine::kTwoStacks) {
      if (mid_ == 0) flip(aggs);
      --mid_;
    } else {
      at(0).acc = Acc{};  // free a holistic slice's memory now
    }
    if (++head_ == ring_.size()) head_ = 0;
    --len_;
  }

  /// Two stacks: turns every slice into a suffix merge; the newer stack is empty.
  void flip(const Aggs& aggs) {
    for (std::size_t i = len_; i-- > 0;) {
      Slot& s = at(i);
      s.suffix = s.acc;
      if (i + 1 < len_) aggs.merge(s.suffix, at(i + 1).suffix);
    }
    mid_ = len_;
    window_ = aggs.create();
  }

  std::vector<Slot> ring_;
  std::size_t head_ = 0;  // ring position of the oldest slice
  std::size_t len_ = 0;   // slices held
  std::size_t mid_ = 0;   // two stacks: slices [0, mid_) hold suffix merges
  Acc window_;            // retract: merge of all; two stacks: merge of [mid_, len_)
};

}  // namespace sluice::detail
