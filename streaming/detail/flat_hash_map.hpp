// An open-addressing hash map (linear probing, backward-shift deletion) for
// per-key state on the hot path: one probe sequence in one array, no node
// allocation per key, unlike std::unordered_map.
//
// Pointers and references returned are valid until the next insertion or
// erase (which may move entries). Iteration order is unspecified.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>
#include <vector>

#include "streaming/key_groups.hpp"

namespace sluice::detail {

template <class K>
struct KeyHash {
  std::uint64_t operator()(const K& k) const { return hash_key(k); }
};

template <class K, class V, class Hash = KeyHash<K>>
class FlatHashMap {
 public:
  FlatHashMap() = default;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  V* find(const K& key) { return find_hashed(key, Hash{}(key)); }

  /// As find(), with `hash == Hash{}(key)` already computed by the caller.
  V* find_hashed(const K& key, std::uint64_t hash) {
    if (size_ == 0) return nullptr;
    Slot* slots = slots_.data();
    for (std::size_t i = static_cast<std::size_t>(hash) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots[i];
      if (!slot) return nullptr;
      if (slot->first == key) return &slot->second;
    }
  }
  const V* find(const K& key) const { return const_cast<FlatHashMap*>(this)->find(key); }

  /// Inserts `key` with V(args...) if absent. Returns the value and whether it was inserted.
  template <class... Args>
  std::pair<V*, bool> try_emplace(const K& key, Args&&... args) {
    return try_emplace_hashed(key, Hash{}(key), std::forward<Args>(args)...);
  }

  /// As try_emplace(), with `hash == Hash{}(key)` already computed by the caller.
  template <class... Args>
  std::pair<V*, bool> try_emplace_hashed(const K& key, std::uint64_t hash, Args&&... args) {
    if (size_ >= grow_at_) grow();
    Slot* slots = slots_.data();
    for (std::size_t i = static_cast<std::size_t>(hash) & mask_;; i = (i + 1) & mask_) {
      Slot& slot = slots[i];
      if (!slot) {
        slot.emplace(std::piecewise_construct, std::forward_as_tuple(key),
                     std::forward_as_tuple(std::forward<Args>(args)...));
        ++size_;
        return {&slot->second, true};
      }
      if (slot->first == key) return {&slot->second, false};
    }
  }

  /// Removes `key`; false if it was not there.
  bool erase(const K& key) {
    if (size_ == 0) return false;
    std::size_t i = home(key);
    for (;; i = (i + 1) & mask_) {
      if (!slots_[i]) return false;
      if (slots_[i]->first == key) break;
    }
    slots_[i].reset();
    --size_;
    // Backward shift: pull later entries of the probe run into the hole, so
    // lookups never need tombstones.
    for (std::size_t j = (i + 1) & mask_; slots_[j]; j = (j + 1) & mask_) {
      const std::size_t h = home(slots_[j]->first);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = std::move(slots_[j]);
        slots_[j].reset();
        i = j;
      }
    }
    return true;
  }

  /// Hints the CPU to fetch the slot where a key with this hash starts its
  /// probe, so a lookup a few records later does not wait on memory.
  void prefetch(std::uint64_t hash) const {
    __builtin_prefetch(slots_.data() + (static_cast<std::size_t>(hash) & mask_));  // a null base is harmless
  }

  void clear() {
    slots_.clear();
    mask_ = 0;
    size_ = 0;
    grow_at_ = 0;
  }

  /// Removes every entry but keeps the slot array, for a map that is about
  /// to fill up to the same size again.
  void clear_keep_capacity() {
    if (size_ == 0) return;
    for (auto& slot : slots_) slot.reset();
    size_ = 0;
  }

  /// Read-only iteration over entries as `const std::pair<K, V>&`, in
  /// unspecified order. Invalidated by any insertion or erase.
  class const_iterator {
   public:
    using value_type = std::pair<K, V>;
    using reference = const value_type&;
    using pointer = const value_type*;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::forward_iterator_tag;

    const_iterator() = default;
    reference operator*() const { return **slot_; }
    pointer operator->() const { return &**slot_; }
    const_iterator& operator++() {
      ++slot_;
      skip_empty();
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const { return slot_ == o.slot_; }

   private:
    friend class FlatHashMap;
    using Slot = std::optional<std::pair<K, V>>;
    const_iterator(const Slot* slot, const Slot* end) : slot_(slot), end_(end) { skip_empty(); }
    void skip_empty() {
      while (slot_ != end_ && !*slot_) ++slot_;
    }
    const Slot* slot_ = nullptr;
    const Slot* end_ = nullptr;
  };
  const_iterator begin() const { return const_iterator(slots_.data(), slots_.data() + slots_.size()); }
  const_iterator end() const { return const_iterator(slots_.data() + slots_.size(), slots_.data() + slots_.size()); }

  /// Calls f(const K&, V&) for every entry. f must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    for (auto& slot : slots_)
      if (slot) f(std::as_const(slot->first), slot->second);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& slot : slots_)
      if (slot) f(slot->first, slot->second);
  }

 private:
  std::size_t home(const K& key) const { return static_cast<std::size_t>(Hash{}(key)) & mask_; }

  void grow() {
    std::vector<std::optional<std::pair<K, V>>> old;
    old.swap(slots_);
    const std::size_t cap = old.empty() ? 16 : old.size() * 2;
    slots_.resize(cap);
    mask_ = cap - 1;
    grow_at_ = cap / 4 * 3;  // load factor at most 3/4
    size_ = 0;
    for (auto& slot : old)
      if (slot) {
        for (std::size_t i = home(slot->first);; i = (i + 1) & mask_)
          if (!slots_[i]) {
            slots_[i] = std::move(slot);
            ++size_;
            break;
          }
      }
  }

  std::vector<std::optional<std::pair<K, V>>> slots_;
  using Slot = std::optional<std::pair<K, V>>;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t grow_at_ = 0;  // grow before inserting at this size
};

}  // namespace sluice::detail
