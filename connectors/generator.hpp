// A deterministic generator source.
//
// Record i (i = 0, 1, ...) is `make(i)` with event timestamp
// `first_ts_us + i * ts_step_us`, so a run is reproducible and independent of
// the worker count: workers take the sequence in chunks, round-robin. Every
// timestamp stays within the valid range (±2^62 µs, streaming/time.hpp): a
// bounded generator whose timestamps would leave it is refused with a
// ConfigError; an unbounded one ends after its last record within it.
//
// As fast as possible by default. With `events_per_second`, it behaves like
// an external producer emitting at that rate (per the query's clock) into a
// bounded buffer of `buffer.capacity` records; when the job falls behind, the
// buffer's backpressure strategy decides: Block (the producer waits: nothing
// lost, arrivals slow down), DropOldest / DropNewest (counted in
// `dropped_records`), Signal (never waits, never drops, counts), Adaptive
// (capacity doubles up to its limit, then blocks). With a ManualClock this is
// fully deterministic.
#pragma once

#include <cstdint>
#include <deque>
#include <iterator>
#include <string>
#include <utility>

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
  /// Records per chunk when the sequence is dealt to workers. Default 1024.
  std::uint64_t chunk = 1024;
};

template <class F>
class Generator final : public Source<std::decay_t<std::invoke_result_t<const F&, std::uint64_t>>> {
 public:
  using T = std::decay_t<std::invoke_result_t<const F&, std::uint64_t>>;

  Generator(GeneratorOptions options, F make, std::string name = "generator")
      : options_(options), make_(std::move(make)), name_(std::move(name)) {
    options_.buffer.validate(name_ + ".buffer");
    if (options_.chunk == 0) throw ConfigError(name_, "chunk", "must be > 0");
    if (options_.events_per_second < 0) throw ConfigError(name_, "events_per_second", "must be >= 0");
    check_timestamps();
  }

  std::string default_name() const override { return name_; }

  std::unique_ptr<SourceReader<T>> open(const SourceContext& ctx) const override {
    return std::make_unique<Reader>(*this, ctx);
  }

 private:
  class Reader final : public SourceReader<T> {
   public:
    Reader(const Generator& g, const SourceContext& ctx)
        : g_(g), ctx_(ctx), worker_(ctx.worker_index), workers_(ctx.worker_count) {
      if (g.options_.events_per_second > 0) {
        buffer_metrics_ = &ctx.registry->add_buffer(ctx.name + ".buffer");
        capacity_ = g.options_.buffer.capacity;
        buffer_metrics_->capacity.set(static_cast<std::int64_t>(capacity_));
        rate_per_us_ = g.options_.events_per_second / 1e6 / static_cast<double>(workers_);
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

    // Global index of this worker's j-th record.
    std::uint64_t global_index(std::uint64_t j) const {
      const std::uint64_t chunk = g_.options_.chunk;
      return ((j / chunk) * workers_ + worker_) * chunk + j % chunk;
    }
    bool exhausted(std::uint64_t j) const { return g_.options_.count != 0 && global_index(j) >= g_.options_.count; }

    // Appends up to n records from local index next_; false once exhausted.
    // Walks whole runs of consecutive global indices, so there is no
    // division per record.
    bool emit(Batch<T>& out, std::size_t n) {
      const GeneratorOptions& o = g_.options_;
      const std::uint64_t chunk = o.chunk;
      while (n > 0) {
        const std::uint64_t i = global_index(next_);
        const std::uint64_t in_chunk = chunk - next_ % chunk;
        std::uint64_t run = std::min<std::uint64_t>(n, in_chunk);
        if (o.count != 0) {
          if (i >= o.count) return false;
          run = std::min<std::uint64_t>(run, o.count - i);
        }
        // A sized range: the batch grows once and each record is built in
        // place, with no capacity check per record.
        const Records first{&g_.make_, i, ts_add(o.first_ts_us, o.ts_step_us, i), o.ts_step_us};
        out.insert(out.end(), first, first.advanced(run));
        next_ += run;
        n -= static_cast<std::size_t>(run);
      }
      return !exhausted(next_);
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
      std::uint64_t past_end = 0;  // due by the clock, but beyond this worker's share
      if (g_.options_.count != 0) {
        // Never let arrivals run past the end of this worker's share.
        std::uint64_t left = 0;
        while (!exhausted(arrived_ + left) && left < fresh) ++left;
        past_end = fresh - left;
        fresh = left;
      }
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

    void accept(std::uint64_t n) {
      buffer_metrics_->occupancy_sum.add(buffered_);
      buffer_metrics_->occupancy_samples.add(1);
      buffer_metrics_->records.add(n);
      buffer_metrics_->batches.add(1);
      if (!ranges_.empty() && ranges_.back().second == arrived_) {
        ranges_.back().second += n;
      } else {
        ranges_.emplace_back(arrived_, arrived_ + n);
      }
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
      const GeneratorOptions& o = g_.options_;
      for (std::size_t k = 0; k < n; ++k) {
        auto& r = ranges_.front();
        const std::uint64_t i = global_index(r.first++);
        out.push_back(Record<T>{g_.make_(i), ts_add(o.first_ts_us, o.ts_step_us, i)});
        if (r.first == r.second) ranges_.pop_front();
      }
      buffered_ -= n;
      return !(buffered_ == 0 && exhausted(arrived_));
    }

    const Generator& g_;
    SourceContext ctx_;
    std::uint64_t worker_, workers_;
    std::uint64_t next_ = 0;  // as-fast-as-possible mode: next local index
    // Rate-limited mode.
    BufferMetrics* buffer_metrics_ = nullptr;
    double rate_per_us_ = 0;
    Timestamp start_us_ = 0;
    std::uint64_t capacity_ = 0;
    std::uint64_t arrived_ = 0;   // local indices [0, arrived_) have arrived (kept or dropped)
    std::uint64_t buffered_ = 0;  // records waiting in ranges_
    std::deque<std::pair<std::uint64_t, std::uint64_t>> ranges_;  // buffered local index ranges [first, second)
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
