// What an input delivered while barrier alignment blocked it: records and
// control messages (a periodic watermark may come too), kept in order and
// replayed once the barrier has gone on. Used where a blocked input cannot
// be left unread in a queue: direct calls on the same worker (an exchange's
// own share, a union's inputs).
#pragma once

#include <deque>
#include <utility>

#include "streaming/detail/channel.hpp"

namespace sluice::detail {

template <class T>
class HeldMessages {
 public:
  bool empty() const { return q_.empty(); }

  /// Keeps `batch`'s records (the batch is left empty).
  void hold(Batch<T>& batch) {
    Message<T>& m = q_.emplace_back();
    m.batch = std::move(batch);
    batch.clear();
  }
  void hold(const Control& c) {
    Message<T>& m = q_.emplace_back();
    m.is_control = true;
    m.control = c;
  }

  /// Delivers held messages in order, `on_batch(Batch<T>&)` or
  /// `on_control(const Control&)`, while `open()` (a held barrier may block
  /// the input again: the rest stays held). Returns whether any was delivered.
  template <class Open, class OnBatch, class OnControl>
  bool replay(Open&& open, OnBatch&& on_batch, OnControl&& on_control) {
    bool any = false;
    while (!q_.empty() && open()) {
      Message<T> m = std::move(q_.front());
      q_.pop_front();
      any = true;
      if (m.is_control)
        on_control(m.control);
      else
        on_batch(m.batch);
    }
    return any;
  }

 private:
  std::deque<Message<T>> q_;
};

}  // namespace sluice::detail
