// Changelogs: how an operator that revises results says so.
//
// Operators that can revise a result they already emitted (windows with
// allowed lateness or early firing, outer joins, running aggregates) emit a
// changelog: each output row carries a `ChangeKind`. A table-keeping sink
// (a view, an upsert Kafka topic) applies it; an append-only consumer that
// only wants final results reads rows of kind kInsert.
//
// For one result identity (for windows: key and window) the sequence is
// always: kInsert, then zero or more (kUpdateBefore old, kUpdateAfter new)
// pairs, then possibly kDelete of the last value.
#pragma once

#include <cstdint>
#include <ostream>

namespace sluice {

enum class ChangeKind : std::uint8_t {
  kInsert,        ///< a new result ("+I")
  kUpdateBefore,  ///< the previous value of a result being updated ("-U")
  kUpdateAfter,   ///< the new value of a result being updated ("+U")
  kDelete,        ///< a result that no longer holds ("-D")
};

/// Flink's short form: "+I", "-U", "+U", "-D".
constexpr const char* to_string(ChangeKind k) {
  switch (k) {
    case ChangeKind::kInsert: return "+I";
    case ChangeKind::kUpdateBefore: return "-U";
    case ChangeKind::kUpdateAfter: return "+U";
    case ChangeKind::kDelete: return "-D";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& os, ChangeKind k) { return os << to_string(k); }

}  // namespace sluice
