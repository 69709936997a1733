#include "streaming/side_output.hpp"

namespace sluice {
namespace detail {
std::uint64_t next_output_tag_id() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace detail

const OutputTag<DeadLetter>& dead_letter_tag() {
  static const OutputTag<DeadLetter> tag("dead-letters");
  return tag;
}

}  // namespace sluice
