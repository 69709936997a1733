// What the window job tests share (window_job_test.cpp, session_job_test.cpp,
// count_windows_job_test.cpp, global_windows_job_test.cpp): a generated bid
// workload run through a window on some worker count, scripted sources fed
// in batches, events that carry watermarks, and the orders that make results
// comparable across worker counts.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "support/harness.hpp"

namespace sluice::testing {

// ---- generated bids ----

struct Bid {
  std::uint64_t auction;
  std::uint64_t price;
};

/// How many bids run_bids() generates.
inline constexpr std::uint64_t kBidCount = 20'000;

inline std::uint64_t bid_hash(std::uint64_t i) { return detail::mix64(i + 0x9E3779B97F4A7C15ULL); }

/// Bid i: one of 200 auctions, its timestamp up to 50 µs out of order behind
/// a rising clock (10 µs a bid); an auction sees a bid every 2000 µs on average.
inline Timestamp bid_time(std::uint64_t i) { return static_cast<Timestamp>(i * 10 + bid_hash(i) % 50); }

/// Runs the kBidCount bids, keyed by auction, with watermarks 60 µs behind
/// (so none is late), through `window_and_aggregate(keyed_bids)` on
/// `workers` workers. Returns the results sorted by (window, key), the order
/// that does not depend on the worker count. Checks that no record was late.
template <class Result, class WindowAndAggregate>
std::vector<Result> run_bids(std::size_t workers, WindowAndAggregate window_and_aggregate) {
  Job job("bids");
  auto results = std::make_shared<std::vector<Result>>();
  auto mu = std::make_shared<std::mutex>();
  auto keyed_bids =
      job.source(Generator(GeneratorOptions{.count = kBidCount, .chunk = 64},
                           [](std::uint64_t i) {
                             return std::pair<std::uint64_t, Bid>(i, Bid{bid_hash(i) % 200, (bid_hash(i) >> 8) % 1000});
                           }))
          .assign_timestamps([](const std::pair<std::uint64_t, Bid>& p) { return bid_time(p.first); })
          .watermarks(bounded_out_of_orderness(std::chrono::microseconds(60)).with_emit_interval(0us))
          .map([](const std::pair<std::uint64_t, Bid>& p) { return p.second; })
          .key_by([](const Bid& b) { return b.auction; });
  window_and_aggregate(keyed_bids).sink(CallbackSink<Result>([results, mu](const Result& r) {
    std::lock_guard lock(*mu);
    results->push_back(r);
  }));
  QueryOptions o;
  o.workers = workers;
  QueryMetrics m = job.run(o);
  CHECK(m.late_records == 0);
  std::sort(results->begin(), results->end(), [](const Result& a, const Result& b) {
    return std::tie(a.window, a.key) < std::tie(b.window, b.key);
  });
  return *results;
}

// ---- scripted events ----

/// A scripted source of `count` records, make_record(i) for i in [0, count),
/// pushed in batches of `batch_size` (the last one holds the rest).
template <class Ev, class MakeRecord>
ScriptedSource<Ev> scripted_in_batches(int count, int batch_size, MakeRecord make_record) {
  ScriptedSource<Ev> src;
  Batch<Ev> b;
  for (int i = 0; i < count; ++i) {
    b.push_back(make_record(i));
    if (i % batch_size == batch_size - 1) {
      src.push(std::move(b));
      b.clear();
    }
  }
  src.push(std::move(b));
  src.end();
  return src;
}

/// Watermarks for scripted events of a type with a `bool watermark` field:
/// an event with it set carries the watermark, its timestamp. Drop those
/// events afterwards with `.filter(is_data_event)`.
inline auto watermarks_from_flagged_events() {
  return punctuated([](const auto& e, Timestamp ts) -> std::optional<Timestamp> {
    return e.watermark ? std::optional<Timestamp>(ts) : std::nullopt;
  });
}

/// False for the events that only carry a watermark.
inline constexpr auto is_data_event = [](const auto& e) { return !e.watermark; };

/// Results sorted by key, each key's own results in their order: keys may
/// interleave differently on other worker counts, but each key's order holds.
template <class Result>
std::vector<Record<Result>> in_key_order(std::vector<Record<Result>> rs) {
  std::stable_sort(rs.begin(), rs.end(),
                   [](const Record<Result>& a, const Record<Result>& b) { return a.value.key < b.value.key; });
  return rs;
}

}  // namespace sluice::testing
