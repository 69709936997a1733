// A sink that calls a user function for every record.
//
// By default calls are serialized across workers (one lock per batch), so the
// callback needs no synchronization of its own: print, append, notify.
// `CallbackSink::concurrent(f)` drops the lock: f is then called from every
// worker thread at once and must be thread-safe.
// Delivery: at most once per record per run today; the exactly-once modes
// (`on_commit`, `immediate` with record ids) arrive with checkpoints.
#pragma once

#include <functional>
#include <memory>
#include <mutex>

#include "streaming/sink.hpp"

namespace sluice {

template <class T>
class CallbackSink final : public Sink<T> {
 public:
  /// `f(const T&)` or `f(const T&, Timestamp ts_us)`.
  template <class F>
  explicit CallbackSink(F f, bool serialized = true)
      : shared_(std::make_shared<Shared>(wrap(std::move(f)), serialized)) {}

  template <class F>
  static CallbackSink concurrent(F f) {
    return CallbackSink(std::move(f), false);
  }

  std::string default_name() const override { return "callback"; }
  std::unique_ptr<SinkWriter<T>> open(const SinkContext&) override { return std::make_unique<Writer>(shared_); }

 private:
  using Fn = std::function<void(const T&, Timestamp)>;
  struct Shared {
    Shared(Fn f, bool s) : fn(std::move(f)), serialized(s) {}
    Fn fn;
    bool serialized;
    std::mutex mu;
  };
  template <class F>
  static Fn wrap(F f) {
    if constexpr (std::is_invocable_v<F&, const T&, Timestamp>) {
      return Fn(std::move(f));
    } else {
      static_assert(std::is_invocable_v<F&, const T&>,
                    "CallbackSink(f): f must be callable as f(const T&) or f(const T&, Timestamp ts_us)");
      return [f = std::move(f)](const T& v, Timestamp) mutable { f(v); };
    }
  }
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<Shared> s) : s_(std::move(s)) {}
    void write(Batch<T>& batch) override {
      std::unique_lock<std::mutex> lock(s_->mu, std::defer_lock);
      if (s_->serialized) lock.lock();
      for (const auto& r : batch) s_->fn(r.value, r.ts_us);
    }

   private:
    std::shared_ptr<Shared> s_;
  };
  std::shared_ptr<Shared> shared_;
};

}  // namespace sluice
