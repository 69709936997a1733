#include <catch2/catch.hpp>

#include <limits>

#include "connectors/json_row.hpp"
#include "streaming/row.hpp"
#include "streaming/schema.hpp"

using namespace sluice;

namespace {

SchemaRef all_types() {
  return Schema::make({{"b", ValueType::kBool},
                       {"i", ValueType::kInt64},
                       {"d", ValueType::kDouble},
                       {"s", ValueType::kString},
                       {"y", ValueType::kBytes},
                       {"t", ValueType::kTimestamp},
                       {"a", ValueType::kArray},
                       {"o", ValueType::kObject}});
}

SchemaRef one(ValueType type, bool nullable = false) {
  return Schema::make({{"x", type, nullable}});
}

// The error of a parse that must fail.
std::string error_of(std::string_view line, const SchemaRef& schema) {
  const RowParseResult r = parse_json_row(line, schema);
  CHECK_FALSE(r.ok());
  return r.error;
}

// The single value of a parse that must succeed on schema `one(...)`.
Value value_of(std::string_view line, const SchemaRef& schema) {
  const RowParseResult r = parse_json_row(line, schema);
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.error.empty());
  return (*r.row)[0];
}

}  // namespace

TEST_CASE("parse_json_row reads every type", "[connectors]") {
  const SchemaRef s = all_types();
  const RowParseResult r = parse_json_row(
      R"({"b":true,"i":-42,"d":2.5,"s":"héllo","y":"AAH/","t":"2026-11-23T10:15:30.123Z",)"
      R"("a":[1,"two",null,[3.5]],"o":{"z":1,"a":{"k":false}}})",
      s);
  INFO(r.error);
  REQUIRE(r.ok());
  const Row expected(s, {true, -42, 2.5, "héllo", Bytes{0, 1, 255},
                         Value::timestamp(1795428930123000),
                         Array{1, "two", nullptr, Array{3.5}},
                         Object{{"z", 1}, {"a", Object{{"k", false}}}}});
  CHECK(*r.row == expected);
  // Object member order is the input order, not sorted.
  CHECK((*r.row)[7].as_object()[0].first == "z");
}

TEST_CASE("parse_json_row scalar edge cases", "[connectors]") {
  CHECK(value_of(R"({"x":false})", one(ValueType::kBool)) == Value(false));
  CHECK(value_of(R"({"x":9223372036854775807})", one(ValueType::kInt64)) ==
        Value(std::numeric_limits<std::int64_t>::max()));
  CHECK(value_of(R"({"x":-9223372036854775808})", one(ValueType::kInt64)) ==
        Value(std::numeric_limits<std::int64_t>::min()));
  CHECK(value_of(R"({"x":0})", one(ValueType::kInt64)) == Value(0));
  CHECK(value_of(R"({"x":-1.5e-7})", one(ValueType::kDouble)) == Value(-1.5e-7));
  CHECK(value_of(R"({"x":6.02E23})", one(ValueType::kDouble)) == Value(6.02e23));
  CHECK(value_of(R"({"x":7})", one(ValueType::kDouble)) == Value(7.0));  // int widened
  CHECK(value_of(R"({"x":-3})", one(ValueType::kDouble)) == Value(-3.0));
  CHECK(value_of(R"({"x":18446744073709551615})", one(ValueType::kDouble)) ==
        Value(18446744073709551615.0));
  CHECK(value_of(R"({"x":""})", one(ValueType::kString)) == Value(""));
  CHECK(value_of(R"({"x":"\u00e9\ud83d\ude00 \"q\" \\ \n"})", one(ValueType::kString)) ==
        Value("é😀 \"q\" \\ \n"));
  CHECK(value_of(R"({"x":"日本語"})", one(ValueType::kString)) == Value("日本語"));
  CHECK(value_of(R"({"x":""})", one(ValueType::kBytes)) == Value(Bytes{}));
  CHECK(value_of(R"({"x":1795428930123456})", one(ValueType::kTimestamp)) ==
        Value::timestamp(1795428930123456));
  CHECK(value_of(R"({"x":-5})", one(ValueType::kTimestamp)) == Value::timestamp(-5));
  CHECK(value_of(R"({"x":"2026-11-23T12:15:30+02:00"})", one(ValueType::kTimestamp)) ==
        Value::timestamp(1795428930000000));
  CHECK(value_of(R"({"x":[]})", one(ValueType::kArray)) == Value(Array{}));
  CHECK(value_of(R"({"x":{}})", one(ValueType::kObject)) == Value(Object{}));
  CHECK(value_of(R"({"x":[{"n":[]}]})", one(ValueType::kArray)) ==
        Value(Array{Object{{"n", Array{}}}}));
}

TEST_CASE("parse_json_row: nulls, missing and extra fields", "[connectors]") {
  const SchemaRef s = Schema::make({{"id", ValueType::kString},
                                    {"amount", ValueType::kDouble, true},
                                    {"tags", ValueType::kArray, true}});
  auto r = parse_json_row(R"({"id":"c1"})", s);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c1", nullptr, nullptr}));

  r = parse_json_row(R"({"id":"c1","amount":null,"tags":null,"extra":{"deep":[1]},"more":1})", s);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c1", nullptr, nullptr}));

  // Whitespace, member order and a trailing CR/LF do not matter.
  r = parse_json_row(" {\"amount\" : 3 ,\n \"id\":\"c2\"}\r\n", s);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c2", 3.0, nullptr}));

  // A repeated member: the last one wins.
  r = parse_json_row(R"({"id":"first","id":"last"})", s);
  REQUIRE(r.ok());
  CHECK((*r.row)[0] == Value("last"));

  CHECK(error_of(R"({"amount":1})", s) == "missing field 'id'");
  CHECK(error_of(R"({})", s) == "missing field 'id'");
  CHECK(error_of(R"({"id":null})", s) == "field 'id': expected string, got null");
}

TEST_CASE("parse_json_row: empty schema and empty object", "[connectors]") {
  const SchemaRef empty = Schema::make({});
  auto r = parse_json_row("{}", empty);
  REQUIRE(r.ok());
  CHECK(r.row->size() == 0);
  r = parse_json_row(R"({"anything":1})", empty);
  REQUIRE(r.ok());
  CHECK(row_to_json(*r.row) == "{}");
}

TEST_CASE("parse_json_row: invalid JSON names the error and offset", "[connectors]") {
  const SchemaRef s = one(ValueType::kInt64);
  CHECK(error_of("", s) ==
        "invalid JSON at offset 0: syntax error while parsing value - unexpected end of input; "
        "expected '[', '{', or a literal");
  CHECK(error_of("   ", s) ==
        "invalid JSON at offset 3: syntax error while parsing value - unexpected end of input; "
        "expected '[', '{', or a literal");
  CHECK(error_of("{", s) ==
        "invalid JSON at offset 1: syntax error while parsing object key - unexpected end of "
        "input; expected string literal");
  CHECK(error_of(R"({"x":1,})", s) ==
        "invalid JSON at offset 7: syntax error while parsing object key - unexpected '}'; "
        "expected string literal");
  CHECK(error_of(R"({"x": tru})", s) ==
        "invalid JSON at offset 9: syntax error while parsing value - invalid literal; last "
        "read: '\"x\": tru}'");
  CHECK(error_of(R"({"x":1} x)", s) ==
        "invalid JSON at offset 8: syntax error while parsing value - invalid literal; last "
        "read: '1} x'; expected end of input");
  CHECK(error_of(R"({"x":1e400})", s) ==
        "invalid JSON at offset 9: number overflow parsing '1e400'");
  CHECK(error_of("{\"x\":\"\xff\"}", s).rfind(
            "invalid JSON at offset 6: syntax error while parsing value - invalid string: "
            "ill-formed UTF-8 byte",
            0) == 0);
  CHECK(error_of(R"({"x":NaN})", s).rfind("invalid JSON at offset 5:", 0) == 0);
}

TEST_CASE("parse_json_row: top level must be an object", "[connectors]") {
  const SchemaRef s = one(ValueType::kInt64);
  CHECK(error_of("[1,2]", s) == "expected a JSON object, got array");
  CHECK(error_of("42", s) == "expected a JSON object, got int64");
  CHECK(error_of("\"x\"", s) == "expected a JSON object, got string");
  CHECK(error_of("null", s) == "expected a JSON object, got null");
}

TEST_CASE("parse_json_row: wrong types name field, expected and actual", "[connectors]") {
  CHECK(error_of(R"({"x":"12.5"})", one(ValueType::kDouble)) ==
        "field 'x': expected double, got string");
  CHECK(error_of(R"({"x":1.0})", one(ValueType::kInt64)) ==
        "field 'x': expected int64, got double");
  CHECK(error_of(R"({"x":true})", one(ValueType::kInt64)) ==
        "field 'x': expected int64, got bool");
  CHECK(error_of(R"({"x":1})", one(ValueType::kBool)) == "field 'x': expected bool, got int64");
  CHECK(error_of(R"({"x":5})", one(ValueType::kString)) ==
        "field 'x': expected string, got int64");
  CHECK(error_of(R"({"x":[1]})", one(ValueType::kString)) ==
        "field 'x': expected string, got array");
  CHECK(error_of(R"({"x":{}})", one(ValueType::kArray)) ==
        "field 'x': expected array, got object");
  CHECK(error_of(R"({"x":[]})", one(ValueType::kObject)) ==
        "field 'x': expected object, got array");
  CHECK(error_of(R"({"x":1.5})", one(ValueType::kTimestamp)) ==
        "field 'x': expected timestamp, got double");
  CHECK(error_of(R"({"x":[1]})", one(ValueType::kBytes)) ==
        "field 'x': expected bytes, got array");
  CHECK(error_of(R"({"x":null})", one(ValueType::kBool)) ==
        "field 'x': expected bool, got null");
}

TEST_CASE("parse_json_row: out-of-range integers, bad timestamps, bad base64", "[connectors]") {
  CHECK(error_of(R"({"x":9223372036854775808})", one(ValueType::kInt64)) ==
        "field 'x': 9223372036854775808 is out of range for int64");
  // Integers beyond uint64 (or below int64) are read as doubles by the
  // parser; they are still integers in the text, so out of range, not a double.
  CHECK(error_of(R"({"x":99999999999999999999})", one(ValueType::kInt64)) ==
        "field 'x': 99999999999999999999 is out of range for int64");
  CHECK(error_of(R"({"x":-9223372036854775809})", one(ValueType::kInt64)) ==
        "field 'x': -9223372036854775809 is out of range for int64");
  CHECK(error_of(R"({"x":[1,18446744073709551615]})", one(ValueType::kArray)) ==
        "field 'x': 18446744073709551615 is out of range for int64");
  CHECK(error_of(R"({"x":9223372036854775808})", one(ValueType::kTimestamp)) ==
        "field 'x': 9223372036854775808 is out of range for int64");
  CHECK(error_of(R"({"x":"2026-13-01T00:00:00Z"})", one(ValueType::kTimestamp)) ==
        "field 'x': '2026-13-01T00:00:00Z' is not an ISO-8601 UTC timestamp");
  CHECK(error_of(R"({"x":"yesterday"})", one(ValueType::kTimestamp)) ==
        "field 'x': 'yesterday' is not an ISO-8601 UTC timestamp");
  CHECK(error_of(R"({"x":"2026-11-23T10:15:30"})", one(ValueType::kTimestamp)) ==
        "field 'x': '2026-11-23T10:15:30' is not an ISO-8601 UTC timestamp");
  CHECK(error_of(R"({"x":"not base64!"})", one(ValueType::kBytes)) ==
        "field 'x': 'not base64!' is not valid base64");
  const std::string long_text(100, 'z');
  CHECK(error_of(R"({"x":")" + long_text + R"("})", one(ValueType::kTimestamp)) ==
        "field 'x': '" + std::string(64, 'z') + "...' is not an ISO-8601 UTC timestamp");
  // The first failing field (in schema order) is reported.
  const SchemaRef two = Schema::make({{"a", ValueType::kInt64}, {"b", ValueType::kInt64}});
  CHECK(error_of(R"({"b":"x","a":"y"})", two) == "field 'a': expected int64, got string");
  CHECK(error_of(R"({"b":"x"})", two) == "missing field 'a'");
}

TEST_CASE("parse_json_row: integers beyond 64 bits are out of range, not doubles", "[connectors]") {
  const SchemaRef qty = Schema::make({{"qty", ValueType::kInt64}});
  CHECK(error_of(R"({"qty":18446744073709551616})", qty) ==
        "field 'qty': 18446744073709551616 is out of range for int64");  // 2^64
  CHECK(error_of(R"({"qty": -9223372036854775809 })", qty) ==
        "field 'qty': -9223372036854775809 is out of range for int64");  // -2^63-1
  CHECK(error_of(R"({"qty":18446744073709551616})", Schema::make({{"qty", ValueType::kTimestamp}})) ==
        "field 'qty': 18446744073709551616 is out of range for int64");
  // The literal reported is that of the member read (the last one when a name
  // repeats), not one of a nested member of the same name.
  CHECK(error_of(R"({"o":{"qty":-99999999999999999999},"qty":1.5})", qty) ==
        "field 'qty': expected int64, got double");
  CHECK(error_of(R"({"o":{"qty":5},"qty":1,"qty":-99999999999999999999})", qty) ==
        "field 'qty': -99999999999999999999 is out of range for int64");
  // Long literals are cut like other excerpts.
  CHECK(error_of(R"({"qty":)" + std::string(100, '7') + "}", qty) ==
        "field 'qty': " + std::string(64, '7') + "... is out of range for int64");
  // Written as a fraction or with an exponent it is a double, whatever its value.
  CHECK(error_of(R"({"qty":1e19})", qty) == "field 'qty': expected int64, got double");
  CHECK(error_of(R"({"qty":18446744073709551616.0})", qty) == "field 'qty': expected int64, got double");
  CHECK(value_of(R"({"x":-9223372036854775808})", one(ValueType::kInt64)).as_int64() ==
        std::numeric_limits<std::int64_t>::min());
}

TEST_CASE("parse_json_row: a NUL byte anywhere makes the line invalid, naming its offset", "[connectors]") {
  using namespace std::string_literals;
  const SchemaRef s = one(ValueType::kInt64);
  // nlohmann's lexer takes NUL as end of input: without the check the first
  // object was accepted and the rest of the line ignored.
  CHECK(error_of("{\"x\":1}\0{\"x\":2}"s, s) == "invalid JSON at offset 7: NUL byte");
  CHECK(error_of("{\"x\":1}\0"s, s) == "invalid JSON at offset 7: NUL byte");
  CHECK(error_of("\0{\"x\":1}"s, s) == "invalid JSON at offset 0: NUL byte");
  CHECK(error_of("{\"x\":1 \0}"s, s) == "invalid JSON at offset 7: NUL byte");
  CHECK(error_of("{\"x\":1, \"s\":\"a\0b\"}"s, s) == "invalid JSON at offset 14: NUL byte");
  // The first NUL is reported.
  CHECK(error_of("{\"x\":1}  \0\0"s, s) == "invalid JSON at offset 9: NUL byte");
  // Schema-less values (CSV array/object cells) too.
  const ValueParseResult v = parse_json_value("[1]\0[2]"s);
  CHECK_FALSE(v.ok());
  CHECK(v.error == "invalid JSON at offset 3: NUL byte");
}

TEST_CASE("parse_json_row without a schema fails cleanly", "[connectors]") {
  CHECK(error_of("{}", nullptr) == "no schema");
}

TEST_CASE("row_to_json writes every type compactly", "[connectors]") {
  const SchemaRef s = all_types();
  const Row row(s, {false, std::numeric_limits<std::int64_t>::min(), 1e300, "q\"é\n",
                    Bytes{0xfb, 0xff}, Value::timestamp(1795428930123000),
                    Array{1, 1.0, nullptr, "s", Value::timestamp(0), Bytes{1}},
                    Object{{"z", Object{}}, {"a", Array{}}}});
  CHECK(row_to_json(row) ==
        R"({"b":false,"i":-9223372036854775808,"d":1e+300,"s":"q\"é\n","y":"+/8=",)"
        R"("t":"2026-11-23T10:15:30.123000Z",)"
        R"("a":[1,1.0,null,"s","1970-01-01T00:00:00.000000Z","AQ=="],"o":{"z":{},"a":[]}})");
}

TEST_CASE("row_to_json: nulls, far timestamps, non-finite doubles, bad UTF-8", "[connectors]") {
  const SchemaRef s = Schema::make({{"n", ValueType::kString, true},
                                    {"t", ValueType::kTimestamp},
                                    {"d", ValueType::kDouble},
                                    {"s", ValueType::kString}});
  CHECK(row_to_json(Row(s, {nullptr, Value::timestamp(std::numeric_limits<std::int64_t>::max()),
                            std::numeric_limits<double>::infinity(), "a\xff"})) ==
        "{\"n\":null,\"t\":9223372036854775807,\"d\":null,\"s\":\"a\xef\xbf\xbd\"}");
  CHECK(row_to_json(Row()) == "{}");
}

TEST_CASE("JSON -> Row -> JSON round trip", "[connectors]") {
  const SchemaRef s = Schema::make({{"card_id", ValueType::kString},
                                    {"amount", ValueType::kDouble},
                                    {"count", ValueType::kInt64},
                                    {"ok", ValueType::kBool},
                                    {"raw", ValueType::kBytes},
                                    {"ts", ValueType::kTimestamp},
                                    {"far", ValueType::kTimestamp},
                                    {"tags", ValueType::kArray},
                                    {"meta", ValueType::kObject},
                                    {"note", ValueType::kString, true}});
  const std::string line =
      R"({"card_id":"c-1 ✓","amount":-0.1,"count":9223372036854775807,"ok":true,)"
      R"("raw":"AAEC","ts":"2026-11-23T10:15:30.123456Z","far":-4611686018427387904,)"  // the earliest valid
      R"("tags":["a",1,2.5,null,[],{}],"meta":{"z":1,"a":{"b":[true]}},"note":null})";
  const RowParseResult first = parse_json_row(line, s);
  INFO(first.error);
  REQUIRE(first.ok());
  const std::string written = row_to_json(*first.row);
  CHECK(written == line);  // canonical input: byte-identical
  const RowParseResult second = parse_json_row(written, s);
  REQUIRE(second.ok());
  CHECK(*second.row == *first.row);

  // Non-canonical input (int for double, ms timestamp, µs integer) is normalised once.
  const SchemaRef t = Schema::make({{"d", ValueType::kDouble}, {"ts", ValueType::kTimestamp}});
  const RowParseResult loose = parse_json_row(R"({"ts":1000001,"d":3})", t);
  REQUIRE(loose.ok());
  CHECK(row_to_json(*loose.row) == R"({"d":3.0,"ts":"1970-01-01T00:00:01.000001Z"})");
  CHECK(*parse_json_row(row_to_json(*loose.row), t).row == *loose.row);
}

TEST_CASE("parse_json_value and value_to_json", "[connectors]") {
  auto r = parse_json_value(R"([1,{"b":null},"s",-2.5e3])");
  REQUIRE(r.ok());
  CHECK(*r.value == Value(Array{1, Object{{"b", nullptr}}, "s", -2500.0}));
  CHECK(value_to_json(*r.value) == R"([1,{"b":null},"s",-2500.0])");
  r = parse_json_value("true");
  REQUIRE(r.ok());
  CHECK(*r.value == Value(true));
  r = parse_json_value("[1,");
  CHECK_FALSE(r.ok());
  CHECK(r.error ==
        "invalid JSON at offset 3: syntax error while parsing value - unexpected end of input; "
        "expected '[', '{', or a literal");
  r = parse_json_value("18446744073709551615");
  CHECK_FALSE(r.ok());
  CHECK(r.error == "18446744073709551615 is out of range for int64");
  CHECK(value_to_json(Value()) == "null");
  CHECK(value_to_json(Value::timestamp(0)) == R"("1970-01-01T00:00:00.000000Z")");
}

TEST_CASE("parse_json_row caps nesting depth instead of overflowing the stack", "[connectors]") {
  const SchemaRef s = Schema::make({{"x", ValueType::kArray}});
  auto nested = [](int depth) {
    return "{\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  };
  CHECK(parse_json_row(nested(129), s).ok());
  CHECK(error_of(nested(130), s) == "field 'x': nested deeper than 128 levels");
  CHECK(error_of(nested(100000), s) == "field 'x': nested deeper than 128 levels");
}

TEST_CASE("JSON row reader: a timestamp value outside ±2^62 is refused, naming the value and the range",
          "[connectors]") {
  const SchemaRef s = Schema::make({{"t", ValueType::kTimestamp}});
  CHECK(parse_json_row(R"({"t":-9223372036854775808})", s).error ==
        "field 't': timestamp out of range: -9223372036854775808 is outside the valid range "
        "[-4611686018427387904, 4611686018427387904] (µs, ±2^62)");
  CHECK(parse_json_row(R"({"t":4611686018427387905})", s).error ==
        "field 't': timestamp out of range: 4611686018427387905 is outside the valid range "
        "[-4611686018427387904, 4611686018427387904] (µs, ±2^62)");
  CHECK(parse_json_row(R"({"t":4611686018427387904})", s).ok());
}
