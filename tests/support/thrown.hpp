// What a test needs to check an error's message.
#pragma once

#include <string>

namespace sluice::testing {

/// The what() of the E that f() throws, or "no throw".
template <class E, class F>
std::string thrown_message(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "no throw";
}

}  // namespace sluice::testing
