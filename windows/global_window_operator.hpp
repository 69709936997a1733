// The window operator for global windows with a trigger
// (windows/global_windows.hpp, windows/triggers.hpp).
//
// State is per local key group: key -> the accumulator of its window, the
// trigger's state and the values it emitted last (for the changelog). A
// record costs one hash lookup, one `add` and one on_element call. A purge
// erases the key's entry (a new one starts as state_type{} with an empty
// accumulator), so a trigger that purges keeps no state for quiet keys.
// Timers live in two TimerQueues (event and processing time), per key and
// timestamp; the key's entry is looked up when one fires.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/metrics.hpp"
#include "streaming/stream.hpp"
#include "streaming/timer_service.hpp"
#include "windows/aggregate.hpp"
#include "windows/global_windows.hpp"
#include "windows/triggers.hpp"
#include "windows/window.hpp"
#include "windows/window_operator.hpp"

namespace sluice::detail {

/// Whether every element of tuple V has == (std::tuple's own == is not
/// constrained, so std::equality_comparable<std::tuple<...>> says too much).
template <class V>
struct ValuesComparable : std::bool_constant<std::equality_comparable<V>> {};
template <class... E>
struct ValuesComparable<std::tuple<E...>> : std::bool_constant<(ValuesComparable<E>::value && ...)> {};
template <class E>
struct ValuesComparable<std::vector<E>> : ValuesComparable<E> {};

/// A key's state in the global window operator; State: the trigger's.
template <class Aggs, class State>
struct GlobalKeyState {
  explicit GlobalKeyState(const Aggs& aggs) : acc(aggs.create()) {}
  typename Aggs::acc_type acc;
  bool has_records = false;                              // a record since the start or the last purge
  State state{};                                         // the trigger's
  std::optional<typename Aggs::result_type> emitted;  // values of the last firing since the last purge
};

/// The global window operator's state of one key group.
template <class K, class Aggs, class Trigger>
using GlobalTable = FlatHashMap<K, GlobalKeyState<Aggs, typename Trigger::state_type>>;

template <class K, class T, class Aggs, class Trigger>
class GlobalWindowOperator final
    : public KeyedOperatorBase<GlobalWindowOperator<K, T, Aggs, Trigger>, Input<Keyed<K, T>>,
                               WindowResult<K, typename Aggs::result_type>, GlobalTable<K, Aggs, Trigger>>,
      private TriggerTimers {
  using Base = KeyedOperatorBase<GlobalWindowOperator, Input<Keyed<K, T>>, WindowResult<K, typename Aggs::result_type>,
                                 GlobalTable<K, Aggs, Trigger>>;
  friend Base;
  using Base::flush, Base::flush_if_full, Base::groups_, Base::metrics_, Base::out_buf_;
  using Acc = typename Aggs::acc_type;
  using Values = typename Aggs::result_type;
  using Out = WindowResult<K, Values>;
  using State = typename Trigger::state_type;
  static constexpr bool kComparable = ValuesComparable<Values>::value;
  using KeyState = GlobalKeyState<Aggs, State>;
  using Table = GlobalTable<K, Aggs, Trigger>;

 public:
  GlobalWindowOperator(Aggs aggs, const GlobalWindows<Trigger>& spec, OperatorMetrics& metrics, const Clock& clock,
                       std::uint32_t first_kg, std::uint32_t kg_count, std::size_t batch_size,
                       OperatorState* state = nullptr)
      : Base(metrics, clock, {first_kg, kg_count, batch_size, 0, state}),
        aggs_(std::move(aggs)),
        trigger_(spec.trigger_fn),
        ctx_(*this, clock) {}

  void push(Batch<Keyed<K, T>>& batch) override {
    const std::size_t n = batch.size();
    Record<Keyed<K, T>>* records = batch.data();
    constexpr std::size_t kAhead = 8;
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {
        const Keyed<K, T>& ahead = records[i + kAhead].value;
        table(ahead.key_group).prefetch(ahead.key_hash);
      }
      Record<Keyed<K, T>>& r = records[i];
      Keyed<K, T>& k = r.value;
      KeyState& ks = *table(k.key_group).try_emplace_hashed(k.key, k.key_hash, aggs_).first;
      add_value(aggs_, ks.acc, std::as_const(k.value), r.ts_us);
      ks.has_records = true;
      set_key(k.key, k.key_group, ks);
      const TriggerResult res = trigger_.on_element(std::as_const(k.value), r.ts_us, ctx_);
      apply(res, ks, r.ts_us);
    }
    metrics_.records_in.add(n);
    flush();
  }

  /// The first type of the state without a Serde ("" if none): such an
  /// operator cannot be checkpointed.
  static std::string unserializable_state() { return first_unserializable<K, Acc, State, Values>(); }

  /// Keys holding state (for tests and metrics; O(key groups)).
  std::size_t key_count() const {
    std::size_t n = 0;
    for (const Table& t : groups_) n += t.size();
    return n;
  }
  /// Pending timers (event time, processing time).
  std::pair<std::size_t, std::size_t> timer_count() const { return {event_timers_.size(), processing_timers_.size()}; }

 private:
  // ---- time (the base's hooks) ----
  void on_event_time(Timestamp watermark) {
    if (watermark > ctx_.watermark_) {
      ctx_.watermark_ = watermark;
      fire_timers(event_timers_, watermark, /*event_time=*/true);
    }
  }
  void on_processing_time_tick(Timestamp now) { fire_timers(processing_timers_, now, /*event_time=*/false); }

  Table& table(std::uint32_t key_group) { return groups_[key_group]; }

  void set_key(const K& key, std::uint32_t key_group, KeyState& ks) {
    key_ = &key;
    key_group_ = key_group;
    ctx_.state_ = &ks.state;
  }

  void fire_timers(TimerQueue<K>& timers, Timestamp until, bool event_time) {
    const std::size_t fired = timers.advance(until, [&](const Timer<K>& t) {
      const std::uint64_t hash = hash_key(t.key);
      auto [ks, inserted] = table(t.key_group).try_emplace_hashed(t.key, hash, aggs_);
      set_key(t.key, t.key_group, *ks);
      TriggerResult res = TriggerResult::kContinue;
      if (event_time) {
        if constexpr (requires(Trigger& tr, TriggerContext<State>& c) {
                        { tr.on_event_time(Timestamp{}, c) } -> std::same_as<TriggerResult>;
                      })
          res = trigger_.on_event_time(t.ts_us, ctx_);
      } else {
        if constexpr (requires(Trigger& tr, TriggerContext<State>& c) {
                        { tr.on_processing_time(Timestamp{}, c) } -> std::same_as<TriggerResult>;
                      })
          res = trigger_.on_processing_time(t.ts_us, ctx_);
      }
      if (!apply(res, *ks, t.ts_us)) return;  // purged: the entry is gone
      // A key that only a timer brought back, and that kept nothing, goes again.
      if constexpr (std::equality_comparable<State>) {
        if (!ks->has_records && !ks->emitted && ks->state == State{}) table(t.key_group).erase(t.key);
      }
    });
    if (fired > 0) flush();
  }

  /// Acts on a trigger's answer for the current key; false if the key's
  /// entry was erased (purged).
  bool apply(TriggerResult res, KeyState& ks, Timestamp ts) {
    switch (res) {
      case TriggerResult::kContinue: return true;
      case TriggerResult::kFire: fire(ks, ts, /*keep=*/true); return true;
      case TriggerResult::kPurge: purge(); return false;
      case TriggerResult::kFireAndPurge:
        fire(ks, ts, /*keep=*/false);
        purge();
        return false;
    }
    return true;
  }

  /// Emits the key's window result as a changelog; `keep`: remember the
  /// values for the next firing (not needed when a purge follows).
  void fire(KeyState& ks, Timestamp ts, bool keep) {
    if (!ks.has_records) return;
    Values now = aggs_.result(ks.acc);
    if (!ks.emitted) {
      if (keep) ks.emitted = now;
      emit(std::move(now), ChangeKind::kInsert, ts);
      return;
    }
    if constexpr (kComparable) {
      if (*ks.emitted == now) return;
    }
    emit(std::exchange(*ks.emitted, now), ChangeKind::kUpdateBefore, ts);
    emit(std::move(now), ChangeKind::kUpdateAfter, ts);
  }

  void purge() { table(key_group_).erase(*key_); }

  void emit(Values values, ChangeKind kind, Timestamp ts) {
    out_buf_.push_back(
        Record<Out>{Out{*key_, TimeWindow{kMinTimestamp, kMaxTimestamp}, std::move(values), kind}, ts});
    flush_if_full();
  }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: the watermark, its keys' windows as they are
  // (accumulator, trigger state, what was emitted last), then its event-time
  // and its processing-time timers.

  void prepare_snapshot() const {
    timers_by_key_group(event_timers_, groups_.first(), groups_.count(), snap_event_);
    timers_by_key_group(processing_timers_, groups_.first(), groups_.count(), snap_processing_);
  }

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K> && Serializable<Acc> && Serializable<State> && Serializable<Values>) {
      RestoredTimes<1>::write(w, {ctx_.watermark_});
      const Table& t = groups_[kg];
      w.write_varint(t.size());
      t.for_each([&](const K& key, const KeyState& ks) {
        w.write(key);
        w.write(ks.acc);
        w.write(ks.has_records);
        w.write(ks.state);
        w.write(ks.emitted);
      });
      write_key_group_timers(w, snap_event_[kg - groups_.first()]);
      write_key_group_timers(w, snap_processing_[kg - groups_.first()]);
      if (kg + 1 == groups_.first() + groups_.count()) snap_event_ = snap_processing_ = {};  // release the caches
    } else {
      throw GraphError(metrics_.name, "", "cannot checkpoint: its state holds " + unserializable_state());
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K> && Serializable<Acc> && Serializable<State> && Serializable<Values>) {
      restored_.read(r);
      Table& t = table(kg);
      const std::size_t n = r.read_count(ReadContext::of<Table>("key count"), 3);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = r.offset();
        K key = r.read<K>();
        KeyState ks(aggs_);
        ks.acc = r.read<Acc>();
        if constexpr (requires { aggs_.check_restored(ks.acc); }) aggs_.check_restored(ks.acc);
        ks.has_records = r.read<bool>();
        ks.state = r.read<State>();
        ks.emitted = r.read<std::optional<Values>>();
        if (!t.try_emplace(key, std::move(ks)).second)
          StateReader::fail(at, ReadContext::of<Table>("entry"), "repeated key");
      }
      restored_event_.read(r, kg);
      restored_processing_.read(r, kg);
    }
  }

  void after_restore() {
    if (!restored_.any) return;
    ctx_.watermark_ = restored_.times[0];
    if constexpr (Serializable<K>) {
      restored_event_.restore_into(event_timers_);
      restored_processing_.restore_into(processing_timers_);
    }
  }

  // ---- TriggerTimers: the current key's timers ----
  void add_event_time_timer(Timestamp ts) override { event_timers_.add(*key_, key_group_, ts); }
  void delete_event_time_timer(Timestamp ts) override { event_timers_.remove(*key_, ts); }
  void add_processing_time_timer(Timestamp ts) override { processing_timers_.add(*key_, key_group_, ts); }
  void delete_processing_time_timer(Timestamp ts) override { processing_timers_.remove(*key_, ts); }

  Aggs aggs_;
  Trigger trigger_;
  TimerQueue<K> event_timers_;
  TimerQueue<K> processing_timers_;
  TriggerContext<State> ctx_;

  // The key a trigger is being called for.
  const K* key_ = nullptr;
  std::uint32_t key_group_ = 0;

  // Checkpoints: timers per local key group during a snapshot; what a restore read.
  mutable std::vector<std::vector<SavedTimer<const K*>>> snap_event_, snap_processing_;
  RestoredTimes<1> restored_;  // the watermark
  std::conditional_t<Serializable<K>, RestoredTimers<K>, char> restored_event_{}, restored_processing_{};
};

template <class K, class T, class Aggs, class Trigger>
class GlobalWindowNode final : public Node {
  using Out = WindowResult<K, typename Aggs::result_type>;

 public:
  using operator_type = GlobalWindowOperator<K, T, Aggs, Trigger>;

  GlobalWindowNode(int in, int out, Aggs aggs, const GlobalWindows<Trigger>& spec, const LateSettings& /*late*/)
      : Node("window", ""), in_(in), out_(out), aggs_(std::move(aggs)), spec_(spec) {}

  void instantiate(BuildContext& ctx) const override {
    const RunSettings& s = ctx.settings;
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    const KeyedOperatorSettings k = keyed_operator_settings<operator_type>(ctx, name());
    auto& op = ctx.make<operator_type>(aggs_, spec_, m, *s.clock, k.first_key_group, k.key_groups, s.batch_size,
                                       k.state);
    ctx.port<Keyed<K, T>>(in_).connect(&op);
    ctx.set_port<Out>(out_, op.output());
  }

 private:
  int in_, out_;
  Aggs aggs_;
  GlobalWindows<Trigger> spec_;
};

template <class K, class T, class Aggs, class Trigger>
struct WindowNodeOf<K, T, Aggs, GlobalWindows<Trigger>> {
  static_assert(WindowTrigger<Trigger, T>,
                "a trigger needs `using state_type = ...;` (default-constructible) and "
                "`TriggerResult on_element(const T&, Timestamp, TriggerContext<state_type>&)`; "
                "see windows/triggers.hpp");
  using type = GlobalWindowNode<K, T, Aggs, Trigger>;
};

}  // namespace sluice::detail
