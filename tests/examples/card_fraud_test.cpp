#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "examples/card_fraud.hpp"

using namespace card_fraud;

namespace {

// The example's two rules applied to transactions 0 .. n-1 in timestamp order
// (FraudDetector counts each transaction in the window of its own timestamp,
// so arrival order can only lower its counts). After each transaction, the
// alerts so far must equal the planted frauds among the transactions read so
// far, as the example's summary claims for any --transactions. Counts the
// alerts over all n; returns the first prefix length where they differ, 0 if none.
std::uint64_t first_mismatch(std::uint64_t n, std::uint64_t& test_charges, std::uint64_t& velocity) {
  std::uint64_t mismatch = 0;
  std::vector<int> in_window(kCards, 0);
  constexpr Timestamp kNoSmall = -1;
  std::vector<Timestamp> last_small(kCards, kNoSmall);
  std::int64_t window = -1;
  test_charges = velocity = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const Txn t = make_txn(i);
    const Timestamp ts = kStartOfDay + static_cast<Timestamp>(i) * kTxnSpacingUs;
    if (ts / kVelocityWindowUs != window) {
      window = ts / kVelocityWindowUs;
      std::fill(in_window.begin(), in_window.end(), 0);
    }
    if (++in_window[t.card] == kVelocityLimit + 1) ++velocity;
    if (t.amount_cents < kSmallCents) last_small[t.card] = ts;
    if (t.amount_cents > kLargeCents && last_small[t.card] != kNoSmall && ts - last_small[t.card] <= kTestWindowUs) {
      ++test_charges;
      last_small[t.card] = kNoSmall;
    }
    if (!mismatch && (test_charges != planted_test_charges(i + 1) || velocity != planted_bursts(i + 1)))
      mismatch = i + 1;
  }
  return mismatch;
}

}  // namespace

TEST_CASE("card_fraud: after every transaction of the first million, the rules' alerts equal the planted frauds",
          "[examples]") {
  std::uint64_t test_charges = 0, velocity = 0;
  const std::uint64_t at = first_mismatch(1'000'000, test_charges, velocity);
  INFO("alerts first differ from the planted frauds after " << at << " transactions; in all: " << test_charges
                                                              << " test-charge, " << velocity << " velocity");
  CHECK(at == 0);
  CHECK(test_charges == 20);
  CHECK(velocity == 20);
}

// Natural traffic must never trip the velocity rule, nor make a burst trip
// it before its 11th buy. With cards drawn independently, some card reached
// 11 transactions in a 10 s window about once per 100M transactions (first
// after 83M: 2561 velocity alerts for 2560 planted at 128M), and a burster's
// own transactions could trip it at the 10th buy (first after 2.37M).
TEST_CASE("card_fraud: in 128M transactions only the planted bursts exceed the velocity limit, at their 11th buy",
          "[examples]") {
  std::uint64_t test_charges = 0, velocity = 0;
  const std::uint64_t n = 128'000'000;
  const std::uint64_t at = first_mismatch(n, test_charges, velocity);
  INFO("alerts first differ from the planted frauds after " << at << " transactions; in all: " << test_charges
                                                              << " test-charge, " << velocity << " velocity");
  CHECK(at == 0);
  CHECK(test_charges == planted_test_charges(n));
  CHECK(velocity == planted_bursts(n));
}
