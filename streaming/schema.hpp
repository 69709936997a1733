// Schema: the names and types of a `Row`'s fields.
//
// A schema is an ordered list of uniquely named, typed fields. Rows store their
// values by position; the schema maps names to positions. Operators resolve
// every field name they use exactly once, when the graph is built
// (`require`), and keep the position, so the per-event path never looks a name
// up. A bad name or type is a build-time mistake and throws a `GraphError`
// subclass naming the operator and the field.
//
// Schemas are immutable after construction and shared between rows, operators
// and threads through `SchemaRef` (`std::shared_ptr<const Schema>`); sharing is
// thread-safe and a row costs one pointer for its schema.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/value.hpp"

namespace sluice {

/// One field of a schema.
struct Field {
  /// Field name; non-empty and unique within its schema. Case-sensitive.
  std::string name;
  /// Declared type. Never kNull (a null is expressed by `nullable`).
  ValueType type = ValueType::kString;
  /// Whether the field may hold null. Default: false — a record missing a
  /// required field is a bad record, so nullability is explicit opt-in.
  bool nullable = false;

  friend bool operator==(const Field&, const Field&) = default;
};

class Schema;
/// How schemas are shared: immutable, reference-counted.
using SchemaRef = std::shared_ptr<const Schema>;

/// An ordered list of uniquely named fields. Immutable.
class Schema {
 public:
  /// Builds a schema from `fields`, in order.
  /// Throws GraphError when a name is empty or appears twice, or a field is
  /// declared with type kNull. `operator_name` only labels those errors.
  explicit Schema(std::vector<Field> fields, std::string_view operator_name = "schema");

  /// Convenience: `Schema::make({{"card_id", ValueType::kString},
  /// {"amount", ValueType::kDouble, true}})`. Same checks as the constructor.
  static SchemaRef make(std::vector<Field> fields, std::string_view operator_name = "schema");

  /// Number of fields.
  std::size_t size() const { return fields_.size(); }
  /// All fields, in order.
  const std::vector<Field>& fields() const { return fields_; }
  /// The field at position `i`. Precondition: i < size() (unchecked).
  const Field& operator[](std::size_t i) const { return fields_[i]; }
  /// The field at position `i`. Throws std::out_of_range when i >= size().
  const Field& at(std::size_t i) const { return fields_.at(i); }
  /// Iteration over the fields in order (range-for support).
  auto begin() const { return fields_.begin(); }
  /// End of the field range.
  auto end() const { return fields_.end(); }

  /// Position of the field called `name`, or nullopt. Linear in size(): meant
  /// for build time, not per event.
  std::optional<std::size_t> index_of(std::string_view name) const;

  /// Position of the field called `name`. Throws UnknownFieldError naming
  /// `operator_name`, the field, and the known fields, e.g.
  /// "parse_cards: field 'amout': no such field in schema (card_id, amount)".
  std::size_t require(std::string_view name, std::string_view operator_name) const;

  /// Like require(name, operator_name), and also throws TypeMismatchError
  /// when the field's type is not `type`, e.g.
  /// "sum_amount: field 'amount': expected double, schema has string".
  /// Nullability is not checked; callers that cannot take null test
  /// `(*this)[i].nullable` themselves.
  std::size_t require(std::string_view name, ValueType type, std::string_view operator_name) const;

  /// The field names joined by ", ", e.g. "card_id, amount". Used in messages.
  std::string field_names() const;

  /// Structural equality: same fields (name, type, nullable) in the same order.
  friend bool operator==(const Schema& a, const Schema& b) { return a.fields_ == b.fields_; }

  /// E.g. "(card_id: string, amount: double?)" — '?' marks a nullable field.
  std::string to_string() const;

 private:
  std::vector<Field> fields_;
};

/// Writes `schema.to_string()`.
std::ostream& operator<<(std::ostream& os, const Schema& schema);

}  // namespace sluice
