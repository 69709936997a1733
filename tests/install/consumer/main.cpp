// Built against the installed package by tests/install/consumer_test.sh: a
// tiny job whose exact result proves headers and libraries fit together.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "sluice/sluice.hpp"

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
  std::printf("consumer: 100 squares, as expected\n");
  return 0;
}
