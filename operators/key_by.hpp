// key_by: partition a stream by key across workers.
//
// The key is computed and hashed once, here; its key group travels with the
// record (`Keyed<K, T>`) so keyed operators downstream never rehash. Key
// groups map to workers in contiguous ranges (streaming/key_groups.hpp).
#pragma once

#include <vector>

#include "streaming/detail/exchange.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/stream.hpp"

namespace sluice {
namespace detail {

template <class K, class T, class F>
class KeyRoute {
 public:
  explicit KeyRoute(F key_fn) : key_fn_(std::move(key_fn)) {}

  void bind(const RunSettings& s) {
    max_parallelism_ = s.max_parallelism;
    owner_.resize(s.max_parallelism);
    for (std::size_t kg = 0; kg < s.max_parallelism; ++kg)
      owner_[kg] = static_cast<std::uint32_t>(worker_of_key_group(static_cast<std::uint32_t>(kg), s.max_parallelism, s.workers));
  }

  Keyed<K, T> route(T&& value, std::size_t& dst) const {
    K key = key_fn_(std::as_const(value));
    const std::uint64_t hash = hash_key(key);
    const std::uint32_t kg = key_group_of(hash, max_parallelism_);
    dst = owner_[kg];
    return Keyed<K, T>{std::move(key), kg, std::move(value), hash};
  }

  /// The key, hash and key group of `value`, for routing on one worker.
  void key_of(const T& value, K& key, std::uint64_t& hash, std::uint32_t& key_group) const {
    key = key_fn_(value);
    hash = hash_key(key);
    key_group = key_group_of(hash, max_parallelism_);
  }

 private:
  F key_fn_;
  std::size_t max_parallelism_ = 1;
  std::vector<std::uint32_t> owner_;  // key group -> worker, so routing needs no division
};

}  // namespace detail

template <class T>
template <class F>
auto Stream<T>::key_by(F key_fn) const -> KeyedStream<std::decay_t<std::invoke_result_t<F&, const T&>>, T> {
  using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static_assert(!std::is_void_v<K>, "key_by(f): f must be callable as K f(const T&) with a hashable K");
  using Route = detail::KeyRoute<K, T, F>;
  Stream<Keyed<K, T>> routed =
      then<Keyed<K, T>, detail::ExchangeNode<T, Keyed<K, T>, Route>>("key_by", Route(std::move(key_fn)));
  return KeyedStream<K, T>(std::move(routed));
}

}  // namespace sluice
