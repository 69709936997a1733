// What every time-window operator does with its output: emitting a batch of
// results (counted) and routing a late record to the late side output.
#pragma once

#include <cstdint>
#include <utility>

#include "streaming/dataflow.hpp"
#include "streaming/metrics.hpp"
#include "streaming/side_output.hpp"

namespace sluice::detail {

/// Pushes the buffered results downstream (counting them) and flushes the side outputs.
template <class Out>
void flush_results(Batch<Out>& buffer, Output<Out>& out, SideOutputs& sides, OperatorMetrics& metrics) {
  if (!buffer.empty()) {
    metrics.records_out.add(buffer.size());
    out.push(buffer);
    buffer.clear();
  }
  sides.flush();
}

/// Counts a record that arrived after every window holding it closed and
/// sends it to the late output `late_tag` (0: none) if anyone consumes it.
template <class T>
void send_late(SideOutputs& sides, OperatorMetrics& metrics, std::uint64_t late_tag, T&& value, Timestamp ts) {
  metrics.late_records.add(1);
  if (late_tag == 0) return;
  SideOutput<std::decay_t<T>>* side = sides.find<std::decay_t<T>>(late_tag);
  if (side != nullptr && side->output().connected()) side->emit(std::forward<T>(value), ts);
}

}  // namespace sluice::detail
