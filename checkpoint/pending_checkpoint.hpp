// A checkpoint being written: parts go in, then one commit makes it exist.
//
// CheckpointStore::begin(id) hands out a PendingCheckpoint. Operators add
// their parts to it, from any number of threads at once; each payload is
// stored when it is added (not yet visible to readers) with its CRC-32C. A
// part that did not change since the base checkpoint (by default the newest
// completed one) is added by reference with reuse_part: the new manifest
// points at the payload already stored, nothing is rewritten. Key/value
// writes that must take effect exactly when the checkpoint does (view-table
// rows, source offsets) are attached with put_extra/delete_extra.
//
// commit() writes the manifest, the extras, the retention deletions and the
// store's "extras as of" marker in one RocksDB WriteBatch with sync = true:
// all of it is durable and visible at once, or none of it. Until then
// nothing of this checkpoint is visible; a crash before the commit leaves
// payloads that the next open of the store removes, and a pending checkpoint
// destroyed without commit() removes its payloads itself (abort).
//
// Threads: add_part, reuse_part, put_extra and delete_extra may be called
// concurrently from several threads. commit() and abort() must be called
// after every one of those calls has returned; commit() checks that no
// add_part is still in flight and throws CheckpointError if one is.
// Moving a PendingCheckpoint while another thread uses it is not allowed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "checkpoint/checkpoint_manifest.hpp"

namespace sluice {

namespace detail {
class PendingState;
}  // namespace detail

/// How CheckpointStore::begin starts a checkpoint.
struct PendingOptions {
  /// A savepoint: a full checkpoint (reuse_part is refused) that retention
  /// never removes. Default: false.
  bool is_savepoint = false;
  /// The completed checkpoint reuse_part refers to. Default (nullopt): the
  /// newest checkpoint whose manifest verifies and belongs to this job. Set it
  /// after recovering from an older checkpoint than the newest (the one the
  /// job actually restored), so unchanged parts point at what was restored.
  std::optional<std::uint64_t> base_checkpoint_id = std::nullopt;
};

class PendingCheckpoint {
 public:
  PendingCheckpoint(PendingCheckpoint&&) noexcept;
  PendingCheckpoint& operator=(PendingCheckpoint&&) noexcept;
  /// Aborts the checkpoint unless it was committed (see abort()).
  ~PendingCheckpoint();

  /// This checkpoint's id.
  std::uint64_t id() const;
  /// The manifest reuse_part refers to, or nullptr when there is none (first
  /// checkpoint, savepoint).
  const CheckpointManifest* base() const;

  /// Stores `bytes` as the part (operator_uid, part_key). Thread-safe.
  /// Throws CheckpointError when the part was already added to this
  /// checkpoint, operator_uid is empty, the checkpoint is no longer open, or
  /// RocksDB fails (the part is then not added; the checkpoint stays open).
  void add_part(std::string_view operator_uid, std::string_view part_key, std::string_view bytes);

  /// Adds the part (operator_uid, part_key) by reference to the payload the
  /// base checkpoint holds for it; nothing is written. Thread-safe. Throws
  /// CheckpointError when there is no base, the base has no such part, this
  /// is a savepoint, or the part was already added.
  void reuse_part(std::string_view operator_uid, std::string_view part_key);

  /// Puts key -> value into the store's extras in the commit's batch (the
  /// last write to a key wins). Thread-safe.
  void put_extra(std::string_view key, std::string_view value);
  /// Deletes `key` from the extras in the commit's batch. Thread-safe.
  void delete_extra(std::string_view key);

  /// Makes the checkpoint complete and durable (see the file comment), with
  /// retention's deletions in the same write. Returns its manifest. Throws CheckpointError when a
  /// part is still being added, the checkpoint is not open, or RocksDB fails.
  /// After a failure the previous checkpoints are intact and this one is not
  /// visible; if the failure came before the write (reading the manifests
  /// retention needs), the checkpoint stays open and commit may be retried,
  /// else it is closed and its payloads are removed (at once, or by the next
  /// open if RocksDB refuses writes after the failure).
  CheckpointManifest commit();

  /// Gives the checkpoint up: removes the payloads it stored (best effort;
  /// what is left is removed when the store is next opened). No-op after
  /// commit or abort. Never throws.
  void abort() noexcept;

 private:
  friend class CheckpointStore;
  explicit PendingCheckpoint(std::unique_ptr<detail::PendingState> state);
  std::unique_ptr<detail::PendingState> state_;
};

}  // namespace sluice
