#include "twig/autograd/function.h"

#include "twig/autograd/autograd_meta.h"
#include "twig/tensor/raw.h"

namespace twig::autograd {

AutogradMeta& meta(const Tensor& t) {
  TensorImpl* impl = t.impl();
  TWIG_INTERNAL_ASSERT(impl != nullptr, "autograd meta of an undefined tensor");
  if (!impl->autograd) impl->autograd = std::make_unique<AutogradMeta>();
  return static_cast<AutogradMeta&>(*impl->autograd);  // autograd/ creates every meta
}

AutogradMeta* meta_or_null(const Tensor& t) {
  return t.defined() ? static_cast<AutogradMeta*>(t.impl()->autograd.get()) : nullptr;
}

Edge gradient_edge(const Tensor& t) {
  AutogradMeta* m = meta_or_null(t);
  if (!m || !m->requires_grad) return Edge{};
  if (m->grad_fn) return Edge{m->grad_fn, m->output_nr};
  std::shared_ptr<AccumulateGrad> acc = m->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    m->grad_accumulator = acc;
  }
  return Edge{acc, 0};
}

void rebase_history(const Tensor& t, std::shared_ptr<Node> grad_fn, uint32_t output_nr) {
  AutogradMeta& m = meta(t);
  bool retained = m.retains_grad;
  if (retained) {
    m.retain_grad_hook.remove();
    m.retains_grad = false;
  }
  m.grad_fn = std::move(grad_fn);
  m.output_nr = output_nr;
  m.requires_grad = true;
  if (retained) t.retain_grad();
}

bool should_record(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs) {
    if (t.defined() && t.requires_grad()) return true;
  }
  return false;
}

void record(const char* name, const TensorList& inputs, const TensorList& outputs, FunctionNode::BackwardFn fn) {
  if (!should_record(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Tensor& t : inputs) edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
  node->set_next_edges(std::move(edges));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    node->add_output(out);
    TWIG_INTERNAL_ASSERT(is_floating(out.dtype()), name, " recorded a non-floating output");
    AutogradMeta& m = meta(out);
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(i);
    m.requires_grad = true;
  }
}

void check_inplace(const Tensor& self, const char* op) {
  if (!GradMode::is_enabled()) return;
  if (self.requires_grad() && self.is_leaf()) {
    TWIG_THROW(RuntimeError, op, ": a leaf Variable that requires grad is being used in an in-place operation.");
  }
  const auto& base = self.impl()->view_base;
  if (base) {
    Tensor b(base);
    TWIG_CHECK(!b.requires_grad(), RuntimeError, op,
               ": in-place operation on a view of a tensor that requires grad is not supported by twig's autograd; "
               "apply it to a clone() or outside autograd (NoGradGuard)");
  }
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.sizes() == shape) return grad;
  int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  TWIG_INTERNAL_ASSERT(lead >= 0, "sum_to ", grad.sizes(), " -> ", shape);
  Dims dims;
  for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1 && grad.size(lead + static_cast<int64_t>(i)) != 1) dims.push_back(lead + static_cast<int64_t>(i));
  }
  if (dims.empty()) return detail::reshape_raw(grad, shape);
  // The kernel of Tensor::sum(dims, keepdim), without the op: backward runs without grad mode.
  Dtype dtype = is_floating(grad.dtype()) ? grad.dtype() : kInt64;
  Tensor r = detail::reduce_raw(ReduceOp::Sum, grad, detail::reduce_dims(grad, dims, /*keepdim=*/true), dtype);
  return detail::reshape_raw(r, shape);
}

}  // namespace twig::autograd
