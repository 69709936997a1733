// A sink that collects records in memory, for tests and small jobs.
//
// All workers append to one shared, mutex-protected vector (one lock per
// batch). Copies of a CollectSink share the same storage, so keep one copy
// and read it after (or while) the query runs.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "streaming/sink.hpp"

namespace sluice {

template <class T>
class CollectSink final : public Sink<T> {
 public:
  CollectSink() : store_(std::make_shared<Store>()) {}

  std::string default_name() const override { return "collect"; }
  std::unique_ptr<SinkWriter<T>> open(const SinkContext&) override { return std::make_unique<Writer>(store_); }

  /// A copy of the records collected so far (with their timestamps).
  std::vector<Record<T>> records() const {
    std::lock_guard lock(store_->mu);
    return store_->records;
  }
  /// A copy of the values collected so far.
  std::vector<T> values() const {
    std::lock_guard lock(store_->mu);
    std::vector<T> v;
    v.reserve(store_->records.size());
    for (const auto& r : store_->records) v.push_back(r.value);
    return v;
  }
  std::size_t size() const {
    std::lock_guard lock(store_->mu);
    return store_->records.size();
  }
  /// Watermarks the sink saw, per worker, in order (for tests of time).
  std::vector<Timestamp> watermarks() const {
    std::lock_guard lock(store_->mu);
    return store_->watermarks;
  }
  void clear() {
    std::lock_guard lock(store_->mu);
    store_->records.clear();
    store_->watermarks.clear();
  }

 private:
  struct Store {
    std::mutex mu;
    std::vector<Record<T>> records;
    std::vector<Timestamp> watermarks;
  };
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<Store> s) : s_(std::move(s)) {}
    void write(Batch<T>& batch) override {
      std::lock_guard lock(s_->mu);
      for (auto& r : batch) s_->records.push_back(std::move(r));
    }
    void on_watermark(Timestamp wm) override {
      std::lock_guard lock(s_->mu);
      s_->watermarks.push_back(wm);
    }

   private:
    std::shared_ptr<Store> s_;
  };
  std::shared_ptr<Store> store_;
};

}  // namespace sluice
