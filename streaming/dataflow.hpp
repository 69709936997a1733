// The runtime's wiring between operator instances on one worker.
//
// A worker runs one instance of every operator. Instances are connected
// through `Input<T>` (something that consumes batches of T and in-band control)
// and `Output<T>` (the fan-out to the consumers of one stream). Calls along a
// chain are direct: one virtual call per batch, never per record. Everything
// here is driven by a single worker thread.
#pragma once

#include <string>
#include <vector>

#include "streaming/errors.hpp"

#include "streaming/record.hpp"

namespace sluice::detail {

class FlowGate;

/// Consumes one stream on one worker. Called only from that worker's thread.
template <class T>
class Input {
 public:
  virtual ~Input() = default;
  /// Processes a batch. The callee may mutate, reorder or shrink `batch`.
  virtual void push(Batch<T>& batch) = 0;
  /// Handles an in-band control message; every record pushed before it has
  /// been fully processed.
  virtual void control(const Control& c) = 0;
  /// Appends the flow gates this input reaches through direct calls (exchange
  /// senders, aligned watermark generators), so the worker can tell when
  /// feeding it more input must wait.
  virtual void reachable_gates(std::vector<FlowGate*>& out) {}
  /// The operator's name, for errors.
  virtual const std::string& operator_name() const = 0;
};

/// The consumers of one stream on one worker. Fan-out copies the batch for all
/// consumers but the last, which gets the caller's batch.
template <class T>
class Output {
 public:
  void connect(Input<T>* consumer) { consumers_.push_back(consumer); }
  bool connected() const { return !consumers_.empty(); }
  /// The only consumer, or nullptr if there are none or several.
  Input<T>* sole_consumer() const { return consumers_.size() == 1 ? consumers_[0] : nullptr; }

  void push(Batch<T>& batch) {
    if (batch.empty() || consumers_.empty()) return;
    const std::size_t n = consumers_.size();
    // try costs nothing until something throws; the catch names the operator.
    for (std::size_t i = 0; i + 1 < n; ++i) {
      Batch<T> copy = batch;
      try {
        consumers_[i]->push(copy);
      } catch (...) {
        rethrow_in_operator(consumers_[i]->operator_name());
      }
    }
    try {
      consumers_[n - 1]->push(batch);
    } catch (...) {
      rethrow_in_operator(consumers_[n - 1]->operator_name());
    }
  }

  void control(const Control& c) {
    for (Input<T>* consumer : consumers_) {
      try {
        consumer->control(c);
      } catch (...) {
        rethrow_in_operator(consumer->operator_name());
      }
    }
  }

  void reachable_gates(std::vector<FlowGate*>& out) {
    for (Input<T>* consumer : consumers_) consumer->reachable_gates(out);
  }

 private:
  std::vector<Input<T>*> consumers_;
};

}  // namespace sluice::detail
