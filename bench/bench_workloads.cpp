// Workloads A and B of shared/bench-workloads.md, through Sluice and through
// a hand-written loop in the same process, with the checksums of both.
//
//   bench_workloads [--n N] [--runs R] [--only A|B|Bp|Bscrape] [--workers 1,2] [--scrape-hz 10]
//
// A: generator -> filter -> map -> sink (count, sum(price), sum(bidder)).
// B: generator -> ascending watermarks -> key_by(auction) -> tumbling 1 s
//    window (count, sum(price)) -> sink (results, sum(count), sum(sum), mix).
//    `--only Bp` runs B as a keyed process function instead (state per
//    (auction, window) and an event-time timer at the window's end).
// Reported: events/s (wall), events per CPU-second (process CPU time), the
// median over R runs, and the ratio to the hand-written loop. With 2 workers
// also two references on two threads, each over half the events: the loop
// (what the machine gives a second thread) and two 1-worker Sluice jobs
// (Sluice without an exchange).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <condition_variable>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_common.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace bench;

namespace {


inline bool keep_a(const Bid& b) { return ((b.price - 100) & 0x80000) == 0; }
inline Bid convert_a(Bid b) {
  b.price = b.price * 908 / 1000;
  return b;
}

struct SumsA {
  std::uint64_t count = 0, sum_price = 0, sum_bidder = 0;
  bool operator==(const SumsA&) const = default;
  void merge(const SumsA& o) {
    count += o.count;
    sum_price += o.sum_price;
    sum_bidder += o.sum_bidder;
  }
};
using SumsB = bench::WindowSums;

// ---- hand-written loops ----

// Each loop computes events [lo, hi); the whole workload is [0, n).
SumsA loop_a(std::uint64_t lo, std::uint64_t hi) {
  SumsA s;
  for (std::uint64_t i = lo; i < hi; ++i) {
    Bid b = make_bid(i);
    if (!keep_a(b)) continue;
    b = convert_a(b);
    ++s.count;
    s.sum_price += b.price;
    s.sum_bidder += b.bidder;
  }
  return s;
}

// ---- through Sluice ----


// Query options of every run: SLUICE_BENCH_BATCH overrides the batch size.
QueryOptions bench_options(std::size_t workers) {
  QueryOptions o;
  o.workers = workers;
  if (const char* b = std::getenv("SLUICE_BENCH_BATCH")) o.batch_size = std::stoul(b);
  return o;
}

SumsA sluice_a(std::uint64_t lo, std::uint64_t hi, std::size_t workers) {
  SumsA total;
  std::mutex mu;
  Job job("workload-a");
  auto fold = [](SumsA& s, const Bid& b) {
    ++s.count;
    s.sum_price += b.price;
    s.sum_bidder += b.bidder;
  };
  // Lambdas, as users write them: a function pointer would cost an indirect
  // call per record, a lambda inlines into the operator's loop.
  job.source(Generator(GeneratorOptions{.count = hi - lo, .first_ts_us = static_cast<Timestamp>(lo)},
                       [lo](std::uint64_t i) { return make_bid(lo + i); }))
      .filter([](const Bid& b) { return keep_a(b); })
      .map([](const Bid& b) { return convert_a(b); })
      .sink(FoldSink<Bid, SumsA, decltype(fold)>(&total, &mu, fold));
  job.run(bench_options(workers));
  return total;
}

struct ProcessResult {
  std::uint64_t auction;
  std::uint64_t window;
  std::uint64_t count;
  std::uint64_t sum;
};

using WindowKey = std::pair<std::uint64_t, std::uint64_t>;  // (auction, window index)

struct Acc {
  std::uint64_t count = 0, sum = 0;
};

// What a Flink user writes without a window operator: state per
// (key, window) and an event-time timer at the window's end.
struct TumblingCountSum : KeyedProcessFunction<WindowKey, Bid, ProcessResult> {
  ValueState<WindowKey, Acc> acc;
  void open(Context& ctx) { acc = ctx.value_state<Acc>("acc"); }
  void process(const Bid& b, Context& ctx, Collector<ProcessResult>& out) {
    Acc& a = acc.get_or_insert();
    if (a.count == 0) ctx.register_event_time_timer(static_cast<Timestamp>((ctx.key().second + 1) * kWindowUs - 1));
    ++a.count;
    a.sum += b.price;
  }
  void on_timer(Timestamp, Context& ctx, Collector<ProcessResult>& out) {
    const Acc* a = acc.get();
    out.emit(ProcessResult{ctx.key().first, ctx.key().second, a->count, a->sum});
    acc.clear();
  }
};

std::int64_t bench_emit_interval_us() {
  const char* e = std::getenv("SLUICE_BENCH_WM_US");
  return e ? std::stoll(e) : 0;
}

// GET `target` from 127.0.0.1:`port` (Connection: close); the bytes received.
std::size_t http_get_bytes(std::uint16_t port, const char* target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::size_t got = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = std::string("GET ") + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[65536];
      for (ssize_t r; (r = ::recv(fd, buf, sizeof buf, 0)) > 0;) got += static_cast<std::size_t>(r);
    }
  }
  ::close(fd);
  return got;
}

// Runs `job` on an engine serving HTTP; with scrape_hz > 0 a client scrapes
// /metrics and /api/queries that many times a second meanwhile.
void run_with_endpoint(const Job& job, std::size_t workers, double scrape_hz) {
  Engine engine;
  HttpServer http(engine, {.listen = "127.0.0.1:0"});
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread scraper;
  if (scrape_hz > 0)
    scraper = std::thread([&] {
      const auto period = std::chrono::duration<double>(1.0 / scrape_hz);
      auto next = std::chrono::steady_clock::now();
      std::unique_lock lock(mu);
      while (!done) {
        lock.unlock();
        if (http_get_bytes(http.port(), "/metrics") == 0 || http_get_bytes(http.port(), "/api/queries") == 0)
          std::fprintf(stderr, "scrape failed\n");
        lock.lock();
        next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
        cv.wait_until(lock, next, [&] { return done; });
      }
    });
  auto q = engine.start(job.name(), job, bench_options(workers));
  q->wait();
  {
    std::lock_guard lock(mu);
    done = true;
  }
  cv.notify_all();
  if (scraper.joinable()) scraper.join();
  if (q->status().state != QueryState::kFinished) std::fprintf(stderr, "query ended %s\n", to_string(q->status().state));
}

// B as a user writes it: a tumbling window with count and sum, over events
// [lo, hi). scrape_hz >= 0: on an engine with the HTTP endpoint, scraped that
// often (0: never).
SumsB sluice_b(std::uint64_t lo, std::uint64_t hi, std::size_t workers, double scrape_hz = -1) {
  using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t>>;
  SumsB total;
  std::mutex mu;
  Job job("workload-b");
  auto fold = [](SumsB& s, const Result& r) {
    s.add(r.key, static_cast<std::uint64_t>(r.window.start / kWindowUs), r.get<0>(), r.get<1>());
  };
  job.source(Generator(GeneratorOptions{.count = hi - lo, .first_ts_us = static_cast<Timestamp>(lo)},
                       [lo](std::uint64_t i) { return make_bid(lo + i); }))
      // Ascending watermark after every batch: windows close as soon as
      // their end passes, so few are open at once.
      .watermarks(ascending().with_emit_interval(std::chrono::microseconds(bench_emit_interval_us())))
      .key_by([](const Bid& b) { return b.auction; })
      .window(tumbling(std::chrono::microseconds(kWindowUs)))
      .aggregate(count(), sum("price", &Bid::price))
      .sink(FoldSink<Result, SumsB, decltype(fold)>(&total, &mu, fold));
  if (scrape_hz >= 0) {
    run_with_endpoint(job, workers, scrape_hz);
  } else {
    job.run(bench_options(workers));
  }
  return total;
}

// B with the endpoint idle and scraped, back to back in each round; prints
// the medians and the median of the rounds' ratios. False on a mismatch.
bool run_scrape_comparison(std::uint64_t n, int runs, const std::vector<std::size_t>& worker_counts, double hz) {
  const SumsB want = loop_b(0, n);
  std::printf("workload B with the HTTP endpoint scraped %.0f times/s (/metrics and /api/queries) vs not scraped\n", hz);
  bool ok = true;
  for (std::size_t w : worker_counts) {
    std::vector<Figures> idle, scraped;
    std::vector<double> ratios;
    for (int r = 0; r < runs; ++r) {
      SumsB a, b;
      const Figures fa = time_once(n, [&] { a = sluice_b(0, n, w, 0); });
      const Figures fb = time_once(n, [&] { b = sluice_b(0, n, w, hz); });
      if (!(a == want) || !(b == want)) {
        std::printf("  CHECKSUM MISMATCH (workers %zu)\n", w);
        ok = false;
      }
      idle.push_back(fa);
      scraped.push_back(fb);
      ratios.push_back(fb.events_per_s / fa.events_per_s);
    }
    const Figures fi = median(idle), fs = median(scraped);
    const double ratio = median(ratios);
    std::printf("  %zu worker%s: not scraped %.1f M ev/s, scraped %.1f M ev/s (%.1f M ev/CPU-s): %.3fx (median of rounds; target >= 0.98x)\n",
                w, w > 1 ? "s" : " ", fi.events_per_s / 1e6, fs.events_per_s / 1e6, fs.events_per_cpu_s / 1e6, ratio);
    const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    std::printf("    spread over %d rounds: %.3f-%.3fx\n", runs, *lo, *hi);
  }
  return ok;
}

// B without a window operator, as a keyed process function (issue 2's
// version; `--only Bp`): state per (auction, window) and a timer each.
SumsB sluice_b_process(std::uint64_t lo, std::uint64_t hi, std::size_t workers) {
  SumsB total;
  std::mutex mu;
  Job job("workload-b-process");
  auto fold = [](SumsB& s, const ProcessResult& r) { s.add(r.auction, r.window, r.count, r.sum); };
  job.source(Generator(GeneratorOptions{.count = hi - lo, .first_ts_us = static_cast<Timestamp>(lo)},
                       [lo](std::uint64_t i) { return make_bid(lo + i); }))
      .watermarks(ascending().with_emit_interval(std::chrono::microseconds(bench_emit_interval_us())))
      .key_by([](const Bid& b) { return WindowKey(b.auction, b.ts_us / kWindowUs); })
      .process(TumblingCountSum{})
      .sink(FoldSink<ProcessResult, SumsB, decltype(fold)>(&total, &mu, fold));
  job.run(bench_options(workers));
  return total;
}

// ---- measurement ----


std::string describe(const SumsA& s) {
  return "count " + std::to_string(s.count) + ", sum(price) " + std::to_string(s.sum_price) + ", sum(bidder) " +
         std::to_string(s.sum_bidder);
}
std::string describe(const SumsB& s) {
  char mix[32];
  std::snprintf(mix, sizeof mix, "0x%016llx", static_cast<unsigned long long>(s.mix));
  return "results " + std::to_string(s.results) + ", sum(count) " + std::to_string(s.sum_count) + ", sum(sum) " +
         std::to_string(s.sum_sum) + ", mix " + mix;
}

// One line under a row: the spread over the rounds (min-max) of events/s,
// of the ratio to the loop, and of the speed-up over 1 worker.
void print_spread(const std::vector<Figures>& runs, const std::vector<double>& vs_loop,
                  const std::vector<double>& speedups = {}) {
  auto range = [](std::vector<double> v) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return std::make_pair(*lo, *hi);
  };
  std::vector<double> eps;
  for (const Figures& f : runs) eps.push_back(f.events_per_s / 1e6);
  const auto [lo, hi] = range(eps);
  std::printf("    spread over %zu rounds: %.1f-%.1f M ev/s", runs.size(), lo, hi);
  if (!vs_loop.empty()) {
    const auto [rl, rh] = range(vs_loop);
    std::printf(", %.2f-%.2fx loop", rl, rh);
  }
  if (!speedups.empty()) {
    std::vector<double> sorted = speedups;
    std::sort(sorted.begin(), sorted.end());
    std::printf(", %.2f-%.2fx 1 worker (median of rounds %.2fx)", sorted.front(), sorted.back(),
                sorted[sorted.size() / 2]);
  }
  std::printf("\n");
}

// `run(lo, hi)` on two threads, each over half the events (split at a
// window boundary, so the halves' sums merge exactly).
template <class Sums, class Run>
Sums on_two_threads(std::uint64_t n, Run run) {
  const std::uint64_t split = n / 2 / kWindowUs * kWindowUs;
  Sums first;
  std::thread t([&] { first = run(0, split); });
  Sums second = run(split, n);
  t.join();
  first.merge(second);
  return first;
}

std::vector<double> per_round_ratio(const std::vector<Figures>& a, const std::vector<Figures>& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) r.push_back(a[i].events_per_s / b[i].events_per_s);
  return r;
}

// Runs one workload: R rounds of the loop (one thread, then two), Sluice at
// each worker count and, with 2 workers, Sluice as two 1-worker jobs on two
// threads, back to back, so a round's figures share the machine's state (this
// VM's speed drifts by 2x within minutes, and what it gives a second thread
// varies from round to round). Prints the medians and, as "x loop", the
// median of each round's ratio. Checks every result against the loop's
// checksums; false on a mismatch.
//
// The two reference rows for 2 workers: the loop on two threads, each over
// half the events (what this machine gives two threads that share nothing),
// and two 1-worker jobs on two threads (Sluice without an exchange: what 2
// workers would reach if moving records between workers cost nothing).
template <class Sums, class Loop, class Framework>
bool run_workload(const char* name, std::uint64_t n, int runs, const std::vector<std::size_t>& worker_counts,
                  Loop loop_fn, Framework sluice_fn) {
  const Sums want = loop_fn(0, n);
  std::printf("workload %s: %s\n", name, describe(want).c_str());
  const bool two = std::find(worker_counts.begin(), worker_counts.end(), 2) != worker_counts.end();
  volatile bool same = true;  // keeps the timed loop from being optimized away
  std::vector<Figures> loop_runs, loop2_runs, jobs2_runs;
  std::vector<std::vector<Figures>> sluice_runs(worker_counts.size());
  bool ok = true;
  auto timed = [&](const char* what, auto&& run) {
    Sums got;
    const Figures f = time_once(n, [&] { got = run(); });
    if (!(got == want)) {
      std::printf("  CHECKSUM MISMATCH (%s): %s\n", what, describe(got).c_str());
      ok = false;
    }
    return f;
  };
  for (int r = 0; r < runs; ++r) {
    loop_runs.push_back(time_once(n, [&] { same = same && loop_fn(0, n) == want; }));
    if (two) loop2_runs.push_back(timed("loop on two threads", [&] { return on_two_threads<Sums>(n, loop_fn); }));
    for (std::size_t k = 0; k < worker_counts.size(); ++k) {
      const std::string what = std::to_string(worker_counts[k]) + " workers";
      sluice_runs[k].push_back(timed(what.c_str(), [&] { return sluice_fn(0, n, worker_counts[k]); }));
    }
    if (two)
      jobs2_runs.push_back(timed("two 1-worker jobs", [&] {
        return on_two_threads<Sums>(n, [&](std::uint64_t lo, std::uint64_t hi) { return sluice_fn(lo, hi, 1); });
      }));
  }
  print_row("hand-written loop", median(loop_runs), 1.0, nullptr);
  print_spread(loop_runs, {});
  std::vector<Figures>* one = nullptr;
  for (std::size_t k = 0; k < worker_counts.size(); ++k) {
    const std::size_t w = worker_counts[k];
    const std::vector<double> vs_loop = per_round_ratio(sluice_runs[k], loop_runs);
    const std::string label = "sluice, " + std::to_string(w) + " worker" + (w > 1 ? "s" : "");
    print_row(label.c_str(), median(sluice_runs[k]), median(vs_loop), nullptr);
    // Speed-ups per round (both timed back to back), so the VM's drift
    // between rounds does not enter them.
    std::vector<double> speedups;
    if (w > 1 && one != nullptr) speedups = per_round_ratio(sluice_runs[k], *one);
    print_spread(sluice_runs[k], vs_loop, speedups);
    if (w == 1) one = &sluice_runs[k];
  }
  if (two) {
    const std::vector<double> loop2 = per_round_ratio(loop2_runs, loop_runs);
    print_row("loop, 2 threads (halves)", median(loop2_runs), median(loop2), nullptr);
    print_spread(loop2_runs, loop2);
    const std::vector<double> jobs2 = per_round_ratio(jobs2_runs, loop_runs);
    print_row("sluice, 2 one-worker jobs", median(jobs2_runs), median(jobs2), nullptr);
    print_spread(jobs2_runs, jobs2, one ? per_round_ratio(jobs2_runs, *one) : std::vector<double>{});
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 50'000'000;
  int runs = 5;
  std::vector<std::size_t> worker_counts{1, 2};
  std::string only;
  double scrape_hz = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!std::strcmp(argv[i], "--scrape-hz") && i + 1 < argc) scrape_hz = std::stod(argv[++i]);
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) {
      worker_counts = parse_list(argv[++i]);
    }
    else {
      std::fprintf(stderr, "usage: %s [--n EVENTS] [--runs R] [--only A|B|Bp|Bscrape] [--workers 1,2] [--scrape-hz HZ]\n", argv[0]);
      return 2;
    }
  }
  bool ok = true;
  std::printf("Sluice workloads (n = %llu events, median of %d runs)\n", static_cast<unsigned long long>(n), runs);

  if (only.empty() || only == "A") ok &= run_workload<SumsA>("A", n, runs, worker_counts, loop_a, sluice_a);
  if (only.empty() || only == "B")
    ok &= run_workload<SumsB>("B", n, runs, worker_counts, loop_b,
                              [](std::uint64_t lo, std::uint64_t hi, std::size_t w) { return sluice_b(lo, hi, w); });
  if (only == "Bscrape") ok &= run_scrape_comparison(n, runs, worker_counts, scrape_hz);
  if (only == "Bp") ok &= run_workload<SumsB>("B (keyed process function)", n, runs, worker_counts, loop_b, sluice_b_process);
  return ok ? 0 : 1;
}
