// Keyed state: values, lists and maps scoped to the key being processed.
//
// A keyed operator declares state by name (`ctx.value_state<V>("count")`);
// the name is the state's identity (later: in checkpoints and savepoints).
// Every access is scoped to the current key, which the operator sets before
// calling user code. State lives in memory, one hash table per key group, so
// a snapshot can be taken per key group and restored on any worker count.
// Handles are cheap to copy and valid for the life of the operator; use
// them only inside process/on_timer calls (on the worker's thread).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/errors.hpp"
#include "streaming/serde.hpp"

namespace sluice {

namespace detail {

/// The key being processed, set by the operator before each user call.
template <class K>
struct KeyContext {
  const K* key = nullptr;
  std::uint32_t key_group = 0;
  std::uint64_t hash = 0;  ///< hash_key(*key), computed once per record
};

class StateTableBase {
 public:
  virtual ~StateTableBase() = default;
  virtual const std::type_info& type() const = 0;
  /// Number of keys with state.
  virtual std::size_t size() const = 0;
  /// Starts fetching the slot of a key (see FlatHashMap::prefetch).
  virtual void prefetch(std::uint32_t key_group, std::uint64_t hash) const = 0;

  // Checkpoints.
  /// The first of the key and value types without a Serde, "" if both have one.
  virtual std::string unserializable() const = 0;
  /// Key group `kg`'s entry of `key` (a K, hashing to `hash`) is about to
  /// change while a snapshot of the group is still to be written: keeps the
  /// entry as it is now (or that there is none), once per key, for
  /// write_group (copy-on-write).
  virtual void preserve(std::uint32_t kg, const void* key, std::uint64_t hash) = 0;
  /// Writes key group `kg`'s entries: as they were when preserve() was first
  /// called for each key preserved since the last write_group of the group,
  /// as they are for the others. Forgets what was preserved. Precondition:
  /// unserializable() is "".
  virtual void write_group(std::uint32_t kg, StateWriter& w) const = 0;
  /// Reads what write_group wrote into key group `kg`, which must be empty.
  virtual void read_group(std::uint32_t kg, StateReader& r) = 0;
  /// Writes the entry of `key` (a K hashing to `hash`) in key group `kg`
  /// as write_group would (preserved or live): whether there is one, then
  /// the value. For deltas.
  virtual void write_entry(std::uint32_t kg, const void* key, std::uint64_t hash, StateWriter& w) const = 0;
  /// Reads what write_entry wrote and sets (or removes) the entry of `key`.
  virtual void read_entry(std::uint32_t kg, const void* key, std::uint64_t hash, StateReader& r) = 0;
  /// Forgets what preserve() kept for key group `kg` (its snapshot is written).
  virtual void forget_preserved(std::uint32_t kg) const = 0;
  /// Keys with state in key group `kg`.
  virtual std::size_t group_size(std::uint32_t kg) const = 0;
};

/// The state of one name: per local key group, key -> V.
template <class K, class V>
class StateTable final : public StateTableBase {
 public:
  StateTable(std::uint32_t first_key_group, std::uint32_t key_groups)
      : first_(first_key_group), groups_(key_groups), preserved_(key_groups) {}
  const std::type_info& type() const override { return typeid(StateTable); }
  std::size_t size() const override {
    std::size_t n = 0;
    for (const auto& g : groups_) n += g.size();
    return n;
  }
  void prefetch(std::uint32_t key_group, std::uint64_t hash) const override {
    groups_[key_group - first_].prefetch(hash);
  }
  std::string unserializable() const override { return first_unserializable<K, V>(); }
  void preserve(std::uint32_t kg, const void* key, std::uint64_t hash) override {
    const K& k = *static_cast<const K*>(key);
    FlatHashMap<K, std::optional<V>>& kept = preserved_[kg - first_];
    if (kept.find_hashed(k, hash) != nullptr) return;  // kept already: the snapshot's value
    const V* now = groups_[kg - first_].find_hashed(k, hash);
    kept.try_emplace_hashed(k, hash, now != nullptr ? std::optional<V>(*now) : std::nullopt);
  }
  void write_group(std::uint32_t kg, StateWriter& w) const override {
    if constexpr (Serializable<K> && Serializable<V>) {
      const FlatHashMap<K, V>& live = groups_[kg - first_];
      FlatHashMap<K, std::optional<V>>& kept = preserved_[kg - first_];
      if (kept.empty()) return w.write(live);
      // Serde<FlatHashMap>'s encoding (count, then entries) of the group as
      // it was: untouched live entries, then the kept ones that existed.
      std::size_t n = 0;
      live.for_each([&](const K& k, const V&) { n += kept.find(k) == nullptr; });
      kept.for_each([&](const K&, const std::optional<V>& v) { n += v.has_value(); });
      w.write_varint(n);
      live.for_each([&](const K& k, const V& v) {
        if (kept.find(k) != nullptr) return;
        w.write(k);
        w.write(v);
      });
      kept.for_each([&](const K& k, const std::optional<V>& v) {
        if (!v) return;
        w.write(k);
        w.write(*v);
      });
      kept = {};
    }
  }
  void read_group(std::uint32_t kg, StateReader& r) override {
    if constexpr (Serializable<K> && Serializable<V>) groups_[kg - first_] = r.read<FlatHashMap<K, V>>();
  }
  void write_entry(std::uint32_t kg, const void* key, std::uint64_t hash, StateWriter& w) const override {
    if constexpr (Serializable<K> && Serializable<V>) {
      const K& k = *static_cast<const K*>(key);
      const V* v = nullptr;
      if (const std::optional<V>* kept = preserved_[kg - first_].find_hashed(k, hash))
        v = kept->has_value() ? &**kept : nullptr;
      else
        v = const_cast<FlatHashMap<K, V>&>(groups_[kg - first_]).find_hashed(k, hash);
      w.write(v != nullptr);
      if (v != nullptr) w.write(*v);
    }
  }
  void read_entry(std::uint32_t kg, const void* key, std::uint64_t hash, StateReader& r) override {
    if constexpr (Serializable<K> && Serializable<V>) {
      const K& k = *static_cast<const K*>(key);
      FlatHashMap<K, V>& g = groups_[kg - first_];
      if (r.read<bool>()) {
        V v = r.read<V>();
        auto [slot, inserted] = g.try_emplace_hashed(k, hash, std::move(v));
        if (!inserted) *slot = std::move(v);  // not moved from: try_emplace did not insert
      } else {
        g.erase(k);
      }
    }
  }
  void forget_preserved(std::uint32_t kg) const override { preserved_[kg - first_] = {}; }
  std::size_t group_size(std::uint32_t kg) const override { return groups_[kg - first_].size(); }

  FlatHashMap<K, V>& group(std::uint32_t key_group) { return groups_[key_group - first_]; }
  std::uint32_t first_key_group() const { return first_; }
  std::size_t key_group_count() const { return groups_.size(); }

 private:
  std::uint32_t first_;
  std::vector<FlatHashMap<K, V>> groups_;
  // Per group, what preserve() kept for the snapshot being written (a key's
  // entry then, nullopt: it had none). Mutable: write_group forgets it.
  mutable std::vector<FlatHashMap<K, std::optional<V>>> preserved_;
};

/// All named states of one keyed operator instance.
template <class K>
class KeyedStateBackend {
 public:
  KeyedStateBackend(std::string operator_name, std::uint32_t first_key_group, std::uint32_t key_groups)
      : operator_name_(std::move(operator_name)), first_(first_key_group), count_(key_groups) {}

  template <class V>
  StateTable<K, V>& table(const std::string& name) {
    for (auto& [n, t] : tables_) {
      if (n != name) continue;
      if (t->type() != typeid(StateTable<K, V>))
        throw TypeMismatchError(operator_name_, name, "state already declared with another type");
      return static_cast<StateTable<K, V>&>(*t);
    }
    auto t = std::make_unique<StateTable<K, V>>(first_, count_);
    StateTable<K, V>& ref = *t;
    tables_.emplace_back(name, std::move(t));
    return ref;
  }
  /// The state named `name`, whatever its type, or null.
  StateTableBase* find(std::string_view name) {
    for (auto& [n, t] : tables_)
      if (n == name) return t.get();
    return nullptr;
  }
  /// Every state, in declaration order.
  const std::vector<std::pair<std::string, std::unique_ptr<StateTableBase>>>& tables() const { return tables_; }

  KeyContext<K>& key_context() { return key_; }

  // ---- deltas: which keys changed since a group's last written section ----

  /// From now on notes which keys change (note_changed), for deltas.
  void track_changed_keys() {
    changed_.assign(count_, {});
    snap_changed_.assign(count_, {});
  }
  /// The current key's entries may change (a no-op unless tracking). A
  /// group where more than an eighth of the keys (and over 64) changed
  /// stops noting: its next section is written in full.
  void note_changed() {
    if (changed_.empty()) return;
    ChangedKeys& c = changed_[key_.key_group - first_];
    if (c.too_many) return;
    if (!c.keys.try_emplace_hashed(*key_.key, key_.hash, '\0').second) return;
    if (c.keys.size() > kMinDeltaKeys && c.keys.size() * 8 > group_size(key_.key_group)) {
      c.too_many = true;
      c.keys = {};
    }
  }
  /// Whether a delta can stand for key group `kg`'s changes.
  bool delta_ready(std::uint32_t kg) const { return !changed_.empty() && !changed_[kg - first_].too_many; }
  /// Group kg's section is taken at a barrier: as a delta (what changed is
  /// kept for write_delta) or in full (forgotten).
  void begin_section(std::uint32_t kg, bool delta) {
    if (changed_.empty()) return;
    ChangedKeys& c = changed_[kg - first_];
    snap_changed_[kg - first_] = delta ? std::move(c.keys) : FlatHashMap<K, char>{};
    c = {};
  }
  /// Writes key group `kg`'s delta: the states' names, then each changed
  /// key with its entry in every state, as of the barrier.
  void write_delta(std::uint32_t kg, StateWriter& w) const {
    if constexpr (Serializable<K>) {
      w.write_varint(tables_.size());
      for (const auto& [name, t] : tables_) w.write(name);
      FlatHashMap<K, char>& keys = snap_changed_[kg - first_];
      w.write_varint(keys.size());
      keys.for_each([&](const K& k, char) {
        w.write(k);
        const std::uint64_t h = hash_key(k);
        for (const auto& [name, t] : tables_) t->write_entry(kg, &k, h, w);
      });
      for (const auto& [name, t] : tables_) t->forget_preserved(kg);
      keys = {};
    }
  }
  /// Applies what write_delta wrote to key group `kg`.
  void read_delta(std::uint32_t kg, StateReader& r) {
    if constexpr (Serializable<K>) {
      const std::size_t n = r.read_count(ReadContext::of<KeyedStateBackend>("state count"), 1);
      std::vector<StateTableBase*> tables;
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = r.offset();
        const std::string name = r.read<std::string>();
        StateTableBase* t = find(name);
        if (t == nullptr)
          throw StateFormatError("state '" + name + "'", at,
                                 "the checkpoint holds it, but the function's open() does not declare it");
        tables.push_back(t);
      }
      const std::size_t keys = r.read_count(ReadContext::of<KeyedStateBackend>("changed key count"),
                                            min_encoded_size<K>() + tables.size());
      for (std::size_t i = 0; i < keys; ++i) {
        const K k = r.read<K>();
        const std::uint64_t h = hash_key(k);
        for (StateTableBase* t : tables) t->read_entry(kg, &k, h, r);
      }
    }
  }
  /// The current key's entries are about to change while a snapshot of its
  /// group is still to be written: every state keeps them as they are.
  void preserve_current_key() {
    for (auto& [name, t] : tables_) t->preserve(key_.key_group, key_.key, key_.hash);
  }
  void prefetch(std::uint32_t key_group, std::uint64_t hash) const {
    for (const auto& [name, t] : tables_) t->prefetch(key_group, hash);
  }
  /// Keys with state, summed over all names.
  std::size_t size() const {
    std::size_t n = 0;
    for (const auto& [name, t] : tables_) n += t->size();
    return n;
  }

 private:
  std::size_t group_size(std::uint32_t kg) const {
    std::size_t n = 0;
    for (const auto& [name, t] : tables_) n += t->group_size(kg);
    return n;
  }

  static constexpr std::size_t kMinDeltaKeys = 64;
  struct ChangedKeys {
    FlatHashMap<K, char> keys;
    bool too_many = false;
  };

  std::string operator_name_;
  std::uint32_t first_, count_;
  KeyContext<K> key_;
  std::vector<ChangedKeys> changed_;                      // per local group (empty: not tracking)
  mutable std::vector<FlatHashMap<K, char>> snap_changed_;  // per local group: a delta's keys, until written
  std::vector<std::pair<std::string, std::unique_ptr<StateTableBase>>> tables_;
};

}  // namespace detail

/// One value per key.
template <class K, class V>
class ValueState {
 public:
  ValueState() = default;
  ValueState(detail::StateTable<K, V>& table, const detail::KeyContext<K>& key) : table_(&table), key_(&key) {}

  /// The current key's value, or nullptr. Valid until the next state change.
  V* get() const { return table_->group(key_->key_group).find_hashed(*key_->key, key_->hash); }
  /// The current key's value, created from `args` if absent.
  template <class... Args>
  V& get_or_insert(Args&&... args) const {
    return *table_->group(key_->key_group).try_emplace_hashed(*key_->key, key_->hash, std::forward<Args>(args)...).first;
  }
  /// The current key's value as an optional copy.
  std::optional<V> value() const {
    V* v = get();
    return v ? std::optional<V>(*v) : std::nullopt;
  }
  void set(V value) const {
    auto [slot, inserted] = table_->group(key_->key_group).try_emplace_hashed(*key_->key, key_->hash, std::move(value));
    if (!inserted) *slot = std::move(value);
  }
  /// Removes the current key's value (no-op if absent).
  void clear() const { table_->group(key_->key_group).erase(*key_->key); }

 private:
  detail::StateTable<K, V>* table_ = nullptr;
  const detail::KeyContext<K>* key_ = nullptr;
};

/// A list of values per key.
template <class K, class V>
class ListState {
 public:
  ListState() = default;
  ListState(detail::StateTable<K, std::vector<V>>& table, const detail::KeyContext<K>& key)
      : table_(&table), key_(&key) {}

  void add(V value) const {
    table_->group(key_->key_group).try_emplace_hashed(*key_->key, key_->hash).first->push_back(std::move(value));
  }
  /// The current key's list (empty if none). Valid until the next state change.
  const std::vector<V>& get() const {
    static const std::vector<V> kEmpty;
    const std::vector<V>* v = table_->group(key_->key_group).find_hashed(*key_->key, key_->hash);
    return v ? *v : kEmpty;
  }
  void update(std::vector<V> values) const {
    if (values.empty()) return clear();
    *table_->group(key_->key_group).try_emplace_hashed(*key_->key, key_->hash).first = std::move(values);
  }
  void clear() const { table_->group(key_->key_group).erase(*key_->key); }

 private:
  detail::StateTable<K, std::vector<V>>* table_ = nullptr;
  const detail::KeyContext<K>* key_ = nullptr;
};

/// A map per key. The inner map is an open-addressing hash map: no
/// allocation per entry. `entries()` iterates as `const std::pair<UK, UV>&`
/// in unspecified order; pointers from get() are valid until the next change.
template <class K, class UK, class UV>
class MapState {
 public:
  using Map = detail::FlatHashMap<UK, UV>;
  MapState() = default;
  MapState(detail::StateTable<K, Map>& table, const detail::KeyContext<K>& key) : table_(&table), key_(&key) {}

  void put(const UK& k, UV v) const {
    Map& m = *table_->group(key_->key_group).try_emplace_hashed(*key_->key, key_->hash).first;
    auto [slot, inserted] = m.try_emplace(k, std::move(v));
    if (!inserted) *slot = std::move(v);
  }
  /// The value under `k` for the current key, or nullptr.
  UV* get(const UK& k) const {
    Map* m = table_->group(key_->key_group).find_hashed(*key_->key, key_->hash);
    return m ? m->find(k) : nullptr;
  }
  bool contains(const UK& k) const { return get(k) != nullptr; }
  void remove(const UK& k) const {
    Map* m = table_->group(key_->key_group).find_hashed(*key_->key, key_->hash);
    if (!m) return;
    m->erase(k);
    if (m->empty()) clear();
  }
  /// All entries of the current key (empty if none).
  const Map& entries() const {
    static const Map kEmpty;
    const Map* m = table_->group(key_->key_group).find_hashed(*key_->key, key_->hash);
    return m ? *m : kEmpty;
  }
  void clear() const { table_->group(key_->key_group).erase(*key_->key); }

 private:
  detail::StateTable<K, Map>* table_ = nullptr;
  const detail::KeyContext<K>* key_ = nullptr;
};

}  // namespace sluice
