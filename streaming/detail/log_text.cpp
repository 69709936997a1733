#include "streaming/detail/log_text.hpp"

namespace sluice::detail {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0
// if it is not one (overlong forms, surrogates and code points beyond
// U+10FFFF included, per RFC 3629).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = at(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (!is_continuation(at(k))) return 0;
  return n;
}

// The largest cut <= max that does not split a UTF-8 sequence.
std::size_t cut_point(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s.size();
  std::size_t cut = max;
  // Back off over at most 3 continuation bytes to the start of their sequence.
  for (int k = 0; k < 3 && cut > 0 && is_continuation(static_cast<unsigned char>(s[cut])); ++k) --cut;
  if (is_continuation(static_cast<unsigned char>(s[cut]))) return max;  // not UTF-8: cut anywhere
  return cut;
}

std::string suffix(std::size_t size) { return "... (" + std::to_string(size) + " bytes)"; }

void append_hex(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

}  // namespace

std::string cap_text(std::string text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  const std::size_t size = text.size();
  text.resize(cut_point(text, max_bytes));
  return text + suffix(size);
}

std::string escape_for_log(std::string_view text, std::size_t max_bytes) {
  const std::string_view shown = text.substr(0, cut_point(text, max_bytes));
  std::string out;
  out.reserve(shown.size() + 16);
  for (std::size_t i = 0; i < shown.size();) {
    const auto c = static_cast<unsigned char>(shown[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence_length(shown, i);
      const bool c1_control = n == 2 && c == 0xC2 && static_cast<unsigned char>(shown[i + 1]) <= 0x9F;
      if (n == 0 || c1_control) {
        append_hex(out, c);
        ++i;
      } else {
        out.append(shown.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          append_hex(out, c);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  if (shown.size() < text.size()) out += suffix(text.size());
  return out;
}

}  // namespace sluice::detail
