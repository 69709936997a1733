// A second process for tests/checkpoint/process_lock_test.cpp.
//   checkpoint_lock_helper open DIR   opens a store on DIR and closes it:
//                                     prints "opened", exit 0; or the
//                                     CheckpointError's message, exit 2
//   checkpoint_lock_helper hold DIR   opens a store on DIR, prints "held",
//                                     keeps it until stdin ends, exit 0
//   checkpoint_lock_helper crash DIR  commits checkpoint 1, then dies by
//                                     SIGKILL in the middle of checkpoint 2
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "checkpoint/checkpoint_store.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: checkpoint_lock_helper open|hold|crash DIR\n");
    return 64;
  }
  const std::string mode = argv[1];
  try {
    sluice::CheckpointStore store(argv[2], sluice::CheckpointStoreOptions{.job_id = "lock-helper"});
    if (mode == "crash") {
      sluice::PendingCheckpoint one = store.begin(1);
      one.add_part("op", "kg/0", "one");
      one.put_extra("view/x", "1");
      one.commit();
      sluice::PendingCheckpoint two = store.begin(2);
      two.add_part("op", "kg/0", std::string(1 << 20, 'x'));
      two.add_part("op", "kg/1", "two");
      two.put_extra("view/x", "2");
      ::kill(::getpid(), SIGKILL);  // no destructor, no abort, no close
    }
    if (mode == "hold") {
      std::cout << "held" << std::endl;
      std::string ignored;
      while (std::getline(std::cin, ignored)) {
      }
      return 0;
    }
    std::cout << "opened" << std::endl;
    return 0;
  } catch (const sluice::CheckpointError& e) {
    std::cout << e.what() << std::endl;
    return 2;
  }
}
