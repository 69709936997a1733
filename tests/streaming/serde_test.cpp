// Tests of the state serialization layer (streaming/serde.hpp): exact round
// trips of every built-in type, pinned bytes for small values, and bad
// input (cut off, corrupt lengths, bad tags, trailing bytes, layout changes)
// that must throw StateFormatError naming what was read and where.
#include <catch2/catch.hpp>

#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "streaming/key_groups.hpp"
#include "streaming/serde.hpp"

using namespace sluice;

namespace {

/// The bytes of `s` as "01 00 ff".
std::string hex(std::string_view s) {
  std::string out;
  char b[4];
  for (const unsigned char c : s) {
    std::snprintf(b, sizeof b, out.empty() ? "%02x" : " %02x", c);
    out += b;
  }
  return out;
}

/// A string of the given byte values.
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (const int x : b) s.push_back(static_cast<char>(x));
  return s;
}

template <class T>
T round_trip(const T& v) {
  return deserialize<T>(serialize(v));
}

/// The StateFormatError that deserialize<T>(b) throws; fails the test if it throws nothing.
template <class T>
StateFormatError error_of(std::string_view b) {
  try {
    (void)deserialize<T>(b);
  } catch (const StateFormatError& e) {
    return e;
  }
  FAIL("no StateFormatError for " << hex(b));
  throw;  // not reached
}

/// Every proper prefix of a valid encoding of `v` must throw StateFormatError.
template <class T>
void every_cut_throws(const T& v) {
  const std::string full = serialize(v);
  REQUIRE(full.size() > 1);
  for (std::size_t n = 0; n < full.size(); ++n) {
    INFO("cut at " << n << " of " << full.size());
    CHECK_THROWS_AS(deserialize<T>(std::string_view(full).substr(0, n)), StateFormatError);
  }
}

enum class Color : std::int16_t { kRed = -1, kGreen = 0, kBlue = 300 };

struct Point {  // trivially copyable, no padding
  std::int32_t x;
  std::int32_t y;
  friend bool operator==(const Point&, const Point&) = default;
};

struct Padded {  // trivially copyable, 7 bytes of padding after `tag`
  char tag;
  double value;
  friend bool operator==(const Padded&, const Padded&) = default;
};

struct Small {
  std::uint32_t a;
};
struct Big {
  std::uint64_t a;
  std::uint32_t b;
};

struct NoDefault {
  explicit NoDefault(int v) : v(v) {}
  int v;
  friend bool operator==(const NoDefault&, const NoDefault&) = default;
};

struct Unsupported {
  std::string s;  // not trivially copyable, no Serde
};

/// A user type with its own Serde, as the header shows.
struct Bid {
  std::string bidder;
  std::int64_t price;
  friend bool operator==(const Bid&, const Bid&) = default;
};

}  // namespace

template <>
struct sluice::Serde<NoDefault> {
  static constexpr std::size_t kMinEncodedSize = 4;
  static void write(StateWriter& w, const NoDefault& n) { w.write(n.v); }
  static NoDefault read(StateReader& r) { return NoDefault(r.read<int>()); }
};

template <>
struct sluice::Serde<Bid> {
  static constexpr std::size_t kMinEncodedSize = 1 + 8;
  static void write(StateWriter& w, const Bid& b) {
    w.write(b.bidder);
    w.write(b.price);
  }
  static Bid read(StateReader& r) { return Bid{r.read<std::string>(), r.read<std::int64_t>()}; }
};

// ---- which types are Serializable ----------------------------------------------

TEST_CASE("serde: Serializable covers the built-ins and refuses pointers and views", "[streaming][serde]") {
  STATIC_REQUIRE(Serializable<int>);
  STATIC_REQUIRE(Serializable<const double&>);
  STATIC_REQUIRE(Serializable<Color>);
  STATIC_REQUIRE(Serializable<Point>);
  STATIC_REQUIRE(Serializable<NoKey>);
  STATIC_REQUIRE(Serializable<Bid>);
  STATIC_REQUIRE(Serializable<std::vector<std::map<std::string, std::optional<Bid>>>>);
  STATIC_REQUIRE(Serializable<std::variant<std::monostate, int, std::string>>);
  STATIC_REQUIRE(Serializable<detail::FlatHashMap<std::string, std::uint64_t>>);
  STATIC_REQUIRE(Serializable<Row>);
  STATIC_REQUIRE(Serializable<std::chrono::microseconds>);
  STATIC_REQUIRE(!Serializable<Unsupported>);
  STATIC_REQUIRE(!Serializable<std::vector<Unsupported>>);
  STATIC_REQUIRE(!Serializable<std::map<int, Unsupported>>);
  STATIC_REQUIRE(!Serializable<std::tuple<int, Unsupported>>);
  STATIC_REQUIRE(!Serializable<int*>);
  STATIC_REQUIRE(!Serializable<std::string_view>);
  STATIC_REQUIRE(!Serializable<std::span<const int>>);
  STATIC_REQUIRE(!Serializable<std::unique_ptr<int>>);
  STATIC_REQUIRE(Serde<Unsupported>::kUnsupported);
}

TEST_CASE("serde: type_name spells types readably", "[streaming][serde]") {
  CHECK(detail::type_name<int>() == "int");
  CHECK(detail::type_name<std::string>() == "std::string");
  CHECK(detail::type_name<std::vector<std::string>>() == "std::vector<std::string>");
  CHECK(detail::type_name<std::vector<std::vector<int>>>() == "std::vector<std::vector<int>>");
  CHECK(detail::type_name<Point>() == "{anonymous}::Point");
  CHECK(detail::type_name<Row>() == "sluice::Row");
  CHECK(detail::type_name<detail::FlatHashMap<int, int>>() == "sluice::detail::FlatHashMap<int, int>");
}

// ---- pinned bytes --------------------------------------------------------------

TEST_CASE("serde: the encoding of small values is pinned", "[streaming][serde]") {
  CHECK(hex(serialize(std::uint32_t{1})) == "01 00 00 00");
  CHECK(hex(serialize(std::int16_t{-2})) == "fe ff");
  CHECK(hex(serialize(std::int64_t{0x0102030405060708})) == "08 07 06 05 04 03 02 01");
  CHECK(hex(serialize(std::numeric_limits<std::int64_t>::min())) == "00 00 00 00 00 00 00 80");
  CHECK(hex(serialize(true)) == "01");
  CHECK(hex(serialize(false)) == "00");
  CHECK(hex(serialize('A')) == "41");
  CHECK(hex(serialize(1.0)) == "00 00 00 00 00 00 f0 3f");
  CHECK(hex(serialize(-2.0f)) == "00 00 00 c0");
  CHECK(hex(serialize(Color::kBlue)) == "2c 01");
  CHECK(hex(serialize(ValueType::kString)) == "04");
  CHECK(hex(serialize(std::string())) == "00");
  CHECK(hex(serialize(std::string("ab"))) == "02 61 62");
  CHECK(hex(serialize(std::string(300, 'x')).substr(0, 3)) == "ac 02 78");  // 300 = LEB128 ac 02
  CHECK(hex(serialize(std::vector<std::uint8_t>{1, 2})) == "02 01 02");
  CHECK(hex(serialize(std::vector<std::uint16_t>{1, 2})) == "02 01 00 02 00");
  CHECK(hex(serialize(std::vector<bool>{true, false})) == "02 01 00");
  CHECK(hex(serialize(std::optional<std::int32_t>())) == "00");
  CHECK(hex(serialize(std::optional<std::int32_t>(7))) == "01 07 00 00 00");
  CHECK(hex(serialize(std::variant<std::int8_t, std::string>(std::string("a")))) == "01 01 61");
  CHECK(hex(serialize(std::pair<std::uint8_t, bool>(9, true))) == "09 01");
  CHECK(hex(serialize(std::tuple<>())) == "");
  CHECK(hex(serialize(std::array<std::uint8_t, 3>{1, 2, 3})) == "01 02 03");
  CHECK(hex(serialize(std::map<std::uint8_t, std::uint8_t>{{1, 2}, {3, 4}})) == "02 01 02 03 04");
  CHECK(hex(serialize(std::set<std::uint8_t>{5, 1})) == "02 01 05");
  CHECK(hex(serialize(std::chrono::milliseconds(3))) == "03 00 00 00 00 00 00 00");
  CHECK(hex(serialize(Point{1, -1})) == "08 01 00 00 00 ff ff ff ff");
  CHECK(hex(serialize(Bid{"b", 2})) == "01 62 02 00 00 00 00 00 00 00");
  CHECK(hex(serialize(Value())) == "00");
  CHECK(hex(serialize(Value(true))) == "01 01");
  CHECK(hex(serialize(Value(5))) == "02 05 00 00 00 00 00 00 00");
  CHECK(hex(serialize(Value("hi"))) == "04 02 68 69");
  CHECK(hex(serialize(Value::timestamp(1))) == "06 01 00 00 00 00 00 00 00");
  CHECK(hex(serialize(Value(Array{Value(), Value(false)}))) == "07 02 00 01 00");
  CHECK(hex(serialize(Value(Object{{"k", Value()}}))) == "08 01 01 6b 00");
  // Row: non-null schema, 1 field "a" int64 required, 1 value.
  const Row row(Schema::make({{"a", ValueType::kInt64}}), {Value(1)});
  CHECK(hex(serialize(row)) == "01 01 01 61 02 00 01 02 01 00 00 00 00 00 00 00");
  CHECK(hex(serialize(Row())) == "00 00");
}

TEST_CASE("serde: varints are LEB128 at their boundaries", "[streaming][serde]") {
  const std::pair<std::uint64_t, std::string> cases[] = {
      {0, "00"},
      {127, "7f"},
      {128, "80 01"},
      {16383, "ff 7f"},
      {16384, "80 80 01"},
      {std::numeric_limits<std::uint64_t>::max(), "ff ff ff ff ff ff ff ff ff 01"},
  };
  for (const auto& [v, expected] : cases) {
    StateWriter w;
    w.write_varint(v);
    CHECK(hex(w.buffer()) == expected);
    StateReader r(w.buffer());
    CHECK(r.read_varint(ReadContext::of<std::uint64_t>()) == v);
    CHECK(r.at_end());
  }
}

// ---- round trips ---------------------------------------------------------------

TEMPLATE_TEST_CASE("serde: integers round-trip at their limits", "[streaming][serde]", bool, char, signed char,
                   unsigned char, char8_t, char16_t, char32_t, wchar_t, short, unsigned short, int, unsigned int,
                   long, unsigned long, long long, unsigned long long) {
  using L = std::numeric_limits<TestType>;
  for (const TestType v : {L::min(), L::max(), TestType{0}, TestType{1}, static_cast<TestType>(L::max() / 2)}) {
    CHECK(round_trip(v) == v);
    CHECK(serialize(v).size() == sizeof(TestType));
  }
}

TEMPLATE_TEST_CASE("serde: floating point round-trips bit for bit", "[streaming][serde]", float, double) {
  using L = std::numeric_limits<TestType>;
  using Bits = std::conditional_t<sizeof(TestType) == 4, std::uint32_t, std::uint64_t>;
  const TestType values[] = {0,
                             -TestType{0},
                             1,
                             -1,
                             L::min(),
                             L::max(),
                             L::lowest(),
                             L::denorm_min(),
                             L::epsilon(),
                             L::infinity(),
                             -L::infinity(),
                             L::quiet_NaN(),
                             -L::quiet_NaN(),
                             L::signaling_NaN(),
                             std::bit_cast<TestType>(static_cast<Bits>(std::bit_cast<Bits>(L::quiet_NaN()) | 0x5))};
  for (const TestType v : values) {
    INFO(v);
    CHECK(std::bit_cast<Bits>(round_trip(v)) == std::bit_cast<Bits>(v));
  }
}

TEST_CASE("serde: long double round-trips and carries its format", "[streaming][serde]") {
  for (const long double v : {0.0L, -0.0L, 1.0L / 3.0L, std::numeric_limits<long double>::max(),
                              std::numeric_limits<long double>::infinity()}) {
    const long double back = round_trip(v);
    CHECK(std::memcmp(&back, &v, std::numeric_limits<long double>::digits == 64 ? 10 : sizeof v) == 0);
  }
  // Equal values give equal bytes (x87 padding is zeroed).
  CHECK(serialize(1.5L) == serialize(1.5L));
  std::string other = serialize(1.5L);
  other[0] = static_cast<char>(other[0] + 1);  // another mantissa width
  const auto e = error_of<long double>(other);
  CHECK(e.offset() == 0);
  CHECK_THAT(e.what(), Catch::Contains("long double") && Catch::Contains("mantissa digits"));
}

TEST_CASE("serde: enums round-trip through their underlying type", "[streaming][serde]") {
  for (const Color c : {Color::kRed, Color::kGreen, Color::kBlue, static_cast<Color>(12345)}) CHECK(round_trip(c) == c);
  for (int t = 0; t <= static_cast<int>(ValueType::kObject); ++t)
    CHECK(round_trip(static_cast<ValueType>(t)) == static_cast<ValueType>(t));
  for (const ChangeKind k : {ChangeKind::kInsert, ChangeKind::kUpdateBefore, ChangeKind::kUpdateAfter, ChangeKind::kDelete})
    CHECK(round_trip(k) == k);
}

TEST_CASE("serde: strings keep every byte", "[streaming][serde]") {
  CHECK(round_trip(std::string()).empty());
  const std::string nul("a\0b\0", 4);
  CHECK(round_trip(nul) == nul);
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  CHECK(round_trip(all) == all);
  std::string mb(1 << 20, '\0');
  std::mt19937 rng(7);
  for (char& c : mb) c = static_cast<char>(rng());
  CHECK(round_trip(mb) == mb);
  CHECK(serialize(mb).size() == mb.size() + 3);  // 2^20 takes a 3-byte varint
}

TEST_CASE("serde: containers round-trip, empty and nested", "[streaming][serde]") {
  using L = std::numeric_limits<std::int64_t>;
  const std::vector<std::int64_t> ints{L::min(), -1, 0, 1, L::max()};
  CHECK(round_trip(ints) == ints);
  CHECK(round_trip(std::vector<std::int64_t>()).empty());
  const std::vector<double> doubles{0.5, -0.0, std::numeric_limits<double>::infinity()};
  CHECK(round_trip(doubles) == doubles);
  const std::vector<bool> bools{true, false, true, true};
  CHECK(round_trip(bools) == bools);
  const std::vector<std::vector<std::string>> nested{{}, {""}, {"a", std::string("\0", 1)}, {"x", "y", "z"}};
  CHECK(round_trip(nested) == nested);
  const std::map<std::string, std::vector<std::int32_t>> m{{"", {}}, {"a", {1, 2}}, {"b", {-3}}};
  CHECK(round_trip(m) == m);
  CHECK(round_trip(std::map<int, int>()).empty());
  const std::unordered_map<std::int64_t, std::string> um{{1, "one"}, {-2, "minus two"}, {L::max(), ""}};
  CHECK(round_trip(um) == um);
  const std::set<std::string> s{"", "a", "b"};
  CHECK(round_trip(s) == s);
  const std::unordered_set<int> us{1, 2, 3, 100};
  CHECK(round_trip(us) == us);
  const std::map<std::pair<int, std::string>, std::set<int>> deep{{{1, "x"}, {1, 2}}, {{2, ""}, {}}};
  CHECK(round_trip(deep) == deep);
  const std::array<std::int32_t, 3> arr{-1, 0, 1};
  CHECK(round_trip(arr) == arr);
  const std::array<std::string, 2> sarr{"", "x"};
  CHECK(round_trip(sarr) == sarr);
  CHECK(round_trip(std::array<int, 0>()).empty());
  const std::array<NoDefault, 2> nd{NoDefault(1), NoDefault(2)};
  CHECK(round_trip(nd) == nd);
  const std::vector<Bid> bids{{"ann", 5}, {"", L::min()}};
  CHECK(round_trip(bids) == bids);
}

TEST_CASE("serde: optional, pair, tuple, variant, chrono round-trip", "[streaming][serde]") {
  CHECK(round_trip(std::optional<std::string>()) == std::nullopt);
  CHECK(round_trip(std::optional<std::string>("")) == std::optional<std::string>(""));
  CHECK(round_trip(std::optional<std::optional<int>>(std::optional<int>())) ==
        std::optional<std::optional<int>>(std::optional<int>()));
  const std::pair<std::string, double> p{"k", 2.5};
  CHECK(round_trip(p) == p);
  const std::tuple<int, std::string, std::vector<int>, bool> t{-7, "s", {1, 2}, true};
  CHECK(round_trip(t) == t);
  CHECK(round_trip(std::tuple<>()) == std::tuple<>());
  using V = std::variant<std::monostate, std::int64_t, std::string, std::vector<int>>;
  for (const V& v : {V(), V(std::int64_t{-5}), V(std::string("x")), V(std::vector<int>{1, 2})}) {
    const V back = round_trip(v);
    CHECK(back.index() == v.index());
    CHECK(back == v);
  }
  using Same = std::variant<int, int>;  // alternatives of one type are told apart by index
  CHECK(round_trip(Same(std::in_place_index<1>, 4)).index() == 1);
  CHECK(round_trip(std::chrono::microseconds(-12)) == std::chrono::microseconds(-12));
  const auto tp = std::chrono::system_clock::time_point(std::chrono::system_clock::duration(123456789));
  CHECK(round_trip(tp) == tp);
}

TEST_CASE("serde: trivially copyable structs are copied, padding zeroed", "[streaming][serde]") {
  CHECK(round_trip(Point{std::numeric_limits<std::int32_t>::min(), 5}) == (Point{std::numeric_limits<std::int32_t>::min(), 5}));
  CHECK(round_trip(NoKey{}) == NoKey{});
  // Two equal values whose padding bytes differ encode to the same bytes.
  alignas(Padded) unsigned char a[sizeof(Padded)], b[sizeof(Padded)];
  std::memset(a, 0xAA, sizeof a);
  std::memset(b, 0x55, sizeof b);
  auto* pa = new (a) Padded{'x', 1.5};
  auto* pb = new (b) Padded{'x', 1.5};
  CHECK(serialize(*pa) == serialize(*pb));
  CHECK(hex(serialize(*pa)) == "10 78 00 00 00 00 00 00 00 00 00 00 00 00 00 f8 3f");
  CHECK(round_trip(*pa) == *pa);
}

TEST_CASE("serde: FlatHashMap is rebuilt from its entries", "[streaming][serde]") {
  detail::FlatHashMap<std::string, std::uint64_t> m;
  for (int i = 0; i < 1000; ++i) *m.try_emplace("k" + std::to_string(i), std::uint64_t{0}).first = i * 3;
  m.erase("k7");
  const auto back = round_trip(m);
  CHECK(back.size() == m.size());
  m.for_each([&](const std::string& k, std::uint64_t v) {
    const std::uint64_t* got = back.find(k);
    REQUIRE(got != nullptr);
    CHECK(*got == v);
  });
  CHECK(back.find("k7") == nullptr);
  CHECK(round_trip(detail::FlatHashMap<int, int>()).empty());
}

namespace {
SchemaRef every_kind_schema(bool nullable) {
  return Schema::make({{"b", ValueType::kBool, nullable},
                       {"i", ValueType::kInt64, nullable},
                       {"d", ValueType::kDouble, nullable},
                       {"s", ValueType::kString, nullable},
                       {"y", ValueType::kBytes, nullable},
                       {"t", ValueType::kTimestamp, nullable},
                       {"a", ValueType::kArray, nullable},
                       {"o", ValueType::kObject, nullable}});
}
}  // namespace

TEST_CASE("serde: Value round-trips every kind", "[streaming][serde]") {
  using L = std::numeric_limits<std::int64_t>;
  const Value values[] = {
      Value(),
      Value(true),
      Value(false),
      Value(L::min()),
      Value(L::max()),
      Value(-0.0),
      Value(std::numeric_limits<double>::infinity()),
      Value(""),
      Value(std::string("a\0b", 3)),
      Value(Bytes{}),
      Value(Bytes{0, 255, 0}),
      Value::timestamp(L::min()),
      Value::timestamp(kMaxValidTimestamp),
      Value(Array{}),
      Value(Object{}),
      Value(Array{Value(1), Value("x"), Value(Array{Value(), Value(Object{{"k", Value(2.5)}})})}),
      Value(Object{{"", Value()}, {"dup", Value(1)}, {"dup", Value(2)}, {"n", Value(Array{Value(Bytes{1})})}}),
  };
  for (const Value& v : values) {
    INFO(v.to_string());
    const Value back = round_trip(v);
    CHECK(back.type() == v.type());
    CHECK(back == v);
  }
  // NaN is never == itself: compare its bits.
  const double nan = std::bit_cast<double>(std::uint64_t{0x7ff8000000000123});
  CHECK(std::bit_cast<std::uint64_t>(round_trip(Value(nan)).as_double()) == 0x7ff8000000000123);
}

TEST_CASE("serde: Schema and Row round-trip, with every Value kind and nulls", "[streaming][serde]") {
  const SchemaRef schema = every_kind_schema(true);
  CHECK(round_trip(*schema) == *schema);
  CHECK(*round_trip(schema) == *schema);
  CHECK(round_trip(SchemaRef()) == nullptr);

  const Row full(schema, {Value(true), Value(std::numeric_limits<std::int64_t>::min()), Value(-1.5), Value("text"),
                          Value(Bytes{0, 1, 2}), Value::timestamp(1'700'000'000'000'000),
                          Value(Array{Value(1), Value()}), Value(Object{{"k", Value("v")}})});
  CHECK(round_trip(full) == full);
  const Row nulls(schema);
  CHECK(round_trip(nulls) == nulls);
  const Row mixed(schema, {Value(), Value(3), Value(), Value(""), Value(), Value::timestamp(0), Value(), Value()});
  CHECK(round_trip(mixed) == mixed);
  const Row required(every_kind_schema(false), full.values());
  const Row back = round_trip(required);
  CHECK(back == required);
  CHECK_FALSE((*back.schema())[0].nullable);
  CHECK(round_trip(Row()) == Row());
  CHECK(round_trip(Row(Schema::make({}), {})) == Row(Schema::make({}), {}));
  const std::vector<Row> rows{full, nulls, mixed};
  CHECK(round_trip(rows) == rows);
}

TEST_CASE("serde: a writer appends; a reader reads values one after another", "[streaming][serde]") {
  StateWriter w(std::string("HDR"));
  w.write(std::uint32_t{7});
  w.write(std::string("x"));
  w.write(Value(1.5));
  CHECK(w.size() == 3 + 4 + 2 + 9);
  const std::string buf = w.take();
  CHECK(w.size() == 0);
  StateReader r(std::string_view(buf).substr(3));
  CHECK(r.read<std::uint32_t>() == 7);
  CHECK(r.offset() == 4);
  CHECK(r.read<std::string>() == "x");
  CHECK(r.remaining() == 9);
  CHECK(r.read<Value>() == Value(1.5));
  CHECK(r.at_end());
  // From std::byte too.
  const auto* p = reinterpret_cast<const std::byte*>(buf.data());
  StateReader rb(std::span<const std::byte>(p + 3, 4));
  CHECK(rb.read<std::uint32_t>() == 7);
}

TEST_CASE("serde: format version check", "[streaming][serde]") {
  STATIC_REQUIRE(kStateFormatVersion == 1);
  CHECK_NOTHROW(check_state_format_version(1));
  CHECK_THROWS_AS(check_state_format_version(0), StateFormatError);
  try {
    check_state_format_version(2);
    FAIL("no error for version 2");
  } catch (const StateFormatError& e) {
    CHECK_FALSE(e.offset().has_value());
    CHECK_THAT(e.what(), Catch::Contains("version 2 is newer than this build reads (up to 1)"));
  }
}

// ---- bad input -------------------------------------------------------------------

TEST_CASE("serde: input cut off at every byte throws StateFormatError", "[streaming][serde]") {
  const SchemaRef schema = every_kind_schema(true);
  const Row row(schema, {Value(true), Value(1), Value(2.0), Value("s"), Value(Bytes{1}), Value::timestamp(3),
                         Value(Array{Value(Object{{"k", Value("v")}})}), Value()});
  every_cut_throws(row);
  every_cut_throws(std::vector<Row>{row, Row()});
  every_cut_throws(std::tuple<std::map<std::string, std::vector<std::int64_t>>, std::optional<double>, bool>{
      {{"a", {1, 2}}, {"bc", {}}}, 0.5, true});
  every_cut_throws(std::variant<int, std::string>(std::string("xyz")));
  every_cut_throws(std::vector<Bid>{{"a", 1}, {"b", 2}});
  every_cut_throws(Padded{'p', 2.0});
  every_cut_throws(std::array<std::int32_t, 2>{1, 2});
  every_cut_throws(std::uint64_t{1} << 40);
  every_cut_throws(std::string(200, 'z'));  // the 2-byte length cut in the middle too
  detail::FlatHashMap<std::int64_t, std::string> m;
  m.try_emplace(1, "one");
  m.try_emplace(2, "two");
  every_cut_throws(m);
}

TEST_CASE("serde: error messages name what was read and where", "[streaming][serde]") {
  // The second string's length says 5, but only 2 bytes follow.
  std::string b = serialize(std::vector<std::string>{"ab", "cdefg"});
  b.resize(b.size() - 3);
  auto e = error_of<std::vector<std::string>>(b);
  CHECK(e.offset() == 4);
  CHECK(e.what_read() == "length of std::string");
  CHECK(std::string(e.what()) ==
        "state format error at byte 4 reading length of std::string: announces 5 bytes but only 2 bytes remain");

  e = error_of<std::uint32_t>(bytes({1, 2}));
  CHECK(e.offset() == 0);
  CHECK(std::string(e.what()) == "state format error at byte 0 reading unsigned int: needs 4 bytes, 2 remain");

  e = error_of<std::pair<std::int8_t, bool>>(bytes({1, 2}));
  CHECK(e.offset() == 1);
  CHECK(std::string(e.what()) == "state format error at byte 1 reading bool: byte 02 is not a bool (00 or 01)");
}

TEST_CASE("serde: a flipped length prefix is caught", "[streaming][serde]") {
  const std::string good = serialize(std::tuple<std::string, std::uint32_t>{"hello", 9});
  REQUIRE(good[0] == 5);
  for (int len = 0; len < 128; ++len) {
    if (len == 5) continue;
    std::string bad = good;
    bad[0] = static_cast<char>(len);
    INFO("length " << len);
    // Shorter: the rest reads as the uint32 with bytes left over, or the uint32 is cut off.
    // Longer: the string runs past the end.
    CHECK_THROWS_AS((deserialize<std::tuple<std::string, std::uint32_t>>(bad)), StateFormatError);
  }
}

TEST_CASE("serde: a huge length is refused before anything is allocated", "[streaming][serde]") {
  StateWriter w;
  w.write_varint(std::uint64_t{1} << 60);
  const std::string huge = w.buffer() + "abc";
  auto e = error_of<std::string>(huge);
  CHECK(e.offset() == 0);
  CHECK_THAT(e.what(), Catch::Contains("length of std::string") && Catch::Contains("1152921504606846976") &&
                           Catch::Contains("3 bytes remain"));
  e = error_of<std::vector<std::int64_t>>(huge);
  CHECK_THAT(e.what(), Catch::Contains("element count of std::vector<long int>") &&
                           Catch::Contains("(at least 8 bytes each)"));
  CHECK_THROWS_AS(deserialize<std::vector<std::string>>(huge), StateFormatError);
  CHECK_THROWS_AS(deserialize<std::vector<std::tuple<>>>(huge), StateFormatError);
  CHECK_THROWS_AS((deserialize<std::map<std::string, std::string>>(huge)), StateFormatError);
  CHECK_THROWS_AS((deserialize<std::unordered_map<int, int>>(huge)), StateFormatError);
  CHECK_THROWS_AS((deserialize<detail::FlatHashMap<int, int>>(huge)), StateFormatError);
  CHECK_THROWS_AS(deserialize<Value>(bytes({7}) + huge), StateFormatError);   // array
  CHECK_THROWS_AS(deserialize<Value>(bytes({8}) + huge), StateFormatError);   // object
  CHECK_THROWS_AS(deserialize<Schema>(huge), StateFormatError);
  // The largest varint, and ones too long for 64 bits or not in shortest form.
  CHECK_THROWS_AS(deserialize<std::string>(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})),
                  StateFormatError);
  e = error_of<std::string>(bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}));
  CHECK_THAT(e.what(), Catch::Contains("longer than 64 bits"));
  e = error_of<std::string>(bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}));
  CHECK_THAT(e.what(), Catch::Contains("longer than 64 bits"));
  e = error_of<std::string>(bytes({0x80, 0x00}));
  CHECK_THAT(e.what(), Catch::Contains("shortest form"));
  // Zero-byte elements are capped, not trusted.
  CHECK(round_trip(std::vector<std::tuple<>>(1000)).size() == 1000);
}

TEST_CASE("serde: bad tags are refused", "[streaming][serde]") {
  auto e = error_of<bool>(bytes({2}));
  CHECK(e.what_read() == "bool");
  e = error_of<std::optional<int>>(bytes({0xff}));
  CHECK(e.what_read() == "engaged flag of std::optional<int>");
  e = error_of<std::variant<int, std::string>>(bytes({2, 0, 0, 0, 0}));
  CHECK(e.offset() == 0);
  CHECK(std::string(e.what()) ==
        "state format error at byte 0 reading alternative index of std::variant<int, std::string>: index 2, the "
        "variant has 2 alternatives");
  e = error_of<Value>(bytes({9}));
  CHECK(std::string(e.what()) == "state format error at byte 0 reading sluice::ValueType: value 9 is outside [0, 8]");
  e = error_of<std::vector<ChangeKind>>(bytes({2, 3, 4}));
  CHECK(e.offset() == 2);
  CHECK(e.what_read() == "sluice::ChangeKind");
  e = error_of<Value>(bytes({1, 7}));
  CHECK(e.what_read() == "bool of sluice::Value");
  CHECK(e.offset() == 1);
  e = error_of<Field>(bytes({1, 'a', 2, 3}));
  CHECK(e.what_read() == "nullable flag of sluice::Field");
}

TEST_CASE("serde: repeated keys are refused", "[streaming][serde]") {
  const std::string dup = bytes({2, 1, 10, 1, 11});  // {1: 10, 1: 11}
  auto e = error_of<std::map<std::uint8_t, std::uint8_t>>(dup);
  CHECK(e.offset() == 3);
  CHECK_THAT(e.what(), Catch::Contains("repeated key"));
  CHECK_THROWS_AS((deserialize<std::unordered_map<std::uint8_t, std::uint8_t>>(dup)), StateFormatError);
  CHECK_THROWS_AS((deserialize<detail::FlatHashMap<std::uint8_t, std::uint8_t>>(dup)), StateFormatError);
  CHECK_THROWS_AS(deserialize<std::set<std::uint8_t>>(bytes({2, 1, 1})), StateFormatError);
  CHECK_THROWS_AS(deserialize<std::unordered_set<std::uint8_t>>(bytes({2, 1, 1})), StateFormatError);
}

TEST_CASE("serde: trailing bytes are corruption", "[streaming][serde]") {
  const std::string b = serialize(std::string("ab")) + "X";
  const auto e = error_of<std::string>(b);
  CHECK(e.offset() == 3);
  CHECK(std::string(e.what()) ==
        "state format error at byte 3 reading std::string: 1 bytes remain after the value (trailing bytes)");
  CHECK_THROWS_AS(deserialize<std::uint8_t>(bytes({1, 2})), StateFormatError);
  CHECK_THROWS_AS(deserialize<std::tuple<>>(bytes({0})), StateFormatError);
}

TEST_CASE("serde: a trivially copyable struct read with another sizeof is refused", "[streaming][serde]") {
  const std::string small = serialize(Small{42});
  CHECK(hex(small) == "04 2a 00 00 00");
  auto e = error_of<Big>(small);
  CHECK(e.offset() == 0);
  CHECK(std::string(e.what()) == "state format error at byte 0 reading {anonymous}::Big: written with sizeof 4, this "
                                 "build has sizeof 16 (the type's layout changed)");
  e = error_of<Small>(serialize(Big{1, 2}));
  CHECK_THAT(e.what(), Catch::Contains("Small") && Catch::Contains("sizeof 16"));
}

TEST_CASE("serde: rows and schemas that break their invariants are refused", "[streaming][serde]") {
  // A schema with a repeated field name.
  StateWriter w;
  w.write(std::vector<Field>{{"a", ValueType::kInt64}, {"a", ValueType::kString}});
  auto e = error_of<Schema>(w.buffer());
  CHECK(e.what_read() == "sluice::Schema");
  CHECK_THAT(e.what(), Catch::Contains("'a'"));
  // A field of type null.
  CHECK_THROWS_AS(deserialize<Schema>(serialize(std::vector<Field>{{"n", ValueType::kNull}})), StateFormatError);

  // A row whose int64 field holds a string.
  const Row row(Schema::make({{"a", ValueType::kInt64}}), {Value(1)});
  StateWriter rw;
  rw.write(row.schema());
  rw.write_varint(1);
  rw.write(Value("not an int"));
  e = error_of<Row>(rw.buffer());
  CHECK(e.offset() == 0);
  CHECK(e.what_read() == "sluice::Row");
  CHECK_THAT(e.what(), Catch::Contains("field 'a'"));
  // A null in a required field.
  StateWriter nw;
  nw.write(row.schema());
  nw.write_varint(1);
  nw.write(Value());
  CHECK_THROWS_AS(deserialize<Row>(nw.buffer()), StateFormatError);
  // A value count that does not match the schema.
  StateWriter cw;
  cw.write(row.schema());
  cw.write_varint(2);
  cw.write(Value(1));
  cw.write(Value(2));
  e = error_of<Row>(cw.buffer());
  CHECK(e.offset() == 6);
  CHECK_THAT(e.what(), Catch::Contains("2 values for a schema of 1 fields"));
  // A row whose values were taken cannot be written.
  Row taken = row;
  (void)std::move(taken).take_values();
  CHECK_THROWS_AS(serialize(taken), StateFormatError);
}

TEST_CASE("serde: deeply nested values are refused, not a stack overflow", "[streaming][serde]") {
  // 100,000 nested one-element arrays: read refuses beyond kMaxValueNestingDepth.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += bytes({7, 1});
  deep += bytes({0});
  const auto e = error_of<Value>(deep);
  CHECK(e.offset() == 2 * static_cast<std::size_t>(kMaxValueNestingDepth) + 1);
  CHECK_THAT(e.what(), Catch::Contains("nested deeper than 512 levels"));

  // Writing refuses what reading would refuse; the limit itself round-trips.
  const auto nest = [](int levels) {
    Value v(1);
    for (int i = 0; i < levels; ++i) v = Value(Array{std::move(v)});
    return v;
  };
  const Value ok = nest(kMaxValueNestingDepth);
  CHECK(round_trip(ok) == ok);
  CHECK_THROWS_AS(serialize(nest(kMaxValueNestingDepth + 1)), StateFormatError);
}

TEST_CASE("serde: random corruption throws StateFormatError or reads something, never crashes", "[streaming][serde]") {
  const SchemaRef schema = every_kind_schema(true);
  using State = std::tuple<std::vector<Row>, std::map<std::string, std::variant<std::int64_t, std::string>>,
                           std::optional<std::vector<double>>>;
  const State state{
      {Row(schema, {Value(true), Value(1), Value(2.0), Value("s"), Value(Bytes{1}), Value::timestamp(3),
                    Value(Array{Value(Object{{"k", Value("v")}})}), Value()}),
       Row(schema)},
      {{"a", std::int64_t{1}}, {"b", std::string("bee")}},
      std::vector<double>{1.5, -2.5}};
  const std::string good = serialize(state);
  std::mt19937_64 rng(2024);
  int refused = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      const std::size_t at = rng() % bad.size();
      switch (rng() % 3) {
        case 0: bad[at] = static_cast<char>(rng()); break;
        case 1: bad[at] = static_cast<char>(bad[at] ^ (1 << (rng() % 8))); break;
        default: bad.resize(at); break;
      }
      if (bad.empty()) break;
    }
    try {
      (void)deserialize<State>(bad);
    } catch (const StateFormatError&) {
      ++refused;
    }
  }
  CHECK(refused > 2500);  // most corruption is detected; the rest decodes to other valid state
}
