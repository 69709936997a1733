// An open-addressing hash map for per-key state on the hot path: no node
// allocation per key (unlike std::unordered_map), and lookups that rarely
// mispredict a branch.
//
// Layout as in Abseil's SwissTable: beside the slots, one control byte per
// slot holds 7 bits of the key's hash (or "empty" / "deleted"). A lookup
// loads the control bytes of a group (16 with SSE2, else 8 as one word) and
// finds the slots whose hash bits match in a few instructions, so it compares keys only where the 7 bits already agree:
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
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "streaming/key_groups.hpp"

namespace sluice::detail {

namespace ctrl {
inline constexpr std::int8_t kEmpty = -128;  // 0b10000000
inline constexpr std::int8_t kDeleted = -2;  // 0b11111110
// Full slots hold 7 hash bits: 0b0xxxxxxx.
}  // namespace ctrl

#if defined(__SSE2__)
/// 16 control bytes compared at once with SSE2: a match is one compare and
/// one movemask, with a bit per byte and no false positives.
class Sse2CtrlGroup {
 public:
  static constexpr std::size_t kWidth = 16;
  using Mask = std::uint32_t;
  explicit Sse2CtrlGroup(const std::int8_t* p) : g_(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))) {}
  Mask match(std::int8_t tag) const {
    // Broadcast by multiplying: 3 instructions where _mm_set1_epi8 takes 4.
    const auto word = static_cast<long long>(static_cast<std::uint8_t>(tag) * 0x0101010101010101ULL);
    return mask(_mm_cmpeq_epi8(g_, _mm_set1_epi64x(word)));
  }
  Mask match_empty() const { return mask(_mm_cmpeq_epi8(g_, _mm_set1_epi8(ctrl::kEmpty))); }
  // Empty and deleted are the control bytes below -1.
  Mask match_empty_or_deleted() const { return mask(_mm_cmpgt_epi8(_mm_set1_epi8(-1), g_)); }
  /// Offset within the group of the lowest match in m.
  static std::size_t index(Mask m) { return static_cast<std::uint32_t>(std::countr_zero(m)); }

 private:
  static Mask mask(__m128i v) { return static_cast<Mask>(_mm_movemask_epi8(v)); }
  __m128i g_;
};
#endif

/// 8 control bytes compared at once as one word (portable): a match sets
/// the high bit of each matching byte.
class WordCtrlGroup {
 public:
  static constexpr std::size_t kWidth = 8;
  using Mask = std::uint64_t;
  explicit WordCtrlGroup(const std::int8_t* p) { std::memcpy(&g_, p, sizeof g_); }
  /// May also flag a byte right after a true match; the key comparison
  /// weeds those out.
  Mask match(std::int8_t tag) const {
    const std::uint64_t x = g_ ^ (kLsbs * static_cast<std::uint8_t>(tag));
    return (x - kLsbs) & ~x & kMsbs;
  }
  Mask match_empty() const { return g_ & (~g_ << 6) & kMsbs; }             // 0b10000000 only
  Mask match_empty_or_deleted() const { return g_ & (~g_ << 7) & kMsbs; }  // 0b1xxxxxx0
  static std::size_t index(Mask m) { return static_cast<std::size_t>(std::countr_zero(m)) / 8; }

 private:
  static constexpr std::uint64_t kLsbs = 0x0101010101010101ULL;
  static constexpr std::uint64_t kMsbs = 0x8080808080808080ULL;
  std::uint64_t g_;
};

#if defined(__SSE2__)
using DefaultCtrlGroup = Sse2CtrlGroup;
#else
using DefaultCtrlGroup = WordCtrlGroup;
#endif

template <class K>
struct KeyHash {
  std::uint64_t operator()(const K& k) const { return hash_key(k); }
};

/// `CtrlGroup`: how control bytes are matched (the default suits the
/// platform; tests run both).
template <class K, class V, class Hash = KeyHash<K>, class CtrlGroup = DefaultCtrlGroup>
class FlatHashMap {
  using Entry = std::pair<K, V>;
  // The control byte already says which slots are full. Entries that are
  // trivially destructible and default-constructible (counts, sums, ids) sit
  // in the slots as they are: a free slot holds a stale or default entry,
  // nothing to destroy. Others need a std::optional's flag (8 bytes more per
  // slot for a 24-byte entry, i.e. more cache misses on a hot table).
  static constexpr bool kCompact = std::is_trivially_destructible_v<Entry> && std::is_default_constructible_v<K> &&
                                   std::is_default_constructible_v<V>;
  using Slot = std::conditional_t<kCompact, Entry, std::optional<Entry>>;
  static constexpr std::int8_t kEmpty = ctrl::kEmpty;
  static constexpr std::int8_t kDeleted = ctrl::kDeleted;
  static constexpr std::size_t kGroup = CtrlGroup::kWidth;  // control bytes read at once

 public:
  /// Bytes per slot (the table holds capacity slots plus a control byte each).
  static constexpr std::size_t kSlotBytes = sizeof(Slot);

  FlatHashMap() = default;
  // The control pointer points into ctrl_ (or at the shared empty group),
  // so copies and moves re-aim it.
  FlatHashMap(const FlatHashMap& o)
      : slots_(o.slots_), ctrl_(o.ctrl_), mask_(o.mask_), size_(o.size_), deleted_(o.deleted_), grow_at_(o.grow_at_) {
    aim_ctrl();
  }
  FlatHashMap(FlatHashMap&& o) noexcept
      : slots_(std::move(o.slots_)),
        ctrl_(std::move(o.ctrl_)),
        mask_(o.mask_),
        size_(o.size_),
        deleted_(o.deleted_),
        grow_at_(o.grow_at_) {
    aim_ctrl();
    o.clear();
  }
  FlatHashMap& operator=(const FlatHashMap& o) {
    if (this != &o) *this = FlatHashMap(o);
    return *this;
  }
  FlatHashMap& operator=(FlatHashMap&& o) noexcept {
    if (this == &o) return *this;
    slots_ = std::move(o.slots_);
    ctrl_ = std::move(o.ctrl_);
    mask_ = o.mask_;
    size_ = o.size_;
    deleted_ = o.deleted_;
    grow_at_ = o.grow_at_;
    aim_ctrl();
    o.clear();
    return *this;
  }
  ~FlatHashMap() = default;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Makes room for `n` entries without growing on the way (one rehash now
  /// instead of one per doubling: reading a snapshot back).
  void reserve(std::size_t n) {
    if (n < grow_at_ - deleted_) return;
    std::size_t cap = 16;
    while (cap / 8 * 7 <= n) cap *= 2;
    rehash(cap);
  }

  V* find(const K& key) { return find_hashed(key, Hash{}(key)); }
  const V* find(const K& key) const { return const_cast<FlatHashMap*>(this)->find(key); }

  /// As find(), with `hash == Hash{}(key)` already computed by the caller.
  V* find_hashed(const K& key, std::uint64_t hash) {
    const std::size_t i = locate(key, hash);
    return i == kNone ? nullptr : &entry(i).second;
  }

  /// Inserts `key` with V(args...) if absent. Returns the value and whether it was inserted.
  template <class... Args>
  std::pair<V*, bool> try_emplace(const K& key, Args&&... args) {
    return try_emplace_hashed(key, Hash{}(key), std::forward<Args>(args)...);
  }

  /// As try_emplace(), with `hash == Hash{}(key)` already computed by the caller.
  /// The lookup is inline; the insertion, rare on hot paths, is not.
  template <class... Args>
  std::pair<V*, bool> try_emplace_hashed(const K& key, std::uint64_t hash, Args&&... args) {
    // An empty table (no arrays yet) reads the shared empty group: no tag
    // matches, so it needs no check of its own.
    const std::int8_t tag = h2(hash);
    for (std::size_t pos = h1(hash) & mask_;; pos = (pos + kGroup) & mask_) {
      const CtrlGroup g = group(pos);
      for (auto m = g.match(tag); m != 0; m &= m - 1) {
        const std::size_t i = (pos + CtrlGroup::index(m)) & mask_;
        if (entry(i).first == key) [[likely]] return {&entry(i).second, false};
      }
      if (g.match_empty() != 0) [[likely]] break;
    }
    return {insert_new(key, hash, std::forward<Args>(args)...), true};
  }

  /// Removes `key`; false if it was not there.
  bool erase(const K& key) {
    const std::size_t i = locate(key, Hash{}(key));
    if (i == kNone) return false;
    if constexpr (!kCompact) slots_[i].reset();
    set_ctrl(i, kDeleted);
    --size_;
    ++deleted_;
    return true;
  }

  /// Hints the CPU to fetch where a lookup of this hash starts, so a lookup a
  /// few records later does not wait on memory.
  void prefetch(std::uint64_t hash) const {
    const std::size_t i = h1(hash) & mask_;
    __builtin_prefetch(ctrl_ptr_ + i);
    __builtin_prefetch(slots_.data() + i);
  }

  void clear() {
    slots_.clear();
    ctrl_.clear();
    ctrl_ptr_ = kEmptyGroup;
    mask_ = 0;
    size_ = 0;
    deleted_ = 0;
    grow_at_ = 0;
  }

  /// Removes every entry but keeps the arrays, for a map that is about to
  /// fill up to the same size again.
  void clear_keep_capacity() {
    if (size_ == 0 && deleted_ == 0) return;
    if constexpr (!kCompact)
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
    reference operator*() const { return entry_of(*slot_); }
    pointer operator->() const { return &entry_of(*slot_); }
    const_iterator& operator++() {
      ++slot_;
      ++ctrl_;
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
    const_iterator(const Slot* slot, const Slot* end, const std::int8_t* ctrl) : slot_(slot), end_(end), ctrl_(ctrl) {
      skip_empty();
    }
    void skip_empty() {
      while (slot_ != end_ && *ctrl_ < 0) {
        ++slot_;
        ++ctrl_;
      }
    }
    const Slot* slot_ = nullptr;
    const Slot* end_ = nullptr;
    const std::int8_t* ctrl_ = nullptr;  // the control byte of slot_
  };
  const_iterator begin() const {
    return const_iterator(slots_.data(), slots_.data() + slots_.size(), ctrl_ptr_);
  }
  const_iterator end() const {
    const Slot* e = slots_.data() + slots_.size();
    return const_iterator(e, e, ctrl_ptr_ + slots_.size());
  }

  /// Calls f(const K&, V&) for every entry. f must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (full(i)) f(std::as_const(entry(i).first), entry(i).second);
  }
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (full(i)) f(entry(i).first, entry(i).second);
  }

 private:
  static constexpr std::size_t kNone = ~std::size_t{0};

  // The low 7 bits of the hash go to the control byte, the rest picks the
  // start of the probe.
  static std::size_t h1(std::uint64_t hash) { return static_cast<std::size_t>(hash >> 7); }
  static std::int8_t h2(std::uint64_t hash) { return static_cast<std::int8_t>(hash & 0x7F); }

  std::size_t capacity() const { return slots_.size(); }

  static Entry& entry_of(Slot& s) {
    if constexpr (kCompact)
      return s;
    else
      return *s;
  }
  static const Entry& entry_of(const Slot& s) {
    if constexpr (kCompact)
      return s;
    else
      return *s;
  }
  Entry& entry(std::size_t i) { return entry_of(slots_[i]); }
  const Entry& entry(std::size_t i) const { return entry_of(slots_[i]); }
  bool full(std::size_t i) const { return ctrl_ptr_[i] >= 0; }

  /// The control bytes starting at i (the array repeats its first group
  /// past the end, so a group never wraps).
  CtrlGroup group(std::size_t i) const { return CtrlGroup(ctrl_ptr_ + i); }

  void aim_ctrl() { ctrl_ptr_ = ctrl_.empty() ? kEmptyGroup : ctrl_.data(); }

  std::size_t locate(const K& key, std::uint64_t hash) const {
    const std::int8_t tag = h2(hash);
    for (std::size_t pos = h1(hash) & mask_;; pos = (pos + kGroup) & mask_) {
      const CtrlGroup g = group(pos);
      for (auto m = g.match(tag); m != 0; m &= m - 1) {
        const std::size_t i = (pos + CtrlGroup::index(m)) & mask_;
        // Only full slots match a tag (empty and deleted bytes have the high bit set).
        if (entry(i).first == key) return i;
      }
      if (g.match_empty() != 0) return kNone;
    }
  }

  /// Inserts `key`, known to be absent.
  template <class... Args>
  [[gnu::noinline]] V* insert_new(const K& key, std::uint64_t hash, Args&&... args) {
    if (size_ + deleted_ >= grow_at_) rehash(size_ + 1 > grow_at_ / 2 ? capacity() * 2 : capacity());
    const std::size_t i = free_slot(hash);
    if (ctrl_[i] == kDeleted) --deleted_;
    set_ctrl(i, h2(hash));
    if constexpr (kCompact)
      std::construct_at(&slots_[i], std::piecewise_construct, std::forward_as_tuple(key),
                        std::forward_as_tuple(std::forward<Args>(args)...));
    else
      slots_[i].emplace(std::piecewise_construct, std::forward_as_tuple(key),
                        std::forward_as_tuple(std::forward<Args>(args)...));
    ++size_;
    return &entry(i).second;
  }

  std::size_t free_slot(std::uint64_t hash) const {
    for (std::size_t pos = h1(hash) & mask_;; pos = (pos + kGroup) & mask_) {
      const auto m = group(pos).match_empty_or_deleted();
      if (m != 0) return (pos + CtrlGroup::index(m)) & mask_;
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
    std::vector<std::int8_t> old_ctrl;
    old_ctrl.swap(ctrl_);
    slots_.resize(cap);
    ctrl_.assign(cap + kGroup, kEmpty);
    ctrl_ptr_ = ctrl_.data();
    mask_ = cap - 1;
    grow_at_ = cap / 8 * 7;  // load factor at most 7/8
    size_ = 0;
    deleted_ = 0;
    for (std::size_t j = 0; j < old.size(); ++j)
      if (old_ctrl[j] >= 0) {
        const std::uint64_t hash = Hash{}(entry_of(old[j]).first);
        const std::size_t i = free_slot(hash);
        set_ctrl(i, h2(hash));
        if constexpr (kCompact)
          std::construct_at(&slots_[i], std::move(old[j]));
        else
          slots_[i] = std::move(old[j]);
        ++size_;
      }
  }

  std::vector<Slot> slots_;
  /// What a table without arrays reads: one group of empty slots.
  static_assert(kGroup <= 16);
  static constexpr std::int8_t kEmptyGroup[16] = {kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty,
                                                      kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty};
  std::vector<std::int8_t> ctrl_;  // capacity + kGroup control bytes
  const std::int8_t* ctrl_ptr_ = kEmptyGroup;  // ctrl_.data(), or kEmptyGroup while ctrl_ is empty
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t deleted_ = 0;  // tombstones
  std::size_t grow_at_ = 0;  // rehash before size + tombstones reach this
};

}  // namespace sluice::detail
