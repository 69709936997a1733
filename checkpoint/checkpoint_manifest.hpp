// What a completed checkpoint holds: its manifest.
//
// A checkpoint is identified by an increasing id and belongs to one job. Its
// state is a set of parts, each named by (operator uid, part key) — the part
// key says which slice of the operator's state it is, e.g. "kg/17" for key
// group 17 or "subtask/0" for operator state — and holding opaque bytes from
// the caller's serializer. The manifest lists every part with where its bytes
// are stored, their size and their CRC-32C; the store writes it last, in the
// commit, so a checkpoint without a manifest does not exist for readers.
//
// An incremental checkpoint's manifest may point at payloads an older
// checkpoint wrote (PartRef::payload_key then names that checkpoint's id);
// readers need not care: every PartRef is read the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/time.hpp"

namespace sluice {

/// The manifest format this build writes, and the newest it reads. A manifest
/// with a higher version is refused ("newer format version"), never guessed at.
inline constexpr std::uint32_t kCheckpointFormatVersion = 1;

/// One part of a checkpoint: which state it is and where its bytes are.
struct PartRef {
  std::string operator_uid;  ///< the operator's stable uid, e.g. "fraud-detector"
  std::string part_key;      ///< which slice of its state, e.g. "kg/17", "subtask/0"
  std::string payload_key;   ///< the stored payload's key (opaque; shared by checkpoints that reuse it)
  std::uint64_t size = 0;    ///< payload size in bytes
  std::uint32_t crc32c = 0;  ///< CRC-32C of the payload bytes
};

/// A completed checkpoint's manifest. Parts are sorted by (operator_uid,
/// part_key), each pair at most once.
struct CheckpointManifest {
  std::uint64_t id = 0;                                   ///< checkpoint id, increasing per store
  std::string job_id;                                     ///< the job that wrote it
  std::uint32_t format_version = kCheckpointFormatVersion;
  Timestamp created_us = 0;                               ///< wall-clock time of the commit, µs since the epoch
  bool is_savepoint = false;                              ///< savepoints are never removed by retention
  std::vector<PartRef> parts;

  /// The part (operator_uid, part_key), or nullptr when the checkpoint has none.
  const PartRef* find(std::string_view operator_uid, std::string_view part_key) const;
  /// Sum of the parts' sizes (reused payloads included).
  std::uint64_t total_bytes() const;
};

}  // namespace sluice
