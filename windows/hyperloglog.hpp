// HyperLogLog: an approximate count of distinct values in fixed memory.
//
// 2^p one-byte registers (p = precision, 4..16). A value's 64-bit hash picks
// a register with its top p bits; the register keeps the largest rank (1 +
// leading zeros) seen in the remaining bits. The estimate is the standard
// one (Flajolet et al. 2007) with the small-range correction: linear
// counting while the raw estimate is <= 2.5 * 2^p and some register is
// still zero. With 64-bit hashes no large-range correction is needed.
//
// Standard error: 1.04 / sqrt(2^p), e.g. 1.6% at p = 12 (4 KiB), 0.8% at
// p = 14 (16 KiB). Sketches of the same precision merge by register-wise
// max into the sketch of the union, so merging is exact: the merged sketch
// equals the one built from all values.
//
// The registers are allocated on the first add (an empty sketch holds no
// memory), because window state keeps one sketch per key and slice.
//
// State encoding (streaming/serde.hpp): the registers as a byte vector
// (varint count, one byte each).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "streaming/errors.hpp"
#include "streaming/serde.hpp"

namespace sluice::detail {

/// Smallest and largest HyperLogLog precision accepted.
inline constexpr int kMinHllPrecision = 4;
inline constexpr int kMaxHllPrecision = 16;

/// Throws ConfigError (a GraphError) naming `op` and "precision" unless
/// kMinHllPrecision <= precision <= kMaxHllPrecision.
inline void validate_hll_precision(const std::string& op, int precision) {
  if (precision < kMinHllPrecision || precision > kMaxHllPrecision)
    throw ConfigError(op, "precision",
                      "must be in [" + std::to_string(kMinHllPrecision) + ", " + std::to_string(kMaxHllPrecision) +
                          "], got " + std::to_string(precision));
}

/// The registers of one sketch, and the operations on them. The precision
/// is not stored per sketch (the aggregate holds it once): every call takes
/// it, and sketches combined with each other must share it.
struct HyperLogLog {
  /// 2^p registers, or empty while no value was added.
  std::vector<std::uint8_t> registers;

  /// Adds a value by its 64-bit hash (it must be well mixed: every bit used).
  void add_hash(std::uint64_t hash, int p) {
    if (registers.empty()) registers.assign(std::size_t{1} << p, 0);
    const std::size_t index = static_cast<std::size_t>(hash >> (64 - p));
    // The guard bit caps the rank at 64 - p + 1 when the remaining bits are all zero.
    const std::uint64_t rest = (hash << p) | (std::uint64_t{1} << (p - 1));
    const auto rank = static_cast<std::uint8_t>(std::countl_zero(rest) + 1);
    if (rank > registers[index]) registers[index] = rank;
  }

  /// this := the sketch of the union of both inputs.
  void merge(const HyperLogLog& other) {
    if (other.registers.empty()) return;
    if (registers.empty()) {
      registers = other.registers;
      return;
    }
    for (std::size_t i = 0; i < registers.size(); ++i) registers[i] = std::max(registers[i], other.registers[i]);
  }

  /// The estimated number of distinct values added (0 for an empty sketch).
  double estimate(int p) const {
    if (registers.empty()) return 0.0;
    const double m = static_cast<double>(std::size_t{1} << p);
    double inverse_sum = 0.0;
    std::size_t zeros = 0;
    for (const std::uint8_t r : registers) {
      inverse_sum += std::ldexp(1.0, -static_cast<int>(r));
      zeros += r == 0 ? 1 : 0;
    }
    const double raw = alpha(p) * m * m / inverse_sum;
    if (raw <= 2.5 * m && zeros > 0) return m * std::log(m / static_cast<double>(zeros));
    return raw;
  }

 private:
  /// The bias correction constant alpha_m of the estimator.
  static double alpha(int p) {
    switch (p) {
      case 4:
        return 0.673;
      case 5:
        return 0.697;
      case 6:
        return 0.709;
      default:
        return 0.7213 / (1.0 + 1.079 / static_cast<double>(std::size_t{1} << p));
    }
  }
};

}  // namespace sluice::detail

namespace sluice {

/// A sketch is its registers: varint count, then one byte per register.
/// Reading refuses a count other than 0 or 2^p (p in [kMinHllPrecision,
/// kMaxHllPrecision]) and a register above the largest rank, 65 - p. Whether
/// p is the precision of the aggregate that reads it is for the aggregate
/// to check (ApproxDistinct::check_restored).
template <>
struct Serde<detail::HyperLogLog> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const detail::HyperLogLog& h) { w.write(h.registers); }
  static detail::HyperLogLog read(StateReader& r) {
    const std::size_t at = r.offset();
    detail::HyperLogLog h{r.read<std::vector<std::uint8_t>>()};
    const std::size_t n = h.registers.size();
    if (n == 0) return h;
    const ReadContext what = ReadContext::of<detail::HyperLogLog>();
    const int p = std::countr_zero(n);
    if (!std::has_single_bit(n) || p < detail::kMinHllPrecision || p > detail::kMaxHllPrecision)
      StateReader::fail(at, what,
                        std::to_string(n) + " registers; a sketch has 2^p for p in [" +
                            std::to_string(detail::kMinHllPrecision) + ", " + std::to_string(detail::kMaxHllPrecision) +
                            "]");
    const auto max_rank = static_cast<std::uint8_t>(65 - p);
    for (std::size_t i = 0; i < n; ++i)
      if (h.registers[i] > max_rank)
        StateReader::fail(at, what,
                          "register " + std::to_string(i) + " holds rank " + std::to_string(h.registers[i]) +
                              ", above the largest possible at precision " + std::to_string(p) + " (" +
                              std::to_string(max_rank) + ")");
    return h;
  }
};

}  // namespace sluice
