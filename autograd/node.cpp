#include "twig/autograd/node.h"

#include <atomic>

#include "twig/autograd/autograd_meta.h"
#include "twig/autograd/grad_mode.h"
#include "twig/tensor/raw.h"

namespace twig::autograd {

namespace {
std::atomic<uint64_t> next_sequence_nr{0};
}

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(next_sequence_nr++) {}

Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  auto take_unique = [&stack](std::vector<Edge>& edges) {
    for (Edge& e : edges) {
      if (e.node && e.node.use_count() == 1) stack.push_back(std::move(e.node));
    }
  };
  take_unique(next_edges_);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    take_unique(n->next_edges_);
    // n is destroyed here with no uniquely owned successors left, so its destructor is shallow.
  }
}

void Node::add_output(const Tensor& t) {
  outputs_.push_back({t.sizes(), t.dtype(), t.device()});
  grad_hooks_.emplace_back();
}

RemovableHandle Node::register_grad_hook(uint32_t output_nr, TensorHook hook) {
  TWIG_INTERNAL_ASSERT(output_nr < grad_hooks_.size(), "output_nr ", output_nr, " of ", name_);
  return grad_hooks_[output_nr].add(std::move(hook));
}

void Node::run_grad_hooks(TensorList& grads) {
  for (size_t i = 0; i < grad_hooks_.size() && i < grads.size(); ++i) {
    if (grad_hooks_[i].empty() || !grads[i].defined()) continue;
    for (auto& [id, hook] : grad_hooks_[i].snapshot()) {
      Tensor replaced = hook(grads[i]);
      if (replaced.defined()) grads[i] = replaced;
    }
  }
}

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  defined_ = true;
  saved_version_ = t.version();
  data_ = detail::make_alias(t, t.sizes(), t.strides(), t.storage_offset());
  data_.impl()->view_base.reset();
}

Tensor SavedTensor::get() const {
  if (!defined_) return Tensor();
  TWIG_CHECK(!released_, RuntimeError,
             "Trying to backward through the graph a second time (or directly access saved tensors after they "
             "have already been freed). Specify retain_graph=true on the first backward call if you need to "
             "backward through the graph a second time.");
  TWIG_CHECK(data_.version() == saved_version_, RuntimeError,
             "one of the variables needed for gradient computation has been modified by an inplace operation: [",
             detail::describe(data_), "] is at version ", data_.version(), "; expected version ", saved_version_,
             " instead.");
  return data_;
}

void SavedTensor::reset() {
  data_ = Tensor();
  released_ = true;
}

TensorList FunctionNode::apply(TensorList grads) {
  TWIG_CHECK(!released_, RuntimeError, "Trying to backward through the graph a second time through ", name(),
             ": its saved tensors were freed. Specify retain_graph=true on the first backward call if you need "
             "to backward through the graph a second time.");
  return fn_(grads, *this);
}

void FunctionNode::release_saved() {
  fn_ = nullptr;  // drops the closure and everything it saved
  released_ = true;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {
  add_output(Tensor(leaf_));
}

TensorList AccumulateGrad::apply(TensorList grads) {
  Tensor g = std::move(grads[0]);
  if (!g.defined()) return {};
  Tensor leaf(leaf_);
  AutogradMeta& m = meta(leaf);
  for (auto& [id, hook] : m.hooks.snapshot()) {
    Tensor replaced = hook(g);
    if (replaced.defined()) g = replaced;
  }
  NoGradGuard no_grad;
  if (!m.grad.defined()) {
    // Steal a gradient nobody else holds; copy one that may alias another tensor.
    bool owned = g.use_count() == 1 && g.is_contiguous() && !g.impl()->view_base && g.dtype() == leaf.dtype();
    m.grad = owned ? g : detail::copy_raw(g, leaf.dtype(), g.device());
  } else {
    detail::add_into_raw(m.grad, g);
  }
  return {};
}

}  // namespace twig::autograd
