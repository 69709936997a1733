// Row: the dynamic record — a shared schema plus one `Value` per field.
//
// A `Row` pairs a `SchemaRef` with a positional vector of values, one per
// schema field, in schema order. It is the record type of the JSON/CSV
// connectors, MATCH_RECOGNIZE text and view tables; typed user structs remain
// the fast path.
//
// Invariant (checked when a row is built or a value is set): the row has
// exactly `schema->size()` values and value i is either null (only if field i
// is nullable) or of field i's declared type. The event timestamp is not part
// of the row; it travels beside it in `Record<Row>::ts_us`.
//
// Access by position (`row[i]`) is the per-event path: resolve names to
// positions once at build time with `Schema::require` and keep the index.
// `get(name)` exists for tests, debugging and one-off code; it scans the schema.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/schema.hpp"
#include "streaming/value.hpp"

namespace sluice {

/// A dynamic record. See the file comment for its invariant.
class Row {
 public:
  /// An empty row with no schema and no values. Exists so Row can live in
  /// containers that default-construct; assign a real row before use.
  Row() = default;

  /// A row of `schema` whose fields are all null. Throws GraphError when
  /// `schema` is null, TypeMismatchError when a field is not nullable (use
  /// the values constructor for such schemas).
  explicit Row(SchemaRef schema);

  /// A row of `schema` holding `values` (taken). Checks the invariant and
  /// throws GraphError for a null schema or a wrong number of values, and
  /// TypeMismatchError (naming the field) for a value of the wrong type or a
  /// null in a non-nullable field. O(number of fields).
  Row(SchemaRef schema, std::vector<Value> values);

  /// Builds a row without checking the invariant. For producers that have
  /// already validated every value (the connectors' parsers); a row that
  /// breaks the invariant makes later typed access throw. Precondition:
  /// `schema` is non-null and values.size() == schema->size().
  static Row unchecked(SchemaRef schema, std::vector<Value> values);

  /// The schema; null only for a default-constructed row.
  const SchemaRef& schema() const { return schema_; }
  /// Number of values (== schema()->size(), or 0 for a default row).
  std::size_t size() const { return values_.size(); }
  /// All values, in schema order.
  const std::vector<Value>& values() const { return values_; }
  /// Moves the values out, leaving this row empty (size 0, schema kept).
  std::vector<Value> take_values() && { return std::move(values_); }

  /// Value at position `i`. Precondition: i < size() (unchecked: hot path).
  const Value& operator[](std::size_t i) const { return values_[i]; }
  /// Value at position `i`. Throws std::out_of_range when i >= size().
  const Value& at(std::size_t i) const { return values_.at(i); }

  /// Value of the field called `name`. Scans the schema on every call, so it
  /// is for tests and convenience only, never per event. Throws
  /// UnknownFieldError (operator "Row::get") when there is no such field.
  const Value& get(std::string_view name) const;

  /// Replaces the value at position `i`, keeping the invariant: throws
  /// std::out_of_range when i >= size() and TypeMismatchError when `value`
  /// does not fit field i. O(1) apart from destroying the old value.
  void set(std::size_t i, Value value);

  /// Equal when both schemas are structurally equal (or the same object) and
  /// all values are equal.
  friend bool operator==(const Row& a, const Row& b);

  /// E.g. `{card_id: "c1", amount: 12.5, note: null}` (values as in
  /// Value::to_string). A default row prints "{}".
  std::string to_string() const;

 private:
  SchemaRef schema_;
  std::vector<Value> values_;
};

/// Writes `row.to_string()`; used by Catch2 to print rows in failed checks.
std::ostream& operator<<(std::ostream& os, const Row& row);

/// Outcome of parsing one input record (a JSON line, a CSV line) into a Row.
/// Parsers return it instead of throwing, because a bad record must become a
/// dead letter, not stop the job. Exactly one of `row` / `error` is set.
struct RowParseResult {
  /// The parsed row on success; nullopt on failure.
  std::optional<Row> row;
  /// Why the record was rejected, e.g. "field 'amount': expected double, got
  /// string"; empty on success. Suitable as `DeadLetter::reason`.
  std::string error;

  /// True when parsing succeeded.
  bool ok() const { return row.has_value(); }
  /// Same as ok().
  explicit operator bool() const { return ok(); }

  /// A success holding `r`.
  static RowParseResult success(Row r) { return {std::move(r), {}}; }
  /// A failure with `reason` (must be non-empty).
  static RowParseResult failure(std::string reason) { return {std::nullopt, std::move(reason)}; }
};

}  // namespace sluice
