// Snapshot -> restore -> same output, for keyed operators (every operator
// built on detail::KeyedOperatorBase), driven directly without threads.
//
// A Cluster is n instances of one operator splitting the key groups
// [0, kKeyGroups) as the graph does (detail::local_key_groups); records go to
// the instance owning their key group, watermarks, ticks and the end of input
// to every instance. A differential check runs a case uninterrupted on one
// instance, then cut in two at each of several steps: the prefix on m
// instances, a snapshot of every key group (the parts the base hands to a
// checkpoint), the rest on n fresh instances restored from it (m != n:
// rescaling). Outputs are compared per key, each line tagged with the step
// that produced it: per key the changelog must be exactly the same, in the
// same order and at the same step. (Across keys the order within one step
// follows hash tables, which a restore rebuilds: not compared.)
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sluice/sluice.hpp"
#include "streaming/detail/checkpoint_coordinator.hpp"
#include "streaming/detail/operator_state.hpp"

namespace sluice::testing::checkpoints {

inline constexpr std::uint32_t kKeyGroups = 128;
/// The operator's name: its parts in a checkpoint are filed under it.
inline const std::string kName = "w";

/// One step of a case.
template <class K, class T>
struct Step {
  enum Kind { kRecords, kWatermark, kTick, kEnd } kind = kRecords;
  std::vector<std::tuple<K, T, Timestamp>> records;  // kRecords: one batch
  Timestamp t = 0;                                   // kWatermark, kTick
};

/// Parts as the base hands them over: key ("kg/<n>") -> bytes.
using Parts = std::map<std::string, std::string, std::less<>>;

/// What an operator emitted, per key: "<step>: <line>" in order.
using PerKey = std::map<std::string, std::vector<std::string>>;

/// How a test builds instance `index` of its operator over key groups
/// [first, first + count), with its checkpoint link and late-output tag.
template <class Op>
using Factory = std::function<std::unique_ptr<Op>(OperatorMetrics& metrics, const Clock& clock, std::uint32_t first,
                                                  std::uint32_t count, detail::OperatorState* state,
                                                  std::uint64_t late_tag, std::size_t index)>;

/// Collects records, each with the step that produced it.
template <class X>
class StepCollect final : public detail::Input<X> {
 public:
  explicit StepCollect(const std::size_t& step) : step_(step) {}
  void push(Batch<X>& batch) override {
    for (auto& r : batch) records.emplace_back(step_, r);
  }
  void control(const Control&) override {}
  const std::string& operator_name() const override { return name_; }
  std::vector<std::pair<std::size_t, Record<X>>> records;

 private:
  const std::size_t& step_;
  std::string name_ = "collect";
};

/// `Show` turns an output record into (key, line); `ShowLate` a late record.
template <class Op, class K, class T, class Out, class Show, class ShowLate>
class Cluster {
 public:
  /// n instances; `restored`: the checkpoint they start from (null: fresh).
  Cluster(const Factory<Op>& make, std::size_t n, const RestoredCheckpoint* restored, ManualClock& clock, Show show,
          ShowLate show_late)
      : clock_(clock), show_(std::move(show)), show_late_(std::move(show_late)) {
    auto coordinator = std::make_shared<detail::CheckpointCoordinator>();
    detail::RunSettings rs;
    rs.workers = n;
    rs.max_parallelism = kKeyGroups;
    for (std::size_t i = 0; i < n; ++i) {
      auto inst = std::make_unique<Instance>(step_);
      inst->metrics.name = kName;
      inst->state = std::make_unique<detail::OperatorState>(coordinator, kName, restored);
      const detail::KeyGroupRange kgs = detail::local_key_groups(i, rs);
      inst->first = kgs.first;
      inst->count = kgs.count;
      inst->op = make(inst->metrics, clock, kgs.first, kgs.count, inst->state.get(), inst->late_tag.id(), i);
      auto side = std::make_unique<detail::SideOutput<T>>(inst->late_tag.id());
      side->output().connect(&inst->late);
      inst->op->sides().add(std::move(side));
      inst->op->output().connect(&inst->out);
      instances_.push_back(std::move(inst));
    }
    for (auto& inst : instances_) inst->op->open();
  }

  /// Runs step `index` of a case.
  void run(const Step<K, T>& s, std::size_t index) {
    step_ = index;
    switch (s.kind) {
      case Step<K, T>::kRecords: {
        std::vector<Batch<Keyed<K, T>>> batches(instances_.size());
        for (const auto& [k, v, ts] : s.records) {
          const std::uint64_t h = hash_key(k);
          const std::uint32_t kg = key_group_of(h, kKeyGroups);
          batches[owner(kg)].push_back(Record<Keyed<K, T>>{Keyed<K, T>{k, kg, v, h}, ts});
        }
        for (std::size_t i = 0; i < instances_.size(); ++i)
          if (!batches[i].empty()) instances_[i]->op->push(batches[i]);
        break;
      }
      case Step<K, T>::kWatermark:
        for (auto& inst : instances_) inst->op->control(Control::watermark(s.t));
        break;
      case Step<K, T>::kTick:
        clock_.set(s.t);
        for (auto& inst : instances_) inst->op->on_processing_time(s.t);
        break;
      case Step<K, T>::kEnd:
        for (auto& inst : instances_) {
          inst->op->control(Control::watermark(kMaxTimestamp));
          inst->op->control(Control::end_of_input());
        }
        break;
    }
  }

  /// Every instance's key groups, snapshotted.
  Parts snapshot() const {
    Parts parts;
    for (const auto& inst : instances_)
      for (auto& [key, bytes] : inst->op->snapshot_key_groups()) parts.emplace(std::move(key), std::move(bytes));
    return parts;
  }

  /// Adds what every instance emitted to `out` (and late records to `late`).
  void collect(PerKey& out, PerKey& late) const {
    for (const auto& inst : instances_) {
      for (const auto& [step, r] : inst->out.records) {
        auto [key, line] = show_(r);
        out[key].push_back(std::to_string(step) + ": " + line);
      }
      for (const auto& [step, r] : inst->late.records) {
        auto [key, line] = show_late_(r);
        late[key].push_back(std::to_string(step) + ": " + line);
      }
    }
  }

  std::size_t size() const { return instances_.size(); }
  Op& op(std::size_t i) { return *instances_[i]->op; }

 private:
  struct Instance {
    explicit Instance(const std::size_t& step) : out(step), late(step) {}
    OperatorMetrics metrics;
    std::unique_ptr<detail::OperatorState> state;
    std::unique_ptr<Op> op;
    OutputTag<T> late_tag{"late"};
    StepCollect<Out> out;
    StepCollect<T> late;
    std::uint32_t first = 0, count = 0;
  };

  std::size_t owner(std::uint32_t kg) const {
    for (std::size_t i = 0; i < instances_.size(); ++i)
      if (kg >= instances_[i]->first && kg < instances_[i]->first + instances_[i]->count) return i;
    FAIL("key group " << kg << " has no owner");
    return 0;
  }

  ManualClock& clock_;
  Show show_;
  ShowLate show_late_;
  std::size_t step_ = 0;
  std::vector<std::unique_ptr<Instance>> instances_;
};

/// A checkpoint holding `parts` of the operator kName.
inline RestoredCheckpoint checkpoint_of(Parts parts) {
  RestoredCheckpoint c;
  c.id = 7;
  c.parts[kName] = std::move(parts);
  return c;
}

/// Requires `got` == `want`, showing the first key whose lines differ.
inline void require_same(const PerKey& got, const PerKey& want, const char* what) {
  if (got == want) return;
  std::set<std::string> keys;
  for (const auto& [k, v] : got) keys.insert(k);
  for (const auto& [k, v] : want) keys.insert(k);
  for (const std::string& k : keys) {
    const auto g = got.find(k), w = want.find(k);
    const std::vector<std::string> none;
    INFO(what << " of key '" << k << "'");
    REQUIRE((g == got.end() ? none : g->second) == (w == want.end() ? none : w->second));
  }
}

/// What the uninterrupted runs of check_round_trips produced, summed: tests
/// check that their cases reach changelog updates and late records.
struct Coverage {
  std::size_t results = 0;  ///< output lines
  std::size_t updates = 0;  ///< of which -U, +U or -D (changelog corrections)
  std::size_t late = 0;     ///< late side-output lines
};
inline Coverage& coverage() {
  static Coverage c;
  return c;
}

/// Runs a case in several ways and requires the same output each time:
/// uninterrupted on one instance; and, for each cut, the prefix on m
/// instances and the rest on n restored ones, for each (m, n) in `splits`.
template <class Op, class K, class T, class Out, class Show, class ShowLate>
void check_round_trips(const Factory<Op>& make, const std::vector<Step<K, T>>& steps,
                       const std::vector<std::size_t>& cuts, Show show, ShowLate show_late,
                       const std::vector<std::pair<std::size_t, std::size_t>>& splits = {{1, 1}, {1, 2}, {2, 3},
                                                                                         {3, 1}}) {
  using C = Cluster<Op, K, T, Out, Show, ShowLate>;
  PerKey want, want_late;
  {
    ManualClock clock(0);
    C whole(make, 1, nullptr, clock, show, show_late);
    for (std::size_t i = 0; i < steps.size(); ++i) whole.run(steps[i], i);
    whole.collect(want, want_late);
    for (const auto& [k, lines] : want)
      for (const std::string& l : lines) {
        ++coverage().results;
        if (l.find(": -U") != std::string::npos || l.find(": +U") != std::string::npos ||
            l.find(": -D") != std::string::npos)
          ++coverage().updates;
      }
    for (const auto& [k, lines] : want_late) coverage().late += lines.size();
  }
  for (std::size_t cut : cuts) {
    for (auto [m, n] : splits) {
      INFO("cut before step " << cut << " of " << steps.size() << ", " << m << " instance(s) then " << n);
      PerKey got, got_late;
      ManualClock clock(0);
      RestoredCheckpoint restored;
      {
        C before(make, m, nullptr, clock, show, show_late);
        for (std::size_t i = 0; i < cut; ++i) before.run(steps[i], i);
        restored = checkpoint_of(before.snapshot());
        before.collect(got, got_late);
      }
      C after(make, n, &restored, clock, show, show_late);
      for (std::size_t i = cut; i < steps.size(); ++i) after.run(steps[i], i);
      after.collect(got, got_late);
      require_same(got, want, "results");
      require_same(got_late, want_late, "late records");
    }
  }
}

/// Random cut points in (0, n], at most `count`, plus the first and last.
inline std::vector<std::size_t> cuts_for(std::size_t n, std::mt19937_64& rng, std::size_t count = 3) {
  std::vector<std::size_t> cuts{0, n};
  for (std::size_t i = 0; i < count && n > 1; ++i) cuts.push_back(std::uniform_int_distribution<std::size_t>(1, n - 1)(rng));
  return cuts;
}

}  // namespace sluice::testing::checkpoints
