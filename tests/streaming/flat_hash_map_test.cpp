#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "streaming/detail/flat_hash_map.hpp"

using sluice::detail::FlatHashMap;

namespace {

// Hashes that make the control bytes work hard.
struct SameTag {  // every key has control tag 0: every slot of a group matches
  std::uint64_t operator()(std::uint64_t k) const { return sluice::detail::mix64(k) << 7; }
};
struct SameStart {  // 3 probe starts for all keys: long probe runs that wrap around
  std::uint64_t operator()(std::uint64_t k) const { return (k % 3) << 7 | (sluice::detail::mix64(k) & 0x7F); }
};

// Random inserts, erases and finds against std::unordered_map, over `keys`
// distinct keys; every 50,000 steps the map is emptied, half the time
// keeping its arrays. `value(step)` makes the value inserted at a step.
template <class Map, class MakeValue>
void agrees_with_unordered_map(std::uint64_t keys, int steps, MakeValue value) {
  using V = std::decay_t<decltype(value(0))>;
  std::mt19937_64 rng(42);
  Map map;
  std::unordered_map<std::uint64_t, V> ref;
  for (int step = 0; step < steps; ++step) {
    const std::uint64_t k = rng() % keys;
    switch (rng() % 3) {
      case 0: {
        auto [v, inserted] = map.try_emplace(k, value(step));
        auto [it, ref_inserted] = ref.try_emplace(k, value(step));
        REQUIRE(inserted == ref_inserted);
        REQUIRE(*v == it->second);
        break;
      }
      case 1:
        REQUIRE(map.erase(k) == (ref.erase(k) == 1));
        break;
      default: {
        const V* v = map.find(k);
        auto it = ref.find(k);
        REQUIRE((v != nullptr) == (it != ref.end()));
        if (v) REQUIRE(*v == it->second);
      }
    }
    REQUIRE(map.size() == ref.size());
    if (step % 50'000 == 49'999) {
      if (step % 100'000 == 49'999)
        map.clear_keep_capacity();
      else
        map.clear();
      ref.clear();
    }
  }
  std::size_t seen = 0;
  map.for_each([&](const std::uint64_t& k, V& v) {
    ++seen;
    REQUIRE(ref.at(k) == v);
  });
  CHECK(seen == ref.size());
}

std::uint64_t number(int step) { return static_cast<std::uint64_t>(step); }
// Long enough to live on the heap: a slot must destroy it (ASan sees a leak or a double free).
std::string text(int step) { return "value number " + std::to_string(step) + " of a long-lived string"; }

using sluice::detail::KeyHash;
using sluice::detail::WordCtrlGroup;
#if defined(__SSE2__)
using sluice::detail::Sse2CtrlGroup;
#else
using Sse2CtrlGroup = WordCtrlGroup;  // nothing else to test here
#endif

}  // namespace

TEMPLATE_TEST_CASE("FlatHashMap agrees with std::unordered_map under random insert/erase", "[streaming]",
                   WordCtrlGroup, Sse2CtrlGroup) {
  SECTION("well spread hashes") {
    agrees_with_unordered_map<FlatHashMap<std::uint64_t, std::uint64_t, KeyHash<std::uint64_t>, TestType>>(
        5000, 200'000, number);
  }
  SECTION("one control tag for all keys") {
    agrees_with_unordered_map<FlatHashMap<std::uint64_t, std::uint64_t, SameTag, TestType>>(500, 120'000, number);
  }
  SECTION("three probe starts for all keys") {
    agrees_with_unordered_map<FlatHashMap<std::uint64_t, std::uint64_t, SameStart, TestType>>(300, 120'000, number);
  }
  // Values with a destructor sit in std::optional slots; trivially
  // destructible ones (above) in plain slots, where a free slot keeps a stale entry.
  SECTION("values with a destructor") {
    agrees_with_unordered_map<FlatHashMap<std::uint64_t, std::string, KeyHash<std::uint64_t>, TestType>>(
        5000, 100'000, text);
    agrees_with_unordered_map<FlatHashMap<std::uint64_t, std::string, SameStart, TestType>>(300, 60'000, text);
  }
}

TEST_CASE("FlatHashMap edge cases: empty, one key, string keys, clear", "[streaming]") {
  FlatHashMap<std::string, int> m;
  CHECK(m.find("x") == nullptr);
  CHECK_FALSE(m.erase("x"));
  *m.try_emplace("x", 1).first += 1;
  CHECK(*m.find("x") == 2);
  CHECK_FALSE(m.try_emplace("x", 7).second);
  CHECK(m.size() == 1);
  m.clear();
  CHECK(m.empty());
  CHECK(m.find("x") == nullptr);
}

TEST_CASE("FlatHashMap iterates every entry once (empty, after erases)", "[streaming]") {
  FlatHashMap<int, int> m;
  CHECK(m.begin() == m.end());
  for (int i = 0; i < 100; ++i) m.try_emplace(i, i * i);
  for (int i = 0; i < 100; i += 3) m.erase(i);
  std::vector<std::pair<int, int>> seen(m.begin(), m.end());
  std::sort(seen.begin(), seen.end());
  std::vector<std::pair<int, int>> want;
  for (int i = 0; i < 100; ++i)
    if (i % 3 != 0) want.emplace_back(i, i * i);
  CHECK(seen == want);
}

TEST_CASE("FlatHashMap copies and moves keep both maps usable", "[streaming]") {
  FlatHashMap<std::uint64_t, int> a;
  FlatHashMap<std::uint64_t, int> empty_copy(a);  // copies of an empty map work too
  CHECK(empty_copy.find(1) == nullptr);
  CHECK(empty_copy.try_emplace(1, 1).second);
  for (std::uint64_t k = 0; k < 100; ++k) a.try_emplace(k, static_cast<int>(k));

  FlatHashMap<std::uint64_t, int> b(a);
  *a.find(5) = -5;
  a.erase(6);
  CHECK(*b.find(5) == 5);  // the copy has arrays of its own
  CHECK(*b.find(6) == 6);
  CHECK(b.size() == 100);

  FlatHashMap<std::uint64_t, int> c(std::move(a));
  CHECK(c.size() == 99);
  CHECK(*c.find(5) == -5);
  CHECK(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from map is empty and usable
  CHECK(a.find(5) == nullptr);
  CHECK(a.try_emplace(7, 70).second);
  CHECK(*a.find(7) == 70);

  b = c;  // copy assignment replaces b's entries
  CHECK(b.size() == 99);
  CHECK(b.find(6) == nullptr);
  auto& self = b;
  b = self;
  CHECK(b.size() == 99);
  a = std::move(b);
  CHECK(a.size() == 99);
  CHECK(*a.find(5) == -5);
  CHECK(b.empty());
  CHECK(b.try_emplace(1, 1).second);
}

// A hot table of plain entries (a key and two counters) spends no flag per
// slot: 24 bytes, not 32 (more keys per cache line, fewer misses).
static_assert(FlatHashMap<std::uint64_t, std::tuple<std::uint64_t, std::uint64_t>>::kSlotBytes == 24);
static_assert(FlatHashMap<std::uint64_t, std::string>::kSlotBytes > sizeof(std::pair<std::uint64_t, std::string>));
