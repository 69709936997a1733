#include "streaming/detail/graph.hpp"

namespace sluice::detail {

void Graph::validate(const std::string& job_name) const {
  if (nodes_.empty()) throw GraphError("", "", "job '" + job_name + "' has no operators: add a source and a sink");
  bool has_sink = false;
  for (const auto& n : nodes_) has_sink = has_sink || n->kind() == "sink";
  if (!has_sink) throw GraphError("", "", "job '" + job_name + "' has no sink: add .sink(...) to a stream");

  // bare[n]: a source whose records reach n's outputs without passing a
  // watermarks(...) node, or -1. A union is bare if any input is: its
  // watermark is the minimum over its inputs, and a bare input never raises it.
  std::vector<int> bare(nodes_.size(), -1);
  for (const auto& n : nodes_) {  // creation order is topological
    if (n->emits_watermarks()) continue;
    int from = n->inputs().empty() ? n->id() : -1;  // only sources have no inputs
    for (int port : n->inputs()) {
      const int p = producer(port);
      if (from < 0 && p >= 0) from = bare[static_cast<std::size_t>(p)];
    }
    if (from >= 0 && !n->watermarks_needed_for().empty()) {
      throw GraphError(n->name(), "",
                       n->watermarks_needed_for() + " but no watermarks(...) is upstream (none on the path from source '" +
                           nodes_[static_cast<std::size_t>(from)]->name() + "'): add .watermarks(...) upstream" +
                           n->watermarks_alternative());
    }
    bare[static_cast<std::size_t>(n->id())] = from;
  }
}

}  // namespace sluice::detail
