#include "streaming/detail/source_task.hpp"

#include <iostream>

namespace sluice::detail {

std::string format_dead_letter_log(const DeadLetter& d) {
  // Room for a reason capped when routed, with its "... (N bytes)" suffix.
  constexpr std::size_t kMaxReasonBytes = kMaxDeadLetterReasonBytes + 32;
  constexpr std::size_t kMaxSourceBytes = 256;
  return "sluice: dead letter from " + escape_for_log(d.source, kMaxSourceBytes) + " at " +
         std::to_string(d.position) + ": " + escape_for_log(d.reason, kMaxReasonBytes) +
         " (raw: " + escape_for_log(d.raw, kMaxLoggedRawBytes) + ")";
}

void log_unconsumed_dead_letter(const DeadLetter& d, std::uint64_t count_so_far) {
  log_unconsumed_dead_letter(d, count_so_far, std::cerr);
}

void log_unconsumed_dead_letter(const DeadLetter& d, std::uint64_t count_so_far, std::ostream& out) {
  constexpr std::uint64_t kMaxLogged = 10;
  if (count_so_far > kMaxLogged) return;
  std::string line = format_dead_letter_log(d);
  if (count_so_far == kMaxLogged) line += " (further dead letters are only counted; consume dead_letters() to see them)";
  line += '\n';
  out << line;  // one write, so lines of concurrent workers do not interleave mid-line
}

}  // namespace sluice::detail
