// RocksDB checkpoint storage for queries: what users pass as
// QueryOptions::checkpoints.storage.
//
//   QueryOptions o;
//   o.checkpoints.storage = sluice::rocksdb_checkpoints("/var/lib/fraud");
//   o.checkpoints.interval_us = 1'000'000;
//   engine.start("fraud", job, o);   // restores the newest checkpoint of "fraud" there, if any
//
// Each query name (the job id) has its own CheckpointStore in a
// subdirectory of the state directory, <state_dir>/<query name>, so several
// queries can share one state directory. A running query holds its store
// exclusively (another process or query of the same name is refused).
#pragma once

#include <filesystem>
#include <memory>

#include "streaming/checkpoint_storage.hpp"

namespace sluice {

/// Checkpoints in RocksDB under `state_dir` (created when missing).
std::shared_ptr<const CheckpointStorage> rocksdb_checkpoints(std::filesystem::path state_dir);

}  // namespace sluice
