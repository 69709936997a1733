// A sink that appends one line per record to a file (JSON lines by default).
//
// All workers write to the same file; each batch is formatted outside the
// lock and written under it, so lines never interleave. The file is created
// (truncated) when the query starts and flushed at end of input and close.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "connectors/json_row.hpp"
#include "streaming/errors.hpp"
#include "streaming/row.hpp"
#include "streaming/sink.hpp"

namespace sluice {

namespace detail {
/// The file shared by the writers of one sink; opened once per query run.
class SharedLineFile {
 public:
  explicit SharedLineFile(std::string path) : path_(std::move(path)) {}
  ~SharedLineFile();
  /// Registers a writer; the first one of a run opens (truncates) the file.
  void open_writer();
  void write(const std::string& chunk);
  void flush();
  /// Unregisters a writer; the last one closes the file.
  void close_writer();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;
  int writers_ = 0;
};
}  // namespace detail

template <class T>
class JsonLinesFileSink final : public Sink<T> {
 public:
  /// `format(const T&) -> std::string` renders one line (without newline).
  /// For Row, it defaults to one compact JSON object per line.
  using Format = std::function<std::string(const T&)>;

  explicit JsonLinesFileSink(std::string path, Format format = default_format())
      : file_(std::make_shared<detail::SharedLineFile>(std::move(path))), format_(std::move(format)) {
    if (!format_) throw ConfigError("JsonLinesFileSink", "format", "a formatting function is required for this type");
  }

  std::string default_name() const override {
    const std::string& p = file_->path();
    const std::size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }

  std::unique_ptr<SinkWriter<T>> open(const SinkContext& ctx) override {
    file_->open_writer();
    return std::make_unique<Writer>(file_, format_);
  }

 private:
  static Format default_format() {
    if constexpr (std::is_same_v<T, Row>) return [](const Row& r) { return row_to_json(r); };
    return nullptr;
  }

  class Writer final : public SinkWriter<T> {
   public:
    Writer(std::shared_ptr<detail::SharedLineFile> f, Format fmt) : file_(std::move(f)), format_(std::move(fmt)) {}
    void write(Batch<T>& batch) override {
      chunk_.clear();
      for (const auto& r : batch) {
        chunk_ += format_(r.value);
        chunk_ += '\n';
      }
      file_->write(chunk_);
    }
    void on_end_of_input() override { file_->flush(); }
    void close() override {
      if (!closed_) file_->close_writer();
      closed_ = true;
    }
    // A run that fails to start never calls close(); do not leak the registration.
    ~Writer() override { close(); }

   private:
    std::shared_ptr<detail::SharedLineFile> file_;
    Format format_;
    std::string chunk_;
    bool closed_ = false;
  };

  std::shared_ptr<detail::SharedLineFile> file_;
  Format format_;
};

}  // namespace sluice
