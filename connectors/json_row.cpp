#include "connectors/json_row.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

#include "streaming/time.hpp"

namespace sluice {
namespace detail {
namespace {

// ordered_json keeps object members in input order, so nested objects
// round-trip with their key order intact.
using Json = nlohmann::ordered_json;

constexpr std::size_t kMaxExcerptBytes = 64;
// Conversion recurses once per nesting level; the cap keeps hostile input
// ("[[[[...") from exhausting the stack. Real records nest a few levels.
constexpr int kMaxNestingDepth = 128;

std::string excerpt(std::string_view s) {
  if (s.size() <= kMaxExcerptBytes) return "'" + std::string(s) + "'";
  return "'" + std::string(s.substr(0, kMaxExcerptBytes)) + "...'";
}

std::string json_type_name(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "bool";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "int64";
    case Json::value_t::number_float: return "double";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "array";
    case Json::value_t::object: return "object";
    default: return "binary";  // never produced by the text parser
  }
}

// A SAX handler that only records the first error. Used on the failure path
// to recover the parser's message and byte offset, which the non-throwing DOM
// parse does not expose.
class ErrorCapture final : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    position_ = position;
    message_ = ex.what();
    return false;
  }

  std::size_t position_ = 0;
  std::string message_;
};

std::string describe_parse_error(std::string_view text) {
  ErrorCapture capture;
  Json::sax_parse(text.begin(), text.end(), &capture);
  std::string detail = capture.message_;
  // Drop nlohmann's "[json.exception.parse_error.101] " id and its
  // "parse error at line 1, column N: " prefix: the offset says the same.
  if (!detail.empty() && detail.front() == '[') {
    const auto close = detail.find("] ");
    if (close != std::string::npos) detail.erase(0, close + 2);
  }
  if (detail.rfind("parse error", 0) == 0) {
    const auto colon = detail.find(": ");
    if (colon != std::string::npos) detail.erase(0, colon + 2);
  }
  // nlohmann counts characters read (1-based); report a 0-based offset.
  const std::size_t offset = capture.position_ > 0 ? capture.position_ - 1 : 0;
  return "invalid JSON at offset " + std::to_string(offset) + ": " + detail;
}

// Finds the literal text of top-level member `name` when the parser read it
// as a float. nlohmann reads integers beyond uint64 (or below int64) as
// doubles, so only the text tells "18446744073709551616" (an integer out of
// range) from "1.8e19" (a double). Runs on the failure path only.
class FloatMemberText final : public nlohmann::json_sax<Json> {
 public:
  explicit FloatMemberText(std::string_view name) : name_(name) {}
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t& text) override {
    if (depth_ == 1 && in_member_) literal_ = text;  // a repeated name: the last wins, as in the DOM
    return true;
  }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    value();
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) in_member_ = k == name_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    value();
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

  const std::string& literal() const { return literal_; }

 private:
  bool value() {
    if (depth_ == 1 && in_member_) literal_.clear();
    return true;
  }
  std::string_view name_;
  int depth_ = 0;
  bool in_member_ = false;
  std::string literal_;
};

// The text of top-level member `name` if it is an integer literal (optional
// '-', digits) that the parser had to read as a double; empty otherwise.
std::string out_of_range_integer(std::string_view line, std::string_view name) {
  FloatMemberText finder(name);
  Json::sax_parse(line.begin(), line.end(), &finder);
  std::string_view text = finder.literal();
  const std::string_view digits = !text.empty() && text.front() == '-' ? text.substr(1) : text;
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return {};
  if (text.size() <= kMaxExcerptBytes) return std::string(text);
  return std::string(text.substr(0, kMaxExcerptBytes)) + "...";
}

// Parses without exceptions; on failure fills `error` (slow path only).
bool parse_document(std::string_view text, Json& out, std::string& error) {
  // nlohmann's lexer reads a NUL byte as end of input, so "{...}\0junk"
  // would parse as the object alone and the rest would be silently ignored.
  // JSON text never contains a raw NUL (inside strings it must be \u0000).
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    error = "invalid JSON at offset " + std::to_string(nul) + ": NUL byte";
    return false;
  }
  out = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (!out.is_discarded()) return true;
  error = describe_parse_error(text);
  return false;
}

// "field 'x': ", or nothing for a schema-less value (parse_json_value).
std::string field_prefix(std::string_view name) {
  return name.empty() ? std::string() : "field '" + std::string(name) + "': ";
}

// Reads an integer JSON value as int64, rejecting unsigned values above the range.
bool read_int64(const Json& j, std::string_view name, std::int64_t& out, std::string& error) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      error = field_prefix(name) + std::to_string(u) + " is out of range for int64";
      return false;
    }
    out = static_cast<std::int64_t>(u);
    return true;
  }
  out = j.get<std::int64_t>();
  return true;
}

// Schema-less conversion for nested elements and parse_json_value.
bool to_value(const Json& j, std::string_view name, Value& out, std::string& error,
              int depth = 0) {
  if (depth > kMaxNestingDepth && (j.is_array() || j.is_object())) {
    error = field_prefix(name) + "nested deeper than " + std::to_string(kMaxNestingDepth) +
            " levels";
    return false;
  }
  switch (j.type()) {
    case Json::value_t::null: out = Value(); return true;
    case Json::value_t::boolean: out = Value(j.get<bool>()); return true;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      std::int64_t i;
      if (!read_int64(j, name, i, error)) return false;
      out = Value(i);
      return true;
    }
    case Json::value_t::number_float: out = Value(j.get<double>()); return true;
    case Json::value_t::string: out = Value(j.get_ref<const std::string&>()); return true;
    case Json::value_t::array: {
      Array elements;
      elements.reserve(j.size());
      for (const Json& e : j) {
        Value v;
        if (!to_value(e, name, v, error, depth + 1)) return false;
        elements.push_back(std::move(v));
      }
      out = Value(std::move(elements));
      return true;
    }
    case Json::value_t::object: {
      Object members;
      members.reserve(j.size());
      for (const auto& [key, e] : j.items()) {
        Value v;
        if (!to_value(e, name, v, error, depth + 1)) return false;
        members.emplace_back(key, std::move(v));
      }
      out = Value(std::move(members));
      return true;
    }
    default:
      error = field_prefix(name) + "unsupported JSON type " + json_type_name(j);
      return false;
  }
}

// Converts `j` for a field declared as `field`. `j` is not null here.
bool to_field_value(const Json& j, const Field& field, Value& out, std::string& error) {
  auto mismatch = [&] {
    error = field_prefix(field.name) + "expected " + std::string(to_string(field.type)) +
            ", got " + json_type_name(j);
    return false;
  };
  switch (field.type) {
    case ValueType::kBool:
      if (!j.is_boolean()) return mismatch();
      out = Value(j.get<bool>());
      return true;
    case ValueType::kInt64: {
      if (!j.is_number_integer()) return mismatch();
      std::int64_t i;
      if (!read_int64(j, field.name, i, error)) return false;
      out = Value(i);
      return true;
    }
    case ValueType::kDouble:
      // Writers often drop the ".0" of whole numbers; accept them.
      if (!j.is_number()) return mismatch();
      out = Value(j.get<double>());
      return true;
    case ValueType::kString:
      if (!j.is_string()) return mismatch();
      out = Value(j.get_ref<const std::string&>());
      return true;
    case ValueType::kBytes: {
      if (!j.is_string()) return mismatch();
      const auto& text = j.get_ref<const std::string&>();
      auto bytes = from_base64(text);
      if (!bytes) {
        error = field_prefix(field.name) + excerpt(text) + " is not valid base64";
        return false;
      }
      out = Value(std::move(*bytes));
      return true;
    }
    case ValueType::kTimestamp: {
      if (j.is_number_integer()) {
        std::int64_t us;
        if (!read_int64(j, field.name, us, error)) return false;
        if (!is_valid_timestamp(us)) {  // window arithmetic relies on the range (streaming/time.hpp)
          error = field_prefix(field.name) + timestamp_out_of_range(us);
          return false;
        }
        out = Value::timestamp(us);
        return true;
      }
      if (!j.is_string()) return mismatch();
      const auto& text = j.get_ref<const std::string&>();
      const auto ts = parse_iso8601_utc(text);
      if (!ts) {
        error = field_prefix(field.name) + excerpt(text) + " is not an ISO-8601 UTC timestamp";
        return false;
      }
      out = Value::timestamp(*ts);
      return true;
    }
    case ValueType::kArray:
      if (!j.is_array()) return mismatch();
      return to_value(j, field.name, out, error);
    case ValueType::kObject:
      if (!j.is_object()) return mismatch();
      return to_value(j, field.name, out, error);
    case ValueType::kNull:
      break;  // rejected by Schema's constructor
  }
  return mismatch();
}

Json to_json(const Value& v) {
  switch (v.type()) {
    case ValueType::kNull: return nullptr;
    case ValueType::kBool: return v.as_bool();
    case ValueType::kInt64: return v.as_int64();
    case ValueType::kDouble: return v.as_double();  // nlohmann writes NaN/Inf as null
    case ValueType::kString: return v.as_string();
    case ValueType::kBytes: return to_base64(v.as_bytes());
    case ValueType::kTimestamp: {
      const Timestamp ts = v.as_timestamp();
      if (auto iso = format_iso8601_utc(ts)) return *iso;
      return ts;  // beyond four-digit years: integer µs, which the parser also accepts
    }
    case ValueType::kArray: {
      Json out = Json::array();
      for (const Value& e : v.as_array()) out.push_back(to_json(e));
      return out;
    }
    case ValueType::kObject: {
      Json out = Json::object();
      // ordered_json appends new keys, so member order is kept.
      for (const auto& [key, e] : v.as_object()) out[key] = to_json(e);
      return out;
    }
  }
  return nullptr;
}

std::string dump(const Json& j) {
  // Replace invalid UTF-8 instead of throwing: writing a record must not fail.
  return j.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace
}  // namespace detail

RowParseResult parse_json_row(std::string_view line, const SchemaRef& schema) {
  using detail::Json;
  if (!schema) return RowParseResult::failure("no schema");
  Json doc;
  std::string error;
  if (!detail::parse_document(line, doc, error)) return RowParseResult::failure(std::move(error));
  if (!doc.is_object()) {
    return RowParseResult::failure("expected a JSON object, got " + detail::json_type_name(doc));
  }
  std::vector<Value> values(schema->size());
  for (std::size_t i = 0; i < schema->size(); ++i) {
    const Field& field = (*schema)[i];
    const auto it = doc.find(field.name);
    if (it == doc.end()) {
      if (field.nullable) continue;  // stays null
      return RowParseResult::failure("missing field '" + field.name + "'");
    }
    if (it->is_null()) {
      if (field.nullable) continue;
      return RowParseResult::failure(detail::field_prefix(field.name) + "expected " +
                                     std::string(to_string(field.type)) + ", got null");
    }
    if (!detail::to_field_value(*it, field, values[i], error)) {
      if ((field.type == ValueType::kInt64 || field.type == ValueType::kTimestamp) && it->is_number_float()) {
        if (std::string literal = detail::out_of_range_integer(line, field.name); !literal.empty())
          error = detail::field_prefix(field.name) + literal + " is out of range for int64";
      }
      return RowParseResult::failure(std::move(error));
    }
  }
  // Every value was checked against its field above.
  return RowParseResult::success(Row::unchecked(schema, std::move(values)));
}

std::string row_to_json(const Row& row) {
  detail::Json out = detail::Json::object();
  for (std::size_t i = 0; i < row.size(); ++i) {
    out[(*row.schema())[i].name] = detail::to_json(row[i]);
  }
  return detail::dump(out);
}

ValueParseResult parse_json_value(std::string_view text) {
  detail::Json doc;
  ValueParseResult result;
  if (!detail::parse_document(text, doc, result.error)) return result;
  Value v;
  if (!detail::to_value(doc, "", v, result.error)) return result;
  result.value = std::move(v);
  return result;
}

std::string value_to_json(const Value& value) { return detail::dump(detail::to_json(value)); }

}  // namespace sluice
