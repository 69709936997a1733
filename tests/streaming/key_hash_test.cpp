// hash_key spreads keys evenly over key groups and over the bits hash
// tables use, for the key shapes users have: sequential integers, strided
// integers, strings and composite keys. (A cheaper mix, the folded 128-bit
// product, fails the table-position check on sequential and strided keys.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "streaming/key_groups.hpp"

using namespace sluice;

namespace {

// Largest relative deviation of the bucket counts from their mean.
double max_skew(const std::vector<std::size_t>& counts, std::size_t total) {
  const double mean = static_cast<double>(total) / static_cast<double>(counts.size());
  double worst = 0;
  for (std::size_t c : counts) worst = std::max(worst, std::abs(static_cast<double>(c) - mean) / mean);
  return worst;
}

// Spread of n keys key(0..n-1) over 128 key groups, and over the 128 control
// tags (low 7 bits) and 1024 table positions (bits 7..16) of FlatHashMap.
template <class F>
void check_spread(F key, std::size_t n) {
  std::vector<std::size_t> groups(128), tags(128), slots(1024);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t h = hash_key(key(i));
    ++groups[key_group_of(h, 128)];
    ++tags[h & 0x7F];
    ++slots[(h >> 7) & 1023];
  }
  // Random keys would deviate by a few standard deviations: 2048 per group
  // (sd ~45, 2%); 256 per slot (sd 16, 6%). Allow 4 sd and then some.
  CHECK(max_skew(groups, n) < 0.12);
  CHECK(max_skew(tags, n) < 0.12);
  CHECK(max_skew(slots, n) < 0.30);
}

constexpr std::size_t kKeys = 128 * 2048;

}  // namespace

TEST_CASE("hash_key spreads sequential integers", "[streaming]") {
  check_spread([](std::size_t i) { return static_cast<std::uint64_t>(i); }, kKeys);
  check_spread([](std::size_t i) { return static_cast<std::int64_t>(i) - 100'000; }, kKeys);
}

TEST_CASE("hash_key spreads strided integers (multiples of 2^k and of 1000)", "[streaming]") {
  for (int shift : {7, 16, 32, 40}) {
    INFO("stride 2^" << shift);
    check_spread([shift](std::size_t i) { return static_cast<std::uint64_t>(i) << shift; }, kKeys);
  }
  check_spread([](std::size_t i) { return static_cast<std::uint64_t>(i) * 1000; }, kKeys);
}

TEST_CASE("hash_key spreads strings and composite keys", "[streaming]") {
  check_spread([](std::size_t i) { return "user-" + std::to_string(i); }, kKeys);
  check_spread([](std::size_t i) { return std::pair<std::uint64_t, std::uint64_t>(i % 512, i / 512); }, kKeys);
  check_spread([](std::size_t i) { return std::tuple<int, std::string>(static_cast<int>(i % 7), std::to_string(i)); },
               kKeys);
}
