// Making untrusted text (bad input, dead-letter reasons) safe to log.
//
// Dead letters carry bytes straight from the input. Written to a terminal or
// a line-oriented log as they are, an ESC sequence could rewrite the screen,
// and a CR or LF could forge a log line; a 50 MB bad line would be a 50 MB
// log line. Everything a log line shows of input goes through here.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::detail {

/// `text` cut to at most `max_bytes` bytes (never inside a UTF-8 sequence)
/// followed by "... (N bytes)", N being text's full size; `text` unchanged
/// when it fits. No escaping.
std::string cap_text(std::string text, std::size_t max_bytes);

/// `text` for one log line: cut like cap_text (the cut is made before
/// escaping, N counts the input), then every byte that is not printable is
/// escaped: "\n", "\r", "\t", "\\" for a backslash, and "\xNN" (two lowercase
/// hex digits) for other control bytes (0x00-0x1f, 0x7f), for the C1 controls
/// U+0080-U+009F and for every byte that is not part of valid UTF-8. Valid
/// printable UTF-8 is kept as is.
std::string escape_for_log(std::string_view text, std::size_t max_bytes);

}  // namespace sluice::detail
