// Checkpoints of running queries in real RocksDB stores: what a checkpoint
// holds, restoring it on start (same and other worker counts), what makes a
// start refuse a checkpoint, periodic triggering, retention and failures.
//
// The source and sink here are small replayable ones written for the test
// (the connectors' own are tested in tests/connectors): a source reading a
// vector whose position is an index, and a sink that appends to a shared
// list and rolls it back to its handle on restore, as a file sink truncates.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <set>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/rocksdb_checkpoints.hpp"
#include "connectors/callback_sink.hpp"
#include "connectors/push_source.hpp"
#include "operators/key_by.hpp"
#include "operators/keyed_process.hpp"
#include "operators/stateless.hpp"
#include "store_support.hpp"
#include "streaming/engine.hpp"
#include "streaming/watermark_operator.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

// Values 0..n-1 (timestamp = value), read by worker 0; it stops before
// index `gate` until the gate is opened, so a test can checkpoint at a
// known place. Position: the next index.
class GatedSource final : public Source<std::int64_t> {
 public:
  GatedSource(std::int64_t n, std::int64_t gate) : s_(std::make_shared<Shared>()) {
    s_->n = n;
    s_->gate.store(gate);
  }
  std::string default_name() const override { return "numbers"; }
  bool supports_checkpoints() const override { return true; }
  void open_gate() const { s_->gate.store(s_->n); }
  void move_gate(std::int64_t to) const { s_->gate.store(to); }
  /// Where worker 0's reader was restored to (-1: not restored).
  std::int64_t restored_at() const { return s_->restored_at.load(); }

  std::unique_ptr<SourceReader<std::int64_t>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(s_, ctx.worker_index);
  }

 private:
  struct Shared {
    std::int64_t n = 0;
    std::atomic<std::int64_t> gate{0};
    std::atomic<std::int64_t> restored_at{-1};
  };
  class Reader final : public SourceReader<std::int64_t> {
   public:
    Reader(std::shared_ptr<Shared> s, std::size_t worker) : s_(std::move(s)), worker_(worker) {}
    SourceStatus poll(Batch<std::int64_t>& out, std::vector<DeadLetter>&, std::size_t max) override {
      if (worker_ != 0 || next_ >= s_->n) return SourceStatus::kEnd;
      const std::int64_t until = std::min({s_->n, s_->gate.load(), next_ + static_cast<std::int64_t>(max)});
      for (; next_ < until; ++next_) out.push_back(Record<std::int64_t>{next_, next_});
      if (next_ >= s_->n) return SourceStatus::kEnd;
      return out.empty() ? SourceStatus::kNothingNow : SourceStatus::kMore;
    }
    void snapshot_position(StateWriter& w) const override { w.write(next_); }
    void restore_position(const std::vector<std::string_view>& positions) override {
      // The whole input is worker 0's, whatever the worker counts.
      if (worker_ != 0) {
        next_ = s_->n;
        return;
      }
      next_ = deserialize<std::int64_t>(positions.at(0));
      s_->restored_at.store(next_);
    }

   private:
    std::shared_ptr<Shared> s_;
    std::size_t worker_;
    std::int64_t next_ = 0;
  };
  std::shared_ptr<Shared> s_;
};

// Appends every value to one shared list (all workers); the handle at a
// barrier is the list's length, and restore truncates the list to the
// handles' total, as the exactly-once file sink truncates its file. While
// held, write() blocks (a stalled downstream system).
class ListSink final : public Sink<std::int64_t> {
 public:
  ListSink() : s_(std::make_shared<Shared>()) {}
  std::string default_name() const override { return "list"; }
  std::unique_ptr<SinkWriter<std::int64_t>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }
  std::vector<std::int64_t> values() const {
    std::lock_guard lock(s_->mu);
    return s_->values;
  }
  std::size_t size() const {
    std::lock_guard lock(s_->mu);
    return s_->values.size();
  }
  std::vector<std::uint64_t> commits() const {
    std::lock_guard lock(s_->mu);
    return s_->commits;
  }
  std::vector<std::uint64_t> restores() const {
    std::lock_guard lock(s_->mu);
    return s_->restores;
  }
  void hold() {
    std::lock_guard lock(s_->mu);
    s_->held = true;
  }
  void release() {
    {
      std::lock_guard lock(s_->mu);
      s_->held = false;
    }
    s_->released.notify_all();
  }
  /// Whether a write() is blocked by hold().
  bool stalled() const {
    std::lock_guard lock(s_->mu);
    return s_->stalled;
  }

 private:
  struct Shared {
    std::mutex mu;
    std::vector<std::int64_t> values;
    std::vector<std::uint64_t> written;  // by worker: how many values it appended
    std::vector<std::uint64_t> commits;  // ids on_checkpoint_complete saw (any worker)
    std::vector<std::uint64_t> restores;
    bool held = false;
    bool stalled = false;
    std::condition_variable released;
  };
  class Writer final : public SinkWriter<std::int64_t> {
   public:
    Writer(std::shared_ptr<Shared> s, std::size_t w) : s_(std::move(s)), w_(w) {
      std::lock_guard lock(s_->mu);
      if (s_->written.size() <= w_) s_->written.resize(w_ + 1, 0);
    }
    void write(Batch<std::int64_t>& batch) override {
      std::unique_lock lock(s_->mu);
      s_->stalled = s_->held;
      s_->released.wait(lock, [&] { return !s_->held; });
      s_->stalled = false;
      for (auto& r : batch) s_->values.push_back(r.value);
      s_->written[w_] += batch.size();
    }
    void on_checkpoint_barrier(std::uint64_t, StateWriter& handle) override {
      std::lock_guard lock(s_->mu);
      handle.write(static_cast<std::uint64_t>(s_->written[w_]));
    }
    void on_checkpoint_complete(std::uint64_t id) override {
      std::lock_guard lock(s_->mu);
      s_->commits.push_back(id);
    }
    void restore(std::uint64_t id, const std::vector<std::string_view>& handles) override {
      // Worker 0 rolls the shared list back once (single-worker sinks in
      // these tests' restores keep it simple: the list is in arrival order).
      std::lock_guard lock(s_->mu);
      s_->restores.push_back(id);
      if (w_ != 0) return;
      std::uint64_t keep = 0;
      for (std::string_view h : handles) keep += deserialize<std::uint64_t>(h);
      s_->values.resize(keep);
      std::fill(s_->written.begin(), s_->written.end(), 0);
      s_->written[0] = keep;
    }

   private:
    std::shared_ptr<Shared> s_;
    std::size_t w_;
  };
  std::shared_ptr<Shared> s_;
};

struct Run {
  std::shared_ptr<GatedSource> source;
  std::shared_ptr<ListSink> sink;
  Job job;
};

// `sink`: where a restarted run writes (the previous run's sink, as a file
// would be reopened); null: a new one.
Run make_job(std::int64_t n, std::int64_t gate, std::shared_ptr<ListSink> sink = nullptr) {
  Run r{std::make_shared<GatedSource>(n, gate), sink != nullptr ? std::move(sink) : std::make_shared<ListSink>(),
        Job("numbers")};
  r.job.source<std::int64_t>(r.source, "numbers")
      .map([](std::int64_t v) { return v; })
      .name("copy")
      .watermarks(ascending().with_emit_interval(0us))
      .name("wm")
      .sink(r.sink, "out");
  return r;
}

QueryOptions with_storage(const TempDir& dir, std::vector<std::string>& log, std::size_t workers = 1) {
  QueryOptions o;
  o.workers = workers;
  o.checkpoints.storage = rocksdb_checkpoints(dir.path());
  o.checkpoints.log = [&log](const std::string& line) { log.push_back(line); };
  return o;
}

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

std::vector<std::int64_t> iota_to(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST_CASE("a checkpoint of a running query holds every participant's part and commits in RocksDB",
          "[checkpoint][query]") {
  TempDir dir;
  std::vector<std::string> log;
  Run r = make_job(1000, 400);
  Engine engine;
  auto q = engine.start("numbers", r.job, with_storage(dir, log));
  REQUIRE(wait_until([&] { return r.sink->size() == 400; }));
  const std::uint64_t id = q->checkpoint_now();
  CHECK(id == 1);
  REQUIRE(q->wait_for_checkpoint(id, 10s));
  CHECK(q->last_completed_checkpoint() == 1);
  // The sink heard of the commit on its own thread.
  REQUIRE(wait_until([&] { return !r.sink->commits().empty(); }));
  CHECK(r.sink->commits() == std::vector<std::uint64_t>{1});
  q->stop();
  CHECK(q->checkpoint_stats().completed == 1);
  CHECK(q->checkpoint_stats().failed == 0);

  // The query's store is released when it stops: read it directly.
  CheckpointStore store(dir / "numbers", CheckpointStoreOptions{.job_id = "numbers"});
  const CheckpointManifest m = store.load(1);
  std::vector<std::string> names;
  for (const PartRef& p : m.parts) names.push_back(p.operator_uid + ":" + p.part_key);
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"__query__:settings", "numbers:instance/0", "out:instance/0",
                                          "wm:instance/0"});
  // The source's position is the index after the last record before the barrier.
  const std::string pos_bytes = store.read_part(m, "numbers", "instance/0");
  const std::string handle_bytes = store.read_part(m, "out", "instance/0");
  const std::string wm_bytes = store.read_part(m, "wm", "instance/0");
  StateReader pos(pos_bytes);
  CHECK(pos.read<std::uint32_t>() == kStateFormatVersion);
  CHECK(pos.read<std::int64_t>() == 400);
  StateReader handle(handle_bytes);
  CHECK(handle.read<std::uint32_t>() == kStateFormatVersion);
  CHECK(handle.read<std::uint64_t>() == 400);
  StateReader wm(wm_bytes);
  CHECK(wm.read<std::uint32_t>() == kStateFormatVersion);
  CHECK(wm.read<Timestamp>() == 399);  // largest timestamp seen
  CHECK(wm.read<Timestamp>() == 398);  // ascending: the watermark is max - 1
}

TEST_CASE("a restarted query restores the newest checkpoint and replays what came after it exactly once",
          "[checkpoint][query]") {
  const auto [before, after] = GENERATE(table<std::size_t, std::size_t>({{1, 1}, {2, 2}, {2, 1}, {1, 3}}));
  CAPTURE(before, after);
  TempDir dir;
  std::vector<std::string> log;
  Run first = make_job(1000, 300);
  {
    Engine engine;
    auto q = engine.start("numbers", first.job, with_storage(dir, log, before));
    REQUIRE(wait_until([&] { return first.sink->size() == 300; }));
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    // More output after the checkpoint: rolled back on restore, then replayed.
    first.source->open_gate();
    REQUIRE(wait_until([&] { return first.sink->size() >= 600; }));
    q->stop();  // a cancel: the job did not finish
  }
  CHECK(std::find_if(log.begin(), log.end(), [](const std::string& l) {
          return l.find("no checkpoint to restore") != std::string::npos;
        }) != log.end());

  // The second run writes into the first run's output.
  Run second = make_job(1000, 1000, first.sink);
  log.clear();
  Engine engine;
  auto q = engine.start("numbers", second.job, with_storage(dir, log, after));
  CHECK(q->restored_checkpoint() == 1);
  q->wait();
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(second.source->restored_at() == 300);
  CHECK(second.sink->restores() == std::vector<std::uint64_t>(after, 1));
  CHECK(second.sink->values() == iota_to(1000));
  REQUIRE(!log.empty());
  CHECK(log.front().find("query 'numbers': restoring checkpoint 1") == 0);
  CHECK(log.front().find(dir.path().string()) != std::string::npos);
}

TEST_CASE("checkpoint ids continue above the stored ones and retention keeps the newest", "[checkpoint][query]") {
  TempDir dir;
  std::vector<std::string> log;
  for (int run = 0; run < 2; ++run) {
    Run r = make_job(100, 50);
    QueryOptions o = with_storage(dir, log);
    o.checkpoints.retained = 2;
    o.checkpoints.restore = false;  // each run starts over; ids still continue
    Engine engine;
    auto q = engine.start("numbers", r.job, o);
    for (int i = 1; i <= 3; ++i) {
      const std::uint64_t id = q->checkpoint_now();
      CHECK(id == static_cast<std::uint64_t>(run * 3 + i));
      REQUIRE(q->wait_for_checkpoint(id, 10s));
    }
    q->stop();
  }
  CheckpointStore store(dir / "numbers", CheckpointStoreOptions{.job_id = "numbers"});
  std::vector<std::uint64_t> ids;
  for (const CheckpointInfo& c : store.list()) ids.push_back(c.id);
  CHECK(ids == std::vector<std::uint64_t>{6, 5});
}

TEST_CASE("periodic checkpoints follow the query's clock", "[checkpoint][query]") {
  TempDir dir;
  std::vector<std::string> log;
  ManualClock clock(0);
  Run r = make_job(100, 50);
  QueryOptions o = with_storage(dir, log);
  o.clock = &clock;
  o.checkpoints.interval_us = 1'000'000;
  Engine engine;
  auto q = engine.start("numbers", r.job, o);
  REQUIRE(wait_until([&] { return r.sink->size() == 50; }));
  CHECK(q->last_completed_checkpoint() == 0);
  clock.advance(1'000'000);
  REQUIRE(q->wait_for_checkpoint(1, 10s));
  clock.advance(999'999);
  clock.advance(1);
  REQUIRE(q->wait_for_checkpoint(2, 10s));
  q->stop();
  CHECK(q->checkpoint_stats().completed == 2);
}

namespace {

// Log lines from the query's threads, read by the test while it runs.
struct SharedLog {
  std::mutex mu;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mu);
      lines.push_back(line);
    };
  }
  bool has(std::string_view text) {
    std::lock_guard lock(mu);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
  }
};

// RocksDB checkpoints whose commits number `failing` (1, 2, ... in this
// storage's life) throw, as a full disk would make them: everything else is
// the real storage.
class FailingCommits final : public CheckpointStorage {
 public:
  FailingCommits(std::shared_ptr<const CheckpointStorage> real, std::set<int> failing)
      : real_(std::move(real)), failing_(std::make_shared<Failing>()) {
    failing_->commits = std::move(failing);
  }
  std::string describe() const override { return real_->describe(); }
  std::unique_ptr<CheckpointSession> open(const std::string& job_id, std::size_t retained,
                                          std::function<void(const std::string&)> log) const override {
    return std::make_unique<Session>(real_->open(job_id, retained, std::move(log)), failing_);
  }

 private:
  struct Failing {
    std::set<int> commits;
    std::atomic<int> count{0};
  };
  class Writer final : public CheckpointWriter {
   public:
    Writer(std::unique_ptr<CheckpointWriter> real, std::shared_ptr<Failing> failing)
        : real_(std::move(real)), failing_(std::move(failing)) {}
    void add_part(std::string_view op, std::string_view key, std::string_view bytes) override {
      real_->add_part(op, key, bytes);
    }
    void reuse_part(std::string_view op, std::string_view key) override { real_->reuse_part(op, key); }
    void commit() override {
      if (failing_->commits.count(++failing_->count)) throw std::runtime_error("No space left on device (injected)");
      real_->commit();
    }
    void abort() noexcept override { real_->abort(); }

   private:
    std::unique_ptr<CheckpointWriter> real_;
    std::shared_ptr<Failing> failing_;
  };
  class Session final : public CheckpointSession {
   public:
    Session(std::unique_ptr<CheckpointSession> real, std::shared_ptr<Failing> failing)
        : real_(std::move(real)), failing_(std::move(failing)) {}
    std::unique_ptr<CheckpointWriter> begin(std::uint64_t id, bool is_savepoint, std::uint64_t base_id) override {
      return std::make_unique<Writer>(real_->begin(id, is_savepoint, base_id), failing_);
    }
    std::optional<RestoredCheckpoint> restore_latest() override { return real_->restore_latest(); }
    std::uint64_t newest_id() override { return real_->newest_id(); }
    RestoredCheckpoint restore(std::uint64_t id) override { return real_->restore(id); }
    void put_marker(std::string_view key, std::string_view value) override { real_->put_marker(key, value); }
    std::optional<std::string> get_marker(std::string_view key) override { return real_->get_marker(key); }
    void write_savepoint(std::uint64_t id, const std::filesystem::path& dir) override {
      real_->write_savepoint(id, dir);
    }
    RestoredCheckpoint read_savepoint(const std::filesystem::path& dir) override { return real_->read_savepoint(dir); }

   private:
    std::unique_ptr<CheckpointSession> real_;
    std::shared_ptr<Failing> failing_;
  };

  std::shared_ptr<const CheckpointStorage> real_;
  std::shared_ptr<Failing> failing_;
};

std::vector<std::uint64_t> stored_ids(const TempDir& dir) {
  CheckpointStore store(dir / "numbers", CheckpointStoreOptions{.job_id = "numbers"});
  std::vector<std::uint64_t> ids;
  for (const CheckpointInfo& c : store.list()) ids.push_back(c.id);
  return ids;
}

}  // namespace

TEST_CASE("a checkpoint not complete within its timeout is aborted, logged and counted, and the query runs on",
          "[checkpoint][query][failure]") {
  TempDir dir;
  SharedLog log;
  Run r = make_job(1000, 500);
  r.sink->hold();  // the first write stalls: no barrier gets through the sink
  QueryOptions o;
  o.workers = 1;
  o.checkpoints.storage = rocksdb_checkpoints(dir.path());
  o.checkpoints.timeout = 100ms;
  o.checkpoints.log = log.sink();
  Engine engine;
  auto q = engine.start("numbers", r.job, o);
  REQUIRE(wait_until([&] { return r.sink->stalled(); }));
  const std::uint64_t first = q->checkpoint_now();
  CHECK_FALSE(q->wait_for_checkpoint(first, 10s));  // returns once it failed
  CHECK(q->checkpoint_stats().failed == 1);
  CHECK(q->last_completed_checkpoint() == 0);
  CHECK(log.has("checkpoint 1 failed: not complete within 100 ms (timeout)"));

  // The sink moves again: the stale barrier passes unheeded, the next
  // checkpoint completes, and the output is whole.
  r.sink->release();
  REQUIRE(wait_until([&] { return r.sink->size() == 500; }));
  const std::uint64_t second = q->checkpoint_now();
  CHECK(second == 2);
  REQUIRE(q->wait_for_checkpoint(second, 10s));
  REQUIRE(wait_until([&] { return !r.sink->commits().empty(); }));  // heard on the sink's thread
  r.source->open_gate();
  q->wait();
  CHECK(q->status().state == QueryState::kFinished);
  CHECK(r.sink->values() == iota_to(1000));
  CHECK(q->checkpoint_stats().completed == 1);
  CHECK(q->checkpoint_stats().failed == 1);
  CHECK(r.sink->commits() == std::vector<std::uint64_t>{2});
  CHECK(stored_ids(dir) == std::vector<std::uint64_t>{2});
}

TEST_CASE("a checkpoint whose commit fails in storage is aborted, the query runs on, and a restart restores the "
          "next one",
          "[checkpoint][query][failure]") {
  TempDir dir;
  SharedLog log;
  Run first = make_job(1000, 200);
  {
    QueryOptions o;
    o.workers = 2;
    o.checkpoints.storage = std::make_shared<FailingCommits>(rocksdb_checkpoints(dir.path()), std::set<int>{1});
    o.checkpoints.log = log.sink();
    Engine engine;
    auto q = engine.start("numbers", first.job, o);
    REQUIRE(wait_until([&] { return first.sink->size() == 200; }));
    CHECK_FALSE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    CHECK(log.has("checkpoint 1 failed: No space left on device (injected)"));
    CHECK(q->checkpoint_stats().failed == 1);
    CHECK(q->status().state == QueryState::kRunning);
    first.source->move_gate(300);
    REQUIRE(wait_until([&] { return first.sink->size() == 300; }));
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    CHECK(q->last_completed_checkpoint() == 2);
    REQUIRE(wait_until([&] { return !first.sink->commits().empty(); }));  // heard on the sink's thread
    const std::vector<std::uint64_t> heard = first.sink->commits();
    CHECK(std::all_of(heard.begin(), heard.end(), [](std::uint64_t id) { return id == 2; }));
    first.source->move_gate(450);
    REQUIRE(wait_until([&] { return first.sink->size() == 450; }));
    q->stop();
  }
  CHECK(stored_ids(dir) == std::vector<std::uint64_t>{2});
  Run second = make_job(1000, 1000, first.sink);
  QueryOptions o;
  o.workers = 2;
  o.checkpoints.storage = rocksdb_checkpoints(dir.path());
  o.checkpoints.log = log.sink();
  Engine engine;
  auto q = engine.start("numbers", second.job, o);
  CHECK(q->restored_checkpoint() == 2);
  q->wait();
  CHECK(second.source->restored_at() == 300);
  CHECK(second.sink->values() == iota_to(1000));
}

TEST_CASE("more failed checkpoints in a row than tolerable_failures fail the query with the last one's error",
          "[checkpoint][query][failure]") {
  TempDir dir;
  SharedLog log;
  Run r = make_job(1000, 100);
  QueryOptions o;
  o.workers = 2;
  // Commits 1 and 3 fail: a success in between starts the count again.
  // Then 4 and 5 fail: two in a row, one more than tolerated.
  o.checkpoints.storage = std::make_shared<FailingCommits>(rocksdb_checkpoints(dir.path()), std::set<int>{1, 3, 4, 5});
  o.checkpoints.tolerable_failures = 1;
  o.checkpoints.log = log.sink();
  Engine engine;
  auto q = engine.start("numbers", r.job, o);
  REQUIRE(wait_until([&] { return r.sink->size() == 100; }));
  CHECK_FALSE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
  CHECK(q->checkpoint_stats().consecutive_failed == 1);
  REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
  CHECK(q->checkpoint_stats().consecutive_failed == 0);
  CHECK_FALSE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
  CHECK(q->status().state == QueryState::kRunning);
  CHECK_FALSE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
  q->wait();  // the second failure in a row fails it
  const QueryStatus s = q->status();
  CHECK(s.state == QueryState::kFailed);
  CHECK(s.error == "checkpoints: checkpoint 4 failed: No space left on device (injected) (2 checkpoints in a row "
                   "failed, more than CheckpointOptions::tolerable_failures = 1)");
  CHECK(q->checkpoint_stats().failed == 3);
  CHECK(log.has("checkpoint 4 failed: No space left on device (injected)"));
  // What the workers had written stays; nothing after the failure.
  CHECK(r.sink->values() == iota_to(100));
}

TEST_CASE("a query with checkpoint storage refuses a source that cannot replay", "[checkpoint][query]") {
  TempDir dir;
  std::vector<std::string> log;
  auto push = std::make_shared<PushSource<std::int64_t>>();
  auto sink = std::make_shared<ListSink>();
  Job job("pushed");
  job.source<std::int64_t>(push, "pushed").sink(sink, "out");
  Engine engine;
  const std::string what = thrown_message<GraphError>([&] { engine.start("pushed", job, with_storage(dir, log)); });
  CHECK(what.find("pushed") != std::string::npos);
  CHECK(what.find("cannot replay") != std::string::npos);
  // Without storage the same job runs (barriers only).
  QueryOptions plain;
  auto q = engine.start("pushed", job, plain);
  q->stop();
}

TEST_CASE("a checkpoint this job cannot continue from is refused at start, naming why", "[checkpoint][query]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    Run r = make_job(100, 50);
    Engine engine;
    auto q = engine.start("numbers", r.job, with_storage(dir, log));
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    q->stop();
  }
  SECTION("another max_parallelism") {
    Run r = make_job(100, 100);
    QueryOptions o = with_storage(dir, log);
    o.max_parallelism = 64;
    Engine engine;
    const std::string what = thrown_message<ConfigError>([&] { engine.start("numbers", r.job, o); });
    CHECK(what.find("max_parallelism 128") != std::string::npos);
    CHECK(what.find("asks for 64") != std::string::npos);
  }
  SECTION("an operator the checkpoint has state of is gone") {
    auto source = std::make_shared<GatedSource>(100, 100);
    Job job("numbers");
    job.source<std::int64_t>(source, "renamed").sink(std::make_shared<ListSink>(), "out");
    Engine engine;
    const std::string what = thrown_message<ConfigError>([&] { engine.start("numbers", job, with_storage(dir, log)); });
    CHECK(what.find("operator 'numbers'") != std::string::npos);
    CHECK(what.find("restore = false") != std::string::npos);
  }
  SECTION("restore = false starts fresh") {
    auto source = std::make_shared<GatedSource>(10, 10);
    auto sink = std::make_shared<ListSink>();
    Job job("numbers");
    job.source<std::int64_t>(source, "renamed").sink(sink, "out");
    QueryOptions o = with_storage(dir, log);
    o.checkpoints.restore = false;
    Engine engine;
    auto q = engine.start("numbers", job, o);
    q->wait();
    CHECK(q->restored_checkpoint() == 0);
    CHECK(sink->values() == iota_to(10));
  }
  SECTION("restore_id names a checkpoint that does not exist") {
    Run r = make_job(100, 100);
    QueryOptions o = with_storage(dir, log);
    o.checkpoints.restore_id = 7;
    Engine engine;
    CHECK_THROWS_AS(engine.start("numbers", r.job, o), CheckpointError);
  }
}

TEST_CASE("checkpoint options are validated", "[checkpoint][query]") {
  Run r = make_job(10, 10);
  Engine engine;
  QueryOptions o;
  o.checkpoints.interval_us = 1000;
  CHECK(thrown_message<ConfigError>([&] { engine.start("x", r.job, o); }).find("needs storage") != std::string::npos);
  TempDir dir;
  QueryOptions bad;
  bad.checkpoints.storage = rocksdb_checkpoints(dir.path());
  bad.checkpoints.retained = 0;
  CHECK(thrown_message<ConfigError>([&] { engine.start("x", r.job, bad); }).find("retained") != std::string::npos);
  bad.checkpoints.retained = 1;
  bad.checkpoints.interval_us = -1;
  CHECK(thrown_message<ConfigError>([&] { engine.start("x", r.job, bad); }).find("interval_us") != std::string::npos);
}

namespace {

// What a callback saw: (value, id) in call order.
struct Delivered {
  std::mutex mu;
  std::vector<std::pair<std::int64_t, DeliveryId>> calls;
  std::size_t size() {
    std::lock_guard lock(mu);
    return calls.size();
  }
  std::vector<std::int64_t> values() {
    std::lock_guard lock(mu);
    std::vector<std::int64_t> v;
    for (auto& c : calls) v.push_back(c.first);
    return v;
  }
};

Job callback_job(const std::shared_ptr<GatedSource>& source, const std::shared_ptr<Delivered>& seen, bool on_commit) {
  Job job("numbers");
  auto f = [seen](const std::int64_t& v, Timestamp, DeliveryId id) {
    std::lock_guard lock(seen->mu);
    seen->calls.emplace_back(v, id);
  };
  auto s = job.source<std::int64_t>(source, "numbers");
  if (on_commit) {
    s.sink(CallbackSink<std::int64_t>::on_commit(f), "alerts");
  } else {
    s.sink(CallbackSink<std::int64_t>(f), "alerts");
  }
  return job;
}

}  // namespace

TEST_CASE("an on_commit callback sink delivers a record once its checkpoint committed, and never again after a "
          "restart",
          "[checkpoint][query][callback]") {
  TempDir dir;
  std::vector<std::string> log;
  auto seen = std::make_shared<Delivered>();
  {
    auto source = std::make_shared<GatedSource>(1000, 300);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, true), with_storage(dir, log));
    auto source_out = [&] { return q->metrics().operators.at(0).records_out; };
    REQUIRE(wait_until([&] { return source_out() == 300; }));
    CHECK(seen->size() == 0);  // nothing before a checkpoint commits
    const std::uint64_t id = q->checkpoint_now();
    REQUIRE(q->wait_for_checkpoint(id, 10s));
    REQUIRE(wait_until([&] { return seen->size() == 300; }));
    // Records after the checkpoint are not delivered before the next commit.
    source->move_gate(600);
    REQUIRE(wait_until([&] { return source_out() == 600; }));
    q->stop();  // cancel: what came after checkpoint 1 is never delivered by this run
    CHECK(seen->values() == iota_to(300));
  }
  {
    auto source = std::make_shared<GatedSource>(1000, 1000);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, true), with_storage(dir, log));
    q->wait();
    CHECK(q->status().state == QueryState::kFinished);
  }
  // Every value exactly once, in order, with ids 1..1000 of writer 0.
  CHECK(seen->values() == iota_to(1000));
  std::lock_guard lock(seen->mu);
  for (std::size_t i = 0; i < seen->calls.size(); ++i) {
    CHECK(seen->calls[i].second.writer == 0);
    CHECK(seen->calls[i].second.sequence == i + 1);
  }
}

TEST_CASE("an on_commit callback sink restarted after delivering does not deliver again", "[checkpoint][query][callback]") {
  TempDir dir;
  std::vector<std::string> log;
  auto seen = std::make_shared<Delivered>();
  {
    auto source = std::make_shared<GatedSource>(100, 100);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, true), with_storage(dir, log));
    q->wait();  // delivered at the end of input; no checkpoint taken at all
  }
  CHECK(seen->values() == iota_to(100));
  {
    // A new run on the same state starts fresh (no checkpoint) and replays
    // everything: ids 1..100 again, already delivered, so not delivered.
    auto source = std::make_shared<GatedSource>(100, 100);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, true), with_storage(dir, log));
    q->wait();
  }
  CHECK(seen->values() == iota_to(100));
}

TEST_CASE("an immediate callback sink repeats what came after the checkpoint with the same ids",
          "[checkpoint][query][callback]") {
  TempDir dir;
  std::vector<std::string> log;
  auto seen = std::make_shared<Delivered>();
  {
    auto source = std::make_shared<GatedSource>(1000, 300);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, false), with_storage(dir, log));
    REQUIRE(wait_until([&] { return seen->size() == 300; }));
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    source->open_gate();
    REQUIRE(wait_until([&] { return seen->size() >= 500; }));
    q->stop();
  }
  const std::size_t before = seen->size();
  {
    auto source = std::make_shared<GatedSource>(1000, 1000);
    Engine engine;
    auto q = engine.start("numbers", callback_job(source, seen, false), with_storage(dir, log));
    q->wait();
  }
  std::lock_guard lock(seen->mu);
  REQUIRE(seen->calls.size() == before + 700);
  // The restart began at value 300 with id 301: the same ids as the first time.
  for (std::size_t i = 0; i < seen->calls.size(); ++i) {
    const auto& [v, id] = seen->calls[i];
    CHECK(id.sequence == static_cast<std::uint64_t>(v) + 1);
  }
  CHECK(seen->calls[before].first == 300);
}

TEST_CASE("a savepoint restores into another storage on another worker count", "[checkpoint][query][savepoint]") {
  TempDir dir;
  std::vector<std::string> log;
  Run first = make_job(1000, 400);
  std::uint64_t id = 0;
  {
    Engine engine;
    auto q = engine.start("numbers", first.job, with_storage(dir, log, 2));
    REQUIRE(wait_until([&] { return first.sink->size() == 400; }));
    id = engine.savepoint("numbers", dir / "savepoint-1");
    CHECK(id == 1);
    q->stop();
    CHECK_THROWS_WITH(engine.savepoint("nope", dir / "x"), Catch::Contains("no query named 'nope'"));
  }
  Run second = make_job(1000, 1000, first.sink);
  QueryOptions o = with_storage(dir, log, 3);
  o.checkpoints.storage = rocksdb_checkpoints(dir / "elsewhere");
  o.checkpoints.restore_savepoint = dir / "savepoint-1";
  log.clear();
  Engine engine;
  auto q = engine.start("numbers", second.job, o);
  q->wait();
  CHECK(q->restored_checkpoint() == 1);
  CHECK(second.source->restored_at() == 400);
  CHECK(second.sink->values() == iota_to(1000));
  REQUIRE(!log.empty());
  CHECK(log.front().find("restoring savepoint 1") != std::string::npos);
  CHECK(log.front().find("savepoint-1") != std::string::npos);
}

TEST_CASE("savepoint options and failures", "[checkpoint][query][savepoint]") {
  TempDir dir;
  std::vector<std::string> log;
  Run r = make_job(10, 10);
  Engine engine;
  QueryOptions plain;
  auto q = engine.start("plain", r.job, plain);
  CHECK_THROWS_AS(q->savepoint(dir / "sp"), ConfigError);  // no storage
  q->stop();
  QueryOptions o = with_storage(dir, log);
  o.checkpoints.restore_savepoint = dir / "missing";
  CHECK_THROWS_WITH(engine.start("numbers", make_job(10, 10).job, o), Catch::Contains("no savepoint there"));
}

namespace {

// Keyed state whose type's Serde throws on read while `refuse_restore` is
// set: a user's code failing during recovery.
std::atomic<bool> refuse_restore{false};
struct Tally {
  std::int64_t n = 0;
};

}  // namespace

template <>
struct sluice::Serde<Tally> {
  static void write(StateWriter& w, const Tally& t) { w.write(t.n); }
  static Tally read(StateReader& r) {
    if (refuse_restore.load()) throw std::runtime_error("tally: unsupported old format");
    return Tally{r.read<std::int64_t>()};
  }
};

namespace {

struct TallyPerKey : KeyedProcessFunction<std::int64_t, std::int64_t, std::int64_t> {
  ValueState<std::int64_t, Tally> tally;
  void open(Context& ctx) { tally = ctx.value_state<Tally>("tally"); }
  void process(const std::int64_t& v, Context&, Collector<std::int64_t>& out) {
    out.emit(++tally.get_or_insert().n * 1000 + v % 10);
  }
};

Job tally_job(const std::shared_ptr<GatedSource>& source, const std::shared_ptr<ListSink>& sink) {
  Job job("numbers");
  job.source<std::int64_t>(source, "numbers")
      .key_by([](std::int64_t v) { return v % 10; })
      .process(TallyPerKey{})
      .name("tally")
      .sink(sink, "out");
  return job;
}

}  // namespace

TEST_CASE("user code that throws while the state is restored fails the query, naming the operator",
          "[checkpoint][query][failure]") {
  TempDir dir;
  std::vector<std::string> log;
  auto first_sink = std::make_shared<ListSink>();
  {
    auto source = std::make_shared<GatedSource>(100, 50);
    auto& sink = first_sink;
    Engine engine;
    auto q = engine.start("numbers", tally_job(source, sink), with_storage(dir, log, 2));
    REQUIRE(wait_until([&] { return sink->size() == 50; }));
    REQUIRE(q->wait_for_checkpoint(q->checkpoint_now(), 10s));
    q->stop();
  }
  refuse_restore = true;
  Engine engine;
  {
    auto q = engine.start("numbers", tally_job(std::make_shared<GatedSource>(100, 100), first_sink),
                          with_storage(dir, log, 2));
    q->wait();
    const QueryStatus s = q->status();
    CHECK(s.state == QueryState::kFailed);
    CHECK(s.failed_operator == "tally");
    CHECK(s.error.find("'tally'") != std::string::npos);
    CHECK(s.error.find("tally: unsupported old format") != std::string::npos);
    CHECK(first_sink->size() == 50);  // the first run's output stays as its checkpoint left it
  }
  refuse_restore = false;
  // Once the code reads its state again, the same checkpoint restores and
  // the output continues the first run's exactly.
  auto q = engine.start("numbers", tally_job(std::make_shared<GatedSource>(100, 100), first_sink),
                        with_storage(dir, log, 2));
  CHECK(q->restored_checkpoint() == 1);
  q->wait();
  CHECK(q->status().state == QueryState::kFinished);
  auto reference = std::make_shared<ListSink>();
  tally_job(std::make_shared<GatedSource>(100, 100), reference).run();
  std::vector<std::int64_t> got = first_sink->values(), want = reference->values();
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  CHECK(got == want);
}
