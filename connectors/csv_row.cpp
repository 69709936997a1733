#include "connectors/csv_row.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>

#include "connectors/json_row.hpp"
#include "streaming/errors.hpp"
#include "streaming/time.hpp"

namespace sluice {
namespace detail {
namespace {

constexpr std::size_t kMaxExcerptBytes = 64;

std::string excerpt(std::string_view s) {
  if (s.size() <= kMaxExcerptBytes) return "'" + std::string(s) + "'";
  return "'" + std::string(s.substr(0, kMaxExcerptBytes)) + "...'";
}

struct CsvCell {
  std::string text;
  bool quoted = false;
};

bool is_valid_delimiter(char d) { return d != '"' && d != '\r' && d != '\n'; }

// Splits `line` into cells (RFC 4180). Returns false with `error` on bad quoting.
bool split_csv(std::string_view line, char delimiter, std::vector<CsvCell>& cells,
               std::string& error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const std::size_t n = line.size();
  std::size_t pos = 0;
  while (true) {
    CsvCell cell;
    if (pos < n && line[pos] == '"') {
      cell.quoted = true;
      const std::size_t start = pos;
      ++pos;
      while (true) {
        const std::size_t q = line.find('"', pos);
        if (q == std::string_view::npos) {
          error = "unterminated quoted field starting at offset " + std::to_string(start);
          return false;
        }
        cell.text.append(line.substr(pos, q - pos));
        if (q + 1 < n && line[q + 1] == '"') {  // "" is an escaped quote
          cell.text += '"';
          pos = q + 2;
          continue;
        }
        pos = q + 1;
        break;
      }
      if (pos < n && line[pos] != delimiter) {
        error = "unexpected character after closing quote at offset " + std::to_string(pos);
        return false;
      }
    } else {
      std::size_t end = line.find(delimiter, pos);
      if (end == std::string_view::npos) end = n;
      const std::string_view text = line.substr(pos, end - pos);
      if (const std::size_t q = text.find('"'); q != std::string_view::npos) {
        error = "unexpected quote in unquoted field at offset " + std::to_string(pos + q);
        return false;
      }
      cell.text.assign(text);
      pos = end;
    }
    cells.push_back(std::move(cell));
    if (pos >= n) return true;
    ++pos;  // skip the delimiter; a trailing one means one more (empty) cell
  }
}

std::string field_prefix(const Field& f) { return "field '" + f.name + "': "; }

}  // namespace
}  // namespace detail

bool csv_record_continues(std::string_view line, char delimiter, bool inside_quotes) {
  // The quoting states of split_csv; a line break ends the record in every
  // state but kQuoted. A quoting error also ends it: split_csv reports it.
  enum class State { kFieldStart, kUnquoted, kQuoted, kQuoteInQuoted };
  State state = inside_quotes ? State::kQuoted : State::kFieldStart;
  for (const char c : line) {
    switch (state) {
      case State::kFieldStart:
        if (c == '"') {
          state = State::kQuoted;
        } else if (c != delimiter) {
          state = State::kUnquoted;
        }
        break;
      case State::kUnquoted:
        if (c == '"') return false;  // "unexpected quote in unquoted field"
        if (c == delimiter) state = State::kFieldStart;
        break;
      case State::kQuoted:
        if (c == '"') state = State::kQuoteInQuoted;
        break;
      case State::kQuoteInQuoted:  // "" is a quote; otherwise the quote closed the field
        if (c == '"') {
          state = State::kQuoted;
        } else if (c == delimiter) {
          state = State::kFieldStart;
        } else {
          return false;  // "unexpected character after closing quote"
        }
        break;
    }
  }
  return state == State::kQuoted;
}

namespace detail {
namespace {

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  }
  return true;
}

// std::from_chars rejects a leading '+', which CSV writers sometimes emit.
std::string_view strip_plus(std::string_view s) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  return s;
}

enum class NumParse { kOk, kInvalid, kOutOfRange };

template <class T>
NumParse parse_number(std::string_view text, T& out) {
  const std::string_view s = strip_plus(text);
  const auto res = std::from_chars(s.data(), s.data() + s.size(), out);
  if (res.ec == std::errc::result_out_of_range) return NumParse::kOutOfRange;
  if (res.ec != std::errc() || res.ptr != s.data() + s.size() || s.empty()) {
    return NumParse::kInvalid;
  }
  return NumParse::kOk;
}

bool convert_cell(const CsvCell& cell, const Field& field, Value& out, std::string& error) {
  const std::string& text = cell.text;
  if (text.empty()) {
    if (cell.quoted && field.type == ValueType::kString) {
      out = Value(std::string());
      return true;
    }
    if (field.nullable) {
      out = Value();
      return true;
    }
    error = field_prefix(field) + "empty";
    return false;
  }
  switch (field.type) {
    case ValueType::kString: out = Value(text); return true;
    case ValueType::kBool:
      if (equals_ignore_case(text, "true") || text == "1") {
        out = Value(true);
        return true;
      }
      if (equals_ignore_case(text, "false") || text == "0") {
        out = Value(false);
        return true;
      }
      error = field_prefix(field) + excerpt(text) + " is not a bool";
      return false;
    case ValueType::kInt64: {
      std::int64_t i = 0;
      switch (parse_number(text, i)) {
        case NumParse::kOk: out = Value(i); return true;
        case NumParse::kOutOfRange:
          error = field_prefix(field) + excerpt(text) + " is out of range for int64";
          return false;
        case NumParse::kInvalid:
          error = field_prefix(field) + excerpt(text) + " is not an int64";
          return false;
      }
      return false;
    }
    case ValueType::kDouble: {
      double d = 0;
      switch (parse_number(text, d)) {
        case NumParse::kOk:
          // JSON cannot carry NaN/Inf and comparisons on them surprise; reject.
          if (!std::isfinite(d)) {
            error = field_prefix(field) + excerpt(text) + " is not a finite double";
            return false;
          }
          out = Value(d);
          return true;
        case NumParse::kOutOfRange:
          error = field_prefix(field) + excerpt(text) + " is out of range for double";
          return false;
        case NumParse::kInvalid:
          error = field_prefix(field) + excerpt(text) + " is not a double";
          return false;
      }
      return false;
    }
    case ValueType::kBytes: {
      auto bytes = from_base64(text);
      if (!bytes) {
        error = field_prefix(field) + excerpt(text) + " is not valid base64";
        return false;
      }
      out = Value(std::move(*bytes));
      return true;
    }
    case ValueType::kTimestamp: {
      std::int64_t us = 0;
      const NumParse n = parse_number(text, us);
      if (n == NumParse::kOk) {
        if (!is_valid_timestamp(us)) {  // window arithmetic relies on the range (streaming/time.hpp)
          error = field_prefix(field) + timestamp_out_of_range(us);
          return false;
        }
        out = Value::timestamp(us);
        return true;
      }
      if (n == NumParse::kOutOfRange) {  // an integer, just too large for µs in int64
        error = field_prefix(field) + excerpt(text) + " is out of range for int64";
        return false;
      }
      if (const auto ts = parse_iso8601_utc(text)) {
        out = Value::timestamp(*ts);
        return true;
      }
      error = field_prefix(field) + excerpt(text) +
              " is not a timestamp (integer µs or ISO-8601 UTC)";
      return false;
    }
    case ValueType::kArray:
    case ValueType::kObject: {
      ValueParseResult parsed = parse_json_value(text);
      if (!parsed.ok()) {
        error = field_prefix(field) + parsed.error;
        return false;
      }
      if (parsed.value->type() != field.type) {
        error = field_prefix(field) + "expected " + std::string(to_string(field.type)) +
                ", got " + std::string(to_string(parsed.value->type()));
        return false;
      }
      out = std::move(*parsed.value);
      return true;
    }
    case ValueType::kNull:
      break;  // rejected by Schema's constructor
  }
  error = field_prefix(field) + "unsupported field type";
  return false;
}

}  // namespace
}  // namespace detail

RowParseResult parse_csv_row(std::string_view line, const SchemaRef& schema,
                             const CsvOptions& options) {
  if (!schema) return RowParseResult::failure("no schema");
  if (!detail::is_valid_delimiter(options.delimiter)) {
    return RowParseResult::failure("invalid delimiter");
  }
  std::vector<detail::CsvCell> cells;
  cells.reserve(options.columns.empty() ? schema->size() : options.columns.size());
  std::string error;
  if (!detail::split_csv(line, options.delimiter, cells, error)) {
    return RowParseResult::failure(std::move(error));
  }
  const bool identity = options.columns.empty();
  const std::size_t expected = identity ? schema->size() : options.columns.size();
  if (cells.size() != expected) {
    return RowParseResult::failure("expected " + std::to_string(expected) + " fields, got " +
                                   std::to_string(cells.size()));
  }
  std::vector<Value> values(schema->size());
  for (std::size_t c = 0; c < cells.size(); ++c) {
    const std::size_t i = identity ? c : options.columns[c];
    if (i >= schema->size()) {
      return RowParseResult::failure("column mapping position " + std::to_string(i) +
                                     " is out of range");
    }
    if (!detail::convert_cell(cells[c], (*schema)[i], values[i], error)) {
      return RowParseResult::failure(std::move(error));
    }
  }
  // Fields without a column stay null; check_csv_header made sure they may.
  return RowParseResult::success(Row::unchecked(schema, std::move(values)));
}

std::vector<std::string> parse_csv_header(std::string_view line, char delimiter) {
  if (!detail::is_valid_delimiter(delimiter)) {
    throw ConfigError("csv", "", "invalid delimiter (must not be '\"', CR or LF)");
  }
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  std::vector<detail::CsvCell> cells;
  std::string error;
  if (!detail::split_csv(line, delimiter, cells, error)) {
    throw ConfigError("csv", "", "malformed header: " + error);
  }
  std::vector<std::string> names;
  names.reserve(cells.size());
  for (auto& cell : cells) names.push_back(std::move(cell.text));
  return names;
}

std::vector<std::size_t> check_csv_header(const std::vector<std::string>& header,
                                          const Schema& schema, std::string_view operator_name) {
  const std::string op(operator_name);
  std::vector<std::size_t> columns;
  columns.reserve(header.size());
  std::vector<bool> covered(schema.size(), false);
  for (const std::string& name : header) {
    const auto i = schema.index_of(name);
    if (!i) {
      throw UnknownFieldError(op, name, "CSV column not in schema (" + schema.field_names() + ")");
    }
    if (covered[*i]) throw GraphError(op, name, "CSV header names this column twice");
    covered[*i] = true;
    columns.push_back(*i);
  }
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (!covered[i] && !schema[i].nullable) {
      std::string header_names;
      for (const std::string& name : header) {
        if (!header_names.empty()) header_names += ", ";
        header_names += name;
      }
      throw GraphError(op, schema[i].name,
                       "non-nullable field missing from CSV header (" + header_names + ")");
    }
  }
  return columns;
}

}  // namespace sluice
