#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include "streaming/timer_service.hpp"

using sluice::Timestamp;
using sluice::detail::Timer;
using sluice::detail::TimerQueue;

namespace {
std::vector<std::pair<Timestamp, int>> fire_all(TimerQueue<int>& q, Timestamp until) {
  std::vector<std::pair<Timestamp, int>> fired;
  q.advance(until, [&](const Timer<int>& t) { fired.emplace_back(t.ts_us, t.key); });
  return fired;
}
}  // namespace

TEST_CASE("TimerQueue: order by time, ties in registration order, dedupe, delete", "[streaming]") {
  TimerQueue<int> q;
  CHECK(fire_all(q, 100).empty());  // empty
  CHECK(q.add(1, 0, 50));
  CHECK(q.add(2, 0, 20));
  CHECK(q.add(3, 0, 50));
  CHECK_FALSE(q.add(1, 0, 50));  // duplicate
  CHECK(q.add(4, 0, 70));
  CHECK(q.remove(4, 70));
  CHECK_FALSE(q.remove(4, 70));
  CHECK_FALSE(q.remove(9, 70));
  CHECK(q.size() == 3);
  CHECK(fire_all(q, 49) == std::vector<std::pair<Timestamp, int>>{{20, 2}});
  CHECK(fire_all(q, 50) == std::vector<std::pair<Timestamp, int>>{{50, 1}, {50, 3}});
  CHECK(q.size() == 0);
  CHECK(fire_all(q, 1000).empty());  // the deleted timer at 70 never fires
}

TEST_CASE("TimerQueue: re-register after delete fires once; timers added while firing", "[streaming]") {
  TimerQueue<int> q;
  q.add(1, 0, 10);
  q.remove(1, 10);
  q.add(1, 0, 10);
  std::vector<std::pair<Timestamp, int>> fired;
  q.advance(10, [&](const Timer<int>& t) {
    fired.emplace_back(t.ts_us, t.key);
    // Only on its first firing: a timer that always re-registers itself at
    // or before the time being advanced to fires forever (as in Flink).
    if (t.key == 1 && fired.size() == 1) {
      q.add(2, 0, 10);  // same instant: fires in this pass
      q.add(3, 0, 5);   // already past: fires in this pass
      q.add(4, 0, 11);  // future: waits
      q.add(1, 0, 10);  // itself again: a new timer, fires again once
    }
  });
  CHECK(fired == std::vector<std::pair<Timestamp, int>>{{10, 1}, {10, 2}, {10, 1}, {5, 3}});
  CHECK(q.size() == 1);
  CHECK(fire_all(q, 11) == std::vector<std::pair<Timestamp, int>>{{11, 4}});
}

TEST_CASE("TimerQueue agrees with a reference set under random operations", "[streaming]") {
  std::mt19937_64 rng(7);
  TimerQueue<int> q;
  std::set<std::pair<Timestamp, int>> ref;  // (ts, key)
  Timestamp now = 0;
  for (int step = 0; step < 100'000; ++step) {
    const int key = static_cast<int>(rng() % 50);
    const Timestamp ts = now + static_cast<Timestamp>(rng() % 40);  // many shared timestamps
    switch (rng() % 4) {
      case 0:
      case 1:
        REQUIRE(q.add(key, 0, ts) == ref.insert({ts, key}).second);
        break;
      case 2:
        REQUIRE(q.remove(key, ts) == (ref.erase({ts, key}) == 1));
        break;
      default: {
        now += static_cast<Timestamp>(rng() % 5);
        std::vector<std::pair<Timestamp, int>> fired = fire_all(q, now);
        std::vector<std::pair<Timestamp, int>> want;
        while (!ref.empty() && ref.begin()->first <= now) {
          want.push_back(*ref.begin());
          ref.erase(ref.begin());
        }
        std::sort(fired.begin(), fired.end());  // ties: the reference orders by key
        REQUIRE(fired == want);
      }
    }
    REQUIRE(q.size() == ref.size());
  }
}
