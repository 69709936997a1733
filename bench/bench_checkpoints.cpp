// What checkpoints cost (issue 15), in two parts.
//
//   bench_checkpoints [--n N] [--runs R] [--workers 1,2] [--keys K] [--changes C] [--state-bytes 8|96] [--only B|state]
//
// B: workload B of shared/bench-workloads.md (bench_workloads.cpp's job) with
//    checkpoints every second into RocksDB (a temporary directory, removed
//    after), beside the same job without checkpoints, back to back in each
//    round, at each worker count; the ratio is the median of the rounds'
//    ratios (target >= 0.8x). The hand-written loop for B runs in the same
//    rounds, as in the other benches.
// state: a keyed process job holding K keys of state (a 64-bit sum each,
//    default 1M keys; --state-bytes 96: a 96-byte struct each, so that 10M
//    keys hold 1 GB); after the first checkpoint (full), C updates (default
//    1% of K) go in before each further one, either to random keys (spread
//    over every key group) or to keys of ~1.6% of the key groups (2 of 128).
//    For each, full and incremental checkpoints: duration (trigger to
//    durable commit), bytes written, parts reused, and the longest a worker
//    was stalled by its snapshot (the barrier's part, or the longest slice
//    of the sections written in the background), and the restore time. Also
//    the content-hash alternative's extra cost: hashing every section of a
//    full snapshot (what deduplicating by content would add to the stall).
// Each figure is the median over R rounds, with the spread (min-max).
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "checkpoint/rocksdb_checkpoints.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace bench;

namespace {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-bench-ckpt-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::string range_text(std::vector<double> v, const char* fmt) {
  std::sort(v.begin(), v.end());
  char buf[96];
  std::string f = std::string(fmt) + " (" + fmt + "-" + fmt + ")";
  std::snprintf(buf, sizeof buf, f.c_str(), v[v.size() / 2], v.front(), v.back());
  return buf;
}

// ---- part B ----

using SumsB = WindowSums;

struct BRun {
  SumsB sums;
  CheckpointStats stats;
};

// B as bench_workloads runs it; with `state_dir`, checkpointed every second there.
BRun sluice_b(std::uint64_t n, std::size_t workers, const std::filesystem::path* state_dir) {
  using Result = WindowResult<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t>>;
  BRun run;
  std::mutex mu;
  Job job("workload-b");
  auto fold = [](SumsB& s, const Result& r) {
    s.add(r.key, static_cast<std::uint64_t>(r.window.start / kWindowUs), r.get<0>(), r.get<1>());
  };
  job.source(Generator(GeneratorOptions{.count = n}, [](std::uint64_t i) { return make_bid(i); }))
      .watermarks(ascending().with_emit_interval(std::chrono::microseconds(0)))
      .key_by([](const Bid& b) { return b.auction; })
      .window(tumbling(std::chrono::microseconds(kWindowUs)))
      .aggregate(count(), sum("price", &Bid::price))
      .sink(FoldSink<Result, SumsB, decltype(fold)>(&run.sums, &mu, fold));
  QueryOptions o;
  o.workers = workers;
  if (state_dir != nullptr) {
    o.checkpoints.storage = rocksdb_checkpoints(*state_dir);
    o.checkpoints.interval_us = 1'000'000;
    o.checkpoints.log = [](const std::string&) {};
  }
  Engine engine;
  auto q = engine.start("workload-b", job, o);
  q->wait();
  if (q->status().state != QueryState::kFinished) std::fprintf(stderr, "query ended %s\n", to_string(q->status().state));
  run.stats = q->checkpoint_stats();
  return run;
}

bool run_b(std::uint64_t n, int runs, const std::vector<std::size_t>& worker_counts) {
  const SumsB want = loop_b(0, n);
  std::printf("workload B (n = %llu) without and with checkpoints every 1 s into RocksDB\n",
              static_cast<unsigned long long>(n));
  bool ok = true;
  std::vector<Figures> loop_runs;
  std::map<std::size_t, std::vector<Figures>> plain, checkpointed;
  std::map<std::size_t, std::vector<double>> ratios, completed, ms, kb;
  for (int r = 0; r < runs; ++r) {
    volatile bool same = true;
    loop_runs.push_back(time_once(n, [&] { same = same && loop_b(0, n) == want; }));
    for (std::size_t w : worker_counts) {
      BRun a, b;
      const Figures fa = time_once(n, [&] { a = sluice_b(n, w, nullptr); });
      Figures fb;
      {
        TempDir dir;
        const std::filesystem::path p = dir.path();
        fb = time_once(n, [&] { b = sluice_b(n, w, &p); });
      }
      if (!(a.sums == want) || !(b.sums == want)) {
        std::printf("  CHECKSUM MISMATCH (workers %zu)\n", w);
        ok = false;
      }
      plain[w].push_back(fa);
      checkpointed[w].push_back(fb);
      ratios[w].push_back(fb.events_per_s / fa.events_per_s);
      completed[w].push_back(static_cast<double>(b.stats.completed));
      ms[w].push_back(static_cast<double>(b.stats.last_duration_us) / 1e3);
      kb[w].push_back(static_cast<double>(b.stats.last_bytes) / 1e3);
    }
  }
  print_row("hand-written loop", median(loop_runs), 1.0, nullptr);
  for (std::size_t w : worker_counts) {
    const Figures fp = median(plain[w]), fc = median(checkpointed[w]);
    std::printf("  %zu worker%s: no checkpoints %.1f M ev/s (%.2fx loop), checkpoints every 1 s %.1f M ev/s (%.1f M ev/CPU-s): %s (median of rounds' ratios; target >= 0.8x)\n",
                w, w > 1 ? "s" : " ", fp.events_per_s / 1e6, fp.events_per_s / median(loop_runs).events_per_s,
                fc.events_per_s / 1e6, fc.events_per_cpu_s / 1e6, range_text(ratios[w], "%.3fx").c_str());
    std::printf("    checkpoints per run %s; the last one: %s ms, %s kB\n", range_text(completed[w], "%.0f").c_str(),
                range_text(ms[w], "%.1f").c_str(), range_text(kb[w], "%.0f").c_str());
  }
  return ok;
}

// ---- part state ----

// Record i: key i for i < keys (every key gets state), then update_key(i).
// Replayable; worker 0 reads everything; emits up to the gate.
class UpdateSource final : public Source<std::uint64_t> {
 public:
  UpdateSource(std::function<std::uint64_t(std::uint64_t)> key_of) : s_(std::make_shared<Shared>()) {
    s_->key_of = std::move(key_of);
  }
  std::string default_name() const override { return "updates"; }
  bool supports_checkpoints() const override { return true; }
  void move_gate(std::uint64_t to) const { s_->gate.store(to); }
  void finish() const { s_->done.store(true); }
  std::unique_ptr<SourceReader<std::uint64_t>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(s_, ctx.worker_index);
  }

 private:
  struct Shared {
    std::function<std::uint64_t(std::uint64_t)> key_of;
    std::atomic<std::uint64_t> gate{0};
    std::atomic<bool> done{false};
  };
  class Reader final : public SourceReader<std::uint64_t> {
   public:
    Reader(std::shared_ptr<Shared> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    SourceStatus poll(Batch<std::uint64_t>& out, std::vector<DeadLetter>&, std::size_t max) override {
      if (w_ != 0) return SourceStatus::kEnd;
      const std::uint64_t until = std::min(s_->gate.load(), next_ + max);
      for (; next_ < until; ++next_) out.push_back(Record<std::uint64_t>{s_->key_of(next_), 0});
      if (out.empty() && s_->done.load() && next_ >= s_->gate.load()) return SourceStatus::kEnd;
      return out.empty() ? SourceStatus::kNothingNow : SourceStatus::kMore;
    }
    void snapshot_position(StateWriter& w) const override { w.write(next_); }
    void restore_position(const std::vector<std::string_view>& p) override {
      if (w_ == 0) next_ = deserialize<std::uint64_t>(p.at(0));
    }

   private:
    std::shared_ptr<Shared> s_;
    std::size_t w_;
    std::uint64_t next_ = 0;
  };
  std::shared_ptr<Shared> s_;
};

std::atomic<std::uint64_t> g_processed{0};

// A key's state: a 64-bit sum and Words - 1 more words (a bigger profile
// per key, for the 1 GB case), trivially copyable (Serde writes its bytes).
template <std::size_t Words>
struct KeyState {
  std::uint64_t sum = 0;
  std::array<std::uint64_t, Words - 1> more{};
};
template <>
struct KeyState<1> {
  std::uint64_t sum = 0;
};

template <std::size_t Words>
struct SumPerKey : KeyedProcessFunction<std::uint64_t, std::uint64_t, std::uint64_t> {
  ValueState<std::uint64_t, KeyState<Words>> state;
  void open(Context& ctx) { state = ctx.template value_state<KeyState<Words>>("sum"); }
  void process(const std::uint64_t& v, Context&, Collector<std::uint64_t>&) {
    KeyState<Words>& s = state.get_or_insert();
    s.sum += v + 1;
    if constexpr (Words > 1) s.more[s.sum % (Words - 1)] = v;
    g_processed.fetch_add(1, std::memory_order_relaxed);
  }
};

class NullSink final : public Sink<std::uint64_t> {
 public:
  std::string default_name() const override { return "null"; }
  std::unique_ptr<SinkWriter<std::uint64_t>> open(const SinkContext&) override { return std::make_unique<W>(); }

 private:
  struct W final : SinkWriter<std::uint64_t> {
    void write(Batch<std::uint64_t>&) override {}
  };
};

struct CheckpointFigures {
  std::vector<double> ms, mb, stall_ms, reused, restore_ms;
};

// One round: load `keys` keys, checkpoint (full), then `checkpoints` times
// `changes` updates and a checkpoint. Adds the first and the later ones'
// figures; then restarts the job on the checkpoints and adds (to `later`)
// the restore time: from start() until the first record after the restored
// position is processed (reading, verifying and deserializing the state).
template <std::size_t Words>
Job state_job(const std::shared_ptr<UpdateSource>& source) {
  Job job("state");
  job.source<std::uint64_t>(source, "updates")
      .key_by([](std::uint64_t k) { return k; })
      .process(SumPerKey<Words>{})
      .name("sums")
      .sink(std::make_shared<NullSink>(), "null");
  return job;
}

template <std::size_t Words>
void state_round(std::uint64_t keys, std::uint64_t changes, int checkpoints, std::size_t workers, bool incremental,
                 const std::function<std::uint64_t(std::uint64_t)>& update_key, CheckpointFigures& first,
                 CheckpointFigures& later) {
  TempDir dir;
  auto key_of = [keys, update_key](std::uint64_t i) { return i < keys ? i : update_key(i); };
  auto source = std::make_shared<UpdateSource>(key_of);
  Job job = state_job<Words>(source);
  QueryOptions o;
  o.workers = workers;
  o.checkpoints.storage = rocksdb_checkpoints(dir.path());
  o.checkpoints.incremental = incremental;
  o.checkpoints.retained = 2;
  o.checkpoints.log = [](const std::string&) {};
  Engine engine;
  g_processed.store(0);
  auto q = engine.start("state", job, o);
  std::uint64_t gate = 0;
  auto step = [&](std::uint64_t to, CheckpointFigures& f) {
    gate = to;
    source->move_gate(gate);
    while (g_processed.load() < gate) std::this_thread::sleep_for(std::chrono::microseconds(200));
    const std::uint64_t id = q->checkpoint_now();
    if (!q->wait_for_checkpoint(id, std::chrono::minutes(5))) std::fprintf(stderr, "checkpoint %llu failed\n", (unsigned long long)id);
    const CheckpointStats s = q->checkpoint_stats();
    f.ms.push_back(static_cast<double>(s.last_duration_us) / 1e3);
    f.mb.push_back(static_cast<double>(s.last_bytes) / 1e6);
    f.stall_ms.push_back(static_cast<double>(s.last_max_snapshot_us) / 1e3);
    f.reused.push_back(static_cast<double>(s.last_parts_reused));
  };
  step(keys, first);
  for (int c = 0; c < checkpoints; ++c) step(gate + changes, later);
  source->finish();
  q->wait();
  q.reset();

  // Restore: the new run resumes after the last checkpoint's position.
  auto again = std::make_shared<UpdateSource>(key_of);
  again->move_gate(gate + 1);
  Job job2 = state_job<Words>(again);
  g_processed.store(0);
  const auto t0 = std::chrono::steady_clock::now();
  auto q2 = engine.start("state", job2, o);
  while (g_processed.load() < 1) std::this_thread::sleep_for(std::chrono::microseconds(100));
  later.restore_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  again->finish();
  q2->wait();
}

// What content-based dedupe would add to a worker's stall: hashing every
// section of a full snapshot (its size: the full checkpoint's bytes / workers).
double hash_ms(double mb_per_worker) {
  std::string bytes(static_cast<std::size_t>(mb_per_worker * 1e6 / 128), 'x');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(splitmix64(i));
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t h = 0;
  for (int kg = 0; kg < 128; ++kg) {
    bytes[0] = static_cast<char>(kg);
    h ^= std::hash<std::string_view>{}(bytes);
  }
  volatile std::size_t sink = h;
  (void)sink;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

template <std::size_t Words>
void run_state(std::uint64_t keys, std::uint64_t changes, int runs, std::size_t workers) {
  std::printf("keyed state: %llu keys (%zu bytes of state each), %zu worker%s, 128 key groups; %llu updates (%.1f%% of keys) before each later checkpoint\n",
              static_cast<unsigned long long>(keys), sizeof(KeyState<Words>), workers, workers > 1 ? "s" : "",
              static_cast<unsigned long long>(changes), 100.0 * static_cast<double>(changes) / static_cast<double>(keys));
  std::vector<std::uint64_t> hot;  // keys in key groups 0 and 1
  for (std::uint64_t k = 0; k < keys; ++k)
    if (key_group_of(hash_key(k), 128) < 2) hot.push_back(k);
  const std::function<std::uint64_t(std::uint64_t)> spread = [keys](std::uint64_t i) { return splitmix64(i) % keys; };
  const std::function<std::uint64_t(std::uint64_t)> local = [&hot](std::uint64_t i) { return hot[splitmix64(i) % hot.size()]; };
  struct Variant {
    const char* what;
    const std::function<std::uint64_t(std::uint64_t)>* key;
  };
  double full_mb = 0;
  for (const Variant& v : {Variant{"updates to random keys (every key group changes)", &spread},
                           Variant{"updates to keys of 2 of 128 key groups", &local}}) {
    std::printf("  %s:\n", v.what);
    for (bool incremental : {false, true}) {
      CheckpointFigures first, later;
      for (int r = 0; r < runs; ++r) state_round<Words>(keys, changes, 3, workers, incremental, *v.key, first, later);
      if (!incremental) {
        std::vector<double> mb = first.mb;
        std::sort(mb.begin(), mb.end());
        full_mb = mb[mb.size() / 2];
      }
      std::printf("    %-11s first (full): %s ms, %s MB, stall %s ms\n", incremental ? "incremental" : "full",
                  range_text(first.ms, "%.1f").c_str(), range_text(first.mb, "%.2f").c_str(),
                  range_text(first.stall_ms, "%.1f").c_str());
      std::printf("    %-11s later:        %s ms, %s MB, stall %s ms, parts reused %s\n", "",
                  range_text(later.ms, "%.1f").c_str(), range_text(later.mb, "%.3f").c_str(),
                  range_text(later.stall_ms, "%.1f").c_str(), range_text(later.reused, "%.0f").c_str());
      std::printf("    %-11s restore (start to first record): %s ms\n", "", range_text(later.restore_ms, "%.1f").c_str());
    }
  }
  std::vector<double> h;
  for (int r = 0; r < runs; ++r) h.push_back(hash_ms(full_mb / static_cast<double>(workers)));
  std::printf("  content-hash dedupe instead: + %s ms of hashing per worker per checkpoint (std::hash over its %.1f MB), on top of the full stall\n",
              range_text(h, "%.1f").c_str(), full_mb / static_cast<double>(workers));
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t n = 200'000'000;
  int runs = 5;
  std::vector<std::size_t> worker_counts{1, 2};
  std::uint64_t keys = 1'000'000, changes = 0, state_bytes = 8;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) worker_counts = parse_list(argv[++i]);
    else if (!std::strcmp(argv[i], "--keys") && i + 1 < argc) keys = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--changes") && i + 1 < argc) changes = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else if (!std::strcmp(argv[i], "--state-bytes") && i + 1 < argc) state_bytes = std::stoull(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--n EVENTS] [--runs R] [--workers 1,2] [--keys K] [--changes C] [--state-bytes 8|96] [--only B|state]\n", argv[0]);
      return 2;
    }
  }
  if (changes == 0) changes = keys / 100;
  bool ok = true;
  std::printf("Sluice checkpoints (median (min-max) of %d runs)\n", runs);
  if (only.empty() || only == "B") ok &= run_b(n, runs, worker_counts);
  if (only.empty() || only == "state")
    for (std::size_t w : worker_counts) {
      if (state_bytes == 8) {
        run_state<1>(keys, changes, runs, w);
      } else if (state_bytes == 96) {
        run_state<12>(keys, changes, runs, w);
      } else {
        std::fprintf(stderr, "--state-bytes: 8 or 96\n");
        return 2;
      }
    }
  return ok ? 0 : 1;
}
