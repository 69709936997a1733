// A deterministic generator source.
//
// Record i (i = 0, 1, ...) is `make(i)` with event timestamp
// `first_ts_us + i * ts_step_us`, so a run is reproducible and independent of
// the worker count. Every timestamp stays within the valid range (±2^62 µs,
// streaming/time.hpp): a bounded generator whose timestamps would leave it is
// refused with a ConfigError; an unbounded one ends after its last record
// within it.
//
// Splits (as Flink's FLIP-27 sources): the sequence is cut into chunks of
// `chunk` records (chunk c holds records [c * chunk, (c + 1) * chunk)), and
// the chunks are dealt to a fixed number of splits: split s holds the chunks
// c with c % splits == s. Worker w of W owns the splits s with s % W == w and
// emits their chunks in increasing c. When `splits` is a multiple of W this
// is chunk c on worker c % W, round-robin.
//
// Checkpoints: the generator is replayable. A reader's position is, for each
// split it owns, how many of its records were emitted; a restored run, on any
// worker count, deals the splits afresh and every reader continues its splits
// where the checkpointed run left them (a reader that gets splits from
// several old readers catches up in increasing c, skipping what was emitted).
// Records come out exactly once over the runs, none lost, none repeated.
//
// As fast as possible by default. With `events_per_second`, it behaves like
// an external producer emitting at that rate (per the query's clock) into a
// bounded buffer of `buffer.capacity` records; when the job falls behind, the
// buffer's backpressure strategy decides: Block (the producer waits: nothing
// lost, arrivals slow down), DropOldest / DropNewest (counted in
// `dropped_records`), Signal (never waits, never drops, counts), Adaptive
// (capacity doubles up to its limit, then blocks). With a ManualClock this is
// fully deterministic. After a restore the producer starts afresh at the
// rate, from the restored position, when the restored run opens: the time the
// job was down is not made up (no burst of "overdue" records), and records
// emitted before the checkpoint are not waited for again (no stall). Records
// that were in the buffer at the checkpoint were not emitted, so they arrive
// again; records dropped after the oldest of them arrive again too (what a
// dropping strategy drops depends on timing, so it is never reproduced).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "streaming/backpressure.hpp"
#include "streaming/source.hpp"

namespace sluice {

struct GeneratorOptions {
  /// Records to produce; 0 = unbounded (until stopped, or until the next
  /// timestamp would leave the valid range).
  std::uint64_t count = 0;
  /// Event timestamp of record 0, in µs; within ±2^62. Default 0.
  Timestamp first_ts_us = 0;
  /// Event time between consecutive records, in µs (may be 0 or negative).
  /// With `count`, record count - 1 must stay within ±2^62. Default 1.
  DurationUs ts_step_us = 1;
  /// Records per second over all workers, by the query's clock; 0 = as fast as possible.
  double events_per_second = 0;
  /// Buffer between the (simulated) producer and the job, in records; only
  /// used with `events_per_second`.
  BufferOptions buffer{.capacity = 10'000};
  /// Records per chunk when the sequence is dealt to splits. Must not change
  /// between a checkpoint and its restore. Default 1024.
  std::uint64_t chunk = 1024;
  /// Splits the chunks are dealt to (see the file comment): the unit a
  /// worker owns, and the most workers that get work (extra workers idle).
  /// Keep it a multiple of the worker counts you use, so workers get equal
  /// shares. Must not change between a checkpoint and its restore. At least 1.
  /// Default 128.
  std::uint64_t splits = 128;
};

namespace detail {

/// Where one generator reader is in the chunks of its splits: per owned
/// split, how many of its records were taken, and a cursor walking the
/// owned chunks in increasing chunk number. Records are taken in runs of
/// consecutive indices (never past a chunk), so there is no division per record.
class GeneratorSplits {
 public:
  /// Worker `worker` of `workers`; `count` 0: unbounded.
  GeneratorSplits(std::uint64_t count, std::uint64_t chunk, std::uint64_t splits, std::uint64_t worker,
                  std::uint64_t workers)
      : count_(count), chunk_(chunk), splits_(splits), first_(worker), stride_(workers) {
    owned_ = worker < splits ? (splits - worker - 1) / workers + 1 : 0;
    chunks_ = count / chunk + (count % chunk != 0 ? 1 : 0);
    taken_.assign(owned_, 0);
    remaining_ = 0;
    for (std::uint64_t j = 0; j < owned_; ++j) remaining_ = saturating_add(remaining_, split_size(split(j)));
  }

  std::uint64_t owned() const { return owned_; }
  /// The j-th owned split.
  std::uint64_t split(std::uint64_t j) const { return first_ + j * stride_; }
  /// Records of owned split j taken so far.
  std::uint64_t taken(std::uint64_t j) const { return taken_[j]; }
  /// Records left to take (saturates for an unbounded generator).
  std::uint64_t remaining() const { return remaining_; }
  /// Records split s holds (max for an unbounded generator).
  std::uint64_t split_size(std::uint64_t s) const {
    if (count_ == 0) return kUnbounded;
    const std::uint64_t full = count_ / chunk_;  // chunks [0, full) are full
    std::uint64_t n = full > s ? ((full - s - 1) / splits_ + 1) * chunk_ : 0;
    if (full % splits_ == s) n += count_ % chunk_;
    return n;
  }

  /// The next run of records to take: its first global index and length
  /// (0: none left). Moves the cursor past chunks taken already.
  std::pair<std::uint64_t, std::uint64_t> next_run() {
    while (owned_ > 0) {
      const std::uint64_t c = round_ * splits_ + split(j_);
      // Compared by chunk number: c * chunk_ may wrap for a count near 2^64.
      if (count_ != 0 && c >= chunks_) break;  // owned chunks only grow from here
      const std::uint64_t begin = c * chunk_;
      // The cursor starts at the lowest chunk not taken, so taken_ >= this
      // chunk's start in its split.
      const std::uint64_t done = taken_[j_] - round_ * chunk_;
      if (done < chunk_) {
        const std::uint64_t i = begin + done;
        std::uint64_t n = chunk_ - done;
        if (count_ != 0) n = std::min(n, count_ - i);
        if (n > 0) return {i, n};
      }
      if (++j_ == owned_) {
        j_ = 0;
        ++round_;
      }
    }
    return {0, 0};
  }
  /// Takes n records of the run next_run() returned (n <= its length).
  void take(std::uint64_t n) {
    taken_[j_] += n;
    if (count_ != 0) remaining_ -= n;
  }

  /// Owned split index and offset in its split of global record i (a record
  /// of one of this reader's splits).
  std::pair<std::uint64_t, std::uint64_t> locate(std::uint64_t i) const {
    const std::uint64_t c = i / chunk_;
    return {(c % splits_ - first_) / stride_, (c / splits_) * chunk_ + i % chunk_};
  }

  /// Sets how much of each owned split was taken (`taken[j]` for owned
  /// split j, each at most its split_size) and puts the cursor at the lowest
  /// chunk not fully taken.
  void restore(std::vector<std::uint64_t> taken) {
    taken_ = std::move(taken);
    remaining_ = 0;
    std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
    for (std::uint64_t j = 0; j < owned_; ++j) {
      remaining_ = saturating_add(remaining_, split_size(split(j)) - taken_[j]);
      const std::uint64_t q = (taken_[j] / chunk_) * owned_ + j;  // its next chunk, in cursor order
      best = std::min(best, q);
    }
    round_ = owned_ > 0 ? best / owned_ : 0;
    j_ = owned_ > 0 ? best % owned_ : 0;
  }

  static constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

 private:
  static std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a > kUnbounded - b ? kUnbounded : a + b; }

  std::uint64_t count_, chunk_, splits_, first_, stride_;
  std::uint64_t owned_ = 0;
  std::uint64_t chunks_ = 0;  // chunks holding records (bounded)
  std::vector<std::uint64_t> taken_;  // per owned split
  std::uint64_t remaining_ = 0;
  // The cursor: owned split j_ in round round_, i.e. chunk round_ * splits_ + split(j_).
  std::uint64_t round_ = 0, j_ = 0;
};

}  // namespace detail

template <class F>
class Generator final : public Source<std::decay_t<std::invoke_result_t<const F&, std::uint64_t>>> {
 public:
  using T = std::decay_t<std::invoke_result_t<const F&, std::uint64_t>>;

  Generator(GeneratorOptions options, F make, std::string name = "generator")
      : options_(options), make_(std::move(make)), name_(std::move(name)) {
    options_.buffer.validate(name_ + ".buffer");
    if (options_.chunk == 0) throw ConfigError(name_, "chunk", "must be > 0");
    if (options_.splits == 0) throw ConfigError(name_, "splits", "must be > 0");
    if (options_.events_per_second < 0) throw ConfigError(name_, "events_per_second", "must be >= 0");
    check_timestamps();
  }

  std::string default_name() const override { return name_; }

  std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(*this, ctx);
  }

  bool supports_checkpoints() const override { return true; }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(const Generator& g, const SourceContext& ctx)
        : g_(g),
          ctx_(ctx),
          splits_(g.options_.count, g.options_.chunk, g.options_.splits, ctx.worker_index, ctx.worker_count) {
      if (g.options_.events_per_second > 0) {
        buffer_metrics_ = &ctx.registry->add_buffer(ctx.name + ".buffer");
        capacity_ = g.options_.buffer.capacity;
        buffer_metrics_->capacity.set(static_cast<std::int64_t>(capacity_));
        rate_per_us_ = g.options_.events_per_second / 1e6 / static_cast<double>(ctx.worker_count);
        start_us_ = ctx.clock->now_us();
      }
    }

    SourceStatus poll(Batch<T>& out, std::vector<DeadLetter>&, std::size_t max_records) override {
      if (rate_per_us_ == 0) return emit(out, max_records) ? SourceStatus::kMore : SourceStatus::kEnd;
      arrive(ctx_.clock->now_us());
      std::size_t n = std::min<std::uint64_t>(max_records, buffered_);
      if (!emit_buffered(out, n)) return SourceStatus::kEnd;
      return buffered_ > 0 ? SourceStatus::kMore : SourceStatus::kNothingNow;
    }

    // Position: the splits and chunk it was cut with (a restore with others
    // would misread it), then (split, records emitted) for each owned split.
    // Records still in the rate-limited buffer were not emitted.
    void snapshot_position(StateWriter& w) const override {
      std::vector<std::uint64_t> emitted(splits_.owned());
      for (std::uint64_t j = 0; j < emitted.size(); ++j) emitted[j] = splits_.taken(j);
      // A buffered range may span chunks (so splits): look at each chunk's first record.
      const std::uint64_t chunk = g_.options_.chunk;
      for (const auto& [first, end] : ranges_) {
        for (std::uint64_t i = first; i < end; i = (i / chunk + 1) * chunk) {
          const auto [j, offset] = splits_.locate(i);
          emitted[j] = std::min(emitted[j], offset);
        }
      }
      w.write(g_.options_.splits);
      w.write(g_.options_.chunk);
      std::vector<std::pair<std::uint64_t, std::uint64_t>> parts;
      parts.reserve(emitted.size());
      for (std::uint64_t j = 0; j < emitted.size(); ++j) parts.emplace_back(splits_.split(j), emitted[j]);
      w.write(parts);
    }

    // Takes the positions of its own splits from every old reader's part.
    void restore_position(const std::vector<std::string_view>& positions) override {
      const GeneratorOptions& o = g_.options_;
      std::vector<std::uint64_t> taken(splits_.owned(), 0);
      std::vector<bool> found(splits_.owned(), false);
      const std::uint64_t first = ctx_.worker_index, stride = ctx_.worker_count;
      for (std::size_t old = 0; old < positions.size(); ++old) {
        const std::string what = "position of generator '" + ctx_.name + "' reader " + std::to_string(old);
        StateReader r(positions[old]);
        const auto splits = r.read<std::uint64_t>();
        const auto chunk = r.read<std::uint64_t>();
        const auto parts = r.read<std::vector<std::pair<std::uint64_t, std::uint64_t>>>();
        r.expect_end(what);
        if (splits != o.splits || chunk != o.chunk)
          throw ConfigError(ctx_.name, splits != o.splits ? "splits" : "chunk",
                            "the checkpoint was taken with splits = " + std::to_string(splits) + ", chunk = " +
                                std::to_string(chunk) + "; this generator has splits = " + std::to_string(o.splits) +
                                ", chunk = " + std::to_string(o.chunk) + " (they must not change across a restore)");
        for (const auto& [s, n] : parts) {
          if (s >= o.splits) throw StateFormatError(what, std::nullopt, "split " + std::to_string(s) + " >= splits");
          if (n > splits_.split_size(s))
            throw ConfigError(ctx_.name, "count",
                              "the checkpoint emitted " + std::to_string(n) + " records of split " + std::to_string(s) +
                                  ", which holds only " + std::to_string(splits_.split_size(s)) +
                                  " with this count (count must not shrink across a restore)");
          if (s % stride != first) continue;  // another reader's now
          const std::uint64_t j = (s - first) / stride;
          if (found[j]) throw StateFormatError(what, std::nullopt, "split " + std::to_string(s) + " appears twice");
          found[j] = true;
          taken[j] = n;
        }
      }
      for (std::uint64_t j = 0; j < taken.size(); ++j)
        if (!found[j])
          throw StateFormatError("positions of generator '" + ctx_.name + "'", std::nullopt,
                                 "no reader of the checkpointed run had split " + std::to_string(splits_.split(j)));
      splits_.restore(std::move(taken));
    }

   private:
    /// ts + n * step in wrapping (unsigned) arithmetic. Records' timestamps
    /// are within the valid range (check_timestamps), but the end iterator
    /// of a run, one step past the last record, may not be (its timestamp is
    /// never used), and first + i * step may pass 2^63 on the way.
    static Timestamp ts_add(Timestamp ts, DurationUs step, std::uint64_t n) {
      return static_cast<Timestamp>(static_cast<std::uint64_t>(ts) + n * static_cast<std::uint64_t>(step));
    }

    /// Records i, i+1, ... as a forward range; dereferencing makes one.
    struct Records {
      using iterator_category = std::forward_iterator_tag;
      using value_type = Record<T>;
      using difference_type = std::ptrdiff_t;
      using pointer = void;
      using reference = Record<T>;

      const F* make = nullptr;
      std::uint64_t i = 0;
      Timestamp ts = 0;
      Timestamp step = 0;

      Record<T> operator*() const { return Record<T>{(*make)(i), ts}; }
      Records& operator++() {
        ++i;
        ts = ts_add(ts, step, 1);
        return *this;
      }
      Records operator++(int) {
        Records old = *this;
        ++*this;
        return old;
      }
      bool operator==(const Records& o) const { return i == o.i; }
      difference_type operator-(const Records& o) const { return static_cast<difference_type>(i - o.i); }
      Records advanced(std::uint64_t n) const { return Records{make, i + n, ts_add(ts, step, n), step}; }
    };

    // Appends records [i, i + n) to out. A sized range: the batch grows once
    // and each record is built in place, with no capacity check per record.
    void append(Batch<T>& out, std::uint64_t i, std::uint64_t n) const {
      const GeneratorOptions& o = g_.options_;
      const Records first{&g_.make_, i, ts_add(o.first_ts_us, o.ts_step_us, i), o.ts_step_us};
      out.insert(out.end(), first, first.advanced(n));
    }

    // Appends up to n records; false once exhausted.
    bool emit(Batch<T>& out, std::size_t n) {
      while (n > 0) {
        const auto [i, len] = splits_.next_run();
        if (len == 0) return false;
        const std::uint64_t run = std::min<std::uint64_t>(n, len);
        append(out, i, run);
        splits_.take(run);
        n -= static_cast<std::size_t>(run);
      }
      return splits_.next_run().second != 0;
    }

    // The simulated producer: how many of this worker's records have arrived
    // by `now`, and what the buffer strategy does with them.
    void arrive(Timestamp now) {
      const std::uint64_t due = static_cast<std::uint64_t>(static_cast<double>(now - start_us_) * rate_per_us_);
      if (due <= arrived_) return;
      const BufferOptions& opts = g_.options_.buffer;
      if (opts.strategy == Backpressure::kAdaptive && buffered_ == 0 && capacity_ > opts.capacity) {
        // Drained: shrink back (halving), as exchange channels do.
        capacity_ = std::max<std::uint64_t>(opts.capacity, capacity_ / 2);
        buffer_metrics_->capacity.set(static_cast<std::int64_t>(capacity_));
      }
      std::uint64_t fresh = due - arrived_;
      // Due by the clock, but beyond this worker's share: never let arrivals run past its end.
      const std::uint64_t past_end = fresh > splits_.remaining() ? fresh - splits_.remaining() : 0;
      fresh -= past_end;
      while (fresh > 0) {
        if (buffered_ < capacity_) {
          const std::uint64_t take = std::min<std::uint64_t>(fresh, capacity_ - buffered_);
          accept(take);
          fresh -= take;
          continue;
        }
        buffer_metrics_->backpressure_events.add(1);
        switch (g_.options_.buffer.strategy) {
          case Backpressure::kBlock:
            // The producer waits: these records arrive later, nothing is lost.
            // Shift its schedule by the whole backlog, so nothing more is due now.
            start_us_ += static_cast<Timestamp>(static_cast<double>(fresh + past_end) / rate_per_us_);
            fresh = 0;
            break;
          case Backpressure::kDropNewest:
            count_dropped(fresh);
            arrived_ += fresh;
            pull(fresh, [](std::uint64_t, std::uint64_t) {});
            fresh = 0;
            break;
          case Backpressure::kDropOldest: {
            const std::uint64_t n = std::min<std::uint64_t>(fresh, buffered_);
            drop_oldest(n);
            break;
          }
          case Backpressure::kSignal:
            accept(fresh);
            fresh = 0;
            break;
          case Backpressure::kAdaptive:
            if (capacity_ < g_.options_.buffer.adaptive_limit()) {
              capacity_ = std::min<std::uint64_t>(capacity_ * 2, g_.options_.buffer.adaptive_limit());
              buffer_metrics_->capacity.set(static_cast<std::int64_t>(capacity_));
            } else {
              start_us_ += static_cast<Timestamp>(static_cast<double>(fresh + past_end) / rate_per_us_);
              fresh = 0;
            }
            break;
        }
      }
    }

    // Takes the next n records of this reader's splits, in runs (n <= remaining).
    template <class G>
    void pull(std::uint64_t n, G&& each_run) {
      while (n > 0) {
        const auto [i, len] = splits_.next_run();
        const std::uint64_t run = std::min(n, len);
        each_run(i, run);
        splits_.take(run);
        n -= run;
      }
    }

    void accept(std::uint64_t n) {
      buffer_metrics_->occupancy_sum.add(buffered_);
      buffer_metrics_->occupancy_samples.add(1);
      buffer_metrics_->records.add(n);
      buffer_metrics_->batches.add(1);
      pull(n, [this](std::uint64_t i, std::uint64_t len) {
        if (!ranges_.empty() && ranges_.back().second == i) {
          ranges_.back().second += len;
        } else {
          ranges_.emplace_back(i, i + len);
        }
      });
      arrived_ += n;
      buffered_ += n;
    }

    void count_dropped(std::uint64_t n) {
      buffer_metrics_->dropped_records.add(n);
      ctx_.metrics->dropped_records.add(n);
    }

    void drop_oldest(std::uint64_t n) {
      count_dropped(n);
      buffered_ -= n;
      while (n > 0) {
        auto& r = ranges_.front();
        const std::uint64_t take = std::min(n, r.second - r.first);
        r.first += take;
        n -= take;
        if (r.first == r.second) ranges_.pop_front();
      }
    }

    bool emit_buffered(Batch<T>& out, std::size_t n) {
      buffered_ -= n;
      while (n > 0) {
        auto& r = ranges_.front();
        const std::uint64_t take = std::min<std::uint64_t>(n, r.second - r.first);
        append(out, r.first, take);
        r.first += take;
        n -= static_cast<std::size_t>(take);
        if (r.first == r.second) ranges_.pop_front();
      }
      return !(buffered_ == 0 && splits_.remaining() == 0);
    }

    const Generator& g_;
    SourceContext ctx_;
    detail::GeneratorSplits splits_;  // records taken: emitted, buffered or dropped
    // Rate-limited mode.
    BufferMetrics* buffer_metrics_ = nullptr;
    double rate_per_us_ = 0;
    Timestamp start_us_ = 0;
    std::uint64_t capacity_ = 0;
    std::uint64_t arrived_ = 0;   // records arrived in this run (kept or dropped)
    std::uint64_t buffered_ = 0;  // records waiting in ranges_
    // Buffered records: global index ranges [first, second), oldest first.
    std::deque<std::pair<std::uint64_t, std::uint64_t>> ranges_;
  };

  /// Keeps every timestamp within the valid range: refuses a bounded
  /// sequence that leaves it; ends an unbounded one at its last record within
  /// it (by setting count).
  void check_timestamps() {
    const GeneratorOptions& o = options_;
    if (!is_valid_timestamp(o.first_ts_us)) throw ConfigError(name_, "first_ts_us", timestamp_out_of_range(o.first_ts_us));
    if (o.count != 0) {
      const __int128 last = static_cast<__int128>(o.first_ts_us) +
                            static_cast<__int128>(o.count - 1) * static_cast<__int128>(o.ts_step_us);
      if (last < kMinValidTimestamp || last > kMaxValidTimestamp)
        throw ConfigError(name_, "ts_step_us",
                          "record " + std::to_string(o.count - 1) + " of " + std::to_string(o.count) +
                              " would leave the valid timestamp range [" + std::to_string(kMinValidTimestamp) + ", " +
                              std::to_string(kMaxValidTimestamp) + "] (µs, ±2^62)");
    } else if (o.ts_step_us != 0) {
      // Records 0 .. room are within the range; room < 2^63, so count fits.
      const std::uint64_t span = o.ts_step_us > 0 ? static_cast<std::uint64_t>(kMaxValidTimestamp - o.first_ts_us)
                                                  : static_cast<std::uint64_t>(o.first_ts_us - kMinValidTimestamp);
      const std::uint64_t step = o.ts_step_us > 0 ? static_cast<std::uint64_t>(o.ts_step_us)
                                                  : std::uint64_t{0} - static_cast<std::uint64_t>(o.ts_step_us);
      options_.count = span / step + 1;
    }
  }

  GeneratorOptions options_;
  F make_;
  std::string name_;
};

}  // namespace sluice
