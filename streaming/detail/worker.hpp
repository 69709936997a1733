// One worker: a thread that runs its share of every operator.
//
// The worker owns one instance of every operator and drives them from a
// single thread, so operator state needs no locks. Entry points (`Task`s) are
// source readers and exchange receivers; everything downstream of an entry
// point runs by direct calls until the next exchange sender. A task is only
// run while none of the flow gates it reaches holds it back (an exchange
// sender with a refused message, an aligned source that is too far ahead):
// that is the whole backpressure protocol, and because the graph is acyclic
// the last stage can always make progress, so Block never deadlocks.
#pragma once

#include <cassert>
#include <concurrentqueue/concurrentqueue.h>  // defines macros lightweightsemaphore.h needs
#include <concurrentqueue/lightweightsemaphore.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

#include "streaming/time.hpp"

namespace sluice::detail {

/// Lifecycle of every object a worker owns (operator instances, tasks).
/// All calls come from the worker's thread.
class Lifecycle {
 public:
  virtual ~Lifecycle() = default;
  /// Before the first record. May throw (the query then fails).
  virtual void open() {}
  /// Processing time has moved to `now_us`: fire processing-time timers,
  /// emit periodic watermarks, detect idleness.
  virtual void on_processing_time(Timestamp now_us) {}
  /// After the last call; release resources. Must not throw.
  virtual void close() {}
};

/// Work an object owned by a worker does in bounded slices between the
/// worker's steps (a snapshot written in the background, say), so that no
/// single step stops processing for long.
class BackgroundWork {
 public:
  virtual ~BackgroundWork() = default;
  /// Does one slice (short: a few milliseconds at most); returns true when
  /// nothing is left (the worker then forgets it). May throw: the query
  /// fails as if a step had thrown.
  virtual bool run_background() = 0;
};

/// Something downstream of a task that can ask it to stop pulling input for
/// now: an exchange sender with a refused message, or a source that is too
/// far ahead of its peers in event time (watermark alignment).
class FlowGate {
 public:
  virtual ~FlowGate() = default;
  /// True while the task feeding this gate must not be run.
  virtual bool holds_back() const = 0;
};

/// The sending half of an exchange on one worker.
class ExchangeSenderBase : public FlowGate {
 public:
  /// True while a message refused by a full channel waits to be sent.
  virtual bool has_pending() const = 0;
  bool holds_back() const override { return has_pending(); }
  /// Retries pending messages; true if any went out.
  virtual bool try_flush() = 0;
  /// Sends partially filled batches (called when the worker runs dry, so
  /// records are not held back waiting for a full batch).
  virtual bool flush_partial() = 0;
};

/// An entry point the worker polls: a source reader or an exchange receiver.
class Task : public Lifecycle {
 public:
  /// Does one bounded step of work; returns true if anything happened.
  virtual bool run_once() = 0;
  /// True once the task has delivered end-of-input downstream.
  virtual bool finished() const = 0;
  /// Sources: end now, as if the input were exhausted (drain-stop).
  virtual void request_end() {}

  /// Computes which gates this task feeds by direct calls.
  virtual void collect_gates() = 0;
  bool blocked() const {
    for (const FlowGate* g : gates_)
      if (g->holds_back()) return true;
    return false;
  }

 protected:
  std::vector<FlowGate*> gates_;
};

class Worker {
 public:
  Worker(std::size_t index, const Clock& clock, DurationUs tick_interval_us)
      : index_(index), clock_(clock), tick_interval_us_(tick_interval_us) {}

  std::size_t index() const { return index_; }
  moodycamel::LightweightSemaphore& wake() { return wake_; }

  /// Takes ownership of an operator instance or task.
  template <class T>
  T& own(std::unique_ptr<T> object) {
    T& ref = *object;
    owned_.push_back(std::move(object));
    return ref;
  }
  void add_task(Task& task) { tasks_.push_back(&task); }
  void add_sender(ExchangeSenderBase& sender) { senders_.push_back(&sender); }
  /// Runs `work` in slices from the next step on, until it says it is done.
  /// From the worker's thread; `work` must outlive run() or finish first.
  void add_background(BackgroundWork& work) { background_.push_back(&work); }

  /// Opens everything, loops until every task finished (or `stop` is set),
  /// then closes. Throws what an operator threw (after closing).
  void run(const std::atomic<bool>& stop, const std::atomic<bool>& drain);

 private:
  bool step();
  bool idle() const;
  bool run_background();

  std::size_t index_;
  const Clock& clock_;
  DurationUs tick_interval_us_;
  moodycamel::LightweightSemaphore wake_;
  std::vector<std::unique_ptr<Lifecycle>> owned_;
  std::vector<Task*> tasks_;
  std::vector<ExchangeSenderBase*> senders_;
  std::vector<BackgroundWork*> background_;
};

}  // namespace sluice::detail
