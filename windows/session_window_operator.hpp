// The window operator for session windows (windows/session_windows.hpp).
//
// State: per local key group a hash table key -> the key's sessions, a
// vector sorted by start. Sessions of one key never overlap or touch (those
// would have merged), so a record finds the sessions its window [ts, ts+gap)
// meets as one run of that vector; in-order input only looks at the last one.
// Each session holds one accumulator. When sessions merge, their
// accumulators are merged in time order (`from` later than `into`, as the
// aggregate contract asks) and then the record is added, like Flink, which
// merges window state before adding the element.
//
// Timers: one TimerQueue<K> of (key, time). A session keeps the time of the
// pending timer that will look at it; that may be earlier than when it is due
// (a session that grew keeps its old timer, so in-order records register no
// new one): when it fires and the session is not due yet, it is registered
// again at the due time, within the same pass, so sessions still fire in
// increasing end order. Timers of sessions that merged away or were evicted
// find nothing and are ignored.
//
// Event time, watermark W, allowed lateness L, per key:
//   - a session fires (kInsert, record timestamp end - 1) once W >= end - 1,
//     and is dropped once W >= end - 1 + L; a key without sessions is erased;
//   - a record merges with every retained session its window meets. If it
//     meets none and ts + gap - 1 + L <= W, it is late: it goes to the late
//     side output (if set) and is counted in late_records, and changes
//     nothing. Otherwise:
//       * it lands inside one session, bounds unchanged: if that session has
//         fired, kUpdateBefore (old values) and kUpdateAfter (new values);
//       * bounds change (a new session, a session grows, or sessions are
//         bridged): kDelete (last values) for every absorbed session that had
//         fired, then kInsert for the result now if its end - 1 <= W (it then
//         counts as fired), else it fires later as usual;
//   - with_max_sessions(n): after a record, while the key holds more than n
//     sessions, the one with the smallest start (possibly the record's own)
//     fires now if it has not fired, and is dropped. Records later falling
//     into its span open a new session (or are late). evicted_sessions()
//     counts these.
// Processing time: records take the clock's time (at least one microsecond
// past the time the operator fired up to) for the session they open; the
// aggregates still see the record's own timestamp, as in the slicing
// operator. Sessions fire when the clock reaches end - 1, and all at end of
// input; there are no late records. Timestamps near the top of the range
// saturate: a window ends at most at kMaxTimestamp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/metrics.hpp"
#include "streaming/side_output.hpp"
#include "streaming/stream.hpp"
#include "streaming/timer_service.hpp"
#include "windows/aggregate.hpp"
#include "windows/session_windows.hpp"
#include "windows/window.hpp"
#include "windows/window_operator.hpp"

namespace sluice::detail {

struct SessionSettings {
  SessionWindows windows;
  DurationUs allowed_lateness_us = 0;
  std::uint64_t late_tag_id = 0;  ///< 0: late records are only counted
};

/// One session of a key.
template <class Acc>
struct KeySession {
  Timestamp start;
  Timestamp end;
  Timestamp timer;  // the pending timer that will look at this session (kNoTimer: none)
  bool fired;
  Acc acc;
};

/// The session operator's state of one key group: key -> its sessions, by
/// start; never overlapping or touching.
template <class K, class Aggs>
using SessionTable = FlatHashMap<K, std::vector<KeySession<typename Aggs::acc_type>>>;

template <class K, class T, class Aggs>
class SessionWindowOperator final
    : public KeyedOperatorBase<SessionWindowOperator<K, T, Aggs>, Input<Keyed<K, T>>,
                               WindowResult<K, typename Aggs::result_type>, SessionTable<K, Aggs>> {
  using Base = KeyedOperatorBase<SessionWindowOperator, Input<Keyed<K, T>>,
                                 WindowResult<K, typename Aggs::result_type>, SessionTable<K, Aggs>>;
  friend Base;
  using Base::clock_, Base::flush, Base::flush_if_full, Base::groups_, Base::metrics_, Base::out_buf_, Base::send_late;
  using Acc = typename Aggs::acc_type;
  using Values = typename Aggs::result_type;
  using Out = WindowResult<K, Values>;

  static constexpr Timestamp kNoTimer = kMinTimestamp;  // pending timers are always > the watermark

  using Session = KeySession<Acc>;
  using Sessions = std::vector<Session>;  // by start; never overlapping or touching
  using Table = SessionTable<K, Aggs>;

 public:
  SessionWindowOperator(Aggs aggs, const SessionSettings& s, OperatorMetrics& metrics, const Clock& clock,
                        std::uint32_t first_kg, std::uint32_t kg_count, std::size_t batch_size,
                        OperatorState* state = nullptr)
      : Base(metrics, clock, {first_kg, kg_count, batch_size, s.late_tag_id, state}),
        aggs_(std::move(aggs)),
        gap_(s.windows.gap_us),
        processing_time_(s.windows.time == WindowTime::kProcessingTime),
        lateness_(processing_time_ ? 0 : s.allowed_lateness_us),
        max_sessions_(s.windows.max_sessions ? static_cast<std::size_t>(*s.windows.max_sessions) : 0) {}

  void push(Batch<Keyed<K, T>>& batch) override {
    const std::size_t n = batch.size();
    // Processing time: records take the clock's time, but come after the
    // time sessions have fired up to (a record arriving in the microsecond
    // the clock fired is placed one microsecond later), so a session opened
    // now never overlaps one already emitted.
    const Timestamp now =
        processing_time_ ? std::max(clock_.now_us(), time_ == kMinTimestamp ? time_ : saturating_add(time_, 1)) : 0;
    Record<Keyed<K, T>>* records = batch.data();
    for (std::size_t i = 0; i < n; ++i) {
      add(records[i], processing_time_ ? now : records[i].ts_us);
      flush_if_full();
    }
    metrics_.records_in.add(n);
    flush();
  }

  /// The first type of the state without a Serde ("" if none): such an
  /// operator cannot be checkpointed.
  static std::string unserializable_state() { return first_unserializable<K, Acc>(); }

  /// Keys holding at least one session (for tests and metrics).
  std::size_t key_count() const {
    std::size_t n = 0;
    for (const Table& t : groups_) n += t.size();
    return n;
  }
  /// Sessions held, over all keys (for tests and metrics; O(keys)).
  std::size_t session_count() const {
    std::size_t n = 0;
    for (const Table& t : groups_) t.for_each([&](const K&, const Sessions& s) { n += s.size(); });
    return n;
  }
  /// Sessions dropped early to keep a key within with_max_sessions(n).
  std::uint64_t evicted_sessions() const { return evicted_; }

 private:
  // ---- time (the base's hooks) ----
  void on_event_time(Timestamp watermark) {
    if (!processing_time_) advance_to(watermark);
  }
  void on_end_of_input() { advance_to(kMaxTimestamp); }  // every session still open fires
  void on_processing_time_tick(Timestamp now) {
    if (processing_time_) advance_to(now);
  }

  Table& table(std::uint32_t key_group) { return groups_[key_group]; }

  /// Whether time `t` is at or behind what the operator has fired up to.
  bool reached(Timestamp t) const { return time_ != kMinTimestamp && t <= time_; }

  Timestamp cleanup_time(const Session& s) const { return saturating_add(s.end - 1, lateness_); }

  // ---- records ----

  void add(Record<Keyed<K, T>>& r, Timestamp ts) {
    Keyed<K, T>& k = r.value;
    const Timestamp end = saturating_add(ts, gap_);
    Table& t = table(k.key_group);
    Sessions* list = t.find_hashed(k.key, k.key_hash);

    // The run [lo, hi) of sessions that [ts, end) meets.
    std::size_t lo = 0, hi = 0;
    if (list != nullptr) {
      Sessions& v = *list;
      hi = v.size();
      while (hi > 0 && v[hi - 1].start > end) --hi;  // in-order input: no step
      lo = hi;
      while (lo > 0 && v[lo - 1].end >= ts) --lo;  // usually one step
    }

    if (lo == hi) {
      if (reached(saturating_add(end - 1, lateness_))) {
        on_late(r);
        return;
      }
      if (list == nullptr) list = t.try_emplace_hashed(k.key, k.key_hash).first;
      Sessions& v = *list;
      Session& s = *v.insert(v.begin() + static_cast<std::ptrdiff_t>(lo),
                             Session{ts, end, kNoTimer, false, aggs_.create()});
      add_value(aggs_, s.acc, std::as_const(k.value), r.ts_us);
      settle(k.key, k.key_group, s);
      if (max_sessions_ != 0 && v.size() > max_sessions_) evict(k.key, v);
      return;
    }

    Sessions& v = *list;
    if (hi - lo == 1 && v[lo].start <= ts && end <= v[lo].end) {
      // Inside one session: its bounds stay.
      Session& s = v[lo];
      if (!s.fired) {
        add_value(aggs_, s.acc, std::as_const(k.value), r.ts_us);
        return;
      }
      Values old = aggs_.result(s.acc);
      add_value(aggs_, s.acc, std::as_const(k.value), r.ts_us);
      emit(k.key, s.start, s.end, std::move(old), ChangeKind::kUpdateBefore);
      emit(k.key, s.start, s.end, aggs_.result(s.acc), ChangeKind::kUpdateAfter);
      return;
    }

    // The bounds change: sessions [lo, hi) and the record's window become one.
    Session& m = v[lo];
    if (m.fired) emit(k.key, m.start, m.end, aggs_.result(m.acc), ChangeKind::kDelete);
    m.fired = false;
    m.start = std::min(m.start, ts);
    for (std::size_t i = lo + 1; i < hi; ++i) {
      Session& s = v[i];
      if (s.fired) emit(k.key, s.start, s.end, aggs_.result(s.acc), ChangeKind::kDelete);
      aggs_.merge(m.acc, s.acc);
      if (s.timer != kNoTimer && (m.timer == kNoTimer || s.timer < m.timer)) m.timer = s.timer;
    }
    m.end = std::max(v[hi - 1].end, end);
    add_value(aggs_, m.acc, std::as_const(k.value), r.ts_us);
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(lo + 1), v.begin() + static_cast<std::ptrdiff_t>(hi));
    settle(k.key, k.key_group, v[lo]);
  }

  /// A session that is new or changed bounds (not fired): fires it now if
  /// the watermark is past its end, and makes sure a timer will look at it.
  void settle(const K& key, std::uint32_t key_group, Session& s) {
    if (reached(s.end - 1)) {
      emit(key, s.start, s.end, aggs_.result(s.acc), ChangeKind::kInsert);
      s.fired = true;
      schedule(key, key_group, s, cleanup_time(s));  // > the watermark: s is not late
    } else {
      schedule(key, key_group, s, s.end - 1);
    }
  }

  /// Makes sure a timer at or before `due` will look at `s`.
  void schedule(const K& key, std::uint32_t key_group, Session& s, Timestamp due) {
    if (s.timer != kNoTimer && s.timer <= due) return;
    timers_.add(key, key_group, due);
    s.timer = due;
  }

  void evict(const K& key, Sessions& v) {
    while (v.size() > max_sessions_) {
      Session& s = v.front();
      if (!s.fired) emit(key, s.start, s.end, aggs_.result(s.acc), ChangeKind::kInsert);
      v.erase(v.begin());
      ++evicted_;
    }
  }

  void on_late(Record<Keyed<K, T>>& r) {
    send_late(std::move(r.value.value), r.ts_us);
  }

  // ---- time ----

  /// Fires every session with end - 1 <= `time`, in increasing end, and
  /// drops those whose cleanup time it reaches.
  void advance_to(Timestamp time) {
    if (time == kMinTimestamp || time <= time_) return;
    time_ = time;
    timers_.advance(time, [&](const Timer<K>& t) {
      on_timer(t);
      flush_if_full();
    });
    flush();
  }

  void on_timer(const Timer<K>& t) {
    Table& tab = table(t.key_group);
    const std::uint64_t hash = hash_key(t.key);
    Sessions* list = tab.find_hashed(t.key, hash);
    if (list == nullptr) return;  // stale: the key's sessions are gone
    Sessions& v = *list;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      Session& s = v[i];
      bool keep = true;
      if (s.timer == t.ts_us) {
        s.timer = kNoTimer;
        if (!s.fired && s.end - 1 <= t.ts_us) {
          emit(t.key, s.start, s.end, aggs_.result(s.acc), ChangeKind::kInsert);
          s.fired = true;
        }
        if (!s.fired) {
          schedule(t.key, t.key_group, s, s.end - 1);
        } else if (cleanup_time(s) <= time_) {
          keep = false;
        } else {
          schedule(t.key, t.key_group, s, cleanup_time(s));
        }
      }
      if (keep) {
        if (kept != i) v[kept] = std::move(s);
        ++kept;
      }
    }
    v.erase(v.begin() + static_cast<std::ptrdiff_t>(kept), v.end());
    if (v.empty()) tab.erase(t.key);
  }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: time_, its keys' sessions as they are (with the
  // time of the timer each waits for), then its timers.

  void prepare_snapshot() const { timers_by_key_group(timers_, groups_.first(), groups_.count(), snap_timers_); }

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      RestoredTimes<1>::write(w, {time_});
      const Table& t = groups_[kg];
      w.write_varint(t.size());
      t.for_each([&](const K& key, const Sessions& v) {
        w.write(key);
        w.write_varint(v.size());
        for (const Session& ses : v) {
          w.write(ses.start);
          w.write(ses.end);
          w.write(ses.timer);
          w.write(ses.fired);
          w.write(ses.acc);
        }
      });
      write_key_group_timers(w, snap_timers_[kg - groups_.first()]);
      if (kg + 1 == groups_.first() + groups_.count()) snap_timers_ = {};  // the last group: release the cache
    } else {
      throw GraphError(metrics_.name, "", "cannot checkpoint: its state holds " + unserializable_state());
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      restored_.read(r);
      Table& t = groups_[kg];
      const std::size_t n_keys = r.read_count(ReadContext::of<Table>("key count"), 2);
      for (std::size_t i = 0; i < n_keys; ++i) {
        const std::size_t at = r.offset();
        K key = r.read<K>();
        Sessions v;
        const std::size_t n = r.read_count(ReadContext::of<Sessions>("session count"), 8 * 3 + 1);
        for (std::size_t j = 0; j < n; ++j) {
          const std::size_t ses_at = r.offset();
          Session ses{r.read<Timestamp>(), r.read<Timestamp>(), r.read<Timestamp>(), r.read<bool>(),
                      r.read<Acc>()};  // braced: read in order
          if constexpr (requires { aggs_.check_restored(ses.acc); }) aggs_.check_restored(ses.acc);
          // By start, never overlapping or touching: what the search in add() relies on.
          if (ses.start > ses.end || (!v.empty() && v.back().end >= ses.start))
            StateReader::fail(ses_at, ReadContext::of<Session>("bounds"), "sessions overlap or are out of order");
          v.push_back(std::move(ses));
        }
        if (!t.try_emplace(key, std::move(v)).second)
          StateReader::fail(at, ReadContext::of<Table>("entry"), "repeated key");
      }
      restored_timers_.read(r, kg);
    }
  }

  void after_restore() {
    if (!restored_.any) return;
    time_ = restored_.times[0];
    if constexpr (Serializable<K>) restored_timers_.restore_into(timers_);
  }

  // ---- output ----

  void emit(const K& key, Timestamp start, Timestamp end, Values values, ChangeKind kind) {
    out_buf_.push_back(Record<Out>{Out{key, TimeWindow{start, end}, std::move(values), kind}, end - 1});
  }

  Aggs aggs_;
  DurationUs gap_;
  bool processing_time_;
  DurationUs lateness_;
  std::size_t max_sessions_;  // 0: unbounded

  Timestamp time_ = kMinTimestamp;  // the watermark (or processing time) sessions have fired up to
  TimerQueue<K> timers_;
  std::uint64_t evicted_ = 0;
  mutable std::vector<std::vector<SavedTimer<const K*>>> snap_timers_;  // per local key group, during a snapshot
  RestoredTimes<1> restored_;                                          // time_ as read
  std::conditional_t<Serializable<K>, RestoredTimers<K>, char> restored_timers_{};
};

template <class K, class T, class Aggs>
class SessionWindowNode final : public Node {
  using Out = WindowResult<K, typename Aggs::result_type>;

 public:
  SessionWindowNode(int in, int out, Aggs aggs, const SessionWindows& windows, const LateSettings& late)
      : Node("window", ""),
        in_(in),
        out_(out),
        aggs_(std::move(aggs)),
        settings_{windows, late.allowed_lateness_us, late.late_tag_id} {}
  bool has_side_outputs() const override { return true; }

  void instantiate(BuildContext& ctx) const override {
    using Op = SessionWindowOperator<K, T, Aggs>;
    const RunSettings& s = ctx.settings;
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    const KeyedOperatorSettings k = keyed_operator_settings<Op>(ctx, name());
    auto& op = ctx.make<Op>(aggs_, settings_, m, *s.clock, k.first_key_group, k.key_groups, s.batch_size, k.state);
    make_side_outputs(ctx, op.sides());
    ctx.port<Keyed<K, T>>(in_).connect(&op);
    ctx.set_port<Out>(out_, op.output());
  }

 private:
  int in_, out_;
  Aggs aggs_;
  SessionSettings settings_;
};

template <class K, class T, class Aggs>
struct WindowNodeOf<K, T, Aggs, SessionWindows> {
  using type = SessionWindowNode<K, T, Aggs>;
};

}  // namespace sluice::detail
