// The window operator for count windows (windows/count_windows.hpp).
//
// State is per local key group: a hash table key -> index into a vector of
// key states, each holding the key's position (records seen), the
// accumulator of the slice being filled (gcd(size, slide) records) and, for
// sliding windows, a SliceQueue (windows/detail/slice_queue.hpp) of the key's
// last size/slice slices with their running merge. A record costs one hash
// lookup and one `add`; closing a slice costs a constant number of merges
// (retract, or two stacks), so neither grows with size/slide. Tumbling
// windows keep no queue: the slice is the window.
//
// A window fires while the record that completes it is processed; results
// come out in record order and carry that record's timestamp. Watermarks
// and the other control messages pass through unchanged, after the results
// of every record before them. Nothing fires at the end of input: the
// records of incomplete windows are dropped (Flink semantics).
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
#include "streaming/stream.hpp"
#include "windows/aggregate.hpp"
#include "windows/count_windows.hpp"
#include "windows/detail/slice_queue.hpp"
#include "windows/window.hpp"
#include "windows/window_operator.hpp"

namespace sluice::detail {

/// A key's state in the count window operator. Cache-line aligned: with
/// random keys each record's state is a cache miss, and a state that
/// straddles lines would be two.
template <class Aggs>
struct alignas(64) CountKeyState {
  explicit CountKeyState(const Aggs& aggs) : open(aggs.create()), queue(aggs) {}
  std::int64_t count = 0;           // records of the key so far (its next position)
  std::int64_t in_slice = 0;        // records in `open`
  std::int64_t slices_to_fire = 0;  // sliding: slices still to close before the next window ends
  typename Aggs::acc_type open;     // the slice being filled
  SliceQueue<Aggs> queue;           // sliding: the key's last size/slice closed slices
};

/// One local key group of the count window operator: key -> index of its
/// state. Count windows never drop a key (its position must survive), so
/// states only ever append and an index stays valid for the life of the
/// operator.
template <class K, class Aggs>
struct CountKeyGroup {
  FlatHashMap<K, std::uint32_t> index;
  std::vector<CountKeyState<Aggs>> states;
};

template <class K, class T, class Aggs>
class CountWindowOperator final
    : public KeyedOperatorBase<CountWindowOperator<K, T, Aggs>, Input<Keyed<K, T>>,
                               WindowResult<K, typename Aggs::result_type>, CountKeyGroup<K, Aggs>> {
  using Base = KeyedOperatorBase<CountWindowOperator, Input<Keyed<K, T>>, WindowResult<K, typename Aggs::result_type>,
                                 CountKeyGroup<K, Aggs>>;
  friend Base;
  using Base::flush, Base::flush_if_full, Base::groups_, Base::metrics_, Base::out_buf_;
  using Acc = typename Aggs::acc_type;
  using Values = typename Aggs::result_type;
  using Out = WindowResult<K, Values>;
  using KeyState = CountKeyState<Aggs>;
  using Group = CountKeyGroup<K, Aggs>;

 public:
  static constexpr SliceCombine kCombine = slice_combine_of<Aggs>;

  CountWindowOperator(Aggs aggs, const CountWindows& spec, OperatorMetrics& metrics, const Clock& clock,
                      std::uint32_t first_kg, std::uint32_t kg_count, std::size_t batch_size,
                      OperatorState* state = nullptr)
      : Base(metrics, clock, {first_kg, kg_count, batch_size, 0, state}),
        aggs_(std::move(aggs)),
        size_(spec.size),
        slice_(spec.slice()),
        slices_per_slide_(spec.slide / spec.slice()),
        slices_per_window_(static_cast<std::size_t>(spec.size / spec.slice())),
        tumbling_(spec.is_tumbling()) {}

  void push(Batch<Keyed<K, T>>& batch) override {
    const std::size_t n = batch.size();
    for (std::size_t from = 0; from < n; from += kChunk) push_chunk(batch.data() + from, std::min(kChunk, n - from));
    metrics_.records_in.add(n);
    flush();
  }

  /// The first type of the state without a Serde ("" if none): such an
  /// operator cannot be checkpointed.
  static std::string unserializable_state() { return first_unserializable<K, Acc>(); }

  /// Keys holding state (for tests and metrics; O(keys)). Count windows
  /// keep a key's position forever, so this only grows.
  std::size_t key_count() const {
    std::size_t n = 0;
    for (const Group& g : groups_) n += g.states.size();
    return n;
  }

 private:
  /// Records per pass (below): what one pass prefetches must still be in
  /// cache when the last pass gets to it. On count_sliding(1000, 1) over
  /// 10,000 keys, driving the operator alone, 128 was about a third faster
  /// than the whole batch of 1024 (32 to 256 close); inside a job
  /// (bench_count_windows) the difference is within this VM's noise.
  static constexpr std::size_t kChunk = 128;

  /// Processes records [0, n) in passes, so that the cache misses of random
  /// keys overlap (each pass's iterations are independent): find (or
  /// create) every record's state, then prefetch the states, then the ring
  /// slots that records closing a slice will write, then process the
  /// records in order. State pointers are taken after the first pass, the
  /// only one that inserts (and may move states).
  void push_chunk(Record<Keyed<K, T>>* records, std::size_t n) {
    std::uint32_t index[kChunk];
    KeyState* states[kChunk];
    constexpr std::size_t kAhead = 16;
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {
        const Keyed<K, T>& ahead = records[i + kAhead].value;
        group(ahead.key_group).index.prefetch(ahead.key_hash);
      }
      index[i] = state_index(group(records[i].value.key_group), records[i].value);
      this->mark_changed(records[i].value.key_group);  // incremental checkpoints: only records change a group
    }
    for (std::size_t i = 0; i < n; ++i) {
      states[i] = group(records[i].value.key_group).states.data() + index[i];
      __builtin_prefetch(states[i], 1);
      if constexpr (sizeof(KeyState) > 64) __builtin_prefetch(reinterpret_cast<const char*>(states[i]) + 64, 1);
    }
    if (!tumbling_)
      for (std::size_t i = 0; i < n; ++i)
        if (states[i]->in_slice + 1 >= slice_) states[i]->queue.prefetch(slices_per_window_);  // closes a slice
    for (std::size_t i = 0; i < n; ++i) {
      Record<Keyed<K, T>>& r = records[i];
      Keyed<K, T>& k = r.value;
      KeyState& ks = *states[i];
      add_value(aggs_, ks.open, std::as_const(k.value), r.ts_us);
      ++ks.count;
      if (++ks.in_slice < slice_) continue;
      ks.in_slice = 0;
      if (tumbling_) {
        emit(k.key, ks.count - size_, ks.count, aggs_.result(ks.open), r.ts_us);
        ks.open = aggs_.create();
        continue;
      }
      ks.queue.push(aggs_, std::exchange(ks.open, aggs_.create()), slices_per_window_);
      if (ks.slices_to_fire == 0) ks.slices_to_fire = slices_per_slide_;
      if (--ks.slices_to_fire == 0)
        emit(k.key, std::max<std::int64_t>(0, ks.count - size_), ks.count, ks.queue.result(aggs_), r.ts_us);
    }
  }

  Group& group(std::uint32_t key_group) { return groups_[key_group]; }

  // ---- checkpoints (the base's hooks) ----
  //
  // A key group's section: its keys' states in the order they were created
  // (each: key, position, the slice being filled and, for sliding windows,
  // the queue of closed slices with its partial merges as they are). Count
  // windows have no time to save, and only records change a group (marked
  // in push_chunk): incremental checkpoints reuse the others.

 public:
  static constexpr bool kTracksChangedKeyGroups = true;

 private:

  void snapshot_key_group(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      const Group& g = groups_[kg];
      std::vector<const K*> keys(g.states.size());
      g.index.for_each([&](const K& key, std::uint32_t i) { keys[i] = &key; });
      w.write_varint(g.states.size());
      for (std::size_t i = 0; i < g.states.size(); ++i) {
        const KeyState& ks = g.states[i];
        w.write(*keys[i]);
        w.write(ks.count);
        w.write(ks.in_slice);
        w.write(ks.slices_to_fire);
        w.write(ks.open);
        if (!tumbling_) ks.queue.write(w);
      }
    } else {
      throw GraphError(metrics_.name, "", "cannot checkpoint: its state holds " + unserializable_state());
    }
  }

  void restore_key_group(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K> && Serializable<Acc>) {
      Group& g = groups_[kg];
      auto check = [&](const Acc& acc) {
        if constexpr (requires { aggs_.check_restored(acc); }) aggs_.check_restored(acc);
      };
      const std::size_t n = r.read_count(ReadContext::of<Group>("key count"), 1 + 3 * 8);
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = r.offset();
        K key = r.read<K>();
        KeyState ks(aggs_);
        ks.count = r.read<std::int64_t>();
        ks.in_slice = r.read<std::int64_t>();
        ks.slices_to_fire = r.read<std::int64_t>();
        if (ks.count < 0 || ks.in_slice < 0 || ks.in_slice >= slice_ || ks.slices_to_fire < 0 ||
            ks.slices_to_fire > slices_per_slide_)
          StateReader::fail(at, ReadContext::of<KeyState>("positions"), "out of range for this window spec");
        ks.open = r.read<Acc>();
        check(ks.open);
        if (!tumbling_) ks.queue.read(r, slices_per_window_, check);
        auto [idx, inserted] = g.index.try_emplace(key, static_cast<std::uint32_t>(g.states.size()));
        if (!inserted) StateReader::fail(at, ReadContext::of<Group>("entry"), "repeated key");
        g.states.push_back(std::move(ks));
      }
    }
  }

  /// The index of the key's state in its group, created if new.
  std::uint32_t state_index(Group& g, const Keyed<K, T>& k) {
    auto [idx, inserted] = g.index.try_emplace_hashed(k.key, k.key_hash, static_cast<std::uint32_t>(g.states.size()));
    if (inserted) g.states.emplace_back(aggs_);
    return *idx;
  }

  void emit(const K& key, std::int64_t start, std::int64_t end, Values values, Timestamp ts) {
    out_buf_.push_back(Record<Out>{Out{key, TimeWindow{start, end}, std::move(values), ChangeKind::kInsert}, ts});
    flush_if_full();
  }

  Aggs aggs_;
  std::int64_t size_;
  std::int64_t slice_;               // records per slice: gcd(size, slide)
  std::int64_t slices_per_slide_;
  std::size_t slices_per_window_;
  bool tumbling_;
};

template <class K, class T, class Aggs>
class CountWindowNode final : public Node {
  using Out = WindowResult<K, typename Aggs::result_type>;

 public:
  using operator_type = CountWindowOperator<K, T, Aggs>;

  CountWindowNode(int in, int out, Aggs aggs, const CountWindows& spec, const LateSettings& /*late*/)
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
  CountWindows spec_;
};

template <class K, class T, class Aggs>
struct WindowNodeOf<K, T, Aggs, CountWindows> {
  using type = CountWindowNode<K, T, Aggs>;
};

}  // namespace sluice::detail
