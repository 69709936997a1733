#include "checkpoint/detail/crc32c.hpp"

#include <array>
#include <cstring>

namespace sluice::detail {
namespace {

constexpr std::uint32_t kPoly = 0x82f63b78;  // CRC-32C, reflected

// Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<std::uint32_t, 256>, 8> make_tables() {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  return t;
}
constexpr auto kTables = make_tables();

std::uint32_t portable_raw(std::uint32_t c, const unsigned char* p, std::size_t n) {
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);  // little-endian host assumed (x86-64, aarch64)
    v ^= c;
    c = kTables[7][v & 0xff] ^ kTables[6][(v >> 8) & 0xff] ^ kTables[5][(v >> 16) & 0xff] ^
        kTables[4][(v >> 24) & 0xff] ^ kTables[3][(v >> 32) & 0xff] ^ kTables[2][(v >> 40) & 0xff] ^
        kTables[1][(v >> 48) & 0xff] ^ kTables[0][v >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t sse42_raw(std::uint32_t c, const unsigned char* p, std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = __builtin_ia32_crc32di(c64, v);
    p += 8;
    n -= 8;
  }
  c = static_cast<std::uint32_t>(c64);
  while (n--) c = __builtin_ia32_crc32qi(c, *p++);
  return c;
}
using RawFn = std::uint32_t (*)(std::uint32_t, const unsigned char*, std::size_t);
RawFn choose_raw() {
  __builtin_cpu_init();  // may run before the constructor that would do it
  return __builtin_cpu_supports("sse4.2") ? sse42_raw : portable_raw;
}
const RawFn kRaw = choose_raw();
#else
constexpr auto kRaw = portable_raw;
#endif

}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
  return ~kRaw(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::uint32_t crc32c_portable(std::string_view data, std::uint32_t crc) {
  return ~portable_raw(~crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

}  // namespace sluice::detail
