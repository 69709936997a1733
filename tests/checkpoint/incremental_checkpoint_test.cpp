// Incremental checkpoints of running queries (issue 15): a checkpoint writes
// only the key groups whose state changed since the previous completed one
// and refers to the rest; restoring from such a chain (also after retention
// dropped the older manifests, after a failed checkpoint, and onto another
// worker count) gives exactly the output of a run without a crash.
//
// The job: a replayable gated source of 0..n-1 (worker 0 reads it all),
// keyed by key_of(v) (1000 keys for v < 2000, then only 3 keys, so few key
// groups change), a keyed process function counting records per key (and,
// optionally, an event-time timer per record), and a sink of per-worker
// lists that each roll back to their handle on restore.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/rocksdb_checkpoints.hpp"
#include "sluice/sluice.hpp"
#include "store_support.hpp"
#include "streaming/engine.hpp"
#include "streaming/watermark_operator.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using i64 = std::int64_t;

class GatedSource final : public Source<i64> {
 public:
  GatedSource(i64 n, i64 gate) : s_(std::make_shared<Shared>()) {
    s_->n = n;
    s_->gate.store(gate);
  }
  std::string default_name() const override { return "numbers"; }
  bool supports_checkpoints() const override { return true; }
  void move_gate(i64 to) const { s_->gate.store(to); }
  std::unique_ptr<SourceReader<i64>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(s_, ctx.worker_index);
  }

 private:
  struct Shared {
    i64 n = 0;
    std::atomic<i64> gate{0};
  };
  class Reader final : public SourceReader<i64> {
   public:
    Reader(std::shared_ptr<Shared> s, std::size_t worker) : s_(std::move(s)), worker_(worker) {}
    SourceStatus poll(Batch<i64>& out, std::vector<DeadLetter>&, std::size_t max) override {
      if (worker_ != 0 || next_ >= s_->n) return SourceStatus::kEnd;
      const i64 until = std::min({s_->n, s_->gate.load(), next_ + static_cast<i64>(max)});
      for (; next_ < until; ++next_) out.push_back(Record<i64>{next_, next_});
      if (next_ >= s_->n) return SourceStatus::kEnd;
      return out.empty() ? SourceStatus::kNothingNow : SourceStatus::kMore;
    }
    void snapshot_position(StateWriter& w) const override { w.write(next_); }
    void restore_position(const std::vector<std::string_view>& positions) override {
      next_ = worker_ == 0 ? deserialize<i64>(positions.at(0)) : s_->n;
    }

   private:
    std::shared_ptr<Shared> s_;
    std::size_t worker_;
    i64 next_ = 0;
  };
  std::shared_ptr<Shared> s_;
};

// One list per worker; a writer's handle is its list's length. On restore
// writer w truncates every old instance i's list with i % workers == w to
// i's handle (so lists of instances the new run lacks are rolled back too).
class ListsSink final : public Sink<i64> {
 public:
  ListsSink() : s_(std::make_shared<Shared>()) {}
  std::string default_name() const override { return "lists"; }
  std::unique_ptr<SinkWriter<i64>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index, ctx.worker_count);
  }
  std::multiset<i64> all() const {
    std::lock_guard lock(s_->mu);
    std::multiset<i64> out;
    for (const auto& l : s_->lists) out.insert(l.begin(), l.end());
    return out;
  }
  /// Record outputs (non-negative values) so far.
  std::size_t records() const {
    std::lock_guard lock(s_->mu);
    std::size_t n = 0;
    for (const auto& l : s_->lists) n += static_cast<std::size_t>(std::count_if(l.begin(), l.end(), [](i64 v) { return v >= 0; }));
    return n;
  }

 private:
  struct Shared {
    std::mutex mu;
    std::vector<std::vector<i64>> lists = std::vector<std::vector<i64>>(8);
  };
  class Writer final : public SinkWriter<i64> {
   public:
    Writer(std::shared_ptr<Shared> s, std::size_t w, std::size_t n) : s_(std::move(s)), w_(w), n_(n) {}
    void write(Batch<i64>& batch) override {
      std::lock_guard lock(s_->mu);
      for (auto& r : batch) s_->lists[w_].push_back(r.value);
    }
    void on_checkpoint_barrier(std::uint64_t, StateWriter& handle) override {
      std::lock_guard lock(s_->mu);
      handle.write(static_cast<std::uint64_t>(s_->lists[w_].size()));
    }
    void restore(std::uint64_t, const std::vector<std::string_view>& handles) override {
      std::lock_guard lock(s_->mu);
      for (std::size_t i = w_; i < s_->lists.size(); i += n_)
        s_->lists[i].resize(i < handles.size() ? deserialize<std::uint64_t>(handles[i]) : 0);
    }

   private:
    std::shared_ptr<Shared> s_;
    std::size_t w_, n_;
  };
  std::shared_ptr<Shared> s_;
};

i64 key_of(i64 v) { return v < 2000 ? v % 1000 : v % 3; }

// Emits key * 1e6 + its count for each record; with timers, also
// -(key * 1e6 + t) when the event-time timer t = ts + 5 fires.
template <bool kTimers>
struct Counter : KeyedProcessFunction<i64, i64, i64> {
  ValueState<i64, i64> count;
  void open(Context& ctx) { count = ctx.value_state<i64>("count"); }
  void process(const i64&, Context& ctx, Collector<i64>& out) {
    const i64 c = count.value().value_or(0) + 1;
    count.set(c);
    out.emit(ctx.key() * 1'000'000 + c);
    if constexpr (kTimers) ctx.register_event_time_timer(ctx.timestamp() + 5);
  }
  void on_timer(Timestamp t, Context& ctx, Collector<i64>& out) { out.emit(-(ctx.key() * 1'000'000 + t)); }
};

template <bool kTimers>
Job make_job(const std::shared_ptr<GatedSource>& source, const std::shared_ptr<ListsSink>& sink) {
  Job job("counts");
  job.source<i64>(source, "numbers")
      .watermarks(ascending().with_emit_interval(0us))
      .name("wm")
      .key_by([](i64 v) { return key_of(v); })
      .process(Counter<kTimers>{})
      .name("proc")
      .sink(sink, "out");
  return job;
}

// What a run without a crash emits for 0..n-1.
std::multiset<i64> expected(i64 n, bool timers) {
  std::multiset<i64> out;
  std::map<i64, i64> counts;
  for (i64 v = 0; v < n; ++v) {
    const i64 k = key_of(v);
    out.insert(k * 1'000'000 + ++counts[k]);
    if (timers) out.insert(-(k * 1'000'000 + v + 5));
  }
  return out;
}

QueryOptions options(const std::shared_ptr<const CheckpointStorage>& storage, std::vector<std::string>& log,
                     std::size_t workers) {
  QueryOptions o;
  o.workers = workers;
  o.checkpoints.storage = storage;
  o.checkpoints.log = [&log](const std::string& line) { log.push_back(line); };
  return o;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Moves the gate, waits for its records' outputs, checkpoints.
std::uint64_t advance_and_checkpoint(Query& q, const GatedSource& source, const ListsSink& sink, i64 gate,
                                     std::size_t outputs_before = 0) {
  source.move_gate(gate);
  REQUIRE(wait_until([&] { return sink.records() >= outputs_before + static_cast<std::size_t>(gate); }));
  const std::uint64_t id = q.checkpoint_now();
  REQUIRE(q.wait_for_checkpoint(id, 20s));
  return id;
}

// The key groups (of 128) keys 0, 1 and 2 fall into.
std::set<std::uint32_t> small_key_groups() {
  std::set<std::uint32_t> kgs;
  for (i64 k = 0; k < 3; ++k) kgs.insert(key_group_of(hash_key(k), 128));
  return kgs;
}

// Parts of operator "proc" in checkpoint `id`: key -> id of the checkpoint that wrote its payload.
std::map<std::string, std::uint64_t> proc_parts(const CheckpointStore& store, std::uint64_t id) {
  std::map<std::string, std::uint64_t> out;
  for (const PartRef& p : store.load(id).parts)
    if (p.operator_uid == "proc") out[p.part_key] = detail::payload_key_writer(p.payload_key).value_or(0);
  return out;
}

// Checkpoint storage whose commit fails while `fail` is set.
class FlakyStorage final : public CheckpointStorage {
 public:
  explicit FlakyStorage(std::shared_ptr<const CheckpointStorage> inner) : inner_(std::move(inner)) {}
  std::shared_ptr<std::atomic<bool>> fail = std::make_shared<std::atomic<bool>>(false);
  std::string describe() const override { return inner_->describe(); }
  std::unique_ptr<CheckpointSession> open(const std::string& job, std::size_t retained,
                                          std::function<void(const std::string&)> log) const override {
    return std::make_unique<Session>(inner_->open(job, retained, std::move(log)), fail);
  }

 private:
  class Writer final : public CheckpointWriter {
   public:
    Writer(std::unique_ptr<CheckpointWriter> w, std::shared_ptr<std::atomic<bool>> fail)
        : w_(std::move(w)), fail_(std::move(fail)) {}
    void add_part(std::string_view op, std::string_view key, std::string_view bytes) override { w_->add_part(op, key, bytes); }
    void reuse_part(std::string_view op, std::string_view key) override { w_->reuse_part(op, key); }
    void commit() override {
      if (fail_->load()) throw std::runtime_error("disk full (test)");
      w_->commit();
    }
    void abort() noexcept override { w_->abort(); }

   private:
    std::unique_ptr<CheckpointWriter> w_;
    std::shared_ptr<std::atomic<bool>> fail_;
  };
  class Session final : public CheckpointSession {
   public:
    Session(std::unique_ptr<CheckpointSession> s, std::shared_ptr<std::atomic<bool>> fail)
        : s_(std::move(s)), fail_(std::move(fail)) {}
    std::unique_ptr<CheckpointWriter> begin(std::uint64_t id, bool sp, std::uint64_t base) override {
      return std::make_unique<Writer>(s_->begin(id, sp, base), fail_);
    }
    std::optional<RestoredCheckpoint> restore_latest() override { return s_->restore_latest(); }
    std::uint64_t newest_id() override { return s_->newest_id(); }
    RestoredCheckpoint restore(std::uint64_t id) override { return s_->restore(id); }
    void put_marker(std::string_view k, std::string_view v) override { s_->put_marker(k, v); }
    std::optional<std::string> get_marker(std::string_view k) override { return s_->get_marker(k); }
    void write_savepoint(std::uint64_t id, const std::filesystem::path& dir) override { s_->write_savepoint(id, dir); }
    RestoredCheckpoint read_savepoint(const std::filesystem::path& dir) override { return s_->read_savepoint(dir); }

   private:
    std::unique_ptr<CheckpointSession> s_;
    std::shared_ptr<std::atomic<bool>> fail_;
  };
  std::shared_ptr<const CheckpointStorage> inner_;
};

}  // namespace

TEST_CASE("an incremental checkpoint writes only the key groups that changed and refers to the rest",
          "[checkpoint][query][incremental]") {
  TempDir dir;
  std::vector<std::string> log;
  auto source = std::make_shared<GatedSource>(3000, 0);
  auto sink = std::make_shared<ListsSink>();
  Job job = make_job<false>(source, sink);
  Engine engine;
  auto q = engine.start("counts", job, options(rocksdb_checkpoints(dir.path()), log, 1));
  // 2000 records over 1000 keys: every key group holds state.
  const std::uint64_t first = advance_and_checkpoint(*q, *source, *sink, 2000);
  CHECK(q->checkpoint_stats().last_parts_reused == 0);  // the first is full
  // 100 records of keys 0, 1, 2 only.
  const std::uint64_t second = advance_and_checkpoint(*q, *source, *sink, 2100);
  // Their key groups get a delta (3 keys of ~8 changed) on top of the full
  // section, which is reused like every other group's.
  const std::set<std::uint32_t> changed = small_key_groups();
  const CheckpointStats stats = q->checkpoint_stats();
  CHECK(stats.last_parts_reused == 128);
  // Nothing changed: everything keyed is reused, deltas included.
  const std::uint64_t third = advance_and_checkpoint(*q, *source, *sink, 2100);
  CHECK(q->checkpoint_stats().last_parts_reused == 128 + changed.size());
  source->move_gate(3000);
  q->wait();
  CHECK(sink->all() == expected(3000, false));

  CheckpointStore store(dir / "counts", CheckpointStoreOptions{.job_id = "counts"});
  const auto p1 = proc_parts(store, first), p2 = proc_parts(store, second), p3 = proc_parts(store, third);
  REQUIRE(p1.size() == 129);  // 128 key groups and the instance's times
  REQUIRE(p2.size() == 129 + changed.size());  // and a delta per changed group
  for (const auto& [key, writer] : p1) CHECK(writer == first);
  for (std::uint32_t kg : changed) CHECK(p2.count("kgd/" + std::to_string(kg) + "/1") == 1);
  for (const auto& [key, writer] : p2) {
    INFO(key);
    CHECK(writer == (key.starts_with("kgd/") || key.starts_with("times/") ? second : first));
  }
  for (const auto& [key, writer] : p3) CHECK(writer == (key.starts_with("times/") ? third : p2.at(key)));
  // Reused payloads are stored once.
  CHECK(store.storage_stats().payloads < 3 * 129);
}

TEST_CASE("a restore from a chain of incremental checkpoints gives the crash-free output, on any worker count",
          "[checkpoint][query][incremental]") {
  const auto [before, after] = GENERATE(table<std::size_t, std::size_t>({{1, 1}, {1, 2}, {2, 1}, {2, 2}}));
  CAPTURE(before, after);
  TempDir dir;
  std::vector<std::string> log;
  auto sink = std::make_shared<ListsSink>();
  std::uint64_t last = 0;
  {
    auto source = std::make_shared<GatedSource>(3000, 0);
    Job job = make_job<true>(source, sink);
    QueryOptions o = options(rocksdb_checkpoints(dir.path()), log, before);
    o.checkpoints.retained = 2;  // the chain's older manifests go; the payloads they share stay
    Engine engine;
    auto q = engine.start("counts", job, o);
    advance_and_checkpoint(*q, *source, *sink, 1500);
    advance_and_checkpoint(*q, *source, *sink, 2050);
    advance_and_checkpoint(*q, *source, *sink, 2100);
    last = advance_and_checkpoint(*q, *source, *sink, 2150);
    CHECK(q->checkpoint_stats().last_parts_reused > 100);
    // Output after the last checkpoint: rolled back on restore, then replayed.
    source->move_gate(2400);
    REQUIRE(wait_until([&] { return sink->records() >= 2400; }));
    q->stop();
  }
  {
    CheckpointStore store(dir / "counts", CheckpointStoreOptions{.job_id = "counts"});
    CHECK(store.list().size() == 2);
    const auto parts = proc_parts(store, last);
    CHECK(std::count_if(parts.begin(), parts.end(), [&](const auto& p) { return p.second < last - 1; }) > 0);
    // Chains of deltas: 500 keys over 128 groups, then 3 keys twice.
    CHECK(std::count_if(parts.begin(), parts.end(), [](const auto& p) { return p.first.ends_with("/3"); }) > 0);
  }
  auto source = std::make_shared<GatedSource>(3000, 2150);
  Job job = make_job<true>(source, sink);
  Engine engine;
  auto q = engine.start("counts", job, options(rocksdb_checkpoints(dir.path()), log, after));
  CHECK(q->restored_checkpoint() == last);
  // The first checkpoint after restoring the newest one refers to it: the
  // full sections and their deltas.
  REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 20s));
  CHECK(q->checkpoint_stats().last_parts_reused > 128);
  source->move_gate(3000);
  q->wait();
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(sink->all() == expected(3000, true));
}

TEST_CASE("after a failed checkpoint the next one is written in full, and restoring it is exact",
          "[checkpoint][query][incremental]") {
  TempDir dir;
  std::vector<std::string> log;
  auto flaky = std::make_shared<FlakyStorage>(rocksdb_checkpoints(dir.path()));
  auto sink = std::make_shared<ListsSink>();
  {
    auto source = std::make_shared<GatedSource>(3000, 0);
    Job job = make_job<true>(source, sink);
    Engine engine;
    auto q = engine.start("counts", job, options(flaky, log, 2));
    advance_and_checkpoint(*q, *source, *sink, 2000);
    // Changes key groups of keys 0..2, snapshotted for a checkpoint that fails.
    source->move_gate(2100);
    REQUIRE(wait_until([&] { return sink->records() >= 2100; }));
    flaky->fail->store(true);
    const std::uint64_t failed = q->checkpoint_now();
    CHECK_FALSE(q->wait_for_checkpoint(failed, 20s));
    CHECK(q->checkpoint_stats().failed == 1);
    flaky->fail->store(false);
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 20s));
    CHECK(q->checkpoint_stats().last_parts_reused == 0);  // no base: in full
    const std::uint64_t id = advance_and_checkpoint(*q, *source, *sink, 2200);
    CHECK(q->checkpoint_stats().last_parts_reused == 128);  // full sections; deltas for keys 0..2's groups
    CHECK(q->checkpoint_stats().last_completed_id == id);
    source->move_gate(2300);
    REQUIRE(wait_until([&] { return sink->records() >= 2300; }));
    q->stop();
  }
  auto source = std::make_shared<GatedSource>(3000, 3000);
  Job job = make_job<true>(source, sink);
  Engine engine;
  auto q = engine.start("counts", job, options(flaky, log, 1));
  q->wait();
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(sink->all() == expected(3000, true));
}

TEST_CASE("incremental checkpoints can be switched off", "[checkpoint][query][incremental]") {
  TempDir dir;
  std::vector<std::string> log;
  auto source = std::make_shared<GatedSource>(3000, 0);
  auto sink = std::make_shared<ListsSink>();
  Job job = make_job<false>(source, sink);
  QueryOptions o = options(rocksdb_checkpoints(dir.path()), log, 1);
  o.checkpoints.incremental = false;
  Engine engine;
  auto q = engine.start("counts", job, o);
  advance_and_checkpoint(*q, *source, *sink, 2000);
  advance_and_checkpoint(*q, *source, *sink, 2000);
  CHECK(q->checkpoint_stats().last_parts_reused == 0);
  CHECK(q->checkpoint_stats().last_parts_written > 128);
  source->move_gate(3000);
  q->wait();
  CHECK(sink->all() == expected(3000, false));
}
