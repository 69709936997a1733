// An open-addressing hash map for per-key state on the hot path: no node
// allocation per key (unlike std::unordered_map), and lookups that rarely
// mispredict a branch.
//
// Layout as in Abseil's SwissTable, with the portable 8-byte groups: beside
// the slots, one control byte per slot holds 7 bits of the key's hash (or
// "empty" / "deleted"). A lookup loads the 8 control bytes of a group as one
// word and finds the slots whose hash bits match with a few arithmetic
// instructions, so it compares keys only where the 7 bits already agree:
// usually exactly one key, the right one. Plain linear probing instead
// branches on every slot of a collision run, and runs vary, which costs a
// mispredicted branch on most lookups at a useful load factor.
//
// Pointers and references returned are valid until the next insertion
// (which may grow the table). Erase leaves a tombstone; iteration order is
// unspecified.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
  using Slot = std::optional<std::pair<K, V>>;
  static constexpr std::int8_t kEmpty = -128;   // 0b10000000
  static constexpr std::int8_t kDeleted = -2;   // 0b11111110
  static constexpr std::size_t kGroup = 8;      // control bytes read at once
  static constexpr std::uint64_t kLsbs = 0x0101010101010101ULL;
  static constexpr std::uint64_t kMsbs = 0x8080808080808080ULL;

 public:
  FlatHashMap() = default;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  V* find(const K& key) { return find_hashed(key, Hash{}(key)); }
  const V* find(const K& key) const { return const_cast<FlatHashMap*>(this)->find(key); }

  /// As find(), with `hash == Hash{}(key)` already computed by the caller.
  V* find_hashed(const K& key, std::uint64_t hash) {
    if (size_ == 0) return nullptr;
    const std::size_t i = locate(key, hash);
    return i == kNone ? nullptr : &slots_[i]->second;
  }

  /// Inserts `key` with V(args...) if absent. Returns the value and whether it was inserted.
  template <class... Args>
  std::pair<V*, bool> try_emplace(const K& key, Args&&... args) {
    return try_emplace_hashed(key, Hash{}(key), std::forward<Args>(args)...);
  }

  /// As try_emplace(), with `hash == Hash{}(key)` already computed by the caller.
  template <class... Args>
  std::pair<V*, bool> try_emplace_hashed(const K& key, std::uint64_t hash, Args&&... args) {
    if (size_ != 0) {
      const std::size_t i = locate(key, hash);
      if (i != kNone) return {&slots_[i]->second, false};
    }
    if (size_ + deleted_ >= grow_at_) rehash(size_ + 1 > grow_at_ / 2 ? capacity() * 2 : capacity());
    const std::size_t i = free_slot(hash);
    if (ctrl_[i] == kDeleted) --deleted_;
    set_ctrl(i, h2(hash));
    slots_[i].emplace(std::piecewise_construct, std::forward_as_tuple(key),
                      std::forward_as_tuple(std::forward<Args>(args)...));
    ++size_;
    return {&slots_[i]->second, true};
  }

  /// Removes `key`; false if it was not there.
  bool erase(const K& key) {
    if (size_ == 0) return false;
    const std::size_t i = locate(key, Hash{}(key));
    if (i == kNone) return false;
    slots_[i].reset();
    set_ctrl(i, kDeleted);
    --size_;
    ++deleted_;
    return true;
  }

  /// Hints the CPU to fetch where a lookup of this hash starts, so a lookup a
  /// few records later does not wait on memory.
  void prefetch(std::uint64_t hash) const {
    if (ctrl_.empty()) return;
    const std::size_t i = h1(hash) & mask_;
    __builtin_prefetch(ctrl_.data() + i);
    __builtin_prefetch(slots_.data() + i);
  }

  void clear() {
    slots_.clear();
    ctrl_.clear();
    mask_ = 0;
    size_ = 0;
    deleted_ = 0;
    grow_at_ = 0;
  }

  /// Removes every entry but keeps the arrays, for a map that is about to
  /// fill up to the same size again.
  void clear_keep_capacity() {
    if (size_ == 0 && deleted_ == 0) return;
    for (auto& slot : slots_) slot.reset();
    std::memset(ctrl_.data(), static_cast<unsigned char>(kEmpty), ctrl_.size());
    size_ = 0;
    deleted_ = 0;
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
  static constexpr std::size_t kNone = ~std::size_t{0};

  // The low 7 bits of the hash go to the control byte, the rest picks the
  // start of the probe.
  static std::size_t h1(std::uint64_t hash) { return static_cast<std::size_t>(hash >> 7); }
  static std::int8_t h2(std::uint64_t hash) { return static_cast<std::int8_t>(hash & 0x7F); }

  std::size_t capacity() const { return slots_.size(); }

  /// The 8 control bytes starting at i (the array repeats its first group
  /// past the end, so a group never wraps).
  std::uint64_t group(std::size_t i) const {
    std::uint64_t g;
    std::memcpy(&g, ctrl_.data() + i, sizeof g);
    return g;
  }
  /// Bytes of g equal to b, as their high bits (may also flag a byte right
  /// after a true match; the key comparison weeds those out).
  static std::uint64_t match(std::uint64_t g, std::int8_t b) {
    const std::uint64_t x = g ^ (kLsbs * static_cast<std::uint8_t>(b));
    return (x - kLsbs) & ~x & kMsbs;
  }
  static std::uint64_t match_empty(std::uint64_t g) { return g & (~g << 6) & kMsbs; }           // 0b10000000 only
  static std::uint64_t match_empty_or_deleted(std::uint64_t g) { return g & (~g << 7) & kMsbs; }  // 0b1xxxxxx0

  std::size_t locate(const K& key, std::uint64_t hash) const {
    const std::int8_t tag = h2(hash);
    for (std::size_t pos = h1(hash) & mask_;; pos = (pos + kGroup) & mask_) {
      const std::uint64_t g = group(pos);
      for (std::uint64_t m = match(g, tag); m != 0; m &= m - 1) {
        const std::size_t i = (pos + static_cast<std::size_t>(std::countr_zero(m)) / 8) & mask_;
        // Only full slots match a tag (empty and deleted bytes have the high bit set).
        if (slots_[i]->first == key) return i;
      }
      if (match_empty(g) != 0) return kNone;
    }
  }

  std::size_t free_slot(std::uint64_t hash) const {
    for (std::size_t pos = h1(hash) & mask_;; pos = (pos + kGroup) & mask_) {
      const std::uint64_t m = match_empty_or_deleted(group(pos));
      if (m != 0) return (pos + static_cast<std::size_t>(std::countr_zero(m)) / 8) & mask_;
    }
  }

  void set_ctrl(std::size_t i, std::int8_t c) {
    ctrl_[i] = c;
    if (i < kGroup) ctrl_[capacity() + i] = c;  // the mirrored first group
  }

  void rehash(std::size_t cap) {
    if (cap < 16) cap = 16;
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.resize(cap);
    ctrl_.assign(cap + kGroup, kEmpty);
    mask_ = cap - 1;
    grow_at_ = cap / 8 * 7;  // load factor at most 7/8
    size_ = 0;
    deleted_ = 0;
    for (auto& slot : old)
      if (slot) {
        const std::uint64_t hash = Hash{}(slot->first);
        const std::size_t i = free_slot(hash);
        set_ctrl(i, h2(hash));
        slots_[i] = std::move(slot);
        ++size_;
      }
  }

  std::vector<Slot> slots_;
  std::vector<std::int8_t> ctrl_;  // capacity + kGroup control bytes
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t deleted_ = 0;  // tombstones
  std::size_t grow_at_ = 0;  // rehash before size + tombstones reach this
};

}  // namespace sluice::detail
