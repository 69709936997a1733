// Value: one dynamically typed field of a `Row`.
//
// A `Value` is a small tagged union holding exactly one of: null, bool, int64,
// double, string, bytes, timestamp, array or object. It is the cell type of the
// dynamic record (`Row`) used by the JSON/CSV connectors, MATCH_RECOGNIZE text
// and view tables; typed streams (`Stream<T>` of user structs) never pay for it.
//
// Invariants and semantics:
// - The type tag is fixed by how the value was made. There are no implicit
//   conversions between tags: an int64 1 is not equal to a double 1.0, and
//   `as_double()` on an int64 throws. A timestamp is its own type even though
//   it is stored as int64 microseconds since the epoch (see streaming/time.hpp).
// - Scalars (null, bool, int64, double, timestamp) are stored inline and copy
//   without allocating. Strings, bytes, arrays and objects own their contents
//   (copying copies them); move when you can.
// - An object is an *ordered* list of (name, value) pairs, kept in insertion
//   order (JSON input order), so JSON -> Value -> JSON reproduces the same key
//   order. Lookup by name is a linear scan: objects are expected to be small.
//   Duplicate names are not rejected; `find` returns the first.
//
// Thread safety: like any std value type — concurrent reads are safe, a write
// needs exclusive access.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "streaming/time.hpp"

namespace sluice {

/// The type tag of a `Value` and the declared type of a `Schema` field.
enum class ValueType : std::uint8_t {
  kNull,       ///< no value
  kBool,       ///< true / false
  kInt64,      ///< signed 64-bit integer
  kDouble,     ///< IEEE-754 double
  kString,     ///< UTF-8 text (not validated; bytes are kept as given)
  kBytes,      ///< opaque binary data
  kTimestamp,  ///< µs since the Unix epoch (`Timestamp`), distinct from kInt64
  kArray,      ///< ordered list of values of any types
  kObject,     ///< ordered list of (name, value) pairs
};

/// Lower-case name of a type as used in every error message:
/// "null", "bool", "int64", "double", "string", "bytes", "timestamp", "array", "object".
std::string_view to_string(ValueType type);
/// Writes `to_string(type)`.
std::ostream& operator<<(std::ostream& os, ValueType type);

class Value;

/// Binary payload of a kBytes value.
using Bytes = std::vector<std::uint8_t>;
/// Elements of a kArray value.
using Array = std::vector<Value>;
/// Members of a kObject value, in insertion order (see the file comment).
using Object = std::vector<std::pair<std::string, Value>>;

namespace detail {
// Wraps the µs count so a timestamp is a different variant alternative than int64.
struct TimestampBox {
  Timestamp us;
  friend bool operator==(TimestampBox, TimestampBox) = default;
};
}  // namespace detail

/// One dynamically typed value. See the file comment for semantics.
class Value {
 public:
  /// A null value.
  Value() = default;
  /// A null value; lets callers write `Value(nullptr)` or `{..., nullptr, ...}`.
  Value(std::nullptr_t) {}
  /// A bool. Only an actual `bool` selects this: pointers and integers do not.
  template <class B>
    requires std::same_as<B, bool>
  Value(B b) : v_(b) {}
  /// An int64 from any integer type that fits without loss: all signed types
  /// and unsigned types narrower than 64 bits (uint64 could wrap, so it is
  /// rejected at compile time; convert explicitly).
  template <class I>
    requires(std::integral<I> && !std::same_as<I, bool> &&
             (std::is_signed_v<I> || sizeof(I) < sizeof(std::int64_t)))
  Value(I i) : v_(static_cast<std::int64_t>(i)) {}
  /// A double (float is widened).
  Value(double d) : v_(d) {}
  /// A string (copied). Without this overload a literal would become a bool.
  Value(const char* s) : v_(std::string(s)) {}
  /// A string (copied).
  Value(std::string_view s) : v_(std::string(s)) {}
  /// A string (taken).
  Value(std::string s) : v_(std::move(s)) {}
  /// A bytes value (taken).
  Value(Bytes b) : v_(std::move(b)) {}
  /// An array value (taken).
  Value(Array a) : v_(std::move(a)) {}
  /// An object value (taken). Member order is kept.
  Value(Object o) : v_(std::move(o)) {}

  // Copy and move are defined out of line on purpose: inlined std::variant
  // moves trigger GCC 12 false -Wmaybe-uninitialized warnings in every caller
  // that grows a vector<Value>. The call costs a few ns; no allocation for scalars.
  Value(const Value& other);
  Value(Value&& other) noexcept;
  Value& operator=(const Value& other);
  Value& operator=(Value&& other) noexcept;
  ~Value();

  /// A timestamp of `ts_us` microseconds since the epoch. A named factory
  /// because `Timestamp` is an alias of int64 and `Value(int64)` makes an int64.
  static Value timestamp(Timestamp ts_us) { return Value(detail::TimestampBox{ts_us}); }

  /// The type tag. Never fails.
  ValueType type() const { return static_cast<ValueType>(v_.index()); }
  /// True iff this is null.
  bool is_null() const { return type() == ValueType::kNull; }
  /// True iff `type() == t`.
  bool is(ValueType t) const { return type() == t; }

  // Typed accessors. Each throws TypeMismatchError when the value has another
  // type (null included), with a message such as
  // "Value: as_double() called on a value of type int64". References stay valid until
  // this value is modified or destroyed.

  /// The bool. Throws TypeMismatchError unless type() is kBool.
  bool as_bool() const;
  /// The integer. Throws TypeMismatchError unless type() is kInt64 (a
  /// timestamp is not accepted: use as_timestamp()).
  std::int64_t as_int64() const;
  /// The double. Throws TypeMismatchError unless type() is kDouble (no int
  /// widening: a schema says which one a field holds).
  double as_double() const;
  /// The string. Throws TypeMismatchError unless type() is kString.
  const std::string& as_string() const;
  /// The bytes. Throws TypeMismatchError unless type() is kBytes.
  const Bytes& as_bytes() const;
  /// The timestamp in µs since the epoch. Throws TypeMismatchError unless
  /// type() is kTimestamp.
  Timestamp as_timestamp() const;
  /// The elements. Throws TypeMismatchError unless type() is kArray.
  const Array& as_array() const;
  /// Mutable elements. Throws TypeMismatchError unless type() is kArray.
  Array& as_array();
  /// The members. Throws TypeMismatchError unless type() is kObject.
  const Object& as_object() const;
  /// Mutable members. Throws TypeMismatchError unless type() is kObject.
  Object& as_object();

  /// The first member named `name` of an object, or nullptr when there is
  /// none. Linear in the number of members. Throws TypeMismatchError unless
  /// type() is kObject.
  const Value* find(std::string_view name) const;

  /// Exact equality: same type and same contents, recursively. Doubles
  /// compare with IEEE `==` (so NaN != NaN, 0.0 == -0.0).
  friend bool operator==(const Value& a, const Value& b);

  /// A hash consistent with `==` (except for NaN, which is never equal), e.g.
  /// for grouping by a Row field. Not stable across versions: do not persist.
  std::size_t hash() const;

  /// A readable, unambiguous rendering for logs and test output, not a wire
  /// format: null, true, 42, 4.0, "text" (JSON-escaped), b64"AAE=" for bytes,
  /// @2026-11-23T10:15:30.123000Z for timestamps (@<n>us outside years
  /// 0000..9999), [1, "a"], {"k": 1}. Doubles print the shortest text that
  /// reads back to the same value, always with a '.' or exponent so they are
  /// told apart from ints.
  std::string to_string() const;

 private:
  explicit Value(detail::TimestampBox ts) : v_(ts) {}

  // Alternative order must match ValueType: type() is v_.index().
  std::variant<std::monostate, bool, std::int64_t, double, std::string, Bytes,
               detail::TimestampBox, Array, Object>
      v_;
};

/// Writes `v.to_string()`; used by Catch2 to print values in failed checks.
std::ostream& operator<<(std::ostream& os, const Value& v);

// ---- Text forms shared by the connectors ----------------------------------
// (Timestamp text belongs with time.hpp; it lives here until that file is
// opened to this work.)

/// Parses an ISO-8601 UTC date-time "YYYY-MM-DDTHH:MM:SS[.f]Z" to µs since
/// the epoch. The fraction has 1 to 9 digits; digits beyond microseconds are
/// dropped (the instant is rounded down to the microsecond).
/// Instead of 'Z' a numeric offset "+HH:MM" / "-HH:MM" is accepted and applied.
/// Returns nullopt for anything else: other separators, out-of-range fields
/// (month 13, Feb 30, hour 24, second 60), years outside 0000..9999.
std::optional<Timestamp> parse_iso8601_utc(std::string_view text);

/// Formats `ts_us` as "YYYY-MM-DDTHH:MM:SS.ffffffZ" — always UTC, always six
/// fractional digits (microseconds), so parse_iso8601_utc reads it back
/// exactly. Returns nullopt when the year falls outside 0000..9999.
std::optional<std::string> format_iso8601_utc(Timestamp ts_us);

/// Standard base64 (RFC 4648, alphabet "+/", with '=' padding).
std::string to_base64(const Bytes& bytes);
/// Decodes standard base64 with correct padding; nullopt on any other input
/// (bad character, wrong length, missing or misplaced padding).
std::optional<Bytes> from_base64(std::string_view text);

}  // namespace sluice

/// Hash support so `Value` can key unordered containers.
template <>
struct std::hash<sluice::Value> {
  std::size_t operator()(const sluice::Value& v) const { return v.hash(); }
};
