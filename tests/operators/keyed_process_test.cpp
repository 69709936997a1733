#include <catch2/catch.hpp>

#include <map>
#include <thread>
#include <tuple>

#include "sluice/sluice.hpp"

using namespace sluice;

namespace {

struct Bid {
  std::uint64_t auction;
  std::uint64_t price;
};

struct AuctionWindow {
  std::uint64_t auction;
  std::int64_t window;
  std::uint64_t count;
  std::uint64_t sum;
  bool operator<(const AuctionWindow& o) const {
    return std::tie(auction, window, count, sum) < std::tie(o.auction, o.window, o.count, o.sum);
  }
  bool operator==(const AuctionWindow& o) const = default;
};

struct Acc {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
};

constexpr std::int64_t kWindowUs = 1000;

// Tumbling event-time window by hand: state keyed by (auction, window).
struct TumblingSum : KeyedProcessFunction<std::pair<std::uint64_t, std::int64_t>, Bid, AuctionWindow> {
  ValueState<key_type, Acc> acc;
  void open(Context& ctx) { acc = ctx.value_state<Acc>("acc"); }
  void process(const Bid& b, Context& ctx, Collector<AuctionWindow>& out) {
    Acc& a = acc.get_or_insert();
    if (a.count == 0) ctx.register_event_time_timer((ctx.key().second + 1) * kWindowUs - 1);
    a.count++;
    a.sum += b.price;
  }
  void on_timer(Timestamp ts, Context& ctx, Collector<AuctionWindow>& out) {
    const Acc* a = acc.get();
    // Worker thread: no Catch assertions here; a throw fails the query and the test.
    if (a == nullptr || ts != (ctx.key().second + 1) * kWindowUs - 1) throw std::logic_error("timer without state");
    out.emit(AuctionWindow{ctx.key().first, ctx.key().second, a->count, a->sum});
    acc.clear();
  }
};

struct Stamped {
  Bid bid;
  std::int64_t window;
};
struct StampedSum : KeyedProcessFunction<std::pair<std::uint64_t, std::int64_t>, Stamped, AuctionWindow> {
  TumblingSum inner;
  void open(Context& ctx) { inner.open(ctx); }
  void process(const Stamped& s, Context& ctx, Collector<AuctionWindow>& out) { inner.process(s.bid, ctx, out); }
  void on_timer(Timestamp ts, Context& ctx, Collector<AuctionWindow>& out) { inner.on_timer(ts, ctx, out); }
};

Bid make_bid(std::uint64_t i) {
  const std::uint64_t h = detail::mix64(i + 0x9E3779B97F4A7C15ULL);
  return Bid{h % 17, 100 + (h >> 40) % 1000};
}

}  // namespace

TEST_CASE("keyed process: tumbling sums via state and event-time timers equal a reference for 1, 2, 4 workers",
          "[operators]") {
  constexpr std::uint64_t n = 20'000;
  // Reference: group by (auction, ts / window).
  std::map<std::pair<std::uint64_t, std::int64_t>, Acc> ref;
  for (std::uint64_t i = 0; i < n; ++i) {
    Bid b = make_bid(i);
    Acc& a = ref[{b.auction, static_cast<std::int64_t>(i) / kWindowUs}];
    a.count++;
    a.sum += b.price;
  }
  std::vector<AuctionWindow> want;
  for (auto& [k, a] : ref) want.push_back({k.first, k.second, a.count, a.sum});

  for (std::size_t workers : {1u, 2u, 4u}) {
    CollectSink<AuctionWindow> out;
    Job real("tumbling-real");
    real.source(Generator(GeneratorOptions{.count = n, .chunk = 64}, [](std::uint64_t i) {
          return Stamped{make_bid(i), static_cast<std::int64_t>(i) / kWindowUs};
        }))
        .watermarks(ascending().with_emit_interval(std::chrono::microseconds(0)))
        .key_by([](const Stamped& s) { return std::pair<std::uint64_t, std::int64_t>(s.bid.auction, s.window); })
        .process(StampedSum{})
        .sink(out);
    QueryOptions o;
    o.workers = workers;
    o.batch_size = 100;
    real.run(o);
    std::vector<AuctionWindow> got = out.values();
    std::sort(got.begin(), got.end());
    INFO("workers " << workers);
    CHECK(got.size() == want.size());
    CHECK(got == want);
  }
}

namespace {

struct Event {
  std::string user;
  int value;
};

// Exercises list and map state, timer dedupe and deletion, and a side output.
struct Sessionize : KeyedProcessFunction<std::string, Event, std::string> {
  static inline const OutputTag<std::string> kNegative{"negative"};
  ListState<std::string, int> values;
  MapState<std::string, int, int> counts;
  ValueState<std::string, Timestamp> timer;
  void open(Context& ctx) {
    values = ctx.list_state<int>("values");
    counts = ctx.map_state<int, int>("counts");
    timer = ctx.value_state<Timestamp>("timer");
  }
  void process(const Event& e, Context& ctx, Collector<std::string>& out) {
    if (e.value < 0) {
      ctx.output(kNegative, ctx.key() + ":" + std::to_string(e.value));
      return;
    }
    values.add(e.value);
    counts.put(e.value, (counts.get(e.value) ? *counts.get(e.value) : 0) + 1);
    // Move the session timer: delete the old one, register the new one twice (dedupe).
    if (const Timestamp* t = timer.get()) ctx.delete_event_time_timer(*t);
    const Timestamp next = ctx.timestamp() + 10;
    ctx.register_event_time_timer(next);
    ctx.register_event_time_timer(next);
    timer.set(next);
  }
  void on_timer(Timestamp ts, Context& ctx, Collector<std::string>& out) {
    std::string s = ctx.key() + "@" + std::to_string(ts) + ":";
    for (int v : values.get()) s += std::to_string(v) + ",";
    s += "distinct=" + std::to_string(counts.entries().size());
    out.emit(s);
    values.clear();
    counts.clear();
    timer.clear();
  }
};

// A scripted source: records with explicit timestamps, worker 0 only.
// With `hold_open`, the reader never ends (an unbounded source gone quiet).
template <class T>
class ScriptSource final : public Source<T> {
 public:
  explicit ScriptSource(std::vector<Record<T>> records, bool hold_open = false)
      : records_(std::move(records)), hold_open_(hold_open) {}
  std::string default_name() const override { return "script"; }
  std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(ctx.worker_index == 0 ? records_ : std::vector<Record<T>>{}, hold_open_);
  }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(std::vector<Record<T>> r, bool hold_open) : r_(std::move(r)), hold_open_(hold_open) {}
    SourceStatus poll(Batch<T>& out, std::vector<DeadLetter>&, std::size_t max) override {
      while (i_ < r_.size() && out.size() < max) out.push_back(r_[i_++]);
      if (i_ < r_.size()) return SourceStatus::kMore;
      return hold_open_ ? SourceStatus::kNothingNow : SourceStatus::kEnd;
    }

   private:
    std::vector<Record<T>> r_;
    bool hold_open_;
    std::size_t i_ = 0;
  };
  std::vector<Record<T>> records_;
  bool hold_open_;
};

template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds timeout = std::chrono::milliseconds(10'000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

TEST_CASE("keyed process: list/map state, timer dedupe and delete, side output", "[operators]") {
  std::vector<Record<Event>> in = {
      {{"ann", 1}, 100}, {{"bob", 5}, 101}, {{"ann", 1}, 105}, {{"ann", -3}, 106},
      {{"ann", 2}, 200},  // processed before the watermark 199 it brings: extends ann's session (115 deleted)
      {{"cat", 6}, 300},
      // No key gets a record after a gap its timer might or might not have fired in: with
      // several workers, when a watermark arrives relative to records is up to the threads.
  };
  for (std::size_t workers : {1u, 3u}) {
    Job job("sessions");
    CollectSink<std::string> out;
    CollectSink<std::string> negative;
    auto s = job.source(ScriptSource<Event>(in))
                 .watermarks(ascending().with_emit_interval(std::chrono::microseconds(0)))
                 .key_by([](const Event& e) { return e.user; })
                 .process(Sessionize{});
    s.sink(out);
    s.side_output(Sessionize::kNegative).sink(negative);
    QueryOptions o;
    o.workers = workers;
    o.batch_size = 1;  // watermark after every record
    job.run(o);
    std::vector<Record<std::string>> got = out.records();
    std::sort(got.begin(), got.end(), [](auto& a, auto& b) { return a.value < b.value; });
    REQUIRE(got.size() == 3);
    CHECK(got[0].value == "ann@210:1,1,2,distinct=2");
    CHECK(got[0].ts_us == 210);
    CHECK(got[1].value == "bob@111:5,distinct=1");  // fired by watermark 199
    CHECK(got[1].ts_us == 111);
    CHECK(got[2].value == "cat@310:6,distinct=1");  // fired by the end-of-input watermark
    CHECK(negative.values() == std::vector<std::string>{"ann:-3"});
  }
}

namespace {
struct Heartbeat : KeyedProcessFunction<int, int, std::string> {
  void process(const int& v, Context& ctx, Collector<std::string>& out) {
    ctx.register_processing_time_timer(ctx.current_processing_time() + 1000);
  }
  void on_timer(Timestamp ts, Context& ctx, Collector<std::string>& out) {
    out.emit(std::to_string(ctx.key()) + (ctx.time_domain() == TimeDomain::kProcessingTime ? " pt@" : " et@") +
             std::to_string(ts));
  }
};
}  // namespace

TEST_CASE("keyed process: processing-time timers fire on the injected clock", "[operators]") {
  ManualClock clock(5'000);
  Engine engine(EngineOptions{.workers = 2, .clock = &clock});
  Job job("heartbeat");
  CollectSink<std::string> out;
  job.source(ScriptSource<int>({{0, 1}, {1, 2}, {2, 3}}, /*hold_open=*/true))
      .key_by([](int v) { return v; })
      .process(Heartbeat{})
      .name("heartbeat")
      .sink(out);
  auto q = engine.start("hb", job);
  // All three records processed at clock 5000: timers due at 6000.
  REQUIRE(wait_until([&] { return q->metrics().op("heartbeat")->records_in == 3; }));
  clock.advance(999);
  clock.advance(1);
  REQUIRE(wait_until([&] { return out.size() >= 3; }));
  q->stop();
  CHECK(q->status().state == QueryState::kStopped);
  std::vector<std::string> got = out.values();
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::string>{"0 pt@6000", "1 pt@6000", "2 pt@6000"});
}
