// CSV -> Row: reading one CSV record into a `Row` of a given schema.
//
// Records follow RFC 4180 quoting: a field may be enclosed in double quotes,
// a quote inside a quoted field is written twice (""), and a quoted field may
// contain the delimiter and line breaks (LF or CRLF, kept as they are in the
// value). A quote inside an unquoted field is an error. The caller splits the
// input into records: `csv_record_continues` tells whether a line ends inside
// a quoted field, so the record goes on with the next line (CsvSource does
// this, see connectors/file_source.hpp). One trailing '\r' (CRLF files) is
// ignored. Whitespace is data: nothing is trimmed.
//
// `parse_csv_row` never throws for bad input; a bad record yields a
// `RowParseResult` with a reason, which the source turns into a `DeadLetter`.
// Header handling (`parse_csv_header`, `check_csv_header`) runs once when a
// source is built and throws `GraphError` subclasses like other build-time
// mistakes.
//
// Cell text -> value, by schema field type:
//
//   empty cell   unquoted empty -> null if the field is nullable, else error
//                "field 'x': empty". A quoted empty cell ("") is the empty
//                string for string fields and is treated like an unquoted
//                empty cell for all other types (as PostgreSQL COPY does).
//   bool         true/false (any letter case) or 1/0
//   int64        optional sign and decimal digits, int64 range
//   double       decimal or exponent notation (std::from_chars general format,
//                optional leading '+'); must be finite
//   string       the cell text, unquoted and with "" turned into "
//   bytes        base64 (RFC 4648, padded)
//   timestamp    an integer (µs since epoch) or ISO-8601 (see parse_iso8601_utc)
//   array/object the cell holds JSON text of that kind (see parse_json_value)
//
// Thread safety: all functions are pure and may run concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/row.hpp"
#include "streaming/schema.hpp"

namespace sluice {

/// How CSV lines are read.
struct CsvOptions {
  /// Field separator. Default: ','. Must not be '"', '\r' or '\n' (such a
  /// delimiter makes every parse_csv_row call fail with "invalid delimiter").
  char delimiter = ',';
  /// For each CSV column, the schema position it fills, usually the result of
  /// check_csv_header. Schema fields that no column fills are null (so they
  /// must be nullable; check_csv_header ensures that). Default: empty, which
  /// means column i fills field i and a line has exactly schema->size() columns.
  std::vector<std::size_t> columns = {};
};

/// Whether the CSV record that `line` belongs to goes on after it: true when
/// `line` (one physical line, without its line break) ends inside a quoted
/// field. `inside_quotes` is the result for the record's previous line (false
/// for its first line). A quoting error ends the record (parse_csv_row then
/// reports it), so a stray quote in an unquoted field never swallows lines.
bool csv_record_continues(std::string_view line, char delimiter, bool inside_quotes);

/// Parses one CSV record (one line, or several joined by their line breaks
/// when quoted fields span them) into a Row of `schema`. Never throws for bad
/// input.
///
/// On failure `error` is one of (x = field name, 'S' = the cell text, cut to
/// 64 bytes followed by "..."; offsets are 0-based bytes into `line`, the
/// whole record):
/// - "expected N fields, got M";
/// - "unterminated quoted field starting at offset K";
/// - "unexpected character after closing quote at offset K";
/// - "unexpected quote in unquoted field at offset K";
/// - "field 'x': empty" — empty cell for a non-nullable field;
/// - "field 'x': 'S' is not a bool" / "... is not an int64" / "... is not a double";
/// - "field 'x': 'S' is out of range for int64" / "... for double" (int64
///   also for an integer too large for a timestamp field);
/// - "field 'x': 'S' is not a finite double" — nan, inf;
/// - "field 'x': 'S' is not a timestamp (integer µs or ISO-8601 UTC)";
/// - "field 'x': 'S' is not valid base64";
/// - "field 'x': <JSON error>" or "field 'x': expected array, got object" for
///   array/object cells;
/// - "invalid delimiter", "no schema", "column mapping position N is out of
///   range" — misconfiguration that check_csv_header would have caught.
RowParseResult parse_csv_row(std::string_view line, const SchemaRef& schema,
                             const CsvOptions& options = {});

/// Splits a header line into column names with the same quoting rules (a
/// leading UTF-8 byte-order mark is dropped, as spreadsheet exports add one).
/// Throws ConfigError (operator "csv") when the line is malformed or the
/// delimiter is invalid.
std::vector<std::string> parse_csv_header(std::string_view line, char delimiter = ',');

/// Checks a header against `schema` and returns the column -> field mapping
/// for CsvOptions::columns. Columns may come in any order. Throws:
/// - UnknownFieldError naming the column when it is not a schema field, e.g.
///   "read_cards: field 'amout': CSV column not in schema (card_id, amount)";
/// - GraphError when a column name repeats ("CSV header names this column twice");
/// - GraphError when a non-nullable schema field has no column
///   ("non-nullable field missing from CSV header (<the header's columns>)").
std::vector<std::size_t> check_csv_header(const std::vector<std::string>& header,
                                          const Schema& schema, std::string_view operator_name);

}  // namespace sluice
