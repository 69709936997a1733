// Aggregating fields of Row records (JSON/CSV sources) by name.
//
//   SchemaRef s = ...;                        // the rows' schema
//   rows.key_by(...)
//       .window(tumbling(1min))
//       .aggregate(count(), sum(row_field<double>(s, "amount")),
//                  avg(row_field<std::int64_t>(s, "response_time")));
//   // fields "count", "sum_amount", "avg_response_time"
//
// row_field resolves the name against the schema when the query is built,
// so a typo or a wrong type fails there, naming the field, and the
// per-record path reads the value by position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "streaming/errors.hpp"
#include "streaming/row.hpp"
#include "streaming/schema.hpp"
#include "streaming/time.hpp"
#include "streaming/value.hpp"

namespace sluice {

namespace detail {
template <class V>
constexpr ValueType row_value_type() {
  if constexpr (std::is_same_v<V, bool>) return ValueType::kBool;
  else if constexpr (std::is_same_v<V, std::int64_t>) return ValueType::kInt64;
  else if constexpr (std::is_same_v<V, double>) return ValueType::kDouble;
  else if constexpr (std::is_same_v<V, std::string>) return ValueType::kString;
  else static_assert(sizeof(V) == 0, "row_field<V>: V must be bool, std::int64_t, double or std::string");
}
}  // namespace detail

/// Reads field `name` of a Row as V (an aggregate's extractor). Build with
/// row_field<V>(schema, name). Aggregates given one take its name for their
/// output field: sum(row_field<double>(s, "amount")) is "sum_amount".
template <class V>
class RowField {
 public:
  RowField(std::string name, std::size_t index) : name_(std::move(name)), index_(index) {}

  V operator()(const Row& row) const {
    const Value& v = row[index_];
    if constexpr (std::is_same_v<V, bool>) return v.as_bool();
    else if constexpr (std::is_same_v<V, std::int64_t>) return v.as_int64();
    else if constexpr (std::is_same_v<V, double>) return v.as_double();
    else return v.as_string();
  }
  const std::string& field_name() const { return name_; }
  std::size_t index() const { return index_; }

 private:
  std::string name_;
  std::size_t index_;
};

/// Field `name` of rows of `schema`, read as V (bool, std::int64_t, double or
/// std::string; the field's declared type must match). Throws at build
/// time: UnknownFieldError when there is no such field, TypeMismatchError
/// when its type is not V's, GraphError when the schema is null or the field
/// is nullable (aggregates here take no nulls: filter or map them away
/// first).
template <class V>
RowField<V> row_field(const SchemaRef& schema, std::string_view name) {
  if (schema == nullptr) throw GraphError("row_field", std::string(name), "schema is null");
  const std::size_t i = schema->require(name, detail::row_value_type<V>(), "row_field");
  if ((*schema)[i].nullable)
    throw GraphError("row_field", std::string(name),
                     "field is nullable; aggregates take no nulls (filter or map them away first)");
  return RowField<V>(std::string(name), i);
}

}  // namespace sluice
