#include "connectors/file_source.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "connectors/json_row.hpp"
#include "streaming/time.hpp"

namespace sluice {

LineFileSource::LineFileSource(Format format, std::string path, SchemaRef schema, FileSourceOptions options)
    : format_(format), path_(std::move(path)), schema_(std::move(schema)), options_(std::move(options)) {
  if (!schema_) throw ConfigError(default_name(), "schema", "a schema is required");
  if (options_.csv_max_record_lines == 0)
    throw ConfigError(default_name(), "csv_max_record_lines", "must be at least 1");
  if (options_.csv_max_record_bytes == 0)
    throw ConfigError(default_name(), "csv_max_record_bytes", "must be at least 1");
  if (!options_.timestamp_field.empty()) {
    const std::size_t i = schema_->require(options_.timestamp_field, default_name());
    const ValueType t = (*schema_)[i].type;
    if (t != ValueType::kTimestamp && t != ValueType::kInt64)
      throw TypeMismatchError(default_name(), options_.timestamp_field,
                              std::string("timestamp field must be timestamp or int64 (µs), schema has ") +
                                  std::string(to_string(t)));
    ts_index_ = i;
  }
}

std::string LineFileSource::default_name() const {
  const std::size_t slash = path_.find_last_of('/');
  return slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

class LineFileSource::Reader final : public SourceReader<Row> {
 public:
  Reader(const LineFileSource& src, const SourceContext& ctx) : src_(src), name_(ctx.name) {
    if (ctx.worker_index != 0) return;  // one reader per file
    in_.open(src.path_);
    if (!in_) throw SluiceError(ctx.name + ": cannot open '" + src.path_ + "': " + std::strerror(errno));
    active_ = true;
    reads_file_ = true;
    csv_.delimiter = src.options_.delimiter;
    if (src.format_ == Format::kCsv && src.options_.has_header) {
      std::string unterminated;
      if (next_record(unterminated)) {
        // An unterminated header makes parse_csv_header throw.
        csv_.columns = check_csv_header(parse_csv_header(strip_cr(record_), src.options_.delimiter), *src.schema_,
                                        ctx.name);
      }
    }
  }

  // Position: whether this reader reads the file, then the offset of the
  // first byte not read and the physical lines read so far. Every record
  // before the offset was emitted (or dead-lettered) by earlier polls; the
  // CSV header is read again from the file by open.
  void snapshot_position(StateWriter& w) const override {
    w.write(reads_file_);
    if (!reads_file_) return;
    w.write(offset_);
    w.write(line_no_);
  }

  // The file is read by worker 0 whatever the worker count: take the old
  // worker 0's position.
  void restore_position(const std::vector<std::string_view>& positions) override {
    if (!reads_file_) return;
    const std::string what = "position of file source '" + name_ + "'";
    if (positions.empty()) throw StateFormatError(what, std::nullopt, "no position for the reader of worker 0");
    StateReader r(positions[0]);
    if (!r.read<bool>()) throw StateFormatError(what, std::nullopt, "the old worker 0 did not read the file");
    const auto offset = r.read<std::uint64_t>();
    const auto line = r.read<std::int64_t>();
    r.expect_end(what);
    if (line < 0) throw StateFormatError(what, std::nullopt, "negative line number " + std::to_string(line));
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(src_.path_, ec);
    if (ec) throw SluiceError(name_ + ": cannot read the size of '" + src_.path_ + "': " + ec.message());
    if (offset > size)
      throw ConfigError(name_, "path",
                        "cannot continue '" + src_.path_ + "' at byte " + std::to_string(offset) + " (line " +
                            std::to_string(line + 1) + ") where the checkpoint left it: the file has only " +
                            std::to_string(size) + " bytes (it shrank or was replaced since the checkpoint)");
    if (offset < offset_)
      throw StateFormatError(what, std::nullopt,
                             "byte offset " + std::to_string(offset) + " is inside the CSV header (ends at byte " +
                                 std::to_string(offset_) + ")");
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    if (!in_) throw SluiceError(name_ + ": cannot seek '" + src_.path_ + "' to byte " + std::to_string(offset));
    offset_ = offset;
    line_no_ = line;
    active_ = true;
  }

  SourceStatus poll(Batch<Row>& out, std::vector<DeadLetter>& dead, std::size_t max_records) override {
    if (!active_) return SourceStatus::kEnd;
    // Bound the work per poll also when every record is bad.
    for (std::size_t seen = 0; seen < max_records; ++seen) {
      std::string unterminated;
      if (!next_record(unterminated)) {
        active_ = false;
        return SourceStatus::kEnd;
      }
      std::string_view text = strip_cr(record_);
      if (src_.options_.skip_blank_lines && text.find_first_not_of(" \t") == std::string_view::npos) continue;
      RowParseResult r = src_.format_ == Format::kJsonLines ? parse_json_row(text, src_.schema_)
                                                            : parse_csv_row(text, src_.schema_, csv_);
      if (!r.ok()) {
        // For an unterminated record the parser names the open field; say why it ended.
        if (!unterminated.empty()) r.error += ": " + unterminated;
        dead.push_back(DeadLetter{std::move(r.error), name_, first_line_, std::string(text)});
        continue;
      }
      Timestamp ts = 0;
      if (src_.ts_index_) {
        const Value& v = (*r.row)[*src_.ts_index_];
        if (v.is_null()) {
          dead.push_back(DeadLetter{"field '" + src_.options_.timestamp_field + "': null timestamp", name_,
                                    first_line_, std::string(text)});
          continue;
        }
        ts = v.type() == ValueType::kTimestamp ? v.as_timestamp() : v.as_int64();
        if (!is_valid_timestamp(ts)) {  // an int64 field: the parser did not check the range
          dead.push_back(DeadLetter{"field '" + src_.options_.timestamp_field + "': " + timestamp_out_of_range(ts),
                                    name_, line_no_, std::string(text)});
          continue;
        }
      }
      out.push_back(Record<Row>{std::move(*r.row), ts});
    }
    return SourceStatus::kMore;
  }

 private:
  // Reads the next record into record_ (first line number in first_line_):
  // one line, or for CSV as many as a quoted field spans, joined by '\n' (a
  // CRLF line keeps its '\r'). When the record ends with a quoted field still
  // open (end of file, or a cap), `unterminated` says why. False at end of file.
  bool next_record(std::string& unterminated) {
    if (!read_line(record_)) return false;
    first_line_ = ++line_no_;
    if (src_.format_ != Format::kCsv) return true;
    std::size_t lines = 1;
    bool open = csv_record_continues(record_, csv_.delimiter, false);
    while (open) {
      if (lines >= src_.options_.csv_max_record_lines) {
        unterminated = "still open after " + std::to_string(lines) + " lines (csv_max_record_lines), reading on at line " +
                       std::to_string(line_no_ + 1);
        return true;
      }
      if (record_.size() > src_.options_.csv_max_record_bytes) {
        unterminated = "still open after " + std::to_string(record_.size()) + " bytes (csv_max_record_bytes " +
                       std::to_string(src_.options_.csv_max_record_bytes) + "), reading on at line " +
                       std::to_string(line_no_ + 1);
        return true;
      }
      if (!read_line(line_)) {
        unterminated = "end of file after " + std::to_string(lines) + (lines == 1 ? " line" : " lines");
        return true;
      }
      ++line_no_;
      ++lines;
      record_ += '\n';
      record_ += line_;
      open = csv_record_continues(line_, csv_.delimiter, true);
    }
    return true;
  }

  // getline, counting the bytes it consumed (the '\n' too, unless the last
  // line has none) so the position is known without tellg.
  bool read_line(std::string& into) {
    if (!std::getline(in_, into)) return false;
    offset_ += into.size() + (in_.eof() ? 0 : 1);
    return true;
  }

  static std::string_view strip_cr(const std::string& s) {
    std::string_view v(s);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    return v;
  }

  const LineFileSource& src_;
  std::string name_;
  std::ifstream in_;
  std::string record_;             // the current record, as read
  std::string line_;               // the line being appended to it
  std::int64_t line_no_ = 0;       // physical lines read so far
  std::int64_t first_line_ = 0;    // the current record's first line
  std::uint64_t offset_ = 0;       // bytes read so far (a whole number of lines)
  CsvOptions csv_;
  bool active_ = false;
  bool reads_file_ = false;        // worker 0's reader
};

std::unique_ptr<SourceReader<Row>> LineFileSource::open(const SourceContext& ctx) const {
  return std::make_unique<Reader>(*this, ctx);
}

}  // namespace sluice
