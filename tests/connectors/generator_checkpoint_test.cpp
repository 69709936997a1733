// The generator's splits and positions at the reader level: which records
// each worker emits, and that positions snapshot after any number of polls,
// restored on the same or another worker count, continue every split
// exactly (no record lost, none repeated).
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <set>

#include "support/thrown.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

auto identity_u = [](std::uint64_t i) { return i; };
using Gen = Generator<decltype(identity_u)>;

// What a reader needs from a query, for readers driven by hand.
struct Env {
  ManualClock clock{0};
  MetricsRegistry registry;
  OperatorMetrics* metrics = &registry.add_operator("gen", "source");
  SourceContext ctx(std::size_t w, std::size_t n) {
    return SourceContext{w, n, &clock, "gen", metrics, &registry, [] {}};
  }
};

// Polls up to `k` records (fewer at the end); appends them to `out`.
SourceStatus poll_up_to(SourceReader<std::uint64_t>& r, std::size_t k, std::vector<std::uint64_t>& out,
                        std::size_t max_batch = 1000) {
  SourceStatus st = SourceStatus::kMore;
  while (k > 0) {
    Batch<std::uint64_t> b;
    std::vector<DeadLetter> dead;
    st = r.poll(b, dead, std::min(k, max_batch));
    for (auto& rec : b) out.push_back(rec.value);
    k -= b.size();
    if (st != SourceStatus::kMore) break;
  }
  return st;
}
std::vector<std::uint64_t> drain(SourceReader<std::uint64_t>& r) {
  std::vector<std::uint64_t> out;
  while (poll_up_to(r, 997, out) == SourceStatus::kMore) {
  }
  return out;
}
std::string position(const SourceReader<std::uint64_t>& r) {
  StateWriter w;
  r.snapshot_position(w);
  return w.take();
}
std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST_CASE("generator splits: with splits a multiple of the worker count, chunk c is on worker c % workers",
          "[connectors][generator]") {
  for (std::size_t workers : {1u, 2u, 4u}) {
    Env env;
    Gen g(GeneratorOptions{.count = 1000, .chunk = 7, .splits = 8}, identity_u);
    for (std::size_t w = 0; w < workers; ++w) {
      auto r = g.open(env.ctx(w, workers));
      std::vector<std::uint64_t> expected;
      for (std::uint64_t i = 0; i < 1000; ++i)
        if ((i / 7) % workers == w) expected.push_back(i);
      CHECK(drain(*r) == expected);
    }
  }
}

TEST_CASE("generator splits: other worker counts own split s on worker s % workers, chunks in increasing order",
          "[connectors][generator]") {
  Env env;
  Gen g(GeneratorOptions{.count = 5000, .chunk = 10, .splits = 128}, identity_u);
  std::vector<std::uint64_t> all;
  for (std::size_t w = 0; w < 3; ++w) {
    auto r = g.open(env.ctx(w, 3));
    auto got = drain(*r);
    CHECK(std::is_sorted(got.begin(), got.end()));
    for (auto i : got) CHECK(((i / 10) % 128) % 3 == w);
    all.insert(all.end(), got.begin(), got.end());
  }
  std::sort(all.begin(), all.end());
  REQUIRE(all.size() == 5000);
  for (std::uint64_t i = 0; i < 5000; ++i) REQUIRE(all[i] == i);
  SECTION("more workers than splits: the extra ones end at once, with an empty position") {
    Gen small(GeneratorOptions{.count = 50, .chunk = 10, .splits = 2}, identity_u);
    auto r = small.open(env.ctx(2, 3));
    CHECK(drain(*r).empty());
    auto r2 = small.open(env.ctx(2, 3));
    r2->restore_position(views({position(*small.open(env.ctx(0, 2))), position(*small.open(env.ctx(1, 2)))}));
    CHECK(drain(*r2).empty());
  }
  SECTION("splits must be > 0") {
    CHECK(thrown_message<ConfigError>([] { Gen(GeneratorOptions{.splits = 0}, identity_u); }).find("splits") !=
          std::string::npos);
  }
}

TEST_CASE("generator position: a reader restored from a snapshot after k records continues exactly",
          "[connectors][generator]") {
  Env env;
  const std::uint64_t count = 300;
  Gen g(GeneratorOptions{.count = count, .chunk = 8, .splits = 4}, identity_u);
  for (std::size_t workers : {1u, 2u}) {
    for (std::size_t k : {0u, 1u, 7u, 8u, 9u, 75u, 149u, 150u, 151u, 1000u}) {
      CAPTURE(workers, k);
      auto whole = drain(*g.open(env.ctx(0, workers)));
      auto a = g.open(env.ctx(0, workers));
      std::vector<std::uint64_t> got;
      poll_up_to(*a, k, got, 5);
      const std::string pos = position(*a);
      // The other workers' positions come along (untouched, at 0).
      std::vector<std::string> parts{pos};
      for (std::size_t w = 1; w < workers; ++w) parts.push_back(position(*g.open(env.ctx(w, workers))));
      auto b = g.open(env.ctx(0, workers));
      b->restore_position(views(parts));
      auto rest = drain(*b);
      got.insert(got.end(), rest.begin(), rest.end());
      CHECK(got == whole);
      // A position taken at the end restores to an immediate end.
      auto c = g.open(env.ctx(0, workers));
      c->restore_position(views([&] {
        auto p = parts;
        p[0] = position(*b);
        return p;
      }()));
      CHECK(drain(*c).empty());
    }
  }
}

TEST_CASE("generator rescaling: positions of N readers restored on M readers give every record exactly once",
          "[connectors][generator]") {
  std::mt19937_64 rng(20261202);
  Env env;
  for (std::uint64_t splits : {4u, 12u, 128u}) {
    const std::uint64_t count = 4000 + splits;  // a partial last chunk
    Gen g(GeneratorOptions{.count = count, .chunk = 16, .splits = splits}, identity_u);
    for (std::size_t n = 1; n <= 4; ++n) {
      for (std::size_t m = 1; m <= 4; ++m) {
        CAPTURE(splits, n, m);
        std::vector<std::uint64_t> seen;
        std::vector<std::string> parts;
        for (std::size_t w = 0; w < n; ++w) {
          auto r = g.open(env.ctx(w, n));
          // Uneven progress: some readers far ahead, one possibly done.
          const std::size_t k = w == 0 ? count : rng() % (count / n + 1);
          poll_up_to(*r, k, seen, 1 + rng() % 50);
          parts.push_back(position(*r));
        }
        for (std::size_t w = 0; w < m; ++w) {
          auto r = g.open(env.ctx(w, m));
          r->restore_position(views(parts));
          auto rest = drain(*r);
          CHECK(std::is_sorted(rest.begin(), rest.end()));  // catches up in increasing order
          for (auto i : rest) REQUIRE(((i / 16) % splits) % m == w);
          seen.insert(seen.end(), rest.begin(), rest.end());
        }
        std::sort(seen.begin(), seen.end());
        REQUIRE(seen.size() == count);
        for (std::uint64_t i = 0; i < count; ++i) REQUIRE(seen[i] == i);
      }
    }
  }
}

TEST_CASE("generator position: counts at the limits", "[connectors][generator]") {
  Env env;
  SECTION("fewer records than one chunk") {
    Gen g(GeneratorOptions{.count = 5, .splits = 4}, identity_u);
    auto a = g.open(env.ctx(1, 2));
    CHECK(drain(*a).empty());
    auto b = g.open(env.ctx(0, 2));
    std::vector<std::uint64_t> got;
    poll_up_to(*b, 2, got);
    auto c = g.open(env.ctx(0, 1));
    c->restore_position(views({position(*b), position(*a)}));
    CHECK(drain(*c) == std::vector<std::uint64_t>{2, 3, 4});
  }
  SECTION("a count near 2^64: indices do not wrap") {
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    Gen g(GeneratorOptions{.count = max, .ts_step_us = 0, .chunk = 1024, .splits = 1}, identity_u);
    StateWriter w;
    w.write(std::uint64_t{1});
    w.write(std::uint64_t{1024});
    w.write(std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, max - 3}});
    const std::string pos = w.take();
    auto r = g.open(env.ctx(0, 1));
    r->restore_position({pos});
    CHECK(drain(*r) == std::vector<std::uint64_t>{max - 3, max - 2, max - 1});
    auto r2 = g.open(env.ctx(0, 1));
    r2->restore_position({position(*r)});
    CHECK(drain(*r2).empty());
  }
  SECTION("a position beyond the split's end: count shrank") {
    Gen big(GeneratorOptions{.count = 100, .chunk = 10, .splits = 2}, identity_u);
    auto r = big.open(env.ctx(0, 1));
    drain(*r);
    Gen small(GeneratorOptions{.count = 50, .chunk = 10, .splits = 2}, identity_u);
    auto s = small.open(env.ctx(0, 1));
    CHECK(thrown_message<ConfigError>([&] { s->restore_position({position(*r)}); }).find("count must not shrink") !=
          std::string::npos);
  }
}

TEST_CASE("generator position: bad bytes are refused with StateFormatError, other settings with ConfigError",
          "[connectors][generator]") {
  Env env;
  Gen g(GeneratorOptions{.count = 100, .chunk = 10, .splits = 4}, identity_u);
  auto a = g.open(env.ctx(0, 2));
  auto b = g.open(env.ctx(1, 2));
  std::vector<std::uint64_t> sink;
  poll_up_to(*a, 15, sink);
  const std::string pa = position(*a), pb = position(*b);
  auto restore = [&](std::vector<std::string> parts) { g.open(env.ctx(0, 1))->restore_position(views(parts)); };
  CHECK_NOTHROW(restore({pa, pb}));
  for (std::size_t cut = 0; cut < pa.size(); ++cut) {
    CAPTURE(cut);
    CHECK_THROWS_AS(restore({pa.substr(0, cut), pb}), StateFormatError);
  }
  CHECK_THROWS_AS(restore({pa + "x", pb}), StateFormatError);
  CHECK(thrown_message<StateFormatError>([&] { restore({pa}); }).find("no reader of the checkpointed run had split 1") !=
        std::string::npos);
  CHECK(thrown_message<StateFormatError>([&] { restore({pa, pa}); }).find("appears twice") != std::string::npos);
  Gen other(GeneratorOptions{.count = 100, .chunk = 10, .splits = 8}, identity_u);
  CHECK(thrown_message<ConfigError>([&] { other.open(env.ctx(0, 1))->restore_position(views({pa, pb})); })
            .find("splits = 4") != std::string::npos);
}

TEST_CASE("generator position with events_per_second: no burst and no stall after a restore; buffered records come again",
          "[connectors][generator]") {
  Env env;
  // 1000 records/s: one per ms of the manual clock.
  Gen g(GeneratorOptions{.count = 100, .events_per_second = 1000, .chunk = 10, .splits = 4}, identity_u);
  auto a = g.open(env.ctx(0, 1));
  env.clock.advance(10'000);
  std::vector<std::uint64_t> got;
  poll_up_to(*a, 4, got, 4);  // 10 arrived, 4 emitted, 6 buffered
  CHECK(got == std::vector<std::uint64_t>{0, 1, 2, 3});
  const std::string pos = position(*a);
  // The restored run opens an hour later: the time down is not made up.
  env.clock.advance(3'600'000'000);
  auto b = g.open(env.ctx(0, 1));
  b->restore_position({pos});
  std::vector<std::uint64_t> next;
  CHECK(poll_up_to(*b, 100, next) == SourceStatus::kNothingNow);
  CHECK(next.empty());
  env.clock.advance(5'000);
  poll_up_to(*b, 100, next);
  CHECK(next == std::vector<std::uint64_t>{4, 5, 6, 7, 8});
  env.clock.advance(1'000'000);
  poll_up_to(*b, 1000, next);
  CHECK(next.size() == 96);
  CHECK(next.back() == 99);
}
