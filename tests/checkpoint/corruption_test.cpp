// Damage done to a closed store's files, the way a disk or a crash would, and
// what the store makes of it: it falls back to an older checkpoint with one
// log line per checkpoint it skips, or fails with a CheckpointError. It never
// returns damaged bytes as if they were intact.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/detail/layout.hpp"
#include "store_support.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {

// Checkpoints 1, 2, 3, each with parts op/kg/0 (new each time) and op/kg/1
// (written by 1, reused by 2 and 3).
void write_three(const std::filesystem::path& dir, std::vector<std::string>& log) {
  CheckpointStore store(dir, options_logging_to(log));
  for (int id = 1; id <= 3; ++id) {
    PendingCheckpoint cp = store.begin(id);
    cp.add_part("op", "kg/0", "kg0 of " + std::to_string(id));
    if (id == 1) {
      cp.add_part("op", "kg/1", "kg1 shared");
    } else {
      cp.reuse_part("op", "kg/1");
    }
    cp.commit();
  }
}

std::string flip_one_byte(std::string s, std::size_t at) {
  s.at(at) ^= 0x20;
  return s;
}

std::string prefix_of(const std::filesystem::path& dir) { return "sluice checkpoint: '" + dir.string() + "': "; }

}  // namespace

TEST_CASE("(a) a payload with a flipped byte: latest_valid falls back and says why", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  {
    RawDb raw(dir.path());
    const std::string key = detail::payload_key(3, "op", "kg/0");
    raw.put(detail::kPartsCf, key, flip_one_byte(raw.get(detail::kPartsCf, key), 2));
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 2);
  CHECK(store.read_part(*m, "op", "kg/0") == "kg0 of 2");
  REQUIRE(log.size() == 1);
  CHECK(log[0] == prefix_of(dir.path()) +
                      "skipping checkpoint 3: payload checksum mismatch for operator 'op' part 'kg/0'");
  // Reading the damaged part directly is refused too.
  CHECK(thrown_message<CheckpointError>([&] { store.read_part(store.load(3), "op", "kg/0"); })
            .find("payload checksum mismatch for operator 'op' part 'kg/0'") != std::string::npos);
}

TEST_CASE("(a') a shared payload damaged: every checkpoint using it is skipped", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  {
    RawDb raw(dir.path());
    const std::string key = detail::payload_key(1, "op", "kg/1");
    raw.put(detail::kPartsCf, key, flip_one_byte(raw.get(detail::kPartsCf, key), 0));
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::string message = thrown_message<CheckpointError>([&] { store.latest_valid(); });
  CHECK(message.find("find the latest valid checkpoint: none of the 3 stored checkpoints is usable (3: payload "
                     "checksum mismatch for operator 'op' part 'kg/1'; 2: ") != std::string::npos);
  CHECK(message.find("remove the state directory") != std::string::npos);
  CHECK(log.size() == 3);
}

TEST_CASE("(b) a manifest with a flipped byte: latest_valid falls back and says why", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  {
    RawDb raw(dir.path());
    const std::string key = detail::manifest_key(3);
    raw.put(detail::kManifestsCf, key, flip_one_byte(raw.get(detail::kManifestsCf, key), 30));
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  CHECK(store.list()[0].problem == "manifest checksum mismatch");
  CHECK(thrown_message<CheckpointError>([&] { store.load(3); }) ==
        "checkpoint store '" + dir.path().string() + "': load checkpoint 3: manifest checksum mismatch");
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 2);
  CHECK(log == std::vector<std::string>{prefix_of(dir.path()) + "skipping checkpoint 3: manifest checksum mismatch"});
  // The next checkpoint's base skips the damaged manifest too.
  PendingCheckpoint four = store.begin(4);
  REQUIRE(four.base());
  CHECK(four.base()->id == 2);
}

TEST_CASE("(c) a payload a manifest refers to is missing: latest_valid falls back and says why", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  {
    RawDb raw(dir.path());
    raw.remove(detail::kPartsCf, detail::payload_key(3, "op", "kg/0"));
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 2);
  CHECK(log == std::vector<std::string>{prefix_of(dir.path()) +
                                        "skipping checkpoint 3: missing payload for operator 'op' part 'kg/0'"});
}

TEST_CASE("(d) a manifest of another job or of a newer format version is skipped with the reason", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  {
    RawDb raw(dir.path());
    CheckpointManifest other = detail::decode_manifest(raw.get(detail::kManifestsCf, detail::manifest_key(3))).manifest;
    other.job_id = "someone-else";
    raw.put(detail::kManifestsCf, detail::manifest_key(3), detail::encode_manifest(other));
    CheckpointManifest newer = detail::decode_manifest(raw.get(detail::kManifestsCf, detail::manifest_key(2))).manifest;
    newer.format_version = kCheckpointFormatVersion + 1;
    raw.put(detail::kManifestsCf, detail::manifest_key(2), detail::encode_manifest(newer));
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(log == std::vector<std::string>{
                   prefix_of(dir.path()) + "skipping checkpoint 3: other job id 'someone-else'",
                   prefix_of(dir.path()) + "skipping checkpoint 2: newer format version 2 (this build reads up to 1)"});
  CHECK(store.load(3).job_id == "someone-else");  // load does not judge the job
  CHECK_THROWS_AS(store.load(2), CheckpointError);
}

TEST_CASE("(d') a store opened under another job id refuses to restore any checkpoint", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  CheckpointStore store(dir.path(), options_logging_to(log, 3, "job-2"));
  const std::string message = thrown_message<CheckpointError>([&] { store.latest_valid(); });
  CHECK(message.find("none of the 3 stored checkpoints is usable (3: other job id 'job-1'; 2: other job id 'job-1'; "
                     "1: other job id 'job-1')") != std::string::npos);
}

// (e) Damage below the store: RocksDB's own files.

TEST_CASE("(e1) a flipped byte inside a payload in an SST: the read fails its block checksum, fall back",
          "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  const std::string old_state = random_bytes(200'000, 1), new_state = random_bytes(200'000, 2);
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    one.add_part("op", "kg/0", old_state);
    one.commit();
    PendingCheckpoint two = store.begin(2);
    two.add_part("op", "kg/0", new_state);
    two.commit();
  }
  std::vector<std::filesystem::path> ssts;
  {
    RawDb raw(dir.path());
    raw.flush();
    ssts = raw.sst_files(detail::kPartsCf);
  }
  REQUIRE(ssts.size() == 1);
  std::string file = read_file(ssts[0]);
  const std::size_t at = file.find(new_state.substr(100'000, 64));  // random bytes are stored uncompressed
  REQUIRE(at != std::string::npos);
  write_file(ssts[0], flip_one_byte(file, at + 10));

  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(store.read_part(*m, "op", "kg/0") == old_state);
  REQUIRE(log.size() == 1);
  CHECK(log[0].find(prefix_of(dir.path()) + "skipping checkpoint 2: cannot read payload for operator 'op' part "
                                            "'kg/0': Corruption: block checksum mismatch") == 0);
  CHECK(thrown_message<CheckpointError>([&] { store.read_part(store.load(2), "op", "kg/0"); })
            .find("Corruption") != std::string::npos);
}

TEST_CASE("(e2) a flipped byte in the manifests' SST: a clear CheckpointError, no guess", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  std::vector<std::filesystem::path> ssts;
  {
    RawDb raw(dir.path());
    raw.flush();
    ssts = raw.sst_files(detail::kManifestsCf);
  }
  REQUIRE(ssts.size() == 1);
  std::string file = read_file(ssts[0]);
  const std::size_t at = file.find("SLCKMANI");  // the first manifest, in the data block
  REQUIRE(at != std::string::npos);
  write_file(ssts[0], flip_one_byte(file, at + 20));
  // All three manifests share one data block, which the open reads to find
  // the newest id: the open fails and says why, instead of restoring
  // nothing or something older.
  const std::string message =
      thrown_message<CheckpointError>([&] { CheckpointStore store(dir.path(), options_logging_to(log)); });
  CHECK(message.find("checkpoint store '" + dir.path().string() +
                     "': open: find the newest checkpoint: Corruption: block checksum mismatch") == 0);
}

TEST_CASE("(e3) a truncated SST: the open fails with a CheckpointError carrying RocksDB's reason", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  write_three(dir.path(), log);
  std::vector<std::filesystem::path> ssts;
  {
    RawDb raw(dir.path());
    raw.flush();
    ssts = raw.sst_files(detail::kPartsCf);
  }
  REQUIRE(ssts.size() == 1);
  std::filesystem::resize_file(ssts[0], std::filesystem::file_size(ssts[0]) / 2);
  const std::string message =
      thrown_message<CheckpointError>([&] { CheckpointStore store(dir.path(), options_logging_to(log)); });
  INFO(message);
  CHECK(message.find("checkpoint store '" + dir.path().string() + "': open: Corruption: ") == 0);
}

namespace {
// The newest non-empty write-ahead log of a closed store.
std::filesystem::path newest_wal(const std::filesystem::path& dir) {
  std::filesystem::path best;
  for (const auto& e : std::filesystem::directory_iterator(dir / "db"))
    if (e.path().extension() == ".log" && e.file_size() > 0 && (best.empty() || e.path() > best)) best = e.path();
  return best;
}

// Checkpoint 1 in an SST, checkpoint 2 (a 100 kB part) only in the WAL.
void one_flushed_one_in_wal(const std::filesystem::path& dir, std::vector<std::string>& log) {
  {
    CheckpointStore store(dir, options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    one.add_part("op", "kg/0", "one");
    one.commit();
  }
  {
    RawDb raw(dir);
    raw.flush();
  }
  CheckpointStore store(dir, options_logging_to(log));
  PendingCheckpoint two = store.begin(2);
  two.add_part("op", "kg/0", random_bytes(100'000, 3));
  two.commit();
}
}  // namespace

TEST_CASE("(e4) a truncated WAL: recovery stops at the cut, the checkpoint after it is gone", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  one_flushed_one_in_wal(dir.path(), log);
  const std::filesystem::path wal = newest_wal(dir.path());
  REQUIRE_FALSE(wal.empty());
  REQUIRE(std::filesystem::file_size(wal) > 100'000);
  std::filesystem::resize_file(wal, std::filesystem::file_size(wal) - 50);  // the manifest's record is last
  CheckpointStore store(dir.path(), options_logging_to(log));
  CHECK(store.list().size() == 1);
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(store.read_part(*m, "op", "kg/0") == "one");
  CHECK(store.storage_stats().payloads == 1);  // checkpoint 2's payload went with the tail or at open
  PendingCheckpoint again = store.begin(2);  // id 2 is free again
  again.commit();
}

TEST_CASE("(e5) a flipped byte in the WAL: recovery stops before it, the checkpoint after it is gone",
          "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  one_flushed_one_in_wal(dir.path(), log);
  const std::filesystem::path wal = newest_wal(dir.path());
  REQUIRE_FALSE(wal.empty());
  std::string bytes = read_file(wal);
  write_file(wal, flip_one_byte(bytes, bytes.size() / 2));  // inside the 100 kB payload's record
  // kPointInTimeRecovery: the record fails its CRC, replay stops before it.
  CheckpointStore store(dir.path(), options_logging_to(log));
  CHECK(store.list().size() == 1);
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 1);
  CHECK(store.read_part(*m, "op", "kg/0") == "one");
  CHECK(store.storage_stats().payloads == 1);
}
