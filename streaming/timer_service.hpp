// Timers of a keyed operator: event time (fire when the watermark reaches
// them) and processing time (fire when the clock does).
//
// A timer is (key, timestamp): registering the same one twice fires once.
// Deleting is lazy (the heap entry is skipped when popped). Timers that a
// firing timer registers at or before the current time fire in the same pass.
#pragma once

#include <queue>
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

template <class K>
class TimerQueue {
 public:
  /// Registers (key, ts); false if it already was.
  bool add(const K& key, std::uint32_t key_group, Timestamp ts) {
    if (!pending_.try_emplace(Id{key, ts}, key_group).second) return false;
    heap_.push(Timer<K>{ts, key, key_group});
    return true;
  }
  bool remove(const K& key, Timestamp ts) { return pending_.erase(Id{key, ts}); }

  /// Pops every live timer with ts <= `until`, in timestamp order, calling
  /// fire(const Timer<K>&). fire may add timers.
  template <class Fire>
  std::size_t advance(Timestamp until, Fire&& fire) {
    std::size_t fired = 0;
    while (!heap_.empty() && heap_.top().ts_us <= until) {
      Timer<K> t = heap_.top();
      heap_.pop();
      if (!pending_.erase(Id{t.key, t.ts_us})) continue;  // deleted, or a duplicate entry
      fire(t);
      ++fired;
    }
    return fired;
  }

  std::size_t size() const { return pending_.size(); }

 private:
  struct Id {
    K key;
    Timestamp ts;
    bool operator==(const Id& o) const { return ts == o.ts && key == o.key; }
  };
  struct IdHash {
    std::uint64_t operator()(const Id& id) const {
      return mix64(hash_key(id.key) ^ static_cast<std::uint64_t>(id.ts) * 0x9E3779B97F4A7C15ULL);
    }
  };
  struct Later {
    bool operator()(const Timer<K>& a, const Timer<K>& b) const { return a.ts_us > b.ts_us; }
  };
  FlatHashMap<Id, std::uint32_t, IdHash> pending_;
  std::priority_queue<Timer<K>, std::vector<Timer<K>>, Later> heap_;
};

}  // namespace sluice::detail
