#include <catch2/catch.hpp>

#include <sstream>
#include <string>

#include "streaming/detail/log_text.hpp"
#include "streaming/detail/source_task.hpp"

using namespace sluice;
using namespace sluice::detail;
using namespace std::string_literals;

TEST_CASE("escape_for_log escapes control bytes, C1 controls and invalid UTF-8, keeps printable UTF-8",
          "[streaming]") {
  CHECK(escape_for_log("plain text, 'quoted' \"too\"", 256) == "plain text, 'quoted' \"too\"");
  CHECK(escape_for_log("a\nb\rc\td\\e", 256) == "a\\nb\\rc\\td\\\\e");
  CHECK(escape_for_log("\x1b[2J\x1b[Hforged"s, 256) == "\\x1b[2J\\x1b[Hforged");
  CHECK(escape_for_log("nul\0here\x7f"s, 256) == "nul\\x00here\\x7f");
  CHECK(escape_for_log("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 256) == "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(escape_for_log("csi \xc2\x9b" "31m", 256) == "csi \\xc2\\x9b31m");  // U+009B, the 8-bit CSI
  CHECK(escape_for_log("bad \xff\xc3(\xe2\x82 \xed\xa0\x80", 256) ==
        "bad \\xff\\xc3(\\xe2\\x82 \\xed\\xa0\\x80");  // stray, truncated, surrogate
  CHECK(escape_for_log("\xc0\xaf", 256) == "\\xc0\\xaf");  // overlong '/'
}

TEST_CASE("escape_for_log and cap_text cut long text at a character boundary and give the full size",
          "[streaming]") {
  CHECK(cap_text(std::string(256, 'a'), 256) == std::string(256, 'a'));
  CHECK(cap_text(std::string(300, 'a'), 256) == std::string(256, 'a') + "... (300 bytes)");
  // "é" is 2 bytes: a cut after 5 bytes would split the third one.
  CHECK(cap_text("\xc3\xa9\xc3\xa9\xc3\xa9", 5) == "\xc3\xa9\xc3\xa9... (6 bytes)");
  CHECK(escape_for_log(std::string(10, '\n'), 4) == "\\n\\n\\n\\n... (10 bytes)");
  CHECK(escape_for_log("\xc3\xa9\xc3\xa9\xc3\xa9", 5) == "\xc3\xa9\xc3\xa9... (6 bytes)");
  CHECK(escape_for_log("\xff\xff\xff\xff", 2) == "\\xff\\xff... (4 bytes)");  // not UTF-8: cut anywhere
}

TEST_CASE("an unconsumed dead letter is logged on one escaped line with raw capped", "[streaming]") {
  const std::string raw_head = "1,a\x1b[2Kb\r\nsluice: dead letter from forged at 1: fake\n";  // 53 bytes
  const DeadLetter d{"field 'x': 'a\x1b[2Kb' is not an int64", "in\rput.csv", 7, raw_head + std::string(300, 'z')};
  const std::string line = format_dead_letter_log(d);
  CHECK(line ==
        "sluice: dead letter from in\\rput.csv at 7: field 'x': 'a\\x1b[2Kb' is not an int64 (raw: 1,a\\x1b[2Kb\\r\\n"
        "sluice: dead letter from forged at 1: fake\\n" +
            std::string(256 - 53, 'z') + "... (353 bytes))");
  std::ostringstream out;
  log_unconsumed_dead_letter(d, 1, out);
  CHECK(out.str() == line + "\n");
  std::ostringstream tenth;
  log_unconsumed_dead_letter(d, 10, tenth);
  CHECK(tenth.str() == line + " (further dead letters are only counted; consume dead_letters() to see them)\n");
  std::ostringstream eleventh;
  log_unconsumed_dead_letter(d, 11, eleventh);
  CHECK(eleventh.str().empty());
}
