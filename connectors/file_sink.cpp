#include "connectors/file_sink.hpp"

#include <cerrno>
#include <cstring>


namespace sluice::detail {

SharedLineFile::~SharedLineFile() {
  if (file_) std::fclose(file_);
}

void SharedLineFile::open_writer() {
  std::lock_guard lock(mu_);
  if (writers_++ > 0) return;
  file_ = std::fopen(path_.c_str(), "w");
  if (!file_) {
    writers_ = 0;
    throw SluiceError("JsonLinesFileSink: cannot open '" + path_ + "' for writing: " + std::strerror(errno));
  }
}

void SharedLineFile::write(const std::string& chunk) {
  std::lock_guard lock(mu_);
  if (!file_) return;
  if (std::fwrite(chunk.data(), 1, chunk.size(), file_) != chunk.size())
    throw SluiceError("JsonLinesFileSink: write to '" + path_ + "' failed: " + std::strerror(errno));
}

void SharedLineFile::flush() {
  std::lock_guard lock(mu_);
  if (file_) std::fflush(file_);
}

void SharedLineFile::close_writer() {
  std::lock_guard lock(mu_);
  if (writers_ == 0 || --writers_ > 0) return;
  if (file_) {
    std::fclose(file_);  // a later run of the same job starts the file afresh
    file_ = nullptr;
  }
}

}  // namespace sluice::detail
