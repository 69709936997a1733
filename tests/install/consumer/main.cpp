// Built against the installed package by tests/install/consumer_test.sh: a
// tiny job whose exact result proves headers and libraries fit together.
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "sluice/sluice.hpp"

// The checkpoint store links RocksDB through the package's dependency.
static bool checkpoint_round_trip() {
  char dir[] = "/tmp/sluice-consumer-XXXXXX";
  if (!mkdtemp(dir)) return false;
  bool ok = false;
  {
    sluice::CheckpointStore store(dir, {.job_id = "consumer"});
    sluice::PendingCheckpoint cp = store.begin(1);
    cp.add_part("squares", "kg/0", "9801");
    cp.commit();
    const auto latest = store.latest_valid();
    ok = latest && store.read_part(*latest, "squares", "kg/0") == "9801";
  }
  std::filesystem::remove_all(dir);
  return ok;
}

int main() {
  using namespace sluice;
  Job job("consumer");
  CollectSink<std::int64_t> out;
  job.source(Generator(GeneratorOptions{.count = 100}, [](std::uint64_t i) { return std::int64_t(i); }))
      .map([](std::int64_t v) { return v * v; })
      .sink(out);
  job.run();
  std::vector<std::int64_t> got = out.values();
  std::sort(got.begin(), got.end());
  std::vector<std::int64_t> want;
  for (std::int64_t i = 0; i < 100; ++i) want.push_back(i * i);
  if (got != want) {
    std::fprintf(stderr, "consumer: wrong result (%zu values)\n", got.size());
    return 1;
  }
  if (!checkpoint_round_trip()) {
    std::fprintf(stderr, "consumer: checkpoint did not read back\n");
    return 1;
  }
  std::printf("consumer: 100 squares and a checkpoint, as expected\n");
  return 0;
}
