#include <catch2/catch.hpp>

#include "streaming/errors.hpp"
#include "streaming/time.hpp"

using namespace sluice;

TEST_CASE("ManualClock only moves forward", "[streaming]") {
  ManualClock clock(100);
  CHECK(clock.now_us() == 100);
  clock.advance(50);
  CHECK(clock.now_us() == 150);
  clock.set(120);  // earlier: ignored
  CHECK(clock.now_us() == 150);
}

TEST_CASE("to_us converts chrono durations", "[streaming]") {
  using namespace std::chrono_literals;
  CHECK(to_us(5s) == 5'000'000);
  CHECK(to_us(3ms) == 3'000);
}

TEST_CASE("GraphError names operator and field", "[streaming]") {
  UnknownFieldError e("parse_cards", "amount", "no such field in schema (card_id, merchant)");
  CHECK(std::string(e.what()) == "parse_cards: field 'amount': no such field in schema (card_id, merchant)");
  CHECK(e.operator_name() == "parse_cards");
  CHECK(e.field() == "amount");
}
