// How the checkpoint store lays its data out in RocksDB (internal; tests use
// it to reach stored bytes directly).
//
// One database under <state_dir>/db with column families:
//   "default"   store metadata: kExtrasAsOfKey -> u64 LE, the checkpoint id the
//               extras belong to (written by every commit); kMarkerPrefix +
//               caller key -> caller value (put_marker, outside checkpoints);
//   "parts"     payloads: payload_key(writer id, operator uid, part key) -> the
//               caller's bytes, unchanged. Keys sort by the id of the
//               checkpoint that wrote them, so an uncommitted checkpoint's
//               leftovers are one key range;
//   "manifests" manifest_key(id) -> encode_manifest(...);
//   "extras"    caller keys -> caller values, written in the commit's batch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "checkpoint/checkpoint_manifest.hpp"

namespace sluice::detail {

inline constexpr const char* kPartsCf = "parts";
inline constexpr const char* kManifestsCf = "manifests";
inline constexpr const char* kExtrasCf = "extras";
inline constexpr std::string_view kExtrasAsOfKey = "extras_checkpoint_id";
inline constexpr std::string_view kMarkerPrefix = "marker/";

/// 8-byte big-endian id: keys sort numerically.
std::string manifest_key(std::uint64_t id);
/// The id in a manifest key, or nullopt if `key` is not 8 bytes.
std::optional<std::uint64_t> manifest_key_id(std::string_view key);

/// be64(writer id) + be32(uid size) + uid + part key.
std::string payload_key(std::uint64_t writer_id, std::string_view operator_uid, std::string_view part_key);
/// The first 8 bytes of a payload key, or nullopt if it is shorter.
std::optional<std::uint64_t> payload_key_writer(std::string_view key);

/// The manifest's bytes:
///   "SLCKMANI" (8 bytes), u32 format version, u64 id, i64 created_us,
///   u8 flags (bit 0: savepoint), str job id, u32 part count,
///   per part: str operator uid, str part key, str payload key, u64 size, u32 crc32c;
///   then u32 CRC-32C of everything before it.
/// Integers little-endian, str = u32 size + bytes. Later versions keep the
/// magic, the version's place and the trailing CRC, so an old reader can
/// say "newer format version" instead of "corrupt".
std::string encode_manifest(const CheckpointManifest& m);

/// Decoded manifest, or `problem` (non-empty) saying why not: "manifest
/// checksum mismatch", "newer format version 2 (this build reads up to 1)", ...
struct ManifestDecode {
  CheckpointManifest manifest;
  std::string problem;
};
ManifestDecode decode_manifest(std::string_view bytes);

}  // namespace sluice::detail
