#include <catch2/catch.hpp>

#include <sstream>

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
                       {"note", ValueType::kString, true}});
}

}  // namespace

TEST_CASE("Schema keeps fields in order and finds them", "[streaming]") {
  const SchemaRef s = cards();
  REQUIRE(s->size() == 3);
  CHECK((*s)[0] == Field{"card_id", ValueType::kString, false});
  CHECK(s->at(2).nullable);
  CHECK_FALSE((*s)[1].nullable);  // default: not nullable
  CHECK_THROWS_AS(s->at(3), std::out_of_range);
  CHECK(s->index_of("card_id") == std::size_t{0});
  CHECK(s->index_of("note") == std::size_t{2});
  CHECK_FALSE(s->index_of("Note").has_value());  // case-sensitive
  CHECK_FALSE(s->index_of("").has_value());
  CHECK(s->field_names() == "card_id, amount, note");
  CHECK(s->to_string() == "(card_id: string, amount: double, note: string?)");
  std::size_t n = 0;
  for (const Field& f : *s) n += f.name.size();
  CHECK(n == 17);
}

TEST_CASE("Schema::require resolves or throws naming operator and field", "[streaming]") {
  const SchemaRef s = cards();
  CHECK(s->require("amount", "sum") == 1);
  CHECK(s->require("amount", ValueType::kDouble, "sum") == 1);
  CHECK(thrown_message<UnknownFieldError>([&] { s->require("amout", "parse_cards"); }) ==
        "parse_cards: field 'amout': no such field in schema (card_id, amount, note)");
  CHECK(thrown_message<UnknownFieldError>([&] { s->require("x", ValueType::kInt64, "f"); }) ==
        "f: field 'x': no such field in schema (card_id, amount, note)");
  CHECK(thrown_message<TypeMismatchError>([&] { s->require("card_id", ValueType::kDouble, "sum"); }) ==
        "sum: field 'card_id': expected double, schema has string");
  try {
    s->require("amout", "parse_cards");
  } catch (const UnknownFieldError& e) {
    CHECK(e.operator_name() == "parse_cards");
    CHECK(e.field() == "amout");
  }
}

TEST_CASE("Schema rejects duplicate, empty and null-typed fields", "[streaming]") {
  CHECK(thrown_message<GraphError>([] {
          Schema::make({{"a", ValueType::kInt64}, {"b", ValueType::kInt64}, {"a", ValueType::kString}});
        }) == "schema: field 'a': duplicate field name in schema");
  CHECK(thrown_message<GraphError>([] { Schema({{"", ValueType::kInt64}}, "src"); }) ==
        "src: field #0 has an empty name");
  CHECK(thrown_message<GraphError>([] { Schema::make({{"n", ValueType::kNull}}); }) ==
        "schema: field 'n': type null is not a field type (use nullable = true)");
  CHECK(Schema::make({})->size() == 0);
}

TEST_CASE("Schema equality is structural", "[streaming]") {
  CHECK(*cards() == *cards());
  CHECK_FALSE(*cards() == *Schema::make({{"card_id", ValueType::kString}}));
  CHECK_FALSE(*Schema::make({{"a", ValueType::kInt64}}) ==
              *Schema::make({{"a", ValueType::kInt64, true}}));
}

TEST_CASE("Row holds values by position", "[streaming]") {
  const Row row(cards(), {"c1", 12.5, nullptr});
  REQUIRE(row.size() == 3);
  CHECK(row[0] == Value("c1"));
  CHECK(row.at(1).as_double() == 12.5);
  CHECK(row[2].is_null());
  CHECK_THROWS_AS(row.at(3), std::out_of_range);
  CHECK(row.get("amount") == Value(12.5));
  CHECK(thrown_message<UnknownFieldError>([&] { row.get("amt"); }) ==
        "Row::get: field 'amt': no such field in schema (card_id, amount, note)");
  CHECK(row.schema()->size() == 3);
  CHECK(row.values().size() == 3);
  CHECK(row.to_string() == R"({card_id: "c1", amount: 12.5, note: null})");
  std::ostringstream os;
  os << row;
  CHECK(os.str() == row.to_string());
}

TEST_CASE("Row construction checks arity, types and nullability", "[streaming]") {
  CHECK(thrown_message<GraphError>([] { Row(cards(), {"c1", 1.0}); }) ==
        "Row: expected 3 values, got 2");
  CHECK(thrown_message<TypeMismatchError>([] { Row(cards(), {"c1", 1, nullptr}); }) ==
        "Row: field 'amount': expected double, got int64");
  CHECK(thrown_message<TypeMismatchError>([] { Row(cards(), {nullptr, 1.0, nullptr}); }) ==
        "Row: field 'card_id': null in a non-nullable field");
  CHECK(thrown_message<GraphError>([] { Row(nullptr, {}); }) == "Row: schema is null");
  CHECK(thrown_message<TypeMismatchError>([] { Row r(cards()); }) ==
        "Row: field 'card_id': null in a non-nullable field");

  const SchemaRef all_null = Schema::make({{"a", ValueType::kInt64, true}, {"b", ValueType::kArray, true}});
  const Row empty(all_null);
  CHECK(empty[0].is_null());
  CHECK(empty[1].is_null());
  CHECK(Row(Schema::make({}), {}).size() == 0);
}

TEST_CASE("Row::set keeps the invariant", "[streaming]") {
  Row row(cards(), {"c1", 12.5, nullptr});
  row.set(2, "hello");
  CHECK(row[2] == Value("hello"));
  row.set(2, nullptr);
  CHECK(row[2].is_null());
  CHECK(thrown_message<TypeMismatchError>([&] { row.set(1, "x"); }) ==
        "Row::set: field 'amount': expected double, got string");
  CHECK(thrown_message<TypeMismatchError>([&] { row.set(0, Value()); }) ==
        "Row::set: field 'card_id': null in a non-nullable field");
  CHECK_THROWS_AS(row.set(3, 1.0), std::out_of_range);
  CHECK(row[1] == Value(12.5));  // unchanged after the failures
}

TEST_CASE("Row equality compares schemas structurally and values exactly", "[streaming]") {
  const SchemaRef s = cards();
  const Row a(s, {"c1", 12.5, nullptr});
  CHECK(a == Row(s, {"c1", 12.5, nullptr}));
  CHECK(a == Row(cards(), {"c1", 12.5, nullptr}));  // distinct but equal schema
  CHECK(a != Row(s, {"c1", 12.5, "n"}));
  const SchemaRef other = Schema::make({{"card_id", ValueType::kString},
                                        {"amount", ValueType::kDouble},
                                        {"memo", ValueType::kString, true}});
  CHECK(a != Row(other, {"c1", 12.5, nullptr}));
  CHECK(Row() == Row());
  CHECK(Row() != a);
  CHECK(Row().to_string() == "{}");
}

TEST_CASE("Row::unchecked and take_values", "[streaming]") {
  const SchemaRef s = cards();
  Row r = Row::unchecked(s, {"c1", 1.0, nullptr});
  CHECK(r == Row(s, {"c1", 1.0, nullptr}));
  std::vector<Value> vals = std::move(r).take_values();
  CHECK(vals.size() == 3);
  CHECK(vals[0] == Value("c1"));
}

TEST_CASE("RowParseResult success and failure", "[streaming]") {
  const auto ok = RowParseResult::success(Row(cards(), {"c", 1.0, nullptr}));
  CHECK(ok.ok());
  CHECK(static_cast<bool>(ok));
  CHECK(ok.error.empty());
  const auto bad = RowParseResult::failure("missing field 'x'");
  CHECK_FALSE(bad.ok());
  CHECK_FALSE(bad.row.has_value());
  CHECK(bad.error == "missing field 'x'");
}
