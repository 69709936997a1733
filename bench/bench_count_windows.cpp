// Sliding count windows: cost per record must not grow with size/slide.
//
//   bench_count_windows [--n N] [--runs R] [--size 1000] [--slides 1,10,1000] [--workers 1,2]
//
// Workload B's bids (shared/bench-workloads.md), keyed by auction (10,000
// keys), through count_sliding(size, slide) windows computing count and
// sum(price), for each slide; beside a hand-written loop computing the same
// results (per key a ring of its last `size` prices and a running sum).
// Both report events/s; the results are checked against each other with
// workload B's checksums, where a window is named by its end position.
//
// With several workers (`--workers 1,2`, the default), count windows follow
// each key's arrival order, which depends on how the workers' shares
// interleave at the exchange: the number of results and sum(count) are the
// same whatever the order and are checked; sum(sum) and the mix are checked
// at 1 worker only.
//
// Slide 1 emits a result for every record, slide 1000 for one in 1000: the
// figures include the cost of emitting (and folding) the results.
//
// Figures (2-core AMD EPYC VM shared with other builds, g++ 12 -O3, CMake
// Release, commit 380f15d, n = 20,000,000, median of 5 runs; three runs,
// M events/s, checksums equal):
//
//   slide   loop            sluice          sluice / loop
//   1       39.1-43.5       14.7-17.2       0.37-0.39x
//   10      54.7-65.5       33.2-36.3       0.55-0.66x
//   1000    66.3-72.4       48.6-53.3       0.68-0.76x
//   fastest / slowest slide: sluice 3.1-3.3x (target 2x: not met), loop 1.6-1.8x
//
// Slide 10 vs 1000 is within 1.5x; slide 1 misses, because every record
// there makes a result: with small rings (--size 10: 1.6 MB for all keys)
// slide 1 already runs at 17-22 M events/s against 38-40 for
// slide 10 (the loop: 74-117 against 111-117), so about 30 ns per result
// (the combine step, the result and its record, the sink). With size 1000
// the key's oldest slice, retracted and then overwritten by every record,
// lives in a ring of 10,000 keys x 1000 slices x 16 bytes = 160 MB: a cache
// and TLB miss per record on top (about 15 ns). The combining itself is
// one merge and one retract per slice whatever size/slide is.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_common.hpp"

using namespace sluice;
using namespace bench;

namespace {

WindowSums loop_count_sliding(std::uint64_t n, std::uint64_t size, std::uint64_t slide) {
  std::vector<std::uint64_t> ring(kKeys * size);  // per key: its last `size` prices
  std::vector<std::uint64_t> seen(kKeys), run_sum(kKeys), next_fire(kKeys, slide);
  WindowSums s;
  for (std::uint64_t i = 0; i < n; ++i) {
    const Bid b = make_bid(i);
    const std::uint64_t k = b.auction - 1000;
    const std::uint64_t pos = seen[k]++;
    std::uint64_t& slot = ring[k * size + pos % size];
    run_sum[k] += b.price - (pos >= size ? slot : 0);  // the record `size` back leaves the window
    slot = b.price;
    if (pos + 1 == next_fire[k]) {
      next_fire[k] += slide;
      s.add(b.auction, pos + 1, std::min(pos + 1, size), run_sum[k]);
    }
  }
  return s;
}

WindowSums sluice_count_sliding(std::uint64_t n, std::int64_t size, std::int64_t slide, std::size_t workers) {
  using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t>>;
  WindowSums total;
  std::mutex mu;
  auto fold = [](WindowSums& s, const Result& r) {
    s.add(r.key, static_cast<std::uint64_t>(r.window.end), r.get<0>(), r.get<1>());
  };
  Job job("count_sliding");
  job.source(Generator(GeneratorOptions{.count = n}, [](std::uint64_t i) { return make_bid(i); }))
      .key_by([](const Bid& b) { return b.auction; })
      .window(count_sliding(size, slide))
      .aggregate(count(), sum("price", &Bid::price))
      .sink(FoldSink<Result, WindowSums, decltype(fold)>(&total, &mu, fold));
  QueryOptions o;
  o.workers = workers;
  job.run(o);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 20'000'000;
  int runs = 3;
  std::uint64_t size = 1000;
  std::vector<std::size_t> slides{1, 10, 1000};
  std::vector<std::size_t> worker_counts{1, 2};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--slides") && i + 1 < argc) slides = parse_list(argv[++i]);
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) worker_counts = parse_list(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--n EVENTS] [--runs R] [--size 1000] [--slides 1,10,1000] [--workers 1,2]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("count_sliding(%llu, slide), count + sum(price) per auction (n = %llu events, median of %d runs)\n",
              static_cast<unsigned long long>(size), static_cast<unsigned long long>(n), runs);
  bool ok = true;
  std::vector<double> per_slide, loop_per_slide;
  for (std::size_t slide : slides) {
    if (slide == 0 || slide > size) {
      std::fprintf(stderr, "slide %zu must be in [1, size]\n", slide);
      return 2;
    }
    const WindowSums want = loop_count_sliding(n, size, slide);
    std::printf("slide %zu (%llu windows per record): results %llu, sum(count) %llu\n", slide,
                static_cast<unsigned long long>((size + slide - 1) / slide), static_cast<unsigned long long>(want.results),
                static_cast<unsigned long long>(want.sum_count));
    volatile bool same = true;
    Figures loop = measure(n, runs, [&] { same = same && loop_count_sliding(n, size, slide) == want; });
    print_row("hand-written loop", loop, loop, nullptr);
    loop_per_slide.push_back(loop.events_per_s);
    Figures one{};
    for (std::size_t w : worker_counts) {
      WindowSums got;
      Figures f = measure(n, runs, [&] {
        got = sluice_count_sliding(n, static_cast<std::int64_t>(size), static_cast<std::int64_t>(slide), w);
      });
      const bool match = w == 1 ? got == want : got.results == want.results && got.sum_count == want.sum_count;
      if (!match) {
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
    const auto [llo, lhi] = std::minmax_element(loop_per_slide.begin(), loop_per_slide.end());
    std::printf("hand-written loop, fastest slide / slowest slide: %.2fx\n", *lhi / *llo);
  }
  return ok ? 0 : 1;
}
