// Randomized differential test of the count window operator against a
// deliberately naive reference.
//
// The reference keeps every record of every key, in arrival order, and
// follows the contract of windows/count_windows.hpp directly: after a key's
// n-th record (n = 1, 2, ...), if n is a multiple of slide, it emits the
// window [max(0, n - size), n) computed from those records (not through the
// aggregate classes), with the n-th record's timestamp. Nothing else ever
// fires; watermarks pass through.
//
// Every case is generated from one seed (std::mt19937_64): size and slide
// (tumbling, dividing, or not: slices of gcd), 1 to 5 keys, records with
// ties and out-of-order timestamps, single adds, batches, watermarks and the
// end of input. After each harness call the emitted results are compared
// exactly, in order (the order is the records' arrival order). On a mismatch
// the failure message holds the seed, the case, and a shrunk case that still
// fails. To rerun one seed: SLUICE_DIFF_SEED=<seed> windows_tests "count differential*".
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "differential_support.hpp"
#include "spec_window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace sluice::testing::differential;

namespace {

struct Case {
  u64 seed = 0;
  i64 size = 1, slide = 1;
  int keys = 1;
  std::vector<Step> steps;
};

Case generate(u64 seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  auto chance = [&](int pct) { return uni(0, 99) < pct; };

  Case c;
  c.seed = seed;
  c.size = chance(25) ? uni(1, 4) : uni(1, 40);
  if (chance(30)) {
    c.slide = c.size;  // tumbling
  } else if (chance(40)) {
    std::vector<i64> divisors;
    for (i64 d = 1; d <= c.size; ++d)
      if (c.size % d == 0) divisors.push_back(d);
    c.slide = divisors[static_cast<std::size_t>(uni(0, static_cast<i64>(divisors.size()) - 1))];
  } else {
    c.slide = uni(1, c.size);  // often does not divide size: slices of gcd(size, slide)
  }
  c.keys = static_cast<int>(uni(1, 5));

  Timestamp clock = uni(-100, 100);
  Timestamp wm = kMinTimestamp;
  auto gen_record = [&]() -> GenRecord {
    const i64 r = uni(0, 99);
    Timestamp ts;
    if (r < 20) {
      ts = clock;  // a tie
    } else if (r < 40) {
      ts = clock - uni(0, 30);  // out of order (maybe behind the watermark: no matter)
    } else {
      clock += uni(0, 5);
      ts = clock;
    }
    i64 v = chance(60) ? uni(-20, 20) : uni(-1'000'000'000'000, 1'000'000'000'000);
    return GenRecord{static_cast<int>(uni(0, c.keys - 1)), v, ts};
  };

  // Enough records for several windows of the larger sizes.
  const i64 n = chance(15) ? uni(60, 200) : uni(1, 60);
  for (i64 i = 0; i < n; ++i) {
    const i64 r = uni(0, 99);
    Step s;
    if (r < 45) {
      s.kind = Step::kAdd;
      s.records.push_back(gen_record());
    } else if (r < 85) {
      s.kind = Step::kBatch;
      const i64 m = uni(2, 12);
      for (i64 j = 0; j < m; ++j) {
        if (j > 0 && chance(10))
          s.records.push_back(s.records.back());  // duplicate inside the batch
        else
          s.records.push_back(gen_record());
      }
    } else {
      s.kind = Step::kWatermark;
      wm = std::max(wm == kMinTimestamp ? clock - 50 : wm, clock - uni(0, 20));
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
  os << "seed=" << c.seed << " count_sliding(" << c.size << ", " << c.slide << ")\n";
  return os.str() + show_steps<K>(c.steps);
}

// ---- aggregate sets ----

struct RefRecord {
  i64 value;
  Timestamp ts;
};

/// count, sum, avg: all retractable (one running accumulator per key).
struct Retractable {
  using Vals = std::tuple<u64, i64, double>;
  static constexpr const char* names = "count, sum, avg";
  static constexpr auto kCombine = detail::SliceCombine::kRetract;
  static Vals project(const Full& f) { return {f.count, f.sum, f.avg}; }
  template <class K>
  static auto harness(CountWindows w) {
    return spec_window_harness<K, i64>(w, count(), sum("v", Ident{}), avg("v", Ident{}));
  }
};

/// min/max/first/last too: the two-stacks path.
struct NonRetractable {
  using Vals = std::tuple<u64, i64, i64, i64, i64, i64, double>;
  static constexpr const char* names = "count, sum, min, max, first, last, avg";
  static constexpr auto kCombine = detail::SliceCombine::kTwoStacks;
  static Vals project(const Full& f) { return {f.count, f.sum, f.min, f.max, f.first, f.last, f.avg}; }
  template <class K>
  static auto harness(CountWindows w) {
    return spec_window_harness<K, i64>(w, count(), sum("v", Ident{}), min("v", Ident{}), max("v", Ident{}),
                                       first("v", Ident{}), last("v", Ident{}), avg("v", Ident{}));
  }
};

/// list (holistic: slices merged on demand), with min.
struct Holistic {
  using Vals = std::tuple<std::vector<i64>, i64>;
  static constexpr const char* names = "list, min";
  static constexpr auto kCombine = detail::SliceCombine::kMergeAll;
  static Vals project(const Full& f) { return {f.list, f.min}; }
  template <class K>
  static auto harness(CountWindows w) {
    return spec_window_harness<K, i64>(w, list("v", Ident{}), min("v", Ident{}));
  }
};

// ---- the reference ----

template <class K, class Set>
class Reference {
 public:
  using Vals = typename Set::Vals;
  using Out = WindowResult<K, Vals>;

  explicit Reference(const Case& c) : size_(c.size), slide_(c.slide) {}

  void add(const K& key, i64 value, Timestamp ts) {
    std::vector<RefRecord>& rs = records_[key];
    rs.push_back(RefRecord{value, ts});
    const i64 n = static_cast<i64>(rs.size());
    if (n % slide_ != 0) return;
    const i64 start = std::max<i64>(0, n - size_);
    std::vector<RefRecord> window(rs.begin() + start, rs.end());
    out_.push_back(Record<Out>{Out{key, TimeWindow{start, n}, Set::project(compute(window)), ChangeKind::kInsert}, ts});
  }

  /// Count windows fire on records only: a watermark just passes through.
  void watermark(Timestamp w) { watermarks_.push_back(w); }

  std::vector<Record<Out>> take() { return std::exchange(out_, {}); }
  std::size_t keys() const { return records_.size(); }
  const std::vector<Timestamp>& watermarks() const { return watermarks_; }

 private:
  i64 size_, slide_;
  std::map<K, std::vector<RefRecord>> records_;
  std::vector<Record<Out>> out_;
  std::vector<Timestamp> watermarks_;  // passed through, in order
};

// ---- running ----

struct Stats {
  u64 cases = 0, records = 0, fired = 0, partial = 0, sliding = 0, uneven = 0, incomplete = 0;
};

/// Runs one case through the operator and the reference; a description of
/// the first difference, or nullopt.
template <class K, class Set>
std::optional<std::string> run_case(const Case& c, Stats* stats = nullptr) {
  auto h = Set::template harness<K>(count_sliding(c.size, c.slide));
  static_assert(decltype(h)::Op::kCombine == Set::kCombine);
  using Out = typename decltype(h)::Out;
  static_assert(std::is_same_v<Out, typename Reference<K, Set>::Out>);
  Reference<K, Set> ref(c);
  u64 records = 0;

  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    run_step<K>(s, h, ref);
    records += s.records.size();
    const std::vector<Record<Out>> got = h.take(), want = ref.take();
    if (!same_results(got, want)) {
      std::ostringstream os;
      os << "after step #" << i << "\n  expected:\n" << show(want) << "  got:\n" << show(got);
      return os.str();
    }
    if (h.watermarks() != ref.watermarks())
      return "after step #" + std::to_string(i) + ": watermarks not passed through";
    if (h.key_count() != ref.keys())
      return "after step #" + std::to_string(i) + ": key_count() is " + std::to_string(h.key_count()) + ", expected " +
             std::to_string(ref.keys());
    if (stats != nullptr) {
      for (const auto& r : want) {
        ++stats->fired;
        if (r.value.window.end - r.value.window.start < c.size) ++stats->partial;
      }
    }
  }
  if (stats != nullptr) {
    ++stats->cases;
    stats->records += records;
    if (c.size != c.slide) ++stats->sliding;
    if (c.size % c.slide != 0) ++stats->uneven;
    if (records % static_cast<u64>(c.slide) != 0) ++stats->incomplete;
  }
  return std::nullopt;
}

template <class K, class Set>
void run_differential(u64 base_seed, int cases) {
  const std::vector<u64> seeds = seeds_to_run(base_seed, cases);
  // Timestamps pick no count window: 0 makes a shrunk case easier to read.
  const Stats stats =
      check_cases(seeds, generate, run_case<K, Set>, show_case<K>, Set::names, ShrinkOptions{.try_zero_ts = true});
  if (stats_requested())
    std::printf("%s: %llu cases, %llu records, %llu fired (%llu partial), %llu sliding, %llu size %% slide != 0, "
                "%llu ending inside a window\n",
                Set::names, (unsigned long long)stats.cases, (unsigned long long)stats.records,
                (unsigned long long)stats.fired, (unsigned long long)stats.partial, (unsigned long long)stats.sliding,
                (unsigned long long)stats.uneven, (unsigned long long)stats.incomplete);
  if (seeds.size() > 1) {
    // The generator must actually reach the interesting paths.
    CHECK(stats.cases == seeds.size());
    CHECK(stats.fired > 0);
    CHECK(stats.partial > 0);
    CHECK(stats.sliding > 0);
    CHECK(stats.uneven > 0);
    CHECK(stats.incomplete > 0);
  }
}

}  // namespace

TEST_CASE("count differential: string keys, retractable aggregates") {
  run_differential<std::string, Retractable>(11000, 2000);
}

TEST_CASE("count differential: int keys, non-retractable aggregates (two stacks)") {
  run_differential<i64, NonRetractable>(12000, 2000);
}

TEST_CASE("count differential: string keys, non-retractable aggregates (two stacks)") {
  run_differential<std::string, NonRetractable>(13000, 1000);
}

TEST_CASE("count differential: int keys, list (holistic)") { run_differential<i64, Holistic>(14000, 1000); }
