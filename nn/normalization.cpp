#include "twig/nn/normalization.h"

#include "twig/autograd/function.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

namespace functional {

// One recorded node. With M rows of N = prod(normalized_shape) elements, x̂ = (x - μ) · rstd and
// y = x̂ · w + b; the backward is dx = rstd · (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)) with dx̂ = g · w.
Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  trace::Scope scope;
  const int64_t nd = static_cast<int64_t>(normalized_shape.size());
  bool shape_ok = x.defined() && nd >= 1 && x.dim() >= nd;
  for (int64_t i = 0; shape_ok && i < nd; ++i) shape_ok = x.size(x.dim() - nd + i) == normalized_shape[i];
  TWIG_CHECK(
      shape_ok, RuntimeError, "Given normalized_shape=", normalized_shape, ", expected input with shape [*",
      [&] {
        std::string s;
        for (int64_t d : normalized_shape) s += ", " + std::to_string(d);
        return s;
      }(),
      "], but got input of size", x.defined() ? x.sizes() : Shape{});
  TWIG_CHECK(x.is_floating_point(), RuntimeError, "layer_norm: expected a floating input, got ", dtype_name(x.dtype()));
  const Shape ns(normalized_shape.begin(), normalized_shape.end());
  TWIG_CHECK(!weight.defined() || weight.sizes() == ns, RuntimeError, "Expected weight to be of same shape as ",
             "normalized_shape, but got weight of shape ", weight.sizes(), " and normalized_shape = ", ns);
  TWIG_CHECK(!bias.defined() || bias.sizes() == ns, RuntimeError, "Expected bias to be of same shape as ",
             "normalized_shape, but got bias of shape ", bias.sizes(), " and normalized_shape = ", ns);
  int64_t n = 1;
  for (int64_t d : normalized_shape) n *= d;
  const int64_t m = n > 0 ? x.numel() / n : 0;

  Tensor xr = x.detach().reshape({m, n});                                                   // (M, N)
  Tensor mean = xr.mean({1}, true);                                                         // (M, 1)
  Tensor xc = xr - mean;                                                                    // (M, N)
  Tensor rstd = ((xc * xc).mean({1}, true) + eps).rsqrt();                                  // (M, 1)
  Tensor xhat = xc * rstd;                                                                  // (M, N)
  Tensor w2 = weight.defined() ? weight.detach().to(x.dtype()).reshape({1, n}) : Tensor();  // (1, N)
  Tensor y = w2.defined() ? xhat * w2 : xhat;
  if (bias.defined()) y = y + bias.detach().to(x.dtype()).reshape({1, n});
  y = y.reshape(x.sizes());

  autograd::record("NativeLayerNormBackward0", {x, weight, bias}, {y},
                   [sxhat = autograd::SavedTensor(xhat), srstd = autograd::SavedTensor(rstd),
                    sw = autograd::SavedTensor(w2), m, n, ns](const TensorList& g, const autograd::Node& node) {
                     Tensor g2 = g[0].reshape({m, n});
                     Tensor xh = sxhat.get();
                     TensorList out(3);
                     if (node.needs_input_grad(0)) {
                       Tensor dxhat = sw.defined() ? g2 * sw.get() : g2;
                       Tensor dx = srstd.get() * (dxhat - dxhat.mean({1}, true) - xh * (dxhat * xh).mean({1}, true));
                       out[0] = dx.reshape(g[0].sizes());
                     }
                     if (node.needs_input_grad(1)) out[1] = (g2 * xh).sum({0}).reshape(ns);
                     if (node.needs_input_grad(2)) out[2] = g2.sum({0}).reshape(ns);
                     return out;
                   });
  Tensor out = y;
  if (scope.recording()) [[unlikely]]
    scope.record1("layer_norm", {x, weight, bias},
                  {{"normalized_shape", trace::repr(normalized_shape)}, {"eps", trace::repr(eps)}}, out,
                  [normalized_shape, eps](const TensorList& in) {
                    return layer_norm(in[0], normalized_shape, in[1], in[2], eps);
                  });
  return out;
}

// Composite: the batch statistics are differentiable ops, so autograd derives the backward.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  trace::Scope scope;
  TWIG_CHECK(x.defined() && x.dim() >= 2, ValueError,
             "batch_norm: expected an input of at least 2 dims (N, C, ...), got ", x.defined() ? x.sizes() : Shape{});
  const int64_t c = x.size(1);
  Shape stat_shape(static_cast<size_t>(x.dim()), 1);  // (1, C, 1, ...)
  stat_shape[1] = c;
  Dims dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  for (const Tensor* t : {&running_mean, &running_var, &weight, &bias}) {
    TWIG_CHECK(!t->defined() || t->numel() == c, RuntimeError, "batch_norm: running stats, weight and bias must have ",
               c, " elements (the input's channels), got ", t->sizes());
  }
  Tensor y;
  if (training) {
    const int64_t count = x.numel() / std::max<int64_t>(c, 1);
    TWIG_CHECK(count > 1, ValueError, "Expected more than 1 value per channel when training, got input size ",
               x.sizes());
    Tensor mean = x.mean(dims, true);       // (1, C, 1, ...)
    Tensor var = x.var(dims, false, true);  // biased, for normalization
    y = (x - mean) * (var + eps).rsqrt();
    if (running_mean.defined() && running_var.defined()) {
      autograd::NoGradGuard no_grad;
      double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      running_mean.mul_(1 - momentum).add_(mean.detach().reshape({c}).to(running_mean.dtype()), momentum);
      running_var.mul_(1 - momentum).add_((var.detach().reshape({c}) * unbias).to(running_var.dtype()), momentum);
    }
  } else {
    TWIG_CHECK(running_mean.defined() && running_var.defined(), RuntimeError,
               "batch_norm: running_mean and running_var must be defined when not training");
    y = (x - running_mean.reshape(stat_shape)) * (running_var.reshape(stat_shape) + eps).rsqrt();
  }
  if (weight.defined()) y = y * weight.reshape(stat_shape);
  if (bias.defined()) y = y + bias.reshape(stat_shape);
  Tensor out = y;
  if (scope.recording()) [[unlikely]]
    scope.record1("batch_norm", {x, running_mean, running_var, weight, bias},
                  {{"training", trace::repr(training)}, {"momentum", trace::repr(momentum)}, {"eps", trace::repr(eps)}},
                  out, [training, momentum, eps](const TensorList& in) {
                    return batch_norm(in[0], in[1], in[2], in[3], in[4], training, momentum, eps);
                  });
  return out;
}

}  // namespace functional

LayerNorm::LayerNorm(std::vector<int64_t> shape, double eps_, bool affine)
    : UnaryModule("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_), elementwise_affine(affine) {
  TWIG_CHECK(!normalized_shape.empty(), ValueError, "LayerNorm: normalized_shape must not be empty");
  Shape ns(normalized_shape.begin(), normalized_shape.end());
  if (elementwise_affine) {
    register_parameter("weight", empty(ns));
    register_parameter("bias", empty(ns));
  } else {
    register_parameter("weight", Tensor());
    register_parameter("bias", Tensor());
  }
  reset_parameters();
}

void LayerNorm::reset_parameters() {
  Tensor w = get_or_undefined("weight"), b = get_or_undefined("bias");
  if (w.defined()) init::ones_(w);
  if (b.defined()) init::zeros_(b);
}

Tensor LayerNorm::forward(const Tensor& x) {
  return F::layer_norm(x, normalized_shape, get_or_undefined("weight"), get_or_undefined("bias"), eps);
}

std::string LayerNorm::extra_repr() const {
  return pyfmt::py_tuple(normalized_shape) + ", eps=" + pyfmt::py_float(eps) +
         ", elementwise_affine=" + pyfmt::py_bool(elementwise_affine);
}

BatchNorm2d::BatchNorm2d(int64_t num_features_, double eps_, std::optional<double> momentum_, bool affine_, bool track)
    : UnaryModule("BatchNorm2d"),
      num_features(num_features_),
      eps(eps_),
      momentum(momentum_),
      affine(affine_),
      track_running_stats(track) {
  TWIG_CHECK(num_features >= 0, ValueError, "BatchNorm2d: num_features must be non-negative, got ", num_features);
  register_parameter("weight", affine ? empty({num_features}) : Tensor());
  register_parameter("bias", affine ? empty({num_features}) : Tensor());
  if (track_running_stats) {
    register_buffer("running_mean", zeros({num_features}));
    register_buffer("running_var", ones({num_features}));
    register_buffer("num_batches_tracked", zeros({}, kInt64));
  } else {
    register_buffer("running_mean", Tensor());
    register_buffer("running_var", Tensor());
    register_buffer("num_batches_tracked", Tensor());
  }
  reset_parameters();
}

void BatchNorm2d::reset_running_stats() {
  if (!track_running_stats) return;
  get("running_mean").zero_();
  get("running_var").fill_(1);
  get("num_batches_tracked").zero_();
}

void BatchNorm2d::reset_parameters() {
  reset_running_stats();
  Tensor w = get_or_undefined("weight"), b = get_or_undefined("bias");
  if (w.defined()) init::ones_(w);
  if (b.defined()) init::zeros_(b);
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  TWIG_CHECK(x.dim() == 4, ValueError, "expected 4D input (got ", x.dim(), "D input)");
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    Tensor nbt = get_or_undefined("num_batches_tracked");
    if (nbt.defined()) {
      nbt.add_(1);
      if (!momentum) factor = 1.0 / static_cast<double>(nbt.item<int64_t>());
    }
  }
  Tensor rm = get_or_undefined("running_mean"), rv = get_or_undefined("running_var");
  // Without running stats, batch statistics are used in eval mode too (PyTorch's bn_training).
  bool use_batch_stats = is_training() || (!rm.defined() && !rv.defined());
  return F::batch_norm(x, rm, rv, get_or_undefined("weight"), get_or_undefined("bias"), use_batch_stats, factor, eps);
}

std::string BatchNorm2d::extra_repr() const {
  return detail::str_cat(num_features, ", eps=", pyfmt::py_float(eps),
                         ", momentum=", momentum ? pyfmt::py_float(*momentum) : std::string("None"),
                         ", affine=", pyfmt::py_bool(affine),
                         ", track_running_stats=", pyfmt::py_bool(track_running_stats));
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr LayerNorm::clone_instance() const { return std::make_shared<LayerNorm>(*this); }
ModulePtr BatchNorm2d::clone_instance() const { return std::make_shared<BatchNorm2d>(*this); }

}  // namespace twig::nn
