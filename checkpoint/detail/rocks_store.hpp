// The RocksDB side of a CheckpointStore, shared with its PendingCheckpoint
// (internal: the only checkpoint header that includes RocksDB; not installed).
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/detail/dir_lock.hpp"
#include "checkpoint/detail/layout.hpp"

namespace sluice::detail {

/// Hands a column family handle back to its database.
struct CfHandleDeleter {
  rocksdb::DB* db = nullptr;
  void operator()(rocksdb::ColumnFamilyHandle* h) const { db->DestroyColumnFamilyHandle(h); }
};
using CfHandle = std::unique_ptr<rocksdb::ColumnFamilyHandle, CfHandleDeleter>;

class RocksStore {
 public:
  RocksStore(std::filesystem::path dir, CheckpointStoreOptions options);
  ~RocksStore();
  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  /// Throws CheckpointError(dir, op, RocksDB's message) unless `s` is OK.
  void check(const rocksdb::Status& s, const std::string& op) const;
  [[noreturn]] void fail(const std::string& op, const std::string& detail) const;
  void log(const std::string& line) const;
  /// "'<uid>' part '<key>'", escaped for a log line.
  static std::string describe_part(std::string_view operator_uid, std::string_view part_key);

  /// The stored manifest `id`: nullopt when absent; RocksDB errors throw.
  std::optional<std::string> get_manifest_bytes(std::uint64_t id) const;
  /// The payload of `part`, verified; throws CheckpointError naming `op`.
  std::string read_payload(const PartRef& part, const std::string& op) const;
  /// Whether `m` is usable as a base or a recovery point on the manifest
  /// level (job id); the decode problems are checked by the caller.
  std::string job_problem(const CheckpointManifest& m) const;

  const std::filesystem::path dir;
  const std::string dir_text;
  const CheckpointStoreOptions options;
  const Clock& clock;

 private:
  DirLock lock_;  // first member: released only after the database is closed

 public:
  std::unique_ptr<rocksdb::DB> db;
  // After db: destroyed (handed back) before the database closes.
  CfHandle meta_cf, parts_cf, manifests_cf, extras_cf;

  std::mutex mu;  // guards the two fields below; held through a commit
  bool pending_open = false;
  std::uint64_t newest_id = 0;  // the newest stored manifest's id (0: none)

 private:
  void open_db();
  void remove_uncommitted_payloads();
};

/// Read options of every read: RocksDB checks each block's checksum.
rocksdb::ReadOptions verified_reads();

}  // namespace sluice::detail
