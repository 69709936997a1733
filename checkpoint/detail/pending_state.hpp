// The state of one PendingCheckpoint (internal; includes RocksDB, not installed).
#pragma once

#include <rocksdb/write_batch.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint/detail/rocks_store.hpp"
#include "checkpoint/pending_checkpoint.hpp"

namespace sluice::detail {

class PendingState {
 public:
  PendingState(std::shared_ptr<RocksStore> s, std::uint64_t i, PendingOptions o, std::optional<CheckpointManifest> b)
      : store(std::move(s)), id(i), options(o), base(std::move(b)) {}

  enum class Phase { kOpen, kCommitted, kAborted, kFailed };

  const std::shared_ptr<RocksStore> store;
  const std::uint64_t id;
  const PendingOptions options;
  const std::optional<CheckpointManifest> base;

  std::mutex mu;  // guards everything below
  Phase phase = Phase::kOpen;
  // (uid, part) -> its manifest entry; an entry with an empty payload_key is
  // an add_part still writing.
  std::map<std::pair<std::string, std::string>, PartRef> parts;
  std::vector<std::string> written;  // payload keys this checkpoint stored
  rocksdb::WriteBatch extras;

  std::string op(const std::string& what) const { return what + " (checkpoint " + std::to_string(id) + ")"; }

  // Reserves (uid, part); throws if taken or the checkpoint is not open.
  void reserve(std::string_view uid, std::string_view part, PartRef ref, const char* what) {
    std::lock_guard lock(mu);
    check_open(what);
    if (uid.empty()) store->fail(op(what), "operator uid must not be empty");
    auto [it, inserted] = parts.try_emplace({std::string(uid), std::string(part)}, std::move(ref));
    if (!inserted) store->fail(op(what), RocksStore::describe_part(uid, part) + " was already added");
  }

  void check_open(const char* what) const {
    if (phase != Phase::kOpen) store->fail(op(what), "the checkpoint is no longer open");
  }

  void release_slot() {
    std::lock_guard lock(store->mu);
    store->pending_open = false;
  }
};

}  // namespace sluice::detail
