// Reductions: sum, mean, prod, var/std, max/min (with indices), argmax/argmin, norm,
// count_nonzero, all/any, cumsum, softmax/log_softmax.
#include <cmath>

#include "autograd/function.h"
#include "tensor/ops.h"
#include "tensor/ops/internal.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;

namespace detail {

ReduceDims reduce_dims(const Tensor& t, const Dims& dims, bool keepdim) {
  ReduceDims rd;
  const int64_t n = t.dim();
  rd.reduced.assign(static_cast<size_t>(n), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n);
    if (n == 0) continue;
    TWIG_CHECK(!rd.reduced[w] || dims.empty(), RuntimeError, "dim ", w, " appears multiple times in the list of dims ",
               dims);
    rd.reduced[w] = true;
  }
  rd.count = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (rd.reduced[i]) {
      rd.count *= t.size(i);
      rd.keep_shape.push_back(1);
      if (keepdim) rd.out_shape.push_back(1);
    } else {
      rd.keep_shape.push_back(t.size(i));
      rd.out_shape.push_back(t.size(i));
    }
  }
  return rd;
}

Tensor reduce_raw(ReduceOp op, const Tensor& in, const ReduceDims& rd, Dtype out_dtype, double p) {
  Tensor out = make_empty(rd.keep_shape, out_dtype, in.device());
  backend_for(in.device()).reduce(op, out, in, rd.reduced, p);
  return out.view(rd.out_shape);
}

Tensor expand_reduced_grad(const Tensor& g, const ReduceDims& rd, const Shape& input_shape) {
  return g.reshape(rd.keep_shape).expand(input_shape);
}

}  // namespace detail

Tensor Tensor::sum(const Dims& dims, bool keepdim, std::optional<Dtype> dtype_opt) const {
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
  return out;
}

Tensor Tensor::sum(std::optional<Dtype> dtype_opt) const { return sum(Dims{}, false, dtype_opt); }

Tensor Tensor::mean(const Dims& dims, bool keepdim) const {
  detail::check_defined(*this, "mean");
  TWIG_CHECK(is_floating(dtype()), RuntimeError,
             "mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: ",
             dtype_tensor_name(dtype()));
  detail::ReduceDims rd = detail::reduce_dims(*this, dims, keepdim);
  return sum(dims, keepdim) / static_cast<double>(rd.count);
}

Tensor Tensor::mean() const { return mean(Dims{}, false); }

namespace {
// amax/amin: the gradient is shared evenly by the elements that attain the extreme.
Tensor extreme(const Tensor& self, const Dims& dims, bool keepdim, ReduceOp op, const char* name) {
  detail::check_defined(self, name);
  detail::ReduceDims rd = detail::reduce_dims(self, dims, keepdim);
  TWIG_CHECK(self.numel() > 0 || rd.count > 0, IndexError, name,
             "(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the "
             "'dim' argument.");
  TWIG_CHECK(rd.count > 0, IndexError, name, "(): Expected reduction dim ", dims,
             " to have non-zero size (input shape ", self.sizes(), ")");
  Tensor out = detail::reduce_raw(op, self, rd, self.dtype());
  autograd::record(name, {self}, {out}, [rd, sx = SavedTensor(self), so = SavedTensor(out)](const TensorList& g, const Node&) {
    Tensor x = sx.get();
    Tensor hit = x == so.get().reshape(rd.keep_shape);
    Dims red;
    for (size_t i = 0; i < rd.reduced.size(); ++i) {
      if (rd.reduced[i]) red.push_back(static_cast<int64_t>(i));
    }
    Tensor count = hit.sum(red, true).to(g[0].dtype());
    return TensorList{hit * (g[0].reshape(rd.keep_shape) / count)};
  });
  return out;
}
}  // namespace

Tensor Tensor::amax(const Dims& dims, bool keepdim) const { return extreme(*this, dims, keepdim, ReduceOp::Max, "amax"); }
Tensor Tensor::amin(const Dims& dims, bool keepdim) const { return extreme(*this, dims, keepdim, ReduceOp::Min, "amin"); }

}  // namespace twig
