#include "checkpoint/detail/layout.hpp"

#include <cstring>
#include <tuple>

#include "checkpoint/detail/crc32c.hpp"

namespace sluice::detail {
namespace {

constexpr std::string_view kMagic = "SLCKMANI";

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_be(std::string_view in, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, std::string_view s) {
  put_le(out, s.size(), 4);
  out.append(s);
}

// Bounds-checked little-endian reader over a manifest.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }
  std::uint64_t le(int bytes) {
    if (!take(bytes)) return 0;
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ - bytes + i]);
    return v;
  }
  std::string str() {
    const std::uint64_t n = le(4);
    if (!take(n)) return {};
    return std::string(in_.substr(pos_ - n, n));
  }

 private:
  bool take(std::uint64_t n) {
    if (!ok_ || n > in_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string manifest_key(std::uint64_t id) {
  std::string k;
  put_be(k, id, 8);
  return k;
}

std::optional<std::uint64_t> manifest_key_id(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return get_be(key, 8);
}

std::string payload_key(std::uint64_t writer_id, std::string_view operator_uid, std::string_view part_key) {
  std::string k;
  k.reserve(12 + operator_uid.size() + part_key.size());
  put_be(k, writer_id, 8);
  put_be(k, operator_uid.size(), 4);  // the size keeps ("a/b", "c") and ("a", "b/c") apart
  k.append(operator_uid);
  k.append(part_key);
  return k;
}

std::optional<std::uint64_t> payload_key_writer(std::string_view key) {
  if (key.size() < 8) return std::nullopt;
  return get_be(key, 8);
}

std::string encode_manifest(const CheckpointManifest& m) {
  std::string out(kMagic);
  put_le(out, m.format_version, 4);
  put_le(out, m.id, 8);
  put_le(out, static_cast<std::uint64_t>(m.created_us), 8);
  out.push_back(m.is_savepoint ? 1 : 0);
  put_str(out, m.job_id);
  put_le(out, m.parts.size(), 4);
  for (const PartRef& p : m.parts) {
    put_str(out, p.operator_uid);
    put_str(out, p.part_key);
    put_str(out, p.payload_key);
    put_le(out, p.size, 8);
    put_le(out, p.crc32c, 4);
  }
  put_le(out, crc32c(out), 4);
  return out;
}

ManifestDecode decode_manifest(std::string_view bytes) {
  ManifestDecode r;
  if (bytes.size() < kMagic.size() + 4 + 4) {
    r.problem = "manifest too short (" + std::to_string(bytes.size()) + " bytes)";
    return r;
  }
  const std::string_view body = bytes.substr(0, bytes.size() - 4);
  Reader trailer(bytes.substr(bytes.size() - 4));
  if (crc32c(body) != static_cast<std::uint32_t>(trailer.le(4))) {
    r.problem = "manifest checksum mismatch";
    return r;
  }
  if (body.substr(0, kMagic.size()) != kMagic) {
    r.problem = "not a manifest (bad magic)";
    return r;
  }
  Reader in(body.substr(kMagic.size()));
  CheckpointManifest& m = r.manifest;
  m.format_version = static_cast<std::uint32_t>(in.le(4));
  if (m.format_version > kCheckpointFormatVersion) {
    r.problem = "newer format version " + std::to_string(m.format_version) + " (this build reads up to " +
                std::to_string(kCheckpointFormatVersion) + ")";
    return r;
  }
  if (m.format_version == 0) {
    r.problem = "bad format version 0";
    return r;
  }
  m.id = in.le(8);
  m.created_us = static_cast<Timestamp>(in.le(8));
  m.is_savepoint = (in.le(1) & 1) != 0;
  m.job_id = in.str();
  const std::uint64_t count = in.le(4);
  // A count beyond what the bytes can hold is caught by the reader; do not
  // reserve for it.
  for (std::uint64_t i = 0; i < count && in.ok(); ++i) {
    PartRef p;
    p.operator_uid = in.str();
    p.part_key = in.str();
    p.payload_key = in.str();
    p.size = in.le(8);
    p.crc32c = static_cast<std::uint32_t>(in.le(4));
    if (!m.parts.empty() && !(std::tie(m.parts.back().operator_uid, m.parts.back().part_key) <
                              std::tie(p.operator_uid, p.part_key))) {
      r.problem = "manifest parts out of order or duplicated";
      return r;
    }
    m.parts.push_back(std::move(p));
  }
  if (!in.ok() || !in.at_end()) r.problem = "manifest malformed (its checksum matches, its fields do not)";
  return r;
}

}  // namespace sluice::detail
