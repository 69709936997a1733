// The window operator for tumbling and sliding time windows.
//
// Time is cut into slices (windows/detail/slicing.hpp). A slice still open
// (the watermark has not passed its end) is a hash table key -> accumulator,
// so a record costs one lookup in a small table and one `add`. When the
// watermark passes a slice's end it closes: for tumbling windows without
// lateness the slice is the window, and it is emitted and recycled at once.
// Otherwise its accumulators move to per-key lists of slices, and windows
// fire when the watermark (or, for processing-time windows, the clock)
// passes their end: the operator walks its keys once per window end and
// emits one result per key whose window holds records. A sliding window is combined from its
// slices incrementally, so the cost per record does not grow with
// size/slide:
//   - aggregates that can retract keep one running accumulator per key: the
//     slice entering the window is merged in, the one leaving is retracted;
//   - others keep partial merges in two stacks (suffix merges of the older
//     slices, one merge of the newer ones): about three merges per slice;
//   - holistic aggregates (lists) merge the window's slices when it fires.
//
// Late records (their slice's windows have fired): while some window holding
// them is within the allowed lateness, they are added and every such window
// that already fired emits a correction (kUpdateBefore old, kUpdateAfter
// new; kInsert if the key had no result for it). Otherwise they go to the
// late output and are counted. A slice is dropped once the watermark passes
// its last window's end + lateness. Records must lie within the valid
// timestamp range (see windows/detail/slicing.hpp on overflow); one outside
// goes to the late output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/keyed_input.hpp"
#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/metrics.hpp"
#include "streaming/side_output.hpp"
#include "streaming/stream.hpp"
#include "windows/aggregate.hpp"
#include "windows/assigners.hpp"
#include "windows/detail/slice_queue.hpp"
#include "windows/detail/slicing.hpp"
#include "windows/pane_window_operator.hpp"
#include "windows/window.hpp"

namespace sluice::detail {

/// What every event-time window operator needs to know about late records.
struct LateSettings {
  DurationUs allowed_lateness_us = 0;
  std::uint64_t late_tag_id = 0;  ///< 0: late records are only counted
};

struct WindowSettings {
  TimeWindows windows;
  DurationUs allowed_lateness_us = 0;
  std::uint64_t late_tag_id = 0;  ///< 0: late records are only counted
};

/// The graph node computing Aggs over windows of spec type Spec (one
/// specialization per window kind, next to its operator).
template <class K, class T, class Aggs, class Spec>
struct WindowNodeOf;

/// A partial aggregate of one key and slice, computed on the worker that read
/// its records (local-global aggregation, windows/local_aggregation.hpp).
/// Its record's timestamp is the slice's last microsecond (or the last valid one).
template <class Acc>
struct Partial {
  Acc acc;
  std::uint64_t records = 0;  ///< how many records it folds (counted if it arrives late)
};

/// One key's state in the slicing window operator: its closed slices (S:
/// Slice<Acc, two stacks?>) and the window it fired last.
template <class S, class Acc>
struct SlicingKeyWindows {
  SliceList<S> slices;
  // Slices [0, lo) only wait for late records of windows already fired;
  // [lo, hi) make up the window fired last; [hi, size) are newer.
  // Retract: `window` merges [lo, hi). Two stacks: [lo, mid) hold suffix
  // merges, `window` merges [mid, hi).
  std::uint32_t lo = 0, mid = 0, hi = 0;
  Timestamp at = kMinTimestamp;  // end of the window fired last (kMin: none yet)
  bool stale = false;            // a late record changed [lo, hi): rebuild before use
  Acc window;
};

/// The slices of the windows of Aggs.
template <class Aggs>
using SliceOf = Slice<typename Aggs::acc_type, slice_combine_of<Aggs> == SliceCombine::kTwoStacks>;

template <class K, class T, class Aggs>
class SlicingWindowOperator final
    : public KeyedOperatorBase<SlicingWindowOperator<K, T, Aggs>, KeyedInput<K, T>,
                               WindowResult<K, typename Aggs::result_type>,
                               FlatHashMap<K, SlicingKeyWindows<SliceOf<Aggs>, typename Aggs::acc_type>>> {
  using Base = KeyedOperatorBase<SlicingWindowOperator, KeyedInput<K, T>, WindowResult<K, typename Aggs::result_type>,
                                 FlatHashMap<K, SlicingKeyWindows<SliceOf<Aggs>, typename Aggs::acc_type>>>;
  friend Base;
  using Base::clock_, Base::flush, Base::flush_if_full, Base::groups_, Base::metrics_, Base::out_buf_, Base::send_late;
  using Acc = typename Aggs::acc_type;
  using Values = typename Aggs::result_type;
  using Out = WindowResult<K, Values>;
  using Combine = SliceCombine;
  static constexpr Combine kCombine = slice_combine_of<Aggs>;
  using S = SliceOf<Aggs>;
  using KeyWindows = SlicingKeyWindows<S, Acc>;
  using Table = FlatHashMap<K, KeyWindows>;
  using AccTable = FlatHashMap<K, Acc>;

  /// A slice the watermark has not passed: key -> accumulator. One table for
  /// all key groups: a record's lookup needs neither its key group nor the
  /// group's table (key groups are recomputed from the hash when a slice
  /// closes into per-key-group state).
  struct OpenSlice {
    AccTable table;
  };

 public:
  SlicingWindowOperator(Aggs aggs, const WindowSettings& s, OperatorMetrics& metrics, const Clock& clock,
                        std::uint32_t first_kg, std::uint32_t kg_count, std::size_t max_parallelism,
                        std::size_t batch_size, OperatorState* state = nullptr)
      : Base(metrics, clock, {first_kg, kg_count, batch_size, s.late_tag_id, state}),
        aggs_(std::move(aggs)),
        grid_(s.windows),
        tumbling_(s.windows.is_tumbling()),
        processing_time_(s.windows.time == WindowTime::kProcessingTime),
        lateness_(s.allowed_lateness_us),
        direct_(tumbling_ && lateness_ == 0),
        max_parallelism_(max_parallelism) {}

  void push(Batch<Keyed<K, T>>& batch) override { add(KeyedView<K, T>{batch.data(), batch.size()}); }
  /// The first type of the state without a Serde ("" if none): such an
  /// operator cannot be checkpointed.
  static std::string unserializable_state() { return first_unserializable<K, Acc>(); }

  void push_local(LocalKeyedBatch<K, T>& batch) override { add(LocalKeyedView<K, T>(batch)); }
  /// Partial aggregates from the workers' local stages (local-global
  /// aggregation): each is merged into its key's slice like a record.
  void push_partials(Batch<Keyed<K, Partial<Acc>>>& batch) {
    add(KeyedView<K, Partial<Acc>>{batch.data(), batch.size()});
  }

  /// Distinct keys holding window state (for tests and metrics; O(state)).
  std::size_t key_count() const {
    FlatHashMap<K, char> keys;
    for (const Table& t : groups_) t.for_each([&](const K& k, const KeyWindows&) { keys.try_emplace(k, 0); });
    for (const auto& [end, slice] : open_) slice.table.for_each([&](const K& k, const Acc&) { keys.try_emplace(k, 0); });
    return keys.size();
  }

 private:
  // ---- time (the base's hooks) ----
  void on_event_time(Timestamp watermark) {
    if (!processing_time_) advance_to(watermark);
  }
  void on_end_of_input() {
    if (processing_time_) advance_to(kMaxTimestamp);  // flush every window still open
  }
  void on_processing_time_tick(Timestamp now) {
    if (processing_time_) advance_to(now);
  }

  template <class View>
  void add(View records) {
    if (processing_time_)
      add_records<true>(records);
    else
      add_records<false>(records);
    metrics_.records_in.add(records.size());
    flush();
  }

  /// The per-record loop, over either batch form (KeyedView, LocalKeyedView).
  /// Everything it reads per record is in locals: stores into accumulators
  /// may alias members (a uint64 accumulator aliases an int64 Timestamp),
  /// which would make the compiler reload them.
  template <bool kProcessingTime, class View>
  void add_records(const View& records) {
    // Processing time: records take the clock's time; a slice that already
    // closed does not reopen.
    const Timestamp now = kProcessingTime ? std::max(clock_.now_us(), closed_until_) : 0;
    const std::size_t n = records.size();
    // The cached open slice [start, end) and its table; an empty range when there is none.
    Timestamp start = open_slice_ ? slice_start_ : 0, end = open_slice_ ? slice_end_ : 0;
    AccTable* table = open_slice_ ? &open_slice_->table : nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      // Starts fetching the slot of the record kAhead further on (assuming
      // its slice is this one): a lookup otherwise waits on the cache.
      if (i + kAhead < n && table != nullptr) table->prefetch(records.hash(i + kAhead));
      const Timestamp ts = kProcessingTime ? now : records.ts(i);
      if (ts < start || ts >= end) [[unlikely]] {
        locate_slice(ts);
        if (open_slice_ == nullptr) {
          // Late: the empty range sends the next record here again.
          if constexpr (kPartials<View>) {
            on_late_partial(records.records[i], slice_end_);
          } else {
            Record<Keyed<K, T>> late = records.take(i);
            on_late(late, slice_end_);
          }
          start = end = 0;
          continue;
        }
        start = slice_start_;
        end = slice_end_;
        table = &open_slice_->table;
      }
      auto [acc, inserted] = table->try_emplace_hashed(records.key(i), records.hash(i));
      if (inserted) *acc = aggs_.create();
      if constexpr (kPartials<View>)
        aggs_.merge(*acc, records.value(i).acc);
      else
        add_value(aggs_, *acc, std::as_const(records.value(i)), records.ts(i));
    }
  }

  static constexpr std::size_t kAhead = 8;  // records between a slot's prefetch and its lookup

  template <class View>
  static constexpr bool kPartials = std::is_same_v<View, KeyedView<K, Partial<Acc>>>;

  KeyWindows& key_windows(std::uint32_t key_group, const K& key, std::uint64_t hash) {
    this->mark_changed(key_group);
    auto [kw, inserted] = groups_[key_group].try_emplace_hashed(key, hash);
    if (inserted) kw->window = aggs_.create();
    return *kw;
  }

  /// Points the slice cache at the slice holding `ts`: open_slice_ is its
  /// table, or nullptr if that slice has closed (the record is late). If ts
  /// is outside the valid range (a source that does not check) no window can
  /// hold it: nullptr and slice_end_ kMinTimestamp, so it goes to the late
  /// output too, counted.
  void locate_slice(Timestamp ts) {
    if (!is_valid_timestamp(ts)) [[unlikely]] {
      open_slice_ = nullptr;
      slice_end_ = kMinTimestamp;
      return;
    }
    slice_end_ = grid_.slice_end(ts);
    slice_start_ = slice_end_ - grid_.slice;
    if (slice_end_ <= closed_until_) {
      open_slice_ = nullptr;
      return;
    }
    auto [it, inserted] = open_.try_emplace(slice_end_);
    if (inserted && !spare_.empty()) {
      it->second.table = std::move(spare_.back());
      spare_.pop_back();
    }
    open_slice_ = &it->second;
  }

  /// Closes every open slice ending at or before `time` + 1, oldest first.
  void close_slices(Timestamp time) {
    while (!open_.empty() && open_.begin()->first - 1 <= time) {
      const Timestamp end = open_.begin()->first;
      AccTable& table = open_.begin()->second.table;
      if (direct_) {
        table.for_each([&](const K& key, Acc& acc) {
          // The entry leaves the open slice, which its group's section holds.
          if (this->state_ != nullptr) this->mark_changed(key_group_of(hash_key(key), max_parallelism_));
          emit(key, end, aggs_.result(acc), ChangeKind::kInsert);
          flush_if_full();
        });
      } else {
        table.for_each([&](const K& key, Acc& acc) {
          const std::uint64_t hash = hash_key(key);
          slice_for(key_windows(key_group_of(hash, max_parallelism_), key, hash), end).first.acc = std::move(acc);
        });
      }
      table.clear_keep_capacity();
      spare_.push_back(std::move(table));
      open_.erase(open_.begin());
    }
    open_slice_ = nullptr;
    slice_start_ = slice_end_ = 0;  // forget the cached slice
    closed_until_ = std::max(closed_until_, time == kMaxTimestamp ? kMaxTimestamp : grid_.floor_slice_end(time + 1));
  }

  Timestamp cleanup_time(Timestamp slice_end) const { return grid_.last_window_end(slice_end) - 1 + lateness_; }

  // ---- time ----

  /// Fires every window ending at or before `time` + 1 (in order) and drops
  /// state past its cleanup time.
  void advance_to(Timestamp time) {
    time = clamp_watermark(time);
    if (time == kMinTimestamp) return;
    watermark_ = std::max(watermark_, time);
    close_slices(time);
    while (true) {
      const std::optional<Timestamp> e = next_window_end();
      if (!e || *e - 1 > time) break;
      scan(e, *e - 1);
      fired_until_ = *e;
    }
    const Timestamp frontier = time == kMaxTimestamp ? kMaxTimestamp : grid_.floor_window_end(time + 1);
    fired_until_ = std::max(fired_until_, frontier);
    if (!live_.empty() && cleanup_time(live_.begin()->first) <= time) scan(std::nullopt, time);
    flush();
  }

  /// The first window end after fired_until_ whose window holds a live slice.
  std::optional<Timestamp> next_window_end() const {
    if (live_.empty() || fired_until_ == kMaxTimestamp) return std::nullopt;
    if (fired_until_ == kMinTimestamp) return grid_.first_window_end(live_.begin()->first);
    const Timestamp next = fired_until_ + grid_.slide;
    // A slice ending at s is in the windows ending in [s, s + size - slice].
    auto it = live_.lower_bound(next - grid_.size + grid_.slice);
    if (it == live_.end()) return std::nullopt;
    return std::max(grid_.first_window_end(it->first), next);
  }

  /// One pass over every key: fire window `fire_end` (if given), then drop
  /// slices whose cleanup time is <= `frontier`, and keys left with none.
  void scan(std::optional<Timestamp> fire_end, Timestamp frontier) {
    std::uint32_t kg = groups_.first();
    for (Table& t : groups_) {
      const std::uint32_t group = kg++;
      if (t.empty()) continue;
      this->mark_changed(group);  // windows fire, slices are dropped: its section changes
      t.for_each([&](const K& key, KeyWindows& kw) {
        if (fire_end) fire(key, kw, *fire_end);
        cleanup(kw, frontier);
        if (kw.slices.empty()) dead_keys_.push_back(key);
      });
      for (const K& k : dead_keys_) t.erase(k);
      dead_keys_.clear();
      flush_if_full();
    }
    flush();
  }

  void fire(const K& key, KeyWindows& kw, Timestamp e) {
    advance(kw, e);
    if (tumbling_) {
      if (kw.hi > 0 && kw.slices[kw.hi - 1].end == e) emit(key, e, aggs_.result(kw.slices[kw.hi - 1].acc), ChangeKind::kInsert);
    } else if (kw.lo < kw.hi) {
      emit(key, e, window_result(kw), ChangeKind::kInsert);
    }
  }

  void cleanup(KeyWindows& kw, Timestamp frontier) {
    while (!kw.slices.empty() && cleanup_time(kw.slices[0].end) <= frontier) {
      if (kw.hi > 0) {
        if (kw.lo == 0) pop_window(kw);
        --kw.lo;
        --kw.mid;
        --kw.hi;
      }
      note_slice(kw.slices[0].end, -1);
      kw.slices.pop_front();
    }
  }

  // ---- combining slices into windows ----

  /// Moves the key's window to the one ending at `e`.
  void advance(KeyWindows& kw, Timestamp e) {
    kw.at = e;
    while (kw.hi < kw.slices.size() && kw.slices[kw.hi].end <= e) {
      if (!tumbling_ && !kw.stale && kCombine != Combine::kMergeAll) aggs_.merge(kw.window, kw.slices[kw.hi].acc);
      ++kw.hi;
    }
    while (kw.lo < kw.hi && kw.slices[kw.lo].end <= e - grid_.size) pop_window(kw);
  }

  /// Takes the oldest slice out of the key's window.
  void pop_window(KeyWindows& kw) {
    if (!tumbling_ && !kw.stale) {
      if constexpr (kCombine == Combine::kRetract) {
        aggs_.retract(kw.window, kw.slices[kw.lo].acc);
      } else if constexpr (kCombine == Combine::kTwoStacks) {
        if (kw.lo == kw.mid) flip(kw);
      }
    }
    ++kw.lo;
    kw.mid = std::max(kw.mid, kw.lo);
  }

  /// Two stacks: turn [lo, hi) into suffix merges; the newer stack is empty.
  void flip(KeyWindows& kw) requires(kCombine == Combine::kTwoStacks) {
    for (std::uint32_t i = kw.hi; i-- > kw.lo;) {
      S& s = kw.slices[i];
      s.suffix = s.acc;
      if (i + 1 < kw.hi) aggs_.merge(s.suffix, kw.slices[i + 1].suffix);
    }
    kw.mid = kw.hi;
    kw.window = aggs_.create();
    kw.stale = false;
  }

  Values window_result(KeyWindows& kw) {
    if constexpr (kCombine == Combine::kRetract) {
      if (kw.stale) {
        kw.window = merge_range(kw, kw.lo, kw.hi);
        kw.stale = false;
      }
      return aggs_.result(kw.window);
    } else if constexpr (kCombine == Combine::kTwoStacks) {
      if (kw.stale) flip(kw);
      if (kw.lo == kw.mid) return aggs_.result(kw.window);
      if (kw.mid == kw.hi) return aggs_.result(kw.slices[kw.lo].suffix);
      Acc acc = kw.slices[kw.lo].suffix;
      aggs_.merge(acc, kw.window);
      return aggs_.result(acc);
    } else {
      return aggs_.result(merge_range(kw, kw.lo, kw.hi));
    }
  }

  Acc merge_range(const KeyWindows& kw, std::size_t from, std::size_t to) const {
    Acc acc = aggs_.create();
    for (std::size_t i = from; i < to; ++i) aggs_.merge(acc, kw.slices[i].acc);
    return acc;
  }

  /// The key's accumulator for window ending at `e`, merged from its
  /// slices; nullopt if it has none (the late path's view of a window).
  std::optional<Acc> merged_window(const KeyWindows& kw, Timestamp e) const {
    std::size_t i = kw.slices.lower_bound(e - grid_.size + 1);
    if (i == kw.slices.size() || kw.slices[i].end > e) return std::nullopt;
    std::size_t j = i;
    while (j < kw.slices.size() && kw.slices[j].end <= e) ++j;
    return merge_range(kw, i, j);
  }

  /// The key's slice ending at `end`, created if missing; and whether it
  /// lies in the window the key fired last (which must then be rebuilt).
  std::pair<S&, bool> slice_for(KeyWindows& kw, Timestamp end) {
    const bool in_window = kw.at != kMinTimestamp && end <= kw.at && end > kw.at - grid_.size;
    const std::size_t p = kw.slices.lower_bound(end);
    if (p < kw.slices.size() && kw.slices[p].end == end) return {kw.slices[p], in_window};
    S fresh{end, aggs_.create()};
    note_slice(end, +1);
    if (p == kw.slices.size()) return {kw.slices.push_back(std::move(fresh)), false};
    // Only late records insert before newer slices.
    if (kw.at != kMinTimestamp && end <= kw.at - grid_.size) {
      ++kw.lo;
      ++kw.mid;
      ++kw.hi;
    } else if (in_window) {
      if (p < kw.mid) ++kw.mid;
      ++kw.hi;
    }
    return {kw.slices.insert(p, std::move(fresh)), in_window};
  }

  void note_slice(Timestamp end, int delta) {
    if (delta > 0) {
      if (live_hint_ != live_.end() && live_hint_->first == end) {
        ++live_hint_->second;
      } else {
        live_hint_ = live_.try_emplace(end, 0).first;
        ++live_hint_->second;
      }
      return;
    }
    auto it = (live_hint_ != live_.end() && live_hint_->first == end) ? live_hint_ : live_.find(end);
    if (--it->second == 0) {
      if (it == live_hint_) live_hint_ = live_.end();
      live_.erase(it);
    }
  }

  // ---- late records ----

  /// `end`: the end of the record's slice (kMinTimestamp: none, see locate_slice).
  void on_late(Record<Keyed<K, T>>& r, Timestamp end) {
    Keyed<K, T>& k = r.value;
    late_into(
        k.key, k.key_group, k.key_hash, end, [&](Acc& acc) { add_value(aggs_, acc, std::as_const(k.value), r.ts_us); },
        [&] { send_late(std::move(k.value), r.ts_us); });
  }

  /// A partial for a closed slice: its records count as late, or go into
  /// the later windows that still hold the slice (sliding windows).
  void on_late_partial(Record<Keyed<K, Partial<Acc>>>& r, Timestamp end) {
    Keyed<K, Partial<Acc>>& k = r.value;
    late_into(
        k.key, k.key_group, k.key_hash, end, [&](Acc& acc) { aggs_.merge(acc, k.value.acc); },
        [&] { metrics_.late_records.add(k.value.records); });
  }

  /// Adds a late record (or partial) of slice `end` to the key's state with
  /// `add_to(acc)` and emits corrections, or calls `late()` if every window
  /// holding it is past its allowed lateness.
  template <class AddTo, class Late>
  void late_into(const K& key, std::uint32_t key_group, std::uint64_t hash, Timestamp end, AddTo add_to, Late late) {
    if (end == kMinTimestamp || grid_.last_window_end(end) - 1 + lateness_ <= watermark_) {
      late();
      return;
    }
    const Timestamp last = grid_.last_window_end(end);
    KeyWindows& kw = key_windows(key_group, key, hash);
    // Windows holding this record that already fired and still take corrections.
    const Timestamp from = std::max(grid_.first_window_end(end), grid_.ceil_window_end(watermark_ - lateness_ + 2));
    const Timestamp to = std::min(last, fired_until_);
    corrections_.clear();
    for (Timestamp e = from; e <= to; e += grid_.slide) corrections_.emplace_back(e, merged_window(kw, e));
    auto [s, in_window] = slice_for(kw, end);
    add_to(s.acc);
    if (in_window) kw.stale = true;
    for (auto& [e, old] : corrections_) {
      Values now = aggs_.result(*merged_window(kw, e));
      if (old) {
        emit(key, e, aggs_.result(*old), ChangeKind::kUpdateBefore);
        emit(key, e, std::move(now), ChangeKind::kUpdateAfter);
      } else {
        emit(key, e, std::move(now), ChangeKind::kInsert);
      }
    }
  }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: the operator's times (watermark_, fired_until_,
  // closed_until_), the group's entries of the open slices (end, key,
  // accumulator, by end), then its keys' closed slices and window state as
  // they are (partial merges included, so results stay bit-identical).

  void prepare_snapshot() const {
    // Open slices hold every key group in one table: sort them out once.
    snap_open_.assign(this->groups_.count(), {});
    for (const auto& [end, slice] : open_)
      slice.table.for_each([&](const K& key, const Acc& acc) {
        const std::uint32_t kg = key_group_of(hash_key(key), max_parallelism_);
        snap_open_[kg - groups_.first()].push_back(OpenEntry{end, &key, &acc});
      });
    // Incremental checkpoints: records go into the open slices unmarked (no
    // key group per record on the hot path), so a group holding open
    // entries counts as changed. Slices that close or windows that fire
    // mark their groups (key_windows, close_slices, scan).
    for (std::uint32_t i = 0; i < groups_.count(); ++i)
      if (!snap_open_[i].empty()) this->mark_changed(groups_.first() + i);
  }
  void finish_snapshot() const { snap_open_ = {}; }

 public:
  static constexpr bool kTracksChangedKeyGroups = true;

 private:
  std::array<Timestamp, 3> shared_times() const { return {watermark_, fired_until_, closed_until_}; }
  RestoredTimes<3>& restored_times() { return restored_; }

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      RestoredTimes<3>::write(w, {watermark_, fired_until_, closed_until_});
      const std::vector<OpenEntry>& open = snap_open_[kg - groups_.first()];
      w.write_varint(open.size());
      for (const OpenEntry& e : open) {
        w.write(e.end);
        w.write(*e.key);
        w.write(*e.acc);
      }
      const Table& t = groups_[kg];
      w.write_varint(t.size());
      t.for_each([&](const K& key, const KeyWindows& kw) {
        w.write(key);
        w.write_varint(kw.slices.size());
        for (std::size_t i = 0; i < kw.slices.size(); ++i) {
          const S& sl = kw.slices[i];
          w.write(sl.end);
          w.write(sl.acc);
          if constexpr (kCombine == Combine::kTwoStacks) w.write(sl.suffix);
        }
        w.write(kw.lo);
        w.write(kw.mid);
        w.write(kw.hi);
        w.write(kw.at);
        w.write(kw.stale);
        w.write(kw.window);
      });
      if (kg + 1 == groups_.first() + groups_.count()) snap_open_ = {};  // the last group: release the cache
    } else {
      throw GraphError(metrics_.name, "", "cannot checkpoint: its state holds " + unserializable_state());
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      const std::size_t times_at = r.offset();
      const auto times = restored_.read(r);
      // Where the times stop, the window arithmetic relies on the grid.
      const auto on_grid = [](Timestamp t, auto floor) {
        return t == kMinTimestamp || t == kMaxTimestamp || (t > -kWatermarkHorizon && t < kWatermarkHorizon && floor(t) == t);
      };
      if (!on_grid(times[1], [&](Timestamp t) { return grid_.floor_window_end(t); }) ||
          !on_grid(times[2], [&](Timestamp t) { return grid_.floor_slice_end(t); }))
        StateReader::fail(times_at, ReadContext::of<SlicingWindowOperator>("times"), "not on this window grid");
      const std::size_t n_open = r.read_count(ReadContext::of<OpenSlice>("entry count"), 3);
      for (std::size_t i = 0; i < n_open; ++i) {
        const std::size_t at = r.offset();
        const Timestamp end = r.read<Timestamp>();
        K key = r.read<K>();
        Acc acc = r.read<Acc>();
        check_key_group(at, key, kg);
        if (!is_slice_end(end)) StateReader::fail(at, ReadContext::of<OpenSlice>("end"), "not a slice end of this grid");
        auto [it, inserted] = open_.try_emplace(end);
        if (!it->second.table.try_emplace(key, std::move(acc)).second)
          StateReader::fail(at, ReadContext::of<OpenSlice>("entry"), "repeated key");
      }
      Table& t = groups_[kg];
      const std::size_t n_keys = r.read_count(ReadContext::of<Table>("key count"), 2);
      for (std::size_t i = 0; i < n_keys; ++i) {
        const std::size_t at = r.offset();
        K key = r.read<K>();
        check_key_group(at, key, kg);
        KeyWindows kw;
        const std::size_t n_slices = r.read_count(ReadContext::of<KeyWindows>("slice count"), 9);
        for (std::size_t j = 0; j < n_slices; ++j) {
          const std::size_t slice_at = r.offset();
          S sl{r.read<Timestamp>(), r.read<Acc>()};
          check_acc(sl.acc);
          if constexpr (kCombine == Combine::kTwoStacks) {
            sl.suffix = r.read<Acc>();
            check_acc(sl.suffix);
          }
          if (!is_slice_end(sl.end) || (j > 0 && kw.slices[j - 1].end >= sl.end))
            StateReader::fail(slice_at, ReadContext::of<KeyWindows>("slice end"),
                              "not a slice end of this grid, or not after the one before");
          kw.slices.push_back(std::move(sl));
        }
        const std::size_t idx_at = r.offset();
        kw.lo = r.read<std::uint32_t>();
        kw.mid = r.read<std::uint32_t>();
        kw.hi = r.read<std::uint32_t>();
        if (!(kw.lo <= kw.mid && kw.mid <= kw.hi && kw.hi <= kw.slices.size()))
          StateReader::fail(idx_at, ReadContext::of<KeyWindows>("slice positions"),
                            "lo " + std::to_string(kw.lo) + ", mid " + std::to_string(kw.mid) + ", hi " +
                                std::to_string(kw.hi) + " with " + std::to_string(kw.slices.size()) + " slices");
        kw.at = r.read<Timestamp>();
        kw.stale = r.read<bool>();
        kw.window = r.read<Acc>();
        check_acc(kw.window);
        if (!t.try_emplace(key, std::move(kw)).second)
          StateReader::fail(at, ReadContext::of<Table>("entry"), "repeated key");
      }
    }
  }

  void after_restore() {
    if (!restored_.any) return;
    watermark_ = restored_.times[0];
    fired_until_ = restored_.times[1];
    closed_until_ = restored_.times[2];
    live_.clear();
    for (const Table& t : groups_)
      t.for_each([&](const K&, const KeyWindows& kw) {
        for (std::size_t i = 0; i < kw.slices.size(); ++i) ++live_[kw.slices[i].end];
      });
    live_hint_ = live_.end();
  }

  /// Refuses a key that does not belong to key group `kg`: its state would
  /// be looked up in another group's table.
  void check_key_group(std::size_t at, const K& key, std::uint32_t kg) const {
    if (key_group_of(hash_key(key), max_parallelism_) != kg)
      StateReader::fail(at, ReadContext::of<K>(), "key of another key group than " + std::to_string(kg));
  }
  void check_acc(const Acc& acc) const {
    if constexpr (requires { aggs_.check_restored(acc); }) aggs_.check_restored(acc);
  }
  /// Whether `end` lies on the slice grid, within the range slice ends take.
  bool is_slice_end(Timestamp end) const {
    return end > -kWatermarkHorizon && end < kWatermarkHorizon && grid_.floor_slice_end(end) == end;
  }

  struct OpenEntry {
    Timestamp end;
    const K* key;
    const Acc* acc;
  };

  // ---- output ----

  void emit(const K& key, Timestamp e, Values values, ChangeKind kind) {
    out_buf_.push_back(Record<Out>{Out{key, TimeWindow{e - grid_.size, e}, std::move(values), kind}, e - 1});
  }

  Aggs aggs_;
  SliceGrid grid_;
  bool tumbling_;
  bool processing_time_;
  DurationUs lateness_;
  bool direct_;  // tumbling without lateness: a slice is emitted when it closes
  std::size_t max_parallelism_;  // key groups in all (key_group_of)

  Timestamp watermark_ = kMinTimestamp;
  Timestamp fired_until_ = kMinTimestamp;  // every window ending at or before this has fired
  Timestamp closed_until_ = kMinTimestamp;  // every slice ending at or before this has closed
  Timestamp slice_start_ = 0, slice_end_ = 0;  // the slice of the last record (a cache) ...
  OpenSlice* open_slice_ = nullptr;            // ... and its table, or nullptr if closed
  std::map<Timestamp, OpenSlice> open_;        // slice end -> open slice
  std::vector<AccTable> spare_;                // tables of closed slices, for reuse
  std::map<Timestamp, std::uint64_t> live_;    // slice end -> keys holding that slice
  typename std::map<Timestamp, std::uint64_t>::iterator live_hint_ = live_.end();
  std::vector<K> dead_keys_;
  std::vector<std::pair<Timestamp, std::optional<Acc>>> corrections_;
  mutable std::vector<std::vector<OpenEntry>> snap_open_;  // per local key group, during a snapshot
  RestoredTimes<3> restored_;  // watermark_, fired_until_, closed_until_ as read
};

template <class K, class T, class Aggs>
class WindowNode final : public Node {
  using Out = WindowResult<K, typename Aggs::result_type>;

 public:
  WindowNode(int in, int out, Aggs aggs, const TimeWindows& windows, const LateSettings& late)
      : Node("window", ""),
        in_(in),
        out_(out),
        aggs_(std::move(aggs)),
        settings_{windows, late.allowed_lateness_us, late.late_tag_id} {}
  bool has_side_outputs() const override { return true; }

  void instantiate(BuildContext& ctx) const override {
    const RunSettings& s = ctx.settings;
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    if (settings_.windows.emit.kind == EmitPolicy::Kind::kAtEnd) {
      using Op = SlicingWindowOperator<K, T, Aggs>;
      const KeyedOperatorSettings k = keyed_operator_settings<Op>(ctx, name());
      connect(ctx, ctx.make<Op>(aggs_, settings_, m, *s.clock, k.first_key_group, k.key_groups, s.max_parallelism,
                                s.batch_size, k.state));
    } else {
      using Op = PaneWindowOperator<K, T, Aggs>;
      const KeyedOperatorSettings k = keyed_operator_settings<Op>(ctx, name());
      connect(ctx, ctx.make<Op>(aggs_, settings_.windows, settings_.allowed_lateness_us, settings_.late_tag_id, m,
                                *s.clock, k.first_key_group, k.key_groups, s.batch_size, k.state));
    }
  }

 private:
  template <class Op>
  void connect(BuildContext& ctx, Op& op) const {
    make_side_outputs(ctx, op.sides());
    ctx.port<Keyed<K, T>>(in_).connect(&op);
    ctx.set_port<Out>(out_, op.output());
  }

  int in_, out_;
  Aggs aggs_;
  WindowSettings settings_;
};

template <class K, class T, class Aggs>
struct WindowNodeOf<K, T, Aggs, TimeWindows> {
  using type = WindowNode<K, T, Aggs>;
};

}  // namespace sluice::detail
