// Copies and conversions: contiguous, clone, to(dtype/device), copy_, fill_, zero_.
#include "twig/autograd/function.h"
#include "twig/autograd/ops/inplace.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;

namespace {
Tensor copy_to(const Tensor& t, Dtype dtype, Device device) {
  Tensor out = detail::make_empty(t.sizes(), dtype, device);
  // A cross-device copy is served by the non-CPU side's backend.
  Backend& b = device.is_cpu() ? backend_for(t.device()) : backend_for(device);
  b.copy(out, t);
  return out;
}
}  // namespace

Tensor Tensor::clone() const {
  if (defined() && is_sparse()) return detail::sparse_to(*this, options(), /*copy=*/true);
  detail::check_defined(*this, "clone");
  trace::Scope scope;
  Tensor out = copy_to(*this, dtype(), device());
  autograd::record("CloneBackward0", {*this}, {out}, [](const TensorList& g, const Node&) { return TensorList{g[0]}; });
  if (scope.recording()) [[unlikely]]
    scope.record1("clone", {*this}, {}, out, [](const TensorList& in) { return in[0].clone(); });
  return out;
}

Tensor Tensor::contiguous() const {
  detail::check_defined(*this, "contiguous");
  trace::Scope scope;
  Tensor out = is_contiguous() ? *this : clone();
  if (scope.recording()) [[unlikely]]
    scope.record1("contiguous", {*this}, {}, out, [](const TensorList& in) { return in[0].contiguous(); });
  return out;
}

Tensor Tensor::to(const TensorOptions& options, bool copy) const {
  if (defined() && is_sparse()) return detail::sparse_to(*this, options, copy);
  detail::check_defined(*this, "to");
  Dtype dt = options.dtype_or(dtype());
  Device dev = options.device_;
  if (!copy && dt == dtype() && dev == device()) return *this;
  Tensor out = copy_to(*this, dt, dev);
  // Integer and bool results are not differentiable: like torch, they simply leave the graph.
  if (!is_floating(dt)) return out;
  autograd::record("ToCopyBackward0", {*this}, {out},
                   [src_dtype = dtype(), src_device = device()](const TensorList& g, const Node&) {
                     return TensorList{g[0].to(TensorOptions(src_dtype).device(src_device))};
                   });
  return out;
}

Tensor Tensor::to(Dtype dt, bool copy) const { return to(TensorOptions(dt).device(device()), copy); }
Tensor Tensor::to(Device dev, bool copy) const { return to(TensorOptions(dtype()).device(dev), copy); }

const Tensor& Tensor::copy_(const Tensor& src) const {
  detail::check_defined(src, "copy_");
  return detail::inplace(
      *this, "copy_", {src},
      [&](const Tensor& s) {
        // Broadcast first, then convert: backward then converts the gradient to src's dtype before
        // summing over the broadcast dims, as PyTorch does (a float64 src gets a float64-accurate sum).
        Tensor v = src.expand(sizes()).to(TensorOptions(dtype()).device(device()), /*copy=*/true);
        // where() keeps self in the graph with a zero gradient, like PyTorch's CopyBackwards (and fill_).
        return where(ones_like(s, kBool), v, s);
      },
      [&] {
        Shape shape = broadcast_shape(sizes(), src.sizes());
        TWIG_CHECK(shape == sizes(), RuntimeError, "copy_: the source of shape ", src.sizes(),
                   " cannot be broadcast to the destination shape ", sizes());
        Backend& b = device().is_cpu() ? backend_for(src.device()) : backend_for(device());
        b.copy(*this, detail::broadcast_raw(src, sizes()));
      });
}

const Tensor& Tensor::fill_(Scalar value) const {
  return detail::inplace(
      *this, "fill_", {}, [&](const Tensor& s) { return where(ones_like(s, kBool), full_like(s, value), s); },
      [&] {
        TWIG_CHECK(
            !(value.is_floating() && !is_floating(dtype()) && value.to_double() != static_cast<double>(value.to_int())),
            TypeError, "fill_: value ", value, " cannot be converted to ", dtype_name(dtype()), " without overflow");
        backend_for(device()).fill(*this, value);
      });
}

const Tensor& Tensor::zero_() const { return fill_(0); }

}  // namespace twig
