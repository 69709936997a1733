// JSON <-> Row: reading one JSON object per line into a `Row`, and back.
//
// `parse_json_row` turns one line of JSON Lines input into a Row of a given
// schema. It never throws for bad input: a record that cannot be read yields
// a `RowParseResult` carrying a reason string, which the source turns into a
// `DeadLetter` (see streaming/errors.hpp). `row_to_json` is the inverse;
// parse_json_row(row_to_json(r), r.schema()) == r for every valid row whose
// doubles are finite (JSON has no NaN/Infinity).
//
// Mapping, by schema field type:
//
//   field type  | accepted JSON                         | written as
//   ------------|---------------------------------------|---------------------------
//   bool        | true / false                          | true / false
//   int64       | integer in int64 range                | integer
//   double      | any number (integers are widened)     | number (shortest exact text;
//               |                                       |  NaN/Inf become null)
//   string      | string                                | string (invalid UTF-8
//               |                                       |  replaced by U+FFFD)
//   bytes       | base64 string (RFC 4648, padded)      | base64 string
//   timestamp   | integer µs since epoch, or ISO-8601   | ISO-8601 UTC string with
//               | string (see parse_iso8601_utc)        |  *microseconds*, e.g.
//               |                                       |  "2026-11-23T10:15:30.123000Z";
//               |                                       |  an integer outside years 0000..9999
//   array       | array, elements converted as below    | array
//   object      | object, member order kept             | object
//
// Nested elements (inside arrays/objects) carry no schema, so they map by JSON
// type: null, bool, integer -> int64, other number -> double, string, array,
// object. Nested bytes/timestamp values are written as base64/ISO strings and
// so read back as strings.
//
// Other rules: null (or a missing member) is accepted for nullable fields and
// gives a null value; members not in the schema are ignored; if a member name
// repeats, the last one wins; surrounding whitespace (including a trailing
// '\r' or '\n') is allowed.
//
// Thread safety: all functions are pure and may run concurrently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "streaming/row.hpp"
#include "streaming/schema.hpp"
#include "streaming/value.hpp"

namespace sluice {

/// Parses one JSON object into a Row of `schema`. Never throws for bad input.
///
/// On failure `error` is one of (x = field name, T = expected type, U = the
/// JSON type found: null, bool, int64, double, string, array, object):
/// - "invalid JSON at offset N: <parser detail>" — N is the 0-based byte
///   offset where the parser gave up (== line.size() for truncated input);
/// - "invalid JSON at offset N: NUL byte" — the first NUL (0x00) byte, which
///   JSON text never contains (anywhere in the line, even after the object);
/// - "expected a JSON object, got U" — valid JSON but not an object;
/// - "missing field 'x'" — a non-nullable field is absent;
/// - "field 'x': expected T, got U" — wrong JSON type (null included);
/// - "field 'x': N is out of range for int64" — an integer literal beyond
///   int64 (int64 and timestamp fields; N is the literal, cut to 64 bytes);
/// - "field 'x': 'S' is not an ISO-8601 UTC timestamp" — bad timestamp text;
/// - "field 'x': 'S' is not valid base64" — bad bytes text;
/// - "field 'x': nested deeper than 128 levels" — array/object nesting cap.
/// Quoted input excerpts 'S' are cut to 64 bytes followed by "...".
///
/// Precondition: `schema` is non-null (a null schema yields the error "no schema").
RowParseResult parse_json_row(std::string_view line, const SchemaRef& schema);

/// Writes `row` as one compact JSON object (no spaces, no newline), members
/// in schema order, every field present (nulls as null). See the table in the
/// file comment for each type. A default-constructed row gives "{}".
/// Never throws except std::bad_alloc.
std::string row_to_json(const Row& row);

/// Outcome of parsing a standalone JSON value. Exactly one member is set.
struct ValueParseResult {
  /// The value on success.
  std::optional<Value> value;
  /// Why parsing failed, in the same wording as parse_json_row; empty on success.
  std::string error;
  /// True when parsing succeeded.
  bool ok() const { return value.has_value(); }
};

/// Parses any JSON text (object, array or scalar) into a schema-less Value,
/// mapping types as for nested elements (see the file comment). Used e.g. for
/// array/object cells in CSV. Never throws for bad input.
ValueParseResult parse_json_value(std::string_view text);

/// Writes `value` as compact JSON, mapping types as row_to_json does.
std::string value_to_json(const Value& value);

}  // namespace sluice
