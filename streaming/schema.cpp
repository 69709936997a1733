#include "streaming/schema.hpp"

#include <ostream>

#include "streaming/errors.hpp"

namespace sluice {

Schema::Schema(std::vector<Field> fields, std::string_view operator_name)
    : fields_(std::move(fields)) {
  const std::string op(operator_name);
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    const Field& f = fields_[i];
    if (f.name.empty()) {
      throw GraphError(op, "", "field #" + std::to_string(i) + " has an empty name");
    }
    if (f.type == ValueType::kNull) {
      throw GraphError(op, f.name, "type null is not a field type (use nullable = true)");
    }
    // Quadratic, but schemas are small and this runs once per build.
    for (std::size_t j = 0; j < i; ++j) {
      if (fields_[j].name == f.name) {
        throw GraphError(op, f.name, "duplicate field name in schema");
      }
    }
  }
}

SchemaRef Schema::make(std::vector<Field> fields, std::string_view operator_name) {
  return std::make_shared<const Schema>(std::move(fields), operator_name);
}

std::optional<std::size_t> Schema::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return i;
  }
  return std::nullopt;
}

std::size_t Schema::require(std::string_view name, std::string_view operator_name) const {
  if (auto i = index_of(name)) return *i;
  throw UnknownFieldError(std::string(operator_name), std::string(name),
                          "no such field in schema (" + field_names() + ")");
}

std::size_t Schema::require(std::string_view name, ValueType type,
                            std::string_view operator_name) const {
  const std::size_t i = require(name, operator_name);
  if (fields_[i].type != type) {
    throw TypeMismatchError(std::string(operator_name), std::string(name),
                            "expected " + std::string(sluice::to_string(type)) +
                                ", schema has " + std::string(sluice::to_string(fields_[i].type)));
  }
  return i;
}

std::string Schema::field_names() const {
  std::string out;
  for (const Field& f : fields_) {
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

std::string Schema::to_string() const {
  std::string out = "(";
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (i > 0) out += ", ";
    out += fields_[i].name;
    out += ": ";
    out += sluice::to_string(fields_[i].type);
    if (fields_[i].nullable) out += '?';
  }
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const Schema& schema) {
  return os << schema.to_string();
}

}  // namespace sluice
