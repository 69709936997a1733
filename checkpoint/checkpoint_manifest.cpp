#include "checkpoint/checkpoint_manifest.hpp"

#include <algorithm>
#include <tuple>

namespace sluice {

const PartRef* CheckpointManifest::find(std::string_view operator_uid, std::string_view part_key) const {
  const auto key = std::tie(operator_uid, part_key);
  auto it = std::lower_bound(parts.begin(), parts.end(), key, [](const PartRef& p, const auto& k) {
    return std::tuple<std::string_view, std::string_view>(p.operator_uid, p.part_key) < k;
  });
  if (it == parts.end() || it->operator_uid != operator_uid || it->part_key != part_key) return nullptr;
  return &*it;
}

std::uint64_t CheckpointManifest::total_bytes() const {
  std::uint64_t n = 0;
  for (const PartRef& p : parts) n += p.size;
  return n;
}

}  // namespace sluice
