// Count windows inside whole jobs. Count windows follow arrival order, which
// is only reproducible with one source partition: ScriptedSource reads on
// worker 0 only, and key_by keeps each key's records in order, so 1, 2 and
// 4 workers give the same results per key.
#include <catch2/catch.hpp>

#include <string>

#include "job_support.hpp"
#include "spec_window_harness.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

struct Ev {
  std::string key;
  std::int64_t v;
};

using Vals = std::tuple<std::uint64_t, std::int64_t, std::int64_t>;
using Result = WindowResult<std::string, Vals>;

// 3 keys, interleaved; out-of-order timestamps and ties; a watermark strategy
// upstream (ignored by count windows).
ScriptedSource<Ev> script() {
  return scripted_in_batches<Ev>(40, 9, [](int i) {
    const std::string key = i % 5 == 0 ? "c" : (i % 2 == 0 ? "a" : "b");
    return Record<Ev>{Ev{key, i}, static_cast<Timestamp>(100 - (i * 7) % 23)};
  });
}

std::vector<Record<Result>> run(std::size_t workers, CountWindows w) {
  Job job("count");
  CollectSink<Result> out;
  job.source(script())
      .watermarks(bounded_out_of_orderness(std::chrono::microseconds(5)))
      .key_by([](const Ev& e) { return e.key; })
      .window(w)
      .aggregate(count(), sum("v", &Ev::v), max("v", &Ev::v))
      .name("count-windows")
      .sink(out);
  QueryMetrics m = job.run(QueryOptions{.workers = workers});
  CHECK(m.op("count-windows")->records_in == 40);
  CHECK(m.op("count-windows")->late_records == 0);
  return in_key_order(out.records());
}

}  // namespace

TEST_CASE("count windows in a job: exact results, the same on 1, 2 and 4 workers") {
  // Keys: c gets i = 0, 5, 10, ...; a the other even i; b the odd ones.
  // Timestamps: 100 - (7 i mod 23): out of order, and behind the watermark
  // for some records (no matter to count windows).
  const std::vector<Record<Result>> sliding = run(1, count_sliding(3, 2));
  CHECK(show(sliding) == "+I a [0, 2) = 2 6 4 @95\n"
                         "+I a [1, 4) = 3 18 8 @90\n"
                         "+I a [3, 6) = 3 34 14 @94\n"
                         "+I a [5, 8) = 3 48 18 @89\n"
                         "+I a [7, 10) = 3 64 24 @93\n"
                         "+I a [9, 12) = 3 78 28 @88\n"
                         "+I a [11, 14) = 3 94 34 @92\n"
                         "+I a [13, 16) = 3 108 38 @87\n"
                         "+I b [0, 2) = 2 4 3 @79\n"
                         "+I b [1, 4) = 3 19 9 @83\n"
                         "+I b [3, 6) = 3 33 13 @78\n"
                         "+I b [5, 8) = 3 49 19 @82\n"
                         "+I b [7, 10) = 3 63 23 @100\n"
                         "+I b [9, 12) = 3 79 29 @81\n"
                         "+I b [11, 14) = 3 93 33 @99\n"
                         "+I b [13, 16) = 3 109 39 @80\n"
                         "+I c [0, 2) = 2 5 5 @88\n"
                         "+I c [1, 4) = 3 30 15 @87\n"
                         "+I c [3, 6) = 3 60 25 @86\n"
                         "+I c [5, 8) = 3 90 35 @85\n");
  CHECK(run(2, count_sliding(3, 2)) == sliding);
  CHECK(run(4, count_sliding(3, 2)) == sliding);

  // a and b: 16 records, c: 8; the last 1 and 3 are in no window.
  const std::vector<Record<Result>> tumbling = run(1, count_tumbling(5));
  CHECK(show(tumbling) == "+I a [0, 5) = 5 32 12 @85\n"
                          "+I a [5, 10) = 5 94 24 @93\n"
                          "+I a [10, 15) = 5 156 36 @78\n"
                          "+I b [0, 5) = 5 31 11 @92\n"
                          "+I b [5, 10) = 5 93 23 @100\n"
                          "+I b [10, 15) = 5 157 37 @94\n"
                          "+I c [0, 5) = 5 50 20 @98\n");
  CHECK(run(2, count_tumbling(5)) == tumbling);
  CHECK(run(4, count_tumbling(5)) == tumbling);
}
