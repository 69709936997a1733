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
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "streaming/errors.hpp"

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
