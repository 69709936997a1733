// What the benchmark executables share: the bid generator of
// shared/bench-workloads.md, result checksums, a folding sink and timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sluice/sluice.hpp"

namespace bench {

using namespace sluice;

inline constexpr std::uint64_t kKeys = 10'000;     // auctions
inline constexpr std::uint64_t kBidders = 100'000;


inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

struct Bid {
  std::uint64_t auction, bidder, price, ts_us;
};

/// Bid i of workload B, with its auction among `keys` (B uses kKeys).
inline Bid make_bid(std::uint64_t i, std::uint64_t keys = kKeys) {
  const std::uint64_t h = splitmix64(i);
  return Bid{1000 + ((static_cast<std::uint64_t>(static_cast<std::uint32_t>(h)) * keys) >> 32),
             1000 + ((static_cast<std::uint64_t>(static_cast<std::uint32_t>(h >> 32)) * kBidders) >> 32),
             100 + (h & 0xFFFFF), i};
}

/// Workload B's window: tumbling, 1 s of event time.
inline constexpr std::int64_t kWindowUs = 1'000'000;

/// Checksums of window results (bench-workloads.md, workload B).
struct WindowSums {
  std::uint64_t results = 0, sum_count = 0, sum_sum = 0, mix = 0;
  bool operator==(const WindowSums&) const = default;
  void add(std::uint64_t key, std::uint64_t window, std::uint64_t count, std::uint64_t sum) {
    ++results;
    sum_count += count;
    sum_sum += sum;
    mix += splitmix64(key * 1000003 + window) ^ (count * 0x9E3779B97F4A7C15ULL) ^ sum;
  }
  void merge(const WindowSums& o) {
    results += o.results;
    sum_count += o.sum_count;
    sum_sum += o.sum_sum;
    mix += o.mix;
  }
};

// A sink that folds records into per-worker sums (`fold(sums, value)`) and
// merges them into *total at the end (`Sums::merge`).
template <class T, class Sums, class Fold>
class FoldSink final : public Sink<T> {
 public:
  FoldSink(Sums* total, std::mutex* mu, Fold fold) : total_(total), mu_(mu), fold_(fold) {}
  std::string default_name() const override { return "fold"; }
  std::unique_ptr<SinkWriter<T>> open(const SinkContext&) override { return std::make_unique<Writer>(*this); }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(FoldSink& s) : s_(s) {}
    void write(Batch<T>& batch) override {
      for (const auto& r : batch) s_.fold_(local_, r.value);
    }
    void close() override {
      std::lock_guard lock(*s_.mu_);
      s_.total_->merge(local_);
    }

   private:
    FoldSink& s_;
    Sums local_;
  };
  Sums* total_;
  std::mutex* mu_;
  Fold fold_;
};

/// Workload B's hand-written loop over events [lo, hi): per auction and
/// tumbling 1 s window, count and sum of price (the whole workload is [0, n)).
inline WindowSums loop_b(std::uint64_t lo, std::uint64_t hi) {
  WindowSums s;
  std::vector<std::uint64_t> count(kKeys), sum(kKeys);
  std::uint64_t window = lo / kWindowUs;
  auto flush = [&] {
    for (std::uint64_t k = 0; k < kKeys; ++k)
      if (count[k] != 0) {
        s.add(k + 1000, window, count[k], sum[k]);
        count[k] = sum[k] = 0;
      }
  };
  for (std::uint64_t i = lo; i < hi; ++i) {
    const Bid b = make_bid(i);
    const std::uint64_t w = b.ts_us / kWindowUs;
    if (w != window) {
      flush();
      window = w;
    }
    count[b.auction - 1000]++;
    sum[b.auction - 1000] += b.price;
  }
  flush();
  return s;
}

// ---- measurement ----

inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Figures {
  double events_per_s = 0;
  double events_per_cpu_s = 0;
};

/// One timed run of `run` over n events.
template <class F>
Figures time_once(std::uint64_t n, F&& run) {
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Figures{static_cast<double>(n) / secs, static_cast<double>(n) / (cpu_seconds() - c0)};
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Per-field medians of several runs' figures.
inline Figures median(const std::vector<Figures>& runs) {
  std::vector<double> wall, cpu;
  for (const Figures& f : runs) {
    wall.push_back(f.events_per_s);
    cpu.push_back(f.events_per_cpu_s);
  }
  return Figures{median(wall), median(cpu)};
}

/// Median figures of `runs` timed runs of `run`.
template <class F>
Figures measure(std::uint64_t n, int runs, F&& run) {
  std::vector<Figures> figures;
  for (int r = 0; r < runs; ++r) figures.push_back(time_once(n, run));
  return median(figures);
}

/// A row of figures; `vs_loop`: this row's speed over the loop's.
inline void print_row(const char* what, const Figures& f, double vs_loop, const Figures* one_worker) {
  std::printf("  %-26s %9.1f M ev/s  %9.1f M ev/CPU-s  %5.2fx loop", what, f.events_per_s / 1e6,
              f.events_per_cpu_s / 1e6, vs_loop);
  if (one_worker) std::printf("  %5.2fx 1 worker", f.events_per_s / one_worker->events_per_s);
  std::printf("\n");
}

inline void print_row(const char* what, const Figures& f, const Figures& loop, const Figures* one_worker) {
  print_row(what, f, f.events_per_s / loop.events_per_s, one_worker);
}

/// Parses "1,2,4".
inline std::vector<std::size_t> parse_list(const std::string& list) {
  std::vector<std::size_t> out;
  for (std::size_t pos = 0; pos < list.size();) {
    const std::size_t comma = list.find(',', pos);
    out.push_back(std::stoul(list.substr(pos, comma - pos)));
    pos = comma == std::string::npos ? list.size() : comma + 1;
  }
  return out;
}

}  // namespace bench
