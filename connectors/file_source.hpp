// Line-oriented file sources: JSON lines and CSV, producing `Row`s.
//
// The schema is given up front, so field names (and the timestamp field) are
// resolved once, when the source is built: an unknown name throws
// UnknownFieldError naming the source and the field. A file is read by one
// worker (worker 0); key_by spreads the work after it. Records that do not
// parse, miss a field or have a mistyped one become dead letters
// (`stream.dead_letters()`) with the reason, the file name and the 1-based
// line number (of the record's first line), the record's text as `raw`; they
// are counted and never stop the job. A missing file fails the query at start
// with the file's name.
//
// JSON lines: one record per line. CSV: one record per line, except that a
// quoted field may span lines (RFC 4180). A record whose quoted field is
// still open at end of file, or after `csv_max_record_lines` lines or
// `csv_max_record_bytes` bytes, is one dead letter holding every line it took
// ("unterminated quoted field starting at offset K: end of file after N
// lines" / "...: still open after N lines (csv_max_record_lines), reading on
// at line L" / "...: still open after N bytes (csv_max_record_bytes M),
// reading on at line L"); reading goes on with the next line not yet read.
// Lines taken into such a record are never read as records of their own, so
// the text of a quoted field cannot inject records.
//
// Checkpoints: both are replayable. The position is the byte offset of the
// first byte not read and the line number there (records and dead letters
// before it were all delivered); a restore reopens the file (a CSV header is
// read again), seeks to the offset and numbers lines on from there, on any
// worker count (worker 0 always reads). The file must not change before the
// offset between the checkpoint and the restore (appending is fine): a file
// now shorter than the offset fails the query at start with a ConfigError
// naming the file and the offset; other changes go unnoticed.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "connectors/csv_row.hpp"
#include "streaming/row.hpp"
#include "streaming/source.hpp"

namespace sluice {

struct FileSourceOptions {
  /// Field holding each record's event time: a timestamp field, or an int64
  /// field in µs since the epoch. Empty: every record gets timestamp 0 (use
  /// assign_timestamps). A null value there, or one outside the valid range
  /// (±2^62 µs, see streaming/time.hpp), makes the line a dead letter.
  std::string timestamp_field;
  /// CSV only: the first line names the columns (any order; checked against
  /// the schema when the query starts). Default: true.
  bool has_header = true;
  /// CSV only: field delimiter. Default: ','.
  char delimiter = ',';
  /// Blank lines are skipped (not dead letters). Default: true.
  bool skip_blank_lines = true;
  /// CSV only: most physical lines one record may span (quoted fields with
  /// line breaks). At least 1. Default: 256.
  std::size_t csv_max_record_lines = 256;
  /// CSV only: most bytes a record spanning lines may grow to while a quoted
  /// field is open (a single line is not limited). At least 1. Default: 1 MiB.
  std::size_t csv_max_record_bytes = std::size_t{1} << 20;
};

class LineFileSource : public Source<Row> {
 public:
  enum class Format { kJsonLines, kCsv };

  LineFileSource(Format format, std::string path, SchemaRef schema, FileSourceOptions options = {});

  std::string default_name() const override;
  std::unique_ptr<SourceReader<Row>> open(const SourceContext& ctx) const override;
  bool supports_checkpoints() const override { return true; }

  const SchemaRef& schema() const { return schema_; }

 private:
  class Reader;
  Format format_;
  std::string path_;
  SchemaRef schema_;
  FileSourceOptions options_;
  std::optional<std::size_t> ts_index_;
};

/// Reads newline-delimited JSON objects into rows of `schema`.
class JsonLinesSource final : public LineFileSource {
 public:
  JsonLinesSource(std::string path, SchemaRef schema, FileSourceOptions options = {})
      : LineFileSource(Format::kJsonLines, std::move(path), std::move(schema), std::move(options)) {}
};

/// Reads RFC-4180 CSV into rows of `schema`.
class CsvSource final : public LineFileSource {
 public:
  CsvSource(std::string path, SchemaRef schema, FileSourceOptions options = {})
      : LineFileSource(Format::kCsv, std::move(path), std::move(schema), std::move(options)) {}
};

}  // namespace sluice
