// The typed, fluent graph API.
//
// A `Job` holds a dataflow graph; `job.source(...)` returns a `Stream<T>`,
// and every method on a stream adds a node and returns the resulting stream:
//
//   Job job("fraud");
//   job.source(Generator<Txn>{...})
//      .watermarks(bounded_out_of_orderness(5s))
//      .filter([](const Txn& t) { return t.amount > 0; })
//      .key_by([](const Txn& t) { return t.card; })
//      .process(FraudDetector{})
//      .sink(CallbackSink<Alert>{print});
//
// Streams are cheap handles (the graph they point into is shared); calling
// two methods on the same stream fans it out. Build-time mistakes throw
// `GraphError`s naming the operator. The operator methods are declared here
// and defined with their operators (operators/, connectors/): include
// "sluice/sluice.hpp" to get them all.
#pragma once

#include <concepts>
#include <memory>
#include <ranges>
#include <string>
#include <type_traits>

#include "streaming/detail/graph.hpp"
#include "streaming/errors.hpp"
#include "streaming/key_groups.hpp"
#include "streaming/side_output.hpp"
#include "streaming/sink.hpp"
#include "streaming/source.hpp"
#include "streaming/watermarks.hpp"

namespace sluice {

template <class K, class T>
class KeyedStream;
template <class K, class T, class Spec>
class WindowedStream;  // windows/windowed_stream.hpp

/// A record routed by key: the key, its hash and its key group travel with
/// the value, so keyed operators never hash twice.
template <class K, class T>
struct Keyed {
  using key_type = K;
  using value_type = T;
  K key;
  std::uint32_t key_group;
  T value;
  std::uint64_t key_hash = 0;  ///< hash_key(key)
};

/// Collects the records a user function emits (flat_map, process).
template <class Out>
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void emit(Out value) = 0;
};

template <class T>
class Stream {
 public:
  using value_type = T;

  Stream(std::shared_ptr<detail::Graph> graph, int node, int port)
      : graph_(std::move(graph)), node_(node), port_(port) {}

  /// Names the operator that produces this stream (metrics, logs, state).
  /// Throws GraphError if another operator of the job has that name.
  Stream name(const std::string& name) const {
    if (graph_->node(node_).name() == name) return *this;
    if (name.empty()) throw GraphError(graph_->node(node_).name(), "", "operator name must not be empty");
    if (graph_->has_name(name)) throw GraphError(name, "", "operator name already used in this job");
    graph_->node(node_).set_name(name);
    return *this;
  }
  const std::string& name() const { return graph_->node(node_).name(); }

  // ---- operators/ (basic_operators.hpp, key_by.hpp) ----

  /// One output per input: `f(const T&) -> U`.
  template <class F>
  auto map(F f) const -> Stream<std::decay_t<std::invoke_result_t<F&, const T&>>>;

  /// Keeps the records for which `pred(const T&)` is true.
  template <class F>
  Stream filter(F pred) const;

  /// Zero or more outputs per input, through a collector:
  /// `f(const T&, Collector<Out>&)`. Outputs carry the input's timestamp.
  template <class Out, class F>
  Stream<Out> flat_map(F f) const;

  /// Zero or more outputs per input, returned as a range: `f(const T&) -> range of U`.
  template <class F>
  auto flat_map(F f) const
      -> Stream<std::ranges::range_value_t<std::decay_t<std::invoke_result_t<F&, const T&>>>>;

  /// Merges this stream with others of the same type. The result's watermark
  /// is the minimum of the inputs' (idle inputs left out).
  template <class... More>
  Stream union_with(const Stream& other, const More&... more) const;

  /// Partitions by key: `key_fn(const T&) -> K` (K hashable and copyable).
  template <class F>
  auto key_by(F key_fn) const -> KeyedStream<std::decay_t<std::invoke_result_t<F&, const T&>>, T>;

  /// Windows over the whole stream rather than per key (Flink's windowAll;
  /// windows/windowed_stream.hpp). Every record goes to one worker, so the
  /// window runs with parallelism 1; results carry the key `NoKey{}`.
  template <class Spec>
  WindowedStream<NoKey, T, Spec> window_all(const Spec& spec) const;

  // ---- streaming/ (timestamps and watermarks) ----

  /// Sets each record's event timestamp: `f(const T&) -> Timestamp` (µs).
  template <class F>
  Stream assign_timestamps(F f) const;

  /// Generates watermarks on this stream per `strategy`.
  Stream watermarks(const WatermarkStrategy& strategy) const;

  /// Punctuated watermarks: `f(const T&, Timestamp ts) -> std::optional<Timestamp>`
  /// returns a watermark to emit right after that record.
  template <class F>
  Stream watermarks(const PunctuatedWatermarks<F>& strategy) const;

  /// Sends the stream to a sink (see connectors/ for the built-in ones).
  template <class S>
    requires std::derived_from<S, Sink<T>>
  void sink(S sink, const std::string& name = "") const {
    this->sink(std::shared_ptr<Sink<T>>(std::make_shared<S>(std::move(sink))), name);
  }
  void sink(std::shared_ptr<Sink<T>> sink, const std::string& name = "") const;

  // ---- side outputs ----

  /// The side output `tag` of the operator that produces this stream.
  template <class U>
  Stream<U> side_output(const OutputTag<U>& tag) const {
    detail::Node& node = graph_->node(node_);
    if (!node.has_side_outputs())
      throw GraphError(node.name(), "", "operator '" + node.kind() + "' has no side outputs (asked for '" +
                                            tag.name() + "')");
    const bool declared = node.has_side_port(tag.id());
    const int port = node.side_port<U>(declared ? -1 : graph_->new_port(), tag);
    if (!declared) graph_->set_producer(port, node_);
    return Stream<U>(graph_, node_, port);
  }

  /// Bad records of the operator that produces this stream (sources and
  /// parsers): the reason, the source and the position of each.
  Stream<DeadLetter> dead_letters() const { return side_output(dead_letter_tag()); }

  // ---- plumbing for operator definitions ----

  /// Adds `node` (constructed with the new output port) after this stream.
  template <class U, class N, class... Args>
  Stream<U> then(Args&&... args) const {
    const int port = graph_->new_port();
    N& node = graph_->add(std::make_unique<N>(port_, port, std::forward<Args>(args)...), {port_}, {port});
    return Stream<U>(graph_, node.id(), port);
  }
  const std::shared_ptr<detail::Graph>& graph() const { return graph_; }
  int port() const { return port_; }
  int node_id() const { return node_; }

 private:
  std::shared_ptr<detail::Graph> graph_;
  int node_;
  int port_;
};

/// A stream partitioned by key. Keyed operators (process, and windows/joins
/// later) see each key on exactly one worker, with state per key group.
template <class K, class T>
class KeyedStream {
 public:
  using key_type = K;
  using value_type = T;

  explicit KeyedStream(Stream<Keyed<K, T>> routed) : routed_(std::move(routed)) {}

  /// A keyed process function per key (operators/keyed_process.hpp).
  template <class Fn>
  auto process(Fn fn) const -> Stream<typename Fn::output_type>;

  /// Groups each key's records into windows (windows/windowed_stream.hpp):
  /// `.window(tumbling(1s)).aggregate(count())`; specs in windows/assigners.hpp.
  template <class Spec>
  WindowedStream<K, T, Spec> window(const Spec& spec) const;

  /// The underlying stream of routed records.
  const Stream<Keyed<K, T>>& routed() const { return routed_; }
  KeyedStream name(const std::string& name) const { return KeyedStream(routed_.name(name)); }

 private:
  Stream<Keyed<K, T>> routed_;
};

}  // namespace sluice
