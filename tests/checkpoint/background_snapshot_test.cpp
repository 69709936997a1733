// Snapshots written in the background (issue 15): at a barrier the keyed
// process operator only decides which key group sections to write; the
// worker writes them between its steps and the instance acknowledges after
// the last. Records that change a group before its section is written must
// leave the section as it was at the barrier (copy-on-write of the key's
// entries): a restore gives exactly the state of the barrier.
//
// The operator runs alone here, driven by the test: records, the barrier,
// more records, then the background slices (run_background, as the worker
// calls it), into real RocksDB checkpoints.
#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "checkpoint/rocksdb_checkpoints.hpp"
#include "sluice/sluice.hpp"
#include "store_support.hpp"
#include "streaming/detail/checkpoint_coordinator.hpp"
#include "streaming/detail/operator_state.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using i64 = std::int64_t;
constexpr std::uint32_t kKeyGroups = 128;

// Per key a sum and the values seen (a negative value clears both); an
// event-time timer at 1000 reports them: "key sum v1,v2,...".
struct SumAndList : KeyedProcessFunction<i64, i64, std::string> {
  ValueState<i64, i64> sum;
  ListState<i64, i64> seen;
  void open(Context& c) {
    sum = c.value_state<i64>("sum");
    seen = c.list_state<i64>("seen");
  }
  void process(const i64& v, Context& c, Collector<std::string>&) {
    c.register_event_time_timer(1000);
    if (v < 0) {
      sum.clear();
      seen.clear();
      return;
    }
    sum.set(sum.value().value_or(0) + v);
    seen.add(v);
  }
  void on_timer(Timestamp, Context& c, Collector<std::string>& out) {
    const std::optional<i64> s = sum.value();
    if (!s) return;
    std::string line = std::to_string(c.key()) + " " + std::to_string(*s) + " ";
    for (i64 v : seen.get()) line += std::to_string(v) + ",";
    out.emit(line);
  }
};

class Collect final : public detail::Input<std::string> {
 public:
  void push(Batch<std::string>& batch) override {
    for (auto& r : batch) lines.push_back(r.value);
  }
  void control(const Control&) override {}
  const std::string& operator_name() const override { return name_; }
  std::vector<std::string> lines;

 private:
  std::string name_ = "collect";
};

using Op = KeyedProcessOperator<i64, i64, SumAndList>;

void push(Op& op, const std::vector<std::pair<i64, i64>>& records) {
  Batch<Keyed<i64, i64>> batch;
  for (auto [k, v] : records) {
    const std::uint64_t h = hash_key(k);
    batch.push_back(Record<Keyed<i64, i64>>{Keyed<i64, i64>{k, key_group_of(h, kKeyGroups), v, h}, 1});
  }
  op.push(batch);
}

// The model: what SumAndList holds per key.
struct Model {
  std::map<i64, std::pair<i64, std::string>> keys;
  void apply(const std::vector<std::pair<i64, i64>>& records) {
    for (auto [k, v] : records) {
      if (v < 0) {
        keys.erase(k);
        continue;
      }
      keys[k].first += v;
      keys[k].second += std::to_string(v) + ",";
    }
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& [k, s] : keys) out.push_back(std::to_string(k) + " " + std::to_string(s.first) + " " + s.second);
    return out;
  }
};

// The state checkpoint `id` in `dir` holds, as the timers report it.
std::vector<std::string> restored_lines(const std::filesystem::path& dir) {
  auto storage = rocksdb_checkpoints(dir);
  std::optional<RestoredCheckpoint> restored = storage->open("job", 3, {})->restore_latest();
  REQUIRE(restored.has_value());
  ManualClock clock;
  auto coordinator = std::make_shared<detail::CheckpointCoordinator>();
  detail::OperatorState state(coordinator, "proc", &*restored);
  OperatorMetrics metrics;
  metrics.name = "proc";
  Op op(SumAndList{}, metrics, clock, "proc", 0, kKeyGroups, 0, &state);
  Collect out;
  op.output().connect(&out);
  op.open();
  op.control(Control::watermark(kMaxTimestamp));
  std::sort(out.lines.begin(), out.lines.end(), [](const std::string& a, const std::string& b) {
    return std::stoll(a) < std::stoll(b);
  });
  return out.lines;
}

// The part keys of operator "proc" in the newest checkpoint in `dir`.
std::set<std::string> restored_part_keys(const std::filesystem::path& dir) {
  std::optional<RestoredCheckpoint> restored = rocksdb_checkpoints(dir)->open("job", 3, {})->restore_latest();
  REQUIRE(restored.has_value());
  std::set<std::string> keys;
  for (const auto& [key, bytes] : restored->parts.at("proc")) keys.insert(key);
  return keys;
}

// One instance on a worker (which makes it write snapshots in the background).
// It restores the newest checkpoint in `dir`, if any.
struct Running {
  explicit Running(const std::filesystem::path& dir) : Running(rocksdb_checkpoints(dir)->open("job", 3, {})) {}
  explicit Running(std::unique_ptr<CheckpointSession> session)
      : restored(session->restore_latest()),
        next_id(session->newest_id() + 1),
        coordinator(
            std::make_shared<detail::CheckpointCoordinator>(std::vector<detail::Worker*>{}, std::move(session), next_id)),
        worker(0, clock, 1000),
        state(coordinator, "proc", restored ? &*restored : nullptr, &worker),
        op(SumAndList{}, metrics_named("proc"), clock, "proc", 0, kKeyGroups, 0, &state) {
    if (restored) coordinator->set_restored_base(restored->id);
    op.output().connect(&out);
    op.open();
  }
  ~Running() { coordinator->close(); }
  // Takes a checkpoint: the barrier, `meanwhile` (records before the
  // background writes anything), then the background slices.
  void checkpoint(const std::function<void()>& meanwhile = [] {}) {
    const std::uint64_t id = coordinator->trigger();
    op.control(Control::barrier(id));
    meanwhile();
    while (!op.run_background()) {
    }
    REQUIRE(coordinator->wait_completed(id, 30s));
  }
  OperatorMetrics& metrics_named(const std::string& name) {
    metrics.name = name;
    return metrics;
  }

  ManualClock clock;
  OperatorMetrics metrics;
  std::optional<RestoredCheckpoint> restored;
  std::uint64_t next_id;
  std::shared_ptr<detail::CheckpointCoordinator> coordinator;
  detail::Worker worker;
  detail::OperatorState state;
  Op op;
  Collect out;
};

std::vector<std::pair<i64, i64>> records(i64 first, i64 last, i64 value) {
  std::vector<std::pair<i64, i64>> r;
  for (i64 k = first; k < last; ++k) r.emplace_back(k, value < 0 ? value : value + k);
  return r;
}

}  // namespace

TEST_CASE("a snapshot written in the background holds the state as of its barrier", "[checkpoint][background]") {
  TempDir dir;
  Model at_barrier;
  {
    Running run(dir.path());
    const auto before = records(0, 1000, 1);
    push(run.op, before);
    at_barrier.apply(before);

    run.checkpoint([&] {
      // Not acknowledged (so not complete) until the sections are written.
      CHECK_FALSE(run.coordinator->wait_completed(run.coordinator->requested(), 0ms));
      // Before the worker writes anything: keys of every group change
      // (twice for some: the first pre-image is the one kept), are
      // cleared, and new ones come.
      push(run.op, records(0, 500, 7));
      push(run.op, records(0, 100, 3));
      push(run.op, records(500, 600, -1));
      push(run.op, records(1000, 1100, 5));
    });
    CHECK(run.coordinator->counters().last_parts_written == kKeyGroups + 1);  // every group and the times
  }
  CHECK(restored_lines(dir.path()) == at_barrier.lines());
}

TEST_CASE("a pending background snapshot is finished by the end of input and by the next barrier",
          "[checkpoint][background]") {
  TempDir dir;
  Model at_barrier;
  {
    Running run(dir.path());
    const auto first_records = records(0, 300, 1);
    push(run.op, first_records);
    at_barrier.apply(first_records);
    const std::uint64_t first = run.coordinator->trigger();
    run.op.control(Control::barrier(first));
    push(run.op, records(0, 300, -1));  // everything cleared before a section is written

    SECTION("the end of input writes what is pending, then the final state") {
      run.op.control(Control::end_of_input());
      REQUIRE(run.coordinator->wait_completed(first, 30s));
      CHECK(run.op.run_background());  // nothing left: the worker forgets it
    }
    SECTION("the next barrier writes what is pending first") {
      // A checkpoint given up (timed out, say) has no successor until then:
      // here the operator sees barrier 2 with barrier 1's sections pending.
      run.op.control(Control::barrier(first + 1));
      REQUIRE(run.coordinator->wait_completed(first, 30s));
      while (!run.op.run_background()) {
      }
    }
  }
  CHECK(restored_lines(dir.path()) == at_barrier.lines());
}

TEST_CASE("a group where few keys changed gets a delta on top of its last full section", "[checkpoint][delta]") {
  TempDir dir;
  Model model;
  const std::uint32_t kg0 = key_group_of(hash_key(i64{0}), kKeyGroups);
  const std::string full0 = "kg/" + std::to_string(kg0);
  auto delta0 = [&](int n) { return "kgd/" + std::to_string(kg0) + "/" + std::to_string(n); };
  std::vector<i64> keys_of_kg0;  // of 0..19999
  for (i64 k = 0; k < 20000; ++k)
    if (key_group_of(hash_key(k), kKeyGroups) == kg0) keys_of_kg0.push_back(k);
  REQUIRE(keys_of_kg0.size() > 100);

  std::optional<Running> run(std::in_place, dir.path());
  auto apply = [&](const std::vector<std::pair<i64, i64>>& r) {
    push(run->op, r);
    model.apply(r);
  };
  apply(records(0, 20000, 1));  // ~156 keys per group
  run->checkpoint();
  Model at_barrier;

  SECTION("changes, clears and new keys; more changes before the delta is written") {
    apply({{0, 5}, {1, 5}, {2, -1}, {20001, 9}, {20002, 9}});
    at_barrier = model;
    run->checkpoint([&] { apply({{0, 100}, {3, -1}, {20001, -1}, {20003, 7}}); });
    run.reset();
    const std::set<std::string> parts = restored_part_keys(dir.path());
    CHECK(parts.count(full0) == 1);
    CHECK(parts.count(delta0(1)) == 1);
  }
  SECTION("a chain of deltas, then the full section again after the eighth") {
    for (int n = 1; n <= 9; ++n) {
      apply({{0, n}});
      run->checkpoint();
      if (n == 8) {
        run.reset();
        const std::set<std::string> parts = restored_part_keys(dir.path());
        for (int d = 1; d <= 8; ++d) CHECK(parts.count(delta0(d)) == 1);
        CHECK(restored_lines(dir.path()) == model.lines());
        run.emplace(dir.path());  // restores the chain, goes on from there
      }
    }
    at_barrier = model;
    run.reset();
    const std::set<std::string> parts = restored_part_keys(dir.path());
    CHECK(parts.count(full0) == 1);
    CHECK(parts.count(delta0(1)) == 0);
  }
  SECTION("a group where most keys changed is written in full") {
    std::vector<std::pair<i64, i64>> r;
    for (i64 k : keys_of_kg0) r.emplace_back(k, 2);
    apply(r);
    at_barrier = model;
    run->checkpoint();
    run.reset();
    const std::set<std::string> parts = restored_part_keys(dir.path());
    CHECK(parts.count(full0) == 1);
    CHECK(parts.count(delta0(1)) == 0);
  }
  CHECK(restored_lines(dir.path()) == at_barrier.lines());
}
