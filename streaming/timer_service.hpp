// Timers of a keyed operator: event time (fire when the watermark reaches
// them) and processing time (fire when the clock does).
//
// A timer is (key, timestamp): registering the same one twice fires once.
// Timers that a firing timer registers at or before the current time fire in
// the same pass.
#pragma once

#include <map>
#include <vector>

#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/time.hpp"

namespace sluice::detail {

template <class K>
struct Timer {
  Timestamp ts_us;
  K key;
  std::uint32_t key_group;
};

/// Timers bucketed by timestamp. Window-style timers share timestamps (every
/// key's window ends at the same instant), so each distinct timestamp gets a
/// bucket: a vector of keys in registration order, with a per-bucket index
/// for de-duplication and deletion once it grows past a few entries. Firing
/// walks a bucket's vector linearly: far fewer cache misses than a heap of
/// individual timers, and ties fire in registration order (deterministic).
template <class K>
class TimerQueue {
 public:
  /// Registers (key, ts); false if it already was.
  bool add(const K& key, std::uint32_t key_group, Timestamp ts) {
    Bucket& b = bucket(ts);
    if (b.find(key) != kNone) return false;
    b.insert(key, key_group);
    ++size_;
    return true;
  }

  /// Deletes (key, ts); false if it was not registered.
  bool remove(const K& key, Timestamp ts) {
    auto it = buckets_.find(ts);
    if (it == buckets_.end()) return false;
    const std::uint32_t pos = it->second.find(key);
    if (pos == kNone) return false;
    it->second.kill(pos);
    --size_;
    return true;
  }

  /// Fires every live timer with ts <= `until`, in timestamp order (ties in
  /// registration order), calling fire(const Timer<K>&). fire may add or
  /// delete timers; ones added at or before `until` fire in this pass too.
  template <class Fire>
  std::size_t advance(Timestamp until, Fire&& fire) {
    std::size_t fired = 0;
    while (!buckets_.empty() && buckets_.begin()->first <= until) {
      auto it = buckets_.begin();
      const Timestamp ts = it->first;
      // Index-based: fire() may append to this very bucket.
      for (std::size_t i = 0; i < it->second.entries.size(); ++i) {
        Entry& e = it->second.entries[i];
        if (!e.alive) continue;
        Timer<K> t{ts, e.key, e.key_group};
        it->second.kill(static_cast<std::uint32_t>(i));
        --size_;
        fire(t);
        ++fired;
      }
      if (cached_ == &it->second) cached_ = nullptr;
      buckets_.erase(it);
    }
    return fired;
  }

  /// Live timers.
  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  static constexpr std::size_t kLinearLimit = 8;  // below this, find by scanning

  struct Entry {
    K key;
    std::uint32_t key_group;
    bool alive;
  };
  struct Bucket {
    std::vector<Entry> entries;
    FlatHashMap<K, std::uint32_t> index;  // key -> position of its live entry (large buckets only)

    std::uint32_t find(const K& key) const {
      if (entries.size() <= kLinearLimit) {
        for (std::size_t i = 0; i < entries.size(); ++i)
          if (entries[i].alive && entries[i].key == key) return static_cast<std::uint32_t>(i);
        return kNone;
      }
      const std::uint32_t* pos = index.find(key);
      return pos ? *pos : kNone;
    }
    void insert(const K& key, std::uint32_t key_group) {
      entries.push_back(Entry{key, key_group, true});
      if (entries.size() == kLinearLimit + 1) {
        for (std::size_t i = 0; i < entries.size(); ++i)
          if (entries[i].alive) index.try_emplace(entries[i].key, static_cast<std::uint32_t>(i));
      } else if (entries.size() > kLinearLimit + 1) {
        index.try_emplace(key, static_cast<std::uint32_t>(entries.size() - 1));
      }
    }
    void kill(std::uint32_t pos) {
      entries[pos].alive = false;
      if (entries.size() > kLinearLimit) index.erase(entries[pos].key);
    }
  };

  Bucket& bucket(Timestamp ts) {
    // Consecutive registrations usually share a timestamp (a window's end).
    if (cached_ != nullptr && cached_ts_ == ts) return *cached_;
    Bucket& b = buckets_[ts];
    cached_ = &b;
    cached_ts_ = ts;
    return b;
  }

  std::map<Timestamp, Bucket> buckets_;
  Bucket* cached_ = nullptr;
  Timestamp cached_ts_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sluice::detail
