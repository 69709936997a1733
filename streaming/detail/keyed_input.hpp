// How key_by hands records to a keyed operator on the same worker without
// copying them.
//
// Across workers, key_by ships each record as a Keyed<K, T> (key, key group,
// hash and value). With one worker there is nothing to ship, yet wrapping
// every record would still copy it once more. A keyed operator that derives
// from KeyedInput takes the records where they are, with their keys, hashes
// and key groups in arrays beside them.
#pragma once

#include <cstdint>
#include <vector>

#include "streaming/dataflow.hpp"
#include "streaming/stream.hpp"
#include "streaming/time.hpp"

namespace sluice::detail {

/// Record i of a batch of Keyed records, as keyed operators' per-record
/// loops read it (the same accessors as LocalKeyedView).
template <class K, class T>
struct KeyedView {
  Record<Keyed<K, T>>* records;
  std::size_t n;

  std::size_t size() const { return n; }
  Timestamp ts(std::size_t i) const { return records[i].ts_us; }
  const K& key(std::size_t i) const { return records[i].value.key; }
  std::uint64_t hash(std::size_t i) const { return records[i].value.key_hash; }
  std::uint32_t key_group(std::size_t i) const { return records[i].value.key_group; }
  T& value(std::size_t i) const { return records[i].value.value; }
  Record<Keyed<K, T>> take(std::size_t i) const { return std::move(records[i]); }
};

/// The routing of one record: its key, hash_key(key) and key group.
template <class K>
struct RecordKey {
  K key;
  std::uint64_t hash;
  std::uint32_t key_group;
};

/// out[i] := the key, hash and key group of records[i], by `route.key_of`
/// (key_by's routing, operators/key_by.hpp).
template <class Route, class T, class K>
void key_records(const Route& route, const Batch<T>& records, RecordKey<K>* out) {
  const std::size_t n = records.size();
  for (std::size_t i = 0; i < n; ++i) route.key_of(records[i].value, out[i].key, out[i].hash, out[i].key_group);
}

/// Records routed on this worker: record i is (*records)[i] and its key
/// keys[i]. The operator may move values out of `records`.
template <class K, class T>
struct LocalKeyedBatch {
  Batch<T>* records = nullptr;
  std::vector<RecordKey<K>> keys;

  std::size_t size() const { return records->size(); }
};

/// LocalKeyedBatch with its arrays as plain pointers, for per-record loops
/// (the compiler need not reload them after each store).
template <class K, class T>
struct LocalKeyedView {
  Record<T>* records;
  RecordKey<K>* keys;
  std::size_t n;

  explicit LocalKeyedView(LocalKeyedBatch<K, T>& b) : records(b.records->data()), keys(b.keys.data()), n(b.size()) {}
  std::size_t size() const { return n; }
  Timestamp ts(std::size_t i) const { return records[i].ts_us; }
  const K& key(std::size_t i) const { return keys[i].key; }
  std::uint64_t hash(std::size_t i) const { return keys[i].hash; }
  std::uint32_t key_group(std::size_t i) const { return keys[i].key_group; }
  T& value(std::size_t i) const { return records[i].value; }
  /// Record i as Keyed (moves its value and key out), for rare paths that need one.
  Record<Keyed<K, T>> take(std::size_t i) const {
    RecordKey<K>& k = keys[i];
    return Record<Keyed<K, T>>{Keyed<K, T>{std::move(k.key), k.key_group, std::move(records[i].value), k.hash},
                               records[i].ts_us};
  }
};

/// The input of a keyed operator that also takes LocalKeyedBatches.
template <class K, class T>
class KeyedInput : public Input<Keyed<K, T>> {
 public:
  virtual void push_local(LocalKeyedBatch<K, T>& batch) = 0;
};

}  // namespace sluice::detail
