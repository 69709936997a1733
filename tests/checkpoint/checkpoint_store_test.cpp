#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "store_support.hpp"
#include "support/thrown.hpp"

using namespace sluice;
using namespace sluice::testing;

namespace {
std::string part_bytes(int cp, int i) { return "cp" + std::to_string(cp) + "-part" + std::to_string(i); }

// The writer ids of the stored payload keys (which checkpoint wrote each).
std::multiset<std::uint64_t> payload_writers(const std::filesystem::path& dir) {
  RawDb raw(dir);
  std::multiset<std::uint64_t> out;
  for (const std::string& k : raw.keys(detail::kPartsCf)) out.insert(*detail::payload_key_writer(k));
  return out;
}
}  // namespace

TEST_CASE("a committed checkpoint loads back with its parts and extras, also after reopening", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    CHECK(store.latest_valid() == std::nullopt);
    CHECK(store.list().empty());
    PendingCheckpoint cp = store.begin(5);
    cp.add_part("detector", "kg/3", "state of key group 3");
    cp.add_part("detector", "kg/17", std::string("with\0nul", 8));
    cp.add_part("source", "subtask/0", "offset=1234");
    cp.put_extra("view/totals/alice", "42");
    cp.put_extra("view/totals/bob", "7");
    cp.put_extra("kafka/bids/0", "1234");
    cp.delete_extra("view/totals/bob");
    const CheckpointManifest m = cp.commit();
    CHECK(m.id == 5);
    CHECK(m.parts.size() == 3);
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::vector<CheckpointInfo> all = store.list();
  REQUIRE(all.size() == 1);
  CHECK(all[0].id == 5);
  CHECK(all[0].job_id == "job-1");
  CHECK(all[0].format_version == kCheckpointFormatVersion);
  CHECK(all[0].part_count == 3);
  CHECK(all[0].problem.empty());
  CHECK(all[0].created_us > 1'600'000'000'000'000);  // a wall-clock time in µs
  const CheckpointManifest m = store.load(5);
  CHECK(m.job_id == "job-1");
  CHECK_FALSE(m.is_savepoint);
  CHECK(store.read_part(m, "detector", "kg/3") == "state of key group 3");
  CHECK(store.read_part(m, "detector", "kg/17") == std::string("with\0nul", 8));
  CHECK(store.read_part(m, "source", "subtask/0") == "offset=1234");
  CHECK(thrown_message<CheckpointError>([&] { store.read_part(m, "source", "subtask/1"); })
            .find("no operator 'source' part 'subtask/1' in it") != std::string::npos);
  CHECK(store.get_extra("view/totals/alice") == "42");
  CHECK(store.get_extra("view/totals/bob") == std::nullopt);
  CHECK(store.extras_checkpoint_id() == 5u);
  std::vector<std::string> view;
  store.for_each_extra("view/", [&](std::string_view k, std::string_view v) {
    view.push_back(std::string(k) + "=" + std::string(v));
  });
  CHECK(view == std::vector<std::string>{"view/totals/alice=42"});
  const std::optional<CheckpointManifest> latest = store.latest_valid();
  REQUIRE(latest);
  CHECK(latest->id == 5);
  CHECK(log.empty());
}

TEST_CASE("parts are added from 4 threads at once", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  CheckpointStore store(dir.path(), options_logging_to(log));
  PendingCheckpoint cp = store.begin(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&cp, t] {
      for (int i = 0; i < 250; ++i) {
        cp.add_part("op" + std::to_string(t), "kg/" + std::to_string(i), part_bytes(t, i));
        if (i % 50 == 0) cp.put_extra("t" + std::to_string(t) + "/" + std::to_string(i), "x");
      }
    });
  for (std::thread& th : threads) th.join();
  const CheckpointManifest m = cp.commit();
  CHECK(m.parts.size() == 1000);
  const CheckpointManifest loaded = store.load(1);
  REQUIRE(loaded.parts.size() == 1000);
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 250; ++i)
      REQUIRE(store.read_part(loaded, "op" + std::to_string(t), "kg/" + std::to_string(i)) == part_bytes(t, i));
  CHECK(store.get_extra("t3/200") == "x");
}

TEST_CASE("an unchanged part is reused by reference, not rewritten, and reads back", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    CHECK(one.base() == nullptr);
    one.add_part("op", "kg/0", "big unchanged state");
    one.add_part("op", "kg/1", "v1");
    one.commit();
    const StorageStats before = store.storage_stats();
    CHECK(before.payloads == 2);

    PendingCheckpoint two = store.begin(2);
    REQUIRE(two.base() != nullptr);
    CHECK(two.base()->id == 1);
    two.reuse_part("op", "kg/0");
    two.add_part("op", "kg/1", "v2");
    const CheckpointManifest m2 = two.commit();
    const StorageStats after = store.storage_stats();
    CHECK(after.payloads == 3);  // only kg/1 was written again
    CHECK(after.payload_bytes == before.payload_bytes + 2);
    CHECK(m2.find("op", "kg/0")->payload_key == store.load(1).find("op", "kg/0")->payload_key);
    CHECK(store.read_part(m2, "op", "kg/0") == "big unchanged state");
    CHECK(store.read_part(m2, "op", "kg/1") == "v2");

    PendingCheckpoint three = store.begin(3);
    CHECK(thrown_message<CheckpointError>([&] { three.reuse_part("op", "kg/9"); })
              .find("reuse part operator 'op' part 'kg/9' (checkpoint 3): base checkpoint 2 has no such part") !=
          std::string::npos);
    three.reuse_part("op", "kg/0");  // a reference to a reference: still checkpoint 1's payload
    three.reuse_part("op", "kg/1");
    CHECK(thrown_message<CheckpointError>([&] { three.add_part("op", "kg/1", "again"); })
              .find("operator 'op' part 'kg/1' was already added") != std::string::npos);
    three.commit();
  }
  // kg/0 and kg/1 of checkpoint 1 (1 still refers to its kg/1), kg/1 of 2.
  CHECK(payload_writers(dir.path()) == std::multiset<std::uint64_t>{1, 1, 2});
  CheckpointStore store(dir.path(), options_logging_to(log));
  const CheckpointManifest m3 = store.load(3);
  CHECK(store.read_part(m3, "op", "kg/0") == "big unchanged state");
  CHECK(store.read_part(m3, "op", "kg/1") == "v2");
  CHECK(store.latest_valid()->id == 3);
}

TEST_CASE("retention keeps the last 3 of 10 checkpoints and exactly the payloads they refer to", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log, 3));
    for (int id = 1; id <= 10; ++id) {
      PendingCheckpoint cp = store.begin(id);
      if (id == 1) {
        cp.add_part("a", "p0", "written once");
      } else {
        cp.reuse_part("a", "p0");
      }
      cp.add_part("a", "p1", part_bytes(id, 1));  // new every time
      if (id % 2 == 0) {
        cp.add_part("b", "p2", part_bytes(id, 2));  // new every other time
      } else if (id > 1) {
        cp.reuse_part("b", "p2");
      }
      cp.commit();
    }
    const std::vector<CheckpointInfo> all = store.list();
    REQUIRE(all.size() == 3);
    CHECK(all[0].id == 10);
    CHECK(all[1].id == 9);
    CHECK(all[2].id == 8);
    CHECK(thrown_message<CheckpointError>([&] { store.load(7); }).find("load checkpoint 7: no such checkpoint") !=
          std::string::npos);
  }
  // p0 of 1; p1 of 8, 9, 10; p2 of 8 (reused by 9) and 10.
  CHECK(payload_writers(dir.path()) == std::multiset<std::uint64_t>{1, 8, 8, 9, 10, 10});
  CheckpointStore store(dir.path(), options_logging_to(log, 3));
  for (std::uint64_t id : {8, 9, 10}) {
    const CheckpointManifest m = store.load(id);
    CHECK(store.read_part(m, "a", "p0") == "written once");
    CHECK(store.read_part(m, "a", "p1") == part_bytes(static_cast<int>(id), 1));
    CHECK(store.read_part(m, "b", "p2") == part_bytes(id == 9 ? 8 : static_cast<int>(id), 2));
    CHECK_FALSE(store.find_problem(m));
  }
  CHECK(store.storage_stats().manifests == 3);
}

TEST_CASE("an uncommitted checkpoint is invisible, also after reopening, and its payloads are removed",
          "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    one.add_part("op", "kg/0", "committed");
    one.commit();
    PendingCheckpoint two = store.begin(2);
    two.add_part("op", "kg/0", "never committed");
    two.put_extra("view/x", "never");
    CHECK(store.list().size() == 1);
    CHECK(store.latest_valid()->id == 1);
    // Abort removes what checkpoint 2 stored; a crash is the open's job (below).
    CHECK(store.storage_stats().payloads == 2);
    two.abort();
    CHECK(store.storage_stats().payloads == 1);
    PendingCheckpoint three = store.begin(3);
    three.add_part("op", "kg/0", "left behind");
    CHECK(store.storage_stats().payloads == 2);
  }  // three is destroyed before store here (declared later), i.e. aborted
  {
    // Leftovers of a crashed writer: payloads above the newest manifest's id,
    // written straight into the database.
    RawDb raw(dir.path());
    raw.put(detail::kPartsCf, detail::payload_key(4, "op", "kg/0"), "crashed");
    raw.put(detail::kPartsCf, detail::payload_key(9, "op", "kg/1"), "crashed too");
  }
  CHECK(payload_writers(dir.path()) == std::multiset<std::uint64_t>{1, 4, 9});
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    CHECK(store.list().size() == 1);
    CHECK(store.latest_valid()->id == 1);
    CHECK(store.get_extra("view/x") == std::nullopt);
    CHECK(store.storage_stats().payloads == 1);  // the open removed 4's and 9's
    CHECK(store.newest_id() == 1u);
  }
  CHECK(payload_writers(dir.path()) == std::multiset<std::uint64_t>{1});
}

TEST_CASE("an empty checkpoint (no parts) commits and is valid", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  CheckpointStore store(dir.path(), options_logging_to(log));
  const CheckpointManifest m = store.begin(1).commit();
  CHECK(m.parts.empty());
  const std::optional<CheckpointManifest> latest = store.latest_valid();
  REQUIRE(latest);
  CHECK(latest->id == 1);
  CHECK(latest->parts.empty());
  CHECK(store.list()[0].total_bytes == 0);
}

TEST_CASE("a 64 MB part round-trips", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  const std::string big = random_bytes(64u << 20, 64);
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint cp = store.begin(1);
    cp.add_part("window", "kg/0", big);
    cp.add_part("window", "kg/1", "small");
    cp.commit();
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->find("window", "kg/0")->size == big.size());
  CHECK(store.read_part(*m, "window", "kg/0") == big);
}

TEST_CASE("10k small parts round-trip", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    PendingCheckpoint cp = store.begin(1);
    for (int i = 0; i < 10'000; ++i) cp.add_part("op", "kg/" + std::to_string(i), part_bytes(1, i));
    cp.commit();
    PendingCheckpoint two = store.begin(2);
    for (int i = 0; i < 10'000; ++i) {
      if (i % 100 == 0) {
        two.add_part("op", "kg/" + std::to_string(i), part_bytes(2, i));
      } else {
        two.reuse_part("op", "kg/" + std::to_string(i));
      }
    }
    two.commit();
    CHECK(store.storage_stats().payloads == 10'100);
  }
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::optional<CheckpointManifest> m = store.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 2);
  REQUIRE(m->parts.size() == 10'000);
  for (int i = 0; i < 10'000; ++i)
    REQUIRE(store.read_part(*m, "op", "kg/" + std::to_string(i)) == part_bytes(i % 100 == 0 ? 2 : 1, i));
}

TEST_CASE("misuse is refused with a CheckpointError naming what and where", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  CheckpointStore store(dir.path(), options_logging_to(log));
  const std::string where = "checkpoint store '" + dir.path().string() + "': ";
  CHECK(thrown_message<CheckpointError>([&] { store.begin(0); }) ==
        where + "begin checkpoint 0: checkpoint ids start at 1");
  {
    PendingCheckpoint seven = store.begin(7);
    CHECK(thrown_message<CheckpointError>([&] { store.begin(8); }) ==
          where + "begin checkpoint 8: another checkpoint of this store is still pending (one at a time)");
    CHECK(thrown_message<CheckpointError>([&] { seven.add_part("", "kg/0", "x"); })
              .find("operator uid must not be empty") != std::string::npos);
    CHECK(thrown_message<CheckpointError>([&] { seven.reuse_part("op", "kg/0"); })
              .find("there is no base checkpoint to reuse from") != std::string::npos);
    seven.commit();
    CHECK(thrown_message<CheckpointError>([&] { seven.commit(); }) ==
          where + "commit (checkpoint 7): the checkpoint is no longer open");
    CHECK(thrown_message<CheckpointError>([&] { seven.add_part("op", "kg/1", "late"); }) ==
          where + "add part (checkpoint 7): the checkpoint is no longer open");
  }
  CHECK(thrown_message<CheckpointError>([&] { store.begin(7); }) ==
        where + "begin checkpoint 7: the id must be greater than the newest stored checkpoint's, 7");
  CHECK(thrown_message<CheckpointError>([&] { store.begin(8, {.base_checkpoint_id = 3}); }) ==
        where + "load checkpoint 3: no such checkpoint");
  CHECK(thrown_message<CheckpointError>([&] { store.begin(8, {.is_savepoint = true}).reuse_part("a", "b"); })
            .find("a savepoint holds full copies, not references") != std::string::npos);
  CHECK(thrown_message<CheckpointError>([&] { CheckpointStore(dir / "other", CheckpointStoreOptions{}); }) ==
        "checkpoint store '" + (dir / "other").string() + "': open: options.job_id must not be empty");
  CHECK(thrown_message<CheckpointError>([&] {
          CheckpointStore(dir / "other", CheckpointStoreOptions{.job_id = "j", .retained_checkpoints = 0});
        }).find("options.retained_checkpoints must be at least 1") != std::string::npos);
}

TEST_CASE("a second store on the same directory in this process is refused by name", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    CHECK(thrown_message<CheckpointError>([&] { CheckpointStore again(dir.path(), options_logging_to(log)); }) ==
          "checkpoint store '" + dir.path().string() + "': open: state directory '" + dir.path().string() +
              "' is in use by another CheckpointStore in this process");
    // Also through another spelling of the same directory.
    CHECK_THROWS_AS(CheckpointStore(dir.path() / "." / "", options_logging_to(log)), CheckpointError);
  }
  CheckpointStore reopened(dir.path(), options_logging_to(log));  // released on close
  CHECK(reopened.list().empty());
}

TEST_CASE("a pending checkpoint keeps the database usable after its store object is gone", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  std::optional<PendingCheckpoint> cp;
  {
    CheckpointStore store(dir.path(), options_logging_to(log));
    cp.emplace(store.begin(1));
  }
  cp->add_part("op", "kg/0", "late but fine");
  cp->commit();
  cp.reset();
  CheckpointStore store(dir.path(), options_logging_to(log));
  CHECK(store.read_part(store.load(1), "op", "kg/0") == "late but fine");
}

TEST_CASE("a savepoint is a full copy in its own directory, restorable like a checkpoint", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  {
    CheckpointStore store(dir / "state", options_logging_to(log));
    PendingCheckpoint one = store.begin(1);
    one.add_part("op", "kg/0", "unchanged");
    one.add_part("op", "kg/1", "v1");
    one.commit();
    PendingCheckpoint two = store.begin(2);
    two.reuse_part("op", "kg/0");
    two.add_part("op", "kg/1", "v2");
    two.put_extra("kafka/bids/0", "99");
    two.commit();
    const CheckpointManifest sp = store.write_savepoint(2, dir / "savepoint");
    CHECK(sp.is_savepoint);
    CHECK(sp.id == 2);
  }
  CheckpointStore sp(dir / "savepoint", options_logging_to(log));
  const std::optional<CheckpointManifest> m = sp.latest_valid();
  REQUIRE(m);
  CHECK(m->id == 2);
  CHECK(m->is_savepoint);
  for (const PartRef& p : m->parts) CHECK(detail::payload_key_writer(p.payload_key) == 2u);  // no references
  CHECK(sp.read_part(*m, "op", "kg/0") == "unchanged");
  CHECK(sp.read_part(*m, "op", "kg/1") == "v2");
  CHECK(sp.get_extra("kafka/bids/0") == "99");
  CHECK(sp.extras_checkpoint_id() == 2u);
}

TEST_CASE("retention never removes a savepoint kept in a checkpoint store", "[checkpoint]") {
  TempDir dir;
  std::vector<std::string> log;
  CheckpointStore store(dir.path(), options_logging_to(log, 1));
  PendingCheckpoint one = store.begin(1);
  one.add_part("op", "kg/0", "one");
  one.commit();
  PendingCheckpoint sp = store.begin(2, {.is_savepoint = true});
  sp.add_part("op", "kg/0", "savepoint");
  sp.commit();
  for (int id = 3; id <= 6; ++id) {
    PendingCheckpoint cp = store.begin(id);
    cp.add_part("op", "kg/0", part_bytes(id, 0));
    cp.commit();
  }
  const std::vector<CheckpointInfo> all = store.list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == 6);
  CHECK(all[1].id == 2);
  CHECK(all[1].is_savepoint);
  CHECK(store.read_part(store.load(2), "op", "kg/0") == "savepoint");
  CHECK(store.storage_stats().payloads == 2);
}
