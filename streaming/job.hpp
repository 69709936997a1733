// A job: the dataflow graph of one continuous query, built fluently.
//
// Build a job, then run it: `job.run()` runs it to completion on a private
// engine (bounded inputs: tests, batch-like use); `Engine::start(name, job)`
// runs it as a named, managed query. A job can be started any number of
// times (each run gets fresh operator instances and state).
#pragma once

#include <memory>
#include <string>

#include "streaming/detail/sink_operator.hpp"
#include "streaming/detail/source_task.hpp"
#include "streaming/stream.hpp"

namespace sluice {

struct QueryOptions;
struct QueryMetrics;

class Job {
 public:
  explicit Job(std::string name = "job") : name_(std::move(name)), graph_(std::make_shared<detail::Graph>()) {}

  /// Adds a source. `name` defaults to the source's own name; names are unique per job.
  template <class T>
  Stream<T> source(std::shared_ptr<const Source<T>> source, std::string name = "") {
    if (name.empty()) name = source->default_name();
    name = graph_->unique_name(name);
    const int port = graph_->new_port();
    auto& node =
        graph_->add(std::make_unique<detail::SourceNode<T>>(port, std::move(source), std::move(name)), {}, {port});
    return Stream<T>(graph_, node.id(), port);
  }
  template <class S>
    requires std::derived_from<S, Source<typename S::value_type>>
  Stream<typename S::value_type> source(S source, std::string name = "") {
    using T = typename S::value_type;
    return this->source<T>(std::shared_ptr<const Source<T>>(std::make_shared<S>(std::move(source))), std::move(name));
  }

  /// Runs the job to completion on its own engine and returns its final
  /// metrics. Throws SluiceError with the failure if the query fails.
  QueryMetrics run(const QueryOptions& options);
  QueryMetrics run();

  const std::string& name() const { return name_; }
  std::shared_ptr<const detail::Graph> graph() const { return graph_; }

 private:
  std::string name_;
  std::shared_ptr<detail::Graph> graph_;
};

template <class T>
void Stream<T>::sink(std::shared_ptr<Sink<T>> sink, const std::string& name) const {
  if (!name.empty() && graph_->has_name(name)) throw GraphError(name, "", "operator name already used in this job");
  std::string n = name.empty() ? graph_->unique_name(sink->default_name()) : name;
  graph_->add(std::make_unique<detail::SinkNode<T>>(port_, std::move(sink), std::move(n)), {port_}, {});
}

}  // namespace sluice
