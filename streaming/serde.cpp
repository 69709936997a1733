#include "streaming/serde.hpp"

#include <cstdio>

namespace sluice {

StateFormatError::StateFormatError(std::string what_read, std::optional<std::size_t> offset, std::string detail)
    : SluiceError("state format error" + (offset ? " at byte " + std::to_string(*offset) : std::string()) +
                  " reading " + what_read + ": " + detail),
      what_read_(std::move(what_read)),
      offset_(offset),
      detail_(std::move(detail)) {}

void check_state_format_version(std::uint32_t version) {
  if (version == 0 || version > kStateFormatVersion)
    throw StateFormatError("state format version", std::nullopt,
                           version == 0 ? std::string("version 0 does not exist (versions start at 1)")
                                        : "version " + std::to_string(version) +
                                              " is newer than this build reads (up to " +
                                              std::to_string(kStateFormatVersion) + ")");
}

void StateReader::fail(std::size_t at, const ReadContext& what, const std::string& detail) {
  throw StateFormatError(what.describe(), at, detail);
}

std::string StateReader::hex(unsigned char b) {
  char s[3];
  std::snprintf(s, sizeof s, "%02x", b);
  return s;
}

namespace detail {

namespace {
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
}
}  // namespace

std::string clean_type_name(std::string_view pretty) {
  // GCC: "... type_name() [with T = X; std::string = ...]"; Clang: "... [T = X]".
  const std::size_t open = pretty.rfind("T = ");
  if (open == std::string_view::npos) return std::string(pretty);
  std::size_t end = open + 4;
  int depth = 0;
  for (; end < pretty.size(); ++end) {
    const char c = pretty[end];
    if (c == '<' || c == '(' || c == '[') ++depth;
    if (c == '>' || c == ')') --depth;
    if (c == ']') {
      if (depth == 0) break;
      --depth;
    }
    if (c == ';' && depth == 0) break;
  }
  std::string name(pretty.substr(open + 4, end - open - 4));
  replace_all(name, "std::__cxx11::", "std::");
  replace_all(name, "std::basic_string<char, std::char_traits<char>, std::allocator<char> >", "std::string");
  replace_all(name, "std::basic_string<char>", "std::string");
  replace_all(name, "std::basic_string_view<char>", "std::string_view");
  replace_all(name, " >", ">");  // GCC writes "std::vector<std::vector<int> >"
  return name;
}

}  // namespace detail

// ---- Value ------------------------------------------------------------------

namespace {

void write_value(StateWriter& w, const Value& v, int depth) {
  w.write(v.type());
  switch (v.type()) {
    case ValueType::kNull:
      return;
    case ValueType::kBool:
      w.write_fixed(v.as_bool());
      return;
    case ValueType::kInt64:
      w.write_fixed(v.as_int64());
      return;
    case ValueType::kDouble:
      w.write_fixed(v.as_double());
      return;
    case ValueType::kString:
      w.write(v.as_string());
      return;
    case ValueType::kBytes:
      w.write(v.as_bytes());
      return;
    case ValueType::kTimestamp:
      w.write_fixed(v.as_timestamp());
      return;
    case ValueType::kArray:
    case ValueType::kObject:
      break;
  }
  // Refused here rather than when read back: a checkpoint that cannot be
  // restored is worse than one that cannot be taken.
  if (depth >= kMaxValueNestingDepth)
    throw StateFormatError("sluice::Value", std::nullopt,
                           "cannot write a value nested deeper than " + std::to_string(kMaxValueNestingDepth) +
                               " levels");
  if (v.type() == ValueType::kArray) {
    w.write_varint(v.as_array().size());
    for (const Value& e : v.as_array()) write_value(w, e, depth + 1);
  } else {
    w.write_varint(v.as_object().size());
    for (const auto& [name, e] : v.as_object()) {
      w.write(name);
      write_value(w, e, depth + 1);
    }
  }
}

Value read_value(StateReader& r) {
  const ValueType type = r.read<ValueType>();
  switch (type) {
    case ValueType::kNull:
      return Value();
    case ValueType::kBool:
      return Value(r.read_fixed<bool>(ReadContext::of<Value>("bool")));
    case ValueType::kInt64:
      return Value(r.read_fixed<std::int64_t>(ReadContext::of<Value>("int64")));
    case ValueType::kDouble:
      return Value(r.read_fixed<double>(ReadContext::of<Value>("double")));
    case ValueType::kString:
      return Value(r.read<std::string>());
    case ValueType::kBytes:
      return Value(r.read<Bytes>());
    case ValueType::kTimestamp:
      return Value::timestamp(r.read_fixed<Timestamp>(ReadContext::of<Value>("timestamp")));
    case ValueType::kArray: {
      const StateReader::NestingGuard guard(r, ReadContext::of<Value>("array"));
      const std::size_t n = r.read_count(ReadContext::of<Value>("array length"), 1);
      Array a;
      detail::reserve_bounded(a, n);
      for (std::size_t i = 0; i < n; ++i) a.push_back(read_value(r));
      return Value(std::move(a));
    }
    case ValueType::kObject: {
      const StateReader::NestingGuard guard(r, ReadContext::of<Value>("object"));
      // A member takes at least 2 bytes: an empty name and a null.
      const std::size_t n = r.read_count(ReadContext::of<Value>("object size"), 2);
      Object o;
      detail::reserve_bounded(o, n);
      for (std::size_t i = 0; i < n; ++i) {
        std::string name = r.read<std::string>();
        o.emplace_back(std::move(name), read_value(r));
      }
      return Value(std::move(o));
    }
  }
  return Value();  // not reached: read<ValueType>() checked the range
}

}  // namespace

void Serde<Value>::write(StateWriter& w, const Value& v) { write_value(w, v, 0); }

Value Serde<Value>::read(StateReader& r) { return read_value(r); }

// ---- Field, Schema, Row -------------------------------------------------------

void Serde<Field>::write(StateWriter& w, const Field& f) {
  w.write(f.name);
  w.write(f.type);
  w.write_fixed(f.nullable);
}

Field Serde<Field>::read(StateReader& r) {
  Field f;
  f.name = r.read<std::string>();
  f.type = r.read<ValueType>();
  f.nullable = r.read_fixed<bool>(ReadContext::of<Field>("nullable flag"));
  return f;
}

void Serde<Schema>::write(StateWriter& w, const Schema& s) { w.write(s.fields()); }

Schema Serde<Schema>::read(StateReader& r) {
  const std::size_t at = r.offset();
  std::vector<Field> fields = r.read<std::vector<Field>>();
  try {
    return Schema(std::move(fields), "state");
  } catch (const GraphError& e) {  // an empty or repeated name, a field of type null
    StateReader::fail(at, ReadContext::of<Schema>(), e.what());
  }
}

void Serde<SchemaRef>::write(StateWriter& w, const SchemaRef& s) {
  w.write_fixed(s != nullptr);
  if (s) w.write(*s);
}

SchemaRef Serde<SchemaRef>::read(StateReader& r) {
  if (!r.read_fixed<bool>(ReadContext::of<SchemaRef>("non-null flag"))) return nullptr;
  return std::make_shared<const Schema>(r.read<Schema>());
}

void Serde<Row>::write(StateWriter& w, const Row& row) {
  // A row whose values were taken (take_values) breaks the row invariant: refused
  // here, as its bytes could not be read back into a Row.
  const std::size_t fields = row.schema() ? row.schema()->size() : 0;
  if (row.size() != fields)
    throw StateFormatError("sluice::Row", std::nullopt,
                           "cannot write a row with " + std::to_string(row.size()) + " values for " +
                               std::to_string(fields) + " fields (were its values taken?)");
  w.write(row.schema());
  w.write_varint(row.size());
  for (const Value& v : row.values()) w.write(v);
}

Row Serde<Row>::read(StateReader& r) {
  const std::size_t at = r.offset();
  SchemaRef schema = r.read<SchemaRef>();
  const std::size_t count_at = r.offset();
  const std::size_t n = r.read_count(ReadContext::of<Row>("value count"), 1);
  const std::size_t fields = schema ? schema->size() : 0;
  if (n != fields)
    StateReader::fail(count_at, ReadContext::of<Row>("value count"),
                      std::to_string(n) + " values for a schema of " + std::to_string(fields) + " fields");
  std::vector<Value> values;
  values.reserve(n);
  for (std::size_t i = 0; i < n; ++i) values.push_back(r.read<Value>());
  if (!schema) return Row();
  try {
    return Row(std::move(schema), std::move(values));
  } catch (const GraphError& e) {  // a value of the wrong type, a null in a required field
    StateReader::fail(at, ReadContext::of<Row>(), e.what());
  }
}

}  // namespace sluice
