// Graph checks at start: an event-time window needs watermarks on every
// input path, and a job needs a sink.
#include <catch2/catch.hpp>

#include "support/harness.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;
using namespace std::chrono_literals;

namespace {

struct Ev {
  int key;
  int v;
};

ScriptedSource<Ev> ended_source(const std::string& name) {
  ScriptedSource<Ev> src(name);
  src.push_values({{Ev{1, 1}, 1}, {Ev{1, 2}, 5}});
  src.end();
  return src;
}

auto by_key = [](const Ev& e) { return e.key; };
using CountResult = WindowResult<int, std::tuple<std::uint64_t>>;

std::string start_error(Job& job) {
  Engine engine;
  return thrown_message<GraphError>([&] { engine.start("q", job); });
}

}  // namespace

TEST_CASE("an event-time window without watermarks upstream is a GraphError naming the window", "[windows]") {
  const std::string kNoWatermarks =
      "per_second: window uses event time but no watermarks(...) is upstream (none on the path from source "
      "'events'): add .watermarks(...) upstream, or use .processing_time()";
  {
    Job job("tumbling");
    job.source(ended_source("events"))
        .key_by(by_key)
        .window(tumbling(1s))
        .aggregate(count())
        .name("per_second")
        .sink(CollectSink<CountResult>{});
    CHECK(thrown_message<GraphError>([&] { job.run(); }) == kNoWatermarks);
    CHECK(start_error(job) == kNoWatermarks);
  }
  {
    Job job("session");
    job.source(ended_source("events"))
        .map([](const Ev& e) { return e; })
        .key_by(by_key)
        .window(session(10us))
        .aggregate(count())
        .name("per_second")
        .sink(CollectSink<CountResult>{});
    CHECK(thrown_message<GraphError>([&] { job.run(); }) == kNoWatermarks);
  }
  {
    Job job("all");
    job.source(ended_source("events"))
        .window_all(sliding(2s, 1s))
        .aggregate(count())
        .name("per_second")
        .sink(CollectSink<WindowResult<NoKey, std::tuple<std::uint64_t>>>{});
    CHECK(thrown_message<GraphError>([&] { job.run(); }) == kNoWatermarks);
  }
  {
    // Without a name, the default one.
    Job job("unnamed");
    job.source(ended_source("events")).key_by(by_key).window(tumbling(1s)).aggregate(count()).sink(
        CollectSink<CountResult>{});
    CHECK(thrown_message<GraphError>([&] { job.run(); }) ==
          "window#2: window uses event time but no watermarks(...) is upstream (none on the path from source "
          "'events'): add .watermarks(...) upstream, or use .processing_time()");
  }
}

TEST_CASE("watermarks anywhere upstream of an event-time window, or processing time, or counts, are fine",
          "[windows]") {
  {
    Job job("before key_by");
    CollectSink<CountResult> out;
    job.source(ended_source("events"))
        .watermarks(ascending())
        .filter([](const Ev&) { return true; })
        .key_by(by_key)
        .window(tumbling(10us))
        .aggregate(count())
        .sink(out);
    job.run();
    CHECK(out.values() == std::vector<CountResult>{CountResult{1, TimeWindow{0, 10}, {2}}});
  }
  {
    Job job("processing time");
    CollectSink<CountResult> out;
    job.source(ended_source("events")).key_by(by_key).window(tumbling(1s).processing_time()).aggregate(count()).sink(out);
    job.run();
    CHECK(out.size() == 1);
  }
  {
    Job job("count windows");
    CollectSink<CountResult> out;
    job.source(ended_source("events")).key_by(by_key).window(count_tumbling(2)).aggregate(count()).sink(out);
    job.run();
    CHECK(out.size() == 1);
  }
}

TEST_CASE("an event-time window after a union needs watermarks on every input of the union", "[windows]") {
  auto build = [](Job& job, bool left_wm, bool right_wm, bool after_union) {
    Stream<Ev> left = job.source(ended_source("left"));
    Stream<Ev> right = job.source(ended_source("right"));
    if (left_wm) left = left.watermarks(ascending());
    if (right_wm) right = right.watermarks(ascending());
    Stream<Ev> both = left.union_with(right);
    if (after_union) both = both.watermarks(ascending());
    both.key_by(by_key).window(tumbling(10us)).aggregate(count()).name("w").sink(CollectSink<CountResult>{});
  };
  {
    Job job("right missing");
    build(job, true, false, false);
    CHECK(thrown_message<GraphError>([&] { job.run(); }) ==
          "w: window uses event time but no watermarks(...) is upstream (none on the path from source 'right'): "
          "add .watermarks(...) upstream, or use .processing_time()");
  }
  {
    Job job("left missing");
    build(job, false, true, false);
    CHECK(thrown_message<GraphError>([&] { job.run(); }) ==
          "w: window uses event time but no watermarks(...) is upstream (none on the path from source 'left'): "
          "add .watermarks(...) upstream, or use .processing_time()");
  }
  for (auto [l, r, after] : {std::tuple{true, true, false}, std::tuple{false, false, true}}) {
    Job job("both");
    build(job, l, r, after);
    CHECK_NOTHROW(job.run());
  }
}

TEST_CASE("side outputs inherit watermarks: dead letters of a source have none", "[windows]") {
  Job job("dead letters");
  auto src = job.source(ended_source("events"));
  src.watermarks(ascending()).sink(CollectSink<Ev>{});
  src.dead_letters()
      .key_by([](const DeadLetter& d) { return d.source; })
      .window(tumbling(1s))
      .aggregate(count())
      .name("bad per second")
      .sink(CollectSink<WindowResult<std::string, std::tuple<std::uint64_t>>>{});
  CHECK(thrown_message<GraphError>([&] { job.run(); }) ==
        "bad per second: window uses event time but no watermarks(...) is upstream (none on the path from source "
        "'events'): add .watermarks(...) upstream, or use .processing_time()");
}

TEST_CASE("a job without a sink, or without anything, is a GraphError naming the job", "[streaming]") {
  Job empty("nothing");
  CHECK(thrown_message<GraphError>([&] { empty.run(); }) ==
        "job 'nothing' has no operators: add a source and a sink");
  Job no_sink("dangling");
  no_sink.source(ended_source("events")).watermarks(ascending()).map([](const Ev& e) { return e.v; });
  CHECK(thrown_message<GraphError>([&] { no_sink.run(); }) ==
        "job 'dangling' has no sink: add .sink(...) to a stream");
  CHECK(start_error(no_sink) == "job 'dangling' has no sink: add .sink(...) to a stream");
}
