// Randomized differential test of the session window operator against a
// deliberately naive reference.
//
// The reference keeps every record of every retained session (with its
// arrival number) and computes the aggregates from those lists directly, not
// through the aggregate classes. It follows the operator's contract for
// event-time sessions, gap g, allowed lateness L, watermark W:
//   - a record at ts has the window [ts, ts + g); it merges with every
//     retained session of its key with start <= ts + g and end >= ts;
//   - meeting none, it is late when W >= ts + g - 1 + L (late output, counted);
//   - inside one session with unchanged bounds: if fired, -U old, +U new;
//   - otherwise: -D for each met session that fired (in start order), then
//     the merged session; +I at once if its end - 1 <= W (it is then fired);
//   - max_sessions n: while a key holds more than n sessions, the one with
//     the smallest start gets +I if it has not fired, and is dropped;
//   - watermark W: +I for every unfired session with end - 1 <= W; sessions
//     with end - 1 + L <= W that fired are dropped.
// Every case is generated from one seed (std::mt19937_64). After each harness
// call the emitted results and late records are compared exactly, in order,
// after add/add_batch; after a watermark sorted by (window end, key), since
// keys fire in hash order. Key, session and eviction counts are compared too.
// On a mismatch the failure message holds the seed, the case, and a shrunk
// case that still fails. To rerun one seed: SLUICE_DIFF_SEED=<seed>
// windows_tests "session differential*".
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "differential_support.hpp"
#include "session_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace sluice::testing::differential;

namespace {

// ---- cases ----

struct Case {
  u64 seed = 0;
  i64 gap = 1, lateness = 0, max_sessions = 0;  // max_sessions 0: unbounded
  int keys = 1;
  std::vector<Step> steps;
};

Case generate(u64 seed) {
  std::mt19937_64 rng(seed);
  auto uni = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
  auto chance = [&](int pct) { return uni(0, 99) < pct; };

  Case c;
  c.seed = seed;
  c.gap = chance(15) ? uni(1, 3) : uni(1, 40);
  c.lateness = chance(35) ? 0 : (chance(80) ? uni(0, 30) : uni(30, 200));
  c.max_sessions = chance(25) ? uni(1, 4) : 0;
  c.keys = static_cast<int>(uni(1, 5));

  // Mostly around 0 (negative timestamps included); sometimes epoch-sized, in µs.
  const i64 center = uni(-300, 300) + (chance(5) ? (chance(50) ? 1 : -1) * 1'700'000'000'000'000 : 0);
  Timestamp wm = kMinTimestamp;
  std::vector<GenRecord> history;

  auto gen_ts = [&]() -> Timestamp {
    const Timestamp p = wm == kMinTimestamp ? center : wm;
    const i64 r = uni(0, 99);
    if (r < 25) return p + uni(-c.gap - 5, 2 * c.gap + 10);
    if (r < 45 && !history.empty()) {
      // On or next to the edge of an earlier record's window: touching,
      // just missing, just inside.
      const Timestamp h = history[static_cast<std::size_t>(uni(0, static_cast<i64>(history.size()) - 1))].ts;
      switch (uni(0, 6)) {
        case 0: return h + c.gap;
        case 1: return h + c.gap + 1;
        case 2: return h + c.gap - 1;
        case 3: return h - c.gap;
        case 4: return h - c.gap - 1;
        case 5: return h - c.gap + 1;
        default: return h;
      }
    }
    if (r < 60) return p - uni(0, c.lateness + c.gap);                          // behind, often within lateness
    if (r < 70) return p - uni(c.gap + c.lateness, c.gap + c.lateness + 100);  // far behind
    return p + uni(0, 3 * c.gap + 20);                                          // ahead
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
          wm += uni(0, c.gap);
        } else if (q < 65 && !history.empty()) {
          // Just before, at or just after some window's end - 1, or its cleanup time.
          const Timestamp h = history[static_cast<std::size_t>(uni(0, static_cast<i64>(history.size()) - 1))].ts;
          wm = std::max(wm, h + c.gap - 1 + (chance(50) ? c.lateness : 0) + uni(-1, 1));
        } else if (q < 85) {
          wm += uni(c.gap, 3 * c.gap + c.lateness);
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
  os << "seed=" << c.seed << " session gap=" << c.gap << " lateness=" << c.lateness
     << " max_sessions=" << (c.max_sessions == 0 ? std::string("unbounded") : std::to_string(c.max_sessions)) << "\n";
  return os.str() + show_steps<K>(c.steps);
}

// ---- aggregate sets ----

struct RefRecord {
  i64 value;
  Timestamp ts;
  u64 seq;  // arrival number
};

/// The aggregates of a session: its records come in merge order.
Full compute_in_arrival_order(std::vector<RefRecord> rs) {
  std::sort(rs.begin(), rs.end(), [](const RefRecord& a, const RefRecord& b) { return a.seq < b.seq; });
  return compute(std::move(rs));
}

/// count, sum, min, max, first, last, avg.
struct Scalars {
  using Vals = std::tuple<u64, i64, i64, i64, i64, i64, double>;
  static constexpr const char* names = "count, sum, min, max, first, last, avg";
  static Vals project(const Full& f) { return {f.count, f.sum, f.min, f.max, f.first, f.last, f.avg}; }
  template <class K>
  static auto harness(SessionWindows w, DurationUs lateness) {
    return session_harness<K, i64>(w, lateness, count(), sum("v", Ident{}), min("v", Ident{}), max("v", Ident{}),
                                   first("v", Ident{}), last("v", Ident{}), avg("v", Ident{}));
  }
};

/// count, sum, list (holistic, and sensitive to merge order).
struct WithList {
  using Vals = std::tuple<u64, i64, std::vector<i64>>;
  static constexpr const char* names = "count, sum, list";
  static Vals project(const Full& f) { return {f.count, f.sum, f.list}; }
  template <class K>
  static auto harness(SessionWindows w, DurationUs lateness) {
    return session_harness<K, i64>(w, lateness, count(), sum("v", Ident{}), list("v", Ident{}));
  }
};

// ---- the reference ----

template <class K, class Set>
class Reference {
 public:
  using Vals = typename Set::Vals;
  using Out = WindowResult<K, Vals>;

  explicit Reference(const Case& c) : gap_(c.gap), lateness_(c.lateness), max_sessions_(c.max_sessions) {}

  void add(const K& key, i64 value, Timestamp ts) {
    const RefRecord rec{value, ts, seq_++};
    const Timestamp end = ts + gap_;
    std::vector<Session>& list = sessions_[key];
    std::vector<Session> met, rest;
    for (Session& s : list) (s.start <= end && s.end >= ts ? met : rest).push_back(std::move(s));
    list.clear();
    if (met.empty()) {
      if (wm_ != kMinTimestamp && end - 1 + lateness_ <= wm_) {
        late_.push_back(Record<i64>{value, ts});
        ++late_count_;
        list = std::move(rest);
        if (list.empty()) sessions_.erase(key);
        return;
      }
      Session s{ts, end, false, {rec}, {}};
      fire_if_due(key, s);
      if (s.fired) ++late_inserts_;
      rest.push_back(std::move(s));
      list = std::move(rest);
      sort_by_start(list);
      while (max_sessions_ != 0 && static_cast<i64>(list.size()) > max_sessions_) {
        Session& oldest = list.front();
        if (!oldest.fired)
          emit(key, oldest, Set::project(compute_in_arrival_order(oldest.records)), ChangeKind::kInsert);
        list.erase(list.begin());
        ++evicted_;
      }
      return;
    }
    sort_by_start(met);
    if (met.size() == 1 && met[0].start <= ts && end <= met[0].end) {
      Session& s = met[0];
      s.records.push_back(rec);
      if (s.fired) {
        Vals now = Set::project(compute_in_arrival_order(s.records));
        emit(key, s, s.last, ChangeKind::kUpdateBefore);
        emit(key, s, now, ChangeKind::kUpdateAfter);
        s.last = now;
        ++updates_;
      }
    } else {
      Session merged{ts, end, false, {rec}, {}};
      std::size_t deletes = 0;
      for (const Session& s : met) {
        if (s.fired) {
          emit(key, s, s.last, ChangeKind::kDelete);
          ++deletes;
        }
        merged.start = std::min(merged.start, s.start);
        merged.end = std::max(merged.end, s.end);
        merged.records.insert(merged.records.end(), s.records.begin(), s.records.end());
      }
      deletes_ += deletes;
      if (deletes >= 2) ++bridges_;
      ++merges_;
      fire_if_due(key, merged);
      if (merged.fired) ++late_inserts_;
      met.assign(1, std::move(merged));
    }
    rest.push_back(std::move(met[0]));
    list = std::move(rest);
    sort_by_start(list);
  }

  void watermark(Timestamp w) {
    if (w < wm_) throw std::logic_error("the generator must keep watermarks non-decreasing");
    wm_ = w;
    for (auto& [key, list] : sessions_) {
      for (Session& s : list) {
        if (!s.fired && s.end - 1 <= w) {
          fire_if_due(key, s);
          ++fired_;
        }
      }
      std::erase_if(list, [&](const Session& s) { return s.fired && s.end - 1 + lateness_ <= w; });
    }
    std::erase_if(sessions_, [](const auto& kv) { return kv.second.empty(); });
  }

  std::vector<Record<Out>> take() { return std::exchange(out_, {}); }
  std::vector<Record<i64>> take_late() { return std::exchange(late_, {}); }
  u64 late_count() const { return late_count_; }
  u64 evicted() const { return evicted_; }
  std::size_t key_count() const { return sessions_.size(); }
  std::size_t session_count() const {
    std::size_t n = 0;
    for (const auto& [key, list] : sessions_) n += list.size();
    return n;
  }

  u64 fired_ = 0, late_inserts_ = 0, updates_ = 0, deletes_ = 0, bridges_ = 0, merges_ = 0;

 private:
  struct Session {
    Timestamp start, end;
    bool fired;
    std::vector<RefRecord> records;
    Vals last;  // the values emitted last (fired sessions)
  };

  static void sort_by_start(std::vector<Session>& v) {
    std::sort(v.begin(), v.end(), [](const Session& a, const Session& b) { return a.start < b.start; });
  }

  void fire_if_due(const K& key, Session& s) {
    if (wm_ == kMinTimestamp || s.end - 1 > wm_) return;
    s.last = Set::project(compute_in_arrival_order(s.records));
    s.fired = true;
    emit(key, s, s.last, ChangeKind::kInsert);
  }

  void emit(const K& key, const Session& s, const Vals& v, ChangeKind kind) {
    out_.push_back(Record<Out>{Out{key, TimeWindow{s.start, s.end}, v, kind}, s.end - 1});
  }

  i64 gap_, lateness_, max_sessions_;
  Timestamp wm_ = kMinTimestamp;
  u64 seq_ = 0;
  std::map<K, std::vector<Session>> sessions_;
  std::vector<Record<Out>> out_;
  std::vector<Record<i64>> late_;
  u64 late_count_ = 0, evicted_ = 0;
};

// ---- running ----

struct Stats {
  u64 cases = 0, records = 0, negative_ts = 0, fired = 0, late_inserts = 0, updates = 0, deletes = 0, bridges = 0,
      merges = 0, late = 0, evicted = 0;
};

/// Runs one case through the operator and the reference; a description of
/// the first difference, or nullopt.
template <class K, class Set>
std::optional<std::string> run_case(const Case& c, Stats* stats = nullptr) {
  SessionWindows w = session(std::chrono::microseconds(c.gap));
  if (c.max_sessions != 0) w = w.with_max_sessions(c.max_sessions);
  auto h = Set::template harness<K>(w, c.lateness);
  using Out = typename decltype(h)::Out;
  static_assert(std::is_same_v<Out, typename Reference<K, Set>::Out>);
  Reference<K, Set> ref(c);

  for (std::size_t i = 0; i < c.steps.size(); ++i) {
    const Step& s = c.steps[i];
    run_step<K>(s, h, ref);
    const StepOutput<Out> got = take_output<Out>(s, h), want = take_output<Out>(s, ref);
    if (std::optional<std::string> diff = describe_difference(i, want, got)) return diff;
    if (h.key_count() != ref.key_count() || h.session_count() != ref.session_count() || h.evicted() != ref.evicted()) {
      std::ostringstream os;
      os << "after step #" << i << ": keys/sessions/evicted are " << h.key_count() << "/" << h.session_count() << "/"
         << h.evicted() << ", expected " << ref.key_count() << "/" << ref.session_count() << "/" << ref.evicted();
      return os.str();
    }
    if (stats != nullptr) {
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
    stats->evicted += ref.evicted();
    stats->fired += ref.fired_;
    stats->late_inserts += ref.late_inserts_;
    stats->updates += ref.updates_;
    stats->deletes += ref.deletes_;
    stats->bridges += ref.bridges_;
    stats->merges += ref.merges_;
  }
  return std::nullopt;
}

template <class K, class Set>
void run_differential(u64 base_seed, int cases) {
  const std::vector<u64> seeds = seeds_to_run(base_seed, cases);
  const Stats stats = check_cases(seeds, generate, run_case<K, Set>, show_case<K>, Set::names);
  if (stats_requested())
    std::printf("%s: %llu cases, %llu records (%llu negative ts), %llu fired, %llu late inserts, %llu updates, "
                "%llu deletes, %llu bridges, %llu merges, %llu late drops, %llu evicted\n",
                Set::names, (unsigned long long)stats.cases, (unsigned long long)stats.records,
                (unsigned long long)stats.negative_ts, (unsigned long long)stats.fired,
                (unsigned long long)stats.late_inserts, (unsigned long long)stats.updates,
                (unsigned long long)stats.deletes, (unsigned long long)stats.bridges, (unsigned long long)stats.merges,
                (unsigned long long)stats.late, (unsigned long long)stats.evicted);
  if (seeds.size() > 1) {
    // The generator must actually reach the interesting paths.
    CHECK(stats.cases == seeds.size());
    CHECK(stats.negative_ts > 0);
    CHECK(stats.fired > 0);
    CHECK(stats.late_inserts > 0);
    CHECK(stats.updates > 0);
    CHECK(stats.deletes > 0);
    CHECK(stats.bridges > 0);
    CHECK(stats.merges > 0);
    CHECK(stats.late > 0);
    CHECK(stats.evicted > 0);
  }
}

}  // namespace

TEST_CASE("session differential: string keys, scalar aggregates") {
  run_differential<std::string, Scalars>(5000, 4000);
}

TEST_CASE("session differential: int keys, scalar aggregates") { run_differential<i64, Scalars>(6000, 4000); }

TEST_CASE("session differential: string keys, count, sum and list") {
  run_differential<std::string, WithList>(7000, 3000);
}

TEST_CASE("session differential: int keys, count, sum and list") { run_differential<i64, WithList>(8000, 3000); }
