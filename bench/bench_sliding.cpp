// Sliding windows: cost per record must not grow with size/slide.
//
//   bench_sliding [--n N] [--runs R] [--slides-ms 30000,1000,100] [--keys K] [--workers 1,2]
//
// Workload B's bids (shared/bench-workloads.md; --keys auctions, default
// 1,000), keyed by auction, through
// sliding(60 s, slide) windows computing count and sum(price), for each
// slide; beside a hand-written loop computing the same results (dense
// per-key rings of slice sums with a running window sum). Both report
// events/s; the results are checked against each other with workload B's
// checksums, where a window is named by its end in slides.
//
// Every window end emits one result per auction: keys / (events per slide)
// results per event. With workload B's 10,000 auctions and 100 ms slides
// that is 0.1 per event, and emitting (for the loop too) outweighs adding;
// the default of 1,000 keeps output small, so the figures show the cost per
// record that slicing keeps flat.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"

using namespace sluice;
using namespace bench;

namespace {

constexpr std::int64_t kSizeUs = 60'000'000;

WindowSums loop_sliding(std::uint64_t n, std::int64_t slide_us, std::uint64_t keys) {
  const std::int64_t slots = kSizeUs / slide_us;  // slices per window
  std::vector<std::uint64_t> ring_count(keys * slots), ring_sum(keys * slots);
  std::vector<std::uint64_t> run_count(keys), run_sum(keys);
  WindowSums s;
  std::int64_t cur = 0;  // current slice index
  // Window ending at (c + 1) * slide holds slices c - slots + 1 .. c.
  auto close = [&](std::int64_t c) {
    const std::size_t in = static_cast<std::size_t>(c % slots), out = static_cast<std::size_t>((c + 1) % slots);
    for (std::uint64_t k = 0; k < keys; ++k) {
      run_count[k] += ring_count[k * slots + in];
      run_sum[k] += ring_sum[k * slots + in];
      if (run_count[k] != 0) s.add(k + 1000, static_cast<std::uint64_t>(c + 1), run_count[k], run_sum[k]);
      // The oldest slice leaves the window; its slot takes slice c + 1.
      run_count[k] -= ring_count[k * slots + out];
      run_sum[k] -= ring_sum[k * slots + out];
      ring_count[k * slots + out] = ring_sum[k * slots + out] = 0;
    }
  };
  for (std::uint64_t i = 0; i < n; ++i) {
    const Bid b = make_bid(i, keys);
    const std::int64_t c = static_cast<std::int64_t>(b.ts_us) / slide_us;
    while (cur < c) close(cur++);
    const std::size_t at = (b.auction - 1000) * slots + static_cast<std::size_t>(c % slots);
    ring_count[at]++;
    ring_sum[at] += b.price;
  }
  for (std::int64_t end = cur + slots; cur < end;) close(cur++);
  return s;
}

WindowSums sluice_sliding(std::uint64_t n, std::int64_t slide_us, std::uint64_t keys, std::size_t workers) {
  using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t>>;
  WindowSums total;
  std::mutex mu;
  auto fold = [slide_us](WindowSums& s, const Result& r) {
    s.add(r.key, static_cast<std::uint64_t>(r.window.end / slide_us), r.get<0>(), r.get<1>());
  };
  Job job("sliding");
  job.source(Generator(GeneratorOptions{.count = n}, [keys](std::uint64_t i) { return make_bid(i, keys); }))
      .watermarks(ascending().with_emit_interval(std::chrono::microseconds(0)))
      .key_by([](const Bid& b) { return b.auction; })
      .window(sliding(std::chrono::microseconds(kSizeUs), std::chrono::microseconds(slide_us)))
      .aggregate(count(), sum("price", &Bid::price))
      .sink(FoldSink<Result, WindowSums, decltype(fold)>(&total, &mu, fold));
  QueryOptions o;
  o.workers = workers;
  job.run(o);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 50'000'000;
  int runs = 3;
  std::vector<std::size_t> slides_ms{30'000, 1'000, 100};
  std::vector<std::size_t> worker_counts{1, 2};
  std::uint64_t keys = 1'000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--slides-ms") && i + 1 < argc) slides_ms = parse_list(argv[++i]);
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) worker_counts = parse_list(argv[++i]);
    else if (!std::strcmp(argv[i], "--keys") && i + 1 < argc) keys = std::stoull(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--n EVENTS] [--runs R] [--slides-ms 30000,1000,100] [--keys K] [--workers 1,2]\n", argv[0]);
      return 2;
    }
  }
  std::printf("Sliding windows of 60 s, count + sum(price) per auction (%llu auctions, n = %llu events, median of %d runs)\n",
              static_cast<unsigned long long>(keys), static_cast<unsigned long long>(n), runs);
  bool ok = true;
  std::vector<double> per_slide;
  for (std::size_t ms : slides_ms) {
    const std::int64_t slide_us = static_cast<std::int64_t>(ms) * 1000;
    if (slide_us <= 0 || kSizeUs % slide_us != 0) {
      std::fprintf(stderr, "slide %zu ms must divide 60 s\n", ms);
      return 2;
    }
    const WindowSums want = loop_sliding(n, slide_us, keys);
    std::printf("slide %zu ms (%lld windows per record): results %llu, sum(count) %llu\n", ms,
                static_cast<long long>(kSizeUs / slide_us), static_cast<unsigned long long>(want.results),
                static_cast<unsigned long long>(want.sum_count));
    volatile bool same = true;
    Figures loop = measure(n, runs, [&] { same = same && loop_sliding(n, slide_us, keys) == want; });
    print_row("hand-written loop", loop, loop, nullptr);
    Figures one{};
    for (std::size_t w : worker_counts) {
      WindowSums got;
      Figures f = measure(n, runs, [&] { got = sluice_sliding(n, slide_us, keys, w); });
      if (!(got == want)) {
        std::printf("  CHECKSUM MISMATCH (workers %zu): results %llu, sum(count) %llu\n", w,
                    static_cast<unsigned long long>(got.results), static_cast<unsigned long long>(got.sum_count));
        ok = false;
      }
      std::string label = "sluice, " + std::to_string(w) + " worker" + (w > 1 ? "s" : "");
      print_row(label.c_str(), f, loop, w > 1 && one.events_per_s > 0 ? &one : nullptr);
      if (w == 1) one = f;
      if (w == worker_counts.front()) per_slide.push_back(f.events_per_s);
    }
  }
  if (!per_slide.empty()) {
    const auto [lo, hi] = std::minmax_element(per_slide.begin(), per_slide.end());
    std::printf("sluice, fastest slide / slowest slide: %.2fx (target: within 2x)\n", *hi / *lo);
  }
  return ok ? 0 : 1;
}
