// The durable store of checkpoints: one RocksDB database per state directory.
//
// A CheckpointStore owns <state_dir>/db (RocksDB) for its lifetime and
// refuses a directory another process or another store in this process
// holds. Writers begin() a PendingCheckpoint, add parts and commit it (see
// pending_checkpoint.hpp); readers list() completed checkpoints, load() one
// and read its parts, each checked against its CRC-32C. latest_valid() is
// what recovery asks for: the newest checkpoint that fully verifies.
//
// Guarantees:
// - A checkpoint exists for readers exactly when its commit succeeded; the
//   commit is one synced RocksDB WriteBatch holding the manifest (written
//   last, itself checksummed), the caller's extras and the retention
//   deletions. A failed commit leaves the previous checkpoints intact.
// - Retention keeps the newest `retained_checkpoints` checkpoints (by id,
//   savepoints not counted) plus every savepoint, and every payload one of
//   them refers to; older manifests and unreferenced payloads are removed in
//   the commit that makes them redundant.
// - Every RocksDB failure throws CheckpointError naming the operation, the
//   directory and RocksDB's message. Reads verify RocksDB's block checksums
//   (verify_checksums, paranoid_checks) as well as the store's own CRCs: a
//   damaged checkpoint is reported, never returned as if it were intact.
//
// Extras: a key/value space committed atomically with checkpoints (see
// PendingCheckpoint::put_extra). It is not versioned per checkpoint: it holds
// the state as of the newest committed checkpoint, extras_checkpoint_id().
// A recovery that falls back to an older checkpoint sees that id differ and
// must not trust the extras as they are.
//
// Threads: every const member may be called from any thread, also while a
// checkpoint is being written or committed (a reader sees a checkpoint
// either not at all or complete). At most one PendingCheckpoint per store is
// open at a time (as Flink's default of one concurrent checkpoint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "checkpoint/checkpoint_error.hpp"
#include "checkpoint/checkpoint_manifest.hpp"
#include "checkpoint/pending_checkpoint.hpp"
#include "streaming/time.hpp"

namespace sluice {

namespace detail {
class RocksStore;
}  // namespace detail

struct CheckpointStoreOptions {
  /// The job the checkpoints belong to; stored in every manifest, and
  /// latest_valid() skips checkpoints of another job. Required (non-empty).
  std::string job_id = {};
  /// How many completed checkpoints retention keeps (savepoints not
  /// counted). At least 1. Default: 3.
  std::size_t retained_checkpoints = 3;
  /// Wall clock for a manifest's created_us. Not owned; must outlive the
  /// store. Default (nullptr): SystemClock::instance().
  const Clock* clock = nullptr;
  /// Receives one line per notable event (a checkpoint latest_valid skips,
  /// a failed cleanup), without trailing newline. Called from the thread that
  /// caused it. Default (empty): the line goes to std::cerr.
  std::function<void(const std::string&)> log = {};
};

/// A completed checkpoint as list() shows it.
struct CheckpointInfo {
  std::uint64_t id = 0;
  std::string job_id = {};
  std::uint32_t format_version = 0;
  Timestamp created_us = 0;
  bool is_savepoint = false;
  std::size_t part_count = 0;
  std::uint64_t total_bytes = 0;  ///< sum of part sizes, reused payloads included
  /// Why its manifest cannot be used ("manifest checksum mismatch", "newer
  /// format version 2 ..."), empty when it decodes. The other fields are
  /// only meaningful when this is empty. Payloads are not checked here.
  std::string problem;
};

/// What the store holds on disk (a full scan; for tests and diagnostics).
struct StorageStats {
  std::size_t manifests = 0;
  std::size_t payloads = 0;          ///< stored payloads (a reused one counts once)
  std::uint64_t payload_bytes = 0;
};

class CheckpointStore {
 public:
  /// Opens (creating it if needed) the store in `state_dir`; the database is
  /// <state_dir>/db. Removes payloads left by checkpoints that never
  /// committed. Throws CheckpointError when options are invalid, the
  /// directory is in use ("state directory '<dir>' is in use by another
  /// process"), or RocksDB cannot open it (e.g. a damaged file it finds at
  /// open: the message carries RocksDB's "Corruption: ...").
  CheckpointStore(std::filesystem::path state_dir, CheckpointStoreOptions options);
  /// Closes the database and releases the directory (once no
  /// PendingCheckpoint of this store is left either).
  ~CheckpointStore();
  CheckpointStore(CheckpointStore&&) noexcept;
  CheckpointStore& operator=(CheckpointStore&&) noexcept;

  const std::filesystem::path& state_dir() const;

  /// Starts checkpoint `id`. Throws CheckpointError when id is 0 or not
  /// greater than every stored checkpoint's id, another PendingCheckpoint of
  /// this store is open, or options.base_checkpoint_id does not name a
  /// loadable checkpoint. The PendingCheckpoint keeps the database open even
  /// if this store object is destroyed first.
  PendingCheckpoint begin(std::uint64_t id, PendingOptions options = {});

  /// Completed checkpoints, newest first, including those whose manifest does
  /// not verify (with `problem` set).
  std::vector<CheckpointInfo> list() const;
  /// The newest stored checkpoint id, if any.
  std::optional<std::uint64_t> newest_id() const;

  /// The manifest of checkpoint `id`. Throws CheckpointError when there is no
  /// such checkpoint or its manifest does not verify (checksum, newer format
  /// version). Does not check the job id or the payloads.
  CheckpointManifest load(std::uint64_t id) const;
  /// The bytes of `part` (from a manifest of this store), verified against
  /// its size and CRC-32C. Throws CheckpointError "missing payload for
  /// operator 'x' part 'y'", "payload checksum mismatch for ...", or naming
  /// RocksDB's error (e.g. a damaged SST block).
  std::string read_part(const PartRef& part) const;
  /// read_part of the part (operator_uid, part_key) of `m`; throws
  /// CheckpointError when `m` has no such part.
  std::string read_part(const CheckpointManifest& m, std::string_view operator_uid, std::string_view part_key) const;
  /// Why checkpoint `m` cannot be restored, or nullopt when it can: reads
  /// and verifies every payload (the first problem found is returned).
  std::optional<std::string> find_problem(const CheckpointManifest& m) const;

  /// The newest checkpoint of this job that fully verifies (manifest and
  /// every payload; so it reads all of the checkpoint's bytes once). Each
  /// newer checkpoint it skips is logged on one line: "sluice checkpoint:
  /// '<dir>': skipping checkpoint <id>: <why>", <why> being "manifest
  /// checksum mismatch", "payload checksum mismatch for operator 'x' part
  /// 'y'", "missing payload for operator 'x' part 'y'", "other job id 'j'",
  /// "newer format version 2 (...)" or RocksDB's read error.
  /// Returns nullopt when the store holds no checkpoint at all. Throws
  /// CheckpointError when checkpoints exist but none is usable (listing each
  /// id and why): starting empty would silently drop the job's state, so
  /// that decision is left to whoever runs the job (delete the directory).
  std::optional<CheckpointManifest> latest_valid() const;

  /// The checkpoint id the extras are as of (the newest committed one), or
  /// nullopt before the first commit.
  std::optional<std::uint64_t> extras_checkpoint_id() const;
  /// The extra `key`, or nullopt.
  std::optional<std::string> get_extra(std::string_view key) const;
  /// Calls fn(key, value) for every extra whose key starts with `prefix`, in
  /// key order. The views are valid during the call only.
  void for_each_extra(std::string_view prefix,
                      const std::function<void(std::string_view key, std::string_view value)>& fn) const;

  /// Stores key -> value durably (a synced write) at once, outside any
  /// checkpoint: what must survive a crash between checkpoints, such as how
  /// far a sink has delivered committed output. Thread-safe; the last write
  /// to a key wins. Throws CheckpointError when RocksDB fails.
  void put_marker(std::string_view key, std::string_view value);
  /// The marker `key`, or nullopt.
  std::optional<std::string> get_marker(std::string_view key) const;

  /// Writes checkpoint `id` as a savepoint into its own store in
  /// `savepoint_dir` (opened or created; it must not hold a checkpoint with
  /// an id >= id): every part copied in full (no references; each verified
  /// as it is read), flagged is_savepoint, with this store's job id. The
  /// extras are copied too when they are as of `id` (extras_checkpoint_id()),
  /// otherwise the savepoint has none. Restore it by opening a
  /// CheckpointStore on `savepoint_dir`. Returns the savepoint's manifest.
  CheckpointManifest write_savepoint(std::uint64_t id, const std::filesystem::path& savepoint_dir) const;

  /// Counts what is stored (reads every payload; for tests and diagnostics).
  StorageStats storage_stats() const;

 private:
  std::shared_ptr<detail::RocksStore> store_;
  std::filesystem::path dir_;
};

}  // namespace sluice
