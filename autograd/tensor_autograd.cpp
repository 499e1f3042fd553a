// Tensor's autograd methods: requires_grad, grad, backward, hooks, detach, .data.
#include "twig/autograd/autograd_meta.h"
#include "twig/autograd/engine.h"
#include "twig/autograd/function.h"
#include "twig/tensor/raw.h"

namespace twig {

using autograd::meta;
using autograd::meta_or_null;

bool Tensor::requires_grad() const {
  auto* m = meta_or_null(*this);
  return m && m->requires_grad;
}

const Tensor& Tensor::requires_grad_(bool value) const {
  if (!value && defined() && is_sparse()) return *this;  // never requires grad: nothing to clear
  detail::check_defined(*this, "requires_grad_");
  if (value) {
    TWIG_CHECK(is_floating(dtype()), RuntimeError, "only Tensors of floating point dtype can require gradients (got ",
               dtype_name(dtype()), ")");
  }
  if (!is_leaf()) {
    TWIG_CHECK(value, RuntimeError,
               "you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
               "in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
    return *this;
  }
  meta(*this).requires_grad = value;
  return *this;
}

Tensor Tensor::grad() const {
  auto* m = meta_or_null(*this);
  return m ? m->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) const {
  detail::check_defined(*this, "set_grad");
  if (g.defined()) {
    TWIG_CHECK(g.sizes() == sizes(), RuntimeError, "assigned grad has data of a different size: ", g.sizes(),
               " vs the tensor's ", sizes());
    TWIG_CHECK(g.dtype() == dtype(), RuntimeError, "assigned grad has dtype ", dtype_name(g.dtype()),
               " but the tensor is ", dtype_name(dtype()));
  }
  meta(*this).grad = g;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  auto* m = meta_or_null(*this);
  return m ? m->grad_fn : nullptr;
}

bool Tensor::is_leaf() const { return grad_fn() == nullptr; }

uint32_t Tensor::output_nr() const {
  auto* m = meta_or_null(*this);
  return m ? m->output_nr : 0;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  detail::check_defined(*this, "backward");
  if (gradient.defined()) detail::check_defined(gradient, "backward");
  autograd::backward({*this}, {gradient}, retain_graph);
}

void Tensor::retain_grad() const {
  TWIG_CHECK(requires_grad(), RuntimeError, "can't retain_grad on Tensor that has requires_grad=False");
  if (is_leaf()) return;  // leaves keep their grad anyway
  auto& m = meta(*this);
  if (m.retains_grad) return;
  m.retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_ptr();
  m.retain_grad_hook = m.grad_fn->register_grad_hook(m.output_nr, [weak](const Tensor& g) -> Tensor {
    if (auto impl = weak.lock()) {
      Tensor self(impl);
      auto& mm = meta(self);
      mm.grad = mm.grad.defined() ? detail::add_raw(mm.grad, g) : detail::copy_raw(g, g.dtype(), g.device());
    }
    return Tensor();
  });
}

bool Tensor::retains_grad() const {
  auto* m = meta_or_null(*this);
  return m && m->retains_grad;
}

RemovableHandle Tensor::register_hook(TensorHook hook) const {
  detail::check_defined(*this, "register_hook");
  TWIG_CHECK(requires_grad(), RuntimeError, "cannot register a hook on a tensor that doesn't require gradient");
  auto& m = meta(*this);
  if (m.grad_fn) return m.grad_fn->register_grad_hook(m.output_nr, std::move(hook));
  return m.hooks.add(std::move(hook));
}

Tensor Tensor::detach() const {
  if (defined() && is_sparse()) return detail::sparse_shallow_copy(*this);
  detail::check_defined(*this, "detach");
  Tensor out = detail::make_alias(*this, sizes(), strides(), storage_offset());
  out.impl()->view_base.reset();
  return out;
}

const Tensor& Tensor::detach_() const {
  detail::check_defined(*this, "detach_");
  if (auto* m = meta_or_null(*this)) {
    m->grad_fn.reset();
    m->requires_grad = false;
    m->output_nr = 0;
  }
  return *this;
}

Tensor Tensor::data() const {
  Tensor out = detach();
  out.impl()->version = std::make_shared<VersionCounter>();
  return out;
}

void Tensor::set_data(const Tensor& other) const {
  detail::check_defined(*this, "set_data");
  detail::check_defined(other, "set_data");
  if (requires_grad()) {
    TWIG_CHECK(is_floating(other.dtype()), RuntimeError, "set_data: a tensor that requires grad cannot hold ",
               dtype_name(other.dtype()), " data");
  }
  TensorImpl& self = *impl();
  const TensorImpl& src = *other.impl();
  self.storage = src.storage;
  self.sizes = src.sizes;
  self.strides = src.strides;
  self.offset = src.offset;
  self.dtype = src.dtype;
  self.view_base.reset();
}

}  // namespace twig
