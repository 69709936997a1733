#include "streaming/detail/source_task.hpp"

#include <iostream>

namespace sluice::detail {

void log_unconsumed_dead_letter(const DeadLetter& d, std::uint64_t count_so_far) {
  constexpr std::uint64_t kMaxLogged = 10;
  if (count_so_far > kMaxLogged) return;
  std::cerr << "sluice: dead letter from " << d.source << " at " << d.position << ": " << d.reason;
  if (count_so_far == kMaxLogged) std::cerr << " (further dead letters are only counted; consume dead_letters() to see them)";
  std::cerr << '\n';
}

}  // namespace sluice::detail
