// The job of the exactly-once end-to-end tests, shared with the crash helper
// process: generator -> filter -> map -> JSON-lines file.
#pragma once

#include <string>

#include "sluice/sluice.hpp"

namespace sluice::testing {

/// A record per generated number below `count`, except every 7th, times 3;
/// one JSON object per line. `events_per_second` 0: as fast as possible.
inline Job make_file_job(const std::string& out, std::uint64_t count, double events_per_second) {
  Job job("e2e");
  job.source(Generator(GeneratorOptions{.count = count,
                                        .events_per_second = events_per_second,
                                        .buffer = {.capacity = 1'000'000},
                                        .chunk = 64,
                                        .splits = 12},
                       [](std::uint64_t i) { return static_cast<std::int64_t>(i); }, "numbers"))
      .filter([](std::int64_t v) { return v % 7 != 3; })
      .map([](std::int64_t v) { return v * 3; })
      .sink(JsonLinesFileSink<std::int64_t>(out, [](const std::int64_t& v) {
        return "{\"v\":" + std::to_string(v) + "}";
      }));
  return job;
}

}  // namespace sluice::testing
