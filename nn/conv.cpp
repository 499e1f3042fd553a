// F::conv2d / F::conv3d and the Conv2d / Conv3d modules: argument checks as PyTorch 1.13 makes
// them, shapes, and one autograd node per call. The compute is the backend's
// (Backend::conv_forward / conv_backward; the CPU's chunking and threading are in
// tensor/cpu/cpu_conv_gemm.cpp). Gradients are allocated on the device of the tensors they are for.
//
// Dimension letters: N batch, C input channels, O output channels, G groups,
// S... input spatial dims, K = prod(kernel), L = prod(output spatial dims).
#include "twig/nn/conv.h"

#include <algorithm>
#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

using functional::IntPair;

namespace {

using autograd::Node;
using autograd::SavedTensor;

// One value for every spatial dim, or one per dim.
Shape expand_param(const std::vector<int64_t>& v, size_t dims, const char* name) {
  TWIG_CHECK(v.size() == 1 || v.size() == dims, RuntimeError, "expected ", name,
             " to be a single integer value or a list of ", dims,
             " values to match the convolution dimensions, but got ", name, "=", v);
  return v.size() == 1 ? Shape(dims, v[0]) : Shape(v);
}

// "2 x 3" for the kernel-size message.
std::string join_x(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? " x " : "") + std::to_string(s[i]);
  return r;
}

struct ConvPlan {
  int64_t N, C, O, G, K, L;
  bool batched;
  ConvGeometry geom;
  Shape out_shape;
};

ConvPlan plan_conv(const char* op, size_t D, const Tensor& x, const Tensor& w, const Tensor& b, const IntPair& stride,
                   const IntPair& padding, const IntPair& dilation, int64_t groups) {
  detail::check_defined(x, op);
  TWIG_CHECK(w.defined(), RuntimeError, op, ": weight is undefined");
  const int64_t nd = static_cast<int64_t>(D);
  TWIG_CHECK(x.dim() == nd + 1 || x.dim() == nd + 2, RuntimeError, "Expected ", nd + 1, "D (unbatched) or ", nd + 2,
             "D (batched) input to ", op, ", but got input of size: ", x.sizes());
  ConvPlan p;
  p.batched = x.dim() == nd + 2;
  Shape xs = x.sizes();
  if (!p.batched) xs.insert(xs.begin(), 1);

  ConvGeometry& g = p.geom;
  g.stride = expand_param(stride, D, "stride");
  g.padding = expand_param(padding, D, "padding");
  g.dilation = expand_param(dilation, D, "dilation");
  TWIG_CHECK(groups > 0, RuntimeError, "non-positive groups is not supported");
  for (size_t d = 0; d < D; ++d) {
    TWIG_CHECK(g.padding[d] >= 0, RuntimeError, "negative padding is not supported");
    TWIG_CHECK(g.stride[d] > 0, RuntimeError, "non-positive stride is not supported");
    TWIG_CHECK(g.dilation[d] > 0, RuntimeError, "dilation should be greater than zero");
  }
  const Shape& ws = w.sizes();
  TWIG_CHECK(w.dim() == nd + 2, RuntimeError, "Expected ", w.dim(), "-dimensional input for ", w.dim(),
             "-dimensional weight ", ws, ", but got ", nd + 2, "-dimensional input of size ", xs, " instead");
  TWIG_CHECK(ws[0] >= groups, RuntimeError, "Given groups=", groups, ", expected weight to be at least ", groups,
             " at dimension 0, but got weight of size ", ws, " instead");
  TWIG_CHECK(ws[0] % groups == 0, RuntimeError, "Given groups=", groups, ", expected weight to be divisible by ",
             groups, " at dimension 0, but got weight of size ", ws, " instead");
  TWIG_CHECK(xs[1] == ws[1] * groups, RuntimeError, "Given groups=", groups, ", weight of size ", ws,
             ", expected input", xs, " to have ", ws[1] * groups, " channels, but got ", xs[1], " channels instead");
  if (b.defined()) {
    TWIG_CHECK(b.dim() == 1 && b.size(0) == ws[0], RuntimeError, "Given weight of size ", ws,
               ", expected bias to be 1-dimensional with ", ws[0], " elements, but got bias of size ", b.sizes(),
               " instead");
  }
  TWIG_CHECK(is_floating(x.dtype()), RuntimeError, op, ": expected a floating input, got ",
             dtype_tensor_name(x.dtype()), " (input of size ", x.sizes(), ")");
  TWIG_CHECK(x.dtype() == w.dtype(), RuntimeError, "Input type (", dtype_tensor_name(x.dtype()), ") and weight type (",
             dtype_tensor_name(w.dtype()), ") should be the same");
  TWIG_CHECK(!b.defined() || b.dtype() == x.dtype(), RuntimeError, "Input type (", dtype_tensor_name(x.dtype()),
             ") and bias type (", dtype_tensor_name(b.dtype()), ") should be the same");
  detail::check_same_device(x, w, op);
  if (b.defined()) detail::check_same_device(x, b, op);

  Shape padded(D), kernel(D);
  bool fits = true;
  for (size_t d = 0; d < D; ++d) {
    padded[d] = xs[2 + d] + 2 * g.padding[d];
    kernel[d] = g.dilation[d] * (ws[2 + d] - 1) + 1;
    fits = fits && padded[d] >= kernel[d];
  }
  TWIG_CHECK(fits, RuntimeError, "Calculated padded input size per channel: (", join_x(padded), "). Kernel size: (",
             join_x(kernel), "). Kernel size can't be greater than actual input size");

  p.N = xs[0];
  p.C = xs[1];
  p.O = ws[0];
  p.G = groups;
  p.K = 1;
  p.L = 1;
  for (size_t d = 0; d < D; ++d) {
    g.in.push_back(xs[2 + d]);
    g.kernel.push_back(ws[2 + d]);
    g.out.push_back((padded[d] - kernel[d]) / g.stride[d] + 1);
    p.K *= ws[2 + d];
    p.L *= g.out.back();
  }
  if (p.batched) p.out_shape.push_back(p.N);
  p.out_shape.push_back(p.O);
  for (int64_t o : g.out) p.out_shape.push_back(o);
  return p;
}

Tensor convnd(const char* op, const char* node_name, size_t D, const Tensor& x, const Tensor& w, const Tensor& b,
              const IntPair& stride, const IntPair& padding, const IntPair& dilation, int64_t groups) {
  const ConvPlan p = plan_conv(op, D, x, w, b, stride, padding, dilation, groups);
  // x as (N, C, S...) contiguous; out is (N, O, out...) to the backend, whatever it is batched or not.
  Shape xs = x.sizes(), os = p.out_shape;
  if (!p.batched) {
    xs.insert(xs.begin(), 1);
    os.insert(os.begin(), 1);
  }
  Tensor out = detail::make_empty(p.out_shape, x.dtype(), x.device());
  if (out.numel() > 0) {
    const Tensor xc = detail::contiguous_raw(x);
    backend_for(x.device())
        .conv_forward(detail::make_alias(out, os, contiguous_strides(os), 0),
                      detail::make_alias(xc, xs, contiguous_strides(xs), xc.storage_offset()),
                      detail::contiguous_raw(w), b.defined() ? detail::contiguous_raw(b) : Tensor(), p.geom, groups);
  }
  if (!autograd::should_record({x, w, b})) return out;
  autograd::record(node_name, {x, w, b}, {out},
                   [sx = SavedTensor(x), sw = SavedTensor(w), geom = p.geom, groups, xs, os, x_shape = x.sizes(),
                    w_shape = w.sizes(),
                    b_shape = b.defined() ? b.sizes() : Shape{}](const TensorList& grads, const Node& n) -> TensorList {
                     const Tensor x = sx.get(), w = sw.get();  // raise if modified in place since the forward
                     const Tensor& go = grads[0];
                     const Device dev = go.device();
                     const Dtype dt = go.dtype();
                     Tensor gx, gw, gb;
                     if (n.needs_input_grad(0)) gx = detail::make_empty(x_shape, dt, dev);
                     if (n.needs_input_grad(1)) gw = detail::make_empty(w_shape, dt, dev);
                     if (n.needs_input_grad(2)) gb = detail::make_empty(b_shape, dt, dev);
                     if (go.numel() == 0) {
                       // Empty output (N == 0 or O == 0): zero gradients, on the gradient's device.
                       for (const Tensor* t : {&gx, &gw, &gb}) {
                         if (t->defined() && t->numel() > 0) backend_for(dev).fill(*t, 0);
                       }
                       return {gx, gw, gb};
                     }
                     const Tensor goc = detail::contiguous_raw(go);
                     Tensor xc;  // read only for the weight gradient
                     if (gw.defined()) {
                       xc = detail::contiguous_raw(x);
                       xc = detail::make_alias(xc, xs, contiguous_strides(xs), xc.storage_offset());
                     }
                     backend_for(dev).conv_backward(
                         gx.defined() ? detail::make_alias(gx, xs, contiguous_strides(xs), 0) : Tensor(), gw, gb,
                         detail::make_alias(goc, os, contiguous_strides(os), goc.storage_offset()), xc,
                         gx.defined() ? detail::contiguous_raw(w) : Tensor(), geom, groups);
                     return {gx, gw, gb};
                   });
  return out;
}

}  // namespace

namespace functional {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const IntPair& stride, const IntPair& padding,
              const IntPair& dilation, int64_t groups) {
  trace::Scope scope;
  Tensor out = convnd("conv2d", "ConvolutionBackward0", 2, x, weight, bias, stride, padding, dilation, groups);
  if (scope.recording()) [[unlikely]]
    scope.record1("conv2d", {x, weight, bias},
                  {{"stride", trace::repr(stride)},
                   {"padding", trace::repr(padding)},
                   {"dilation", trace::repr(dilation)},
                   {"groups", trace::repr(groups)}},
                  out, [stride, padding, dilation, groups](const TensorList& in) {
                    return conv2d(in[0], in[1], in[2], stride, padding, dilation, groups);
                  });
  return out;
}

Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const IntPair& stride, const IntPair& padding,
              const IntPair& dilation, int64_t groups) {
  trace::Scope scope;
  Tensor out = convnd("conv3d", "ConvolutionBackward0", 3, x, weight, bias, stride, padding, dilation, groups);
  if (scope.recording()) [[unlikely]]
    scope.record1("conv3d", {x, weight, bias},
                  {{"stride", trace::repr(stride)},
                   {"padding", trace::repr(padding)},
                   {"dilation", trace::repr(dilation)},
                   {"groups", trace::repr(groups)}},
                  out, [stride, padding, dilation, groups](const TensorList& in) {
                    return conv3d(in[0], in[1], in[2], stride, padding, dilation, groups);
                  });
  return out;
}

Tensor conv_string_padding(const char* op, size_t dims, const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const IntPair& stride, const std::string& padding, const IntPair& dilation, int64_t groups) {
  TWIG_CHECK(padding == "same" || padding == "valid", ValueError, "Invalid padding string '", padding,
             "', should be one of {'valid', 'same'}");
  const char* node = "ConvolutionBackward0";
  if (padding == "valid") return convnd(op, node, dims, x, weight, bias, stride, {0}, dilation, groups);
  const Shape st = expand_param(stride, dims, "stride");
  for (int64_t s : st) {
    TWIG_CHECK(s == 1, ValueError, op, ": padding='same' is not supported for strided convolutions (stride=", stride,
               ")");
  }
  TWIG_CHECK(weight.defined() && weight.dim() == static_cast<int64_t>(dims) + 2, RuntimeError, op, ": expected a ",
             dims + 2, "-D weight for padding='same'");
  const Shape dil = expand_param(dilation, dims, "dilation");
  // Total pad of each dim: dilation * (kernel - 1); left half, right the rest.
  Shape left(dims), right(dims);
  bool symmetric = true;
  for (size_t i = 0; i < dims; ++i) {
    const int64_t total = dil[i] * (weight.size(static_cast<int64_t>(i) + 2) - 1);
    left[i] = total / 2;
    right[i] = total - left[i];
    symmetric = symmetric && left[i] == right[i];
  }
  if (symmetric) return convnd(op, node, dims, x, weight, bias, stride, left, dilation, groups);
  // Uneven: one extra zero on the right (bottom, back) of the dims that need it, then the
  // symmetric part as the conv's own padding.
  std::vector<int64_t> extra;
  for (size_t k = 0; k < dims; ++k) {
    const size_t i = dims - 1 - k;
    extra.push_back(0);
    extra.push_back(right[i] - left[i]);
  }
  return convnd(op, node, dims, pad(x, extra), weight, bias, stride, left, dilation, groups);
}

}  // namespace functional

// ---- modules ------------------------------------------------------------------------------------

template <size_t D>
ConvNd<D>::ConvNd(const ConvOptions<D>& opts) : UnaryModule(D == 2 ? "Conv2d" : "Conv3d"), options(opts) {
  const char* name = D == 2 ? "Conv2d" : "Conv3d";
  TWIG_CHECK(opts.groups_ > 0, ValueError, "groups must be a positive integer (", name, " got groups=", opts.groups_,
             ")");
  TWIG_CHECK(opts.in_channels_ % opts.groups_ == 0, ValueError, "in_channels must be divisible by groups (", name,
             " got in_channels=", opts.in_channels_, ", groups=", opts.groups_, ")");
  TWIG_CHECK(opts.out_channels_ % opts.groups_ == 0, ValueError, "out_channels must be divisible by groups (", name,
             " got out_channels=", opts.out_channels_, ", groups=", opts.groups_, ")");
  for (const auto* v : {&opts.kernel_size_, &opts.stride_, &opts.padding_, &opts.dilation_}) {
    TWIG_CHECK(v->size() == D, ValueError, name, ": expected ", D, " values per spatial argument, got ", *v);
  }
  const std::string& pm = opts.padding_mode_;
  TWIG_CHECK(pm == "zeros" || pm == "reflect" || pm == "replicate" || pm == "circular", ValueError,
             "padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='", pm,
             "'");
  if (!opts.padding_str_.empty()) {
    const std::string& ps = opts.padding_str_;
    TWIG_CHECK(ps == "same" || ps == "valid", ValueError, "Invalid padding string '", ps,
               "', should be one of {'valid', 'same'}");
    if (ps == "same") {
      for (int64_t s : opts.stride_) {
        TWIG_CHECK(s == 1, ValueError, name,
                   ": padding='same' is not supported for strided convolutions (stride=", opts.stride_, ")");
      }
      for (size_t i = 0; i < D; ++i) options.padding_[i] = opts.dilation_[i] * (opts.kernel_size_[i] - 1) / 2;
    }
  }
  Shape wshape{opts.out_channels_, opts.in_channels_ / opts.groups_};
  wshape.insert(wshape.end(), opts.kernel_size_.begin(), opts.kernel_size_.end());
  register_parameter("weight", empty(wshape));
  register_parameter("bias", opts.bias_ ? empty({opts.out_channels_}) : Tensor());
  reset_parameters();
}

template <size_t D>
void ConvNd<D>::reset_parameters() {
  Tensor w = get("weight");
  init::kaiming_uniform_(w, std::sqrt(5.0));
  Tensor b = bias();
  if (b.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(w).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(b, -bound, bound);
  }
}

template <size_t D>
std::vector<int64_t> ConvNd<D>::reversed_padding_repeated_twice() const {
  std::vector<int64_t> pads;
  for (size_t k = 0; k < D; ++k) {
    const size_t i = D - 1 - k;
    if (options.padding_str_ == "same") {
      const int64_t total = options.dilation_[i] * (options.kernel_size_[i] - 1);
      pads.push_back(total / 2);
      pads.push_back(total - total / 2);
    } else {
      pads.push_back(options.padding_[i]);
      pads.push_back(options.padding_[i]);
    }
  }
  return pads;
}

template <size_t D>
Tensor ConvNd<D>::forward(const Tensor& x) {
  const Tensor w = get("weight"), b = get_or_undefined("bias");
  const char* op = D == 2 ? "conv2d" : "conv3d";
  const auto& o = options;
  if (o.padding_mode_ != "zeros") {
    return convnd(op, "ConvolutionBackward0", D, F::pad(x, reversed_padding_repeated_twice(), o.padding_mode_), w, b,
                  o.stride_, {0}, o.dilation_, o.groups_);
  }
  if (!o.padding_str_.empty()) {
    return F::conv_string_padding(op, D, x, w, b, o.stride_, o.padding_str_, o.dilation_, o.groups_);
  }
  return convnd(op, "ConvolutionBackward0", D, x, w, b, o.stride_, o.padding_, o.dilation_, o.groups_);
}

template <size_t D>
std::string ConvNd<D>::extra_repr() const {
  const auto& o = options;
  std::string s =
      detail::str_cat(o.in_channels_, ", ", o.out_channels_, ", kernel_size=", python_repr(o.kernel_size_, true),
                      ", stride=", python_repr(o.stride_, true));
  if (!o.padding_str_.empty()) {
    s += ", padding=" + o.padding_str_;
  } else if (o.padding_ != std::vector<int64_t>(D, 0)) {
    s += ", padding=" + python_repr(o.padding_, true);
  }
  if (o.dilation_ != std::vector<int64_t>(D, 1)) s += ", dilation=" + python_repr(o.dilation_, true);
  if (o.groups_ != 1) s += detail::str_cat(", groups=", o.groups_);
  if (!bias().defined()) s += ", bias=False";
  if (o.padding_mode_ != "zeros") s += ", padding_mode=" + o.padding_mode_;
  return s;
}

template <size_t D>
ModulePtr ConvNd<D>::clone_instance() const {
  return std::make_shared<ConvNd<D>>(*this);
}

template class ConvNd<2>;
template class ConvNd<3>;

}  // namespace twig::nn
