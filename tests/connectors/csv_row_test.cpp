#include <catch2/catch.hpp>

#include <limits>

#include "connectors/csv_row.hpp"
#include "streaming/errors.hpp"
#include "streaming/row.hpp"
#include "streaming/schema.hpp"
#include "support/thrown.hpp"

using namespace sluice;

using sluice::testing::thrown_message;

namespace {

SchemaRef cards() {
  return Schema::make({{"card_id", ValueType::kString},
                       {"amount", ValueType::kDouble},
                       {"count", ValueType::kInt64, true}});
}

SchemaRef one(ValueType type, bool nullable = false) {
  return Schema::make({{"x", type, nullable}});
}

std::string error_of(std::string_view line, const SchemaRef& schema,
                     const CsvOptions& options = {}) {
  const RowParseResult r = parse_csv_row(line, schema, options);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.row.has_value());
  return r.error;
}

Value value_of(std::string_view line, const SchemaRef& schema) {
  const RowParseResult r = parse_csv_row(line, schema);
  INFO(r.error);
  REQUIRE(r.ok());
  return (*r.row)[0];
}

}  // namespace

TEST_CASE("parse_csv_row reads a simple line", "[connectors]") {
  const SchemaRef s = cards();
  const RowParseResult r = parse_csv_row("c1,12.5,3", s);
  REQUIRE(r.ok());
  CHECK(r.error.empty());
  CHECK(*r.row == Row(s, {"c1", 12.5, 3}));
}

TEST_CASE("parse_csv_row reads every type", "[connectors]") {
  const SchemaRef s = Schema::make({{"b", ValueType::kBool},
                                    {"i", ValueType::kInt64},
                                    {"d", ValueType::kDouble},
                                    {"s", ValueType::kString},
                                    {"y", ValueType::kBytes},
                                    {"t", ValueType::kTimestamp},
                                    {"a", ValueType::kArray},
                                    {"o", ValueType::kObject}});
  const RowParseResult r = parse_csv_row(
      R"(true,-42,2.5e3,héllo ✓,AAH/,2026-11-23T10:15:30.123Z,"[1,""a""]","{""k"":{}}")", s);
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {true, -42, 2500.0, "héllo ✓", Bytes{0, 1, 255},
                          Value::timestamp(1795428930123000), Array{1, "a"},
                          Object{{"k", Object{}}}}));
}

TEST_CASE("parse_csv_row scalar edge cases", "[connectors]") {
  CHECK(value_of("TRUE", one(ValueType::kBool)) == Value(true));
  CHECK(value_of("False", one(ValueType::kBool)) == Value(false));
  CHECK(value_of("1", one(ValueType::kBool)) == Value(true));
  CHECK(value_of("0", one(ValueType::kBool)) == Value(false));
  CHECK(value_of("9223372036854775807", one(ValueType::kInt64)) ==
        Value(std::numeric_limits<std::int64_t>::max()));
  CHECK(value_of("-9223372036854775808", one(ValueType::kInt64)) ==
        Value(std::numeric_limits<std::int64_t>::min()));
  CHECK(value_of("+7", one(ValueType::kInt64)) == Value(7));
  CHECK(value_of("007", one(ValueType::kInt64)) == Value(7));
  CHECK(value_of("-0.5", one(ValueType::kDouble)) == Value(-0.5));
  CHECK(value_of("1E-3", one(ValueType::kDouble)) == Value(0.001));
  CHECK(value_of("+6.02e23", one(ValueType::kDouble)) == Value(6.02e23));
  CHECK(value_of("12", one(ValueType::kDouble)) == Value(12.0));
  CHECK(value_of(".5", one(ValueType::kDouble)) == Value(0.5));
  CHECK(value_of("1795428930123456", one(ValueType::kTimestamp)) ==
        Value::timestamp(1795428930123456));
  CHECK(value_of("-1", one(ValueType::kTimestamp)) == Value::timestamp(-1));
  CHECK(value_of("1970-01-01T00:00:00.000001Z", one(ValueType::kTimestamp)) ==
        Value::timestamp(1));
  CHECK(value_of("[]", one(ValueType::kArray)) == Value(Array{}));
  CHECK(value_of("{}", one(ValueType::kObject)) == Value(Object{}));
  CHECK(value_of(" padded ", one(ValueType::kString)) == Value(" padded "));  // not trimmed
  CHECK(value_of("日本語", one(ValueType::kString)) == Value("日本語"));
}

TEST_CASE("parse_csv_row RFC 4180 quoting", "[connectors]") {
  const SchemaRef s = Schema::make({{"a", ValueType::kString}, {"b", ValueType::kString}});
  auto row = [&](std::string_view line) {
    const RowParseResult r = parse_csv_row(line, s);
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.row;
  };
  CHECK(row(R"("x,y","z")") == Row(s, {"x,y", "z"}));
  CHECK(row(R"("say ""hi""",plain)") == Row(s, {"say \"hi\"", "plain"}));
  CHECK(row(R"("""",",")") == Row(s, {"\"", ","}));
  CHECK(row(R"("",x)") == Row(s, {"", "x"}));  // quoted empty string
  CHECK(row("a,b\r") == Row(s, {"a", "b"}));    // CRLF file
  CHECK(row("\"a\r\",b") == Row(s, {"a\r", "b"}));
  CHECK(row(R"("  spaced  ",'single')") == Row(s, {"  spaced  ", "'single'"}));
}

TEST_CASE("parse_csv_row with another delimiter", "[connectors]") {
  const SchemaRef s = cards();
  const CsvOptions semicolon{.delimiter = ';'};
  RowParseResult r = parse_csv_row("c1;1,5e2;", s, semicolon);
  INFO(r.error);
  CHECK_FALSE(r.ok());
  CHECK(r.error == "field 'amount': '1,5e2' is not a double");
  r = parse_csv_row(R"("c;1";150;7)", s, semicolon);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c;1", 150.0, 7}));
  r = parse_csv_row("c1\t2\t", s, CsvOptions{.delimiter = '\t'});
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c1", 2.0, nullptr}));
  CHECK(error_of("a\"b", s, CsvOptions{.delimiter = '"'}) == "invalid delimiter");
  CHECK(error_of("a", s, CsvOptions{.delimiter = '\n'}) == "invalid delimiter");
}

TEST_CASE("parse_csv_row null and empty handling", "[connectors]") {
  const SchemaRef s = Schema::make({{"s", ValueType::kString, true},
                                    {"i", ValueType::kInt64, true},
                                    {"q", ValueType::kString}});
  RowParseResult r = parse_csv_row(R"(,,"")", s);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {nullptr, nullptr, ""}));
  r = parse_csv_row(R"("","",x)", s);  // quoted empty: string "" but int null
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"", nullptr, "x"}));
  CHECK(error_of("a,1,", s) == "field 'q': empty");
  CHECK(error_of("", one(ValueType::kInt64)) == "field 'x': empty");
  CHECK(error_of(R"("")", one(ValueType::kInt64)) == "field 'x': empty");
  CHECK(value_of("", one(ValueType::kInt64, true)) == Value());
  CHECK(value_of("", one(ValueType::kTimestamp, true)) == Value());
  CHECK(value_of(R"("")", one(ValueType::kString)) == Value(""));
}

TEST_CASE("parse_csv_row field count errors", "[connectors]") {
  const SchemaRef s = cards();
  CHECK(error_of("c1,12.5", s) == "expected 3 fields, got 2");
  CHECK(error_of("c1,12.5,3,extra", s) == "expected 3 fields, got 4");
  CHECK(error_of("c1,12.5,3,", s) == "expected 3 fields, got 4");  // trailing delimiter
  CHECK(error_of("", s) == "expected 3 fields, got 1");
  CHECK(error_of(R"("a,b,c")", s) == "expected 3 fields, got 1");
  CHECK(error_of("", Schema::make({})) == "expected 0 fields, got 1");  // an empty line is one cell
}

TEST_CASE("parse_csv_row quoting errors give the offset", "[connectors]") {
  const SchemaRef s = Schema::make({{"a", ValueType::kString}, {"b", ValueType::kString}});
  CHECK(error_of(R"(x,"open)", s) == "unterminated quoted field starting at offset 2");
  CHECK(parse_csv_row(R"("a""",b)", s).ok());
  CHECK(error_of(R"("ab"c,d)", s) == "unexpected character after closing quote at offset 4");
  CHECK(error_of(R"(ab"c,d)", s) == "unexpected quote in unquoted field at offset 2");
  CHECK(error_of(R"(a,b")", s) == "unexpected quote in unquoted field at offset 3");
  CHECK(error_of(R"(a,"b"")", s) == "unterminated quoted field starting at offset 2");
}

TEST_CASE("parse_csv_row conversion errors name the field and text", "[connectors]") {
  CHECK(error_of("abc", one(ValueType::kDouble)) == "field 'x': 'abc' is not a double");
  CHECK(error_of("1.5.2", one(ValueType::kDouble)) == "field 'x': '1.5.2' is not a double");
  CHECK(error_of(" 1.5", one(ValueType::kDouble)) == "field 'x': ' 1.5' is not a double");
  CHECK(error_of("0x10", one(ValueType::kDouble)) == "field 'x': '0x10' is not a double");
  CHECK(error_of("nan", one(ValueType::kDouble)) == "field 'x': 'nan' is not a finite double");
  CHECK(error_of("-inf", one(ValueType::kDouble)) == "field 'x': '-inf' is not a finite double");
  CHECK(error_of("1e999", one(ValueType::kDouble)) ==
        "field 'x': '1e999' is out of range for double");
  CHECK(error_of("12.0", one(ValueType::kInt64)) == "field 'x': '12.0' is not an int64");
  CHECK(error_of("1e3", one(ValueType::kInt64)) == "field 'x': '1e3' is not an int64");
  CHECK(error_of("+-1", one(ValueType::kInt64)) == "field 'x': '+-1' is not an int64");
  CHECK(error_of("-", one(ValueType::kInt64)) == "field 'x': '-' is not an int64");
  CHECK(error_of("9223372036854775808", one(ValueType::kInt64)) ==
        "field 'x': '9223372036854775808' is out of range for int64");
  CHECK(error_of("-9223372036854775809", one(ValueType::kInt64)) ==
        "field 'x': '-9223372036854775809' is out of range for int64");
  CHECK(error_of("18446744073709551616", one(ValueType::kInt64)) ==
        "field 'x': '18446744073709551616' is out of range for int64");
  CHECK(error_of("18446744073709551616", one(ValueType::kTimestamp)) ==
        "field 'x': '18446744073709551616' is out of range for int64");
  CHECK(error_of("-9223372036854775809", one(ValueType::kTimestamp)) ==
        "field 'x': '-9223372036854775809' is out of range for int64");
  CHECK(error_of("yes", one(ValueType::kBool)) == "field 'x': 'yes' is not a bool");
  CHECK(error_of("2", one(ValueType::kBool)) == "field 'x': '2' is not a bool");
  CHECK(error_of("2026-02-30T00:00:00Z", one(ValueType::kTimestamp)) ==
        "field 'x': '2026-02-30T00:00:00Z' is not a timestamp (integer µs or ISO-8601 UTC)");
  CHECK(error_of("1.5", one(ValueType::kTimestamp)) ==
        "field 'x': '1.5' is not a timestamp (integer µs or ISO-8601 UTC)");
  CHECK(error_of("@@", one(ValueType::kBytes)) == "field 'x': '@@' is not valid base64");
  CHECK(error_of("{}", one(ValueType::kArray)) == "field 'x': expected array, got object");
  CHECK(error_of(R"("[1,")", one(ValueType::kArray)) ==
        "field 'x': invalid JSON at offset 3: syntax error while parsing value - unexpected "
        "end of input; expected '[', '{', or a literal");
  CHECK(error_of("3", one(ValueType::kObject)) == "field 'x': expected object, got int64");
  const std::string long_text(80, '9');
  CHECK(error_of(long_text, one(ValueType::kInt64)) ==
        "field 'x': '" + std::string(64, '9') + "...' is out of range for int64");
  // The first bad cell (in column order) is reported.
  CHECK(error_of("c1,abc,x", cards()) == "field 'amount': 'abc' is not a double");
}

TEST_CASE("parse_csv_header splits and unquotes names", "[connectors]") {
  CHECK(parse_csv_header("card_id,amount,count") ==
        std::vector<std::string>{"card_id", "amount", "count"});
  CHECK(parse_csv_header(R"("card id","a,""b""")") ==
        std::vector<std::string>{"card id", "a,\"b\""});
  CHECK(parse_csv_header("\xEF\xBB\xBF" "a;b\r", ';') == std::vector<std::string>{"a", "b"});
  CHECK(parse_csv_header("") == std::vector<std::string>{""});
  CHECK(thrown_message<ConfigError>([] { parse_csv_header(R"(a,"b)"); }) ==
        "csv: malformed header: unterminated quoted field starting at offset 2");
  CHECK(thrown_message<ConfigError>([] { parse_csv_header("a", '"'); }) ==
        "csv: invalid delimiter (must not be '\"', CR or LF)");
}

TEST_CASE("check_csv_header maps columns to fields", "[connectors]") {
  const SchemaRef s = cards();
  CHECK(check_csv_header({"card_id", "amount", "count"}, *s, "read_cards") ==
        std::vector<std::size_t>{0, 1, 2});
  const std::vector<std::size_t> reordered = check_csv_header({"amount", "card_id"}, *s, "op");
  CHECK(reordered == std::vector<std::size_t>{1, 0});

  // The mapping drives parse_csv_row: columns in file order, missing nullable field null.
  const RowParseResult r = parse_csv_row("12.5,c1", s, CsvOptions{.columns = reordered});
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(*r.row == Row(s, {"c1", 12.5, nullptr}));
  CHECK(error_of("12.5,c1,3", s, CsvOptions{.columns = reordered}) == "expected 2 fields, got 3");
  CHECK(error_of("1,2", s, CsvOptions{.columns = {0, 7}}) ==
        "column mapping position 7 is out of range");
}

TEST_CASE("check_csv_header rejects unknown, duplicate and missing columns", "[connectors]") {
  const SchemaRef s = cards();
  CHECK(thrown_message<UnknownFieldError>([&] { check_csv_header({"card_id", "amout"}, *s, "read_cards"); }) ==
        "read_cards: field 'amout': CSV column not in schema (card_id, amount, count)");
  try {
    check_csv_header({"card_id", "amout"}, *s, "read_cards");
  } catch (const UnknownFieldError& e) {
    CHECK(e.field() == "amout");
    CHECK(e.operator_name() == "read_cards");
  }
  CHECK(thrown_message<GraphError>([&] { check_csv_header({"card_id", "amount", "card_id"}, *s, "op"); }) ==
        "op: field 'card_id': CSV header names this column twice");
  CHECK(thrown_message<GraphError>([&] { check_csv_header({"card_id", "count"}, *s, "op"); }) ==
        "op: field 'amount': non-nullable field missing from CSV header (card_id, count)");
}

TEST_CASE("csv_record_continues: only a line ending inside a quoted field continues", "[connectors][csv]") {
  CHECK_FALSE(csv_record_continues("a,b,c", ',', false));
  CHECK_FALSE(csv_record_continues("", ',', false));
  CHECK(csv_record_continues("a,\"b", ',', false));
  CHECK(csv_record_continues("a,\"b,c\r", ',', false));          // the CR is inside the field
  CHECK_FALSE(csv_record_continues("a,\"b\"\r", ',', false));    // closed, CRLF
  CHECK(csv_record_continues("a,\"b\"\"", ',', false));          // "" is a quote: still open
  CHECK_FALSE(csv_record_continues("a,\"b\"\"\"", ',', false));  // closed after the quote
  CHECK_FALSE(csv_record_continues("a,b\"c", ',', false));       // stray quote: an error, ends the record
  CHECK_FALSE(csv_record_continues("a,\"b\"x,\"", ',', false));  // error after a closing quote
  CHECK(csv_record_continues("a;\"b", ';', false));
  CHECK_FALSE(csv_record_continues("a;b\";\"", ';', false));
  // Lines after the first start inside the open field.
  CHECK(csv_record_continues("more text, still quoted", ',', true));
  CHECK_FALSE(csv_record_continues("end\",1,2", ',', true));
  CHECK(csv_record_continues("end\",1,\"again", ',', true));
  CHECK(csv_record_continues("", ',', true));
}
