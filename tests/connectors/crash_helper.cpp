// A process to kill, for tests/connectors/checkpoint_e2e_test.cpp:
//   connectors_crash_helper STATE_DIR OUT_FILE WORKERS COUNT EVENTS_PER_SECOND
// runs query "crash" (tests/connectors/e2e_job.hpp) with RocksDB checkpoints
// in STATE_DIR, taking checkpoints back to back and printing
// "checkpoint <id>" after each one completes, until the job finishes
// ("finished") or the test kills it with SIGKILL.
#include <cstdio>
#include <iostream>
#include <string>

#include "checkpoint/rocksdb_checkpoints.hpp"
#include "connectors/e2e_job.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 6) {
    std::fprintf(stderr, "usage: connectors_crash_helper STATE_DIR OUT_FILE WORKERS COUNT EVENTS_PER_SECOND\n");
    return 64;
  }
  try {
    sluice::QueryOptions o;
    o.workers = std::stoul(argv[3]);
    o.checkpoints.storage = sluice::rocksdb_checkpoints(argv[1]);
    o.checkpoints.log = [](const std::string&) {};
    sluice::Engine engine;
    auto q = engine.start("crash", sluice::testing::make_file_job(argv[2], std::stoull(argv[4]), std::stod(argv[5])), o);
    while (!q->wait_for(0ms)) {
      const std::uint64_t id = q->checkpoint_now();
      if (q->wait_for_checkpoint(id, 10s)) std::cout << "checkpoint " << id << std::endl;
    }
    std::cout << "finished" << std::endl;
    return q->status().state == sluice::QueryState::kFinished ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << std::endl;
    return 2;
  }
}
