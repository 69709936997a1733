// The local stage of local-global aggregation at a checkpoint barrier
// (windows/local_aggregation.hpp): it sends every partial before the barrier,
// so it holds no state across one, and the window's results do not change.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "windows/local_aggregation.hpp"
#include "windows/operator_harness.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

using i64 = std::int64_t;

struct Ev {
  std::string key;
  i64 v = 0;
};

constexpr std::uint32_t kKeyGroups = 128;

class EvKeyer final : public detail::BatchKeyer<std::string, Ev> {
 public:
  void key(const Batch<Ev>& records, detail::RecordKey<std::string>* out) const override {
    for (std::size_t i = 0; i < records.size(); ++i) {
      const std::uint64_t h = hash_key(records[i].value.key);
      out[i] = detail::RecordKey<std::string>{records[i].value.key, h, key_group_of(h, kKeyGroups)};
    }
  }
};

auto make_aggs() {
  return detail::AggregateList<Ev, decltype(detail::bind_aggregate<Ev>(count())),
                               decltype(detail::bind_aggregate<Ev>(sum("v", &Ev::v))),
                               decltype(detail::bind_aggregate<Ev>(min("v", &Ev::v))),
                               decltype(detail::bind_aggregate<Ev>(max("v", &Ev::v)))>(
      detail::bind_aggregate<Ev>(count()), detail::bind_aggregate<Ev>(sum("v", &Ev::v)),
      detail::bind_aggregate<Ev>(min("v", &Ev::v)), detail::bind_aggregate<Ev>(max("v", &Ev::v)));
}
using Aggs = decltype(make_aggs());
using P = detail::Partial<Aggs::acc_type>;
using Local = detail::LocalWindowAggregator<std::string, Ev, Aggs>;
using Window = detail::SlicingWindowOperator<std::string, Ev, Aggs>;
using Result = WindowResult<std::string, Aggs::result_type>;

/// What leaves the local stage, in order: "partial" per partial, "barrier <id>".
class Trace final : public detail::Input<Keyed<std::string, P>> {
 public:
  explicit Trace(Window& window) : window_(window) {}
  void push(Batch<Keyed<std::string, P>>& batch) override {
    for (std::size_t i = 0; i < batch.size(); ++i) events.push_back("partial");
    window_.push_partials(batch);
  }
  void control(const Control& c) override {
    if (c.kind == Control::Kind::kBarrier) events.push_back("barrier " + std::to_string(c.checkpoint_id));
    window_.control(c);
  }
  const std::string& operator_name() const override { return name_; }
  std::vector<std::string> events;

 private:
  Window& window_;
  std::string name_ = "trace";
};

/// The local stage feeding a window operator, as on one worker of several.
struct Pipeline {
  explicit Pipeline(TimeWindows w)
      : window(make_aggs(), detail::WindowSettings{w, 0, 0}, window_metrics, clock, 0, kKeyGroups, kKeyGroups, 1000),
        local(make_aggs(), w, std::make_unique<EvKeyer>(), kKeyGroups, 1000, local_metrics),
        trace(window) {
    local.output().connect(&trace);
    window.output().connect(&results);
    window.open();
    local.open();
  }
  ManualClock clock{0};
  OperatorMetrics window_metrics, local_metrics;
  Window window;
  Local local;
  Trace trace;
  Collect<Result> results;
};

}  // namespace

TEST_CASE("local aggregation: a barrier sends every partial before it, the window's results stay the same",
          "[windows][checkpoint]") {
  const TimeWindows w = sliding(10us, 5us);
  SECTION("partials of open slices leave before the barrier; nothing is held after it") {
    Pipeline p(w);
    Batch<Ev> b;
    b.push_back(Record<Ev>{Ev{"a", 1}, 3});
    b.push_back(Record<Ev>{Ev{"b", 2}, 4});
    b.push_back(Record<Ev>{Ev{"a", 3}, 12});
    p.local.push(b);
    CHECK(p.trace.events.empty());  // no watermark yet: all held
    p.local.control(Control::barrier(1));
    CHECK(p.trace.events == std::vector<std::string>{"partial", "partial", "partial", "barrier 1"});
    p.local.control(Control::barrier(2));  // nothing held: the barrier alone
    CHECK(p.trace.events.back() == "barrier 2");
    CHECK(p.trace.events.size() == 5);
  }
  SECTION("random records and barriers: the same results as without barriers") {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
      std::mt19937_64 rng(seed);
      auto pick = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>(lo, hi)(rng); };
      Pipeline with(w), without(w);
      i64 clock = 0, wm = kMinTimestamp;
      std::uint64_t id = 0;
      for (int step = 0; step < 60; ++step) {
        const i64 r = pick(0, 9);
        if (r < 6) {
          Batch<Ev> b;
          for (i64 j = pick(1, 8); j > 0; --j)
            b.push_back(Record<Ev>{Ev{std::string(1, static_cast<char>('a' + pick(0, 4))), pick(-50, 50)},
                                   clock + pick(-6, 6)});
          Batch<Ev> copy = b;
          with.local.push(b);
          without.local.push(copy);
          clock += pick(0, 3);
        } else if (r < 8) {
          wm = std::max(wm, clock - 8);
          with.local.control(Control::watermark(wm));
          without.local.control(Control::watermark(wm));
        } else {
          with.local.control(Control::barrier(++id));
        }
      }
      for (Pipeline* p : {&with, &without}) {
        p->local.control(Control::watermark(kMaxTimestamp));
        p->local.control(Control::end_of_input());
      }
      INFO("seed " << seed);
      REQUIRE(show(by_window(with.results.take())) == show(by_window(without.results.take())));
      CHECK(with.window_metrics.late_records.get() == without.window_metrics.late_records.get());
    }
  }
}
