// CRC-32C (Castagnoli), the checksum of checkpoint payloads and manifests.
//
// RocksDB does not install its own crc32c header, so the store carries this
// one: SSE4.2's crc32 instruction when the CPU has it (chosen once, at run
// time), a table-driven loop otherwise. Both give the same values.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::detail {

/// CRC-32C of `data` continued from `crc` (the CRC of the bytes before it; 0
/// for none), so crc32c(b, crc32c(a)) == crc32c(a + b).
/// crc32c("123456789") == 0xe3069283.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

/// The table-driven implementation (what crc32c uses without SSE4.2); for tests.
std::uint32_t crc32c_portable(std::string_view data, std::uint32_t crc = 0);

}  // namespace sluice::detail
