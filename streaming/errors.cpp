#include "streaming/errors.hpp"

namespace sluice {
namespace {
std::string compose(const std::string& op, const std::string& field, const std::string& detail) {
  std::string s;
  if (!op.empty()) s += op + ": ";
  if (!field.empty()) s += "field '" + field + "': ";
  return s + detail;
}
}  // namespace

GraphError::GraphError(std::string op, std::string field, std::string detail)
    : SluiceError(compose(op, field, detail)),
      operator_(std::move(op)),
      field_(std::move(field)),
      detail_(std::move(detail)) {}

OperatorError::OperatorError(std::string op, const std::string& message)
    : SluiceError("operator '" + op + "': " + message), operator_(std::move(op)) {}

namespace detail {
void rethrow_in_operator(const std::string& op) {
  try {
    throw;
  } catch (const OperatorError&) {
    throw;
  } catch (const std::exception& e) {
    throw OperatorError(op, e.what());
  } catch (...) {
    throw OperatorError(op, "unknown exception");
  }
}
}  // namespace detail

}  // namespace sluice
