// A sink that calls a user function for every record.
//
// By default calls are serialized across workers (one lock per batch), so the
// callback needs no synchronization of its own: print, append, notify.
// `CallbackSink::concurrent(f)` drops the lock: f is then called from every
// worker thread at once and must be thread-safe.
//
// Every record carries a DeliveryId: (writer, sequence), the sink instance
// (worker index) and 1, 2, ... per instance, continuing across restores, so
// a record replayed after a crash has the id it had the first time (same
// input, same worker count). Take it as the callback's third argument.
//
// Delivery, with checkpoints (QueryOptions::checkpoints.storage set):
// - immediate (default): f is called as records arrive. After a crash the
//   query restores its last checkpoint and replays what came after it, so f
//   sees those records again, with the same ids: at-least-once; deduplicate
//   by id for exactly-once effects.
// - on_commit(f): f is called for a record only once the checkpoint that
//   covers it has committed (or at the end of the input), on the sink's
//   worker, in arrival order. Output a crash rolls back is never delivered.
//   After delivering, the sink records durably how far it delivered, so a
//   restart does not deliver it again; only a crash in the middle of one
//   delivery (between the call and that record, a few milliseconds) repeats
//   that delivery's records, with the same ids. Records wait for the next
//   checkpoint: latency is the checkpoint interval. Needs Serde<T> (pending
//   records are part of the checkpoint) and checkpoint storage; without
//   storage it delivers at the end of input only.
// After restoring onto another worker count, records get new ids (writers
// are renumbered); ids stay unique.
// Without checkpoints: every record once, immediately (on_commit: at the end).
#pragma once

#include <algorithm>
#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "streaming/serde.hpp"
#include "streaming/sink.hpp"

namespace sluice {

/// Which record a callback sees: deterministic across replays.
struct DeliveryId {
  std::uint32_t writer = 0;    ///< the sink instance (worker index)
  std::uint64_t sequence = 0;  ///< 1, 2, ... per writer, continuing across restores
  auto operator<=>(const DeliveryId&) const = default;
};

enum class CallbackDelivery {
  kImmediate,  ///< as records arrive; at-least-once after a crash (same ids)
  kOnCommit,   ///< once the covering checkpoint committed; not repeated after a restart
};

template <class T>
class CallbackSink final : public Sink<T> {
 public:
  /// `f(const T&)`, `f(const T&, Timestamp ts_us)` or
  /// `f(const T&, Timestamp ts_us, DeliveryId id)`; delivered immediately.
  template <class F>
  explicit CallbackSink(F f, bool serialized = true)
      : shared_(std::make_shared<Shared>(wrap(std::move(f)), serialized, CallbackDelivery::kImmediate)) {}

  /// f is called from every worker at once (must be thread-safe).
  template <class F>
  static CallbackSink concurrent(F f) {
    return CallbackSink(std::move(f), false);
  }

  /// f is called once the checkpoint covering the record committed (see the
  /// file comment). Calls are serialized.
  template <class F>
  static CallbackSink on_commit(F f) {
    static_assert(Serializable<T>,
                  "CallbackSink::on_commit needs Serde<T>: pending records are stored in checkpoints (see "
                  "streaming/serde.hpp to add one)");
    CallbackSink s(std::move(f), true);
    s.shared_->delivery = CallbackDelivery::kOnCommit;
    return s;
  }

  std::string default_name() const override { return "callback"; }
  std::unique_ptr<SinkWriter<T>> open(const SinkContext& ctx) override {
    return std::make_unique<Writer>(shared_, ctx);
  }

 private:
  using Fn = std::function<void(const T&, Timestamp, DeliveryId)>;
  struct Shared {
    Shared(Fn f, bool s, CallbackDelivery d) : fn(std::move(f)), serialized(s), delivery(d) {}
    Fn fn;
    bool serialized;
    CallbackDelivery delivery;
    std::mutex mu;
  };
  template <class F>
  static Fn wrap(F f) {
    if constexpr (std::is_invocable_v<F&, const T&, Timestamp, DeliveryId>) {
      return Fn(std::move(f));
    } else if constexpr (std::is_invocable_v<F&, const T&, Timestamp>) {
      return [f = std::move(f)](const T& v, Timestamp ts, DeliveryId) mutable { f(v, ts); };
    } else {
      static_assert(std::is_invocable_v<F&, const T&>,
                    "CallbackSink(f): f must be callable as f(const T&), f(const T&, Timestamp ts_us) or "
                    "f(const T&, Timestamp ts_us, DeliveryId id)");
      return [f = std::move(f)](const T& v, Timestamp, DeliveryId) mutable { f(v); };
    }
  }

  struct Pending {
    T value;
    Timestamp ts;
    std::uint64_t sequence;
  };

  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<Shared> s, const SinkContext& ctx)
        : s_(std::move(s)),
          on_commit_(s_->delivery == CallbackDelivery::kOnCommit),
          writer_(static_cast<std::uint32_t>(ctx.worker_index)),
          workers_(ctx.worker_count),
          put_marker_(ctx.put_marker),
          get_marker_(ctx.get_marker) {
      // A run that continues the stored state (restored, or its first run
      // failed before a checkpoint) must not deliver again what was delivered.
      if (on_commit_) delivered_ = delivered_of(writer_);
    }

    void write(Batch<T>& batch) override {
      if (!on_commit_) {
        std::unique_lock<std::mutex> lock(s_->mu, std::defer_lock);
        if (s_->serialized) lock.lock();
        for (const auto& r : batch) s_->fn(r.value, r.ts_us, DeliveryId{writer_, ++sequence_});
        return;
      }
      for (auto& r : batch) pending_.push_back(Pending{std::move(r.value), r.ts_us, ++sequence_});
    }

    // The handle: the sequence reached, then (on_commit) every record not
    // yet delivered, so a restore delivers what this checkpoint covers.
    void on_checkpoint_barrier(std::uint64_t id, StateWriter& handle) override {
      handle.write(sequence_);
      if (!on_commit_) return;
      if (id != 0) epochs_.push_back(Epoch{id, pending_.size()});
      if constexpr (Serializable<T>) {
        handle.write(static_cast<std::uint64_t>(pending_.size()));
        for (const Pending& p : pending_) {
          handle.write(p.value);
          handle.write(p.ts);
          handle.write(p.sequence);
        }
      }
    }

    void on_checkpoint_complete(std::uint64_t id) override {
      if (!on_commit_) return;
      std::size_t covered = 0;
      while (!epochs_.empty() && epochs_.front().id <= id) {
        covered = epochs_.front().end;
        epochs_.pop_front();
      }
      deliver(covered);
    }

    void on_end_of_input() override {
      if (!on_commit_) return;
      deliver(pending_.size());  // the input is complete: nothing can roll it back
      epochs_.clear();           // every checkpoint still open covers nothing undelivered now
    }

    void restore(std::uint64_t, const std::vector<std::string_view>& handles) override {
      const bool same_writers = handles.size() == workers_;
      std::uint64_t max_sequence = 0;
      for (std::size_t i = 0; i < handles.size(); ++i) {
        StateReader r(handles[i]);
        const auto sequence = r.read<std::uint64_t>();
        max_sequence = std::max(max_sequence, sequence);
        if (same_writers && i == writer_) sequence_ = sequence;
        // The restored checkpoint is committed: deliver what it covers that
        // was not delivered yet. Old writer i's records go to one new writer.
        if (!on_commit_ || i % workers_ != writer_) continue;
        if constexpr (Serializable<T>) {
          const std::uint64_t delivered = delivered_of(i);
          const auto n = r.read<std::uint64_t>();
          std::vector<Pending> todo;
          for (std::uint64_t k = 0; k < n; ++k) {
            T value = r.read<T>();
            const auto ts = r.read<Timestamp>();
            const auto seq = r.read<std::uint64_t>();
            if (seq > delivered) todo.push_back(Pending{std::move(value), ts, seq});
          }
          r.expect_end("delivery handle of callback writer " + std::to_string(i));
          call(todo, static_cast<std::uint32_t>(i));
          if (!todo.empty()) mark_delivered(static_cast<std::uint32_t>(i), todo.back().sequence);
        }
      }
      // Renumbered writers continue above every old sequence: ids stay unique.
      if (!same_writers) sequence_ = max_sequence;
      delivered_ = delivered_of(writer_);
    }

   private:
    struct Epoch {
      std::uint64_t id;  // checkpoint
      std::size_t end;   // pending_ records before its barrier
    };

    // Delivers pending_[0, n), skipping what a previous run delivered, and
    // records how far it got.
    void deliver(std::size_t n) {
      if (n == 0) return;
      std::vector<Pending> batch(std::make_move_iterator(pending_.begin()),
                                 std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(n)));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      for (Epoch& e : epochs_) e.end = e.end > n ? e.end - n : 0;
      std::erase_if(batch, [&](const Pending& p) { return p.sequence <= delivered_; });
      if (batch.empty()) return;
      call(batch, writer_);
      delivered_ = batch.back().sequence;
      mark_delivered(writer_, delivered_);
    }
    void call(const std::vector<Pending>& records, std::uint32_t writer) {
      std::lock_guard lock(s_->mu);
      for (const Pending& p : records) s_->fn(p.value, p.ts, DeliveryId{writer, p.sequence});
    }
    std::uint64_t delivered_of(std::size_t writer) const {
      if (!get_marker_) return 0;
      const std::optional<std::string> v = get_marker_("delivered/" + std::to_string(writer));
      return v ? deserialize<std::uint64_t>(*v) : 0;
    }
    void mark_delivered(std::uint32_t writer, std::uint64_t sequence) {
      if (put_marker_) put_marker_("delivered/" + std::to_string(writer), serialize(sequence));
    }

    std::shared_ptr<Shared> s_;
    bool on_commit_;
    std::uint32_t writer_;
    std::size_t workers_;
    std::function<void(std::string_view, std::string_view)> put_marker_;
    std::function<std::optional<std::string>(std::string_view)> get_marker_;
    std::uint64_t sequence_ = 0;   // ids given so far
    std::uint64_t delivered_ = 0;  // (on_commit) highest sequence delivered, in this or an earlier run
    std::deque<Pending> pending_;  // (on_commit) not yet delivered, in arrival order
    std::deque<Epoch> epochs_;     // (on_commit) checkpoints taken and not yet committed
  };
  std::shared_ptr<Shared> shared_;
};

}  // namespace sluice
