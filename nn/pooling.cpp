// F::max_pool2d / avg_pool2d / adaptive_avg_pool2d / adaptive_max_pool2d and their modules.
// Each function checks its arguments as PyTorch 1.13 does, runs one backend kernel on the
// (B = N*C, H, W) planes and records one autograd node whose backward is the matching kernel.
// All compute is the backend's; gradients are allocated on the gradient's device.
#include "twig/nn/pooling.h"

#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

using functional::IntPair;

namespace {

using autograd::Node;

// (H, W) from a one-value-or-pair argument; RuntimeError naming the op and argument otherwise.
std::pair<int64_t, int64_t> pair_arg(const IntPair& v, const char* op, const char* what) {
  TWIG_CHECK(v.size() == 1 || v.size() == 2, RuntimeError, op, ": ", what, ", got ", v);
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}

// PyTorch's pooling_output_shape for one dim.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  TWIG_CHECK(stride != 0, RuntimeError, "stride should not be zero");
  TWIG_CHECK(pad >= 0, RuntimeError, "pad must be non-negative, but got pad: ", pad);
  TWIG_CHECK(pad <= k / 2, RuntimeError, "pad should be at most half of kernel size, but got pad=", pad,
             " and kernel_size=", k);
  const int64_t num = in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  // Floor division (num may be negative for a too-small input).
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  // The last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The input as (B, H, W) planes (contiguous) and where the output goes.
struct Planes {
  Tensor in;        // (B, H, W) contiguous
  Shape out_shape;  // x's shape with (H, W) replaced by (OH, OW)
  int64_t B, H, W;
};

Planes to_planes(const Tensor& x, int64_t OH, int64_t OW) {
  Planes p;
  p.H = x.size(-2);
  p.W = x.size(-1);
  p.B = x.dim() == 4 ? x.size(0) * x.size(1) : x.size(0);
  const Tensor c = detail::contiguous_raw(x);
  p.in = detail::make_alias(c, {p.B, p.H, p.W}, {p.H * p.W, p.W, 1}, c.storage_offset());
  p.out_shape = x.sizes();
  p.out_shape[p.out_shape.size() - 2] = OH;
  p.out_shape[p.out_shape.size() - 1] = OW;
  return p;
}

// A (B, OH, OW) view of a tensor shaped out_shape (contiguous).
Tensor planes_of(const Tensor& t, int64_t B) {
  const int64_t OH = t.size(-2), OW = t.size(-1);
  return detail::make_alias(t, {B, OH, OW}, {OH * OW, OW, 1}, t.storage_offset());
}

void check_pool_input(const Tensor& x, const char* op) {
  detail::check_defined(x, op);
  TWIG_CHECK(x.dim() == 3 || x.dim() == 4, RuntimeError, "non-empty 3D or 4D (batch mode) tensor expected for input",
             " (", op, " got input of size ", x.sizes(), ")");
  for (int64_t d = 1; d < x.dim(); ++d) {
    TWIG_CHECK(x.size(d) > 0, RuntimeError, op, ": Expected input to have non-zero size for non-batch dimensions, ",
               "but input has sizes ", x.sizes(), " with dimension ", d, " being empty");
  }
  TWIG_CHECK(is_floating(x.dtype()), RuntimeError, op, ": expected a floating input, got ",
             dtype_tensor_name(x.dtype()));
}

Pool2dGeometry pool_geometry(const Tensor& x, const char* op, const IntPair& kernel_size, const IntPair& stride,
                             const IntPair& padding, const IntPair& dilation, bool ceil_mode) {
  check_pool_input(x, op);
  Pool2dGeometry g;
  std::tie(g.kernel_h, g.kernel_w) =
      pair_arg(kernel_size, op, "kernel_size must either be a single int, or a tuple of two ints");
  if (stride.empty()) {
    g.stride_h = g.kernel_h;
    g.stride_w = g.kernel_w;
  } else {
    std::tie(g.stride_h, g.stride_w) =
        pair_arg(stride, op, "stride must either be omitted, a single int, or a tuple of two ints");
  }
  std::tie(g.pad_h, g.pad_w) = pair_arg(padding, op, "padding must either be a single int, or a tuple of two ints");
  std::tie(g.dilation_h, g.dilation_w) =
      pair_arg(dilation, op, "dilation must be either a single int, or a tuple of two ints");
  g.in_h = x.size(-2);
  g.in_w = x.size(-1);
  g.out_h = pooled_size(g.in_h, g.kernel_h, g.pad_h, g.stride_h, g.dilation_h, ceil_mode);
  g.out_w = pooled_size(g.in_w, g.kernel_w, g.pad_w, g.stride_w, g.dilation_w, ceil_mode);
  TWIG_CHECK(g.kernel_h > 0 && g.kernel_w > 0, RuntimeError,
             "kernel size should be greater than zero, but got kH: ", g.kernel_h, " kW: ", g.kernel_w);
  TWIG_CHECK(g.stride_h > 0 && g.stride_w > 0, RuntimeError,
             "stride should be greater than zero, but got dH: ", g.stride_h, " dW: ", g.stride_w);
  TWIG_CHECK(g.dilation_h > 0 && g.dilation_w > 0, RuntimeError,
             "dilation should be greater than zero, but got dilationH: ", g.dilation_h, " dilationW: ", g.dilation_w);
  const int64_t planes = x.size(-3);
  TWIG_CHECK(g.out_h >= 1 && g.out_w >= 1, RuntimeError, "Given input size: (", planes, "x", g.in_h, "x", g.in_w,
             "). Calculated output size: (", planes, "x", g.out_h, "x", g.out_w, "). Output size is too small");
  return g;
}

std::pair<int64_t, int64_t> adaptive_size(const Tensor& x, const IntPair& output_size, const char* op) {
  detail::check_defined(x, op);
  TWIG_CHECK(x.dim() == 3 || x.dim() == 4, RuntimeError, op, "(): Expected 3D or 4D tensor, but got ", x.sizes());
  for (int64_t d = 1; d < x.dim(); ++d) {
    TWIG_CHECK(x.size(d) > 0, RuntimeError, op, "(): Expected input to have non-zero size for non-batch dimensions, ",
               "but input has sizes ", x.sizes(), " with dimension ", d, " being empty");
  }
  TWIG_CHECK(is_floating(x.dtype()), RuntimeError, op, ": expected a floating input, got ",
             dtype_tensor_name(x.dtype()));
  auto [oh, ow] = pair_arg(output_size, op, "output_size must be a single int or a pair of ints");
  TWIG_CHECK(oh >= 0 && ow >= 0, RuntimeError, op, ": elements of output_size must be non-negative, got ", output_size);
  return {oh, ow};
}

// Records a pooling node whose backward runs `kernel(grad_in_planes, grad_out_planes)`.
template <typename Kernel>
void record_pool(const char* name, const Tensor& x, const Tensor& out, int64_t B, Kernel kernel) {
  if (!autograd::should_record({x})) return;
  autograd::record(name, {x}, {out}, [x_shape = x.sizes(), B, kernel](const TensorList& g, const Node&) -> TensorList {
    const Tensor go = detail::contiguous_raw(g[0]);
    Tensor gx = detail::make_empty(x_shape, go.dtype(), go.device());
    if (gx.numel() > 0 && go.numel() > 0)
      kernel(planes_of(gx, B), planes_of(go, B));
    else if (gx.numel() > 0)
      backend_for(gx.device()).fill(gx, 0);
    return {gx};
  });
}

}  // namespace

namespace functional {

Tensor max_pool2d(const Tensor& x, const IntPair& kernel_size, const IntPair& stride, const IntPair& padding,
                  const IntPair& dilation, bool ceil_mode) {
  trace::Scope scope;
  Tensor out = max_pool2d_with_indices(x, kernel_size, stride, padding, dilation, ceil_mode).first;
  if (scope.recording()) [[unlikely]]
    scope.record1("max_pool2d", {x},
                  {{"kernel_size", trace::repr(kernel_size)},
                   {"stride", trace::repr(stride)},
                   {"padding", trace::repr(padding)},
                   {"dilation", trace::repr(dilation)},
                   {"ceil_mode", trace::repr(ceil_mode)}},
                  out, [kernel_size, stride, padding, dilation, ceil_mode](const TensorList& in) {
                    return max_pool2d(in[0], kernel_size, stride, padding, dilation, ceil_mode);
                  });
  return out;
}

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const IntPair& kernel_size, const IntPair& stride,
                                                  const IntPair& padding, const IntPair& dilation, bool ceil_mode) {
  const Pool2dGeometry g = pool_geometry(x, "max_pool2d", kernel_size, stride, padding, dilation, ceil_mode);
  const Planes p = to_planes(x, g.out_h, g.out_w);
  Tensor out = detail::make_empty(p.out_shape, x.dtype(), x.device());
  Tensor indices = detail::make_empty(p.out_shape, kInt64, x.device());
  if (out.numel() > 0) backend_for(x.device()).max_pool2d(planes_of(out, p.B), planes_of(indices, p.B), p.in, g);
  record_pool("MaxPool2DWithIndicesBackward0", x, out, p.B, [indices, B = p.B](const Tensor& gi, const Tensor& go) {
    backend_for(gi.device()).max_pool2d_backward(gi, go, planes_of(indices, B));
  });
  return {out, indices};
}

Tensor avg_pool2d(const Tensor& x, const IntPair& kernel_size, const IntPair& stride, const IntPair& padding,
                  bool ceil_mode, bool count_include_pad, std::optional<int64_t> divisor_override) {
  trace::Scope scope;
  TWIG_CHECK(!divisor_override || *divisor_override != 0, RuntimeError, "divisor must be not zero");
  Pool2dGeometry g = pool_geometry(x, "avg_pool2d", kernel_size, stride, padding, {1}, ceil_mode);
  g.count_include_pad = count_include_pad;
  g.divisor_override = divisor_override.value_or(0);
  const Planes p = to_planes(x, g.out_h, g.out_w);
  Tensor out = detail::make_empty(p.out_shape, x.dtype(), x.device());
  if (out.numel() > 0) backend_for(x.device()).avg_pool2d(planes_of(out, p.B), p.in, g);
  record_pool("AvgPool2DBackward0", x, out, p.B,
              [g](const Tensor& gi, const Tensor& go) { backend_for(gi.device()).avg_pool2d_backward(gi, go, g); });
  if (scope.recording()) [[unlikely]]
    scope.record1(
        "avg_pool2d", {x},
        {{"kernel_size", trace::repr(kernel_size)},
         {"stride", trace::repr(stride)},
         {"padding", trace::repr(padding)},
         {"ceil_mode", trace::repr(ceil_mode)},
         {"count_include_pad", trace::repr(count_include_pad)},
         {"divisor_override", trace::repr(divisor_override)}},
        out, [kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override](const TensorList& in) {
          return avg_pool2d(in[0], kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override);
        });
  return out;
}

Tensor adaptive_avg_pool2d(const Tensor& x, const IntPair& output_size) {
  trace::Scope scope;
  const auto [OH, OW] = adaptive_size(x, output_size, "adaptive_avg_pool2d");
  const Planes p = to_planes(x, OH, OW);
  Tensor out = detail::make_empty(p.out_shape, x.dtype(), x.device());
  if (out.numel() > 0) backend_for(x.device()).adaptive_avg_pool2d(planes_of(out, p.B), p.in);
  record_pool("AdaptiveAvgPool2DBackward0", x, out, p.B, [](const Tensor& gi, const Tensor& go) {
    backend_for(gi.device()).adaptive_avg_pool2d_backward(gi, go);
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("adaptive_avg_pool2d", {x}, {{"output_size", trace::repr(output_size)}}, out,
                  [output_size](const TensorList& in) { return adaptive_avg_pool2d(in[0], output_size); });
  return out;
}

Tensor adaptive_max_pool2d(const Tensor& x, const IntPair& output_size) {
  trace::Scope scope;
  const auto [OH, OW] = adaptive_size(x, output_size, "adaptive_max_pool2d");
  const Planes p = to_planes(x, OH, OW);
  Tensor out = detail::make_empty(p.out_shape, x.dtype(), x.device());
  Tensor indices = detail::make_empty(p.out_shape, kInt64, x.device());
  if (out.numel() > 0) {
    backend_for(x.device()).adaptive_max_pool2d(planes_of(out, p.B), planes_of(indices, p.B), p.in);
  }
  record_pool("AdaptiveMaxPool2DBackward0", x, out, p.B, [indices, B = p.B](const Tensor& gi, const Tensor& go) {
    backend_for(gi.device()).max_pool2d_backward(gi, go, planes_of(indices, B));
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("adaptive_max_pool2d", {x}, {{"output_size", trace::repr(output_size)}}, out,
                  [output_size](const TensorList& in) { return adaptive_max_pool2d(in[0], output_size); });
  return out;
}

}  // namespace functional

// ---- modules ------------------------------------------------------------------------------------

namespace {
// kernel_size=2 or kernel_size=(2, 3), as the option was given.
std::string repr_arg(const SpatialInts& v) { return python_repr(v.values, v.values.size() != 1); }
}  // namespace

Tensor MaxPool2d::forward(const Tensor& x) {
  const auto& o = options;
  return F::max_pool2d(x, o.kernel_size_.values, o.stride_ ? o.stride_->values : IntPair{}, o.padding_.values,
                       o.dilation_.values, o.ceil_mode_);
}

Value MaxPool2d::forward_values(const Values& inputs) {
  if (!options.return_indices_) return UnaryModule::forward_values(inputs);
  TWIG_CHECK(inputs.size() == 1, TypeError, type_name(), ".forward() takes 1 input but ", inputs.size(), " were given");
  const auto [out, indices] = forward_with_indices(inputs[0].tensor());
  return Value::tuple({Value(out), Value(indices)});
}

std::pair<Tensor, Tensor> MaxPool2d::forward_with_indices(const Tensor& x) {
  const auto& o = options;
  return F::max_pool2d_with_indices(x, o.kernel_size_.values, o.stride_ ? o.stride_->values : IntPair{},
                                    o.padding_.values, o.dilation_.values, o.ceil_mode_);
}

std::string MaxPool2d::extra_repr() const {
  const auto& o = options;
  return detail::str_cat("kernel_size=", repr_arg(o.kernel_size_),
                         ", stride=", repr_arg(o.stride_.value_or(o.kernel_size_)), ", padding=", repr_arg(o.padding_),
                         ", dilation=", repr_arg(o.dilation_), ", ceil_mode=", o.ceil_mode_ ? "True" : "False");
}

Tensor AvgPool2d::forward(const Tensor& x) {
  const auto& o = options;
  return F::avg_pool2d(x, o.kernel_size_.values, o.stride_ ? o.stride_->values : IntPair{}, o.padding_.values,
                       o.ceil_mode_, o.count_include_pad_, o.divisor_override_);
}

std::string AvgPool2d::extra_repr() const {
  const auto& o = options;
  return detail::str_cat("kernel_size=", repr_arg(o.kernel_size_),
                         ", stride=", repr_arg(o.stride_.value_or(o.kernel_size_)), ", padding=", repr_arg(o.padding_));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return F::adaptive_avg_pool2d(x, output_size.values); }
std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + repr_arg(output_size); }

Tensor AdaptiveMaxPool2d::forward(const Tensor& x) { return F::adaptive_max_pool2d(x, output_size.values); }
std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + repr_arg(output_size); }

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr MaxPool2d::clone_instance() const { return std::make_shared<MaxPool2d>(*this); }
ModulePtr AvgPool2d::clone_instance() const { return std::make_shared<AvgPool2d>(*this); }
ModulePtr AdaptiveAvgPool2d::clone_instance() const { return std::make_shared<AdaptiveAvgPool2d>(*this); }
ModulePtr AdaptiveMaxPool2d::clone_instance() const { return std::make_shared<AdaptiveMaxPool2d>(*this); }

}  // namespace twig::nn
