// The shared base of stateful keyed operators: the window operators (time,
// pane, session, count, global), the keyed process operator, and the joins,
// CEP matcher and views to come.
//
// It owns what every such operator repeats: the main output and the side
// outputs, the buffer of results and its flush (counted in records_out), the
// operator's metrics, the query clock, the batch size, the late-data tag, the
// range of key groups this instance owns with one state table per local key
// group, and the dispatch of control messages and processing-time ticks. The
// derived operator keeps the per-record loop (push) and its state, and says
// what time does to that state through three hooks, called on the worker's
// thread:
//
//   void on_event_time(Timestamp watermark);   // a watermark arrived (the
//       // watermark metric is already set); fire what it completes. Results
//       // go out before the watermark that caused them.
//   void on_end_of_input();                    // nothing more will come; emit
//       // what is still open (a watermark of +inf came just before).
//   void on_processing_time_tick(Timestamp now);  // the clock moved to `now`.
//       // An exception thrown here fails the query naming this operator.
//
// Each defaults to doing nothing: a derived operator declares (it may be
// private, with `friend` the base) only those it needs. The base calls them
// statically (CRTP, the derived class is `final`): no virtual call beyond the
// one per control message or tick that reaches the operator anyway, and
// nothing per record.
//
// Checkpoints. An operator is checkpointable when it defines two hooks:
//
//   void snapshot_key_group(std::uint32_t kg, StateWriter& w) const;
//   void restore_key_group(std::uint32_t kg, StateReader& r);
//
// When a checkpoint barrier has arrived on every input (aligned upstream),
// the base flushes the result buffer, then, when the query stores
// checkpoints, calls snapshot_key_group(kg, w) for each local key group in
// order (each into its own part "kg/<kg>", after a format version the base
// writes), acknowledges, and only then forwards the barrier to the main and
// side outputs. At end of input it does the same once more, after
// on_end_of_input: that final state stands for the instance in every later
// checkpoint. On restore the base calls restore_key_group(kg, r) for every
// key group the new instance owns that the checkpoint holds, whichever
// instance wrote it (that is what lets a checkpoint restore onto another
// worker count, so each section must be self-contained), then
// after_restore() if the operator defines it (void after_restore();).
// Operator-wide (non-keyed) state therefore has no hook of its own: it is
// the time the operator has advanced to (the slicing operator's watermark_,
// fired_until_ and closed_until_; the pane and session operators' time_; the
// global and keyed process operators' watermark) and snapshot_key_group
// writes it into every section. restore_key_group combines the values it
// reads (the smallest, when groups come from instances that had advanced
// differently) and after_restore rebuilds any index derived from the keyed
// state (e.g. the slicing operator's live_ map of slice ends). Timers are
// keyed state: the TimerQueue entries of group kg go into its section.
// A checkpointed query with an operator that lacks the hooks fails to
// start, naming the operator. An operator may also define
// `void prepare_snapshot() const;`, called once before the key groups of
// one snapshot (to sort state shared by key groups, such as timers, into
// `mutable` per-group caches in one pass instead of one pass per group).
//
// Incremental checkpoints. An operator may declare
// `static constexpr bool kTracksChangedKeyGroups = true;` and then call
// mark_changed(kg) whenever the state of key group kg (its section) may
// change: a record, a timer, a window that fires or is cleaned up. At a
// barrier the base then writes only the sections that changed since the
// snapshot the checkpoint's base (CheckpointCoordinator::base_of) holds; the
// others are added by reference to the base's bytes. To know that, the base
// gives every section a version (bumped at a snapshot when the group was
// marked since the previous one) and remembers the versions of the last
// snapshot it took (or restored); a section is reused only when the base is
// exactly that snapshot's checkpoint and the version did not move. A
// snapshot whose checkpoint fails is thus never referred to: the next
// checkpoint has no base and writes in full. Operators that do not declare
// it write every section at every checkpoint.
//
// A reused section is an older snapshot of its group, so the operator-wide
// times it repeats are older too. An operator that tracks changed groups
// and keeps such times defines
//
//   std::array<Timestamp, N> shared_times() const;   // the values it writes
//   RestoredTimes<N>& restored_times();              // what restore_key_group read
//
// and the base writes the current times into a part "times/<first key
// group>" of the instance at every checkpoint; on restore the smallest of
// those parts (one per instance of the run that wrote it) replaces what the
// sections said. A checkpoint without such parts restores as before.
//
// Deltas. Marking is per key group, so 1% of random keys changing still
// rewrites every group. An operator that knows which keys of a group changed
// may define
//
//   bool delta_ready(std::uint32_t kg) const;      // few enough keys changed
//   void begin_section(std::uint32_t kg, bool delta);  // at the barrier: the
//       // group's section is written (as a delta or in full); capture or
//       // drop what changed since the last one
//   void snapshot_key_group_delta(std::uint32_t kg, StateWriter& w) const;
//   void restore_key_group_delta(std::uint32_t kg, StateReader& r);
//
// and a changed group whose previous section is in the base then gets a
// delta part "kgd/<kg>/<n>" (n = 1, 2, ...) on top of its last full section
// "kg/<kg>" and the deltas before it, all reused by reference; after
// kMaxDeltas deltas (or when delta_ready says no) the group is written in
// full again and its chain starts over. A restore reads the full section,
// then its deltas in order.
//
// Snapshots in the background. With many keys, writing every section at
// the barrier stops processing for as long as serializing the state takes
// (hundreds of milliseconds per GB). An operator that tracks changed key
// groups may declare `static constexpr bool kDefersSnapshots = true;` and
//
//   void preserve_for_snapshot(std::uint32_t kg);   // copy-on-write
//
// Then the barrier only decides which sections to write (and runs
// prepare_snapshot, whose caches must then own what they hold); the worker
// writes them afterwards, a few at a time between its steps
// (BackgroundWork), and the instance acknowledges once the last is written.
// Until a group's section is written, mark_changed(kg) calls
// preserve_for_snapshot(kg) first: the operator keeps what the change is
// about to overwrite (the current key's entries as they were), and
// snapshot_key_group writes the group as of the barrier from the live state
// and those pre-images. A barrier or the end of input writes what is still
// pending first. Without a worker (an operator built alone) every section
// is written at the barrier.
//
// Thread safety: an instance belongs to one worker; every call comes from that
// worker's thread.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/detail/operator_state.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/errors.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/metrics.hpp"
#include "streaming/serde.hpp"
#include "streaming/side_output.hpp"
#include "streaming/time.hpp"

namespace sluice::detail {

/// The key groups [first, first + count) one operator instance owns, with one
/// `Group` (a state table) per key group, created empty.
template <class Group>
class KeyGroupTables {
 public:
  KeyGroupTables(std::uint32_t first, std::uint32_t count) : first_(first), groups_(count) {}

  std::uint32_t first() const { return first_; }
  std::uint32_t count() const { return static_cast<std::uint32_t>(groups_.size()); }
  /// The table of key group `kg`. Precondition: first() <= kg < first() + count().
  Group& operator[](std::uint32_t kg) { return groups_[kg - first_]; }
  const Group& operator[](std::uint32_t kg) const { return groups_[kg - first_]; }

  auto begin() { return groups_.begin(); }
  auto end() { return groups_.end(); }
  auto begin() const { return groups_.begin(); }
  auto end() const { return groups_.end(); }

 private:
  std::uint32_t first_;
  std::vector<Group> groups_;
};

/// The range alone, for an operator that keeps its keyed state elsewhere
/// (the keyed process operator's KeyedStateBackend, per key group too).
template <>
class KeyGroupTables<void> {
 public:
  KeyGroupTables(std::uint32_t first, std::uint32_t count) : first_(first), count_(count) {}
  std::uint32_t first() const { return first_; }
  std::uint32_t count() const { return count_; }

 private:
  std::uint32_t first_, count_;
};

/// What a keyed operator is built with, besides its own settings.
struct KeyedOperatorSettings {
  std::uint32_t first_key_group = 0;  ///< the first key group this instance owns
  std::uint32_t key_groups = 0;       ///< how many it owns, from first_key_group on
  std::size_t batch_size = 1;         ///< results per batch sent downstream (at least 1)
  std::uint64_t late_tag_id = 0;      ///< the late side output; 0: late records are only counted
  /// The instance's link to checkpoints (null: none; tests that build an
  /// operator alone). Not owned; outlives the operator.
  OperatorState* state = nullptr;
};

/// Derived: the operator (final), InputBase: the Input it implements
/// (Input<Keyed<K, T>> or KeyedInput<K, T>), Out: its results, Group: its
/// state of one key group (void: none held here).
template <class Derived, class InputBase, class Out, class Group>
class KeyedOperatorBase : public InputBase, public Lifecycle, public BackgroundWork {
 public:
  KeyedOperatorBase(OperatorMetrics& metrics, const Clock& clock, const KeyedOperatorSettings& s)
      : metrics_(metrics),
        clock_(clock),
        batch_size_(std::max<std::size_t>(s.batch_size, 1)),
        late_tag_(s.late_tag_id),
        groups_(s.first_key_group, s.key_groups),
        state_(s.state),
        changed_(s.key_groups, 0),
        versions_(s.key_groups, 0),
        deltas_(s.key_groups, 0) {}
  KeyedOperatorBase(const KeyedOperatorBase&) = delete;  // the worker may hold it as BackgroundWork
  KeyedOperatorBase& operator=(const KeyedOperatorBase&) = delete;

  /// Whether the operator defines the checkpoint hooks.
  static constexpr bool kCheckpointable = requires(const Derived& d, Derived& m, StateWriter& w, StateReader& r) {
    d.snapshot_key_group(std::uint32_t{0}, w);
    m.restore_key_group(std::uint32_t{0}, r);
  };

  /// Whether the operator says which key groups changed (incremental checkpoints).
  static constexpr bool tracks_changed_key_groups() {
    if constexpr (requires { Derived::kTracksChangedKeyGroups; })
      return Derived::kTracksChangedKeyGroups;
    else
      return false;
  }

  /// Whether the operator writes deltas of changed keys (see the file comment).
  static constexpr bool writes_deltas() {
    return requires(const Derived& d, Derived& m, StateWriter& w, StateReader& r) {
      { d.delta_ready(std::uint32_t{0}) } -> std::same_as<bool>;
      m.begin_section(std::uint32_t{0}, true);
      d.snapshot_key_group_delta(std::uint32_t{0}, w);
      m.restore_key_group_delta(std::uint32_t{0}, r);
    };
  }
  /// The most deltas on top of a full section (single digits: part keys sort).
  static constexpr std::uint32_t kMaxDeltas = 8;

  /// Whether the operator writes its snapshots in the background (see the file comment).
  static constexpr bool defers_snapshots() {
    if constexpr (requires { Derived::kDefersSnapshots; }) {
      static_assert(!Derived::kDefersSnapshots || tracks_changed_key_groups(),
                    "kDefersSnapshots needs kTracksChangedKeyGroups: mark_changed is where copy-on-write happens");
      static_assert(!Derived::kDefersSnapshots || requires(Derived& m) { m.preserve_for_snapshot(std::uint32_t{0}); },
                    "kDefersSnapshots needs void preserve_for_snapshot(std::uint32_t kg)");
      return Derived::kDefersSnapshots;
    } else {
      return false;
    }
  }

  /// Restores the key groups this instance owns from the checkpoint the run
  /// starts from, if any. May throw (StateFormatError): the query fails to start.
  void open() override {
    if (state_ == nullptr || state_->restored() == nullptr) return;
    if constexpr (kCheckpointable) {
      // What the restored checkpoint holds is this instance's last snapshot:
      // its first checkpoint may refer to it (when it is its base).
      snap_id_ = state_->restored()->id;
      snap_versions_.assign(groups_.count(), kNoVersion);
      for (std::uint32_t kg = groups_.first(); kg < groups_.first() + groups_.count(); ++kg) {
        const std::string* bytes = state_->restored_part(key_group_part(kg));
        if (bytes == nullptr) continue;
        snap_versions_[kg - groups_.first()] = versions_[kg - groups_.first()];
        restore_section(kg, *bytes, "key group " + std::to_string(kg),
                        [&](StateReader& r) { derived().restore_key_group(kg, r); });
        if constexpr (writes_deltas()) {
          std::uint32_t& n = deltas_[kg - groups_.first()];
          for (n = 0; n < kMaxDeltas; ++n) {
            const std::string* delta = state_->restored_part(key_group_delta_part(kg, n + 1));
            if (delta == nullptr) break;
            restore_section(kg, *delta, "delta " + std::to_string(n + 1) + " of key group " + std::to_string(kg),
                            [&](StateReader& r) { derived().restore_key_group_delta(kg, r); });
          }
        }
      }
      if constexpr (requires(Derived& m) { m.restored_times(); }) restore_shared_times();
      if constexpr (requires(Derived& m) { m.after_restore(); }) derived().after_restore();
    }
  }

  /// Reads one restored part of group kg with `read`, naming the part
  /// (`what`) in errors.
  template <class Read>
  void restore_section(std::uint32_t kg, const std::string& bytes, const std::string& what, Read&& read) {
    const std::string section = what + " of operator '" + metrics_.name + "'";
    try {
      StateReader r(bytes);
      check_state_format_version(r.template read<std::uint32_t>());
      read(r);
      r.expect_end(section);
    } catch (const StateFormatError& e) {
      if (e.what_read().starts_with(section)) throw;
      // Say which section it was: the reader only knows the bytes.
      throw StateFormatError(section + ": " + e.what_read(), e.offset(), e.detail());
    } catch (const OperatorError&) {
      throw;
    } catch (const std::exception& e) {
      // User code (a Serde, say) failed: the query fails naming the operator.
      throw OperatorError(metrics_.name, "restoring " + what + ": " + e.what());
    }
  }

  /// Snapshots every local key group into parts (key, bytes), in full (and
  /// the instance's shared times, when the operator keeps them apart).
  std::vector<std::pair<std::string, std::string>> snapshot_key_groups() const {
    std::vector<std::pair<std::string, std::string>> parts;
    if constexpr (kCheckpointable) {
      parts.reserve(groups_.count() + 1);
      const Derived& d = static_cast<const Derived&>(*this);
      if constexpr (requires { d.prepare_snapshot(); }) d.prepare_snapshot();
      for (std::uint32_t kg = groups_.first(); kg < groups_.first() + groups_.count(); ++kg)
        parts.emplace_back(key_group_part(kg), section_bytes(kg));
      if constexpr (requires { d.shared_times(); }) parts.emplace_back(times_part(), shared_times_bytes());
      if constexpr (requires { d.finish_snapshot(); }) d.finish_snapshot();
    }
    return parts;
  }

  /// Snapshots for checkpoint `id`: the key groups that changed since the
  /// base's snapshot as new parts, the others by reference (see the file
  /// comment). Returns {written, reused} part counts.
  /// Acknowledges checkpoint `id` once every section is written: at once,
  /// or after the background part when the operator defers snapshots.
  std::pair<std::size_t, std::size_t> snapshot_checkpoint(std::uint64_t id) {
    std::size_t written = 0, reused = 0;
    if constexpr (kCheckpointable) {
      if (pending_id_ != 0) write_pending_now();  // the previous one was given up: finish it anyway
      const auto started = std::chrono::steady_clock::now();
      const std::uint64_t base = tracks_changed_key_groups() ? state_->base_of(id) : 0;
      const bool from_base = base != 0 && base == snap_id_ && snap_versions_.size() == groups_.count();
      const bool defer = defers_snapshots() && state_->can_defer();
      const Derived& d = static_cast<const Derived&>(*this);
      if constexpr (requires { d.prepare_snapshot(); }) d.prepare_snapshot();
      if (defer) pending_.assign(groups_.count(), 0);
      for (std::uint32_t i = 0; i < groups_.count(); ++i) {
        if (changed_[i]) {
          versions_[i] = ++version_counter_;
          changed_[i] = 0;
        }
        const std::uint32_t kg = groups_.first() + i;
        if (from_base && snap_versions_[i] == versions_[i]) {
          reuse_chain(id, kg);
          reused += 1 + deltas_[i];
          continue;
        }
        bool delta = false;
        if constexpr (writes_deltas()) {
          // On top of the base's chain, while it is short and few keys changed.
          delta = from_base && snap_versions_[i] != kNoVersion && deltas_[i] < kMaxDeltas && d.delta_ready(kg);
          derived().begin_section(kg, delta);
          if (delta) {
            reuse_chain(id, kg);
            reused += 1 + deltas_[i];
            ++deltas_[i];
          } else {
            deltas_[i] = 0;
          }
        }
        ++written;
        if (defer) {
          pending_[i] = delta ? kPendingDelta : kPendingFull;
          ++pending_left_;
        } else {
          write_section(id, i, delta);
        }
      }
      if constexpr (requires { d.shared_times(); }) {
        state_->add_part(id, times_part(), shared_times_bytes());
        ++written;
      }
      snap_id_ = id;
      snap_versions_ = versions_;
      pending_id_ = id;
      pending_pause_us_ = micros_since(started);
      if (pending_left_ == 0) {
        complete_snapshot();
      } else {
        pending_cursor_ = 0;
        if (!in_background_) state_->run_in_background(*this);
        in_background_ = true;
      }
    } else {
      state_->acknowledge(id);
    }
    return {written, reused};
  }

  /// Writes a few pending sections (BackgroundWork: the worker calls it
  /// between steps); acknowledges the checkpoint after the last.
  bool run_background() final {
    if constexpr (kCheckpointable) {
      try {
        if (pending_left_ != 0) {
          const auto started = std::chrono::steady_clock::now();
          while (pending_left_ != 0) {
            while (pending_[pending_cursor_] == 0) ++pending_cursor_;
            write_pending(pending_cursor_);
            if (micros_since(started) >= kBackgroundSliceUs) break;
          }
          pending_pause_us_ = std::max(pending_pause_us_, micros_since(started));
          if (pending_left_ != 0) return false;
        }
        if (pending_id_ != 0) complete_snapshot();
      } catch (...) {
        rethrow_in_operator(metrics_.name);
      }
    }
    in_background_ = false;
    return true;
  }

  /// The results; connect consumers before the operator opens.
  Output<Out>& output() { return out_; }
  /// The side outputs (late data, user tags); add them before the operator opens.
  SideOutputs& sides() { return sides_; }

  /// Runs the hook of the control message, then forwards it to every output.
  void control(const Control& c) final {
    switch (c.kind) {
      case Control::Kind::kWatermark:
        metrics_.watermark_us.set(c.ts_us);
        derived().on_event_time(c.ts_us);
        break;
      case Control::Kind::kEndOfInput:
        if constexpr (kCheckpointable)
          if (pending_id_ != 0) write_pending_now();
        derived().on_end_of_input();
        flush();
        if (state_ != nullptr) state_->ended(state_->storing() ? snapshot_key_groups() : decltype(snapshot_key_groups()){});
        break;
      case Control::Kind::kIdle:
      case Control::Kind::kActive:
        break;
      case Control::Kind::kBarrier:
        // Results produced before the barrier belong to its checkpoint: they
        // leave before it.
        flush();
        if (state_ != nullptr) {
          if (state_->storing())
            snapshot_checkpoint(c.checkpoint_id);  // acknowledges (maybe later, from the background)
          else
            state_->acknowledge(c.checkpoint_id);
        }
        break;
        // No `default:`, so a new kind warns here until it is handled.
    }
    out_.control(c);
    sides_.control(c);
  }

  void on_processing_time(Timestamp now) final {
    try {
      derived().on_processing_time_tick(now);
    } catch (...) {
      rethrow_in_operator(metrics_.name);
    }
  }

  const std::string& operator_name() const final { return metrics_.name; }
  void reachable_gates(std::vector<FlowGate*>& out) final {
    out_.reachable_gates(out);
    sides_.reachable_gates(out);
  }

 protected:
  // Default hooks: nothing to do. A derived operator hides those it needs.
  void on_event_time(Timestamp /*watermark*/) {}
  void on_end_of_input() {}
  void on_processing_time_tick(Timestamp /*now*/) {}

  /// The state of key group `kg` may have changed (operators that declare
  /// kTracksChangedKeyGroups call it; see the file comment). Cheap: one store.
  /// Const so that prepare_snapshot may call it (state it sees there, such
  /// as entries of a table shared by key groups, marks its groups).
  void mark_changed(std::uint32_t kg) const {
    if (pending_left_ != 0) [[unlikely]] preserve_if_pending(kg);
    changed_[kg - groups_.first()] = 1;
  }
  /// Every local key group may have changed.
  void mark_all_changed() { std::fill(changed_.begin(), changed_.end(), std::uint8_t{1}); }

  /// Sends the buffered results downstream (counted) and flushes the side outputs.
  void flush() {
    if (!out_buf_.empty()) {
      metrics_.records_out.add(out_buf_.size());
      out_.push(out_buf_);
      out_buf_.clear();
    }
    sides_.flush();
  }
  /// Flushes once a batch of results is buffered.
  void flush_if_full() {
    if (out_buf_.size() >= batch_size_) flush();
  }

  /// Counts a record beyond the allowed lateness and sends it to the late
  /// output, if there is one and anyone consumes it.
  template <class T>
  void send_late(T&& value, Timestamp ts) {
    metrics_.late_records.add(1);
    if (late_tag_ == 0) return;
    SideOutput<std::decay_t<T>>* side = sides_.template find<std::decay_t<T>>(late_tag_);
    if (side != nullptr && side->output().connected()) side->emit(std::forward<T>(value), ts);
  }

  OperatorMetrics& metrics_;
  const Clock& clock_;
  std::size_t batch_size_;
  std::uint64_t late_tag_;
  KeyGroupTables<Group> groups_;  // one Group per local key group
  Output<Out> out_;
  SideOutputs sides_;
  Batch<Out> out_buf_;
  OperatorState* state_;

 private:
  static constexpr std::uint64_t kNoVersion = std::numeric_limits<std::uint64_t>::max();

  Derived& derived() { return static_cast<Derived&>(*this); }

  static std::uint64_t micros_since(std::chrono::steady_clock::time_point t) {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t).count());
  }

  // ---- snapshots in the background (see the file comment) ----

  /// How long one background slice may write sections before it yields.
  static constexpr std::uint64_t kBackgroundSliceUs = 1000;

  /// Group kg is about to change: if its section is still to be written,
  /// the operator keeps what the change overwrites.
  void preserve_if_pending(std::uint32_t kg) const {
    if constexpr (defers_snapshots())
      if (pending_[kg - groups_.first()] != 0)
        // Never called on a const object: operators are built non-const.
        const_cast<Derived&>(static_cast<const Derived&>(*this)).preserve_for_snapshot(kg);
  }
  /// Writes pending section i (its group as of the barrier).
  void write_pending(std::uint32_t i) {
    const bool delta = pending_[i] == kPendingDelta;
    pending_[i] = 0;
    --pending_left_;
    write_section(pending_id_, i, delta);
  }
  /// Adds local group i's part to checkpoint `id`: its full section, or
  /// (delta) its delta number deltas_[i].
  void write_section(std::uint64_t id, std::uint32_t i, bool delta) {
    const std::uint32_t kg = groups_.first() + i;
    if constexpr (writes_deltas()) {
      if (delta) {
        StateWriter w;
        w.write(kStateFormatVersion);
        static_cast<const Derived&>(*this).snapshot_key_group_delta(kg, w);
        state_->add_part(id, key_group_delta_part(kg, deltas_[i]), w.take());
        return;
      }
    }
    state_->add_part(id, key_group_part(kg), section_bytes(kg));
  }
  /// Refers checkpoint `id` to group kg's full section and deltas in the base.
  void reuse_chain(std::uint64_t id, std::uint32_t kg) {
    state_->reuse_part(id, key_group_part(kg));
    for (std::uint32_t n = 1; n <= deltas_[kg - groups_.first()]; ++n) state_->reuse_part(id, key_group_delta_part(kg, n));
  }
  /// Writes every pending section now and acknowledges.
  void write_pending_now() {
    const auto started = std::chrono::steady_clock::now();
    for (std::uint32_t i = 0; pending_left_ != 0; ++i)
      if (pending_[i] != 0) write_pending(i);
    pending_pause_us_ = std::max(pending_pause_us_, micros_since(started));
    complete_snapshot();
  }
  /// Every section of checkpoint pending_id_ is written: release the
  /// snapshot's caches, report the longest pause, acknowledge.
  void complete_snapshot() {
    const Derived& d = static_cast<const Derived&>(*this);
    if constexpr (requires { d.finish_snapshot(); }) d.finish_snapshot();
    pending_.clear();
    state_->note_snapshot_time(pending_id_, pending_pause_us_);
    state_->acknowledge(std::exchange(pending_id_, 0));
  }

  std::string section_bytes(std::uint32_t kg) const {
    StateWriter w;
    w.write(kStateFormatVersion);
    static_cast<const Derived&>(*this).snapshot_key_group(kg, w);
    return w.take();
  }
  /// This instance's part of the operator-wide times: "times/<first key group>".
  std::string times_part() const { return "times/" + std::to_string(groups_.first()); }
  std::string shared_times_bytes() const {
    StateWriter w;
    w.write(kStateFormatVersion);
    const auto times = static_cast<const Derived&>(*this).shared_times();
    w.write_varint(times.size());
    for (Timestamp t : times) w.write(t);
    return w.take();
  }
  /// Replaces the times the sections gave with the smallest of the
  /// restored "times/" parts, if the checkpoint has any.
  void restore_shared_times() {
    auto& restored = derived().restored_times();
    const std::vector<std::string_view> parts = state_->restored_parts("times/");
    bool any = false;
    for (std::string_view bytes : parts) {
      const std::string section = "times of operator '" + metrics_.name + "'";
      StateReader r(bytes);
      check_state_format_version(r.template read<std::uint32_t>());
      const std::size_t at = r.offset();
      if (r.read_varint(ReadContext::of<Timestamp>("count of shared times")) != restored.times.size())
        StateReader::fail(at, ReadContext::of<Timestamp>("count of shared times"),
                          section + ": another number of times than this operator keeps");
      for (Timestamp& t : restored.times) {
        const Timestamp v = r.template read<Timestamp>();
        t = any ? std::min(t, v) : v;
      }
      r.expect_end(section);
      any = true;
    }
    if (any) restored.any = true;
  }

  // Incremental checkpoints (see the file comment), per local key group.
  mutable std::vector<std::uint8_t> changed_;  // marked since the last snapshot
  std::vector<std::uint64_t> versions_;       // bumped at a snapshot when marked
  std::uint64_t version_counter_ = 0;
  std::uint64_t snap_id_ = 0;                 // the checkpoint of the last snapshot taken or restored
  std::vector<std::uint64_t> snap_versions_;  // the versions it holds (kNoVersion: group not in it)
  std::vector<std::uint32_t> deltas_;         // deltas on top of each group's full section in it

  // Snapshots in the background: the checkpoint whose sections are being
  // written (0: none), which local groups are still to be written.
  std::uint64_t pending_id_ = 0;
  static constexpr std::uint8_t kPendingFull = 1, kPendingDelta = 2;
  std::vector<std::uint8_t> pending_;         // 0, kPendingFull or kPendingDelta
  std::size_t pending_left_ = 0;
  std::uint32_t pending_cursor_ = 0;        // no pending group before it
  std::uint64_t pending_pause_us_ = 0;      // the longest this snapshot stopped processing
  bool in_background_ = false;              // the worker holds this as BackgroundWork
};

/// The operator-wide times (watermarks, how far windows fired) that every
/// key group section repeats, read back from the sections a restore reads
/// and combined: the smallest of each, so that nothing an instance had not
/// yet done is skipped. (At an aligned barrier every instance has seen the
/// same watermarks, so the values agree; they differ only where an ended
/// instance's final state, whose keyed state is then empty, meets others.)
template <std::size_t N>
struct RestoredTimes {
  bool any = false;  ///< whether any section was read
  std::array<Timestamp, N> times{};

  static void write(StateWriter& w, const std::array<Timestamp, N>& times) {
    for (Timestamp t : times) w.write(t);
  }
  /// Reads one section's times and combines them in; returns them as read.
  std::array<Timestamp, N> read(StateReader& r) {
    std::array<Timestamp, N> read;
    for (std::size_t i = 0; i < N; ++i) {
      read[i] = r.read<Timestamp>();
      times[i] = any ? std::min(times[i], read[i]) : read[i];
    }
    any = true;
    return read;
  }
};

/// The key groups worker `worker` of `workers` owns: [first, first + count).
/// Every keyed node splits them this way (the exchange routes by it).
struct KeyGroupRange {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};
inline KeyGroupRange local_key_groups(std::size_t worker, const RunSettings& s) {
  const std::uint32_t first = first_key_group(worker, s.max_parallelism, s.workers);
  return {first, first_key_group(worker + 1, s.max_parallelism, s.workers) - first};
}

/// What instance `ctx.worker_index()` of keyed operator Op, named `name`,
/// is built with: its key groups, the batch size, the late-data tag and its
/// link to the query's checkpoints. Throws GraphError naming the operator
/// when the query stores checkpoints and Op cannot be checkpointed: it lacks
/// the hooks, or a type it keeps (`static std::string unserializable_state()`,
/// the name of one without a Serde, "" if none) cannot be written.
template <class Op>
KeyedOperatorSettings keyed_operator_settings(BuildContext& ctx, const std::string& name,
                                              std::uint64_t late_tag_id = 0) {
  const KeyGroupRange kgs = local_key_groups(ctx.worker_index(), ctx.settings);
  OperatorState* state = ctx.operator_state(name);
  if (state != nullptr && state->storing()) {
    if constexpr (!Op::kCheckpointable) {
      throw GraphError(name, "", "this operator cannot be checkpointed yet; run the query without checkpoints");
    } else if constexpr (requires { Op::unserializable_state(); }) {
      const std::string type = Op::unserializable_state();
      if (!type.empty())
        throw GraphError(name, "",
                         "its state holds " + type +
                             ", which has no Serde (streaming/serde.hpp): specialize sluice::Serde for it to "
                             "checkpoint this query");
    }
  }
  return {kgs.first, kgs.count, ctx.settings.batch_size, late_tag_id, state};
}

}  // namespace sluice::detail
