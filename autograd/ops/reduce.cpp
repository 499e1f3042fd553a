// Reductions: sum, mean, prod, var/std, max/min (with indices), argmax/argmin, norm,
// count_nonzero, all/any, cumsum, softmax/log_softmax.
#include <algorithm>
#include <cmath>
#include <tuple>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;

namespace detail {

Tensor expand_reduced_grad(const Tensor& g, const ReduceDims& rd, const Shape& input_shape) {
  return g.reshape(rd.keep_shape).expand(input_shape);
}

}  // namespace detail

Tensor Tensor::sum(const Dims& dims, bool keepdim, std::optional<Dtype> dtype_opt) const {
  trace::Scope scope;
  detail::check_defined(*this, "sum");
  detail::ReduceDims rd = detail::reduce_dims(*this, dims, keepdim);
  Dtype out_dtype = dtype_opt.value_or(is_floating(dtype()) ? dtype() : kInt64);
  Tensor out;
  {
    NoGradGuard no_grad;  // reduce_raw's view is an implementation detail
    out = detail::reduce_raw(ReduceOp::Sum, *this, rd, out_dtype);
  }
  autograd::record("SumBackward1", {*this}, {out}, [rd, s = sizes()](const TensorList& g, const Node&) {
    return TensorList{detail::expand_reduced_grad(g[0], rd, s)};
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("sum", {*this}, {{"dim", trace::repr(dims)}, {"keepdim", trace::repr(keepdim)}}, out,
                  [dims, keepdim, dtype_opt](const TensorList& in) { return in[0].sum(dims, keepdim, dtype_opt); });
  return out;
}

Tensor Tensor::sum(std::optional<Dtype> dtype_opt) const { return sum(Dims{}, false, dtype_opt); }

Tensor Tensor::mean(const Dims& dims, bool keepdim) const {
  trace::Scope scope;
  detail::check_defined(*this, "mean");
  TWIG_CHECK(
      is_floating(dtype()), RuntimeError,
      "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: ",
      dtype_tensor_name(dtype()));
  detail::ReduceDims rd = detail::reduce_dims(*this, dims, keepdim);
  Tensor out = sum(dims, keepdim) / static_cast<double>(rd.count);
  if (scope.recording()) [[unlikely]]
    scope.record1("mean", {*this}, {{"dim", trace::repr(dims)}, {"keepdim", trace::repr(keepdim)}}, out,
                  [dims, keepdim](const TensorList& in) { return in[0].mean(dims, keepdim); });
  return out;
}

Tensor Tensor::mean() const { return mean(Dims{}, false); }

namespace {

// The dims a reduction removed, as a list for ops that take Dims (sum, ...).
Dims reduced_list(const detail::ReduceDims& rd) {
  Dims red;
  for (size_t i = 0; i < rd.reduced.size(); ++i) {
    if (rd.reduced[i]) red.push_back(static_cast<int64_t>(i));
  }
  return red;
}

// max/min and friends have no identity: an empty input needs an explicit dim of non-zero size.
void check_extreme_nonempty(const Tensor& self, const Dims& dims, const char* name) {
  if (self.numel() > 0) return;
  TWIG_CHECK(!dims.empty(), RuntimeError, name,
             "(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the "
             "'dim' argument.");
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, self.dim());
    TWIG_CHECK(self.size(w) != 0, IndexError, name, "(): Expected reduction dim ", w,
               " to have non-zero size (input shape ", self.sizes(), ")");
  }
}

// amax/amin and all-element max/min: the gradient is shared evenly by the elements that attain
// the extreme (NaN counts as attaining a NaN result).
Tensor extreme(const Tensor& self, const Dims& dims, bool keepdim, ReduceOp op, const char* name,
               const char* node_name) {
  detail::check_defined(self, name);
  detail::ReduceDims rd = detail::reduce_dims(self, dims, keepdim);
  check_extreme_nonempty(self, dims, name);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = detail::reduce_raw(op, self, rd, self.dtype());
  }
  autograd::record(node_name, {self}, {out},
                   [rd, sx = SavedTensor(self), so = SavedTensor(out)](const TensorList& g, const Node&) {
                     Tensor x = sx.get();
                     Tensor y = so.get().reshape(rd.keep_shape);
                     Tensor hit = (x == y) | (x.isnan() & y.isnan());
                     Tensor count = hit.sum(reduced_list(rd), true).to(g[0].dtype());
                     return TensorList{hit * (g[0].reshape(rd.keep_shape) / count)};
                   });
  return out;
}

// Values and int64 indices of the max/min along one dim (no autograd). A 0-d input is its own
// extreme at index 0.
std::tuple<Tensor, Tensor> arg_reduce_raw(const Tensor& self, int64_t dim, bool keepdim, ReduceOp op,
                                          const char* name) {
  detail::check_defined(self, name);
  int64_t d = wrap_dim(dim, self.dim());
  check_extreme_nonempty(self, {d}, name);
  Tensor in = self.dim() == 0 ? detail::make_alias(self, {1}, {1}, self.storage_offset()) : self;
  Shape keep = in.sizes();
  keep[d] = 1;
  Tensor values = detail::make_empty(keep, self.dtype(), self.device());
  Tensor indices = detail::make_empty(keep, kInt64, self.device());
  if (values.numel() > 0) backend_for(self.device()).arg_reduce(op, values, indices, in, d);
  Shape out_shape = self.sizes();
  if (self.dim() > 0 && keepdim) out_shape[d] = 1;
  if (self.dim() > 0 && !keepdim) out_shape.erase(out_shape.begin() + d);
  return {values.view(out_shape), indices.view(out_shape)};
}

// max(dim)/min(dim): the gradient goes to the selected index only.
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& self, int64_t dim, bool keepdim, ReduceOp op, const char* name,
                                       const char* node_name) {
  auto [values, indices] = arg_reduce_raw(self, dim, keepdim, op, name);
  int64_t d = wrap_dim(dim, self.dim());
  Shape keep = self.sizes();
  if (self.dim() > 0) keep[d] = 1;
  autograd::record(node_name, {self}, {values},
                   [d, keep, s = self.sizes(), si = SavedTensor(indices)](const TensorList& g, const Node&) {
                     if (s.empty()) return TensorList{g[0]};
                     Tensor idx = si.get().reshape(keep);
                     return TensorList{zeros(s, g[0].options()).scatter_add(d, idx, g[0].reshape(keep))};
                   });
  return {values, indices};
}

// argmax/argmin: without a dim, the index into the flattened tensor (keepdim gives all-ones shape).
Tensor arg_extreme(const Tensor& self, std::optional<int64_t> dim, bool keepdim, ReduceOp op, const char* name) {
  detail::check_defined(self, name);
  TWIG_CHECK(self.dtype() != kBool, RuntimeError, "\"", name, "_cpu\" not implemented for 'Bool'");
  NoGradGuard no_grad;  // indices are not differentiable
  if (dim.has_value()) return std::get<1>(arg_reduce_raw(self, *dim, keepdim, op, name));
  TWIG_CHECK(self.numel() != 0, IndexError, name,
             "(): Expected reduction dim to be specified for input.numel() == 0 (input shape ", self.sizes(), ")");
  Tensor index = std::get<1>(arg_reduce_raw(self.reshape({self.numel()}), 0, false, op, name));
  return index.view(keepdim ? Shape(static_cast<size_t>(self.dim()), 1) : Shape{});
}

}  // namespace

Tensor Tensor::amax(const Dims& dims, bool keepdim) const {
  return extreme(*this, dims, keepdim, ReduceOp::Max, "amax", "AmaxBackward0");
}
Tensor Tensor::amin(const Dims& dims, bool keepdim) const {
  return extreme(*this, dims, keepdim, ReduceOp::Min, "amin", "AminBackward0");
}
Tensor Tensor::max() const { return extreme(*this, {}, false, ReduceOp::Max, "max", "MaxBackward1"); }
Tensor Tensor::min() const { return extreme(*this, {}, false, ReduceOp::Min, "min", "MinBackward1"); }
std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const {
  return extreme_dim(*this, dim, keepdim, ReduceOp::Max, "max", "MaxBackward0");
}
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const {
  return extreme_dim(*this, dim, keepdim, ReduceOp::Min, "min", "MinBackward0");
}
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const {
  return arg_extreme(*this, dim, keepdim, ReduceOp::Max, "argmax");
}
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const {
  return arg_extreme(*this, dim, keepdim, ReduceOp::Min, "argmin");
}

// ---- prod -------------------------------------------------------------------------------------

namespace {
// d prod / d x_i is the product of the other elements. With no zero in a slice that is out / x_i;
// with one zero, only the zero's gradient survives (the product of the nonzeros); with two or
// more, every gradient is 0.
Tensor prod_impl(const Tensor& self, const Dims& dims, bool keepdim, const char* node_name) {
  detail::check_defined(self, "prod");
  detail::ReduceDims rd = detail::reduce_dims(self, dims, keepdim);
  Dtype out_dtype = is_floating(self.dtype()) ? self.dtype() : kInt64;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = detail::reduce_raw(ReduceOp::Prod, self, rd, out_dtype);
  }
  autograd::record(node_name, {self}, {out}, [rd, sx = SavedTensor(self)](const TensorList& g, const Node&) {
    Tensor x = sx.get();
    Dims red = reduced_list(rd);
    Tensor is_zero = x == 0;
    Tensor x_safe = where(is_zero, Scalar(1.0), x);
    Tensor nonzero_prod = prod_impl(x_safe, red, true, "ProdBackward1");
    Tensor zero_count = is_zero.sum(red, true);
    Tensor others = where(is_zero, nonzero_prod * (zero_count == 1), nonzero_prod / x_safe * (zero_count == 0));
    return TensorList{g[0].reshape(rd.keep_shape) * others};
  });
  return out;
}
}  // namespace

Tensor Tensor::prod() const { return prod_impl(*this, {}, false, "ProdBackward0"); }
Tensor Tensor::prod(int64_t dim, bool keepdim) const { return prod_impl(*this, {dim}, keepdim, "ProdBackward1"); }

// ---- var / std ----------------------------------------------------------------------------------

Tensor Tensor::var(const Dims& dims, bool unbiased, bool keepdim) const {
  detail::check_defined(*this, "var");
  TWIG_CHECK(is_floating(dtype()), RuntimeError, "std and var only support floating point and complex dtypes, got ",
             dtype_tensor_name(dtype()));
  detail::ReduceDims rd = detail::reduce_dims(*this, dims, keepdim);
  // N - correction, clamped at 0 so too few elements give NaN (0/0) as in PyTorch.
  const double divisor = static_cast<double>(std::max<int64_t>(rd.count - (unbiased ? 1 : 0), 0));
  Tensor out, centered;
  {
    NoGradGuard no_grad;
    centered = *this - mean(dims, true);
    out = (centered * centered).sum(dims, keepdim) / divisor;
  }
  autograd::record("VarBackward0", {*this}, {out},
                   [rd, divisor, sc = SavedTensor(centered)](const TensorList& g, const Node&) {
                     return TensorList{g[0].reshape(rd.keep_shape) * sc.get() * (2.0 / divisor)};
                   });
  return out;
}

Tensor Tensor::var() const { return var(Dims{}, true, false); }

Tensor Tensor::std(const Dims& dims, bool unbiased, bool keepdim) const { return var(dims, unbiased, keepdim).sqrt(); }

// ---- norm ---------------------------------------------------------------------------------------

Tensor Tensor::norm(NormP p, const Dims& dims, bool keepdim) const {
  detail::check_defined(*this, "norm");
  TWIG_CHECK(is_floating(dtype()), RuntimeError, "norm(): input dtype should be either floating point or complex. Got ",
             dtype_tensor_name(dtype()), " instead.");
  detail::ReduceDims rd = detail::reduce_dims(*this, dims, keepdim);
  const double pv = p.p;
  TWIG_CHECK(rd.count > 0 || shape_numel(rd.out_shape) == 0 || !(pv < 0 || pv == INFINITY), RuntimeError,
             "norm(): cannot compute the ", p.str(),
             " norm on an empty tensor because the operation does not have an "
             "identity (input shape ",
             sizes(), ")");
  ReduceOp op = pv == 0.0         ? ReduceOp::Norm0
                : pv == INFINITY  ? ReduceOp::NormInf
                : pv == -INFINITY ? ReduceOp::NormNegInf
                                  : ReduceOp::NormP;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = detail::reduce_raw(op, *this, rd, dtype(), pv);
  }
  autograd::record("NormBackward1", {*this}, {out},
                   [rd, pv, sx = SavedTensor(*this), so = SavedTensor(out)](const TensorList& g, const Node&) {
                     Tensor x = sx.get();
                     Tensor nrm = so.get().reshape(rd.keep_shape);
                     Tensor gk = g[0].reshape(rd.keep_shape);
                     if (pv == 0.0) return TensorList{zeros_like(x)};
                     if (pv == 1.0) return TensorList{x.sign() * gk};
                     if (pv == 2.0) return TensorList{gk * where(nrm == 0, Scalar(0.0), x / nrm)};
                     if (std::isinf(pv)) {
                       // Shared evenly by the elements whose |x| attains the norm (or are NaN).
                       Tensor ax = x.abs();
                       Tensor hit = (ax == nrm) | ax.isnan();
                       Tensor count = hit.sum(reduced_list(rd), true).to(x.dtype());
                       return TensorList{x.sign() * hit * (gk / count)};
                     }
                     if (pv < 1.0) {
                       Tensor scaled = where(x == 0, Scalar(0.0), x.sign() * x.abs().pow(pv - 1.0));
                       return TensorList{scaled * gk * nrm.pow(1.0 - pv)};
                     }
                     // x |x|^(p-2) / ||x||^(p-1)
                     Tensor scaled = pv < 2.0 ? x.sign() * x.abs().pow(pv - 1.0) : x * x.abs().pow(pv - 2.0);
                     return TensorList{scaled * where(nrm == 0, Scalar(0.0), gk / nrm.pow(pv - 1.0))};
                   });
  return out;
}

Tensor Tensor::norm(NormP p) const { return norm(p, Dims{}, false); }

// ---- count_nonzero / all / any (not differentiable) ---------------------------------------------

Tensor Tensor::count_nonzero(const Dims& dims) const {
  detail::check_defined(*this, "count_nonzero");
  return detail::reduce_raw(ReduceOp::CountNonzero, *this, detail::reduce_dims(*this, dims, false), kInt64);
}

Tensor Tensor::count_nonzero() const { return count_nonzero(Dims{}); }

namespace {
// Bool result, except uint8 in gives uint8 out (torch.all/any keep uint8 for compatibility).
Tensor logical_reduce(const Tensor& self, const Dims& dims, bool keepdim, ReduceOp op, const char* name) {
  detail::check_defined(self, name);
  Dtype out_dtype = self.dtype() == kUInt8 ? kUInt8 : kBool;
  return detail::reduce_raw(op, self, detail::reduce_dims(self, dims, keepdim), out_dtype);
}
}  // namespace

Tensor Tensor::all() const { return logical_reduce(*this, {}, false, ReduceOp::All, "all"); }
Tensor Tensor::all(int64_t dim, bool keepdim) const {
  return logical_reduce(*this, {dim}, keepdim, ReduceOp::All, "all");
}
Tensor Tensor::any() const { return logical_reduce(*this, {}, false, ReduceOp::Any, "any"); }
Tensor Tensor::any(int64_t dim, bool keepdim) const {
  return logical_reduce(*this, {dim}, keepdim, ReduceOp::Any, "any");
}

// ---- cumsum -------------------------------------------------------------------------------------

Tensor Tensor::cumsum(int64_t dim) const {
  detail::check_defined(*this, "cumsum");
  const int64_t d = wrap_dim(dim, this->dim());
  Dtype out_dtype = is_floating(dtype()) ? dtype() : kInt64;
  Tensor out = detail::make_empty(sizes(), out_dtype, device());
  Tensor in = dtype() == kBool ? detail::converted(*this, kInt64) : *this;
  if (this->dim() == 0) {
    backend_for(device()).copy(out, in);
  } else if (numel() > 0) {
    backend_for(device()).cumsum(out, in, d);
  }
  // The gradient of x_i is the sum of g_j for j >= i: total - inclusive prefix + g_i.
  autograd::record("CumsumBackward0", {*this}, {out}, [d](const TensorList& g, const Node&) {
    if (g[0].dim() == 0) return TensorList{g[0]};
    return TensorList{g[0].sum({d}, true) - g[0].cumsum(d) + g[0]};
  });
  return out;
}

// ---- softmax / log_softmax ----------------------------------------------------------------------

namespace {
// One node each: the forward is composed from primitives without recording, the backward uses the
// saved output. The max along dim is subtracted first so exp cannot overflow.
Tensor softmax_impl(const Tensor& self, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  detail::check_defined(self, name);
  const int64_t d = wrap_dim(dim, self.dim());
  Tensor out;
  {
    NoGradGuard no_grad;
    TWIG_CHECK(is_floating(self.dtype()), RuntimeError, "\"",
               log ? "log_softmax_lastdim_kernel_impl" : "softmax_lastdim_kernel_impl", "\" not implemented for '",
               dtype_tensor_name(self.dtype()), "'");
    const Tensor& x = self;
    if (x.numel() == 0) {
      out = x.clone();
    } else {
      Tensor shifted = x - x.amax({d}, true);
      Tensor e = shifted.exp();
      Tensor total = e.sum({d}, true);
      out = log ? shifted - total.log() : e / total;
    }
  }
  autograd::record(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", {self}, {out},
                   [d, log, so = SavedTensor(out)](const TensorList& g, const Node&) {
                     Tensor y = so.get();
                     if (log) return TensorList{g[0] - y.exp() * g[0].sum({d}, true)};
                     return TensorList{y * (g[0] - (g[0] * y).sum({d}, true))};
                   });
  return out;
}
}  // namespace

Tensor Tensor::softmax(int64_t dim) const {
  trace::Scope scope;
  Tensor out = softmax_impl(*this, dim, false);
  if (scope.recording()) [[unlikely]]
    scope.record1("softmax", {*this}, {{"dim", trace::repr(dim)}}, out,
                  [dim](const TensorList& in) { return in[0].softmax(dim); });
  return out;
}
Tensor Tensor::log_softmax(int64_t dim) const {
  trace::Scope scope;
  Tensor out = softmax_impl(*this, dim, true);
  if (scope.recording()) [[unlikely]]
    scope.record1("log_softmax", {*this}, {{"dim", trace::repr(dim)}}, out,
                  [dim](const TensorList& in) { return in[0].log_softmax(dim); });
  return out;
}

}  // namespace twig
