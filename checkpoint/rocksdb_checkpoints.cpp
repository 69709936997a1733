#include "checkpoint/rocksdb_checkpoints.hpp"

#include <utility>

#include "checkpoint/checkpoint_error.hpp"
#include "checkpoint/checkpoint_store.hpp"
#include "streaming/errors.hpp"

namespace sluice {

namespace {

class RocksWriter final : public CheckpointWriter {
 public:
  explicit RocksWriter(PendingCheckpoint pending) : pending_(std::move(pending)) {}
  void add_part(std::string_view operator_name, std::string_view key, std::string_view bytes) override {
    pending_.add_part(operator_name, key, bytes);
  }
  void reuse_part(std::string_view operator_name, std::string_view key) override {
    pending_.reuse_part(operator_name, key);
  }
  void commit() override { pending_.commit(); }
  void abort() noexcept override { pending_.abort(); }

 private:
  PendingCheckpoint pending_;
};

class RocksSession final : public CheckpointSession {
 public:
  RocksSession(CheckpointStore store, std::string job_id, std::function<void(const std::string&)> log)
      : store_(std::move(store)), job_id_(std::move(job_id)), log_(std::move(log)) {}

  std::unique_ptr<CheckpointWriter> begin(std::uint64_t id, bool is_savepoint, std::uint64_t base_id) override {
    PendingOptions o;
    o.is_savepoint = is_savepoint;
    // No base: nothing can be reused (the store would default to the newest
    // checkpoint; the runtime says explicitly which one it may refer to).
    if (base_id != 0 && !is_savepoint) o.base_checkpoint_id = base_id;
    return std::make_unique<RocksWriter>(store_.begin(id, o));
  }
  std::optional<RestoredCheckpoint> restore_latest() override {
    std::optional<CheckpointManifest> m = store_.latest_valid();
    if (!m) return std::nullopt;
    return read(store_, *m);
  }
  RestoredCheckpoint restore(std::uint64_t id) override {
    CheckpointManifest m = store_.load(id);
    if (std::optional<std::string> problem = store_.find_problem(m))
      throw CheckpointError(store_.state_dir().string(), "restore checkpoint " + std::to_string(id), *problem);
    return read(store_, m);
  }
  std::uint64_t newest_id() override { return store_.newest_id().value_or(0); }
  void put_marker(std::string_view key, std::string_view value) override { store_.put_marker(key, value); }
  std::optional<std::string> get_marker(std::string_view key) override { return store_.get_marker(key); }
  void write_savepoint(std::uint64_t id, const std::filesystem::path& dir) override {
    store_.write_savepoint(id, dir);
  }
  RestoredCheckpoint read_savepoint(const std::filesystem::path& dir) override {
    if (!std::filesystem::exists(dir / "db"))
      throw CheckpointError(dir.string(), "read savepoint", "no savepoint there (no 'db' directory)");
    // Opened with the job id it was written with: a savepoint of this job.
    CheckpointStoreOptions o;
    o.job_id = job_id_;
    o.log = log_;
    CheckpointStore savepoint(dir, std::move(o));
    std::optional<CheckpointManifest> m = savepoint.latest_valid();
    if (!m) throw CheckpointError(dir.string(), "read savepoint", "it holds no savepoint");
    return read(savepoint, *m);
  }

 private:
  static RestoredCheckpoint read(const CheckpointStore& store, const CheckpointManifest& m) {
    RestoredCheckpoint cp;
    cp.id = m.id;
    cp.is_savepoint = m.is_savepoint;
    for (const PartRef& part : m.parts) cp.parts[part.operator_uid][part.part_key] = store.read_part(part);
    return cp;
  }

  CheckpointStore store_;
  std::string job_id_;
  std::function<void(const std::string&)> log_;
};

class RocksCheckpoints final : public CheckpointStorage {
 public:
  explicit RocksCheckpoints(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::string describe() const override { return "RocksDB checkpoints in '" + dir_.string() + "'"; }

  std::unique_ptr<CheckpointSession> open(const std::string& job_id, std::size_t retained,
                                          std::function<void(const std::string&)> log) const override {
    if (job_id.empty() || job_id == "." || job_id == ".." || job_id.find('/') != std::string::npos ||
        job_id.find('\0') != std::string::npos)
      throw ConfigError("rocksdb_checkpoints", "query name",
                        "'" + job_id + "' cannot name a directory; use a name without '/'");
    CheckpointStoreOptions o;
    o.job_id = job_id;
    o.retained_checkpoints = retained;
    o.log = log;
    return std::make_unique<RocksSession>(CheckpointStore(dir_ / job_id, std::move(o)), job_id, std::move(log));
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace

std::shared_ptr<const CheckpointStorage> rocksdb_checkpoints(std::filesystem::path state_dir) {
  return std::make_shared<RocksCheckpoints>(std::move(state_dir));
}

}  // namespace sluice
