// Keys, key groups and workers.
//
// `key_by` hashes a key into one of `max_parallelism` key groups; key groups
// are assigned to workers in contiguous ranges. State is owned per key
// group, so a snapshot can later be restored on a different worker count by
// handing key groups to new owners.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <compare>
#include <functional>
#include <ostream>
#include <tuple>
#include <utility>

namespace sluice {

namespace detail {
/// splitmix64's finalizer: spreads std::hash (the identity for integers).
inline std::uint64_t mix64(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace detail

/// How keys are hashed. Works for anything with std::hash, and for
/// std::pair / std::tuple of those (composite keys). Specialize
/// `sluice::KeyHasher<K>` for other key types.
template <class K>
struct KeyHasher {
  std::uint64_t operator()(const K& key) const { return static_cast<std::uint64_t>(std::hash<K>{}(key)); }
};

// Composite keys combine their parts' hashes with a multiply-add; the final
// mix in hash_key spreads the result, so one mix per key is enough.
template <class A, class B>
struct KeyHasher<std::pair<A, B>> {
  std::uint64_t operator()(const std::pair<A, B>& p) const {
    return KeyHasher<A>{}(p.first) * 0x9E3779B97F4A7C15ULL + KeyHasher<B>{}(p.second);
  }
};

template <class... Ts>
struct KeyHasher<std::tuple<Ts...>> {
  std::uint64_t operator()(const std::tuple<Ts...>& t) const {
    return std::apply(
        [](const auto&... parts) {
          std::uint64_t h = 0x51ED270B27A34F6DULL;
          ((h = h * 0x9E3779B97F4A7C15ULL + KeyHasher<std::decay_t<decltype(parts)>>{}(parts)), ...);
          return h;
        },
        t);
  }
};

/// The key of a non-keyed window (`Stream::window_all`): every record has
/// it, so all records share one key group and one worker.
struct NoKey {
  bool operator==(const NoKey&) const = default;
  auto operator<=>(const NoKey&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, NoKey) { return os << "(all)"; }

template <>
struct KeyHasher<NoKey> {
  std::uint64_t operator()(NoKey) const { return 0; }
};

/// The hash Sluice uses for keys everywhere (routing and state tables).
template <class K>
std::uint64_t hash_key(const K& key) {
  return detail::mix64(KeyHasher<K>{}(key));
}

/// Key group of a key hash. Uses the high bits, so the low bits (used by
/// per-key-group hash tables) stay well spread within a group.
inline std::uint32_t key_group_of(std::uint64_t hash, std::size_t max_parallelism) {
  return static_cast<std::uint32_t>(((hash >> 32) * max_parallelism) >> 32);
}

/// Worker that owns key group `kg` (contiguous ranges, as Flink assigns them).
inline std::size_t worker_of_key_group(std::uint32_t kg, std::size_t max_parallelism, std::size_t workers) {
  return static_cast<std::size_t>(kg) * workers / max_parallelism;
}

/// Owner worker of each key group, by key group: routing by table lookup
/// instead of a division per record.
inline std::vector<std::uint32_t> key_group_owners(std::size_t max_parallelism, std::size_t workers) {
  std::vector<std::uint32_t> owner(max_parallelism);
  for (std::size_t kg = 0; kg < max_parallelism; ++kg)
    owner[kg] = static_cast<std::uint32_t>(worker_of_key_group(static_cast<std::uint32_t>(kg), max_parallelism, workers));
  return owner;
}

/// First key group owned by `worker`; its range is [first(w), first(w+1)).
inline std::uint32_t first_key_group(std::size_t worker, std::size_t max_parallelism, std::size_t workers) {
  return static_cast<std::uint32_t>((worker * max_parallelism + workers - 1) / workers);
}

}  // namespace sluice
