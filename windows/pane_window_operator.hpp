// The window operator for time windows that emit before their end
// (early firing every interval or every N records, or after every record).
//
// Such windows emit per window, so this operator keeps one accumulator per
// key and window (a "pane", as Flink's WindowOperator does) instead of per
// slice: a record is added to each of the size/slide windows holding it.
// That cost is inherent: with a per-record trigger, every one of those
// windows emits. Windows that only fire at their end use the slicing
// operator (window_operator.hpp), whose cost per record does not grow with
// size/slide.
//
// Emission is a changelog per (key, window): the first result is kInsert;
// later ones are kUpdateBefore (the previous values) + kUpdateAfter, and a
// trigger whose window did not change emits nothing. Late records follow
// the same rules as in the slicing operator: within the allowed lateness
// every fired window holding them emits a correction right away; beyond it
// they go to the late output and are counted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/metrics.hpp"
#include "streaming/side_output.hpp"
#include "streaming/stream.hpp"
#include "windows/aggregate.hpp"
#include "windows/assigners.hpp"
#include "windows/detail/slicing.hpp"
#include "windows/window.hpp"

namespace sluice::detail {

/// One key's window in the pane operator.
template <class Acc, class Values>
struct WindowPane {
  Acc acc;
  std::optional<Values> emitted;  // what this window emitted last
  std::uint64_t since = 0;        // records added since it last emitted (early count)
  bool fired = false;             // its end has passed
  bool dirty = false;             // changed since it last emitted (early interval)
};

/// The pane operator's state of one key group: key -> window end -> pane.
template <class K, class Aggs>
using PaneTable = FlatHashMap<K, std::map<Timestamp, WindowPane<typename Aggs::acc_type, typename Aggs::result_type>>>;

template <class K, class T, class Aggs>
class PaneWindowOperator final
    : public KeyedOperatorBase<PaneWindowOperator<K, T, Aggs>, Input<Keyed<K, T>>,
                               WindowResult<K, typename Aggs::result_type>, PaneTable<K, Aggs>> {
  using Base = KeyedOperatorBase<PaneWindowOperator, Input<Keyed<K, T>>, WindowResult<K, typename Aggs::result_type>,
                                 PaneTable<K, Aggs>>;
  friend Base;
  using Base::clock_, Base::flush, Base::flush_if_full, Base::groups_, Base::metrics_, Base::out_buf_, Base::send_late;
  using Acc = typename Aggs::acc_type;
  using Values = typename Aggs::result_type;
  using Out = WindowResult<K, Values>;
  using Pane = WindowPane<Acc, Values>;
  using Panes = std::map<Timestamp, Pane>;  // window end -> pane
  using Table = PaneTable<K, Aggs>;

 public:
  PaneWindowOperator(Aggs aggs, const TimeWindows& windows, DurationUs lateness, std::uint64_t late_tag,
                     OperatorMetrics& metrics, const Clock& clock, std::uint32_t first_kg, std::uint32_t kg_count,
                     std::size_t batch_size, OperatorState* state = nullptr)
      : Base(metrics, clock, {first_kg, kg_count, batch_size, late_tag, state}),
        aggs_(std::move(aggs)),
        grid_(windows),
        policy_(windows.emit),
        processing_time_(windows.time == WindowTime::kProcessingTime),
        lateness_(lateness) {}

  void push(Batch<Keyed<K, T>>& batch) override {
    // Processing time: records take the clock's time, but never a time whose
    // windows have already fired.
    const Timestamp now =
        processing_time_ ? std::max(clock_.now_us(), time_ == kMinTimestamp ? time_ : saturating_add(time_, 1)) : 0;
    for (Record<Keyed<K, T>>& r : batch) add(r, processing_time_ ? now : r.ts_us);
    metrics_.records_in.add(batch.size());
    flush();
  }

  /// The first type of the state without a Serde ("" if none): such an
  /// operator cannot be checkpointed.
  static std::string unserializable_state() { return first_unserializable<K, Acc, Values>(); }

  /// Keys holding window state (for tests and metrics).
  std::size_t key_count() const {
    std::size_t n = 0;
    for (const Table& t : groups_) n += t.size();
    return n;
  }

 private:
  // ---- time (the base's hooks) ----
  void on_event_time(Timestamp watermark) {
    if (!processing_time_) advance_to(watermark);
  }
  void on_end_of_input() {
    if (processing_time_) advance_to(kMaxTimestamp);
  }
  void on_processing_time_tick(Timestamp now) {
    if (processing_time_) advance_to(now);
    if (policy_.kind == EmitPolicy::Kind::kEarlyInterval) {
      if (next_early_ == kMinTimestamp) next_early_ = now + policy_.interval_us;
      if (now >= next_early_) {
        early_fire();
        next_early_ = now + policy_.interval_us;
      }
    }
  }

  void add(Record<Keyed<K, T>>& r, Timestamp ts) {
    Keyed<K, T>& k = r.value;
    Panes* panes = nullptr;
    bool taken = false;
    // Outside the valid range no window can hold it (nor be computed without
    // overflow; see windows/detail/slicing.hpp): late, counted.
    if (!is_valid_timestamp(ts)) [[unlikely]] {
      send_late(std::move(k.value), r.ts_us);
      return;
    }
    // The windows holding ts end in [ts + 1, ts + size].
    for (Timestamp e = grid_.ceil_window_end(ts + 1); e <= ts + grid_.size; e += grid_.slide) {
      if (!processing_time_ && e - 1 + lateness_ <= time_) continue;  // closed
      taken = true;
      if (panes == nullptr) panes = &*groups_[k.key_group].try_emplace_hashed(k.key, k.key_hash).first;
      auto [it, created] = panes->try_emplace(e);
      Pane& p = it->second;
      if (created) {
        p.acc = aggs_.create();
        p.fired = e - 1 <= time_;  // a late record's window whose end already passed
        live_.insert(e);
        if (!p.fired) unfired_.insert(e);
      }
      add_value(aggs_, p.acc, std::as_const(k.value), r.ts_us);
      if (p.fired) {
        emit_update(k.key, e, p, /*always=*/true);  // a late correction
        continue;
      }
      switch (policy_.kind) {
        case EmitPolicy::Kind::kEveryElement:
          emit_update(k.key, e, p, false);
          break;
        case EmitPolicy::Kind::kEarlyCount:
          if (++p.since >= policy_.count) emit_update(k.key, e, p, false);
          break;
        case EmitPolicy::Kind::kEarlyInterval:
          p.dirty = true;
          break;
        case EmitPolicy::Kind::kAtEnd:
          break;
      }
    }
    if (!taken) send_late(std::move(k.value), r.ts_us);
  }

  /// Emits the pane's current result: kInsert the first time, else -U/+U;
  /// unless it equals what was emitted last and `always` is false.
  void emit_update(const K& key, Timestamp e, Pane& p, bool always) {
    Values v = aggs_.result(p.acc);
    p.since = 0;
    p.dirty = false;
    if (!p.emitted) {
      emit(key, e, v, ChangeKind::kInsert);
    } else {
      if constexpr (std::equality_comparable<Values>) {
        if (!always && v == *p.emitted) return;
      }
      emit(key, e, *p.emitted, ChangeKind::kUpdateBefore);
      emit(key, e, v, ChangeKind::kUpdateAfter);
    }
    p.emitted = std::move(v);
  }

  void advance_to(Timestamp time) {
    time = clamp_watermark(time);
    if (time <= time_) return;
    time_ = time;
    while (!unfired_.empty() && *unfired_.begin() - 1 <= time) {
      const Timestamp e = *unfired_.begin();
      each_pane(e, [&](const K& key, Pane& p) {
        p.fired = true;
        emit_update(key, e, p, false);
      });
      unfired_.erase(unfired_.begin());
    }
    while (!live_.empty() && *live_.begin() - 1 + lateness_ <= time) {
      const Timestamp e = *live_.begin();
      for (Table& t : groups_) {
        t.for_each([&](const K& key, Panes& panes) {
          panes.erase(e);
          if (panes.empty()) dead_keys_.push_back(key);
        });
        for (const K& k : dead_keys_) t.erase(k);
        dead_keys_.clear();
      }
      live_.erase(live_.begin());
    }
    flush();
  }

  void early_fire() {
    for (Table& t : groups_) {
      t.for_each([&](const K& key, Panes& panes) {
        for (auto& [e, p] : panes)
          if (!p.fired && p.dirty) emit_update(key, e, p, false);
      });
      flush_if_full();
    }
    flush();
  }

  template <class F>
  void each_pane(Timestamp e, F&& f) {
    for (Table& t : groups_) {
      t.for_each([&](const K& key, Panes& panes) {
        auto it = panes.find(e);
        if (it != panes.end()) f(key, it->second);
      });
      flush_if_full();
    }
  }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: time_ and next_early_, then every pane of its
  // keys as it is (what it emitted last included, for the changelog).
  // unfired_ and live_ are rebuilt from the panes.

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K> && Serializable<Acc> && Serializable<Values>) {
      RestoredTimes<2>::write(w, {time_, next_early_});
      const Table& t = groups_[kg];
      w.write_varint(t.size());
      t.for_each([&](const K& key, const Panes& panes) {
        w.write(key);
        w.write_varint(panes.size());
        for (const auto& [e, p] : panes) {
          w.write(e);
          w.write(p.acc);
          w.write(p.emitted);
          w.write(p.since);
          w.write(p.fired);
          w.write(p.dirty);
        }
      });
    } else {
      throw GraphError(metrics_.name, "", "cannot checkpoint: its state holds " + unserializable_state());
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K> && Serializable<Acc> && Serializable<Values>) {
      restored_.read(r);
      Table& t = groups_[kg];
      const std::size_t n_keys = r.read_count(ReadContext::of<Table>("key count"), 2);
      for (std::size_t i = 0; i < n_keys; ++i) {
        const std::size_t at = r.offset();
        K key = r.read<K>();
        Panes panes;
        const std::size_t n = r.read_count(ReadContext::of<Panes>("pane count"), 8 + 1 + 8 + 2);
        for (std::size_t j = 0; j < n; ++j) {
          const std::size_t pane_at = r.offset();
          const Timestamp e = r.read<Timestamp>();
          Pane p;
          p.acc = r.read<Acc>();
          p.emitted = r.read<std::optional<Values>>();
          p.since = r.read<std::uint64_t>();
          p.fired = r.read<bool>();
          p.dirty = r.read<bool>();
          if constexpr (requires { aggs_.check_restored(p.acc); }) aggs_.check_restored(p.acc);
          if (e > -kWatermarkHorizon && e < kWatermarkHorizon && grid_.floor_window_end(e) == e) {
            if (!panes.try_emplace(e, std::move(p)).second)
              StateReader::fail(pane_at, ReadContext::of<Panes>("pane"), "repeated window end");
          } else {
            StateReader::fail(pane_at, ReadContext::of<Panes>("window end"), "not a window end of this grid");
          }
        }
        if (!t.try_emplace(key, std::move(panes)).second)
          StateReader::fail(at, ReadContext::of<Table>("entry"), "repeated key");
      }
    }
  }

  void after_restore() {
    if (!restored_.any) return;
    time_ = restored_.times[0];
    next_early_ = restored_.times[1];
    for (const Table& t : groups_)
      t.for_each([&](const K&, const Panes& panes) {
        for (const auto& [e, p] : panes) {
          live_.insert(e);
          if (!p.fired) unfired_.insert(e);
        }
      });
  }

  void emit(const K& key, Timestamp e, Values values, ChangeKind kind) {
    out_buf_.push_back(Record<Out>{Out{key, TimeWindow{e - grid_.size, e}, std::move(values), kind}, e - 1});
  }

  Aggs aggs_;
  SliceGrid grid_;
  EmitPolicy policy_;
  bool processing_time_;
  DurationUs lateness_;

  Timestamp time_ = kMinTimestamp;        // watermark (or clock) the windows have been fired to
  Timestamp next_early_ = kMinTimestamp;  // next early firing (processing time)
  std::set<Timestamp> unfired_;  // ends of windows with panes whose end has not passed
  std::set<Timestamp> live_;     // ends of windows with panes held (until end + lateness)
  std::vector<K> dead_keys_;
  RestoredTimes<2> restored_;  // time_, next_early_ as read
};

}  // namespace sluice::detail
