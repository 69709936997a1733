#include "checkpoint/detail/rocks_store.hpp"

#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <iostream>
#include <vector>

#include "checkpoint/detail/crc32c.hpp"
#include "streaming/detail/log_text.hpp"

namespace sluice::detail {
namespace {

const Clock& clock_of(const CheckpointStoreOptions& o) {
  return o.clock ? *o.clock : static_cast<const Clock&>(SystemClock::instance());
}

std::filesystem::path prepared_dir(std::filesystem::path dir, const CheckpointStoreOptions& options) {
  if (options.job_id.empty()) throw CheckpointError(dir.string(), "open", "options.job_id must not be empty");
  if (options.retained_checkpoints < 1)
    throw CheckpointError(dir.string(), "open", "options.retained_checkpoints must be at least 1");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw CheckpointError(dir.string(), "create state directory", ec.message());
  return dir;
}

}  // namespace

rocksdb::ReadOptions verified_reads() {
  rocksdb::ReadOptions r;
  r.verify_checksums = true;
  return r;
}

RocksStore::RocksStore(std::filesystem::path d, CheckpointStoreOptions o)
    : dir(prepared_dir(std::move(d), o)),
      dir_text(dir.string()),
      options(std::move(o)),
      clock(clock_of(options)),
      lock_(dir) {
  open_db();
  remove_uncommitted_payloads();
}

void RocksStore::open_db() {
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  // Damage RocksDB finds (a file of the wrong size, a bad block, a WAL
  // record that fails its CRC) is an error, not something to skip over.
  db_options.paranoid_checks = true;
  // A torn WAL tail after a crash is expected (unsynced payloads of a
  // checkpoint that never committed); recovery stops there. Commits are
  // synced, so every committed checkpoint lies before the tear.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  // Flush every column family together, so a manifest never reaches an SST
  // before the payloads written ahead of it.
  db_options.atomic_flush = true;
  db_options.keep_log_file_num = 5;

  rocksdb::ColumnFamilyOptions cf_options;
  // Block checksums with XXH3: Debian's portable RocksDB computes its
  // default CRC32c without SSE4.2, which cost ~6% of a checkpoint's and a
  // restore's CPU (bench_checkpoints). Files written before still verify
  // (the checksum type is recorded per file).
  rocksdb::BlockBasedTableOptions table_options;
  table_options.checksum = rocksdb::kXXH3;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));
  // Payloads (serialized state, mostly fixed-width numbers) are stored
  // uncompressed, as Flink stores snapshots by default: snappy cost ~6% of
  // a checkpoint's CPU and ~12% of a restore's for little space.
  rocksdb::ColumnFamilyOptions parts_options = cf_options;
  parts_options.compression = rocksdb::kNoCompression;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs{{rocksdb::kDefaultColumnFamilyName, cf_options},
                                                   {kPartsCf, parts_options},
                                                   {kManifestsCf, cf_options},
                                                   {kExtrasCf, cf_options}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(db_options, (dir / "db").string(), cfs, &handles, &raw);
  db.reset(raw);
  if (!s.ok()) {
    if (raw)
      for (rocksdb::ColumnFamilyHandle* h : handles) CfHandle(h, CfHandleDeleter{raw});
    check(s, "open");
  }
  meta_cf = CfHandle(handles[0], CfHandleDeleter{raw});
  parts_cf = CfHandle(handles[1], CfHandleDeleter{raw});
  manifests_cf = CfHandle(handles[2], CfHandleDeleter{raw});
  extras_cf = CfHandle(handles[3], CfHandleDeleter{raw});

  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(verified_reads(), manifests_cf.get()));
  it->SeekToLast();
  if (it->Valid()) {
    const auto id = manifest_key_id(it->key().ToStringView());
    if (!id) fail("open", "a manifest key is not 8 bytes: the database is not a checkpoint store");
    newest_id = *id;
  }
  check(it->status(), "open: find the newest checkpoint");
}

void RocksStore::remove_uncommitted_payloads() {
  // Payload keys start with the id of the checkpoint that wrote them, and a
  // checkpoint id is always above every stored one: what lies beyond the
  // newest manifest's id belongs to checkpoints that never committed.
  const std::string from = manifest_key(newest_id + 1);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(verified_reads(), parts_cf.get()));
  it->Seek(from);
  const bool any = it->Valid();
  check(it->status(), "open: find uncommitted payloads");
  if (!any) return;
  const std::string to(9, '\xff');  // past every 8-byte id prefix
  rocksdb::WriteOptions wo;
  wo.sync = true;
  check(db->DeleteRange(wo, parts_cf.get(), from, to), "open: remove uncommitted payloads");
}

RocksStore::~RocksStore() {
  meta_cf.reset();
  parts_cf.reset();
  manifests_cf.reset();
  extras_cf.reset();
  if (db) {
    const rocksdb::Status s = db->Close();
    if (!s.ok()) log("sluice checkpoint: '" + dir_text + "': close: " + s.ToString());
    db.reset();
  }
}

void RocksStore::check(const rocksdb::Status& s, const std::string& op) const {
  if (!s.ok()) fail(op, s.ToString());
}

void RocksStore::fail(const std::string& op, const std::string& detail) const {
  throw CheckpointError(dir_text, op, detail);
}

void RocksStore::log(const std::string& line) const {
  if (options.log) {
    options.log(line);
  } else {
    std::cerr << line << '\n';
  }
}

std::string RocksStore::describe_part(std::string_view operator_uid, std::string_view part_key) {
  return "operator '" + escape_for_log(operator_uid, 256) + "' part '" + escape_for_log(part_key, 256) + "'";
}

std::optional<std::string> RocksStore::get_manifest_bytes(std::uint64_t id) const {
  std::string value;
  const rocksdb::Status s = db->Get(verified_reads(), manifests_cf.get(), manifest_key(id), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "read manifest of checkpoint " + std::to_string(id));
  return value;
}

std::string RocksStore::read_payload(const PartRef& part, const std::string& op) const {
  rocksdb::PinnableSlice value;
  const rocksdb::Status s = db->Get(verified_reads(), parts_cf.get(), part.payload_key, &value);
  if (s.IsNotFound()) fail(op, "missing payload for " + describe_part(part.operator_uid, part.part_key));
  if (!s.ok())
    fail(op, "cannot read payload for " + describe_part(part.operator_uid, part.part_key) + ": " + s.ToString());
  const std::string_view bytes = value.ToStringView();
  if (bytes.size() != part.size || crc32c(bytes) != part.crc32c)
    fail(op, "payload checksum mismatch for " + describe_part(part.operator_uid, part.part_key));
  return std::string(bytes);
}

std::string RocksStore::job_problem(const CheckpointManifest& m) const {
  if (m.job_id != options.job_id) return "other job id '" + escape_for_log(m.job_id, 256) + "'";
  return {};
}

}  // namespace sluice::detail
