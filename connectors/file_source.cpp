#include "connectors/file_source.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "connectors/json_row.hpp"
#include "streaming/time.hpp"

namespace sluice {

LineFileSource::LineFileSource(Format format, std::string path, SchemaRef schema, FileSourceOptions options)
    : format_(format), path_(std::move(path)), schema_(std::move(schema)), options_(std::move(options)) {
  if (!schema_) throw ConfigError(default_name(), "schema", "a schema is required");
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
    if (src.format_ == Format::kCsv && src.options_.has_header) {
      std::string header;
      if (std::getline(in_, header)) {
        ++line_no_;
        csv_.columns = check_csv_header(parse_csv_header(strip_cr(header), src.options_.delimiter), *src.schema_,
                                        ctx.name);
      }
    }
    csv_.delimiter = src.options_.delimiter;
  }

  SourceStatus poll(Batch<Row>& out, std::vector<DeadLetter>& dead, std::size_t max_records) override {
    if (!active_) return SourceStatus::kEnd;
    // Bound the work per poll also when every line is bad.
    for (std::size_t seen = 0; seen < max_records; ++seen) {
      if (!std::getline(in_, line_)) {
        active_ = false;
        return SourceStatus::kEnd;
      }
      ++line_no_;
      std::string_view text = strip_cr(line_);
      if (src_.options_.skip_blank_lines && text.find_first_not_of(" \t") == std::string_view::npos) continue;
      RowParseResult r = src_.format_ == Format::kJsonLines ? parse_json_row(text, src_.schema_)
                                                            : parse_csv_row(text, src_.schema_, csv_);
      if (!r.ok()) {
        dead.push_back(DeadLetter{r.error, name_, line_no_, std::string(text)});
        continue;
      }
      Timestamp ts = 0;
      if (src_.ts_index_) {
        const Value& v = (*r.row)[*src_.ts_index_];
        if (v.is_null()) {
          dead.push_back(DeadLetter{"field '" + src_.options_.timestamp_field + "': null timestamp", name_,
                                    line_no_, std::string(text)});
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
  static std::string_view strip_cr(const std::string& s) {
    std::string_view v(s);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    return v;
  }

  const LineFileSource& src_;
  std::string name_;
  std::ifstream in_;
  std::string line_;
  std::int64_t line_no_ = 0;
  CsvOptions csv_;
  bool active_ = false;
};

std::unique_ptr<SourceReader<Row>> LineFileSource::open(const SourceContext& ctx) const {
  return std::make_unique<Reader>(*this, ctx);
}

}  // namespace sluice
