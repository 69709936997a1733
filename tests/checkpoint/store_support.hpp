// What the checkpoint tests share: temporary state directories, a captured
// log, and direct access to a closed store's RocksDB (to damage it).
#pragma once

#include <catch2/catch.hpp>
#include <rocksdb/db.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_store.hpp"
#include "checkpoint/detail/layout.hpp"

namespace sluice::testing {

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sluice-ckstore-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Store options whose log lines land in `lines`.
inline CheckpointStoreOptions options_logging_to(std::vector<std::string>& lines, std::size_t retained = 3,
                                                 std::string job = "job-1") {
  return CheckpointStoreOptions{.job_id = std::move(job),
                                .retained_checkpoints = retained,
                                .log = [&lines](const std::string& l) { lines.push_back(l); }};
}

/// `n` pseudo-random bytes (incompressible, so they appear verbatim in SSTs).
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = rng();
    for (std::size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

/// Opens a (closed) store's database directly, with all its column families.
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& state_dir) {
    const std::string path = (state_dir / "db").string();
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    rocksdb::DBOptions options;
    options.atomic_flush = true;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, path, cfs, &handles, &raw);
    INFO(s.ToString());
    REQUIRE(s.ok());
    db_.reset(raw);
    for (std::size_t i = 0; i < names.size(); ++i) handles_.emplace_back(names[i], handles[i]);
  }
  ~RawDb() {
    for (auto& [name, h] : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::ColumnFamilyHandle* cf(const std::string& name) const {
    for (const auto& [n, h] : handles_)
      if (n == name) return h;
    FAIL("no column family " << name);
    return nullptr;
  }
  std::vector<std::string> keys(const std::string& cf_name) const {
    std::vector<std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(cf_name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) out.push_back(it->key().ToString());
    REQUIRE(it->status().ok());
    return out;
  }
  std::string get(const std::string& cf_name, const std::string& key) const {
    std::string v;
    REQUIRE(db_->Get(rocksdb::ReadOptions(), cf(cf_name), key, &v).ok());
    return v;
  }
  void put(const std::string& cf_name, const std::string& key, const std::string& value) {
    REQUIRE(db_->Put(rocksdb::WriteOptions(), cf(cf_name), key, value).ok());
  }
  void remove(const std::string& cf_name, const std::string& key) {
    REQUIRE(db_->Delete(rocksdb::WriteOptions(), cf(cf_name), key).ok());
  }
  /// Flushes every column family to SST files (atomically).
  void flush() {
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (const auto& [n, h] : handles_) all.push_back(h);
    REQUIRE(db_->Flush(rocksdb::FlushOptions(), all).ok());
  }
  /// The live SST files of one column family, full paths.
  std::vector<std::filesystem::path> sst_files(const std::string& cf_name) const {
    std::vector<rocksdb::LiveFileMetaData> files;
    db_->GetLiveFilesMetaData(&files);
    std::vector<std::filesystem::path> out;
    for (const auto& f : files)
      if (f.column_family_name == cf_name) out.emplace_back(f.db_path + "/" + f.name);
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<std::pair<std::string, rocksdb::ColumnFamilyHandle*>> handles_;
};

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

/// Whether some line in `lines` contains every one of `parts`.
inline bool logged(const std::vector<std::string>& lines, std::initializer_list<std::string> parts) {
  for (const std::string& l : lines) {
    bool all = true;
    for (const std::string& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

}  // namespace sluice::testing
