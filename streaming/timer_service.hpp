// Timers of a keyed operator: event time (fire when the watermark reaches
// them) and processing time (fire when the clock does).
//
// A timer is (key, timestamp): registering the same one twice fires once.
// Timers that a firing timer registers at or before the current time fire in
// the same pass.
//
// Checkpoints: timers are keyed state, so a snapshot writes those of each key
// group into the group's section (write_key_group_timers) and a restore
// gathers the groups' timers and registers them at once (RestoredTimers), in
// the order they would have fired: by timestamp, then by their place among
// the ties (kept from the run that wrote them).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/serde.hpp"
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

  /// Calls f(ts, order, key, key_group) for every live timer, in firing
  /// order; `order` ranks the timer among those of its timestamp.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [ts, b] : buckets_)
      for (std::size_t i = 0; i < b.entries.size(); ++i)
        if (b.entries[i].alive) f(ts, static_cast<std::uint64_t>(i), b.entries[i].key, b.entries[i].key_group);
  }

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

/// A timer as a snapshot holds it: `order` ranks it among the timers of its
/// timestamp, in registration order.
template <class K>
struct SavedTimer {
  Timestamp ts_us;
  std::uint64_t order;
  K key;
  std::uint32_t key_group;
};

/// The live timers of `q` sorted into key groups [first, first + count):
/// out[kg - first] in firing order. One pass over the queue, for a snapshot.
/// Key: `const K*` points into the queue (valid until it changes), `K`
/// copies (for a snapshot written after the queue moved on).
template <class K, class Key>
  requires(std::is_same_v<Key, K> || std::is_same_v<Key, const K*>)
void timers_by_key_group(const TimerQueue<K>& q, std::uint32_t first, std::uint32_t count,
                         std::vector<std::vector<SavedTimer<Key>>>& out) {
  out.assign(count, {});
  q.for_each([&](Timestamp ts, std::uint64_t order, const K& key, std::uint32_t kg) {
    if constexpr (std::is_pointer_v<Key>)
      out[kg - first].push_back(SavedTimer<Key>{ts, order, &key, kg});
    else
      out[kg - first].push_back(SavedTimer<Key>{ts, order, key, kg});
  });
}

/// Writes one key group's timers (from timers_by_key_group).
template <class Key>
void write_key_group_timers(StateWriter& w, const std::vector<SavedTimer<Key>>& timers) {
  w.write_varint(timers.size());
  for (const SavedTimer<Key>& t : timers) {
    w.write(t.ts_us);
    w.write_varint(t.order);
    if constexpr (std::is_pointer_v<Key>)
      w.write(*t.key);
    else
      w.write(t.key);
  }
}

/// The timers of the key groups a restore reads, registered all at once
/// (restore_into) so that ties fire in their saved order whatever order the
/// key groups were read in.
template <class K>
class RestoredTimers {
 public:
  /// Reads the timers write_key_group_timers wrote for key group `kg`.
  void read(StateReader& r, std::uint32_t kg) {
    const std::size_t n =
        r.read_count(ReadContext::of<TimerQueue<K>>("timer count"), 8 + 1 + detail::min_encoded_size<K>());
    for (std::size_t i = 0; i < n; ++i) {
      const Timestamp ts = r.read<Timestamp>();
      const std::uint64_t order = r.read_varint(ReadContext::of<TimerQueue<K>>("timer order"));
      timers_.push_back(SavedTimer<K>{ts, order, r.read<K>(), kg});
    }
  }

  /// As read(), replacing the timers read before for key group `kg` (a
  /// delta holds the group's timers in full).
  void replace_group(StateReader& r, std::uint32_t kg) {
    std::erase_if(timers_, [kg](const SavedTimer<K>& t) { return t.key_group == kg; });
    read(r, kg);
  }

  /// Registers every timer read into `q`, and forgets them.
  void restore_into(TimerQueue<K>& q) {
    // Ties from different instances have no saved order between them: key
    // group order decides (stable, so deterministic).
    std::stable_sort(timers_.begin(), timers_.end(), [](const SavedTimer<K>& a, const SavedTimer<K>& b) {
      return a.ts_us != b.ts_us ? a.ts_us < b.ts_us : a.order < b.order;
    });
    for (const SavedTimer<K>& t : timers_) q.add(t.key, t.key_group, t.ts_us);
    timers_.clear();
    timers_.shrink_to_fit();
  }

 private:
  std::vector<SavedTimer<K>> timers_;
};

}  // namespace sluice::detail
