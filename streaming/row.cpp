#include "streaming/row.hpp"

#include <ostream>
#include <stdexcept>

#include "streaming/errors.hpp"

namespace sluice {
namespace {

// Throws TypeMismatchError unless `value` may sit in `field`.
void check_fits(const Field& field, const Value& value, const char* op) {
  if (value.is_null()) {
    if (!field.nullable) throw TypeMismatchError(op, field.name, "null in a non-nullable field");
    return;
  }
  if (value.type() != field.type) {
    throw TypeMismatchError(op, field.name,
                            "expected " + std::string(to_string(field.type)) + ", got " +
                                std::string(to_string(value.type())));
  }
}

}  // namespace

Row::Row(SchemaRef schema) : schema_(std::move(schema)) {
  if (!schema_) throw GraphError("Row", "", "schema is null");
  for (const Field& f : *schema_) {
    if (!f.nullable) throw TypeMismatchError("Row", f.name, "null in a non-nullable field");
  }
  values_.resize(schema_->size());
}

Row::Row(SchemaRef schema, std::vector<Value> values)
    : schema_(std::move(schema)), values_(std::move(values)) {
  if (!schema_) throw GraphError("Row", "", "schema is null");
  if (values_.size() != schema_->size()) {
    throw GraphError("Row", "",
                     "expected " + std::to_string(schema_->size()) + " values, got " +
                         std::to_string(values_.size()));
  }
  for (std::size_t i = 0; i < values_.size(); ++i) check_fits((*schema_)[i], values_[i], "Row");
}

Row Row::unchecked(SchemaRef schema, std::vector<Value> values) {
  Row row;
  row.schema_ = std::move(schema);
  row.values_ = std::move(values);
  return row;
}

const Value& Row::get(std::string_view name) const {
  if (!schema_) {
    throw UnknownFieldError("Row::get", std::string(name), "row has no schema");
  }
  return values_[schema_->require(name, "Row::get")];
}

void Row::set(std::size_t i, Value value) {
  if (i >= values_.size()) {
    throw std::out_of_range("Row::set: position " + std::to_string(i) + " >= size " +
                            std::to_string(values_.size()));
  }
  check_fits((*schema_)[i], value, "Row::set");
  values_[i] = std::move(value);
}

bool operator==(const Row& a, const Row& b) {
  if (a.schema_ != b.schema_) {
    if (!a.schema_ || !b.schema_ || !(*a.schema_ == *b.schema_)) return false;
  }
  return a.values_ == b.values_;
}

std::string Row::to_string() const {
  std::string out = "{";
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (i > 0) out += ", ";
    out += (*schema_)[i].name;
    out += ": ";
    out += values_[i].to_string();
  }
  return out + "}";
}

std::ostream& operator<<(std::ostream& os, const Row& row) { return os << row.to_string(); }

}  // namespace sluice
