// Where a query's checkpoints are stored, as the runtime sees it.
//
// The runtime (streaming/) decides what goes into a checkpoint and when it
// is complete; a CheckpointStorage decides how it is kept. checkpoint/
// provides the one users want, RocksDB under a state directory:
//
//   QueryOptions o;
//   o.checkpoints.storage = sluice::rocksdb_checkpoints("/var/lib/myjob");
//   o.checkpoints.interval_us = 1'000'000;  // every second
//
// A checkpoint is a set of parts, each named by the operator it belongs to
// (its unique name in the job) and a key within it ("kg/17" for key group
// 17, "reader/0" for worker 0's source reader), holding bytes the operator
// wrote with StateWriter (streaming/serde.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

/// A complete checkpoint read back for recovery: every part, by operator
/// and key.
struct RestoredCheckpoint {
  std::uint64_t id = 0;
  bool is_savepoint = false;
  /// operator name -> part key -> bytes.
  std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>> parts;
};

/// One checkpoint being written: parts go in, then commit() makes all of it
/// durable and visible at once. add_part may be called from several threads
/// at once; commit and abort after every add_part returned.
class CheckpointWriter {
 public:
  virtual ~CheckpointWriter() = default;
  virtual void add_part(std::string_view operator_name, std::string_view key, std::string_view bytes) = 0;
  /// Adds part `key` of `operator_name` by reference to the bytes the base
  /// checkpoint (CheckpointSession::begin's `base_id`) holds for it: nothing
  /// is rewritten. Thread-safe like add_part. Throws when there is no base
  /// or the base has no such part.
  virtual void reuse_part(std::string_view operator_name, std::string_view key) = 0;
  /// Atomic and durable; throws on failure (the checkpoint then does not exist).
  virtual void commit() = 0;
  /// Gives the checkpoint up (what it stored is removed). Never throws.
  virtual void abort() noexcept = 0;
};

/// The storage of one job's checkpoints while a query of it runs. Used from
/// the query's checkpoint thread only.
class CheckpointSession {
 public:
  virtual ~CheckpointSession() = default;
  /// Starts checkpoint `id` (greater than every stored one). `base_id`: the
  /// complete checkpoint reuse_part refers to (0: none; every part is
  /// written in full). Throws when base_id names no complete checkpoint.
  virtual std::unique_ptr<CheckpointWriter> begin(std::uint64_t id, bool is_savepoint, std::uint64_t base_id = 0) = 0;
  /// The newest checkpoint that fully verifies, or nullopt when there is
  /// none. Damaged newer ones are skipped (and logged by the storage).
  virtual std::optional<RestoredCheckpoint> restore_latest() = 0;
  /// The newest id stored, damaged checkpoints included (0: none): new
  /// checkpoints take ids above it.
  virtual std::uint64_t newest_id() = 0;
  /// Checkpoint `id` exactly; throws when it is missing or damaged.
  virtual RestoredCheckpoint restore(std::uint64_t id) = 0;
  /// Stores key -> value durably at once, outside checkpoints (how far a
  /// sink delivered). Thread-safe: called from workers.
  virtual void put_marker(std::string_view key, std::string_view value) = 0;
  /// The marker `key`, or nullopt. Thread-safe.
  virtual std::optional<std::string> get_marker(std::string_view key) = 0;
  /// Copies complete checkpoint `id` in full into a savepoint at `dir` (a
  /// directory of its own, portable: no references into this storage).
  /// Thread-safe (reads this storage only).
  virtual void write_savepoint(std::uint64_t id, const std::filesystem::path& dir) = 0;
  /// The savepoint at `dir` (written by write_savepoint of this storage
  /// kind), to restore from. Throws when it is missing or damaged.
  virtual RestoredCheckpoint read_savepoint(const std::filesystem::path& dir) = 0;
};

/// A description of where checkpoints go, shared by every query that uses
/// it; open() gives one query exclusive use of it for the query's life.
class CheckpointStorage {
 public:
  virtual ~CheckpointStorage() = default;
  /// For logs: "RocksDB checkpoints in /var/lib/myjob".
  virtual std::string describe() const = 0;
  /// Opens the checkpoints of job `job_id` (the query's name), keeping the
  /// newest `retained` complete ones. `log` receives notable events. Throws
  /// when the storage is unusable (in use by another process, damaged).
  virtual std::unique_ptr<CheckpointSession> open(const std::string& job_id, std::size_t retained,
                                                  std::function<void(const std::string&)> log) const = 0;
};

}  // namespace sluice
