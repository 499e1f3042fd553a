#include "twig/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "twig/autograd/autograd_meta.h"
#include "twig/autograd/grad_mode.h"
#include "twig/tensor/raw.h"

namespace twig::autograd {

namespace {

struct Capture {
  uint32_t slot;
  size_t result_index;
};

struct LaterFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

void accumulate_into(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else {
    slot = detail::add_raw(slot, g);
  }
}

void validate_grads(const Node& node, TensorList& grads) {
  const auto& metas = node.outputs();
  for (size_t i = 0; i < grads.size() && i < metas.size(); ++i) {
    if (!grads[i].defined()) continue;
    if (grads[i].sizes() != metas[i].shape) {
      TWIG_CHECK(grads[i].numel() == shape_numel(metas[i].shape), RuntimeError, "Function ", node.name(),
                 " received an invalid gradient at index ", i, " - got ", grads[i].sizes(), " but expected shape ",
                 metas[i].shape);
      grads[i] = detail::reshape_raw(grads[i], metas[i].shape);
    }
    if (grads[i].dtype() != metas[i].dtype) grads[i] = detail::copy_raw(grads[i], metas[i].dtype, grads[i].device());
  }
}

// The shared walk of backward() and grad(). With captures, gradients reaching the captured slots
// are returned and no leaf's .grad is touched.
TensorList run_backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph,
                        const TensorList* inputs, bool allow_unused) {
  TWIG_CHECK(grad_roots.empty() || grad_roots.size() == roots.size(), RuntimeError, "backward: got ", roots.size(),
             " tensors but ", grad_roots.size(), " gradients");
  NoGradGuard no_grad;

  std::vector<std::pair<Edge, Tensor>> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    detail::check_defined(r, "backward");
    Edge e = gradient_edge(r);
    TWIG_CHECK(e.valid(), RuntimeError, "element ", i, " of tensors does not require grad and does not have a grad_fn");
    Tensor g = grad_roots.empty() ? Tensor() : grad_roots[i];
    if (!g.defined()) {
      TWIG_CHECK(r.numel() == 1, RuntimeError, "grad can be implicitly created only for scalar outputs (got shape ",
                 r.sizes(), ")");
      g = detail::make_full(r.sizes(), 1, r.dtype(), r.device());
    } else {
      TWIG_CHECK(g.sizes() == r.sizes(), RuntimeError, "backward: gradient has shape ", g.sizes(),
                 " but the tensor has shape ", r.sizes());
    }
    root_edges.emplace_back(std::move(e), std::move(g));
  }

  // Where captured gradients are read.
  std::unordered_map<Node*, std::vector<Capture>> captures;
  TensorList results;
  std::vector<std::shared_ptr<Node>> keep_alive;
  if (inputs) {
    results.resize(inputs->size());
    for (size_t i = 0; i < inputs->size(); ++i) {
      const Tensor& in = (*inputs)[i];
      detail::check_defined(in, "grad");
      Edge e = gradient_edge(in);
      TWIG_CHECK(e.valid(), RuntimeError, "grad: input ", i, " does not require grad");
      captures[e.node.get()].push_back({e.input_nr, i});
      keep_alive.push_back(e.node);
    }
  }

  // Count, for each node, how many edges lead into it (explicit stack, no recursion).
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (auto& [edge, g] : root_edges) {
    if (seen.insert(edge.node.get()).second) stack.push_back(edge.node.get());
  }
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      if (!e.valid()) continue;
      dependencies[e.node.get()]++;
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  std::unordered_map<Node*, TensorList> buffers;
  auto buffer_for = [&](const std::shared_ptr<Node>& n) -> TensorList& {
    TensorList& b = buffers[n.get()];
    if (b.size() < n->outputs().size()) b.resize(n->outputs().size());
    return b;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, LaterFirst> ready;
  std::unordered_set<Node*> queued;
  for (auto& [edge, g] : root_edges) {
    accumulate_into(buffer_for(edge.node)[edge.input_nr], g);
  }
  for (auto& [edge, g] : root_edges) {
    if (dependencies[edge.node.get()] == 0 && queued.insert(edge.node.get()).second) ready.push(edge.node);
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    TensorList grads = std::move(buffer_for(node));
    buffers.erase(node.get());
    validate_grads(*node, grads);
    node->run_grad_hooks(grads);

    auto cap = captures.find(node.get());
    if (cap != captures.end()) {
      for (const Capture& c : cap->second) results[c.result_index] = grads[c.slot];
    }
    bool is_sink = dynamic_cast<AccumulateGrad*>(node.get()) != nullptr;
    TensorList outs;
    bool any_grad = false;
    for (const Tensor& g : grads) any_grad = any_grad || g.defined();
    if (any_grad && !(inputs && is_sink)) {
      if (!is_sink) {
        const auto& metas = node->outputs();
        for (size_t i = 0; i < grads.size(); ++i) {
          if (!grads[i].defined()) grads[i] = detail::make_full(metas[i].shape, 0, metas[i].dtype, metas[i].device);
        }
      }
      outs = node->apply(std::move(grads));
    }
    if (!retain_graph) node->release_saved();

    const auto& edges = node->next_edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.valid()) continue;
      if (i < outs.size() && outs[i].defined()) accumulate_into(buffer_for(e.node)[e.input_nr], outs[i]);
      if (--dependencies[e.node.get()] == 0 && queued.insert(e.node.get()).second) ready.push(e.node);
    }
  }

  if (inputs && !allow_unused) {
    for (size_t i = 0; i < results.size(); ++i) {
      TWIG_CHECK(results[i].defined(), RuntimeError, "grad: input ", i,
                 " was not used in the graph (set allow_unused=true if this is intended)");
    }
  }
  return results;
}

}  // namespace

void backward(const TensorList& roots, const TensorList& grad_roots, bool retain_graph) {
  run_backward(roots, grad_roots, retain_graph, nullptr, false);
}

TensorList grad(const TensorList& roots, const TensorList& inputs, const TensorList& grad_roots, bool retain_graph,
                bool allow_unused) {
  return run_backward(roots, grad_roots, retain_graph, &inputs, allow_unused);
}

}  // namespace twig::autograd
