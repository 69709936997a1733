// Count windows: windows of a key's consecutive records, by arrival order.
//
//   keyed.window(count_tumbling(100)).aggregate(count(), avg("price", &Bid::price))
//   keyed.window(count_sliding(100, 10)).aggregate(max("price", &Bid::price))
//
// Records are numbered per key 0, 1, 2, ... in the order they reach the
// window operator (not by timestamp: out-of-order and equal timestamps make
// no difference; with several source partitions that order depends on how
// their records interleave, so only one partition, or a key that lives in one,
// gives reproducible windows).
//
//   count_tumbling(n)         records [0, n), [n, 2n), ...: a window is
//                             emitted when its n-th record arrives.
//   count_sliding(size, slide) Flink's countWindow(size, slide): on every
//                             slide-th record of the key (positions end =
//                             k * slide, k >= 1) the window of the key's last
//                             `size` records, [max(0, end - size), end). The
//                             first windows hold fewer than `size` records
//                             (until end >= size). count_sliding(n, n) is
//                             count_tumbling(n).
//
// Results are WindowResult{key, window, values, kInsert}. `window` reuses
// TimeWindow for *record positions*, not time: [start, end) are the first
// and one-past-the-last position (in the key's sequence) of the records the
// window holds. The result's record timestamp is the timestamp of the record
// that completed the window (so it may be behind the watermark when records
// arrive out of order: count windows do not wait for time).
//
// Incomplete windows are never emitted: when the input ends, records after
// the key's last window end are dropped without a result (Flink semantics).
// count_tumbling(100) over 250 records of a key emits 2 windows; the last 50
// records are not in any result.
//
// Count windows have no late records (allowed_lateness / late_data throw
// GraphError); watermarks pass through the operator unchanged. A key's state
// (its position, the partial aggregates of its current window) is kept for
// as long as the job runs: it never expires, like Flink's.
//
// Cost per record does not grow with size/slide: each key keeps partial
// aggregates of slices of gcd(size, slide) records (see
// windows/count_window_operator.hpp). The operator is in
// windows/count_window_operator.hpp (sluice/sluice.hpp includes it).
#pragma once

#include <cstdint>
#include <numeric>
#include <string>

#include "streaming/errors.hpp"

namespace sluice {

/// Count-based tumbling (slide == size) or sliding windows.
struct CountWindows {
  std::int64_t size = 0;   ///< records per window
  std::int64_t slide = 0;  ///< a window ends every `slide` records of the key

  bool is_tumbling() const { return size == slide; }
  /// The unit partial aggregates are kept in: gcd(size, slide) records.
  std::int64_t slice() const { return std::gcd(size, slide); }
  /// Count windows never see late records.
  bool has_late_records() const { return false; }
  std::string kind_name() const { return "count"; }

  /// Throws GraphError (naming `op`) unless size >= 1 and 1 <= slide <= size.
  void validate(const std::string& op) const {
    if (size < 1) throw GraphError(op, "size", "count window size must be at least 1, got " + std::to_string(size));
    if (slide < 1)
      throw GraphError(op, "slide", "count window slide must be at least 1, got " + std::to_string(slide));
    if (slide > size)
      throw GraphError(op, "slide",
                       "count window slide (" + std::to_string(slide) + ") must not exceed its size (" +
                           std::to_string(size) + ")");
  }
};

/// Windows of `size` consecutive records per key, back to back.
inline CountWindows count_tumbling(std::int64_t size) { return CountWindows{size, size}; }

/// Every `slide` records of a key, the window of its last `size` records
/// (fewer for the first windows). Flink's countWindow(size, slide).
inline CountWindows count_sliding(std::int64_t size, std::int64_t slide) { return CountWindows{size, slide}; }

}  // namespace sluice
