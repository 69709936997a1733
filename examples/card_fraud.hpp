// The card network of the flagship example (card_fraud_alerts.cpp): a
// deterministic generator of transactions with planted fraud, in a header of
// its own so tests can check what it plants (tests/examples/).
#pragma once

#include <cstdint>

#include "streaming/time.hpp"

namespace card_fraud {

using sluice::DurationUs;
using sluice::Timestamp;

struct Txn {
  std::uint32_t card;
  std::uint32_t merchant;
  std::int64_t amount_cents;
};

constexpr std::uint32_t kCards = 10'000;
constexpr DurationUs kTxnSpacingUs = 1000;  // event time between transactions: 1,000 per second
constexpr Timestamp kStartOfDay = 1'795'392'000'000'000;  // 2026-11-23T00:00:00Z, timestamp of transaction 0
inline const char* const kMerchants[] = {"grocer", "fuel", "cafe", "online", "pharmacy", "electronics", "airline", "jeweller"};

// The rules' thresholds (FraudDetector in card_fraud_alerts.cpp).
constexpr std::int64_t kSmallCents = 100;     // a test charge is below $1 ...
constexpr std::int64_t kLargeCents = 50'000;  // ... followed within 60 s by a charge above $500
constexpr DurationUs kTestWindowUs = 60'000'000;
constexpr DurationUs kVelocityWindowUs = 10'000'000;
constexpr int kVelocityLimit = 10;  // more transactions than this on one card in a 10 s window

// Planted fraud: every block of 50,000 transactions has one test-charge
// victim (a small charge at kTestChargeAt, a large one at kLargeChargeAt) and
// one burster (kBurstLength buys from kBurstAt, every kBurstStep-th
// transaction; the velocity rule trips once the 11th, kBurstTripAt, is read).
constexpr std::uint64_t kPlantBlock = 50'000;
constexpr std::uint64_t kTestChargeAt = 1'000, kLargeChargeAt = 4'000;
constexpr std::uint64_t kBurstAt = 20'000, kBurstStep = 20, kBurstLength = 12;
constexpr std::uint64_t kBurstLastAt = kBurstAt + (kBurstLength - 1) * kBurstStep;
constexpr std::uint64_t kBurstTripAt = kBurstAt + kVelocityLimit * kBurstStep;

// Natural traffic deals the cards in rounds: each round of kCards
// transactions (10 s of event time) is a permutation of all cards, so a card
// pays once per round. Drawing each transaction's card independently made
// some card reach 11 transactions in a 10 s window about once per 100M
// transactions: velocity alerts nobody planted. The rounds are the
// detector's velocity windows (those are epoch-aligned and transaction 0
// starts one), and a block of planted fraud is whole rounds, the burst
// within one:
static_assert(kVelocityWindowUs == kCards * kTxnSpacingUs && kStartOfDay % kVelocityWindowUs == 0);
static_assert(kPlantBlock % kCards == 0 && kBurstAt / kCards == kBurstLastAt / kCards);
// So in a window a card has at most one natural transaction plus its planted
// ones: 2 for a test-charge victim, 12 for the burster (one alert, once its
// 11th buy is read: the burster has no natural turn in its burst's round). Records
// may reach the detector out of timestamp order (several workers read the
// generator, and the watermarks allow 2 s of disorder), but the detector
// counts a transaction in the window of its own timestamp and only ever drops
// a window's count (by a timer, once the watermark passed it), never merges
// it with another's: arrival order, late or not, can lower a count, never
// raise it. So the only velocity alerts are the planted bursts.

inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// Transaction i of the card network, with the planted fraud.
inline Txn make_txn(std::uint64_t i) {
  const std::uint64_t h = mix(i);
  // Position p of round r holds card (a * p + b) mod kCards: a permutation, as
  // a is coprime to kCards = 2^4 * 5^4 (odd, not a multiple of 5).
  const std::uint64_t round = i / kCards, p = i % kCards, r = mix(~round);
  constexpr std::uint64_t kCoprimeDigits[] = {1, 3, 7, 9};
  const std::uint64_t a = (r % 1000) * 10 + kCoprimeDigits[(r >> 16) % 4], b = (r >> 32) % kCards;
  auto card_at = [&](std::uint64_t pos) { return static_cast<std::uint32_t>((a * pos + b) % kCards); };
  Txn t{card_at(p), static_cast<std::uint32_t>((h >> 20) % 6),
        static_cast<std::int64_t>(100 + (h >> 32) % 15'000)};  // $1.00 .. $150.99
  const std::uint64_t block = i / kPlantBlock, at = i % kPlantBlock;
  const std::uint32_t victim = static_cast<std::uint32_t>(mix(block * 7919) % kCards);
  if (at == kTestChargeAt) t = Txn{victim, 3, 49};        // $0.49 test charge ...
  if (at == kLargeChargeAt) t = Txn{victim, 7, 125'000};  // ... then $1,250 at a jeweller, 3 s later
  const std::uint32_t burster = static_cast<std::uint32_t>(mix(block * 104'729 + 1) % kCards);
  // In the burst's round the burster's own turn goes to the card its first buy
  // displaced, so the burster pays exactly 12 times there and the burst trips
  // the rule only once its 11th buy is read.
  if (at / kCards == kBurstAt / kCards && t.card == burster) t.card = card_at(kBurstAt % kCards);
  if (at >= kBurstAt && at <= kBurstLastAt && (at - kBurstAt) % kBurstStep == 0)
    t = Txn{burster, 4, 1'999};  // 12 buys in 0.24 s
  return t;
}

// Planted frauds among the first n transactions that the rules can see:
// blocks whose transaction `last_at` (the large charge, the burst's 11th buy)
// has been read. A burst cut after its 11th buy still trips the rule.
inline std::uint64_t planted(std::uint64_t n, std::uint64_t last_at) {
  return n > last_at ? (n - last_at - 1) / kPlantBlock + 1 : 0;
}
inline std::uint64_t planted_test_charges(std::uint64_t n) { return planted(n, kLargeChargeAt); }
inline std::uint64_t planted_bursts(std::uint64_t n) { return planted(n, kBurstTripAt); }

}  // namespace card_fraud
