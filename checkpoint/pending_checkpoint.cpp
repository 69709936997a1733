#include "checkpoint/pending_checkpoint.hpp"

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <unordered_set>
#include <utility>
#include <vector>

#include "checkpoint/detail/crc32c.hpp"
#include "checkpoint/detail/pending_state.hpp"
#include "checkpoint/detail/rocks_store.hpp"

namespace sluice {

namespace {

// Collects the retention deletions into `batch`: manifests beyond the newest
// `keep` regular checkpoints and the payloads no kept manifest refers to.
void add_retention(detail::RocksStore& s, const CheckpointManifest& committing, rocksdb::WriteBatch& batch,
                   const std::string& op) {
  struct Stored {
    std::uint64_t id;
    detail::ManifestDecode decoded;
  };
  std::vector<Stored> stored;  // newest first
  {
    std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(detail::verified_reads(), s.manifests_cf.get()));
    for (it->SeekToLast(); it->Valid(); it->Prev()) {
      const auto id = detail::manifest_key_id(it->key().ToStringView());
      if (!id) continue;
      stored.push_back({*id, detail::decode_manifest(it->value().ToStringView())});
    }
    s.check(it->status(), op + ": read manifests for retention");
  }
  std::size_t regular = committing.is_savepoint ? 0 : 1;
  std::vector<const Stored*> dropped;
  std::unordered_set<std::string> referenced;
  for (const PartRef& p : committing.parts) referenced.insert(p.payload_key);
  for (const Stored& m : stored) {
    // A manifest that does not decode cannot say it is a savepoint: it
    // counts as a regular checkpoint.
    const bool savepoint = m.decoded.problem.empty() && m.decoded.manifest.is_savepoint;
    if (!savepoint && regular >= s.options.retained_checkpoints) {
      dropped.push_back(&m);
      continue;
    }
    if (!savepoint) ++regular;
    if (m.decoded.problem.empty())
      for (const PartRef& p : m.decoded.manifest.parts) referenced.insert(p.payload_key);
  }
  std::unordered_set<std::string> deleted;
  for (const Stored* m : dropped) {
    batch.Delete(s.manifests_cf.get(), detail::manifest_key(m->id));
    if (m->decoded.problem.empty()) {
      for (const PartRef& p : m->decoded.manifest.parts)
        if (!referenced.count(p.payload_key) && deleted.insert(p.payload_key).second)
          batch.Delete(s.parts_cf.get(), p.payload_key);
      continue;
    }
    // Unreadable manifest: remove what its checkpoint wrote (the keys with
    // its id as prefix) except what a kept manifest refers to.
    std::vector<std::string> keep;
    for (const std::string& k : referenced)
      if (detail::payload_key_writer(k) == m->id) keep.push_back(k);
    std::sort(keep.begin(), keep.end());
    std::string from = detail::manifest_key(m->id);
    for (const std::string& k : keep) {
      batch.DeleteRange(s.parts_cf.get(), from, k);
      from = k + '\0';  // the key right after k
    }
    const std::string to = m->id == UINT64_MAX ? std::string(9, '\xff') : detail::manifest_key(m->id + 1);
    batch.DeleteRange(s.parts_cf.get(), from, to);
  }
}

// Removes the payloads `st` stored; logs instead of throwing.
void remove_payloads(detail::PendingState& st, const std::vector<std::string>& keys, const char* why) {
  if (keys.empty()) return;
  rocksdb::WriteBatch batch;
  rocksdb::Status s;
  for (const std::string& k : keys)
    if (s.ok()) s = batch.Delete(st.store->parts_cf.get(), k);
  if (s.ok()) s = st.store->db->Write(rocksdb::WriteOptions(), &batch);
  if (!s.ok())
    st.store->log("sluice checkpoint: '" + st.store->dir_text + "': " + why + " checkpoint " + std::to_string(st.id) +
                  ": could not remove its payloads (the next open will): " + s.ToString());
}

// After a failed commit write: the payloads go unless the manifest is
// there after all (a write reported failed may still have reached the
// database). If RocksDB cannot tell or cannot delete, they stay, and the
// next open removes them when the manifest is indeed missing (their id is
// above the newest manifest's).
void remove_after_failed_commit(detail::PendingState& st) {
  try {
    if (st.store->get_manifest_bytes(st.id)) return;
  } catch (const CheckpointError&) {
    return;
  }
  remove_payloads(st, st.written, "failed commit of");
}

}  // namespace

PendingCheckpoint::PendingCheckpoint(std::unique_ptr<detail::PendingState> state) : state_(std::move(state)) {}
PendingCheckpoint::PendingCheckpoint(PendingCheckpoint&&) noexcept = default;
PendingCheckpoint& PendingCheckpoint::operator=(PendingCheckpoint&& other) noexcept {
  if (this != &other) {
    abort();
    state_ = std::move(other.state_);
  }
  return *this;
}
PendingCheckpoint::~PendingCheckpoint() { abort(); }

std::uint64_t PendingCheckpoint::id() const { return state_->id; }

const CheckpointManifest* PendingCheckpoint::base() const { return state_->base ? &*state_->base : nullptr; }

void PendingCheckpoint::add_part(std::string_view operator_uid, std::string_view part_key, std::string_view bytes) {
  detail::PendingState& st = *state_;
  st.reserve(operator_uid, part_key, PartRef{}, "add part");
  const std::pair<std::string, std::string> name{std::string(operator_uid), std::string(part_key)};
  PartRef ref{name.first, name.second, detail::payload_key(st.id, operator_uid, part_key), bytes.size(),
              detail::crc32c(bytes)};
  // Not synced: the commit's synced write makes every earlier write durable.
  const rocksdb::Status s = st.store->db->Put(rocksdb::WriteOptions(), st.store->parts_cf.get(), ref.payload_key,
                                              rocksdb::Slice(bytes.data(), bytes.size()));
  std::lock_guard lock(st.mu);
  if (!s.ok()) {
    st.parts.erase(name);
    st.store->fail(st.op("add part " + detail::RocksStore::describe_part(operator_uid, part_key)), s.ToString());
  }
  st.written.push_back(ref.payload_key);
  st.parts[name] = std::move(ref);
}

void PendingCheckpoint::reuse_part(std::string_view operator_uid, std::string_view part_key) {
  detail::PendingState& st = *state_;
  const std::string what = "reuse part " + detail::RocksStore::describe_part(operator_uid, part_key);
  if (st.options.is_savepoint) st.store->fail(st.op(what), "a savepoint holds full copies, not references");
  if (!st.base) st.store->fail(st.op(what), "there is no base checkpoint to reuse from");
  const PartRef* old = st.base->find(operator_uid, part_key);
  if (!old)
    st.store->fail(st.op(what), "base checkpoint " + std::to_string(st.base->id) + " has no such part");
  st.reserve(operator_uid, part_key, *old, "reuse part");
}

void PendingCheckpoint::put_extra(std::string_view key, std::string_view value) {
  detail::PendingState& st = *state_;
  std::lock_guard lock(st.mu);
  st.check_open("put extra");
  st.store->check(st.extras.Put(st.store->extras_cf.get(), rocksdb::Slice(key.data(), key.size()),
                                rocksdb::Slice(value.data(), value.size())),
                  st.op("put extra"));
}

void PendingCheckpoint::delete_extra(std::string_view key) {
  detail::PendingState& st = *state_;
  std::lock_guard lock(st.mu);
  st.check_open("delete extra");
  st.store->check(st.extras.Delete(st.store->extras_cf.get(), rocksdb::Slice(key.data(), key.size())),
                  st.op("delete extra"));
}

CheckpointManifest PendingCheckpoint::commit() {
  detail::PendingState& st = *state_;
  detail::RocksStore& s = *st.store;
  const std::string op = "commit checkpoint " + std::to_string(st.id);
  std::lock_guard lock(st.mu);
  st.check_open("commit");

  CheckpointManifest m;
  m.id = st.id;
  m.job_id = s.options.job_id;
  m.format_version = kCheckpointFormatVersion;
  m.created_us = s.clock.now_us();
  m.is_savepoint = st.options.is_savepoint;
  m.parts.reserve(st.parts.size());
  for (const auto& [name, ref] : st.parts) {  // std::map: already in (uid, part) order
    if (ref.payload_key.empty())
      s.fail(op, detail::RocksStore::describe_part(name.first, name.second) + " is still being added");
    m.parts.push_back(ref);
  }

  std::lock_guard store_lock(s.mu);
  // The batch: extras, retention deletions, the extras marker, and the
  // manifest last. One atomic, synced write: all of it or none.
  rocksdb::WriteBatch batch(st.extras);  // a copy: a failure before the write leaves the checkpoint open
  add_retention(s, m, batch, op);
  std::string as_of;
  for (int i = 0; i < 8; ++i) as_of.push_back(static_cast<char>((m.id >> (8 * i)) & 0xff));
  s.check(batch.Put(s.meta_cf.get(), rocksdb::Slice(detail::kExtrasAsOfKey.data(), detail::kExtrasAsOfKey.size()),
                    as_of),
          op);
  s.check(batch.Put(s.manifests_cf.get(), detail::manifest_key(m.id), detail::encode_manifest(m)), op);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  const rocksdb::Status status = s.db->Write(wo, &batch);
  if (!status.ok()) {
    st.phase = detail::PendingState::Phase::kFailed;
    s.pending_open = false;
    remove_after_failed_commit(st);
    s.check(status, op);
  }
  st.phase = detail::PendingState::Phase::kCommitted;
  s.newest_id = m.id;
  s.pending_open = false;
  return m;
}

void PendingCheckpoint::abort() noexcept {
  if (!state_) return;  // moved from
  detail::PendingState& st = *state_;
  std::vector<std::string> written;
  {
    std::lock_guard lock(st.mu);
    if (st.phase != detail::PendingState::Phase::kOpen) return;
    st.phase = detail::PendingState::Phase::kAborted;
    written.swap(st.written);
  }
  st.release_slot();
  remove_payloads(st, written, "abort");
}

}  // namespace sluice
