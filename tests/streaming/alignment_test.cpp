#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "sluice/sluice.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Tagged {
  int worker;
  Timestamp ts;
};

// Worker 0 produces ts 0..n-1 as fast as it is polled; worker 1 produces
// ts 0..released-1, where the test moves `released` forward.
class SkewedSource final : public Source<Tagged> {
 public:
  SkewedSource(int n, std::shared_ptr<std::atomic<int>> released) : n_(n), released_(std::move(released)) {}
  std::string default_name() const override { return "skewed"; }
  std::unique_ptr<SourceReader<Tagged>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(static_cast<int>(ctx.worker_index), n_, released_);
  }

 private:
  class Reader final : public SourceReader<Tagged> {
   public:
    Reader(int w, int n, std::shared_ptr<std::atomic<int>> r) : w_(w), n_(n), released_(std::move(r)) {}
    SourceStatus poll(Batch<Tagged>& out, std::vector<DeadLetter>&, std::size_t max) override {
      const int limit = w_ == 0 ? n_ : std::min(n_, released_->load());
      while (next_ < limit && out.size() < max) {
        out.push_back(Record<Tagged>{Tagged{w_, next_}, next_});
        ++next_;
      }
      if (next_ == n_) return SourceStatus::kEnd;
      return next_ < limit ? SourceStatus::kMore : SourceStatus::kNothingNow;
    }

   private:
    int w_, n_;
    std::shared_ptr<std::atomic<int>> released_;
    int next_ = 0;
  };
  int n_;
  std::shared_ptr<std::atomic<int>> released_;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20'000ms) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

Timestamp max_ts_of(const CollectSink<Tagged>& sink, int worker, std::size_t* count = nullptr) {
  Timestamp m = -1;
  std::size_t c = 0;
  for (const Tagged& t : sink.values())
    if (t.worker == worker) {
      m = std::max(m, t.ts);
      ++c;
    }
  if (count) *count = c;
  return m;
}

}  // namespace

TEST_CASE("watermark alignment pauses the worker that runs ahead, and releases it", "[streaming]") {
  constexpr int kN = 2000;
  constexpr DurationUs kDrift = 50;
  constexpr std::size_t kBatch = 10;
  auto released = std::make_shared<std::atomic<int>>(1);
  Job job("aligned");
  CollectSink<Tagged> out;
  job.source(SkewedSource(kN, released))
      .watermarks(ascending().with_emit_interval(0us).with_alignment(std::chrono::microseconds(kDrift)))
      .sink(out);
  Engine engine;
  QueryOptions o;
  o.workers = 2;
  o.batch_size = kBatch;
  auto q = engine.start("aligned", job, o);
  for (int step = 1; step <= kN; step += 97) {
    released->store(step);
    std::size_t seen1 = 0;
    REQUIRE(eventually([&] {
      max_ts_of(out, 1, &seen1);
      return seen1 == static_cast<std::size_t>(step);
    }));
    // Worker 1's watermark is step - 2 (ascending: max ts - 1). Worker 0 may
    // read at most one batch past the point where it leads by the drift.
    const Timestamp lead_limit = (step - 2) + kDrift + 1 + static_cast<Timestamp>(kBatch);
    INFO("step " << step);
    CHECK(max_ts_of(out, 0) <= lead_limit);
  }
  released->store(kN);
  REQUIRE(q->wait_for(20s));
  CHECK(q->status().state == QueryState::kFinished);
  std::size_t c0 = 0, c1 = 0;
  max_ts_of(out, 0, &c0);
  max_ts_of(out, 1, &c1);
  CHECK(c0 == kN);
  CHECK(c1 == kN);
}

TEST_CASE("watermark alignment: a negative drift is a ConfigError", "[streaming]") {
  Job job("bad");
  auto s = job.source(Generator(GeneratorOptions{.count = 1}, [](std::uint64_t i) { return int(i); }));
  WatermarkStrategy st = ascending();
  st.max_drift_us = -1;
  CHECK_THROWS_WITH(s.watermarks(st), Catch::Contains("field 'max_drift': must be >= 0"));
}
