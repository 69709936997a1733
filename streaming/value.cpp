#include "streaming/value.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <functional>
#include <ostream>

#include "streaming/errors.hpp"

namespace sluice {
namespace {

[[noreturn]] void throw_wrong_type(const char* accessor, ValueType actual) {
  throw TypeMismatchError("Value", "",
                          std::string(accessor) + " called on a value of type " +
                              std::string(to_string(actual)));
}

template <class T>
const T& get_or_throw(const auto& v, const char* accessor, ValueType actual) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw_wrong_type(accessor, actual);
}

void append_json_escaped(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;  // UTF-8 passes through unchanged
        }
    }
  }
  out += '"';
}

void append_double(std::string& out, double d) {
  std::array<char, 32> buf;
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), d);
  const std::string_view text(buf.data(), static_cast<std::size_t>(res.ptr - buf.data()));
  out += text;
  // Keep doubles distinguishable from ints in debug output ("4.0", not "4").
  if (std::isfinite(d) && text.find_first_of(".e") == std::string_view::npos) out += ".0";
}

void append_value(std::string& out, const Value& v);

void append_timestamp(std::string& out, Timestamp ts) {
  out += '@';
  if (auto iso = format_iso8601_utc(ts)) {
    out += *iso;
  } else {
    out += std::to_string(ts);
    out += "us";
  }
}

void append_value(std::string& out, const Value& v) {
  switch (v.type()) {
    case ValueType::kNull: out += "null"; break;
    case ValueType::kBool: out += v.as_bool() ? "true" : "false"; break;
    case ValueType::kInt64: out += std::to_string(v.as_int64()); break;
    case ValueType::kDouble: append_double(out, v.as_double()); break;
    case ValueType::kString: append_json_escaped(out, v.as_string()); break;
    case ValueType::kBytes:
      out += "b64\"";
      out += to_base64(v.as_bytes());
      out += '"';
      break;
    case ValueType::kTimestamp: append_timestamp(out, v.as_timestamp()); break;
    case ValueType::kArray: {
      out += '[';
      bool first = true;
      for (const Value& e : v.as_array()) {
        if (!first) out += ", ";
        first = false;
        append_value(out, e);
      }
      out += ']';
      break;
    }
    case ValueType::kObject: {
      out += '{';
      bool first = true;
      for (const auto& [name, e] : v.as_object()) {
        if (!first) out += ", ";
        first = false;
        append_json_escaped(out, name);
        out += ": ";
        append_value(out, e);
      }
      out += '}';
      break;
    }
  }
}

std::size_t hash_combine(std::size_t seed, std::size_t h) {
  // boost::hash_combine's mixing step.
  return seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2));
}

// ---- civil calendar (H. Hinnant's algorithms, proleptic Gregorian) --------

constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month, day;
};

constexpr Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

constexpr std::int64_t kUsPerSecond = 1'000'000;
constexpr std::int64_t kUsPerDay = 86'400 * kUsPerSecond;
// Four-digit years only: what ISO-8601 allows without prior agreement.
constexpr Timestamp kMinIsoUs = days_from_civil(0, 1, 1) * kUsPerDay;
constexpr Timestamp kMaxIsoUs = days_from_civil(10000, 1, 1) * kUsPerDay - 1;

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` decimal digits at `pos`; advances `pos`.
bool read_digits(std::string_view s, std::size_t& pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, std::size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

void append_padded(std::string& out, std::int64_t v, int width) {
  std::string digits = std::to_string(v);
  if (static_cast<int>(digits.size()) < width) out.append(width - digits.size(), '0');
  out += digits;
}

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::kNull: return "null";
    case ValueType::kBool: return "bool";
    case ValueType::kInt64: return "int64";
    case ValueType::kDouble: return "double";
    case ValueType::kString: return "string";
    case ValueType::kBytes: return "bytes";
    case ValueType::kTimestamp: return "timestamp";
    case ValueType::kArray: return "array";
    case ValueType::kObject: return "object";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& os, ValueType type) { return os << to_string(type); }

Value::Value(const Value& other) = default;
Value::Value(Value&& other) noexcept = default;
Value& Value::operator=(const Value& other) = default;
Value& Value::operator=(Value&& other) noexcept = default;
Value::~Value() = default;

bool Value::as_bool() const { return get_or_throw<bool>(v_, "as_bool()", type()); }
std::int64_t Value::as_int64() const {
  return get_or_throw<std::int64_t>(v_, "as_int64()", type());
}
double Value::as_double() const { return get_or_throw<double>(v_, "as_double()", type()); }
const std::string& Value::as_string() const {
  return get_or_throw<std::string>(v_, "as_string()", type());
}
const Bytes& Value::as_bytes() const { return get_or_throw<Bytes>(v_, "as_bytes()", type()); }
Timestamp Value::as_timestamp() const {
  return get_or_throw<detail::TimestampBox>(v_, "as_timestamp()", type()).us;
}
const Array& Value::as_array() const { return get_or_throw<Array>(v_, "as_array()", type()); }
Array& Value::as_array() {
  if (Array* p = std::get_if<Array>(&v_)) return *p;
  throw_wrong_type("as_array()", type());
}
const Object& Value::as_object() const {
  return get_or_throw<Object>(v_, "as_object()", type());
}
Object& Value::as_object() {
  if (Object* p = std::get_if<Object>(&v_)) return *p;
  throw_wrong_type("as_object()", type());
}

const Value* Value::find(std::string_view name) const {
  for (const auto& [key, value] : get_or_throw<Object>(v_, "find()", type())) {
    if (key == name) return &value;
  }
  return nullptr;
}

bool operator==(const Value& a, const Value& b) { return a.v_ == b.v_; }

std::size_t Value::hash() const {
  std::size_t h = v_.index();
  switch (type()) {
    case ValueType::kNull: break;
    case ValueType::kBool: h = hash_combine(h, as_bool()); break;
    case ValueType::kInt64: h = hash_combine(h, std::hash<std::int64_t>{}(as_int64())); break;
    case ValueType::kDouble: {
      const double d = as_double();
      // 0.0 == -0.0, so they must hash alike.
      h = hash_combine(h, std::hash<double>{}(d == 0.0 ? 0.0 : d));
      break;
    }
    case ValueType::kString: h = hash_combine(h, std::hash<std::string>{}(as_string())); break;
    case ValueType::kBytes: {
      const Bytes& b = as_bytes();
      h = hash_combine(h, std::hash<std::string_view>{}(std::string_view(
                              reinterpret_cast<const char*>(b.data()), b.size())));
      break;
    }
    case ValueType::kTimestamp:
      h = hash_combine(h, std::hash<std::int64_t>{}(as_timestamp()));
      break;
    case ValueType::kArray:
      for (const Value& e : as_array()) h = hash_combine(h, e.hash());
      break;
    case ValueType::kObject:
      for (const auto& [name, e] : as_object()) {
        h = hash_combine(h, std::hash<std::string>{}(name));
        h = hash_combine(h, e.hash());
      }
      break;
  }
  return h;
}

std::string Value::to_string() const {
  std::string out;
  append_value(out, *this);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Value& v) { return os << v.to_string(); }

std::optional<Timestamp> parse_iso8601_utc(std::string_view s) {
  std::size_t pos = 0;
  unsigned year, month, day, hour, minute, second;
  if (!read_digits(s, pos, 4, year) || !expect(s, pos, '-') || !read_digits(s, pos, 2, month) ||
      !expect(s, pos, '-') || !read_digits(s, pos, 2, day) || !expect(s, pos, 'T') ||
      !read_digits(s, pos, 2, hour) || !expect(s, pos, ':') || !read_digits(s, pos, 2, minute) ||
      !expect(s, pos, ':') || !read_digits(s, pos, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  std::int64_t fraction_us = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) fraction_us = fraction_us * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (std::size_t i = n; i < 6; ++i) fraction_us *= 10;
  }
  std::int64_t offset_us = 0;
  if (pos < s.size() && s[pos] == 'Z') {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const bool negative = s[pos] == '-';
    ++pos;
    unsigned off_h, off_m;
    if (!read_digits(s, pos, 2, off_h) || !expect(s, pos, ':') || !read_digits(s, pos, 2, off_m) ||
        off_h > 23 || off_m > 59) {
      return std::nullopt;
    }
    offset_us = (static_cast<std::int64_t>(off_h) * 3600 + off_m * 60) * kUsPerSecond;
    if (negative) offset_us = -offset_us;
  } else {
    return std::nullopt;  // a zone is required: local time is ambiguous
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t seconds = days_from_civil(year, month, day) * 86'400 +
                               static_cast<std::int64_t>(hour) * 3600 + minute * 60 + second;
  // "10:00+02:00" is 08:00 UTC: subtract the offset.
  return seconds * kUsPerSecond + fraction_us - offset_us;
}

std::optional<std::string> format_iso8601_utc(Timestamp ts_us) {
  if (ts_us < kMinIsoUs || ts_us > kMaxIsoUs) return std::nullopt;
  // Floor division: for instants before 1970 the remainder must stay positive.
  std::int64_t days = ts_us / kUsPerDay;
  std::int64_t us_of_day = ts_us % kUsPerDay;
  if (us_of_day < 0) {
    us_of_day += kUsPerDay;
    --days;
  }
  const Civil c = civil_from_days(days);
  const std::int64_t secs = us_of_day / kUsPerSecond;
  std::string out;
  out.reserve(27);
  append_padded(out, c.year, 4);
  out += '-';
  append_padded(out, c.month, 2);
  out += '-';
  append_padded(out, c.day, 2);
  out += 'T';
  append_padded(out, secs / 3600, 2);
  out += ':';
  append_padded(out, secs / 60 % 60, 2);
  out += ':';
  append_padded(out, secs % 60, 2);
  out += '.';
  append_padded(out, us_of_day % kUsPerSecond, 6);
  out += 'Z';
  return out;
}

std::string to_base64(const Bytes& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += kBase64Alphabet[(n >> 6) & 63];
    out += kBase64Alphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = bytes[i] << 16;
    if (rest == 2) n |= bytes[i + 1] << 8;
    out += kBase64Alphabet[(n >> 18) & 63];
    out += kBase64Alphabet[(n >> 12) & 63];
    out += rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<Bytes> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    // Padding may only appear at the end of the last group: "xx==" or "xxx=".
    const std::size_t pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=')
                                 : 0;
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const int idx = j < 4 - pad ? base64_index(text[i + j]) : 0;
      if (idx < 0) return std::nullopt;
      n = (n << 6) | static_cast<std::uint32_t>(idx);
    }
    out.push_back(static_cast<std::uint8_t>(n >> 16));
    if (pad < 2) out.push_back(static_cast<std::uint8_t>(n >> 8));
    if (pad < 1) out.push_back(static_cast<std::uint8_t>(n));
  }
  return out;
}

}  // namespace sluice
