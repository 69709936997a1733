// key_by: partition a stream by key across workers.
//
// The key is computed and hashed once, here; its key group travels with the
// record (`Keyed<K, T>`) so keyed operators downstream never rehash. Key
// groups map to workers in contiguous ranges (streaming/key_groups.hpp).
#pragma once

#include <memory>
#include <string>
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
    owner_ = key_group_owners(s.max_parallelism, s.workers);
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

/// Keys whole batches (one virtual call per batch): what an operator that
/// reads key_by's input directly uses to key records the way key_by does.
template <class K, class T>
class BatchKeyer {
 public:
  virtual ~BatchKeyer() = default;
  /// out[i] := key, hash and key group of records[i].
  virtual void key(const Batch<T>& records, RecordKey<K>* out) const = 0;
};

/// What a key_by node offers an operator that takes its place (windows
/// computing partial aggregates before the exchange,
/// windows/local_aggregation.hpp): the stream it reads and its keying.
template <class K, class T>
class KeySource {
 public:
  virtual ~KeySource() = default;
  /// The port key_by reads, the port it produces, and its name.
  virtual int input_port() const = 0;
  virtual int output_port() const = 0;
  virtual const std::string& key_by_name() const = 0;
  virtual std::unique_ptr<BatchKeyer<K, T>> make_keyer(const RunSettings& settings) const = 0;
};

template <class K, class T, class Route>
class RouteKeyer final : public BatchKeyer<K, T> {
 public:
  explicit RouteKeyer(Route route) : route_(std::move(route)) {}
  void key(const Batch<T>& records, RecordKey<K>* out) const override { key_records(route_, records, out); }

 private:
  Route route_;
};

template <class K, class T, class Route>
class KeyByNode final : public ExchangeNode<T, Keyed<K, T>, Route>, public KeySource<K, T> {
 public:
  using ExchangeNode<T, Keyed<K, T>, Route>::ExchangeNode;
  int input_port() const override { return this->inputs().at(0); }
  int output_port() const override { return this->out_port(); }
  const std::string& key_by_name() const override { return this->name(); }
  std::unique_ptr<BatchKeyer<K, T>> make_keyer(const RunSettings& settings) const override {
    Route route = this->route();
    route.bind(settings);
    return std::make_unique<RouteKeyer<K, T, Route>>(std::move(route));
  }
};

}  // namespace detail

template <class T>
template <class F>
auto Stream<T>::key_by(F key_fn) const -> KeyedStream<std::decay_t<std::invoke_result_t<F&, const T&>>, T> {
  using K = std::decay_t<std::invoke_result_t<F&, const T&>>;
  static_assert(!std::is_void_v<K>, "key_by(f): f must be callable as K f(const T&) with a hashable K");
  using Route = detail::KeyRoute<K, T, F>;
  Stream<Keyed<K, T>> routed =
      then<Keyed<K, T>, detail::KeyByNode<K, T, Route>>("key_by", Route(std::move(key_fn)));
  return KeyedStream<K, T>(std::move(routed));
}

}  // namespace sluice
