// A source fed by the application: any thread pushes records into a running
// query through a bounded buffer.
//
//   PushSource<Order> orders(BufferOptions{.capacity = 10'000});
//   job.source(orders).key_by(...)...;
//   auto q = engine.start("orders", job);
//   orders.push(order, ts_us);     // from any thread
//   orders.close();                // end of input: the query flushes and finishes
//
// When the buffer is full its strategy decides: Block (default) makes `push`
// wait, so nothing is lost; DropOldest / DropNewest discard (counted);
// Signal accepts beyond capacity and counts; Adaptive doubles the capacity up
// to its limit, then blocks. Metrics appear as buffer "<source name>.buffer".
// Every worker takes records from the same buffer, so order across workers
// is not kept (as with any parallel source); key_by restores per-key routing.
// A PushSource serves one query run at a time.
//
// Not replayable: what was pushed is gone after a crash (the application
// holds no log Sluice could seek in), so supports_checkpoints() is false and
// a query with checkpoint storage refuses to start with one (engine.start
// throws GraphError naming the source). checkpoint_now() without storage
// still works. For exactly-once, feed the records through a replayable
// source (a file, Kafka) instead.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "streaming/backpressure.hpp"
#include "streaming/errors.hpp"
#include "streaming/source.hpp"

namespace sluice {

template <class T>
class PushSource final : public Source<T> {
 public:
  explicit PushSource(BufferOptions options = {}, std::string name = "push")
      : shared_(std::make_shared<Shared>(options)), name_(std::move(name)) {
    options.validate(name_ + ".buffer");
  }

  /// Adds a record. Blocks while the buffer is full under Block (or Adaptive
  /// at its limit) until a worker takes records or the source is closed.
  /// Returns false if the record was not accepted: the source is closed, or
  /// DropNewest discarded it.
  bool push(T value, Timestamp ts_us) { return shared_->push(Record<T>{std::move(value), ts_us}); }

  /// Ends the input: workers drain what is buffered, then the query sees end
  /// of input. Pushes after close are refused. Idempotent.
  void close() { shared_->close(); }

  /// Records waiting in the buffer.
  std::size_t buffered() const { return shared_->buffered(); }

  std::string default_name() const override { return name_; }
  std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const override {
    if (ctx.worker_index == 0) shared_->bind(ctx.registry->add_buffer(ctx.name + ".buffer"), ctx.metrics);
    shared_->add_waker(ctx.wake);
    return std::make_unique<Reader>(shared_);
  }

 private:
  struct Shared {
    explicit Shared(const BufferOptions& o) : options(o), capacity(o.capacity) {}

    void bind(BufferMetrics& m, OperatorMetrics* op) {
      std::lock_guard lock(mu);
      ++run_generation;
      metrics = &m;
      op_metrics = op;
      metrics->capacity.set(static_cast<std::int64_t>(capacity));
    }

    void add_waker(std::function<void()> w) {
      std::lock_guard lock(mu);
      if (bound_runs != run_generation) {  // a new run: forget the old workers
        wakers.clear();
        bound_runs = run_generation;
      }
      wakers.push_back(std::move(w));
    }

    void clear_wakers() {
      std::lock_guard lock(mu);
      wakers.clear();
    }

    void wake_all() {
      std::lock_guard lock(mu);
      for (auto& w : wakers) w();
    }

    bool push(Record<T>&& r) {
      std::unique_lock lock(mu);
      if (closed) return false;
      if (queue.size() >= capacity) {
        count([](BufferMetrics& m) { m.backpressure_events.add(1); });
        switch (options.strategy) {
          case Backpressure::kDropNewest:
            count_dropped(1);
            return false;
          case Backpressure::kDropOldest:
            queue.pop_front();
            count_dropped(1);
            break;
          case Backpressure::kSignal:
            break;
          case Backpressure::kAdaptive:
            if (capacity < options.adaptive_limit()) {
              capacity = std::min(capacity * 2, options.adaptive_limit());
              count([&](BufferMetrics& m) { m.capacity.set(static_cast<std::int64_t>(capacity)); });
              break;
            }
            [[fallthrough]];
          case Backpressure::kBlock: {
            const auto t0 = std::chrono::steady_clock::now();
            not_full.wait(lock, [&] { return closed || queue.size() < capacity; });
            const auto waited = std::chrono::steady_clock::now() - t0;
            count([&](BufferMetrics& m) {
              m.blocked_us.add(static_cast<std::uint64_t>(
                  std::chrono::duration_cast<std::chrono::microseconds>(waited).count()));
            });
            if (closed) return false;
            break;
          }
        }
      }
      count([&](BufferMetrics& m) {
        m.occupancy_sum.add(queue.size());
        m.occupancy_samples.add(1);
        m.records.add(1);
        m.batches.add(1);
      });
      queue.push_back(std::move(r));
      for (auto& w : wakers) w();  // a semaphore signal: cheap enough under the lock
      return true;
    }

    // Worker side: takes up to `max` records.
    SourceStatus pop(Batch<T>& out, std::size_t max) {
      std::lock_guard lock(mu);
      const std::size_t n = std::min(max, queue.size());
      for (std::size_t i = 0; i < n; ++i) {
        out.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      if (n > 0) {
        // Adaptive shrinks back once drained.
        if (queue.empty() && capacity > options.capacity) {
          capacity = std::max(options.capacity, capacity / 2);
          count([&](BufferMetrics& m) { m.capacity.set(static_cast<std::int64_t>(capacity)); });
        }
        not_full.notify_all();
      }
      if (queue.empty() && closed) return SourceStatus::kEnd;
      return n > 0 ? SourceStatus::kMore : SourceStatus::kNothingNow;
    }

    void close() {
      {
        std::lock_guard lock(mu);
        closed = true;
        not_full.notify_all();
      }
      wake_all();
    }

    std::size_t buffered() const {
      std::lock_guard lock(mu);
      return queue.size();
    }

    // Counters are written under `mu`: one writer at a time.
    template <class F>
    void count(F&& f) {
      if (metrics) f(*metrics);
    }
    void count_dropped(std::uint64_t n) {
      count([&](BufferMetrics& m) { m.dropped_records.add(n); });
      if (op_metrics) op_metrics->dropped_records.add(n);
    }

    const BufferOptions options;
    mutable std::mutex mu;
    std::condition_variable not_full;
    std::deque<Record<T>> queue;
    std::size_t capacity;
    bool closed = false;
    BufferMetrics* metrics = nullptr;
    OperatorMetrics* op_metrics = nullptr;
    std::vector<std::function<void()>> wakers;  // one per worker of the current run
    std::uint64_t run_generation = 0;
    std::uint64_t bound_runs = 0;
  };

  class Reader final : public SourceReader<T> {
   public:
    explicit Reader(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
    SourceStatus poll(Batch<T>& out, std::vector<DeadLetter>&, std::size_t max) override { return s_->pop(out, max); }
    // The run is ending: its workers must not be woken once they are gone.
    void close() override { s_->clear_wakers(); }

   private:
    std::shared_ptr<Shared> s_;
  };

  std::shared_ptr<Shared> shared_;
  std::string name_;
};

}  // namespace sluice
