// What the randomized differential tests of the window operators share
// (differential_test.cpp: time windows, session_differential_test.cpp:
// sessions, count_differential_test.cpp: count windows): the steps of a case,
// the key pools, how a step runs and how a case is printed and shrunk, the
// aggregates as the references compute them, how the outputs of the harness
// and of the reference are compared, and the SLUICE_DIFF_* environment
// variables. Each test keeps its own Case (its window parameters),
// generator, reference (its window semantics) and statistics.
//
// A Case here is any struct with `u64 seed` and `std::vector<Step> steps`
// whose last step is kEnd.
//
// Environment:
//   SLUICE_DIFF_SEED=<seed>  run only this seed (to rerun a failure);
//   SLUICE_DIFF_CASES=<n>    run n cases instead of each test's default;
//   SLUICE_DIFF_STATS=1      print what the cases reached.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "operator_harness.hpp"

namespace sluice::testing::differential {

using i64 = std::int64_t;
using u64 = std::uint64_t;

// ---- cases ----

struct GenRecord {
  int key = 0;  // index into the key pool
  i64 value = 0;
  Timestamp ts = 0;
};

struct Step {
  enum Kind { kAdd, kBatch, kWatermark, kEnd } kind = kAdd;
  std::vector<GenRecord> records;  // kAdd: one; kBatch: several
  Timestamp wm = 0;                // kWatermark
};

/// Key number i (0 to 4) of the pool for K: string keys include the empty
/// one and one too long for the small-string buffer.
template <class K>
K key_of(int i);
template <>
inline std::string key_of<std::string>(int i) {
  static const char* const pool[] = {"a", "b", "", "a-rather-long-key-that-does-not-fit-in-sso", "k4"};
  return pool[i];
}
template <>
inline i64 key_of<i64>(int i) {
  static const i64 pool[] = {0, -1, 42, i64{1} << 40, -7};
  return pool[i];
}

/// The field the aggregates read: the record itself.
struct Ident {
  i64 operator()(i64 x) const { return x; }
};

/// Spreads consecutive base seeds over the whole range.
inline u64 splitmix(u64 x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// ---- Flink's window assignment ----

/// TimeWindow.getWindowStartWithOffset: the start of the window of size
/// `window_size` (on the grid offset + k * window_size) holding `ts`. As in
/// Flink since 1.12: the remainder is taken towards -infinity, so negative
/// timestamps fall in the window below them (the older formula
/// ts - (ts - offset + size) % size truncated towards 0 and put ts = -5,
/// size 4 in [-4, 0)).
inline i64 flink_window_start(i64 ts, i64 offset, i64 window_size) {
  const i64 remainder = (ts - offset) % window_size;
  return remainder < 0 ? ts - (remainder + window_size) : ts - remainder;
}

/// SlidingEventTimeWindows.assignWindows, sorted by start: every
/// [start, start + size) with start on offset + k * slide and
/// ts - size < start <= ts. Tumbling windows are the case slide == size.
inline std::vector<TimeWindow> flink_sliding_windows(i64 ts, i64 size, i64 slide, i64 offset) {
  std::vector<TimeWindow> windows;
  const i64 last_start = flink_window_start(ts, offset, slide);
  for (i64 start = last_start; start > ts - size; start -= slide) windows.push_back(TimeWindow{start, start + size});
  std::reverse(windows.begin(), windows.end());
  return windows;
}

// ---- printing ----

template <class K>
std::string show_key(const K& k) {
  std::ostringstream os;
  if constexpr (std::is_same_v<K, std::string>)
    os << '"' << k << '"';
  else
    os << k;
  return os.str();
}

template <class K>
std::string show_record(const GenRecord& r) {
  std::ostringstream os;
  os << "{" << show_key(key_of<K>(r.key)) << ", " << r.value << ", " << r.ts << "}";
  return os.str();
}

/// The steps of a case, one a line: "  #3 add_batch {...}". Each test's
/// show_case() puts its window parameters in front.
template <class K>
std::string show_steps(const std::vector<Step>& steps) {
  std::ostringstream os;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    os << "  #" << i << " ";
    switch (s.kind) {
      case Step::kAdd: os << "add " << show_record<K>(s.records[0]); break;
      case Step::kBatch:
        os << "add_batch {";
        for (std::size_t j = 0; j < s.records.size(); ++j) os << (j ? ", " : "") << show_record<K>(s.records[j]);
        os << "}";
        break;
      case Step::kWatermark: os << "watermark " << s.wm; break;
      case Step::kEnd: os << "end_of_input"; break;
    }
    os << "\n";
  }
  return os.str();
}

template <class Out>
std::string show_results(const std::vector<Record<Out>>& rs) {
  std::ostringstream os;
  if (rs.empty()) os << "    (none)\n";
  for (const auto& r : rs) {
    os << "    " << to_string(r.value.kind) << " " << show_key(r.value.key) << " " << r.value.window << " (";
    std::apply(
        [&](const auto&... v) {
          int i = 0;
          ((os << (i++ ? ", " : ""), show_value(os, v)), ...);
        },
        r.value.values);
    os << ") @" << r.ts_us << "\n";
  }
  return os.str();
}

inline std::string show_late(const std::vector<Record<i64>>& rs) {
  std::ostringstream os;
  os << "   ";
  if (rs.empty()) os << " (none)";
  for (const auto& r : rs) os << " {" << r.value << " @" << r.ts_us << "}";
  return os.str() + "\n";
}

// ---- the references' aggregates ----

/// Every aggregate the tests use, worked out directly from a window's
/// records, not through the aggregate classes.
struct Full {
  u64 count = 0;
  i64 sum = 0, min = 0, max = 0, first = 0, last = 0;
  double avg = 0;
  std::vector<i64> list;  // by timestamp, ties in arrival order
};

/// The aggregates of `rs`: a window's records (with `value` and `ts`), in
/// arrival order, not empty.
template <class R>
Full compute(std::vector<R> rs) {
  Full f;
  f.count = rs.size();
  f.min = f.max = f.first = f.last = rs.at(0).value;
  Timestamp first_ts = rs[0].ts, last_ts = rs[0].ts;
  for (const R& r : rs) {
    f.sum += r.value;
    f.min = std::min(f.min, r.value);
    f.max = std::max(f.max, r.value);
    if (r.ts < first_ts) {  // ties: the earliest arrival stays
      first_ts = r.ts;
      f.first = r.value;
    }
    if (r.ts >= last_ts) {  // ties: the latest arrival wins
      last_ts = r.ts;
      f.last = r.value;
    }
  }
  f.avg = static_cast<double>(f.sum) / static_cast<double>(f.count);
  std::stable_sort(rs.begin(), rs.end(), [](const R& a, const R& b) { return a.ts < b.ts; });
  for (const R& r : rs) f.list.push_back(r.value);
  return f;
}

// ---- running a step ----

/// Sends the records of a kAdd or kBatch step to the harness (one add or one
/// add_batch) and to the reference (one add per record, in order).
template <class K, class Harness, class Reference>
void add_records(const Step& s, Harness& h, Reference& ref) {
  if (s.kind == Step::kAdd) {
    const GenRecord& r = s.records[0];
    h.add(key_of<K>(r.key), r.value, r.ts);
    ref.add(key_of<K>(r.key), r.value, r.ts);
    return;
  }
  std::vector<std::tuple<K, i64, Timestamp>> batch;
  for (const GenRecord& r : s.records) {
    batch.emplace_back(key_of<K>(r.key), r.value, r.ts);
    ref.add(key_of<K>(r.key), r.value, r.ts);
  }
  h.add_batch(std::move(batch));
}

/// Runs step `s` on the harness and on a reference that follows watermarks
/// (it takes the end of input as watermark +inf).
template <class K, class Harness, class Reference>
void run_step(const Step& s, Harness& h, Reference& ref) {
  switch (s.kind) {
    case Step::kAdd:
    case Step::kBatch: add_records<K>(s, h, ref); break;
    case Step::kWatermark:
      h.watermark(s.wm);
      ref.watermark(s.wm);
      break;
    case Step::kEnd:
      h.end_of_input();
      ref.watermark(kMaxTimestamp);
      break;
  }
}

// ---- comparing ----

template <class V>
bool close_enough(const V& a, const V& b) {
  if constexpr (std::is_floating_point_v<V>)
    return a == b || std::fabs(a - b) <= 1e-9 * std::max({1.0, std::fabs(a), std::fabs(b)});
  else
    return a == b;
}

template <class Tuple>
bool values_equal(const Tuple& a, const Tuple& b) {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return (close_enough(std::get<I>(a), std::get<I>(b)) && ...);
  }(std::make_index_sequence<std::tuple_size_v<Tuple>>{});
}

template <class Out>
bool same_result(const Record<Out>& a, const Record<Out>& b) {
  return a.ts_us == b.ts_us && a.value.key == b.value.key && a.value.window == b.value.window &&
         a.value.kind == b.value.kind && values_equal(a.value.values, b.value.values);
}

/// Equal in order, doubles within rounding.
template <class Out>
bool same_results(const std::vector<Record<Out>>& a, const std::vector<Record<Out>>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), same_result<Out>);
}

/// What a harness or a reference emitted during one step.
template <class Out>
struct StepOutput {
  std::vector<Record<Out>> results;
  std::vector<Record<i64>> late;
};

/// Takes what `from` (the harness or the reference) emitted during step `s`.
/// After a watermark or the end of input the results are sorted by (window
/// end, key), since the operator fires keys in hash order; after an add
/// their order is the contract and stays.
template <class Out, class Emitter>
StepOutput<Out> take_output(const Step& s, Emitter& from) {
  StepOutput<Out> o{from.take(), from.take_late()};
  if (s.kind == Step::kWatermark || s.kind == Step::kEnd) {
    std::stable_sort(o.results.begin(), o.results.end(), [](const Record<Out>& a, const Record<Out>& b) {
      return std::tie(a.value.window.end, a.value.key) < std::tie(b.value.window.end, b.value.key);
    });
  }
  return o;
}

/// Both outputs of step number `step` side by side, or nullopt if they agree.
template <class Out>
std::optional<std::string> describe_difference(std::size_t step, const StepOutput<Out>& want,
                                                const StepOutput<Out>& got) {
  if (same_results(got.results, want.results) && got.late == want.late) return std::nullopt;
  std::ostringstream os;
  os << "after step #" << step << "\n  expected:\n"
     << show_results(want.results) << "  got:\n"
     << show_results(got.results) << "  expected late:\n"
     << show_late(want.late) << "  got late:\n"
     << show_late(got.late);
  return os.str();
}

/// After the end of input: the late records counted differ, or the
/// operator still holds state for a key; nullopt if neither.
template <class Harness, class Reference>
std::optional<std::string> describe_end_difference(const Harness& h, const Reference& ref) {
  if (h.late_count() != ref.late_count())
    return "late_count() is " + std::to_string(h.late_count()) + ", expected " + std::to_string(ref.late_count());
  if (h.key_count() != 0) return "key_count() is " + std::to_string(h.key_count()) + " after end_of_input";
  return std::nullopt;
}

// ---- shrinking ----

struct ShrinkOptions {
  /// Also try timestamp 0 for each record. Only worth it where timestamps
  /// pick no window (count windows); elsewhere it mostly makes a case pass.
  bool try_zero_ts = false;
};

/// Makes a failing case smaller while `fails(case)` stays true: drops steps
/// (never the final end of input) and batch records, and simplifies records
/// (key 0, value 1, and timestamp 0 if asked).
template <class Case, class Fails>
Case shrink(Case c, Fails fails, ShrinkOptions options = {}) {
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t i = 0; i + 1 < c.steps.size();) {
      Case t = c;
      t.steps.erase(t.steps.begin() + static_cast<std::ptrdiff_t>(i));
      if (fails(t)) {
        c = std::move(t);
        progress = true;
      } else {
        ++i;
      }
    }
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      for (std::size_t j = 0; c.steps[i].kind == Step::kBatch && c.steps[i].records.size() > 1 &&
                              j < c.steps[i].records.size();) {
        Case t = c;
        t.steps[i].records.erase(t.steps[i].records.begin() + static_cast<std::ptrdiff_t>(j));
        if (fails(t)) {
          c = std::move(t);
          progress = true;
        } else {
          ++j;
        }
      }
      for (std::size_t j = 0; j < c.steps[i].records.size(); ++j) {
        const GenRecord r = c.steps[i].records[j];
        std::vector<GenRecord> simpler{GenRecord{0, r.value, r.ts}, GenRecord{r.key, 1, r.ts}};
        if (options.try_zero_ts) simpler.push_back(GenRecord{r.key, r.value, 0});
        for (const GenRecord& s : simpler) {
          if (s.key == r.key && s.value == r.value && s.ts == r.ts) continue;
          Case t = c;
          t.steps[i].records[j] = s;
          if (fails(t)) {
            c = std::move(t);
            progress = true;
            break;
          }
        }
      }
    }
  }
  return c;
}

// ---- running the cases ----

/// The seeds to run: SLUICE_DIFF_SEED alone if set, otherwise `cases` seeds
/// (SLUICE_DIFF_CASES if set) spread from base_seed. Each test has its own
/// base_seed, so the tests run different cases.
inline std::vector<u64> seeds_to_run(u64 base_seed, int cases) {
  std::vector<u64> seeds;
  if (const char* env = std::getenv("SLUICE_DIFF_SEED")) {
    seeds.push_back(std::strtoull(env, nullptr, 0));
  } else {
    if (const char* env = std::getenv("SLUICE_DIFF_CASES")) cases = std::atoi(env);
    for (int i = 0; i < cases; ++i) seeds.push_back(splitmix(base_seed + static_cast<u64>(i)));
  }
  return seeds;
}

/// Whether to print the statistics of the cases (SLUICE_DIFF_STATS).
inline bool stats_requested() { return std::getenv("SLUICE_DIFF_STATS") != nullptr; }

/// Runs the case of each seed through `run_case`, which returns the first
/// difference between operator and reference, or nullopt, and adds to the
/// statistics it is given. At the first difference, shrinks the case and
/// fails the test with the aggregates, the seed, and the case and the shrunk
/// case with their differences. The shrinking runs pass no statistics, so
/// the result counts only the cases themselves.
template <class Case, class Stats>
Stats check_cases(const std::vector<u64>& seeds, Case (*generate)(u64),
                  std::optional<std::string> (*run_case)(const Case&, Stats*),
                  std::string (*show_case)(const Case&), const char* aggregates, ShrinkOptions shrink_options = {}) {
  Stats stats;
  for (u64 seed : seeds) {
    const Case c = generate(seed);
    if (std::optional<std::string> diff = run_case(c, &stats)) {
      const Case small = shrink(c, [&](const Case& t) { return run_case(t, nullptr).has_value(); }, shrink_options);
      INFO("aggregates: " << aggregates);
      INFO("case:\n" << show_case(c) << *diff);
      const std::string small_diff = *run_case(small, nullptr);
      INFO("shrunk case:\n" << show_case(small) << small_diff);
      CAPTURE(seed);
      FAIL("operator and reference differ");
    }
  }
  return stats;
}

}  // namespace sluice::testing::differential
