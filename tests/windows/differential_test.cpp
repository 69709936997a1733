// Randomized differential test of the slicing window operator against a
// deliberately naive reference.
//
// The reference keeps every record: for each (window end, key) the list of
// records in arrival order, and computes the aggregates from that list
// directly (not through the aggregate classes). It follows the operator's
// contract for event-time tumbling/sliding windows:
//   - a record at ts is in Flink's windows (SlidingEventTimeWindows:
//     [start, start + size) for every start on offset + k * slide with
//     ts - size < start <= ts; flink_sliding_windows in differential_support);
//   - watermark W fires, in increasing e, every window with e - 1 <= W holding
//     records: one kInsert per key, record timestamp e - 1;
//   - a window is closed once W >= e - 1 + lateness; a record all of whose
//     windows are closed goes to the late output and is counted;
//   - otherwise it is added to its open windows, and each of those that has
//     already fired (e - 1 <= W) gets a correction for the key right away:
//     kUpdateBefore old + kUpdateAfter new, or kInsert if the key had no
//     result for that window.
//
// Every case is generated from one seed (std::mt19937_64). After each
// harness call the emitted results and late records are compared: exactly,
// in order, after add/add_batch (the order there is fixed by the contract:
// records in arrival order, a record's corrections in increasing e); after a
// watermark sorted by (window end, key), since keys fire in hash order. On a
// mismatch the failure message holds the seed, the case, and a shrunk case
// that still fails. To rerun one seed: SLUICE_DIFF_SEED=<seed> windows_tests
// "differential*".
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "differential_support.hpp"
#include "window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace sluice::testing::differential;
using namespace std::chrono_literals;

namespace {

// ---- cases ----

struct Case {
  u64 seed = 0;
  i64 size = 1, slide = 1, offset = 0, lateness = 0;
  int keys = 1;
  std::vector<Step> steps;
};

// Floor division, written out again here so the reference does not share
// the operator's helpers.
i64 fdiv(i64 a, i64 b) {
  i64 q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}
i64 fmod_pos(i64 a, i64 b) { return a - fdiv(a, b) * b; }

Case generate(u64 seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  auto chance = [&](int pct) { return uni(0, 99) < pct; };

  Case c;
  c.seed = seed;
  c.size = chance(15) ? uni(1, 4) : uni(1, 50);
  if (chance(35)) {
    c.slide = c.size;  // tumbling
  } else if (chance(50)) {
    std::vector<i64> divisors;
    for (i64 d = 1; d <= c.size; ++d)
      if (c.size % d == 0) divisors.push_back(d);
    c.slide = divisors[static_cast<std::size_t>(uni(0, static_cast<i64>(divisors.size()) - 1))];
  } else {
    c.slide = uni(1, c.size);  // often does not divide size: slices of gcd(size, slide)
  }
  c.offset = chance(40) ? 0 : uni(-120, 120);
  c.lateness = chance(45) ? 0 : uni(0, 30);
  c.keys = static_cast<int>(uni(1, 5));

  // Mostly around 0 (negative timestamps included); sometimes epoch-sized, in µs.
  const i64 center = uni(-300, 300) + (chance(5) ? (chance(50) ? 1 : -1) * 1'700'000'000'000'000 : 0);
  Timestamp wm = kMinTimestamp;
  std::vector<GenRecord> history;

  // Window ends lie on off + k * slide (starts on offset + k * slide).
  const i64 off = fmod_pos(c.offset + c.size, c.slide);
  // The first window end that the watermark has not closed yet.
  auto first_open_end = [&]() -> Timestamp {
    return off + (fdiv(wm - c.lateness + 1 - off, c.slide) + 1) * c.slide;  // smallest e with e - 1 + lateness > wm
  };
  auto gen_ts = [&]() -> Timestamp {
    const Timestamp p = wm == kMinTimestamp ? center : wm;
    const i64 r = uni(0, 99);
    if (r < 25) return p + uni(-c.size - 5, 2 * c.size + 10);
    if (r < 30 && wm != kMinTimestamp) {
      // Right at the lateness horizon: the last window of e - size is the
      // first open one; one earlier and every window is closed.
      return first_open_end() - c.size - uni(0, 1) - (chance(30) ? c.slide : 0);
    }
    if (r < 50) {  // on or next to a window boundary
      const i64 e = off + (fdiv(p - off, c.slide) + uni(-3, 3)) * c.slide;
      switch (uni(0, 4)) {
        case 0: return e;
        case 1: return e - 1;
        case 2: return e - c.size;
        case 3: return e - c.size - 1;
        default: return e + 1;
      }
    }
    if (r < 65) return p - uni(0, c.lateness + c.size);                         // behind, often within lateness
    if (r < 75) return p - uni(c.size + c.lateness, c.size + c.lateness + 100);  // far behind
    return p + uni(0, 3 * c.size + 20);                                          // ahead
  };
  auto gen_value = [&]() -> i64 {
    if (chance(60)) return uni(-20, 20);  // small: ties for min/max
    if (chance(90)) return uni(-1'000'000, 1'000'000);
    return uni(-1'000'000'000'000, 1'000'000'000'000);
  };
  auto gen_record = [&]() -> GenRecord {
    if (!history.empty() && chance(10))  // duplicate: same key, timestamp and value
      return history[static_cast<std::size_t>(uni(0, static_cast<i64>(history.size()) - 1))];
    GenRecord r{static_cast<int>(uni(0, c.keys - 1)), gen_value(), gen_ts()};
    history.push_back(r);
    return r;
  };

  const i64 n = chance(10) ? uni(30, 150) : uni(3, 30);
  for (i64 i = 0; i < n; ++i) {
    const i64 r = uni(0, 99);
    Step s;
    if (r < 45) {
      s.kind = Step::kAdd;
      s.records.push_back(gen_record());
    } else if (r < 70) {
      s.kind = Step::kBatch;
      const i64 m = uni(2, 6);
      for (i64 j = 0; j < m; ++j) {
        if (j > 0 && chance(15))
          s.records.push_back(s.records.back());  // duplicate inside the batch
        else
          s.records.push_back(gen_record());
      }
    } else {
      s.kind = Step::kWatermark;
      if (wm == kMinTimestamp) {
        wm = center + uni(-60, 20);
      } else {
        const i64 q = uni(0, 99);
        if (q < 15) {
          // does not move
        } else if (q < 50) {
          wm += uni(0, c.size);
        } else if (q < 65) {
          // Just before, at or just after a window end - 1, or the lateness horizon.
          const Timestamp e = off + (fdiv(wm - off, c.slide) + uni(1, 3)) * c.slide;
          wm = std::max(wm, e - 1 + (chance(50) ? c.lateness : 0) + uni(-1, 1));
        } else if (q < 85) {
          wm += uni(c.size, 3 * c.size + c.lateness);
        } else {
          wm += uni(100, 2000);  // big jump
        }
      }
      s.wm = wm;
    }
    c.steps.push_back(std::move(s));
  }
  c.steps.push_back(Step{Step::kEnd, {}, 0});
  return c;
}

template <class K>
std::string show_case(const Case& c) {
  std::ostringstream os;
  os << "seed=" << c.seed << " " << (c.size == c.slide ? "tumbling" : "sliding") << " size=" << c.size
     << " slide=" << c.slide << " offset=" << c.offset << " lateness=" << c.lateness << "\n";
  return os.str() + show_steps<K>(c.steps);
}

// ---- aggregate sets ----

struct RefRecord {
  i64 value;
  Timestamp ts;
};

/// count, sum, avg: all retractable, so sliding windows take the retract path.
struct Retractable {
  using Vals = std::tuple<u64, i64, double>;
  static constexpr const char* names = "count, sum, avg";
  static Vals project(const Full& f) { return {f.count, f.sum, f.avg}; }
  template <class K>
  static auto harness(TimeWindows w, DurationUs lateness) {
    return window_harness<K, i64>(w, lateness, count(), sum("v", Ident{}), avg("v", Ident{}));
  }
  static constexpr bool kRetractable = true;
};

/// Everything, min/max/first/last included: sliding windows take the two-stacks path.
struct NonRetractable {
  using Vals = std::tuple<u64, i64, i64, i64, i64, i64, double>;
  static constexpr const char* names = "count, sum, min, max, first, last, avg";
  static Vals project(const Full& f) { return {f.count, f.sum, f.min, f.max, f.first, f.last, f.avg}; }
  template <class K>
  static auto harness(TimeWindows w, DurationUs lateness) {
    return window_harness<K, i64>(w, lateness, count(), sum("v", Ident{}), min("v", Ident{}), max("v", Ident{}),
                                  first("v", Ident{}), last("v", Ident{}), avg("v", Ident{}));
  }
  static constexpr bool kRetractable = false;
};

// ---- the reference ----

template <class K, class Set>
class Reference {
 public:
  using Vals = typename Set::Vals;
  using Out = WindowResult<K, Vals>;

  explicit Reference(const Case& c)
      : size_(c.size), slide_(c.slide), offset_(c.offset), lateness_(c.lateness) {}

  void add(const K& key, i64 value, Timestamp ts) {
    // Windows holding ts, by Flink's loop, increasing.
    std::vector<Timestamp> ends;
    for (const TimeWindow& w : flink_sliding_windows(ts, size_, slide_, offset_)) ends.push_back(w.end);
    if (std::all_of(ends.begin(), ends.end(), [&](Timestamp e) { return closed(e); })) {
      late_.push_back(Record<i64>{value, ts});
      ++late_count_;
      return;
    }
    Timestamp& last_end = last_end_.try_emplace(key, kMinTimestamp).first->second;
    last_end = std::max(last_end, ends.back());
    for (Timestamp e : ends) {
      if (closed(e)) continue;
      std::vector<RefRecord>& list = windows_[e][key];
      list.push_back(RefRecord{value, ts});
      if (!fired(e)) continue;
      Vals now = Set::project(compute(list));
      auto it = emitted_.find({e, key});
      if (it == emitted_.end()) {
        emit(key, e, now, ChangeKind::kInsert);
        emitted_.emplace(std::make_pair(e, key), now);
      } else {
        emit(key, e, it->second, ChangeKind::kUpdateBefore);
        emit(key, e, now, ChangeKind::kUpdateAfter);
        it->second = now;
      }
    }
  }

  void watermark(Timestamp w) {
    if (w < wm_) throw std::logic_error("the generator must keep watermarks non-decreasing");
    for (auto& [e, keys] : windows_) {
      if (fired(e)) continue;
      if (e - 1 > w) break;
      for (auto& [key, list] : keys) {
        Vals v = Set::project(compute(list));
        emit(key, e, v, ChangeKind::kInsert);
        emitted_.emplace(std::make_pair(e, key), v);
      }
    }
    wm_ = w;
  }

  std::vector<Record<Out>> take() { return std::exchange(out_, {}); }
  std::vector<Record<i64>> take_late() { return std::exchange(late_, {}); }
  u64 late_count() const { return late_count_; }
  /// Keys holding a record in a window that is not closed yet.
  std::size_t live_keys() const {
    return static_cast<std::size_t>(
        std::count_if(last_end_.begin(), last_end_.end(), [&](const auto& kv) { return !closed(kv.second); }));
  }

 private:
  bool fired(Timestamp e) const { return e - 1 <= wm_; }
  bool closed(Timestamp e) const { return wm_ >= e - 1 + lateness_; }
  void emit(const K& key, Timestamp e, const Vals& v, ChangeKind kind) {
    out_.push_back(Record<Out>{Out{key, TimeWindow{e - size_, e}, v, kind}, e - 1});
  }

  i64 size_, slide_, offset_, lateness_;
  Timestamp wm_ = kMinTimestamp;
  std::map<Timestamp, std::map<K, std::vector<RefRecord>>> windows_;  // end -> key -> records
  std::map<std::pair<Timestamp, K>, Vals> emitted_;                    // last values emitted per (end, key)
  std::map<K, Timestamp> last_end_;  // per key: the latest window end holding one of its records
  std::vector<Record<Out>> out_;
  std::vector<Record<i64>> late_;
  u64 late_count_ = 0;
};

// ---- running ----

struct Stats {
  u64 cases = 0, records = 0, negative_ts = 0, fired = 0, inserts_late = 0, updates = 0, late = 0, sliding = 0,
      uneven = 0;
};

/// Runs one case through the operator and the reference; a description of
/// the first difference, or nullopt.
template <class K, class Set>
std::optional<std::string> run_case(const Case& c, Stats* stats = nullptr) {
  auto h = Set::template harness<K>(TimeWindows{c.size, c.slide, c.offset, WindowTime::kEventTime}, c.lateness);
  static_assert(decltype(h)::Aggs::retractable == Set::kRetractable);
  using Out = typename decltype(h)::Out;
  static_assert(std::is_same_v<Out, typename Reference<K, Set>::Out>);
  Reference<K, Set> ref(c);

  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    run_step<K>(s, h, ref);
    const StepOutput<Out> got = take_output<Out>(s, h), want = take_output<Out>(s, ref);
    if (std::optional<std::string> diff = describe_difference(i, want, got)) return diff;
    // Not in the result contract, but the operator's: a key's state goes
    // once every window holding its records is closed (and not before).
    if (h.key_count() != ref.live_keys()) {
      return "after step #" + std::to_string(i) + ": key_count() is " + std::to_string(h.key_count()) + ", expected " +
             std::to_string(ref.live_keys()) + " (keys with a record in a window not closed yet)";
    }
    if (stats != nullptr) {
      for (const auto& r : want.results) {
        if (r.value.kind == ChangeKind::kUpdateAfter) ++stats->updates;
        if (r.value.kind == ChangeKind::kInsert) ++(s.kind == Step::kWatermark || s.kind == Step::kEnd ? stats->fired : stats->inserts_late);
      }
      for (const GenRecord& r : s.records) {
        ++stats->records;
        if (r.ts < 0) ++stats->negative_ts;
      }
    }
  }
  if (std::optional<std::string> diff = describe_end_difference(h, ref)) return diff;
  if (stats != nullptr) {
    ++stats->cases;
    stats->late += ref.late_count();
    if (c.size != c.slide) ++stats->sliding;
    if (c.size % c.slide != 0) ++stats->uneven;
  }
  return std::nullopt;
}

template <class K, class Set>
void run_differential(u64 base_seed, int cases) {
  const std::vector<u64> seeds = seeds_to_run(base_seed, cases);
  const Stats stats = check_cases(seeds, generate, run_case<K, Set>, show_case<K>, Set::names);
  if (stats_requested())
    std::printf("%s: %llu cases, %llu records (%llu negative ts), %llu fired, %llu late inserts, %llu updates, "
                "%llu late drops, %llu sliding, %llu size %% slide != 0\n",
                Set::names, (unsigned long long)stats.cases, (unsigned long long)stats.records,
                (unsigned long long)stats.negative_ts, (unsigned long long)stats.fired,
                (unsigned long long)stats.inserts_late, (unsigned long long)stats.updates,
                (unsigned long long)stats.late, (unsigned long long)stats.sliding, (unsigned long long)stats.uneven);
  if (seeds.size() > 1) {
    // The generator must actually reach the interesting paths.
    CHECK(stats.cases == seeds.size());
    CHECK(stats.negative_ts > 0);
    CHECK(stats.fired > 0);
    CHECK(stats.inserts_late > 0);
    CHECK(stats.updates > 0);
    CHECK(stats.late > 0);
    CHECK(stats.sliding > 0);
    CHECK(stats.uneven > 0);
  }
}

}  // namespace

TEST_CASE("differential: string keys, retractable aggregates") {
  run_differential<std::string, Retractable>(1000, 4000);
}

TEST_CASE("differential: string keys, non-retractable aggregates (two stacks)") {
  run_differential<std::string, NonRetractable>(2000, 4000);
}

TEST_CASE("differential: int keys, retractable aggregates") { run_differential<i64, Retractable>(3000, 4000); }

TEST_CASE("differential: int keys, non-retractable aggregates (two stacks)") {
  run_differential<i64, NonRetractable>(4000, 4000);
}
