// The logical dataflow graph and how it is instantiated on each worker.
//
// `Stream<T>` handles point at *ports* (typed streams) produced by *nodes*.
// Nodes are immutable once built; a query run calls `prepare` once (to create
// things shared between workers, like exchange channels) and then
// `instantiate` once per worker, in graph order, so every upstream port
// already has its per-worker `Output<T>` when a consumer connects to it.
#pragma once

#include <any>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "streaming/backpressure.hpp"
#include "streaming/dataflow.hpp"
#include "streaming/detail/checkpoint_coordinator.hpp"
#include "streaming/detail/operator_state.hpp"
#include "streaming/detail/worker.hpp"
#include "streaming/metrics.hpp"
#include "streaming/side_output.hpp"
#include "streaming/time.hpp"
#include <functional>

namespace sluice::detail {

/// Settings of one query run that nodes need while instantiating.
struct RunSettings {
  std::size_t workers = 1;
  std::size_t max_parallelism = 128;
  std::size_t batch_size = 1024;
  BufferOptions exchange_buffer{};
  const Clock* clock = nullptr;
  DurationUs tick_interval_us = 1000;
};

/// Objects shared by all workers of one run, by node id.
struct SharedState {
  std::vector<Worker*> workers;      ///< all workers of the run, by index
  std::vector<std::any> by_node;     ///< what `Node::prepare` left for its instances
  std::vector<int> port_consumers;   ///< by port: how many nodes read it
  /// The query's checkpoints (null when building outside a query).
  std::shared_ptr<CheckpointCoordinator> checkpoints;
  /// The checkpoint this run restores (null: a fresh start).
  const RestoredCheckpoint* restored = nullptr;
};

/// Per-worker instantiation context.
class BuildContext {
 public:
  BuildContext(const RunSettings& settings, Worker& worker, MetricsRegistry& metrics, SharedState& shared,
               std::size_t port_count)
      : settings(settings), worker(worker), metrics(metrics), shared(shared), ports_(port_count, nullptr) {}

  const RunSettings& settings;
  Worker& worker;
  MetricsRegistry& metrics;
  SharedState& shared;

  std::size_t worker_index() const { return worker.index(); }

  template <class T>
  Output<T>& port(int id) {
    return *static_cast<Output<T>*>(ports_.at(static_cast<std::size_t>(id)));
  }
  template <class T>
  void set_port(int id, Output<T>& out) {
    ports_.at(static_cast<std::size_t>(id)) = &out;
  }
  /// The link to checkpoints of this worker's instance of operator `name`
  /// (owned by the worker), or null when building outside a query.
  OperatorState* operator_state(const std::string& name) {
    if (shared.checkpoints == nullptr) return nullptr;
    return &make<OperatorState>(shared.checkpoints, name, shared.restored, &worker);
  }

  /// Creates an object owned by the worker.
  template <class T, class... Args>
  T& make(Args&&... args) {
    return worker.own(std::make_unique<T>(std::forward<Args>(args)...));
  }

 private:
  std::vector<void*> ports_;
};

class Node {
 public:
  Node(std::string kind, std::string name) : kind_(std::move(kind)), name_(std::move(name)) {}
  virtual ~Node() = default;

  /// Once per run, before any `instantiate`: create what workers share.
  virtual void prepare(const RunSettings& settings, SharedState& shared, MetricsRegistry& metrics) const {}
  /// Once per worker: create this worker's instance and connect it.
  virtual void instantiate(BuildContext& ctx) const = 0;

  const std::string& kind() const { return kind_; }
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  int id() const { return id_; }
  void set_id(int id) { id_ = id; }

  /// Whether `stream.side_output(tag)` / `dead_letters()` make sense here.
  virtual bool has_side_outputs() const { return false; }

  /// The ports this node reads (set by Graph::add).
  const std::vector<int>& inputs() const { return inputs_; }
  void set_inputs(std::vector<int> inputs) { inputs_ = std::move(inputs); }

  /// Whether this node generates the watermarks of what it emits
  /// (`watermarks(...)`), rather than passing its inputs' on.
  virtual bool emits_watermarks() const { return false; }

  /// Marks a node that never does its job without watermarks from upstream
  /// (an event-time window would only fire at end of input and hold its state
  /// until then). `what` says why ("window uses event time"), `alternative`
  /// is appended to the fix in Graph::validate's message (", or use ...").
  void require_watermarks(std::string what, std::string alternative) {
    watermarks_needed_for_ = std::move(what);
    watermarks_alternative_ = std::move(alternative);
  }
  const std::string& watermarks_needed_for() const { return watermarks_needed_for_; }
  const std::string& watermarks_alternative() const { return watermarks_alternative_; }

  /// The port of side output `tag`, declared on first use (build time).
  template <class U>
  int side_port(int new_port, const OutputTag<U>& tag) {
    for (const SideSpec& s : sides_)
      if (s.tag_id == tag.id()) return s.port;
    const std::uint64_t tag_id = tag.id();
    sides_.push_back(SideSpec{tag_id, new_port, [tag_id, new_port](BuildContext& ctx) {
                                auto side = std::make_unique<SideOutput<U>>(tag_id);
                                ctx.set_port<U>(new_port, side->output());
                                return std::unique_ptr<SideOutputBase>(std::move(side));
                              }});
    return new_port;
  }
  bool has_side_port(std::uint64_t tag_id) const {
    for (const SideSpec& s : sides_)
      if (s.tag_id == tag_id) return true;
    return false;
  }
  /// Creates this worker's side outputs of an instance and publishes their ports.
  void make_side_outputs(BuildContext& ctx, SideOutputs& out) const {
    for (const SideSpec& s : sides_) out.add(s.make(ctx));
  }

 private:
  struct SideSpec {
    std::uint64_t tag_id;
    int port;
    std::function<std::unique_ptr<SideOutputBase>(BuildContext&)> make;
  };
  std::vector<SideSpec> sides_;
  std::vector<int> inputs_;
  std::string watermarks_needed_for_, watermarks_alternative_;
  std::string kind_;
  std::string name_;
  int id_ = -1;
};

/// The nodes of a job in creation (= topological) order, and which node
/// produces each port, so the graph can be checked before it runs.
class Graph {
 public:
  /// Adds `node`, which reads ports `inputs` and produces ports `outputs`.
  template <class N>
  N& add(std::unique_ptr<N> node, std::vector<int> inputs, const std::vector<int>& outputs) {
    N& ref = *node;
    ref.set_id(static_cast<int>(nodes_.size()));
    if (ref.name().empty()) ref.set_name(ref.kind() + "#" + std::to_string(nodes_.size()));
    ref.set_inputs(std::move(inputs));
    for (int port : outputs) set_producer(port, ref.id());
    nodes_.push_back(std::move(node));
    return ref;
  }
  int new_port() {
    producers_.push_back(-1);
    return port_count_++;
  }
  /// Records that `node` produces `port` (side outputs are declared after their node).
  void set_producer(int port, int node) { producers_.at(static_cast<std::size_t>(port)) = node; }
  int producer(int port) const { return producers_.at(static_cast<std::size_t>(port)); }

  /// Throws GraphError for a job that cannot run as meant, naming the job or
  /// the operator: a job without operators, a job without a sink, a node that
  /// requires watermarks (Node::require_watermarks) with some path from a
  /// source that passes no `watermarks(...)`. Called when a query starts.
  void validate(const std::string& job_name) const;

  std::size_t port_count() const { return static_cast<std::size_t>(port_count_); }
  /// By port: how many nodes read it.
  std::vector<int> port_consumers() const {
    std::vector<int> n(port_count(), 0);
    for (const auto& node : nodes_)
      for (int port : node->inputs()) ++n.at(static_cast<std::size_t>(port));
    return n;
  }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  Node& node(int id) { return *nodes_.at(static_cast<std::size_t>(id)); }
  /// Names must be unique: they identify metrics and (later) state.
  bool has_name(const std::string& name) const {
    for (const auto& n : nodes_)
      if (n->name() == name) return true;
    return false;
  }
  /// `base`, or `base#2`, `base#3`, ... : the first name not yet taken.
  std::string unique_name(const std::string& base) const {
    if (!has_name(base)) return base;
    for (int i = 2;; ++i) {
      std::string candidate = base + "#" + std::to_string(i);
      if (!has_name(candidate)) return candidate;
    }
  }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<int> producers_;  // by port: the node producing it
  int port_count_ = 0;
};

}  // namespace sluice::detail
