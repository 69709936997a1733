// Sluice flagship example: card-fraud alerts over a stream of transactions.
//
// A deterministic generator (card_fraud.hpp) plays a card network: 10,000
// cards paying at merchants, one transaction per millisecond of event time.
// Hidden in the stream are two kinds of fraud a bank would want to see at once:
//   1. "test charge": a tiny charge (< $1) followed within 60 s by a large
//      one (> $500) on the same card: a stolen card being tried, then used;
//   2. "velocity": more than 10 transactions on one card within 10 s.
// The continuous query keys the stream by card and keeps per-card state with
// event-time timers (a keyed process function); alerts go to a callback that
// prints them. Progress is printed while it runs; a summary at the end.
//
//   card_fraud_alerts [--transactions N] [--workers W] [--rate TX_PER_S] [--http PORT]
//                     [--state DIR [--checkpoint-ms MS]]
//
// With --http PORT the engine serves its dashboard, Prometheus metrics and
// JSON status on 127.0.0.1:PORT while the query runs (0: any free port); the
// URL is printed at start.
//
// With --state DIR the query is fault tolerant: it checkpoints its state
// (the card network's read position, every card's rule state and timers)
// into RocksDB under DIR every MS milliseconds (default 1000), and alerts
// are delivered once the checkpoint covering them committed. Kill it
// (kill -9) and start it again with the same flags: it restores the newest
// checkpoint, replays from there, and no alert is lost or delivered twice.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "examples/card_fraud.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace card_fraud;
using namespace std::chrono_literals;

namespace {

struct Alert {
  std::string rule;
  std::uint32_t card;
  std::string detail;
  Timestamp ts_us;
};

std::string money(std::int64_t cents) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "$%lld.%02lld", static_cast<long long>(cents / 100),
                static_cast<long long>(cents % 100));
  return buf;
}

std::string clock_text(Timestamp ts_us) {
  const std::int64_t s = ts_us / 1'000'000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld", static_cast<long long>(s / 3600 % 24),
                static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60),
                static_cast<long long>(ts_us / 1000 % 1000));
  return buf;
}

}  // namespace

// Alerts wait in checkpoints until delivered (--state): how one is stored.
template <>
struct sluice::Serde<Alert> {
  static void write(StateWriter& w, const Alert& a) {
    w.write(a.rule);
    w.write(a.card);
    w.write(a.detail);
    w.write(a.ts_us);
  }
  static Alert read(StateReader& r) {
    // Braced initialization evaluates left to right: fields are read in order.
    return Alert{r.read<std::string>(), r.read<std::uint32_t>(), r.read<std::string>(), r.read<Timestamp>()};
  }
};

namespace {

// Per-card rules on keyed state and event-time timers.
struct FraudDetector : KeyedProcessFunction<std::uint32_t, Txn, Alert> {
  struct Charge {
    Timestamp ts_us;
    std::int64_t cents;
    std::uint32_t merchant;
  };

  static void emit_test_charge(Context& ctx, const Charge& s, std::int64_t large_cents, std::uint32_t merchant,
                               Timestamp large_ts, Collector<Alert>& out) {
    out.emit(Alert{"test-charge", ctx.key(),
                   money(s.cents) + " test charge, then " + money(large_cents) + " at " + kMerchants[merchant] + " " +
                       std::to_string((large_ts - s.ts_us) / 1000) + " ms later",
                   large_ts});
  }
  // The last small and the last large charge: transactions can arrive out of
  // order (by up to the watermark's bound), so the rule matches either way round.
  ValueState<std::uint32_t, Charge> small;
  ValueState<std::uint32_t, Charge> large;
  // Velocity: transactions per card per aligned 10 s event-time window, so
  // records arriving out of order count in their own window. A small vector
  // of (window, count) per card: replayed at full speed, many windows can be
  // open between two watermarks. Each window is dropped by a timer once the
  // watermark passes its end.
  using WindowCounts = std::vector<std::pair<std::int64_t, int>>;
  ValueState<std::uint32_t, WindowCounts> velocity;

  void open(Context& ctx) {
    small = ctx.value_state<Charge>("last-small-charge");
    large = ctx.value_state<Charge>("last-large-charge");
    velocity = ctx.value_state<WindowCounts>("velocity");
  }

  void process(const Txn& t, Context& ctx, Collector<Alert>& out) {
    const Timestamp now = ctx.timestamp();
    if (t.amount_cents > kLargeCents) {
      if (const Charge* s = small.get(); s && now >= s->ts_us && now - s->ts_us <= kTestWindowUs) {
        emit_test_charge(ctx, *s, t.amount_cents, t.merchant, now, out);
        small.clear();
      } else {
        large.set(Charge{now, t.amount_cents, t.merchant});
        ctx.register_event_time_timer(now + kTestWindowUs);
      }
    } else if (t.amount_cents < kSmallCents) {
      if (const Charge* l = large.get(); l && l->ts_us >= now && l->ts_us - now <= kTestWindowUs) {
        emit_test_charge(ctx, Charge{now, t.amount_cents, 0}, l->cents, l->merchant, l->ts_us, out);
        large.clear();
      } else {
        small.set(Charge{now, t.amount_cents, t.merchant});
        ctx.register_event_time_timer(now + kTestWindowUs);  // forget it after 60 s
      }
    }
    const std::int64_t window = now / kVelocityWindowUs;
    WindowCounts& w = velocity.get_or_insert();
    // Newest first: most transactions fall in the latest window.
    auto rit = std::find_if(w.rbegin(), w.rend(), [&](const auto& p) { return p.first == window; });
    if (rit == w.rend()) {
      w.emplace_back(window, 0);
      rit = w.rbegin();
      ctx.register_event_time_timer((window + 1) * kVelocityWindowUs - 1);
    }
    if (++rit->second == kVelocityLimit + 1)
      out.emit(Alert{"velocity", ctx.key(),
                     "more than " + std::to_string(kVelocityLimit) + " transactions in the 10 s from " +
                         clock_text(window * kVelocityWindowUs),
                     now});
  }

  void on_timer(Timestamp ts, Context& ctx, Collector<Alert>&) {
    if (const Charge* s = small.get(); s && s->ts_us + kTestWindowUs <= ts) small.clear();
    if (const Charge* l = large.get(); l && l->ts_us + kTestWindowUs <= ts) large.clear();
    if (WindowCounts* w = velocity.get(); w && (ts + 1) % kVelocityWindowUs == 0) {
      const std::int64_t ended = (ts + 1) / kVelocityWindowUs - 1;
      std::erase_if(*w, [&](const auto& p) { return p.first == ended; });
      if (w->empty()) velocity.clear();
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress and alerts show at once, also through a pipe
  std::uint64_t transactions = 4'000'000;
  std::size_t workers = 0;
  double rate = 1'000'000;  // transactions per second of wall time; 0 = as fast as possible
  int http_port = -1;       // -1: no HTTP endpoint
  std::string state_dir;    // empty: no checkpoints
  std::int64_t checkpoint_ms = 1000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--transactions") && i + 1 < argc) transactions = std::stoull(argv[++i]);
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) workers = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--rate") && i + 1 < argc) rate = std::stod(argv[++i]);
    else if (!std::strcmp(argv[i], "--http") && i + 1 < argc) http_port = std::stoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--state") && i + 1 < argc) state_dir = argv[++i];
    else if (!std::strcmp(argv[i], "--checkpoint-ms") && i + 1 < argc) checkpoint_ms = std::stoll(argv[++i]);
    else {
      std::fprintf(stderr,
                   "usage: %s [--transactions N] [--workers W] [--rate TX_PER_S (0: as fast as possible)] "
                   "[--http PORT (dashboard and metrics on 127.0.0.1:PORT; 0: any free port)] "
                   "[--state DIR (RocksDB checkpoints; restores the newest on start) [--checkpoint-ms MS]]\n",
                   argv[0]);
      return 2;
    }
  }
  const bool checkpointed = !state_dir.empty();

  constexpr int kPrintedAlerts = 12;
  std::mutex mu;
  std::map<std::string, int> alerts_by_rule;
  int printed = 0;

  auto print_alert = [&](const Alert& a) {
    std::lock_guard lock(mu);
    ++alerts_by_rule[a.rule];
    if (printed++ < kPrintedAlerts)
      std::printf("  ALERT %-11s card %04u at %s  %s\n", a.rule.c_str(), a.card, clock_text(a.ts_us).c_str(),
                  a.detail.c_str());
    else if (printed == kPrintedAlerts + 1)
      std::printf("  ... (further alerts counted, not printed)\n");
  };

  Job job("card-fraud");
  job.source(Generator(GeneratorOptions{.count = transactions, .first_ts_us = kStartOfDay,
                                        .ts_step_us = kTxnSpacingUs, .events_per_second = rate},
                       make_txn),
             "card-network")
      // Periodic watermarks every 10 ms of wall time (Flink's default is 200 ms): a
      // replay runs minutes of event time per second, and state waits for them.
      // Alignment keeps the workers' shares of the card network within 30 s of
      // event time of each other, so no worker's state waits on a slow peer.
      .watermarks(bounded_out_of_orderness(2s).with_emit_interval(10ms).with_alignment(30s))
      .filter([](const Txn& t) { return t.amount_cents > 0; })
      .key_by([](const Txn& t) { return t.card; })
      .process(FraudDetector{})
      .name("fraud-detector")
      .sink(checkpointed ? CallbackSink<Alert>::on_commit(print_alert) : CallbackSink<Alert>(print_alert), "alerts");

  Engine engine(EngineOptions{.workers = workers});
  std::unique_ptr<HttpServer> http;
  if (http_port >= 0) {
    http = std::make_unique<HttpServer>(engine, HttpServerOptions{.listen = "127.0.0.1:" + std::to_string(http_port)});
    std::printf("dashboard at %s/  (metrics at %s/metrics)\n", http->url().c_str(), http->url().c_str());
  }
  std::printf("Sluice card-fraud demo: %llu transactions from %u cards, rules 'test-charge' and 'velocity'\n",
              static_cast<unsigned long long>(transactions), kCards);
  std::printf("starting query 'card-fraud' at %.0f transactions/s (--rate 0 for full speed)\n", rate);
  const auto t0 = std::chrono::steady_clock::now();
  QueryOptions options;
  if (checkpointed) {
    options.checkpoints.storage = rocksdb_checkpoints(state_dir);
    options.checkpoints.interval_us = checkpoint_ms * 1000;
    options.checkpoints.log = [](const std::string& line) {
      std::printf("  [checkpoints] %s\n", line.c_str());
      std::fflush(stdout);
    };
    std::printf("checkpoints every %lld ms in %s; alerts are delivered once their checkpoint committed\n",
                static_cast<long long>(checkpoint_ms), state_dir.c_str());
  }
  std::shared_ptr<Query> query;
  try {
    query = engine.start("card-fraud", job, options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cannot start query 'card-fraud': %s\n", e.what());
    return 1;
  }
  while (!query->wait_for(500ms)) {
    QueryMetrics m = query->metrics();
    std::lock_guard lock(mu);
    std::string checkpoint;
    if (checkpointed) checkpoint = ", checkpoint " + std::to_string(query->last_completed_checkpoint());
    std::printf("  [progress] %llu transactions read, %d alerts, watermark %s%s\n",
                static_cast<unsigned long long>(m.records_in), printed,
                m.watermark_us == kMinTimestamp ? "-" : clock_text(m.watermark_us).c_str(), checkpoint.c_str());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  QueryStatus status = query->status();
  QueryMetrics m = query->metrics();
  if (status.state == QueryState::kFailed) {
    std::fprintf(stderr, "query failed: %s\n", status.error.c_str());
    return 1;
  }
  std::printf("\nSummary\n");
  std::printf("  state              %s on %zu workers\n", to_string(status.state), query->workers());
  std::printf("  transactions read  %llu in %.2f s (%.1f M/s)\n", static_cast<unsigned long long>(m.records_in), secs,
              static_cast<double>(m.records_in) / secs / 1e6);
  // Every block of 50,000 transactions plants one of each fraud (see make_txn).
  // A restored run delivers only what the run before it had not: the two
  // together find every planted fraud.
  const std::uint64_t restored = query->restored_checkpoint();
  const std::map<std::string, std::uint64_t> expected{{"test-charge", planted_test_charges(transactions)},
                                                      {"velocity", planted_bursts(transactions)}};
  for (const auto& [rule, n] : expected) {
    const int found = alerts_by_rule.count(rule) ? alerts_by_rule.at(rule) : 0;
    std::printf("  alerts %-11s %d (planted: %llu%s)\n", rule.c_str(), found, static_cast<unsigned long long>(n),
                restored != 0 ? "; the runs before this one delivered the rest" : "");
  }
  if (checkpointed)
    std::printf("  checkpoints        %llu completed, %llu failed%s\n",
                static_cast<unsigned long long>(query->checkpoint_stats().completed),
                static_cast<unsigned long long>(query->checkpoint_stats().failed),
                restored != 0 ? (", restored checkpoint " + std::to_string(restored)).c_str() : "");
  std::printf("  dead letters       %llu\n", static_cast<unsigned long long>(m.dead_letters));
  if (const OperatorStats* d = m.op("fraud-detector"))
    std::printf("  fraud-detector     %llu in, %llu out\n", static_cast<unsigned long long>(d->records_in),
                static_cast<unsigned long long>(d->records_out));
  return 0;
}
