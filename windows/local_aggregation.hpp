// Local-global aggregation of keyed event-time windows across workers.
//
// With several workers, `key_by(k).window(w).aggregate(a...)` would send every
// record to the worker that owns its key. Instead each worker first folds the
// records it reads into one partial accumulator per key and slice (the local
// stage), and only those partials cross to the key's owner, which merges them
// into its windows (the global stage, the ordinary slicing window operator).
// Workload B sends ~10,000 partials per window and worker instead of ~500,000
// records. This is Flink SQL's two-phase ("local-global") aggregation,
// `table.optimizer.agg-phase-strategy`, which it applies when every aggregate
// can merge.
//
// When it applies (WindowedStream::aggregate decides at build time): tumbling
// or sliding event-time windows that emit at their end, no allowed lateness
// and no late-data side output (the local stage folds records away, so it
// cannot hand them on one by one), and no holistic aggregate (a list keeps
// every record anyway). `.local_aggregation(false)` turns it off.
//
// What stays the same: results (for aggregates whose merge does not depend on
// which records each partial holds: counts, sums, min/max, averages, distinct
// counts; first/last may break timestamp ties differently, as arrival order
// between workers already does), late records (counted by the window, see
// below), watermarks. What differs: the operators in the metrics. key_by's
// name counts the partials moved between workers (and names their
// channels), as it counted records; "<window>.local" counts the records in
// and the partials out; the window counts partials in. (If another operator
// also reads key_by, key_by runs for it and the partials' exchange is
// "<window>.exchange".)
//
// The local stage keeps a slice's partials until its watermark passes the
// slice's end, then sends them, before it forwards the watermark; so the
// global stage has every partial of a slice before it may close the slice.
// A record whose slice the local watermark already passed goes out at the end
// of its batch, and the global stage judges it as it would the record: into
// later windows that still hold the slice (sliding), else late (counted). A
// checkpoint barrier sends every partial, of open slices too, before it
// passes (as Flink's mini-batch aggregation flushes before a snapshot), so
// the local stage holds no state across a barrier and has none to snapshot;
// the global stage merges a slice's partials whenever they come.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "operators/key_by.hpp"
#include "streaming/detail/exchange.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/detail/graph.hpp"
#include "streaming/key_groups.hpp"
#include "windows/window_operator.hpp"

namespace sluice::detail {

/// The local stage on one worker: folds the records it reads into partials
/// per key and slice, and sends a slice's partials once the watermark passes
/// its end.
template <class K, class T, class Aggs>
class LocalWindowAggregator final : public Input<T>, public Lifecycle {
  using Acc = typename Aggs::acc_type;
  using P = Partial<Acc>;
  using Table = FlatHashMap<K, P>;

 public:
  LocalWindowAggregator(Aggs aggs, const TimeWindows& windows, std::unique_ptr<BatchKeyer<K, T>> keyer,
                        std::size_t max_parallelism, std::size_t batch_size, OperatorMetrics& metrics)
      : aggs_(std::move(aggs)),
        grid_(windows),
        keyer_(std::move(keyer)),
        max_parallelism_(max_parallelism),
        batch_size_(std::max<std::size_t>(batch_size, 1)),
        metrics_(metrics) {}

  Output<Keyed<K, P>>& output() { return out_; }

  void push(Batch<T>& batch) override {
    const std::size_t n = batch.size();
    metrics_.records_in.add(n);
    keys_.resize(n);
    keyer_->key(batch, keys_.data());
    const RecordKey<K>* keys = keys_.data();
    // The slice of the last record [start, end) and its table, in locals
    // (stores into accumulators may alias members).
    Timestamp start = 0, end = 0;
    Table* table = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
      // As the window operator does: fetch the slot of a record kAhead further on.
      if (i + kAhead < n && table != nullptr) table->prefetch(keys[i + kAhead].hash);
      const Timestamp ts = batch[i].ts_us;
      if (ts < start || ts >= end) [[unlikely]] {
        if (!is_valid_timestamp(ts)) {  // no window holds it: late, as the window operator counts it
          metrics_.late_records.add(1);
          start = end = 0;
          continue;
        }
        end = grid_.slice_end(ts);
        start = end - grid_.slice;
        table = &slice_table(end);
      }
      auto [p, inserted] = table->try_emplace_hashed(keys[i].key, keys[i].hash);
      if (inserted) p->acc = aggs_.create();
      aggs_.add(p->acc, std::as_const(batch[i].value), ts);
      ++p->records;
    }
    // Records of slices the watermark already passed: the window judges them now.
    if (!open_.empty() && open_.begin()->first - 1 <= watermark_) send_until(watermark_);
  }

  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) {
      metrics_.watermark_us.set(c.ts_us);
      watermark_ = std::max(watermark_, c.ts_us);
      send_until(watermark_);
    } else if (c.kind == Control::Kind::kEndOfInput || c.kind == Control::Kind::kBarrier) {
      // A barrier: what the partials hold belongs to its checkpoint, in the
      // window's state, so they leave before it.
      send_until(kMaxTimestamp);
    }
    out_.control(c);
  }

  const std::string& operator_name() const override { return metrics_.name; }
  void reachable_gates(std::vector<FlowGate*>& out) override { out_.reachable_gates(out); }

 private:
  static constexpr std::size_t kAhead = 8;  // records between a slot's prefetch and its lookup

  Table& slice_table(Timestamp end) {
    auto [it, inserted] = open_.try_emplace(end);
    if (inserted && !spare_.empty()) {
      it->second = std::move(spare_.back());
      spare_.pop_back();
    }
    return it->second;
  }

  /// Sends the partials of every slice ending at or before `time` + 1, oldest first.
  void send_until(Timestamp time) {
    while (!open_.empty() && open_.begin()->first - 1 <= time) {
      const Timestamp end = open_.begin()->first;
      // A partial's timestamp: the slice's last valid microsecond (a slice
      // holding kMaxValidTimestamp ends past it).
      const Timestamp last_valid = std::min(end - 1, kMaxValidTimestamp);
      Table& t = open_.begin()->second;
      t.for_each([&](const K& key, P& p) {
        const std::uint64_t hash = hash_key(key);
        out_buf_.push_back(Record<Keyed<K, P>>{Keyed<K, P>{key, key_group_of(hash, max_parallelism_), std::move(p), hash},
                                               last_valid});
        if (out_buf_.size() >= batch_size_) send();
      });
      t.clear_keep_capacity();
      spare_.push_back(std::move(t));
      open_.erase(open_.begin());
    }
    send();
  }

  void send() {
    if (out_buf_.empty()) return;
    metrics_.records_out.add(out_buf_.size());
    out_.push(out_buf_);
    out_buf_.clear();
  }

  Aggs aggs_;
  SliceGrid grid_;
  std::unique_ptr<BatchKeyer<K, T>> keyer_;
  std::size_t max_parallelism_;
  std::size_t batch_size_;
  OperatorMetrics& metrics_;
  Timestamp watermark_ = kMinTimestamp;
  std::vector<RecordKey<K>> keys_;
  std::map<Timestamp, Table> open_;  // slice end -> partials by key
  std::vector<Table> spare_;         // tables of sent slices, for reuse
  Output<Keyed<K, P>> out_;
  Batch<Keyed<K, P>> out_buf_;
};

/// Routes a partial to the owner of its key group (computed by the local stage).
template <class K, class P>
class PartialRoute {
 public:
  void bind(const RunSettings& s) { owner_ = key_group_owners(s.max_parallelism, s.workers); }
  Keyed<K, P> route(Keyed<K, P>&& partial, std::size_t& dst) const {
    dst = owner_[partial.key_group];
    return std::move(partial);
  }

 private:
  std::vector<std::uint32_t> owner_;
};

/// Hands partials off the exchange to the global window operator.
template <class K, class T, class Aggs>
class PartialInput final : public Input<Keyed<K, Partial<typename Aggs::acc_type>>>, public Lifecycle {
 public:
  explicit PartialInput(SlicingWindowOperator<K, T, Aggs>& window) : window_(window) {}
  void push(Batch<Keyed<K, Partial<typename Aggs::acc_type>>>& batch) override { window_.push_partials(batch); }
  void control(const Control& c) override { window_.control(c); }
  void reachable_gates(std::vector<FlowGate*>& out) override { window_.reachable_gates(out); }
  const std::string& operator_name() const override { return window_.operator_name(); }

 private:
  SlicingWindowOperator<K, T, Aggs>& window_;
};

/// With one worker there is nothing to save: records are keyed in place and
/// go straight to the window, as key_by would hand them over.
template <class K, class T, class Aggs>
class KeyInPlace final : public Input<T>, public Lifecycle {
 public:
  KeyInPlace(std::unique_ptr<BatchKeyer<K, T>> keyer, SlicingWindowOperator<K, T, Aggs>& window,
             OperatorMetrics& metrics)
      : keyer_(std::move(keyer)), window_(window), metrics_(metrics) {}
  void push(Batch<T>& batch) override {
    if (batch.empty()) return;
    metrics_.records_in.add(batch.size());
    metrics_.records_out.add(batch.size());
    local_.records = &batch;
    local_.keys.resize(batch.size());
    keyer_->key(batch, local_.keys.data());
    try {
      window_.push_local(local_);
    } catch (...) {
      rethrow_in_operator(window_.operator_name());
    }
  }
  void control(const Control& c) override {
    if (c.kind == Control::Kind::kWatermark) metrics_.watermark_us.set(c.ts_us);
    window_.control(c);
  }
  void reachable_gates(std::vector<FlowGate*>& out) override { window_.reachable_gates(out); }
  const std::string& operator_name() const override { return metrics_.name; }

 private:
  std::unique_ptr<BatchKeyer<K, T>> keyer_;
  SlicingWindowOperator<K, T, Aggs>& window_;
  OperatorMetrics& metrics_;
  LocalKeyedBatch<K, T> local_;
};

/// key_by + window + aggregate as one node that reads key_by's input: the
/// local stage, an exchange of partials and the global window operator.
template <class K, class T, class Aggs>
class LocalGlobalWindowNode final : public Node {
  using P = Partial<typename Aggs::acc_type>;
  using Out = WindowResult<K, typename Aggs::result_type>;

 public:
  LocalGlobalWindowNode(int in, int out, const KeySource<K, T>* keys, Aggs aggs, const TimeWindows& windows)
      : Node("window", ""), in_(in), out_(out), keys_(keys), aggs_(std::move(aggs)), windows_(windows) {}
  bool has_side_outputs() const override { return true; }

  void prepare(const RunSettings& settings, SharedState& shared, MetricsRegistry& metrics) const override {
    if (settings.workers > 1)
      shared.by_node[static_cast<std::size_t>(id())] =
          std::make_shared<ChannelMatrix<Keyed<K, P>>>(settings, shared.workers, metrics, exchange_name(shared));
  }

  void instantiate(BuildContext& ctx) const override {
    const RunSettings& s = ctx.settings;
    // Metrics: the exchange (partials on several workers, keying in place on
    // one) under key_by's name, unless key_by also runs for another reader.
    OperatorMetrics& exchange_metrics = ctx.metrics.add_operator(exchange_name(ctx.shared), "key_by");
    OperatorMetrics& m = ctx.metrics.add_operator(name(), kind());
    using Window = SlicingWindowOperator<K, T, Aggs>;
    const KeyedOperatorSettings k = keyed_operator_settings<Window>(ctx, name());
    auto& window = ctx.make<Window>(aggs_, WindowSettings{windows_, 0, 0}, m, *s.clock, k.first_key_group,
                                    k.key_groups, s.max_parallelism, s.batch_size, k.state);
    make_side_outputs(ctx, window.sides());
    ctx.set_port<Out>(out_, window.output());
    if (s.workers == 1) {
      ctx.port<T>(in_).connect(&ctx.make<KeyInPlace<K, T, Aggs>>(keys_->make_keyer(s), window, exchange_metrics));
      return;
    }
    OperatorMetrics& local_metrics = ctx.metrics.add_operator(name() + ".local", "local_window");
    auto& local = ctx.make<LocalWindowAggregator<K, T, Aggs>>(aggs_, windows_, keys_->make_keyer(s),
                                                              s.max_parallelism, s.batch_size, local_metrics);
    ctx.port<T>(in_).connect(&local);
    auto matrix =
        std::any_cast<std::shared_ptr<ChannelMatrix<Keyed<K, P>>>>(ctx.shared.by_node[static_cast<std::size_t>(id())]);
    PartialRoute<K, P> route;
    route.bind(s);
    Output<Keyed<K, P>>& partials =
        wire_exchange<Keyed<K, P>, Keyed<K, P>>(ctx, *matrix, std::move(route), exchange_metrics, local.output());
    partials.connect(&ctx.make<PartialInput<K, T, Aggs>>(window));
  }

 private:
  std::string exchange_name(const SharedState& shared) const {
    const bool key_by_runs = !shared.port_consumers.empty() &&
                             shared.port_consumers.at(static_cast<std::size_t>(keys_->output_port())) > 0;
    return key_by_runs ? name() + ".exchange" : keys_->key_by_name();
  }

  int in_, out_;
  const KeySource<K, T>* keys_;  // the key_by node, owned by the same graph
  Aggs aggs_;
  TimeWindows windows_;
};

}  // namespace sluice::detail
