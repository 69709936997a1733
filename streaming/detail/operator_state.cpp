#include "streaming/detail/operator_state.hpp"

#include <charconv>

#include "streaming/serde.hpp"

namespace sluice::detail {

namespace {
constexpr std::string_view kInstancePrefix = "instance/";
}  // namespace

std::string key_group_part(std::uint32_t kg) { return "kg/" + std::to_string(kg); }

std::string key_group_delta_part(std::uint32_t kg, std::uint32_t n) {
  return "kgd/" + std::to_string(kg) + "/" + std::to_string(n);
}

std::string instance_part(std::size_t index) { return std::string(kInstancePrefix) + std::to_string(index); }

const std::string* OperatorState::restored_part(std::string_view key) const {
  if (restored_ == nullptr) return nullptr;
  auto op = restored_->parts.find(name_);
  if (op == restored_->parts.end()) return nullptr;
  auto part = op->second.find(key);
  return part == op->second.end() ? nullptr : &part->second;
}

std::vector<std::string_view> OperatorState::restored_parts(std::string_view prefix) const {
  std::vector<std::string_view> out;
  if (restored_ == nullptr) return out;
  auto op = restored_->parts.find(name_);
  if (op == restored_->parts.end()) return out;
  for (auto it = op->second.lower_bound(prefix); it != op->second.end() && it->first.starts_with(prefix); ++it)
    out.emplace_back(it->second);
  return out;
}

std::vector<std::string_view> OperatorState::restored_instances() const {
  std::vector<std::string_view> out;
  if (restored_ == nullptr) return out;
  auto op = restored_->parts.find(name_);
  if (op == restored_->parts.end()) return out;
  std::vector<const std::string*> by_index;
  for (const auto& [key, bytes] : op->second) {
    if (!key.starts_with(kInstancePrefix)) continue;
    const std::string_view digits = std::string_view(key).substr(kInstancePrefix.size());
    std::size_t index = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (ec != std::errc{} || end != digits.data() + digits.size() || index >= 4096)
      throw StateFormatError("part '" + key + "' of operator '" + name_ + "'", std::nullopt, "not an instance part");
    if (by_index.size() <= index) by_index.resize(index + 1, nullptr);
    by_index[index] = &bytes;
  }
  for (std::size_t i = 0; i < by_index.size(); ++i) {
    if (by_index[i] == nullptr)
      throw StateFormatError("instances of operator '" + name_ + "'", std::nullopt,
                             "part 'instance/" + std::to_string(i) + "' is missing (checkpoint " +
                                 std::to_string(restored_->id) + " holds " + std::to_string(by_index.size()) +
                                 " instances)");
    out.emplace_back(*by_index[i]);
  }
  return out;
}

std::vector<std::string_view> OperatorState::restored_instance_states() const {
  std::vector<std::string_view> parts = restored_instances();
  for (std::string_view& p : parts) {
    StateReader r(p);
    check_state_format_version(r.read<std::uint32_t>());
    p = p.substr(r.offset());
  }
  return parts;
}

}  // namespace sluice::detail
