// A graph node for a chained single-input operator built from one user
// function: the common shape of map, filter and flat_map.
#pragma once

#include "streaming/detail/graph.hpp"
#include "streaming/detail/operator_base.hpp"

namespace sluice::detail {

template <class In, class Out, template <class, class, class> class Op, class F>
class ChainedNode final : public Node {
 public:
  ChainedNode(int in, int out, std::string kind, F fn) : Node(std::move(kind), ""), in_(in), out_(out), fn_(std::move(fn)) {}

  void instantiate(BuildContext& ctx) const override {
    auto& op = ctx.make<Op<In, Out, F>>(ctx.metrics.add_operator(name(), kind()), fn_);
    ctx.port<In>(in_).connect(&op);
    ctx.set_port<Out>(out_, op.output());
  }

 private:
  int in_, out_;
  F fn_;
};

}  // namespace sluice::detail
