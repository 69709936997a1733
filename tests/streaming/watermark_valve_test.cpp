#include <catch2/catch.hpp>

#include <vector>

#include "streaming/watermark_valve.hpp"

using namespace sluice;

namespace {

using K = Control::Kind;

// Feeds control messages and records what comes out.
struct Harness {
  explicit Harness(std::size_t n) : valve(n) {}
  WatermarkValve valve;
  std::vector<Control> out;

  std::vector<Control> feed(std::size_t ch, const Control& c) {
    std::vector<Control> emitted;
    valve.on_control(ch, c, [&](const Control& e) { emitted.push_back(e); });
    out.insert(out.end(), emitted.begin(), emitted.end());
    return emitted;
  }
  std::vector<Control> wm(std::size_t ch, Timestamp ts) { return feed(ch, Control::watermark(ts)); }
  std::vector<Control> idle(std::size_t ch) { return feed(ch, Control::idle()); }
  std::vector<Control> active(std::size_t ch) { return feed(ch, Control::active()); }
  std::vector<Control> end(std::size_t ch) { return feed(ch, Control::end_of_input()); }
};

bool same(const std::vector<Control>& a, const std::vector<Control>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].kind != b[i].kind) return false;
    if (a[i].kind == K::kWatermark && a[i].ts_us != b[i].ts_us) return false;
  }
  return true;
}

std::string show(const std::vector<Control>& v) {
  std::string s = "[";
  for (const Control& c : v) {
    switch (c.kind) {
      case K::kWatermark: s += "wm(" + std::to_string(c.ts_us) + ") "; break;
      case K::kIdle: s += "idle "; break;
      case K::kActive: s += "active "; break;
      case K::kEndOfInput: s += "end "; break;
      case K::kBarrier: s += "barrier(" + std::to_string(c.checkpoint_id) + ") "; break;
    }
  }
  return s + "]";
}

#define CHECK_EMITS(expr, ...)                      \
  do {                                              \
    const std::vector<Control> got_ = (expr);       \
    const std::vector<Control> want_{__VA_ARGS__};  \
    INFO(#expr << " emitted " << show(got_) << ", expected " << show(want_)); \
    CHECK(same(got_, want_));                       \
  } while (0)

const Control W(Timestamp t) { return Control::watermark(t); }
const Control kIdleC = Control::idle();
const Control kActiveC = Control::active();
const Control kEndC = Control::end_of_input();

}  // namespace

TEST_CASE("valve: output is the minimum over channels and only advances", "[streaming]") {
  Harness h(3);
  CHECK_EMITS(h.wm(0, 10));  // channels 1 and 2 have no watermark yet
  CHECK_EMITS(h.wm(1, 20));
  CHECK_EMITS(h.wm(2, 5), W(5));
  CHECK(h.valve.watermark() == 5);
  CHECK_EMITS(h.wm(2, 30), W(10));  // min is now channel 0
  CHECK_EMITS(h.wm(0, 25), W(20));  // min is now channel 1
  CHECK_EMITS(h.wm(1, 40), W(25));
  CHECK(h.valve.watermark() == 25);
  CHECK_FALSE(h.valve.is_idle());
}

TEST_CASE("valve: duplicate and regressing watermarks are swallowed", "[streaming]") {
  Harness h(2);
  CHECK_EMITS(h.wm(0, 10));
  CHECK_EMITS(h.wm(1, 10), W(10));
  CHECK_EMITS(h.wm(1, 10));        // duplicate
  CHECK_EMITS(h.wm(1, 3));         // regressing on its channel
  CHECK_EMITS(h.wm(0, 7));         // regressing on the other channel
  CHECK_EMITS(h.wm(0, 12));        // channel 1 still at 10 (its regress was ignored)
  CHECK_EMITS(h.wm(1, 11), W(11)); // 11 > 10: the regress to 3 did not stick
  CHECK(h.valve.watermark() == 11);
}

TEST_CASE("valve: a single channel passes its watermarks through, deduplicated", "[streaming]") {
  Harness h(1);
  CHECK_EMITS(h.wm(0, 1), W(1));
  CHECK_EMITS(h.wm(0, 1));
  CHECK_EMITS(h.wm(0, 0));
  CHECK_EMITS(h.wm(0, 100), W(100));
  CHECK_EMITS(h.idle(0), kIdleC);
  CHECK_EMITS(h.idle(0));
  CHECK_EMITS(h.active(0), kActiveC);
  CHECK_EMITS(h.wm(0, 50));  // behind the output: never goes back
  CHECK_EMITS(h.end(0), W(kMaxTimestamp), kEndC);
  CHECK_EMITS(h.end(0));
  CHECK(h.valve.all_ended());
}

TEST_CASE("valve: an idle channel is left out of the minimum", "[streaming]") {
  Harness h(3);
  CHECK_EMITS(h.wm(0, 100));
  CHECK_EMITS(h.wm(1, 200));
  // Channel 2 has never sent a watermark; once idle it no longer holds the output at -inf.
  CHECK_EMITS(h.idle(2), W(100));
  CHECK_EMITS(h.wm(0, 300), W(200));
  CHECK_EMITS(h.idle(1), W(300));  // only channel 0 is left
  CHECK(h.valve.watermark() == 300);
  CHECK_FALSE(h.valve.is_idle());
}

TEST_CASE("valve: all channels idle emits idle once; reactivation emits active", "[streaming]") {
  Harness h(2);
  CHECK_EMITS(h.wm(0, 10));
  CHECK_EMITS(h.wm(1, 20), W(10));
  CHECK_EMITS(h.idle(0), W(20));
  CHECK_EMITS(h.idle(1), kIdleC);
  CHECK(h.valve.is_idle());
  CHECK_EMITS(h.idle(1));  // already idle: nothing more
  CHECK_EMITS(h.idle(0));
  CHECK(h.valve.watermark() == 20);

  SECTION("reactivated by an explicit active, behind the output: output does not go back") {
    CHECK_EMITS(h.active(0), kActiveC);  // channel 0 is at 10 < 20
    CHECK_FALSE(h.valve.is_idle());
    CHECK(h.valve.watermark() == 20);
    CHECK_EMITS(h.wm(0, 15));           // still behind the output
    CHECK_EMITS(h.wm(0, 25), W(25));    // caught up and past it
  }
  SECTION("reactivated by a watermark ahead of the output") {
    CHECK_EMITS(h.wm(1, 50), kActiveC, W(50));
    CHECK_FALSE(h.valve.is_idle());
  }
  SECTION("reactivated by a watermark behind the output") {
    CHECK_EMITS(h.wm(0, 12), kActiveC);
    CHECK(h.valve.watermark() == 20);
  }
}

TEST_CASE("valve: a channel reactivated behind the output does not hold the others back", "[streaming]") {
  // The documented contract (as Flink's StatusWatermarkValve): a channel that
  // comes back behind the output is not counted until it catches up.
  Harness h(2);
  CHECK_EMITS(h.wm(0, 100));
  CHECK_EMITS(h.wm(1, 50), W(50));
  CHECK_EMITS(h.idle(1), W(100));
  CHECK_EMITS(h.active(1));           // output already active: nothing to announce
  CHECK_EMITS(h.wm(1, 60));           // behind the output (100)
  CHECK_EMITS(h.wm(0, 200), W(200));  // channel 1 must not hold the output at 100
  CHECK_EMITS(h.wm(1, 150));          // still behind 200
  CHECK_EMITS(h.wm(1, 250));          // caught up: counted again, min is 200 = output
  CHECK_EMITS(h.wm(0, 300), W(250));  // now channel 1 is the minimum
  CHECK_EMITS(h.wm(1, 400), W(300));
}

TEST_CASE("valve: end of input counts as +inf, end is emitted once when all ended", "[streaming]") {
  Harness h(3);
  CHECK_EMITS(h.wm(0, 10));
  CHECK_EMITS(h.wm(1, 20));
  CHECK_EMITS(h.wm(2, 30), W(10));
  CHECK_EMITS(h.end(0), W(20));  // channel 0 now +inf
  CHECK_FALSE(h.valve.all_ended());
  CHECK_EMITS(h.wm(0, 500));     // an ended channel ignores further messages
  CHECK_EMITS(h.idle(0));
  CHECK_EMITS(h.end(0));         // a second end on the same channel counts once
  CHECK_FALSE(h.valve.all_ended());
  CHECK_EMITS(h.end(2));         // no change: channel 1 (20) is still the minimum
  CHECK_EMITS(h.wm(1, 25), W(25));
  CHECK_EMITS(h.end(1), W(kMaxTimestamp), kEndC);
  CHECK(h.valve.all_ended());
  CHECK(h.valve.watermark() == kMaxTimestamp);
  CHECK_EMITS(h.end(1));
  CHECK_EMITS(h.wm(1, 1));
  // Exactly one end in the whole output.
  int ends = 0;
  for (const Control& c : h.out) ends += c.kind == K::kEndOfInput;
  CHECK(ends == 1);
}

TEST_CASE("valve: the source's final +inf watermark then end of input, per channel", "[streaming]") {
  // What every channel actually carries at the end: watermark(+inf), then end.
  Harness h(2);
  CHECK_EMITS(h.wm(0, 5));
  CHECK_EMITS(h.wm(1, 7), W(5));
  CHECK_EMITS(h.wm(0, kMaxTimestamp), W(7));
  CHECK_EMITS(h.end(0));
  CHECK_EMITS(h.wm(1, kMaxTimestamp), W(kMaxTimestamp));
  CHECK_EMITS(h.end(1), kEndC);
}

TEST_CASE("valve: an idle channel that ends; ended channels keep the output active", "[streaming]") {
  Harness h(2);
  CHECK_EMITS(h.wm(0, 10));
  CHECK_EMITS(h.wm(1, 20), W(10));
  CHECK_EMITS(h.idle(0), W(20));
  CHECK_EMITS(h.end(1), W(kMaxTimestamp));  // channel 0 idle, channel 1 +inf
  CHECK_FALSE(h.valve.is_idle());
  CHECK_EMITS(h.idle(0));                   // already idle, and an ended channel is not idle
  CHECK_EMITS(h.end(0), kEndC);
  CHECK(h.valve.all_ended());
}

TEST_CASE("valve: idle channels that end while the output is idle", "[streaming]") {
  Harness h(2);
  CHECK_EMITS(h.idle(0));
  CHECK_EMITS(h.idle(1), kIdleC);
  CHECK(h.valve.watermark() == kMinTimestamp);
  CHECK_EMITS(h.end(0), kActiveC, W(kMaxTimestamp));
  CHECK_EMITS(h.end(1), kEndC);
}

TEST_CASE("valve: when every channel turns idle the output advances to the largest watermark", "[streaming]") {
  // As Flink's StatusWatermarkValve (findAndOutputMaxWatermarkAcrossAllChannels):
  // nothing will advance the channels any more, so what the faster ones
  // already promised holds for the output; the watermark comes before idle.
  Harness h(3);
  CHECK_EMITS(h.wm(0, 100));
  CHECK_EMITS(h.wm(1, 50));
  CHECK_EMITS(h.wm(2, 70), W(50));
  CHECK_EMITS(h.idle(0));            // channel 1 (50) still holds the minimum
  CHECK_EMITS(h.idle(1), W(70));     // channel 2 alone
  CHECK_EMITS(h.idle(2), W(100), kIdleC);
  CHECK(h.valve.watermark() == 100);
  CHECK(h.valve.is_idle());
  // Reactivated behind the new output: the output does not go back.
  CHECK_EMITS(h.wm(1, 80), kActiveC);
  CHECK_EMITS(h.wm(1, 120), W(120));
}

TEST_CASE("valve: all idle with the channel that turned idle last behind: no regress", "[streaming]") {
  Harness h(2);
  CHECK_EMITS(h.wm(0, 100));
  CHECK_EMITS(h.wm(1, 50), W(50));
  CHECK_EMITS(h.idle(1), W(100));
  CHECK_EMITS(h.wm(1, 60));           // back, behind the output (100); the output was active already
  CHECK_EMITS(h.idle(0));
  CHECK_EMITS(h.idle(1), kIdleC);     // max is 100, the output already: only idle
  CHECK(h.valve.watermark() == 100);
}

TEST_CASE("valve: checkpoint barriers are not combined here (a BarrierAligner aligns them)", "[streaming]") {
  WatermarkValve v(2);
  std::vector<Control> out;
  v.on_control(0, Control::barrier(1), [&](const Control& c) { out.push_back(c); });
  v.on_control(1, Control::barrier(1), [&](const Control& c) { out.push_back(c); });
  CHECK(out.empty());
  CHECK(v.watermark() == kMinTimestamp);
}
