#include "checkpoint/checkpoint_store.hpp"

#include <rocksdb/write_batch.h>

#include "checkpoint/detail/pending_state.hpp"
#include "checkpoint/detail/rocks_store.hpp"
#include "streaming/detail/log_text.hpp"

namespace sluice {

CheckpointStore::CheckpointStore(std::filesystem::path state_dir, CheckpointStoreOptions options)
    : store_(std::make_shared<detail::RocksStore>(state_dir, std::move(options))), dir_(std::move(state_dir)) {}
CheckpointStore::~CheckpointStore() = default;
CheckpointStore::CheckpointStore(CheckpointStore&&) noexcept = default;
CheckpointStore& CheckpointStore::operator=(CheckpointStore&&) noexcept = default;

const std::filesystem::path& CheckpointStore::state_dir() const { return dir_; }

PendingCheckpoint CheckpointStore::begin(std::uint64_t id, PendingOptions options) {
  detail::RocksStore& s = *store_;
  const std::string op = "begin checkpoint " + std::to_string(id);
  std::lock_guard lock(s.mu);
  if (s.pending_open) s.fail(op, "another checkpoint of this store is still pending (one at a time)");
  if (id == 0) s.fail(op, "checkpoint ids start at 1");
  if (id <= s.newest_id)
    s.fail(op, "the id must be greater than the newest stored checkpoint's, " + std::to_string(s.newest_id));
  std::optional<CheckpointManifest> base;
  if (!options.is_savepoint) {
    if (options.base_checkpoint_id) {
      base = load(*options.base_checkpoint_id);
      if (std::string why = s.job_problem(*base); !why.empty())
        s.fail(op, "base checkpoint " + std::to_string(base->id) + ": " + why);
    } else {
      // The newest manifest that verifies and is this job's; payloads are
      // not read here (that is latest_valid's job at recovery).
      std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(detail::verified_reads(), s.manifests_cf.get()));
      for (it->SeekToLast(); it->Valid() && !base; it->Prev()) {
        detail::ManifestDecode d = detail::decode_manifest(it->value().ToStringView());
        if (d.problem.empty() && s.job_problem(d.manifest).empty()) base = std::move(d.manifest);
      }
      s.check(it->status(), op + ": find the base checkpoint");
    }
  }
  s.pending_open = true;
  return PendingCheckpoint(std::make_unique<detail::PendingState>(store_, id, options, std::move(base)));
}

std::vector<CheckpointInfo> CheckpointStore::list() const {
  detail::RocksStore& s = *store_;
  std::vector<CheckpointInfo> out;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(detail::verified_reads(), s.manifests_cf.get()));
  for (it->SeekToLast(); it->Valid(); it->Prev()) {
    CheckpointInfo info;
    info.id = detail::manifest_key_id(it->key().ToStringView()).value_or(0);
    detail::ManifestDecode d = detail::decode_manifest(it->value().ToStringView());
    info.problem = d.problem;
    if (d.problem.empty() && d.manifest.id != info.id)
      info.problem = "manifest of checkpoint " + std::to_string(d.manifest.id) + " stored as " +
                     std::to_string(info.id);
    if (info.problem.empty()) {
      info.job_id = d.manifest.job_id;
      info.format_version = d.manifest.format_version;
      info.created_us = d.manifest.created_us;
      info.is_savepoint = d.manifest.is_savepoint;
      info.part_count = d.manifest.parts.size();
      info.total_bytes = d.manifest.total_bytes();
    }
    out.push_back(std::move(info));
  }
  s.check(it->status(), "list checkpoints");
  return out;
}

std::optional<std::uint64_t> CheckpointStore::newest_id() const {
  std::lock_guard lock(store_->mu);
  if (store_->newest_id == 0) return std::nullopt;
  return store_->newest_id;
}

CheckpointManifest CheckpointStore::load(std::uint64_t id) const {
  detail::RocksStore& s = *store_;
  const std::string op = "load checkpoint " + std::to_string(id);
  std::optional<std::string> bytes = s.get_manifest_bytes(id);
  if (!bytes) s.fail(op, "no such checkpoint");
  detail::ManifestDecode d = detail::decode_manifest(*bytes);
  if (!d.problem.empty()) s.fail(op, d.problem);
  if (d.manifest.id != id) s.fail(op, "the manifest stored under this id is checkpoint " + std::to_string(d.manifest.id));
  return std::move(d.manifest);
}

std::string CheckpointStore::read_part(const PartRef& part) const {
  return store_->read_payload(part, "read part");
}

std::string CheckpointStore::read_part(const CheckpointManifest& m, std::string_view operator_uid,
                                       std::string_view part_key) const {
  const PartRef* p = m.find(operator_uid, part_key);
  const std::string op = "read part of checkpoint " + std::to_string(m.id);
  if (!p) store_->fail(op, "no " + detail::RocksStore::describe_part(operator_uid, part_key) + " in it");
  return store_->read_payload(*p, op);
}

std::optional<std::string> CheckpointStore::find_problem(const CheckpointManifest& m) const {
  for (const PartRef& p : m.parts) {
    try {
      store_->read_payload(p, "verify");
    } catch (const CheckpointError& e) {
      return e.detail();
    }
  }
  return std::nullopt;
}

std::optional<CheckpointManifest> CheckpointStore::latest_valid() const {
  detail::RocksStore& s = *store_;
  const std::vector<CheckpointInfo> all = list();
  std::string reasons;
  for (const CheckpointInfo& info : all) {
    std::string why = info.problem;
    std::optional<CheckpointManifest> m;
    if (why.empty()) {
      try {
        m = load(info.id);
        why = s.job_problem(*m);
        if (why.empty()) why = find_problem(*m).value_or("");
      } catch (const CheckpointError& e) {
        why = e.detail();  // e.g. the manifest vanished or RocksDB could not read it
      }
    }
    if (why.empty()) return m;
    s.log("sluice checkpoint: '" + s.dir_text + "': skipping checkpoint " + std::to_string(info.id) + ": " + why);
    reasons += (reasons.empty() ? "" : "; ") + std::to_string(info.id) + ": " + why;
  }
  if (all.empty()) return std::nullopt;
  s.fail("find the latest valid checkpoint",
         "none of the " + std::to_string(all.size()) + " stored checkpoints is usable (" + reasons +
             "); remove the state directory to start the job without state");
}

std::optional<std::uint64_t> CheckpointStore::extras_checkpoint_id() const {
  detail::RocksStore& s = *store_;
  std::string value;
  const rocksdb::Status st = s.db->Get(detail::verified_reads(), s.meta_cf.get(),
                                       rocksdb::Slice(detail::kExtrasAsOfKey.data(), detail::kExtrasAsOfKey.size()),
                                       &value);
  if (st.IsNotFound()) return std::nullopt;
  s.check(st, "read the extras' checkpoint id");
  if (value.size() != 8) s.fail("read the extras' checkpoint id", "stored value is not 8 bytes");
  std::uint64_t id = 0;
  for (int i = 7; i >= 0; --i) id = (id << 8) | static_cast<unsigned char>(value[i]);
  return id;
}

std::optional<std::string> CheckpointStore::get_extra(std::string_view key) const {
  detail::RocksStore& s = *store_;
  std::string value;
  const rocksdb::Status st =
      s.db->Get(detail::verified_reads(), s.extras_cf.get(), rocksdb::Slice(key.data(), key.size()), &value);
  if (st.IsNotFound()) return std::nullopt;
  s.check(st, "read extra");
  return value;
}

void CheckpointStore::for_each_extra(std::string_view prefix,
                                     const std::function<void(std::string_view, std::string_view)>& fn) const {
  detail::RocksStore& s = *store_;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(detail::verified_reads(), s.extras_cf.get()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid() && it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size())); it->Next())
    fn(it->key().ToStringView(), it->value().ToStringView());
  s.check(it->status(), "read extras");
}

void CheckpointStore::put_marker(std::string_view key, std::string_view value) {
  detail::RocksStore& s = *store_;
  const std::string k = std::string(detail::kMarkerPrefix) + std::string(key);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s.check(s.db->Put(wo, s.meta_cf.get(), k, rocksdb::Slice(value.data(), value.size())), "write marker '" + k + "'");
}

std::optional<std::string> CheckpointStore::get_marker(std::string_view key) const {
  detail::RocksStore& s = *store_;
  const std::string k = std::string(detail::kMarkerPrefix) + std::string(key);
  std::string value;
  const rocksdb::Status st = s.db->Get(detail::verified_reads(), s.meta_cf.get(), k, &value);
  if (st.IsNotFound()) return std::nullopt;
  s.check(st, "read marker '" + k + "'");
  return value;
}

CheckpointManifest CheckpointStore::write_savepoint(std::uint64_t id,
                                                     const std::filesystem::path& savepoint_dir) const {
  const CheckpointManifest source = load(id);
  CheckpointStoreOptions options = store_->options;
  options.retained_checkpoints = 1;
  CheckpointStore target(savepoint_dir, std::move(options));
  PendingCheckpoint pending = target.begin(id, PendingOptions{.is_savepoint = true});
  for (const PartRef& p : source.parts)
    pending.add_part(p.operator_uid, p.part_key,
                     store_->read_payload(p, "write savepoint of checkpoint " + std::to_string(id)));
  if (extras_checkpoint_id() == id)
    for_each_extra("", [&](std::string_view k, std::string_view v) { pending.put_extra(k, v); });
  return pending.commit();
}

StorageStats CheckpointStore::storage_stats() const {
  detail::RocksStore& s = *store_;
  StorageStats stats;
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(detail::verified_reads(), s.manifests_cf.get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++stats.manifests;
  s.check(it->status(), "count manifests");
  it.reset(s.db->NewIterator(detail::verified_reads(), s.parts_cf.get()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++stats.payloads;
    stats.payload_bytes += it->value().size();
  }
  s.check(it->status(), "count payloads");
  return stats;
}

}  // namespace sluice
