// The one exception type of the checkpoint module.
//
// Every failure of the checkpoint store (a RocksDB status that is not OK, a
// corrupt manifest or payload, a state directory in use, a misuse such as a
// second pending checkpoint) throws a CheckpointError. Its what() names the
// operation and the state directory, and carries RocksDB's own message when
// RocksDB failed, so the query's status says what went wrong and where.
#pragma once

#include <string>

#include "streaming/errors.hpp"

namespace sluice {

/// A checkpoint could not be written, read or verified, or the store could
/// not be opened. `what()` reads "checkpoint store '<directory>': <operation>:
/// <detail>" (the directory part left out when empty).
class CheckpointError : public SluiceError {
 public:
  CheckpointError(std::string directory, std::string operation, std::string detail);
  /// The state directory of the store, as given to it.
  const std::string& directory() const { return directory_; }
  /// What the store was doing, e.g. "commit checkpoint 7".
  const std::string& operation() const { return operation_; }
  /// Why it failed (RocksDB's message when RocksDB failed).
  const std::string& detail() const { return detail_; }

 private:
  std::string directory_, operation_, detail_;
};

}  // namespace sluice
