#include <catch2/catch.hpp>

#include <string>

#include "checkpoint/detail/layout.hpp"

using namespace sluice;
using namespace sluice::detail;

namespace {
CheckpointManifest sample() {
  CheckpointManifest m;
  m.id = 42;
  m.job_id = "fraud";
  m.created_us = 1'700'000'000'000'000;
  m.is_savepoint = true;
  m.parts = {{"detector", "kg/1", payload_key(40, "detector", "kg/1"), 10, 0xdeadbeef},
             {"detector", "kg/2", payload_key(42, "detector", "kg/2"), 0, 0},
             {"source", "subtask/0", payload_key(42, "source", "subtask/0"), 1 << 20, 7}};
  return m;
}
}  // namespace

TEST_CASE("a manifest survives encode and decode field for field", "[checkpoint]") {
  const CheckpointManifest m = sample();
  const ManifestDecode d = decode_manifest(encode_manifest(m));
  REQUIRE(d.problem.empty());
  CHECK(d.manifest.id == 42);
  CHECK(d.manifest.job_id == "fraud");
  CHECK(d.manifest.format_version == kCheckpointFormatVersion);
  CHECK(d.manifest.created_us == m.created_us);
  CHECK(d.manifest.is_savepoint);
  REQUIRE(d.manifest.parts.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(d.manifest.parts[i].operator_uid == m.parts[i].operator_uid);
    CHECK(d.manifest.parts[i].part_key == m.parts[i].part_key);
    CHECK(d.manifest.parts[i].payload_key == m.parts[i].payload_key);
    CHECK(d.manifest.parts[i].size == m.parts[i].size);
    CHECK(d.manifest.parts[i].crc32c == m.parts[i].crc32c);
  }
  CHECK(d.manifest.find("detector", "kg/2") == &d.manifest.parts[1]);
  CHECK(d.manifest.find("detector", "kg/3") == nullptr);
  CHECK(d.manifest.total_bytes() == 10 + (1 << 20));
}

TEST_CASE("a damaged manifest is reported, never decoded", "[checkpoint]") {
  const std::string good = encode_manifest(sample());
  for (std::size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    INFO("byte " << i);
    CHECK(decode_manifest(bad).problem == "manifest checksum mismatch");
  }
  CHECK(decode_manifest(good.substr(0, good.size() - 1)).problem == "manifest checksum mismatch");
  CHECK(decode_manifest("").problem == "manifest too short (0 bytes)");
}

TEST_CASE("a manifest of a newer format version is refused by name", "[checkpoint]") {
  CheckpointManifest m = sample();
  m.format_version = kCheckpointFormatVersion + 1;
  CHECK(decode_manifest(encode_manifest(m)).problem == "newer format version 2 (this build reads up to 1)");
}

TEST_CASE("payload keys keep operator and part apart and start with the writer's id", "[checkpoint]") {
  CHECK(payload_key(1, "a/b", "c") != payload_key(1, "a", "b/c"));
  CHECK(payload_key_writer(payload_key(77, "x", "y")) == 77u);
  CHECK(manifest_key_id(manifest_key(123456789)) == 123456789u);
  CHECK(manifest_key(2) < manifest_key(256));  // big-endian: keys sort by id
  CHECK(payload_key(255, "z", "z") < payload_key(256, "a", "a"));
}
