// Keyed process functions: per-key state, event- and processing-time timers,
// side outputs, in user code.
//
//   struct LargeAfterSmall : KeyedProcessFunction<std::string, Txn, Alert> {
//     ValueState<std::string, double> last;
//     void open(Context& ctx) { last = ctx.value_state<double>("last_amount"); }
//     void process(const Txn& t, Context& ctx, Collector<Alert>& out) {
//       if (auto* prev = last.get(); prev && *prev < 1 && t.amount > 500) out.emit(Alert{...});
//       last.set(t.amount);
//       ctx.register_event_time_timer(ctx.timestamp() + 60'000'000);
//     }
//     void on_timer(Timestamp ts, Context& ctx, Collector<Alert>& out) { last.clear(); }
//   };
//   stream.key_by(&Txn::card).process(LargeAfterSmall{});
//
// Each worker gets its own copy of the function object (copied from the one
// given), and calls it from its thread only. `open` and `on_timer` are
// optional. The Context is valid only during the call it is passed to.
// Records emitted from `process` carry the input's timestamp; from `on_timer`,
// the timer's. An event-time timer fires when the watermark reaches it (an
// input's end fires all); a processing-time timer when the clock does.
//
// Checkpoints save the declared state (by name: the name is its identity on
// restore, so a restored run must declare the same names with the same
// types), the timers and the watermark, per key group. Members of the
// function object itself are not saved: keep what must survive a restart in
// declared state. State of a type without a Serde makes a checkpointed query
// fail to start, naming the operator and the state.
#pragma once

#include "operators/stateless.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/keyed_operator_base.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/keyed_state.hpp"
#include "streaming/stream.hpp"
#include "streaming/timer_service.hpp"

namespace sluice {

enum class TimeDomain { kEventTime, kProcessingTime };

/// What a keyed process function sees of its operator.
template <class K, class T, class Fn>
class KeyedProcessOperator;

template <class K>
class KeyedContext {
 public:
  /// The key being processed.
  const K& key() const { return *backend_->key_context().key; }
  /// The record's timestamp in process(); the timer's in on_timer().
  Timestamp timestamp() const { return ts_; }
  /// The operator's current event-time watermark.
  Timestamp current_watermark() const { return watermark_; }
  /// The query clock's time.
  Timestamp current_processing_time() const { return clock_->now_us(); }
  /// Which kind of timer is firing (in on_timer).
  TimeDomain time_domain() const { return domain_; }
  std::size_t worker_index() const { return worker_; }

  void register_event_time_timer(Timestamp ts) {
    event_timers_.add(key(), backend_->key_context().key_group, ts);
  }
  void delete_event_time_timer(Timestamp ts) { event_timers_.remove(key(), ts); }
  void register_processing_time_timer(Timestamp ts) {
    processing_timers_.add(key(), backend_->key_context().key_group, ts);
  }
  void delete_processing_time_timer(Timestamp ts) { processing_timers_.remove(key(), ts); }

  /// Emits `value` to side output `tag` (dropped, and counted, if nobody consumes it).
  template <class U>
  void output(const OutputTag<U>& tag, U value) {
    detail::SideOutput<U>* side = sides_->template find<U>(tag.id());
    if (side == nullptr || !side->output().connected()) {
      ++unconsumed_side_records_;
      return;
    }
    side->emit(std::move(value), ts_);
  }

  /// Declares (or finds) state; call in open(). The name must be unique per
  /// operator and type.
  template <class V>
  ValueState<K, V> value_state(const std::string& name) {
    return ValueState<K, V>(backend_->template table<V>(name), backend_->key_context());
  }
  template <class V>
  ListState<K, V> list_state(const std::string& name) {
    return ListState<K, V>(backend_->template table<std::vector<V>>(name), backend_->key_context());
  }
  template <class UK, class UV>
  MapState<K, UK, UV> map_state(const std::string& name) {
    return MapState<K, UK, UV>(backend_->template table<typename MapState<K, UK, UV>::Map>(name),
                               backend_->key_context());
  }

 private:
  template <class KK, class T, class Fn>
  friend class KeyedProcessOperator;

  detail::KeyedStateBackend<K>* backend_ = nullptr;
  detail::SideOutputs* sides_ = nullptr;
  const Clock* clock_ = nullptr;
  detail::TimerQueue<K> event_timers_;
  detail::TimerQueue<K> processing_timers_;
  Timestamp ts_ = 0;
  Timestamp watermark_ = kMinTimestamp;
  TimeDomain domain_ = TimeDomain::kEventTime;
  std::size_t worker_ = 0;
  std::uint64_t unconsumed_side_records_ = 0;
};

/// Base for user functions: fixes the key, input and output types.
template <class K, class In, class Out>
struct KeyedProcessFunction {
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  using Context = KeyedContext<K>;
};

/// Keyed state lives in a KeyedStateBackend (per key group too), so the
/// base holds only the key group range (Group void).
template <class K, class T, class Fn>
class KeyedProcessOperator final
    : public detail::KeyedOperatorBase<KeyedProcessOperator<K, T, Fn>, detail::Input<Keyed<K, T>>,
                                       typename Fn::output_type, void> {
  using Out = typename Fn::output_type;
  using Base = detail::KeyedOperatorBase<KeyedProcessOperator, detail::Input<Keyed<K, T>>, Out, void>;
  friend Base;
  using Base::flush, Base::metrics_, Base::out_buf_;

 public:
  KeyedProcessOperator(const Fn& fn, OperatorMetrics& metrics, const Clock& clock, std::string name,
                       std::uint32_t first_kg, std::uint32_t kg_count, std::size_t worker,
                       detail::OperatorState* state = nullptr)
      // No batch size: it flushes once per batch or timer pass.
      : Base(metrics, clock, {first_kg, kg_count, 1, 0, state}),
        fn_(fn),
        backend_(std::move(name), first_kg, kg_count),
        collector_(out_buf_) {
    ctx_.backend_ = &backend_;
    ctx_.sides_ = &this->sides_;
    ctx_.clock_ = &clock;
    ctx_.worker_ = worker;
  }

  /// The key type's name if it has no Serde, else "". (Declared state is
  /// only known once open() ran: it is checked there.)
  static std::string unserializable_state() { return detail::first_unserializable<K>(); }

  /// Lets the function declare its state, then restores it (and the timers)
  /// when the run starts from a checkpoint.
  void open() override {
    if constexpr (requires { fn_.open(ctx_); }) fn_.open(ctx_);
    if (this->state_ != nullptr && this->state_->storing())
      for (const auto& [name, table] : backend_.tables())
        if (std::string type = table->unserializable(); !type.empty())
          throw GraphError(this->metrics_.name, name,
                           "state of type " + type +
                               " has no Serde (streaming/serde.hpp): specialize sluice::Serde for it to checkpoint "
                               "this query");
    // Deltas: note which keys change, so that few changed keys in a group
    // make a small part instead of the whole group.
    if (this->state_ != nullptr && this->state_->storing()) backend_.track_changed_keys();
    Base::open();
  }

  void push(Batch<Keyed<K, T>>& batch) override {
    detail::KeyContext<K>& kc = backend_.key_context();
    // Prefetch state a few records ahead (the key's hash came with the
    // record): random keys make state lookups cache misses; this overlaps them.
    constexpr std::size_t kAhead = 8;
    const std::size_t n = batch.size();
    for (std::size_t i = 0; i < std::min(n, kAhead); ++i)
      backend_.prefetch(batch[i].value.key_group, batch[i].value.key_hash);
    for (std::size_t i = 0; i < n; ++i) {
      Record<Keyed<K, T>>& r = batch[i];
      if (i + kAhead < n) backend_.prefetch(batch[i + kAhead].value.key_group, batch[i + kAhead].value.key_hash);
      kc.key = &r.value.key;
      kc.key_group = r.value.key_group;
      kc.hash = r.value.key_hash;
      ctx_.ts_ = r.ts_us;
      collector_.set_timestamp(r.ts_us);
      this->mark_changed(r.value.key_group);  // state or timers of its group may change
      backend_.note_changed();
      fn_.process(std::as_const(r.value.value), ctx_, static_cast<Collector<Out>&>(collector_));
    }
    metrics_.records_in.add(batch.size());
    flush();
  }

 private:
  // ---- time (the base's hooks) ----
  void on_event_time(Timestamp watermark) {
    ctx_.watermark_ = watermark;
    fire(ctx_.event_timers_, watermark, TimeDomain::kEventTime);
  }
  void on_processing_time_tick(Timestamp now) { fire(ctx_.processing_timers_, now, TimeDomain::kProcessingTime); }

  void fire(detail::TimerQueue<K>& timers, Timestamp until, TimeDomain domain) {
    if constexpr (requires(Fn f, KeyedContext<K> c, Collector<Out> & o) { f.on_timer(Timestamp{}, c, o); }) {
      detail::KeyContext<K>& kc = backend_.key_context();
      ctx_.domain_ = domain;
      const std::size_t n = timers.advance(until, [&](const detail::Timer<K>& t) {
        kc.key = &t.key;
        kc.key_group = t.key_group;
        kc.hash = hash_key(t.key);
        ctx_.ts_ = t.ts_us;
        collector_.set_timestamp(t.ts_us);
        this->mark_changed(t.key_group);  // the timer left its group; state may change
        backend_.note_changed();
        fn_.on_timer(t.ts_us, ctx_, static_cast<Collector<Out>&>(collector_));
      });
      if (n > 0) flush();
    } else {
      detail::KeyContext<K>& kc = backend_.key_context();
      timers.advance(until, [&](const detail::Timer<K>& t) {
        kc.key = &t.key;  // for preserve_for_snapshot
        kc.key_group = t.key_group;
        kc.hash = hash_key(t.key);
        this->mark_changed(t.key_group);
      });
    }
  }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: the watermark, each declared state's entries of
  // the group (name, then the entries), then its event-time and its
  // processing-time timers.
  //
  // Incremental: a group changes only through its records and timers (state
  // is reached through the current key only), both marked above; the
  // watermark, the one operator-wide value, goes into the instance's
  // "times/" part as well (a reused section repeats an older one).
  static constexpr bool kTracksChangedKeyGroups = true;
  // In the background: a record or timer reaches state through its key
  // only (the key context, set before mark_changed), so keeping the current
  // key's entries is copy-on-write enough; the timers are copied at the
  // barrier (prepare_snapshot) and the watermark of a section written later
  // is superseded by the "times/" part.
  static constexpr bool kDefersSnapshots = true;
  void preserve_for_snapshot(std::uint32_t /*kg*/) { backend_.preserve_current_key(); }
  std::array<Timestamp, 1> shared_times() const { return {ctx_.watermark_}; }
  detail::RestoredTimes<1>& restored_times() { return restored_; }
  void finish_snapshot() const { snap_event_ = snap_processing_ = {}; }

  void prepare_snapshot() const {
    detail::timers_by_key_group(ctx_.event_timers_, this->groups_.first(), this->groups_.count(), snap_event_);
    detail::timers_by_key_group(ctx_.processing_timers_, this->groups_.first(), this->groups_.count(),
                                snap_processing_);
  }

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K>) {
      detail::RestoredTimes<1>::write(w, {ctx_.watermark_});
      w.write_varint(backend_.tables().size());
      for (const auto& [name, table] : backend_.tables()) {
        w.write(name);
        table->write_group(kg, w);
      }
      const std::uint32_t i = kg - this->groups_.first();
      detail::write_key_group_timers(w, snap_event_[i]);
      detail::write_key_group_timers(w, snap_processing_[i]);
    } else {
      throw GraphError(this->metrics_.name, "",
                       "cannot checkpoint: its key type " + unserializable_state() + " has no Serde");
    }
  }

  // A delta of a group: the watermark, the changed keys' entries in every
  // state (backend_.write_delta), then the group's timers in full.
  bool delta_ready(std::uint32_t kg) const { return backend_.delta_ready(kg); }
  void begin_section(std::uint32_t kg, bool delta) { backend_.begin_section(kg, delta); }
  void snapshot_key_group_delta(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K>) {
      detail::RestoredTimes<1>::write(w, {ctx_.watermark_});
      backend_.write_delta(kg, w);
      const std::uint32_t i = kg - this->groups_.first();
      detail::write_key_group_timers(w, snap_event_[i]);
      detail::write_key_group_timers(w, snap_processing_[i]);
    }
  }
  void restore_key_group_delta(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K>) {
      restored_.read(r);
      backend_.read_delta(kg, r);
      restored_event_.replace_group(r, kg);
      restored_processing_.replace_group(r, kg);
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K>) {
      restored_.read(r);
      const std::size_t n = r.read_count(ReadContext::of<detail::KeyedStateBackend<K>>("state count"), 2);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = r.offset();
        const std::string name = r.read<std::string>();
        detail::StateTableBase* table = backend_.find(name);
        if (table == nullptr)
          throw StateFormatError("state '" + name + "'", at,
                                 "the checkpoint holds it, but the function's open() does not declare it");
        table->read_group(kg, r);
      }
      restored_event_.read(r, kg);
      restored_processing_.read(r, kg);
    }
  }

  void after_restore() {
    if (!restored_.any) return;
    ctx_.watermark_ = restored_.times[0];
    if constexpr (Serializable<K>) {
      restored_event_.restore_into(ctx_.event_timers_);
      restored_processing_.restore_into(ctx_.processing_timers_);
    }
  }

  Fn fn_;
  detail::KeyedStateBackend<K> backend_;
  KeyedContext<K> ctx_;
  detail::BatchCollector<Out> collector_;

  // Checkpoints: timers per local key group during a snapshot; what a restore read.
  // Copies: sections may be written after the queues moved on.
  mutable std::vector<std::vector<detail::SavedTimer<K>>> snap_event_, snap_processing_;
  detail::RestoredTimes<1> restored_;  // the watermark
  std::conditional_t<Serializable<K>, detail::RestoredTimers<K>, char> restored_event_{}, restored_processing_{};
};

namespace detail {

template <class K, class T, class Fn>
class KeyedProcessNode final : public Node {
  using Out = typename Fn::output_type;

 public:
  KeyedProcessNode(int in, int out, Fn fn) : Node("process", ""), in_(in), out_(out), fn_(std::move(fn)) {}
  bool has_side_outputs() const override { return true; }

  void instantiate(BuildContext& ctx) const override {
    using Op = KeyedProcessOperator<K, T, Fn>;
    const RunSettings& s = ctx.settings;
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    const KeyedOperatorSettings k = keyed_operator_settings<Op>(ctx, name());
    auto& op = ctx.make<Op>(fn_, m, *s.clock, name(), k.first_key_group, k.key_groups, ctx.worker_index(), k.state);
    make_side_outputs(ctx, op.sides());
    ctx.port<Keyed<K, T>>(in_).connect(&op);
    ctx.set_port<Out>(out_, op.output());
  }

 private:
  int in_, out_;
  Fn fn_;
};

}  // namespace detail

template <class K, class T>
template <class Fn>
auto KeyedStream<K, T>::process(Fn fn) const -> Stream<typename Fn::output_type> {
  using Out = typename Fn::output_type;
  static_assert(requires(Fn f, const T& v, KeyedContext<K>& c, Collector<Out>& o) { f.process(v, c, o); },
                "process(fn): fn needs `void process(const T&, KeyedContext<K>&, Collector<Out>&)` "
                "(optional: `void open(KeyedContext<K>&)`, `void on_timer(Timestamp, KeyedContext<K>&, "
                "Collector<Out>&)`); derive from KeyedProcessFunction<K, T, Out> for the type names");
  return routed_.template then<Out, detail::KeyedProcessNode<K, T, Fn>>(std::move(fn));
}

}  // namespace sluice
