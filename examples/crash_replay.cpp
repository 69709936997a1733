// Crash and replay: kill it at any moment, start it again, and its output is
// the output of a run that never crashed: nothing lost, nothing twice.
//
//   crash_replay --input FILE --state-dir DIR --output FILE --workers N
//                --checkpoint-interval-ms MS [--callback-output FILE]
//   crash_replay --generate FILE [--events N] [--keys K] [--seed S]
//
// The job reads JSON lines, one event each, with the time in milliseconds
// and mildly out of order:
//   {"key": "k17", "ts": 1700000000123, "value": 42}
// and computes, per key:
// - a keyed process function sorts out late events (more than 5 s behind
//   the key's newest: a "late" line each) and keeps each key's running count
//   and total in keyed state, reported by event-time timers every 10 s of
//   event time;
// - tumbling 1 s event-time windows (count and sum of value, 20 s allowed
//   lateness) over the events on time.
// Sorting late events by the key's own order, not by the watermark, keeps
// the output the same whatever the timing: after a restore the watermark
// can lag behind the records for a moment (the operators wait for every
// worker's first watermark), so a watermark-based lateness test could
// classify an event differently than the run before the crash did.
// Every result is one JSON line in --output, written by the exactly-once
// file sink: the file only ever holds what committed checkpoints cover. With
// --callback-output the timer reports are also delivered by an on_commit
// callback sink, appended to that file (repeated only if a kill lands in the
// middle of one delivery).
//
// State (RocksDB checkpoints every MS milliseconds) is kept in --state-dir.
// Started on a state directory that holds a checkpoint, it restores the
// newest one (on any --workers) and replays from there. Progress and the
// checkpoint it restored from go to stderr; at the end of the input it
// exits 0. --generate writes a deterministic input file for it: events 1 ms
// apart, jittered by up to ±0.5 s (within the 2 s watermark bound), from
// the 10,000th on every 997th 12 s late (within the allowed lateness) and
// every 4999th 60 s late (beyond it): late whatever the batch boundaries,
// so the results do not depend on timing or worker count.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>

#include "connectors/file_sink.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::string key;
  std::int64_t ts_ms = 0;
  std::int64_t value = 0;
};

struct Flags {
  std::string input, state_dir, output, callback_output, generate;
  std::size_t workers = 1;
  std::int64_t interval_ms = 0;
  std::uint64_t events = 200'000;
  std::uint32_t keys = 100;
  std::uint64_t seed = 1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "crash_replay: %s\n"
               "usage: crash_replay --input FILE --state-dir DIR --output FILE --workers N --checkpoint-interval-ms MS "
               "[--callback-output FILE]\n"
               "       crash_replay --generate FILE [--events N] [--keys K] [--seed S]\n",
               why.c_str());
  std::exit(2);
}

template <class T>
T number(const std::string& flag, const char* text) {
  T v{};
  const char* end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc{} || p != end) usage("bad value for " + flag + ": '" + text + "'");
  return v;
}

Flags parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value for " + a);
    const char* v = argv[++i];
    if (a == "--input") f.input = v;
    else if (a == "--state-dir") f.state_dir = v;
    else if (a == "--output") f.output = v;
    else if (a == "--callback-output") f.callback_output = v;
    else if (a == "--workers") f.workers = number<std::size_t>(a, v);
    else if (a == "--checkpoint-interval-ms") f.interval_ms = number<std::int64_t>(a, v);
    else if (a == "--generate") f.generate = v;
    else if (a == "--events") f.events = number<std::uint64_t>(a, v);
    else if (a == "--keys") f.keys = number<std::uint32_t>(a, v);
    else if (a == "--seed") f.seed = number<std::uint64_t>(a, v);
    else usage("unknown flag " + a);
  }
  if (!f.generate.empty()) {
    if (f.keys == 0) usage("--keys must be > 0");
    return f;
  }
  if (f.input.empty() || f.state_dir.empty() || f.output.empty()) usage("--input, --state-dir and --output are required");
  if (f.workers == 0) usage("--workers must be > 0");
  if (f.interval_ms <= 0) usage("--checkpoint-interval-ms must be > 0");
  return f;
}

int generate(const Flags& f) {
  std::ofstream out(f.generate, std::ios::trunc);
  if (!out) usage("cannot write " + f.generate);
  std::mt19937_64 rng(f.seed);
  constexpr std::int64_t kStartMs = 1'700'000'000'000;
  for (std::uint64_t i = 0; i < f.events; ++i) {
    std::int64_t ts = kStartMs + static_cast<std::int64_t>(i) + static_cast<std::int64_t>(rng() % 1001) - 500;
    // Late ones only once watermarks flow (after the first batches).
    if (i >= 10'000 && i % 4999 == 4998) ts -= 60'000;
    else if (i >= 10'000 && i % 997 == 996) ts -= 12'000;
    out << "{\"key\": \"k" << rng() % f.keys << "\", \"ts\": " << ts << ", \"value\": " << rng() % 1000 << "}\n";
  }
  return out.good() ? 0 : 1;
}

// One key's state in SortAndTotal below.
struct KeyTotals {
  std::int64_t newest_us = kMinTimestamp;  // the key's newest event on time
  std::int64_t events = 0, total = 0;      // reported so far
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> buckets;  // end (µs) -> (count, sum), not yet reported
};

}  // namespace

// Keyed state is checkpointed: how KeyTotals is stored.
template <>
struct sluice::Serde<KeyTotals> {
  static void write(StateWriter& w, const KeyTotals& t) {
    w.write(t.newest_us);
    w.write(t.events);
    w.write(t.total);
    w.write(t.buckets);
  }
  static KeyTotals read(StateReader& r) {
    // Braced initialization evaluates left to right: fields are read in order.
    return KeyTotals{r.read<std::int64_t>(), r.read<std::int64_t>(), r.read<std::int64_t>(),
                     r.read<std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>>>()};
  }
};

namespace {

// Per key: sorts out late events (more than 5 s behind the newest event of
// the key; they go to a side output) and keeps running totals of the others
// in keyed state: the count and sum of each 10 s bucket of event time, added
// to the key's totals and reported (a side output) by an event-time timer at
// the bucket's end. Both depend only on the order of the key's events, not
// on when watermarks arrive, so they are the same in every run.
struct SortAndTotal : KeyedProcessFunction<std::string, Event, Event> {
  static constexpr std::int64_t kBucketUs = 10'000'000;
  static constexpr std::int64_t kLateUs = 5'000'000;
  using Totals = KeyTotals;
  OutputTag<Event> late;
  OutputTag<std::string> reports;
  ValueState<std::string, Totals> totals;

  SortAndTotal(OutputTag<Event> late_tag, OutputTag<std::string> reports_tag)
      : late(std::move(late_tag)), reports(std::move(reports_tag)) {}
  void open(Context& ctx) { totals = ctx.value_state<Totals>("totals"); }
  void process(const Event& e, Context& ctx, Collector<Event>& out) {
    Totals& t = totals.get_or_insert();
    if (t.newest_us > ctx.timestamp() + kLateUs) {  // timestamps are within ±2^62: no overflow
      ctx.output(late, e);
      return;
    }
    t.newest_us = std::max(t.newest_us, ctx.timestamp());
    const std::int64_t end = (ctx.timestamp() / kBucketUs + 1) * kBucketUs;
    auto& b = t.buckets[end];
    ++b.first;
    b.second += e.value;
    ctx.register_event_time_timer(end - 1);
    out.emit(e);
  }
  void on_timer(Timestamp ts, Context& ctx, Collector<Event>&) {
    Totals* t = totals.get();
    if (t == nullptr) return;
    auto b = t->buckets.find(ts + 1);
    if (b == t->buckets.end()) return;
    t->events += b->second.first;
    t->total += b->second.second;
    t->buckets.erase(b);
    ctx.output(reports, "{\"key\":\"" + ctx.key() + "\",\"until_ms\":" + std::to_string((ts + 1) / 1000) +
                            ",\"events\":" + std::to_string(t->events) + ",\"total\":" + std::to_string(t->total) +
                            "}");
  }
};

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  if (!f.generate.empty()) return generate(f);
  using Result = WindowResult<std::string, std::tuple<std::uint64_t, std::int64_t>>;

  SchemaRef schema =
      Schema::make({{"key", ValueType::kString}, {"ts", ValueType::kInt64}, {"value", ValueType::kInt64}});
  const std::size_t key = schema->require("key", "to-event");
  const std::size_t ts = schema->require("ts", "to-event");
  const std::size_t value = schema->require("value", "to-event");

  Job job("crash_replay");
  OutputTag<Event> late("late");
  OutputTag<std::string> reports("reports");
  auto sorted = job.source(JsonLinesSource(f.input, schema), "events")
                    .map([=](const Row& r) { return Event{r[key].as_string(), r[ts].as_int64(), r[value].as_int64()}; })
                    .name("to-event")
                    .assign_timestamps([](const Event& e) { return e.ts_ms * 1000; })
                    .name("event-time")
                    .watermarks(bounded_out_of_orderness(2s).with_emit_interval(0us))
                    .name("watermarks")
                    .key_by([](const Event& e) { return e.key; })
                    .process(SortAndTotal(late, reports))
                    .name("sort-and-total");
  auto window_lines = sorted.key_by([](const Event& e) { return e.key; })
                          .window(tumbling(1s))
                          .allowed_lateness(20s)
                          .aggregate(count(), sum("value", &Event::value))
                          .name("per-key-second")
                          .map([](const Result& r) {
                            return "{\"key\":\"" + r.key + "\",\"kind\":\"" + to_string(r.kind) +
                                   "\",\"start_ms\":" + std::to_string(r.window.start / 1000) +
                                   ",\"count\":" + std::to_string(r.get<0>()) + ",\"sum\":" + std::to_string(r.get<1>()) +
                                   "}";
                          });
  auto late_lines = sorted.side_output(late).map([](const Event& e) {
    return "{\"key\":\"" + e.key + "\",\"late_ts_ms\":" + std::to_string(e.ts_ms) +
           ",\"value\":" + std::to_string(e.value) + "}";
  });
  auto report_lines = sorted.side_output(reports);
  window_lines.union_with(late_lines, report_lines)
      .sink(JsonLinesFileSink<std::string>(f.output, [](const std::string& s) { return s; }), "output");

  std::mutex callback_mu;
  std::FILE* callback_file = nullptr;
  if (!f.callback_output.empty()) {
    callback_file = std::fopen(f.callback_output.c_str(), "a");
    if (!callback_file) usage("cannot append to " + f.callback_output);
    report_lines.sink(CallbackSink<std::string>::on_commit([&](const std::string& line) {
                  std::lock_guard lock(callback_mu);
                  std::fprintf(callback_file, "%s\n", line.c_str());
                  std::fflush(callback_file);
                }),
                "delivered");
  }

  QueryOptions o;
  o.workers = f.workers;
  o.checkpoints.storage = rocksdb_checkpoints(f.state_dir);
  o.checkpoints.interval_us = f.interval_ms * 1000;
  o.checkpoints.log = [](const std::string& line) { std::fprintf(stderr, "crash_replay: %s\n", line.c_str()); };
  Engine engine;
  std::shared_ptr<Query> q;
  try {
    q = engine.start("crash_replay", job, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash_replay: cannot start: %s\n", e.what());
    return 1;
  }
  std::uint64_t reported = 0;
  while (!q->wait_for(50ms)) {
    const std::uint64_t done = q->last_completed_checkpoint();
    if (done != reported) {
      reported = done;
      std::fprintf(stderr, "crash_replay: checkpoint %llu complete, %llu events read\n",
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(q->metrics().records_in));
    }
  }
  if (callback_file) std::fclose(callback_file);
  const QueryStatus s = q->status();
  if (s.state != QueryState::kFinished) {
    std::fprintf(stderr, "crash_replay: query %s: %s\n", to_string(s.state), s.error.c_str());
    return 1;
  }
  std::fprintf(stderr, "crash_replay: finished: %llu events read this run, results in %s\n",
               static_cast<unsigned long long>(q->metrics().records_in), f.output.c_str());
  return 0;
}
