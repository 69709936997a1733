#include <catch2/catch.hpp>

#include <string>

#include "checkpoint/detail/crc32c.hpp"
#include "store_support.hpp"

using namespace sluice::detail;
using namespace std::string_literals;

TEST_CASE("crc32c gives the published check values", "[checkpoint]") {
  CHECK(crc32c("") == 0u);
  CHECK(crc32c("123456789") == 0xe3069283u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8a9136aau);  // RFC 3720 B.4
  CHECK(crc32c(std::string(32, '\xff')) == 0x62a8ab43u);
  CHECK(crc32c_portable("123456789") == 0xe3069283u);
}

TEST_CASE("crc32c: the hardware and table paths agree at every length and alignment, and extend", "[checkpoint]") {
  const std::string data = sluice::testing::random_bytes(4096 + 17, 7);
  for (std::size_t off = 0; off < 9; ++off)
    for (std::size_t len : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 1000u, 4096u}) {
      const std::string_view s = std::string_view(data).substr(off, len);
      INFO("offset " << off << " length " << len);
      CHECK(crc32c(s) == crc32c_portable(s));
    }
  const std::string_view all(data);
  CHECK(crc32c(all.substr(1000), crc32c(all.substr(0, 1000))) == crc32c(all));
  CHECK(crc32c_portable(all.substr(3), crc32c_portable(all.substr(0, 3))) == crc32c(all));
}
