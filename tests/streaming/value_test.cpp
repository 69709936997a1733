#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "streaming/errors.hpp"
#include "streaming/value.hpp"

using namespace sluice;

TEST_CASE("ValueType names", "[streaming]") {
  CHECK(to_string(ValueType::kNull) == "null");
  CHECK(to_string(ValueType::kBool) == "bool");
  CHECK(to_string(ValueType::kInt64) == "int64");
  CHECK(to_string(ValueType::kDouble) == "double");
  CHECK(to_string(ValueType::kString) == "string");
  CHECK(to_string(ValueType::kBytes) == "bytes");
  CHECK(to_string(ValueType::kTimestamp) == "timestamp");
  CHECK(to_string(ValueType::kArray) == "array");
  CHECK(to_string(ValueType::kObject) == "object");
  std::ostringstream os;
  os << ValueType::kDouble;
  CHECK(os.str() == "double");
}

TEST_CASE("Value constructors pick the expected type", "[streaming]") {
  CHECK(Value().type() == ValueType::kNull);
  CHECK(Value().is_null());
  CHECK(Value(nullptr).is_null());
  CHECK(Value(true).type() == ValueType::kBool);
  CHECK(Value(42).type() == ValueType::kInt64);
  CHECK(Value(std::int64_t{42}).type() == ValueType::kInt64);
  CHECK(Value(std::uint32_t{42}).type() == ValueType::kInt64);
  CHECK(Value(static_cast<short>(-3)).type() == ValueType::kInt64);
  CHECK(Value(2.5).type() == ValueType::kDouble);
  CHECK(Value(2.5f).type() == ValueType::kDouble);
  CHECK(Value("lit").type() == ValueType::kString);  // not bool
  CHECK(Value(std::string("s")).type() == ValueType::kString);
  CHECK(Value(std::string_view("sv")).type() == ValueType::kString);
  CHECK(Value(Bytes{1, 2}).type() == ValueType::kBytes);
  CHECK(Value::timestamp(5).type() == ValueType::kTimestamp);
  CHECK(Value(Array{1, "a"}).type() == ValueType::kArray);
  CHECK(Value(Object{{"k", 1}}).type() == ValueType::kObject);
  CHECK(Value(Array{}).is(ValueType::kArray));
  CHECK_FALSE(Value(Array{}).is(ValueType::kObject));
}

TEST_CASE("Value accessors return the stored value", "[streaming]") {
  CHECK(Value(true).as_bool() == true);
  CHECK(Value(false).as_bool() == false);
  CHECK(Value(-7).as_int64() == -7);
  CHECK(Value(std::numeric_limits<std::int64_t>::max()).as_int64() ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(Value(std::numeric_limits<std::int64_t>::min()).as_int64() ==
        std::numeric_limits<std::int64_t>::min());
  CHECK(Value(-1.5e300).as_double() == -1.5e300);
  CHECK(Value("héllo ✓").as_string() == "héllo ✓");
  CHECK(Value(Bytes{0, 255}).as_bytes() == Bytes{0, 255});
  CHECK(Value::timestamp(-1).as_timestamp() == -1);
  CHECK(Value(Array{1, 2}).as_array().size() == 2);
  CHECK(Value(Object{{"a", 1}, {"b", "x"}}).as_object()[1].first == "b");

  Value arr(Array{1});
  arr.as_array().push_back(2);
  CHECK(arr == Value(Array{1, 2}));
  Value obj(Object{});
  obj.as_object().emplace_back("k", true);
  CHECK(obj == Value(Object{{"k", true}}));
}

TEST_CASE("Value wrong-type access throws TypeMismatchError", "[streaming]") {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const TypeMismatchError& e) {
      return std::string(e.what());
    }
    return std::string("no throw");
  };
  CHECK(message([] { Value(1).as_double(); }) ==
        "Value: as_double() called on a value of type int64");
  CHECK(message([] { Value(1.0).as_int64(); }) ==
        "Value: as_int64() called on a value of type double");
  CHECK(message([] { Value::timestamp(1).as_int64(); }) ==
        "Value: as_int64() called on a value of type timestamp");
  CHECK(message([] { Value(1).as_timestamp(); }) ==
        "Value: as_timestamp() called on a value of type int64");
  CHECK(message([] { Value().as_bool(); }) == "Value: as_bool() called on a value of type null");
  CHECK(message([] { Value(true).as_string(); }) ==
        "Value: as_string() called on a value of type bool");
  CHECK(message([] { Value("x").as_bytes(); }) ==
        "Value: as_bytes() called on a value of type string");
  CHECK(message([] { Value(Object{}).as_array(); }) ==
        "Value: as_array() called on a value of type object");
  CHECK(message([] { Value(Array{}).as_object(); }) ==
        "Value: as_object() called on a value of type array");
  CHECK(message([] { Value(Bytes{}).find("a"); }) ==
        "Value: find() called on a value of type bytes");
  Value v(1);
  CHECK_THROWS_AS(v.as_array(), TypeMismatchError);  // non-const overload
  CHECK_THROWS_AS(v.as_object(), TypeMismatchError);
}

TEST_CASE("Value::find looks up object members in order", "[streaming]") {
  const Value obj(Object{{"a", 1}, {"b", 2}, {"a", 3}});
  REQUIRE(obj.find("a") != nullptr);
  CHECK(*obj.find("a") == Value(1));  // first wins
  CHECK(*obj.find("b") == Value(2));
  CHECK(obj.find("c") == nullptr);
  CHECK(Value(Object{}).find("") == nullptr);
}

TEST_CASE("Value equality is exact and type-strict", "[streaming]") {
  CHECK(Value() == Value(nullptr));
  CHECK(Value(1) == Value(1));
  CHECK(Value(1) != Value(2));
  CHECK(Value(1) != Value(1.0));          // int64 vs double
  CHECK(Value(1) != Value::timestamp(1));  // int64 vs timestamp
  CHECK(Value(true) != Value(1));
  CHECK(Value("a") != Value(Bytes{'a'}));
  CHECK(Value(0.0) == Value(-0.0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(Value(nan) != Value(nan));
  CHECK(Value(Array{1, Array{2, "x"}}) == Value(Array{1, Array{2, "x"}}));
  CHECK(Value(Array{1, 2}) != Value(Array{2, 1}));
  CHECK(Value(Object{{"a", 1}, {"b", 2}}) != Value(Object{{"b", 2}, {"a", 1}}));  // ordered
  CHECK(Value() != Value(Array{}));
}

TEST_CASE("Value hash agrees with equality", "[streaming]") {
  CHECK(Value(1).hash() == Value(1).hash());
  CHECK(Value(0.0).hash() == Value(-0.0).hash());
  CHECK(Value("abc").hash() == Value(std::string("abc")).hash());
  CHECK(Value(Object{{"a", Array{1}}}).hash() == Value(Object{{"a", Array{1}}}).hash());
  // Different types with the same payload should not collide.
  CHECK(Value(1).hash() != Value::timestamp(1).hash());
  std::unordered_set<Value> set{Value(1), Value("1"), Value(1.0), Value(1)};
  CHECK(set.size() == 3);
}

TEST_CASE("Value::to_string renders every type", "[streaming]") {
  CHECK(Value().to_string() == "null");
  CHECK(Value(true).to_string() == "true");
  CHECK(Value(false).to_string() == "false");
  CHECK(Value(-42).to_string() == "-42");
  CHECK(Value(std::numeric_limits<std::int64_t>::min()).to_string() == "-9223372036854775808");
  CHECK(Value(4.0).to_string() == "4.0");
  CHECK(Value(0.1).to_string() == "0.1");
  CHECK(Value(-2.5e-300).to_string() == "-2.5e-300");
  CHECK(Value(1e300).to_string() == "1e+300");
  CHECK(Value(std::numeric_limits<double>::infinity()).to_string() == "inf");
  CHECK(Value("a\"b\\c\n\x01").to_string() == R"("a\"b\\c\n\u0001")");
  CHECK(Value("ünï").to_string() == "\"ünï\"");
  CHECK(Value(Bytes{0, 1}).to_string() == "b64\"AAE=\"");
  CHECK(Value::timestamp(0).to_string() == "@1970-01-01T00:00:00.000000Z");
  CHECK(Value::timestamp(std::numeric_limits<std::int64_t>::max()).to_string() ==
        "@9223372036854775807us");
  CHECK(Value(Array{}).to_string() == "[]");
  CHECK(Value(Array{1, "a", Array{nullptr}}).to_string() == R"([1, "a", [null]])");
  CHECK(Value(Object{}).to_string() == "{}");
  CHECK(Value(Object{{"k", 1.5}, {"q\"", Object{}}}).to_string() == R"({"k": 1.5, "q\"": {}})");
  std::ostringstream os;
  os << Value(7);
  CHECK(os.str() == "7");
}

TEST_CASE("Value copies are independent", "[streaming]") {
  Value a(Array{1, "x"});
  Value b = a;
  b.as_array().push_back(3);
  CHECK(a.as_array().size() == 2);
  CHECK(b.as_array().size() == 3);
  Value s("text");
  Value moved = std::move(s);
  CHECK(moved.as_string() == "text");
}

TEST_CASE("parse_iso8601_utc accepts valid timestamps", "[streaming]") {
  CHECK(parse_iso8601_utc("1970-01-01T00:00:00Z") == Timestamp{0});
  CHECK(parse_iso8601_utc("2026-11-23T10:15:30.123Z") == Timestamp{1795428930123000});
  CHECK(parse_iso8601_utc("2026-11-23T10:15:30Z") == Timestamp{1795428930000000});
  CHECK(parse_iso8601_utc("2026-11-23T10:15:30.1Z") == Timestamp{1795428930100000});
  CHECK(parse_iso8601_utc("2026-11-23T10:15:30.123456Z") == Timestamp{1795428930123456});
  CHECK(parse_iso8601_utc("2026-11-23T10:15:30.123456789Z") == Timestamp{1795428930123456});
  CHECK(parse_iso8601_utc("1969-12-31T23:59:59.999999Z") == Timestamp{-1});
  CHECK(parse_iso8601_utc("2024-02-29T00:00:00Z") == Timestamp{1709164800000000});
  CHECK(parse_iso8601_utc("2000-02-29T00:00:00Z") == Timestamp{951782400000000});
  CHECK(parse_iso8601_utc("2026-11-23T12:15:30.123+02:00") == Timestamp{1795428930123000});
  CHECK(parse_iso8601_utc("2026-11-23T05:15:30.123-05:00") == Timestamp{1795428930123000});
  CHECK(parse_iso8601_utc("0000-01-01T00:00:00Z") == Timestamp{-62167219200000000});
  CHECK(parse_iso8601_utc("9999-12-31T23:59:59.999999Z") == Timestamp{253402300799999999});
}

TEST_CASE("parse_iso8601_utc rejects malformed timestamps", "[streaming]") {
  for (const char* bad : {
           "",
           "2026-11-23",
           "2026-11-23T10:15:30",        // no zone
           "2026-11-23 10:15:30Z",       // space separator
           "2026-11-23t10:15:30Z",       // lower-case t
           "2026-13-01T00:00:00Z",       // month 13
           "2026-00-01T00:00:00Z",       // month 0
           "2026-02-29T00:00:00Z",       // not a leap year
           "1900-02-29T00:00:00Z",       // century, not leap
           "2026-04-31T00:00:00Z",       // April has 30 days
           "2026-11-23T24:00:00Z",       // hour 24
           "2026-11-23T10:60:00Z",       // minute 60
           "2026-11-23T10:15:60Z",       // leap second
           "2026-11-23T10:15:30.Z",      // empty fraction
           "2026-11-23T10:15:30.1234567890Z",  // 10 fraction digits
           "2026-11-23T10:15:30Zx",      // trailing garbage
           "2026-11-23T10:15:30+0200",   // offset without colon
           "2026-1-23T10:15:30Z",        // one-digit month
           "+2026-11-23T10:15:30Z",
           "abc",
       }) {
    INFO(bad);
    CHECK_FALSE(parse_iso8601_utc(bad).has_value());
  }
}

TEST_CASE("format_iso8601_utc always writes microseconds and round-trips", "[streaming]") {
  CHECK(format_iso8601_utc(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(format_iso8601_utc(1795428930123000) == "2026-11-23T10:15:30.123000Z");
  CHECK(format_iso8601_utc(-1) == "1969-12-31T23:59:59.999999Z");
  CHECK(format_iso8601_utc(-62167219200000000) == "0000-01-01T00:00:00.000000Z");
  CHECK(format_iso8601_utc(253402300799999999) == "9999-12-31T23:59:59.999999Z");
  CHECK_FALSE(format_iso8601_utc(253402300800000000).has_value());
  CHECK_FALSE(format_iso8601_utc(-62167219200000001).has_value());
  CHECK_FALSE(format_iso8601_utc(std::numeric_limits<std::int64_t>::min()).has_value());
  for (Timestamp ts : {Timestamp{0}, Timestamp{1}, Timestamp{-1}, Timestamp{951782400000001},
                       Timestamp{-123456789012345}, Timestamp{253402300799999999}}) {
    INFO(ts);
    CHECK(parse_iso8601_utc(*format_iso8601_utc(ts)) == ts);
  }
}

TEST_CASE("base64 encodes and decodes", "[streaming]") {
  auto bytes = [](std::string_view s) { return Bytes(s.begin(), s.end()); };
  CHECK(to_base64({}) == "");
  CHECK(to_base64(bytes("f")) == "Zg==");
  CHECK(to_base64(bytes("fo")) == "Zm8=");
  CHECK(to_base64(bytes("foo")) == "Zm9v");
  CHECK(to_base64(bytes("foobar")) == "Zm9vYmFy");
  CHECK(to_base64(Bytes{0xfb, 0xff}) == "+/8=");
  CHECK(from_base64("") == Bytes{});
  CHECK(from_base64("Zg==") == bytes("f"));
  CHECK(from_base64("Zm8=") == bytes("fo"));
  CHECK(from_base64("Zm9vYmFy") == bytes("foobar"));
  CHECK(from_base64("+/8=") == Bytes{0xfb, 0xff});
  CHECK_FALSE(from_base64("Zg=").has_value());     // bad length
  CHECK_FALSE(from_base64("Z===").has_value());    // too much padding
  CHECK_FALSE(from_base64("Zg=a").has_value());    // padding in the middle
  CHECK_FALSE(from_base64("Zg==Zg==").has_value());  // padding before the end
  CHECK_FALSE(from_base64("Zm9*").has_value());    // bad character
  CHECK_FALSE(from_base64("Zm9 ").has_value());
}
