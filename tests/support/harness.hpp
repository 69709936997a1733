// Test harness for runtime tests: a scripted source, sinks that notify the
// test thread, and condition waits with timeouts (never sleeps to let time pass).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "sluice/sluice.hpp"

namespace sluice::testing {

using namespace std::chrono_literals;

/// A condition variable with a generation: producers call `notify()` after
/// changing state, the test waits for a predicate with a timeout.
class Signal {
 public:
  void notify() {
    { std::lock_guard lock(mu_); }
    cv_.notify_all();
  }
  template <class Pred>
  bool wait_until(Pred pred, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

/// Polls `pred` until true or `timeout` (for state that has no notification,
/// e.g. metrics counters). Returns the last value of `pred`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::yield();
  }
  return true;
}

/// A gate the test opens; threads calling `pass()` wait until it is open.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void pass() {
    std::unique_lock lock(mu_);
    ++waiting_;
    arrived_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  /// Waits until at least one thread is waiting at (or passed) the gate.
  bool wait_for_arrival(std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    return arrived_.wait_for(lock, timeout, [&] { return waiting_ > 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_, arrived_;
  bool open_ = false;
  int waiting_ = 0;
};

/// A source whose worker-0 reader returns exactly the batches the test pushes,
/// kNothingNow while none is available, and kEnd after `end()`. Readers of
/// other workers end at once. Shared by copies; one reader per run.
template <class T>
class ScriptedSource final : public Source<T> {
 public:
  using value_type = T;
  explicit ScriptedSource(std::string name = "scripted") : s_(std::make_shared<State>()), name_(std::move(name)) {}

  /// Makes `batch` available; the reader hands it out whole (split only at
  /// the query's batch_size).
  void push(Batch<T> batch) {
    std::lock_guard lock(s_->mu);
    s_->batches.push_back(std::move(batch));
  }
  void push_values(std::initializer_list<std::pair<T, Timestamp>> rs) {
    Batch<T> b;
    for (const auto& [v, ts] : rs) b.push_back(Record<T>{v, ts});
    push(std::move(b));
  }
  void end() {
    std::lock_guard lock(s_->mu);
    s_->ended = true;
  }
  /// Batches fully handed out so far.
  std::size_t consumed() const {
    std::lock_guard lock(s_->mu);
    return s_->next;
  }
  int opens() const { return s_->opens.load(); }

  std::string default_name() const override { return name_; }
  std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const override {
    if (ctx.worker_index != 0) return std::make_unique<EmptyReader>();
    ++s_->opens;
    return std::make_unique<Reader>(s_);
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::vector<Batch<T>> batches;
    std::size_t next = 0;    // next batch to hand out
    std::size_t offset = 0;  // records of batches[next] already handed out
    bool ended = false;
    std::atomic<int> opens{0};
  };
  class Reader final : public SourceReader<T> {
   public:
    explicit Reader(std::shared_ptr<State> s) : s_(std::move(s)) {}
    SourceStatus poll(Batch<T>& out, std::vector<DeadLetter>&, std::size_t max_records) override {
      std::lock_guard lock(s_->mu);
      if (s_->next < s_->batches.size()) {
        Batch<T>& b = s_->batches[s_->next];
        while (s_->offset < b.size() && out.size() < max_records) out.push_back(b[s_->offset++]);
        if (s_->offset == b.size()) {
          ++s_->next;
          s_->offset = 0;
        }
        return SourceStatus::kMore;
      }
      return s_->ended ? SourceStatus::kEnd : SourceStatus::kNothingNow;
    }

   private:
    std::shared_ptr<State> s_;
  };
  class EmptyReader final : public SourceReader<T> {
   public:
    SourceStatus poll(Batch<T>&, std::vector<DeadLetter>&, std::size_t) override { return SourceStatus::kEnd; }
  };

  std::shared_ptr<State> s_;
  std::string name_;
};

/// One event a sink saw, in order: a record or a watermark.
template <class T>
struct SinkEvent {
  bool is_watermark = false;
  T value{};
  Timestamp ts = 0;  // record timestamp or watermark
  bool operator==(const SinkEvent&) const = default;
};
template <class T>
SinkEvent<T> rec(T v, Timestamp ts) {
  return SinkEvent<T>{false, std::move(v), ts};
}
template <class T>
SinkEvent<T> wm(Timestamp ts) {
  return SinkEvent<T>{true, T{}, ts};
}

/// A sink that logs records and watermarks in arrival order (per worker),
/// notes the worker of each record, counts end-of-input and close calls, and
/// notifies `signal` after every call. Copies share storage.
template <class T>
class ProbeSink final : public Sink<T> {
 public:
  ProbeSink() : s_(std::make_shared<State>()) {}

  std::string default_name() const override { return "probe"; }
  std::unique_ptr<SinkWriter<T>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(s_, ctx.worker_index);
  }

  /// Events of worker `w`, in order.
  std::vector<SinkEvent<T>> events(std::size_t w = 0) const {
    std::lock_guard lock(s_->mu);
    auto it = s_->events.find(w);
    return it == s_->events.end() ? std::vector<SinkEvent<T>>{} : it->second;
  }
  std::vector<Record<T>> records() const {
    std::lock_guard lock(s_->mu);
    return s_->records;
  }
  std::vector<T> values() const {
    std::lock_guard lock(s_->mu);
    std::vector<T> v;
    for (const auto& r : s_->records) v.push_back(r.value);
    return v;
  }
  std::vector<Timestamp> watermarks(std::size_t w = 0) const {
    std::lock_guard lock(s_->mu);
    std::vector<Timestamp> out;
    auto it = s_->events.find(w);
    if (it != s_->events.end())
      for (const auto& e : it->second)
        if (e.is_watermark) out.push_back(e.ts);
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(s_->mu);
    return s_->records.size();
  }
  /// Which workers saw each value (for routing checks).
  std::map<T, std::set<std::size_t>> workers_by_value() const {
    std::lock_guard lock(s_->mu);
    return s_->workers_by_value;
  }
  int ends() const { return s_->ends.load(); }
  int closes() const { return s_->closes.load(); }
  Signal& signal() const { return s_->signal; }

  /// Waits until `pred()` holds (checked after every sink call).
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = 20s) const {
    return s_->signal.wait_until(pred, timeout);
  }
  bool wait_records(std::size_t n, std::chrono::milliseconds timeout = 20s) const {
    return wait([&] { return size() >= n; }, timeout);
  }
  bool wait_watermarks(std::size_t n, std::size_t w = 0, std::chrono::milliseconds timeout = 20s) const {
    return wait([&] { return watermarks(w).size() >= n; }, timeout);
  }

 private:
  struct State {
    mutable std::mutex mu;
    std::map<std::size_t, std::vector<SinkEvent<T>>> events;
    std::vector<Record<T>> records;
    std::map<T, std::set<std::size_t>> workers_by_value;
    std::atomic<int> ends{0};
    std::atomic<int> closes{0};
    mutable Signal signal;
  };
  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<State> s, std::size_t w) : s_(std::move(s)), w_(w) {}
    void write(Batch<T>& batch) override {
      {
        std::lock_guard lock(s_->mu);
        for (auto& r : batch) {
          s_->events[w_].push_back(SinkEvent<T>{false, r.value, r.ts_us});
          if constexpr (requires(const T& a, const T& b) { a < b; }) s_->workers_by_value[r.value].insert(w_);
          s_->records.push_back(r);
        }
      }
      s_->signal.notify();
    }
    void on_watermark(Timestamp wm) override {
      {
        std::lock_guard lock(s_->mu);
        s_->events[w_].push_back(SinkEvent<T>{true, T{}, wm});
      }
      s_->signal.notify();
    }
    void on_end_of_input() override {
      ++s_->ends;
      s_->signal.notify();
    }
    void close() override {
      ++s_->closes;
      s_->signal.notify();
    }

   private:
    std::shared_ptr<State> s_;
    std::size_t w_;
  };
  std::shared_ptr<State> s_;
};

/// Record i of a test generator: the number i itself.
inline constexpr auto identity = [](std::uint64_t i) { return std::int64_t(i); };

/// Options with `n` workers, everything else default.
inline QueryOptions workers(std::size_t n) {
  QueryOptions o;
  o.workers = n;
  return o;
}

/// Single-worker options with a manual clock.
inline QueryOptions manual_options(const Clock& clock, std::size_t workers = 1) {
  QueryOptions o;
  o.workers = workers;
  o.clock = &clock;
  return o;
}

}  // namespace sluice::testing
