#include "checkpoint/checkpoint_error.hpp"

namespace sluice {
namespace {
std::string compose(const std::string& dir, const std::string& op, const std::string& detail) {
  std::string s;
  if (!dir.empty()) s += "checkpoint store '" + dir + "': ";
  if (!op.empty()) s += op + ": ";
  return s + detail;
}
}  // namespace

CheckpointError::CheckpointError(std::string directory, std::string operation, std::string detail)
    : SluiceError(compose(directory, operation, detail)),
      directory_(std::move(directory)),
      operation_(std::move(operation)),
      detail_(std::move(detail)) {}

}  // namespace sluice
