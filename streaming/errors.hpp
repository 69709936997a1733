// Errors and dead letters.
//
// Build-time mistakes (an unknown field, a type mismatch, a bad option) throw a
// `GraphError` subclass that names the operator and the field. Bad records at
// run time never throw through the job: they become a `DeadLetter` on the
// dead-letter side output and are counted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace sluice {

/// Base of every exception Sluice throws.
class SluiceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A mistake in how a job or query was put together, found at build time.
/// `what()` reads "<operator>: <field>: <detail>" (parts left out when empty).
class GraphError : public SluiceError {
 public:
  GraphError(std::string op, std::string field, std::string detail);
  const std::string& operator_name() const { return operator_; }
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  std::string operator_, field_, detail_;
};

/// A field name that the schema does not have.
class UnknownFieldError : public GraphError {
 public:
  using GraphError::GraphError;
};

/// A field whose type does not fit how it is used.
class TypeMismatchError : public GraphError {
 public:
  using GraphError::GraphError;
};

/// An option with a value outside its allowed range.
class ConfigError : public GraphError {
 public:
  using GraphError::GraphError;
};

/// A failure inside a running operator (a user function threw, a sink could
/// not write). `what()` reads "operator '<name>': <message>". It fails the
/// query; `QueryStatus::error` carries the text.
class OperatorError : public SluiceError {
 public:
  OperatorError(std::string op, const std::string& message);
  const std::string& operator_name() const { return operator_; }

 private:
  std::string operator_;
};

namespace detail {
/// Called in a catch block: rethrows the current exception as an
/// OperatorError naming `op`, unless it already names an operator.
[[noreturn]] void rethrow_in_operator(const std::string& op);
}  // namespace detail

/// Longest dead-letter reason kept: a longer one is cut (at a UTF-8 character
/// boundary) and followed by "... (N bytes)", N its full length.
inline constexpr std::size_t kMaxDeadLetterReasonBytes = 256;

/// A record that could not be processed, with why and where it came from.
/// Reason and raw are input-derived and may hold any bytes (control
/// characters included): escape them before showing them on a terminal or a
/// line-oriented log (Sluice's own log of unconsumed dead letters does).
struct DeadLetter {
  std::string reason;     ///< what was wrong, e.g. "field 'amount': expected double, got string";
                          ///< at most kMaxDeadLetterReasonBytes plus "... (N bytes)"
  std::string source;     ///< which source/operator saw it, e.g. "cards.jsonl"
  std::int64_t position;  ///< where in that source: line number (1-based) or offset
  std::string raw;        ///< the raw input as read (whole, however long), for replay or inspection
};

}  // namespace sluice
