// Reading JSON lines with a schema, routing bad lines to dead letters, and
// writing results as JSON lines.
//
// Orders arrive as JSON objects (examples/data/orders.jsonl). The schema
// names their fields; positions are looked up once, here, not per record.
// Each customer's running total is kept in keyed state, and a "big spender"
// row is written whenever a customer's total first passes $1,000. Lines that
// are not JSON, lack a field or have a mistyped one go to the dead-letter
// output with the reason and the line number; the job carries on.
//
//   orders_from_file [input.jsonl] [output.jsonl]
#include <cstdio>
#include <string>

#include "sluice/sluice.hpp"

using namespace sluice;
using namespace std::chrono_literals;

namespace {

struct Order {
  std::string customer;
  double amount;
};

struct BigSpenders : KeyedProcessFunction<std::string, Order, Row> {
  explicit BigSpenders(SchemaRef schema) : out_schema(std::move(schema)) {}

  SchemaRef out_schema;
  ValueState<std::string, double> total;

  void open(Context& ctx) { total = ctx.value_state<double>("total"); }
  void process(const Order& o, Context& ctx, Collector<Row>& out) {
    double& t = total.get_or_insert(0.0);
    const bool was_below = t < 1000.0;
    t += o.amount;
    if (was_below && t >= 1000.0)
      out.emit(Row(out_schema, {Value(ctx.key()), Value(t), Value::timestamp(ctx.timestamp())}));
  }
};

}  // namespace

int main(int argc, char** argv) {
  const std::string input = argc > 1 ? argv[1] : std::string(SLUICE_EXAMPLE_DATA) + "/orders.jsonl";
  const std::string output = argc > 2 ? argv[2] : "big_spenders.jsonl";

  SchemaRef orders = Schema::make({{"order_id", ValueType::kInt64},
                                   {"customer", ValueType::kString},
                                   {"amount", ValueType::kDouble},
                                   {"ts", ValueType::kTimestamp}});
  SchemaRef spenders = Schema::make(
      {{"customer", ValueType::kString}, {"total", ValueType::kDouble}, {"passed_at", ValueType::kTimestamp}});
  // Resolved once at build time; a typo throws UnknownFieldError naming the field.
  const std::size_t customer = orders->require("customer", "to_order");
  const std::size_t amount = orders->require("amount", "to_order");

  Job job("orders");
  auto src = job.source(JsonLinesSource(input, orders, {.timestamp_field = "ts"}));
  src.watermarks(bounded_out_of_orderness(5s))
      .map([=](const Row& r) { return Order{r[customer].as_string(), r[amount].as_double()}; })
      .name("to_order")
      .key_by([](const Order& o) { return o.customer; })
      .process(BigSpenders(spenders))
      .name("big-spenders")
      .sink(JsonLinesFileSink<Row>(output));
  src.dead_letters().sink(CallbackSink<DeadLetter>([](const DeadLetter& d) {
    std::printf("  dead letter %s:%lld: %s\n", d.source.c_str(), static_cast<long long>(d.position), d.reason.c_str());
  }));

  std::printf("reading %s\n", input.c_str());
  QueryMetrics m = job.run();
  std::printf("%llu orders read, %llu dead letters, %llu big spenders written to %s\n",
              static_cast<unsigned long long>(m.records_in), static_cast<unsigned long long>(m.dead_letters),
              static_cast<unsigned long long>(m.op("big-spenders")->records_out), output.c_str());
  return 0;
}
