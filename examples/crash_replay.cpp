// Crash and replay: a windowed job checkpointed to RocksDB, killed at any
// moment, restarted, and its output file the same as a run without a crash.
//
//   crash_replay --state /tmp/cr-state --out /tmp/cr.jsonl [--workers 2]
//                [--count 2000000] [--rate 500000] [--interval-ms 200] [--keys 1000]
//
// Events (key, amount) come from a deterministic generator at --rate per
// second, event time 1 ms apart; per key and tumbling 1 s window the job
// writes count and sum as JSON lines to --out, exactly once: the file sink
// truncates to the restored checkpoint and the job replays from there.
// Kill it (kill -9) and start it again with the same flags: it says which
// checkpoint it restores, and once it finishes --out holds exactly the lines
// of an uninterrupted run (sort both to compare: workers interleave lines).
// Progress goes to stdout, one line per completed checkpoint:
//   "checkpoint 3 complete (12345 events in)".
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "connectors/file_sink.hpp"
#include "sluice/sluice.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::uint32_t key;
  std::int64_t amount;
};

struct Flags {
  std::string state, out;
  std::size_t workers = 2;
  std::uint64_t count = 2'000'000;
  double rate = 500'000;
  std::int64_t interval_ms = 200;
  std::uint32_t keys = 1000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "crash_replay: %s\nusage: crash_replay --state DIR --out FILE [--workers N] [--count N] [--rate "
               "EVENTS_PER_S (0: as fast as possible)] [--interval-ms MS] [--keys N]\n",
               why);
  std::exit(2);
}

template <class T>
T number(const char* flag, const char* text) {
  T v{};
  const char* end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc{} || p != end) usage((std::string("bad value for ") + flag + ": '" + text + "'").c_str());
  return v;
}

Flags parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--state") f.state = v;
    else if (a == "--out") f.out = v;
    else if (a == "--workers") f.workers = number<std::size_t>("--workers", v);
    else if (a == "--count") f.count = number<std::uint64_t>("--count", v);
    else if (a == "--rate") f.rate = number<double>("--rate", v);
    else if (a == "--interval-ms") f.interval_ms = number<std::int64_t>("--interval-ms", v);
    else if (a == "--keys") f.keys = number<std::uint32_t>("--keys", v);
    else usage(("unknown flag " + a).c_str());
  }
  if (f.state.empty() || f.out.empty()) usage("--state and --out are required");
  if (f.keys == 0) usage("--keys must be > 0");
  return f;
}

// Event i: a key and an amount that are fixed functions of i.
Event make_event(std::uint64_t i, std::uint32_t keys) {
  const std::uint64_t h = (i + 1) * 0x9E3779B97F4A7C15ull;
  return Event{static_cast<std::uint32_t>((h >> 32) % keys), static_cast<std::int64_t>(h % 1000)};
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = parse(argc, argv);
  using Result = WindowResult<std::uint32_t, std::tuple<std::uint64_t, std::int64_t>>;

  Job job("crash_replay");
  GeneratorOptions g{.count = f.count, .first_ts_us = 0, .ts_step_us = 1000};
  g.events_per_second = f.rate;
  const std::uint32_t keys = f.keys;
  job.source(Generator(g, [keys](std::uint64_t i) { return make_event(i, keys); }), "events")
      .watermarks(ascending().with_emit_interval(0us))
      .name("event-time")
      .key_by([](const Event& e) { return e.key; })
      .window(tumbling(1s))
      .aggregate(count(), sum("amount", &Event::amount))
      .name("per-key-second")
      .sink(std::make_shared<JsonLinesFileSink<Result>>(
                f.out,
                [](const Result& r) {
                  return "{\"key\":" + std::to_string(r.key) + ",\"window_start_us\":" +
                         std::to_string(r.window.start) + ",\"count\":" + std::to_string(r.get<0>()) +
                         ",\"sum\":" + std::to_string(r.get<1>()) + "}";
                }),
            "windows.jsonl");

  QueryOptions o;
  o.workers = f.workers;
  o.checkpoints.storage = rocksdb_checkpoints(f.state);
  o.checkpoints.interval_us = f.interval_ms * 1000;
  o.checkpoints.log = [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  Engine engine;
  std::shared_ptr<Query> q;
  try {
    q = engine.start("crash_replay", job, o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash_replay: cannot start: %s\n", e.what());
    return 1;
  }
  std::uint64_t reported = 0;
  while (!q->wait_for(20ms)) {
    const std::uint64_t done = q->last_completed_checkpoint();
    if (done != reported) {
      reported = done;
      std::printf("checkpoint %llu complete (%llu events in)\n", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(q->metrics().operators.at(0).records_out));
      std::fflush(stdout);
    }
  }
  const QueryStatus s = q->status();
  if (s.state != QueryState::kFinished) {
    std::fprintf(stderr, "crash_replay: query %s: %s\n", to_string(s.state), s.error.c_str());
    return 1;
  }
  std::printf("finished: %llu events, output in %s\n", static_cast<unsigned long long>(q->metrics().operators.at(0).records_out),
              f.out.c_str());
  return 0;
}
