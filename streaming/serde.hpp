// Binary serialization of operator state, for checkpoints and savepoints.
//
// Every operator's state becomes bytes at a checkpoint (checkpoint/ stores
// them in RocksDB) and is read back on restore, possibly by another build of
// the same program. This file defines how: `Serde<T>` says how one type is
// written and read, `StateWriter` appends to a byte buffer, `StateReader`
// reads from one. It lives in streaming/ so that windows, joins and CEP can
// serialize their state without depending on checkpoint/.
//
//   std::string bytes = serialize(std::map<std::string, std::int64_t>{{"a", 1}});
//   auto m = deserialize<std::map<std::string, std::int64_t>>(bytes);
//
// Guarantees:
// - Deterministic and portable: integers, floating-point values and lengths
//   have one encoding whatever the host's byte order or compiler (little
//   endian, fixed width; see "Encoding" below). Two exceptions are marked
//   there: trivially copyable structs are copied in the host's layout, and
//   hash maps are written in iteration order, so equal hash maps may give
//   different bytes.
// - Reading never trusts the input: every read is bounds-checked, every tag
//   and bool is validated, and a length or count is refused when the bytes
//   left could not hold that many elements, so a corrupt length never makes
//   the reader allocate more than the input's size allows. Any failure
//   throws `StateFormatError` naming what was being read and the byte offset
//   where it starts; none crashes.
// - Values of type T round-trip exactly: deserialize<T>(serialize(v)) == v,
//   bit for bit for floating point (NaN payloads and -0.0 included).
//
// Encoding (format version 1, `kStateFormatVersion`). A "varint" is unsigned
// LEB128: 7 bits per byte, least significant group first, high bit set on
// every byte but the last; at most 10 bytes, the shortest form only (a
// longer one, e.g. 80 00 for 0, is refused as corrupt). Lengths and counts
// are varints.
//
//   bool                      1 byte, 00 or 01 (anything else is refused)
//   other integers, char      sizeof(T) bytes, two's complement, little endian
//   float, double             the IEEE-754 bit pattern as a 4 / 8 byte integer
//   long double               1 byte: numeric_limits<long double>::digits, then
//                             sizeof bytes as the host holds them (padding
//                             zeroed); read only by a host with the same digits
//   enum                      its underlying integer; checked against
//                             `EnumBounds<E>` when that is specialized
//   std::chrono::duration     its count (Rep); time_point: its duration
//   std::string               varint length, then the bytes (any bytes, NUL too)
//   std::vector, std::set,    varint count, then each element (sets and
//   std::unordered_set        std::map in key order, unordered ones in
//   std::map,                 iteration order); a map entry is key then value.
//   std::unordered_map,       Reading refuses a repeated key.
//   detail::FlatHashMap
//   std::array<T, N>          N elements, no count
//   std::optional<T>          bool (engaged), then the value if engaged
//   std::pair, std::tuple     each member in order, nothing else
//   std::variant<Ts...>       varint index of the alternative, then its value
//   std::monostate            nothing
//   trivially copyable class  varint sizeof(T), then the object's bytes as the
//   (not covered above)       host lays them out (padding zeroed). Reading
//                             refuses another size: the type changed. Byte
//                             order and member layout are the host's, so such
//                             bytes move only between builds with the same ABI.
//   Value                     1 byte ValueType, then: null nothing, bool 1 byte,
//                             int64 / double / timestamp 8 bytes, string / bytes
//                             as std::string, array varint count + values,
//                             object varint count + (string name, value) pairs;
//                             nested at most kMaxValueNestingDepth deep
//   Field                     string name, 1 byte ValueType, bool nullable
//   Schema                    varint field count, then each Field
//   SchemaRef                 bool (non-null), then the Schema if non-null
//   Row                       SchemaRef, varint value count, then each Value.
//                             Reading checks the row against its schema.
//
// A later format version keeps these encodings and adds new ones (new
// types, new tags), so it can still read version 1.
//
// Adding a type: specialize `Serde` in namespace sluice, right after the
// type's definition (before anything asks whether it is Serializable):
//
//   struct Bid { std::string bidder; std::int64_t price; };
//   template <>
//   struct sluice::Serde<Bid> {
//     static void write(sluice::StateWriter& w, const Bid& b) {
//       w.write(b.bidder);
//       w.write(b.price);
//     }
//     static Bid read(sluice::StateReader& r) {
//       // Braced initialization evaluates left to right: fields are read in order.
//       return Bid{r.read<std::string>(), r.read<std::int64_t>()};
//     }
//     // Optional: the fewest bytes any Bid takes, which tightens the
//     // check of element counts when a container of Bids is read.
//     static constexpr std::size_t kMinEncodedSize = 1 + 8;
//   };
//
// A type that is neither built in nor specialized is not `Serializable`:
// functions taking state (serialize, StateWriter::write, ...) are
// constrained on the concept, so the compiler names the type, e.g. g++ 12
// for serialize(bid): "error: no matching function for call to
// 'serialize(const Bid&)' ... required for the satisfaction of
// 'Serializable<T>' [with T = Bid] ... the required expression
// 'sluice::Serde<...>::write(w, v)' is invalid". A struct that is trivially copyable gets the byte-copy
// rule above without a specialization; give it one anyway if it holds a
// pointer (the address would be saved) or must move between ABIs.
//
// Thread safety: a writer or reader is used by one thread at a time; Serde
// functions keep no state of their own.
#pragma once

#include <array>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "streaming/changelog.hpp"
#include "streaming/detail/flat_hash_map.hpp"
#include "streaming/errors.hpp"
#include "streaming/row.hpp"
#include "streaming/schema.hpp"
#include "streaming/value.hpp"

namespace sluice {

/// Version of the encoding described in the file comment. Checkpoints and
/// savepoints store it in their manifest; on restore, pass the stored
/// version to `check_state_format_version`, which refuses a version this
/// build cannot read. Raise it when an encoding changes; a new version must
/// keep reading every older one.
inline constexpr std::uint32_t kStateFormatVersion = 1;

/// Throws StateFormatError unless 1 <= version <= kStateFormatVersion, e.g.
/// "state format error reading state format version: version 2 is newer
/// than this build reads (up to 1)".
void check_state_format_version(std::uint32_t version);

/// How deeply `Value` arrays and objects may nest in state: deeper values
/// are refused when written (StateFormatError), so that reading them back
/// cannot run out of stack. The JSON connector already refuses more than 128.
inline constexpr int kMaxValueNestingDepth = 512;

/// Saved state (a checkpoint, a savepoint) that cannot be read: cut off,
/// corrupt, or written by a newer format version or an incompatible build.
/// `what()` reads "state format error at byte <offset> reading <what_read>:
/// <detail>" ("at byte" left out when there is no offset), e.g. "state
/// format error at byte 12 reading length of std::string: announces 1000
/// bytes but only 3 bytes remain".
class StateFormatError : public SluiceError {
 public:
  StateFormatError(std::string what_read, std::optional<std::size_t> offset, std::string detail);
  /// What was being read, e.g. "length of std::string", "sluice::Row".
  const std::string& what_read() const { return what_read_; }
  /// Byte offset, in the input being read, where that item starts; nullopt
  /// when the error is not about a position (a newer format version).
  std::optional<std::size_t> offset() const { return offset_; }
  /// Why it was refused.
  const std::string& detail() const { return detail_; }

 private:
  std::string what_read_;
  std::optional<std::size_t> offset_;
  std::string detail_;
};

class StateWriter;
class StateReader;

/// How values of T are written and read. Specialize it for your own types
/// (see the file comment); Sluice specializes it for the built-in ones. A
/// specialization provides
///   static void write(StateWriter&, const T&);
///   static T read(StateReader&);   // throws StateFormatError on bad input
/// and optionally `static constexpr std::size_t kMinEncodedSize`, the fewest
/// bytes any value of T encodes to (default 0: unknown).
/// The primary template covers arithmetic types, enums and trivially
/// copyable classes; for any other type it is unsupported (it has neither
/// function, and `kUnsupported` is true).
template <class T>
struct Serde;

/// Types with a usable `Serde`: the built-ins listed in the file comment
/// and any type with a `Serde` specialization. cv and references are ignored.
template <class T>
concept Serializable = requires(StateWriter& w, StateReader& r, const std::remove_cvref_t<T>& v) {
  Serde<std::remove_cvref_t<T>>::write(w, v);
  { Serde<std::remove_cvref_t<T>>::read(r) } -> std::same_as<std::remove_cvref_t<T>>;
};

/// Specialize to have reading check the range of an enum, which otherwise
/// accepts any value of its underlying type:
///   template <> struct sluice::EnumBounds<Color> {
///     static constexpr Color kMin = Color::kRed, kMax = Color::kBlue;
///   };
/// An encoded value outside [kMin, kMax] is then refused.
template <class E>
struct EnumBounds {};

template <>
struct EnumBounds<ValueType> {
  static constexpr ValueType kMin = ValueType::kNull, kMax = ValueType::kObject;
};
template <>
struct EnumBounds<ChangeKind> {
  static constexpr ChangeKind kMin = ChangeKind::kInsert, kMax = ChangeKind::kDelete;
};

namespace detail {

/// T's name as the compiler spells it ("std::vector<int>"), for error
/// messages. Not stable across compilers: never persist it.
template <class T>
std::string type_name();

std::string clean_type_name(std::string_view pretty);

namespace type_names {
// __PRETTY_FUNCTION__ spells the template argument out with default
// arguments left away ("std::vector<int>"), which typeid does not. GCC
// leaves away the namespace of the function itself, so this one lives in a
// namespace that holds no types ("HyperLogLog" would lose "sluice::detail::").
template <class T>
constexpr const char* pretty() {
  return __PRETTY_FUNCTION__;
}
}  // namespace type_names

template <class T>
std::string type_name() {
  return clean_type_name(type_names::pretty<T>());
}

/// The name of the first of Ts without a Serde, or "" when every one has
/// one: what keeps state holding them from being checkpointed.
template <class... Ts>
std::string first_unserializable();

template <class T>
constexpr std::size_t min_encoded_size() {
  if constexpr (requires { Serde<T>::kMinEncodedSize; })
    return Serde<T>::kMinEncodedSize;
  else
    return 0;
}

// Each element's encoding may take zero bytes (std::monostate, std::tuple<>,
// a user type without kMinEncodedSize that writes nothing): a count of those
// cannot be checked against the bytes left, so it is capped instead.
inline constexpr std::size_t kMaxCountBeyondInput = std::size_t{1} << 20;

// A container reserves room for at most this many bytes of elements before
// reading them; beyond, it grows only as elements are actually read.
inline constexpr std::size_t kMaxReserveBytes = std::size_t{16} << 20;

template <class C>
void reserve_bounded(C& c, std::size_t n) {
  using E = typename C::value_type;
  c.reserve(std::min(n, std::max<std::size_t>(1, kMaxReserveBytes / sizeof(E))));
}

// Scalars written as raw little-endian bytes in bulk (vectors, arrays).
template <class T>
inline constexpr bool kBulkScalar =
    std::endian::native == std::endian::little && (std::is_integral_v<T> || std::is_same_v<T, float> ||
                                                    std::is_same_v<T, double>) && !std::is_same_v<T, bool>;

}  // namespace detail

/// Names what is being read, for error messages: a type and optionally a
/// part of it ("length of std::string"). Rendered only when an error is
/// thrown, so passing one costs nothing on the normal path.
class ReadContext {
 public:
  /// The value of type T as a whole, or `part` of it ("length", "tag").
  /// `part` must outlive the read (a string literal).
  template <class T>
  static ReadContext of(const char* part = nullptr) {
    return ReadContext(part, &detail::type_name<T>);
  }
  /// E.g. "length of std::string", or "int" without a part.
  std::string describe() const { return part_ == nullptr ? type_() : std::string(part_) + " of " + type_(); }

 private:
  ReadContext(const char* part, std::string (*type)()) : part_(part), type_(type) {}
  const char* part_;
  std::string (*type_)();
};

/// Appends encoded values to a byte buffer (a std::string, ready to hand to
/// RocksDB). Writing never fails except for a Value nested deeper than
/// kMaxValueNestingDepth or a valueless std::variant (StateFormatError), or
/// when memory runs out.
class StateWriter {
 public:
  /// An empty buffer.
  StateWriter() = default;
  /// Appends after `buffer`'s current contents (taken).
  explicit StateWriter(std::string buffer) : buf_(std::move(buffer)) {}

  /// Appends `v` as Serde<T> encodes it.
  template <Serializable T>
  void write(const T& v) {
    Serde<std::remove_cvref_t<T>>::write(*this, v);
  }

  /// Appends an arithmetic value in its fixed-width little-endian encoding
  /// (see the file comment). long double goes through write(), not here.
  template <class A>
    requires(std::is_arithmetic_v<A> && !std::is_same_v<A, long double>)
  void write_fixed(A v) {
    if constexpr (std::is_same_v<A, bool>) {
      buf_.push_back(v ? '\1' : '\0');
    } else if constexpr (std::is_same_v<A, float>) {
      put_le(std::bit_cast<std::uint32_t>(v));
    } else if constexpr (std::is_same_v<A, double>) {
      put_le(std::bit_cast<std::uint64_t>(v));
    } else {
      put_le(static_cast<std::make_unsigned_t<A>>(v));
    }
  }

  /// Appends `v` as an unsigned LEB128 varint (1 to 10 bytes).
  void write_varint(std::uint64_t v) {
    char b[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      b[n++] = static_cast<char>(static_cast<unsigned char>(v | 0x80));
      v >>= 7;
    }
    b[n++] = static_cast<char>(v);
    buf_.append(b, n);
  }

  /// Appends `n` bytes from `data` as they are (no length).
  void write_bytes(const void* data, std::size_t n) {
    if (n != 0) buf_.append(static_cast<const char*>(data), n);
  }

  /// Bytes written so far (including any the buffer started with).
  std::size_t size() const { return buf_.size(); }
  /// The buffer. Valid until the next write or take().
  const std::string& buffer() const { return buf_; }
  /// Moves the buffer out, leaving this writer empty.
  std::string take() { return std::exchange(buf_, {}); }

 private:
  template <class U>
  void put_le(U u) {
    static_assert(std::is_unsigned_v<U>);
    char b[sizeof(U)];
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(b, &u, sizeof(U));
    } else {
      for (std::size_t i = 0; i < sizeof(U); ++i) b[i] = static_cast<char>(static_cast<unsigned char>(u >> (8 * i)));
    }
    buf_.append(b, sizeof(U));
  }

  std::string buf_;
};

/// Reads encoded values from a byte range, which must outlive the reader
/// (string views it returns point into it). Every read is bounds-checked;
/// see the file comment for what is refused. Errors throw StateFormatError
/// with the offset (from the start of the range) where the refused item
/// starts; the reader is then in an unspecified position.
class StateReader {
 public:
  /// Reads `bytes`.
  explicit StateReader(std::string_view bytes)
      : data_(reinterpret_cast<const unsigned char*>(bytes.data())), size_(bytes.size()) {}
  /// Reads `bytes`.
  explicit StateReader(std::span<const std::byte> bytes)
      : data_(reinterpret_cast<const unsigned char*>(bytes.data())), size_(bytes.size()) {}

  /// Reads one value of T as Serde<T> encodes it.
  template <Serializable T>
  T read() {
    return Serde<T>::read(*this);
  }

  /// Reads an arithmetic value in its fixed-width encoding. A bool byte
  /// other than 00 / 01 is refused.
  template <class A>
    requires(std::is_arithmetic_v<A> && !std::is_same_v<A, long double>)
  A read_fixed(const ReadContext& what) {
    if constexpr (std::is_same_v<A, bool>) {
      const std::size_t at = pos_;
      const unsigned char b = *take(1, what);
      if (b > 1) fail(at, what, "byte " + hex(b) + " is not a bool (00 or 01)");
      return b == 1;
    } else if constexpr (std::is_same_v<A, float>) {
      return std::bit_cast<float>(get_le<std::uint32_t>(what));
    } else if constexpr (std::is_same_v<A, double>) {
      return std::bit_cast<double>(get_le<std::uint64_t>(what));
    } else {
      return static_cast<A>(get_le<std::make_unsigned_t<A>>(what));
    }
  }

  /// Reads an unsigned LEB128 varint. Refuses one that is cut off, longer
  /// than 64 bits, or not in its shortest form.
  std::uint64_t read_varint(const ReadContext& what) {
    const std::size_t at = pos_;
    std::uint64_t v = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos_ == size_) fail(at, what, "varint cut off by the end of the input");
      const unsigned char b = data_[pos_++];
      if (i == 9 && b > 1) fail(at, what, "varint longer than 64 bits");
      v |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) fail(at, what, "varint not in its shortest form");
        return v;
      }
    }
    return v;  // not reached: the tenth byte has no continuation bit
  }

  /// Reads a varint count of elements that each take at least
  /// `min_bytes_each` bytes, and refuses a count that the bytes left cannot
  /// hold (with 0, a count above the bytes left plus 2^20).
  std::size_t read_count(const ReadContext& what, std::size_t min_bytes_each) {
    const std::size_t at = pos_;
    const std::uint64_t n = read_varint(what);
    const std::size_t left = remaining();
    const std::uint64_t limit = min_bytes_each == 0 ? left + detail::kMaxCountBeyondInput : left / min_bytes_each;
    if (n > limit)
      fail(at, what,
           "announces " + std::to_string(n) + (min_bytes_each == 1 ? " bytes" : " elements") + " but only " +
               std::to_string(left) + " bytes remain" +
               (min_bytes_each > 1 ? " (at least " + std::to_string(min_bytes_each) + " bytes each)" : ""));
    return static_cast<std::size_t>(n);
  }

  /// The next `n` bytes, as a view into the input. Refuses n > remaining().
  std::string_view read_bytes(std::size_t n, const ReadContext& what) {
    return {reinterpret_cast<const char*>(take(n, what)), n};
  }

  /// Offset of the next byte to read, from the start of the input.
  std::size_t offset() const { return pos_; }
  /// Bytes not read yet.
  std::size_t remaining() const { return size_ - pos_; }
  /// True when every byte was read.
  bool at_end() const { return pos_ == size_; }
  /// Throws StateFormatError unless every byte was read: bytes left over
  /// after a complete section are corruption. `what`: the section, for the
  /// message (e.g. "key group 17 of window 'w'").
  void expect_end(const std::string& what = "state section") const {
    if (!at_end())
      throw StateFormatError(what, pos_, std::to_string(remaining()) + " bytes remain after it (trailing bytes)");
  }

  /// Throws StateFormatError: `what` was refused at byte `at` because of `detail`.
  [[noreturn]] static void fail(std::size_t at, const ReadContext& what, const std::string& detail);

  /// Counts nesting while reading recursive values (Value arrays and
  /// objects), refusing more than kMaxValueNestingDepth levels.
  class NestingGuard {
   public:
    NestingGuard(StateReader& r, const ReadContext& what) : r_(r) {
      if (++r_.depth_ > kMaxValueNestingDepth)
        fail(r_.pos_, what, "nested deeper than " + std::to_string(kMaxValueNestingDepth) + " levels");
    }
    ~NestingGuard() { --r_.depth_; }
    NestingGuard(const NestingGuard&) = delete;
    NestingGuard& operator=(const NestingGuard&) = delete;

   private:
    StateReader& r_;
  };

 private:
  static std::string hex(unsigned char b);

  const unsigned char* take(std::size_t n, const ReadContext& what) {
    if (n > remaining())
      fail(pos_, what, "needs " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " remain");
    const unsigned char* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  template <class U>
  U get_le(const ReadContext& what) {
    const unsigned char* p = take(sizeof(U), what);
    U u;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&u, p, sizeof(U));
    } else {
      u = 0;
      for (std::size_t i = 0; i < sizeof(U); ++i) u = static_cast<U>(u | (static_cast<U>(p[i]) << (8 * i)));
    }
    return u;
  }

  const unsigned char* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

/// `v` encoded, as a new string.
template <Serializable T>
std::string serialize(const T& v) {
  StateWriter w;
  w.write(v);
  return w.take();
}

/// The T encoded in `bytes`, all of them: bytes left over after the value
/// are corruption too. Throws StateFormatError on any bad input.
template <Serializable T>
T deserialize(std::string_view bytes) {
  StateReader r(bytes);
  T v = r.read<T>();
  if (!r.at_end())
    StateReader::fail(r.offset(), ReadContext::of<T>(),
                      std::to_string(r.remaining()) + " bytes remain after the value (trailing bytes)");
  return v;
}

// ---- The primary template: arithmetic types, enums, trivially copyable classes

namespace detail {

template <class T>
struct UnsupportedSerde {
  static constexpr bool kUnsupported = true;
};

template <class T>
struct ArithmeticSerde {
  static constexpr std::size_t kMinEncodedSize = sizeof(T);
  static void write(StateWriter& w, T v) { w.write_fixed(v); }
  static T read(StateReader& r) { return r.read_fixed<T>(ReadContext::of<T>()); }
};

template <>
struct ArithmeticSerde<long double> {
  static constexpr std::size_t kMinEncodedSize = 1 + sizeof(long double);
  static constexpr int kDigits = std::numeric_limits<long double>::digits;
  static void write(StateWriter& w, long double v) {
    w.write_fixed(static_cast<std::uint8_t>(kDigits));
    // x86's 80-bit format leaves 6 of 16 bytes unused: zero them so equal values give equal bytes.
#if defined(__has_builtin) && __has_builtin(__builtin_clear_padding)
    __builtin_clear_padding(&v);
#endif
    w.write_bytes(&v, sizeof v);
  }
  static long double read(StateReader& r) {
    const ReadContext what = ReadContext::of<long double>();
    const std::size_t at = r.offset();
    const auto digits = r.read_fixed<std::uint8_t>(what);
    if (digits != kDigits)
      StateReader::fail(at, what,
                        "written with " + std::to_string(digits) + " mantissa digits, this build has " +
                            std::to_string(kDigits));
    long double v;
    std::memcpy(&v, r.read_bytes(sizeof v, what).data(), sizeof v);
    return v;
  }
};

template <class E>
struct EnumSerde {
  using U = std::underlying_type_t<E>;
  static constexpr std::size_t kMinEncodedSize = sizeof(U);
  static void write(StateWriter& w, E v) { w.write_fixed(static_cast<U>(v)); }
  static E read(StateReader& r) {
    const std::size_t at = r.offset();
    const U u = r.read_fixed<U>(ReadContext::of<E>());
    if constexpr (requires { EnumBounds<E>::kMin; }) {
      if (u < static_cast<U>(EnumBounds<E>::kMin) || u > static_cast<U>(EnumBounds<E>::kMax))
        StateReader::fail(at, ReadContext::of<E>(),
                          "value " + std::to_string(+u) + " is outside [" +
                              std::to_string(+static_cast<U>(EnumBounds<E>::kMin)) + ", " +
                              std::to_string(+static_cast<U>(EnumBounds<E>::kMax)) + "]");
    }
    return static_cast<E>(u);
  }
};

template <class T>
struct TriviallyCopyableSerde {
  static constexpr std::size_t kMinEncodedSize = 1 + sizeof(T);
  static void write(StateWriter& w, const T& v) {
    w.write_varint(sizeof(T));
    if constexpr (std::has_unique_object_representations_v<T>) {
      w.write_bytes(&v, sizeof(T));
    } else {
      // Padding bytes hold whatever was there: zero them in a copy, so equal
      // values give equal bytes (and no uninitialized memory is written).
      T copy = v;
#if defined(__has_builtin) && __has_builtin(__builtin_clear_padding)
      __builtin_clear_padding(&copy);
#endif
      w.write_bytes(&copy, sizeof(T));
    }
  }
  static T read(StateReader& r) {
    const ReadContext what = ReadContext::of<T>();
    const std::size_t at = r.offset();
    const std::uint64_t size = r.read_varint(what);
    if (size != sizeof(T))
      StateReader::fail(at, what,
                        "written with sizeof " + std::to_string(size) + ", this build has sizeof " +
                            std::to_string(sizeof(T)) + " (the type's layout changed)");
    std::array<std::byte, sizeof(T)> bytes;
    std::memcpy(bytes.data(), r.read_bytes(sizeof(T), what).data(), sizeof(T));
    return std::bit_cast<T>(bytes);
  }
};

template <class T>
using default_serde_t = std::conditional_t<
    std::is_arithmetic_v<T>, ArithmeticSerde<T>,
    std::conditional_t<std::is_enum_v<T>, EnumSerde<T>,
                       std::conditional_t<std::is_class_v<T> && std::is_trivially_copyable_v<T>,
                                          TriviallyCopyableSerde<T>, UnsupportedSerde<T>>>>;

}  // namespace detail

template <class T>
struct Serde : detail::default_serde_t<T> {};

// Trivially copyable, but they hold a pointer: the bytes would be an address.
template <class C, class Tr>
struct Serde<std::basic_string_view<C, Tr>> : detail::UnsupportedSerde<std::basic_string_view<C, Tr>> {};
template <class T, std::size_t N>
struct Serde<std::span<T, N>> : detail::UnsupportedSerde<std::span<T, N>> {};
template <class T>
struct Serde<std::reference_wrapper<T>> : detail::UnsupportedSerde<std::reference_wrapper<T>> {};

// ---- Standard library types -------------------------------------------------

template <class Rep, class Period>
  requires Serializable<Rep>
struct Serde<std::chrono::duration<Rep, Period>> {
  using D = std::chrono::duration<Rep, Period>;
  static constexpr std::size_t kMinEncodedSize = detail::min_encoded_size<Rep>();
  static void write(StateWriter& w, const D& d) { w.write(d.count()); }
  static D read(StateReader& r) { return D(r.read<Rep>()); }
};

template <class Clock, class Dur>
  requires Serializable<Dur>
struct Serde<std::chrono::time_point<Clock, Dur>> {
  using P = std::chrono::time_point<Clock, Dur>;
  static constexpr std::size_t kMinEncodedSize = detail::min_encoded_size<Dur>();
  static void write(StateWriter& w, const P& p) { w.write(p.time_since_epoch()); }
  static P read(StateReader& r) { return P(r.read<Dur>()); }
};

template <class Tr, class A>
struct Serde<std::basic_string<char, Tr, A>> {
  using S = std::basic_string<char, Tr, A>;
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const S& s) {
    w.write_varint(s.size());
    w.write_bytes(s.data(), s.size());
  }
  static S read(StateReader& r) {
    const ReadContext what = ReadContext::of<S>("length");
    const std::size_t n = r.read_count(what, 1);
    const std::string_view bytes = r.read_bytes(n, what);
    return S(bytes.data(), bytes.size());
  }
};

template <>
struct Serde<std::monostate> {
  static constexpr std::size_t kMinEncodedSize = 0;
  static void write(StateWriter&, std::monostate) {}
  static std::monostate read(StateReader&) { return {}; }
};

template <Serializable T, class A>
struct Serde<std::vector<T, A>> {
  using V = std::vector<T, A>;
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const V& v) {
    w.write_varint(v.size());
    if constexpr (detail::kBulkScalar<T>) {
      w.write_bytes(v.data(), v.size() * sizeof(T));
    } else {
      for (const auto& e : v) w.write(static_cast<const T&>(e));
    }
  }
  static V read(StateReader& r) {
    const ReadContext what = ReadContext::of<V>("element count");
    const std::size_t n = r.read_count(what, detail::min_encoded_size<T>());
    V v;
    if constexpr (detail::kBulkScalar<T>) {
      v.resize(n);  // n * sizeof(T) bytes were checked to remain
      const std::string_view b = r.read_bytes(n * sizeof(T), ReadContext::of<V>());
      if (n != 0) std::memcpy(v.data(), b.data(), b.size());  // an empty vector's data() may be null
    } else {
      detail::reserve_bounded(v, n);
      for (std::size_t i = 0; i < n; ++i) v.push_back(r.read<T>());
    }
    return v;
  }
};

template <Serializable T, std::size_t N>
struct Serde<std::array<T, N>> {
  using V = std::array<T, N>;
  static constexpr std::size_t kMinEncodedSize = N * detail::min_encoded_size<T>();
  static void write(StateWriter& w, const V& v) {
    if constexpr (detail::kBulkScalar<T>) {
      w.write_bytes(v.data(), N * sizeof(T));
    } else {
      for (const T& e : v) w.write(e);
    }
  }
  static V read(StateReader& r) {
    if constexpr (detail::kBulkScalar<T>) {
      V v;
      if constexpr (N > 0) std::memcpy(v.data(), r.read_bytes(N * sizeof(T), ReadContext::of<V>()).data(), N * sizeof(T));
      return v;
    } else if constexpr (std::is_default_constructible_v<T>) {
      V v;
      for (T& e : v) e = r.read<T>();
      return v;
    } else {
      // Braced initialization reads the elements in order.
      return [&]<std::size_t... I>(std::index_sequence<I...>) {
        return V{((void)I, r.read<T>())...};
      }(std::make_index_sequence<N>{});
    }
  }
};

template <Serializable T>
struct Serde<std::optional<T>> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const std::optional<T>& v) {
    w.write_fixed(v.has_value());
    if (v) w.write(*v);
  }
  static std::optional<T> read(StateReader& r) {
    if (!r.read_fixed<bool>(ReadContext::of<std::optional<T>>("engaged flag"))) return std::nullopt;
    return std::optional<T>(r.read<T>());
  }
};

template <Serializable A, Serializable B>
struct Serde<std::pair<A, B>> {
  static constexpr std::size_t kMinEncodedSize = detail::min_encoded_size<A>() + detail::min_encoded_size<B>();
  static void write(StateWriter& w, const std::pair<A, B>& p) {
    w.write(p.first);
    w.write(p.second);
  }
  static std::pair<A, B> read(StateReader& r) {
    // Braced initialization reads first, then second.
    return std::pair<A, B>{r.read<A>(), r.read<B>()};
  }
};

template <Serializable... Ts>
struct Serde<std::tuple<Ts...>> {
  static constexpr std::size_t kMinEncodedSize = (std::size_t{0} + ... + detail::min_encoded_size<Ts>());
  static void write(StateWriter& w, const std::tuple<Ts...>& t) {
    std::apply([&](const Ts&... parts) { (w.write(parts), ...); }, t);
  }
  static std::tuple<Ts...> read(StateReader& r) {
    // Braced initialization reads the members in order.
    return std::tuple<Ts...>{r.read<Ts>()...};
  }
};

template <Serializable... Ts>
struct Serde<std::variant<Ts...>> {
  using V = std::variant<Ts...>;
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const V& v) {
    if (v.valueless_by_exception())
      throw StateFormatError(detail::type_name<V>(), std::nullopt, "cannot write a valueless variant");
    w.write_varint(v.index());
    std::visit([&](const auto& x) { w.write(x); }, v);
  }
  static V read(StateReader& r) {
    const ReadContext what = ReadContext::of<V>("alternative index");
    const std::size_t at = r.offset();
    const std::uint64_t index = r.read_varint(what);
    if (index >= sizeof...(Ts))
      StateReader::fail(at, what,
                        "index " + std::to_string(index) + ", the variant has " + std::to_string(sizeof...(Ts)) +
                            " alternatives");
    static constexpr auto kReaders = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<V (*)(StateReader&), sizeof...(Ts)>{[](StateReader& rr) {
        return V(std::in_place_index<I>, rr.read<std::variant_alternative_t<I, V>>());
      }...};
    }(std::index_sequence_for<Ts...>{});
    return kReaders[index](r);
  }
};

namespace detail {

/// Shared by the maps and sets: a count, then the entries; reading refuses
/// a repeated key.
template <class C, class Entry>
struct AssociativeSerde {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const C& c) {
    w.write_varint(c.size());
    for (const auto& e : c) w.write(e);
  }
  static C read(StateReader& r) {
    const std::size_t n = r.read_count(ReadContext::of<C>("entry count"), min_encoded_size<Entry>());
    C c;
    if constexpr (requires { c.reserve(n); }) c.reserve(std::min(n, kMaxReserveBytes / sizeof(Entry)));
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.offset();
      const std::size_t before = c.size();
      c.insert(c.end(), r.read<Entry>());
      if (c.size() == before) StateReader::fail(at, ReadContext::of<C>("entry"), "repeated key");
    }
    return c;
  }
};

// std::pair<const K, V> is not what a map entry is read as (const K cannot
// be moved from); entries are written and read as std::pair<K, V>.
template <class C, class K, class V>
struct MapSerde {
  using Entry = std::pair<K, V>;
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const C& c) {
    w.write_varint(c.size());
    for (const auto& [k, v] : c) {
      w.write(k);
      w.write(v);
    }
  }
  static C read(StateReader& r) {
    const std::size_t n = r.read_count(ReadContext::of<C>("entry count"), min_encoded_size<Entry>());
    C c;
    if constexpr (requires { c.reserve(n); }) c.reserve(std::min(n, kMaxReserveBytes / sizeof(Entry)));
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.offset();
      K k = r.read<K>();
      V v = r.read<V>();
      c.emplace_hint(c.end(), std::move(k), std::move(v));  // in key order for std::map: no search
      if (c.size() != i + 1) StateReader::fail(at, ReadContext::of<C>("entry"), "repeated key");
    }
    return c;
  }
};

}  // namespace detail

template <Serializable K, class C, class A>
struct Serde<std::set<K, C, A>> : detail::AssociativeSerde<std::set<K, C, A>, K> {};
template <Serializable K, class H, class E, class A>
struct Serde<std::unordered_set<K, H, E, A>> : detail::AssociativeSerde<std::unordered_set<K, H, E, A>, K> {};
template <Serializable K, Serializable V, class C, class A>
struct Serde<std::map<K, V, C, A>> : detail::MapSerde<std::map<K, V, C, A>, K, V> {};
template <Serializable K, Serializable V, class H, class E, class A>
struct Serde<std::unordered_map<K, V, H, E, A>> : detail::MapSerde<std::unordered_map<K, V, H, E, A>, K, V> {};

template <Serializable K, Serializable V, class H, class G>
struct Serde<detail::FlatHashMap<K, V, H, G>> {
  using M = detail::FlatHashMap<K, V, H, G>;
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const M& m) {
    w.write_varint(m.size());
    m.for_each([&](const K& k, const V& v) {
      w.write(k);
      w.write(v);
    });
  }
  static M read(StateReader& r) {
    const std::size_t n =
        r.read_count(ReadContext::of<M>("entry count"), detail::min_encoded_size<K>() + detail::min_encoded_size<V>());
    M m;
    // Bounded by the bytes left (read_count) when K or V has a minimum size.
    if (detail::min_encoded_size<K>() + detail::min_encoded_size<V>() > 0) m.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t at = r.offset();
      K k = r.read<K>();
      V v = r.read<V>();
      if (!m.try_emplace(k, std::move(v)).second) StateReader::fail(at, ReadContext::of<M>("entry"), "repeated key");
    }
    return m;
  }
};

// ---- Sluice's dynamic records (defined in streaming/serde.cpp) ---------------

template <>
struct Serde<Value> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const Value& v);
  static Value read(StateReader& r);
};

template <>
struct Serde<Field> {
  static constexpr std::size_t kMinEncodedSize = 3;
  static void write(StateWriter& w, const Field& f);
  static Field read(StateReader& r);
};

template <>
struct Serde<Schema> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const Schema& s);
  static Schema read(StateReader& r);
};

template <>
struct Serde<SchemaRef> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const SchemaRef& s);
  static SchemaRef read(StateReader& r);
};

template <>
struct Serde<Row> {
  static constexpr std::size_t kMinEncodedSize = 1;
  static void write(StateWriter& w, const Row& row);
  static Row read(StateReader& r);
};

namespace detail {
template <class... Ts>
std::string first_unserializable() {
  std::string name;
  ((name.empty() && !Serializable<Ts> ? (void)(name = type_name<Ts>()) : (void)0), ...);
  return name;
}
}  // namespace detail

}  // namespace sluice
