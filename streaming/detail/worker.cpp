#include "streaming/detail/worker.hpp"

namespace sluice::detail {

namespace {
// How long a worker with nothing to do sleeps before looking at the clock
// again; producers wake it earlier by signalling `wake_`.
constexpr std::int64_t kParkUs = 1000;
}  // namespace

bool Worker::step() {
  bool progress = false;
  for (ExchangeSenderBase* s : senders_) progress |= s->try_flush();
  for (Task* t : tasks_) {
    if (t->finished() || t->blocked()) continue;
    progress |= t->run_once();
  }
  return progress;
}

bool Worker::run_background() {
  // One slice each; a slice may add more work (kept for the next step).
  const std::size_t n = background_.size();
  for (std::size_t i = 0; i < n; ++i)
    if (background_[i]->run_background()) background_[i] = nullptr;
  std::erase(background_, nullptr);
  return true;
}

bool Worker::idle() const {
  for (const Task* t : tasks_)
    if (!t->finished()) return false;
  for (const ExchangeSenderBase* s : senders_)
    if (s->has_pending()) return false;
  return true;
}

void Worker::run(const std::atomic<bool>& stop, const std::atomic<bool>& drain) {
  for (auto& t : tasks_) t->collect_gates();
  std::size_t opened = 0;
  try {
    for (; opened < owned_.size(); ++opened) owned_[opened]->open();
    Timestamp last_tick = 0;
    bool ticked = false;  // the first iteration always ticks
    bool drained = false;
    while (!stop.load(std::memory_order_acquire)) {
      if (!drained && drain.load(std::memory_order_acquire)) {
        drained = true;
        for (Task* t : tasks_) t->request_end();
      }
      bool progress = step();
      if (!background_.empty()) progress |= run_background();
      const Timestamp now = clock_.now_us();
      if (!ticked || now - last_tick >= tick_interval_us_ || now < last_tick) {
        ticked = true;
        last_tick = now;
        for (auto& o : owned_) o->on_processing_time(now);
      }
      if (idle()) break;
      if (!progress) {
        for (ExchangeSenderBase* s : senders_) progress |= s->flush_partial();
        if (!progress) {
          wake_.wait(kParkUs);
          while (wake_.tryWait()) {
          }
        }
      }
    }
  } catch (...) {
    for (std::size_t i = opened; i-- > 0;) owned_[i]->close();
    throw;
  }
  for (std::size_t i = opened; i-- > 0;) owned_[i]->close();
}

}  // namespace sluice::detail
