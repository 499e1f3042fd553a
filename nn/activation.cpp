// Activations. The hot ones (gelu, silu, leaky_relu, elu, softplus, hardtanh, ...) are one fused
// forward loop and one recorded node whose backward is one fused loop; relu, sigmoid and tanh are
// already single nodes in the core; the rest compose existing ops.
#include "twig/nn/activation.h"

#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

namespace {

using autograd::Node;
using autograd::SavedTensor;

constexpr int64_t kGrain = 1 << 15;

void check_floating(const Tensor& x, const char* name) {
  TWIG_CHECK(x.defined(), RuntimeError, name, ": expected a defined tensor");
  TWIG_CHECK(x.is_floating_point(), RuntimeError, "\"", name, "\" not implemented for '", dtype_tensor_name(x.dtype()),
             "'");
}

// out[i] = fn(a[i], b[i]) over contiguous same-shape floating tensors of one dtype; no autograd.
// fn works in double and the result is stored in the tensors' dtype.
template <typename Fn>
Tensor map2(const Tensor& a_in, const Tensor& b_in, Fn fn) {
  Tensor a = a_in.contiguous(), b = b_in.defined() ? b_in.contiguous() : a;
  Tensor out = empty(a.sizes(), a.dtype());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(0, a.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        po[i] = static_cast<T>(fn(static_cast<double>(pa[i]), static_cast<double>(pb[i])));
    });
  };
  if (a.dtype() == kFloat32) {
    run(float{});
  } else {
    run(double{});
  }
  return out;
}

// The backward loop: dx[i] = fn(g[i], x[i]), the gradient times the derivative at x.
template <typename Fn>
Tensor map_grad(const Tensor& g_in, const Tensor& x_in, Fn fn) {
  Tensor g = g_in.to(x_in.dtype()).contiguous(), x = x_in.contiguous();
  Tensor out = empty(x.sizes(), x.dtype());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.data_ptr<T>();
    const T* px = x.data_ptr<T>();
    T* po = out.data_ptr<T>();
    parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        po[i] = static_cast<T>(fn(static_cast<double>(pg[i]), static_cast<double>(px[i])));
    });
  };
  if (x.dtype() == kFloat32) {
    run(float{});
  } else {
    run(double{});
  }
  return out;
}

// y = fwd(x) elementwise, recorded as one node whose backward is dx = bwd(g, x). Only x is saved
// (as PyTorch does for these ops), so modifying y in place later does not break the backward.
template <typename Fwd, typename Bwd>
Tensor pointwise(const Tensor& x, const char* name, const char* node, Fwd fwd, Bwd bwd) {
  check_floating(x, name);
  Tensor xd = x.detach();
  Tensor y = map2(xd, Tensor(), [fwd](double v, double) { return fwd(v); });
  if (autograd::should_record({x})) {
    autograd::record(node, {x}, {y}, [sx = SavedTensor(xd), bwd](const TensorList& g, const Node&) {
      return TensorList{map_grad(g[0], sx.get(), bwd)};
    });
  }
  return y;
}

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

double sigmoid_of(double v) { return 1.0 / (1.0 + std::exp(-v)); }

Tensor rrelu_impl(const Tensor& x, double lower, double upper, bool training);
Tensor gelu_impl(const Tensor& x, const std::string& approximate);

}  // namespace

namespace functional {

Tensor relu(const Tensor& x) { return x.relu(); }

Tensor relu6(const Tensor& x) {
  trace::Scope scope;
  Tensor out = hardtanh(x, 0.0, 6.0);
  if (scope.recording()) [[unlikely]]
    scope.record1("relu6", {x}, {}, out, [](const TensorList& in) { return relu6(in[0]); });
  return out;
}

Tensor rrelu(const Tensor& x, double lower, double upper, bool training) {
  trace::Scope scope;
  Tensor out = rrelu_impl(x, lower, upper, training);
  if (scope.recording()) [[unlikely]]
    scope.record1("rrelu", {x},
                  {{"lower", trace::repr(lower)}, {"upper", trace::repr(upper)}, {"training", trace::repr(training)}},
                  out, [lower, upper, training](const TensorList& in) { return rrelu(in[0], lower, upper, training); });
  return out;
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  trace::Scope scope;
  Tensor out = gelu_impl(x, approximate);
  if (scope.recording()) [[unlikely]]
    scope.record1("gelu", {x}, {{"approximate", trace::repr(approximate)}}, out,
                  [approximate](const TensorList& in) { return gelu(in[0], approximate); });
  return out;
}

}  // namespace functional

namespace {

// F::rrelu's and F::gelu's computations (those functions add the tracer's record).
Tensor rrelu_impl(const Tensor& x, double lower, double upper, bool training) {
  TWIG_CHECK(lower <= upper, ValueError, "rrelu: lower bound (", lower, ") must not exceed upper bound (", upper, ")");
  if (!training) return functional::leaky_relu(x, (lower + upper) / 2);
  check_floating(x, "rrelu_with_noise");
  // The slopes: U(lower, upper) for x <= 0, 1 elsewhere (PyTorch's `noise`).
  Tensor xd = x.detach().contiguous();
  Tensor noise = empty(xd.sizes(), xd.dtype());
  Generator& gen = default_generator();
  auto fill = [&](auto tag) {
    using T = decltype(tag);
    const T* px = xd.data_ptr<T>();
    T* pn = noise.data_ptr<T>();
    for (int64_t i = 0; i < xd.numel(); ++i)
      pn[i] = px[i] <= 0 ? static_cast<T>(lower + (upper - lower) * gen.uniform()) : T(1);
  };
  if (xd.dtype() == kFloat32) {
    fill(float{});
  } else {
    fill(double{});
  }
  Tensor y = map2(xd, noise, [](double v, double a) { return v * a; });
  if (autograd::should_record({x})) {
    autograd::record("RreluWithNoiseBackward0", {x}, {y}, [sn = SavedTensor(noise)](const TensorList& g, const Node&) {
      return TensorList{g[0] * sn.get()};
    });
  }
  return y;
}

}  // namespace

namespace functional {

Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  trace::Scope scope;
  TWIG_CHECK(min_val <= max_val, ValueError, "hardtanh: min_val (", min_val, ") cannot be greater than max_val (",
             max_val, ")");
  Tensor out = pointwise(
      x, "hardtanh", "HardtanhBackward0", [=](double v) { return v < min_val   ? min_val
                                                                 : v > max_val ? max_val
                                                                               : v; },
      [=](double g, double v) { return v > min_val && v < max_val ? g : 0.0; });
  if (scope.recording()) [[unlikely]]
    scope.record1("hardtanh", {x}, {{"min_val", trace::repr(min_val)}, {"max_val", trace::repr(max_val)}}, out,
                  [min_val, max_val](const TensorList& in) { return hardtanh(in[0], min_val, max_val); });
  return out;
}

Tensor sigmoid(const Tensor& x) { return x.sigmoid(); }

Tensor hardsigmoid(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "hardsigmoid", "HardsigmoidBackward0", [](double v) { return v <= -3  ? 0.0
                                                                      : v >= 3 ? 1.0
                                                                               : v / 6 + 0.5; },
      [](double g, double v) { return v > -3 && v < 3 ? g / 6 : 0.0; });
  if (scope.recording()) [[unlikely]]
    scope.record1("hardsigmoid", {x}, {}, out, [](const TensorList& in) { return hardsigmoid(in[0]); });
  return out;
}

Tensor tanh(const Tensor& x) { return x.tanh(); }

Tensor silu(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "silu", "SiluBackward0", [](double v) { return v * sigmoid_of(v); },
      [](double g, double v) {
        double s = sigmoid_of(v);
        return g * s * (1 + v * (1 - s));
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("silu", {x}, {}, out, [](const TensorList& in) { return silu(in[0]); });
  return out;
}

Tensor mish(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "mish", "MishBackward0", [](double v) { return v * std::tanh(std::log1p(std::exp(v))); },
      [](double g, double v) {
        double t = std::tanh(std::log1p(std::exp(v)));
        return g * (t + v * sigmoid_of(v) * (1 - t * t));
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("mish", {x}, {}, out, [](const TensorList& in) { return mish(in[0]); });
  return out;
}

Tensor hardswish(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "hardswish", "HardswishBackward0", [](double v) { return v <= -3  ? 0.0
                                                                  : v >= 3 ? v
                                                                           : v * (v + 3) / 6; },
      [](double g, double v) { return v < -3   ? 0.0
                                      : v <= 3 ? g * (v / 3 + 0.5)
                                               : g; });
  if (scope.recording()) [[unlikely]]
    scope.record1("hardswish", {x}, {}, out, [](const TensorList& in) { return hardswish(in[0]); });
  return out;
}

Tensor elu(const Tensor& x, double alpha) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "elu", "EluBackward0", [=](double v) { return v > 0 ? v : alpha * std::expm1(v); },
      [=](double g, double v) { return v > 0 ? g : g * alpha * std::exp(v); });
  if (scope.recording()) [[unlikely]]
    scope.record1("elu", {x}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return elu(in[0], alpha); });
  return out;
}

Tensor celu(const Tensor& x, double alpha) {
  trace::Scope scope;
  TWIG_CHECK(alpha != 0, RuntimeError, "ZeroDivisionError: celu alpha must not be 0");
  Tensor out = pointwise(
      x, "celu", "CeluBackward0", [=](double v) { return v > 0 ? v : alpha * std::expm1(v / alpha); },
      [=](double g, double v) { return v > 0 ? g : g * std::exp(v / alpha); });
  if (scope.recording()) [[unlikely]]
    scope.record1("celu", {x}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return celu(in[0], alpha); });
  return out;
}

Tensor selu(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "selu", "EluBackward0", [](double v) { return kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v)); },
      [](double g, double v) { return v > 0 ? g * kSeluScale : g * kSeluScale * kSeluAlpha * std::exp(v); });
  if (scope.recording()) [[unlikely]]
    scope.record1("selu", {x}, {}, out, [](const TensorList& in) { return selu(in[0]); });
  return out;
}

Tensor hardshrink(const Tensor& x, double lambd) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "hardshrink", "HardshrinkBackward0", [=](double v) { return v >= -lambd && v <= lambd ? 0.0 : v; },
      [=](double g, double v) { return v >= -lambd && v <= lambd ? 0.0 : g; });
  if (scope.recording()) [[unlikely]]
    scope.record1("hardshrink", {x}, {{"lambd", trace::repr(lambd)}}, out,
                  [lambd](const TensorList& in) { return hardshrink(in[0], lambd); });
  return out;
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "leaky_relu", "LeakyReluBackward0", [=](double v) { return v > 0 ? v : v * negative_slope; },
      [=](double g, double v) { return v > 0 ? g : g * negative_slope; });
  if (scope.recording()) [[unlikely]]
    scope.record1("leaky_relu", {x}, {{"negative_slope", trace::repr(negative_slope)}}, out,
                  [negative_slope](const TensorList& in) { return leaky_relu(in[0], negative_slope); });
  return out;
}

Tensor logsigmoid(const Tensor& x) {
  trace::Scope scope;
  // log σ(x) = min(x, 0) - log1p(exp(-|x|)), stable for either sign.
  Tensor out = pointwise(
      x, "log_sigmoid", "LogSigmoidBackward0",
      [](double v) { return std::min(v, 0.0) - std::log1p(std::exp(-std::fabs(v))); },
      [](double g, double v) { return g * sigmoid_of(-v); });
  if (scope.recording()) [[unlikely]]
    scope.record1("logsigmoid", {x}, {}, out, [](const TensorList& in) { return logsigmoid(in[0]); });
  return out;
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  trace::Scope scope;
  Tensor out = pointwise(
      x, "softplus", "SoftplusBackward0",
      [=](double v) { return v * beta > threshold ? v : std::log1p(std::exp(v * beta)) / beta; },
      [=](double g, double v) {
        if (v * beta > threshold) return g;
        double z = std::exp(v * beta);
        return g * z / (z + 1);
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("softplus", {x}, {{"beta", trace::repr(beta)}, {"threshold", trace::repr(threshold)}}, out,
                  [beta, threshold](const TensorList& in) { return softplus(in[0], beta, threshold); });
  return out;
}

Tensor prelu(const Tensor& x, const Tensor& weight) {
  trace::Scope scope;
  check_floating(x, "prelu");
  TWIG_CHECK(weight.defined() && weight.dim() <= 1, RuntimeError, "prelu: weight must be a 1-D tensor, got ",
             weight.defined() ? weight.sizes() : Shape{});
  int64_t n = weight.numel();
  Tensor w = weight.reshape({n});
  if (n != 1) {
    int64_t channel_dim = x.dim() >= 2 ? 1 : 0;
    TWIG_CHECK(x.dim() >= 1 && x.size(channel_dim) == n, RuntimeError,
               "Mismatch of parameter numbers and input channel size. Found parameter numbers = ", n,
               " and channel size = ", x.dim() >= 1 ? x.size(channel_dim) : 1, ".");
    Shape shape(static_cast<size_t>(x.dim() - channel_dim), 1);
    shape[0] = n;
    w = w.reshape(shape);
  } else {
    w = w.reshape({});
  }
  Tensor out = where(x > 0, x, x * w);
  if (scope.recording()) [[unlikely]]
    scope.record1("prelu", {x, weight}, {}, out, [](const TensorList& in) { return prelu(in[0], in[1]); });
  return out;
}

Tensor softsign(const Tensor& x) {
  trace::Scope scope;
  Tensor out = x / (x.abs() + 1.0);
  if (scope.recording()) [[unlikely]]
    scope.record1("softsign", {x}, {}, out, [](const TensorList& in) { return softsign(in[0]); });
  return out;
}

Tensor tanhshrink(const Tensor& x) {
  trace::Scope scope;
  Tensor out = x - x.tanh();
  if (scope.recording()) [[unlikely]]
    scope.record1("tanhshrink", {x}, {}, out, [](const TensorList& in) { return tanhshrink(in[0]); });
  return out;
}

}  // namespace functional

namespace {

Tensor gelu_impl(const Tensor& x, const std::string& approximate) {
  if (approximate == "none") {
    return pointwise(
        x, "gelu", "GeluBackward0", [](double v) { return 0.5 * v * (1 + std::erf(v * M_SQRT1_2)); },
        [](double g, double v) {
          double cdf = 0.5 * (1 + std::erf(v * M_SQRT1_2));
          double pdf = std::exp(-0.5 * v * v) * (M_2_SQRTPI * M_SQRT1_2 * 0.5);
          return g * (cdf + v * pdf);
        });
  }
  TWIG_CHECK(approximate == "tanh", RuntimeError, "approximate argument must be either none or tanh, got '",
             approximate, "'");
  constexpr double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5;  // sqrt(2 / pi)
  constexpr double kKappa = 0.044715;
  return pointwise(
      x, "gelu", "GeluBackward0", [=](double v) { return 0.5 * v * (1 + std::tanh(kBeta * (v + kKappa * v * v * v))); },
      [=](double g, double v) {
        double inner = kBeta * (v + kKappa * v * v * v);
        double t = std::tanh(inner);
        double d_inner = kBeta * (1 + 3 * kKappa * v * v);
        return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * d_inner);
      });
}

}  // namespace

namespace functional {

Tensor softmax(const Tensor& x, int64_t dim) { return x.softmax(dim); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return x.log_softmax(dim); }

}  // namespace functional

using pyfmt::py_float;
using pyfmt::py_number;

Tensor ReLU::forward(const Tensor& x) { return F::relu(x); }

RReLU::RReLU(double lower, double upper) : UnaryModule("RReLU"), lower(lower), upper(upper) {}
Tensor RReLU::forward(const Tensor& x) { return F::rrelu(x, lower, upper, is_training()); }
std::string RReLU::extra_repr() const { return "lower=" + py_float(lower) + ", upper=" + py_float(upper); }

Hardtanh::Hardtanh(double min_val, double max_val) : Hardtanh("Hardtanh", min_val, max_val) {}
Hardtanh::Hardtanh(const std::string& type_name, double min_val, double max_val)
    : UnaryModule(type_name), min_val(min_val), max_val(max_val) {
  TWIG_CHECK(max_val > min_val, ValueError, "Hardtanh: max_val (", max_val, ") must be greater than min_val (", min_val,
             ")");
}
Tensor Hardtanh::forward(const Tensor& x) { return F::hardtanh(x, min_val, max_val); }
std::string Hardtanh::extra_repr() const { return "min_val=" + py_float(min_val) + ", max_val=" + py_float(max_val); }

Tensor Sigmoid::forward(const Tensor& x) { return F::sigmoid(x); }
Tensor Hardsigmoid::forward(const Tensor& x) { return F::hardsigmoid(x); }
Tensor Tanh::forward(const Tensor& x) { return F::tanh(x); }
Tensor SiLU::forward(const Tensor& x) { return F::silu(x); }
Tensor Mish::forward(const Tensor& x) { return F::mish(x); }
Tensor Hardswish::forward(const Tensor& x) { return F::hardswish(x); }

Tensor ELU::forward(const Tensor& x) { return F::elu(x, alpha); }
std::string ELU::extra_repr() const { return "alpha=" + py_float(alpha); }

Tensor CELU::forward(const Tensor& x) { return F::celu(x, alpha); }
std::string CELU::extra_repr() const { return "alpha=" + py_float(alpha); }

Tensor SELU::forward(const Tensor& x) { return F::selu(x); }

Tensor Hardshrink::forward(const Tensor& x) { return F::hardshrink(x, lambd); }
std::string Hardshrink::extra_repr() const { return py_float(lambd); }

Tensor LeakyReLU::forward(const Tensor& x) { return F::leaky_relu(x, negative_slope); }
std::string LeakyReLU::extra_repr() const { return "negative_slope=" + py_float(negative_slope); }

Tensor LogSigmoid::forward(const Tensor& x) { return F::logsigmoid(x); }

Tensor Softplus::forward(const Tensor& x) { return F::softplus(x, beta, threshold); }
// PyTorch's defaults are the ints 1 and 20, so integral values print without ".0".
std::string Softplus::extra_repr() const { return "beta=" + py_number(beta) + ", threshold=" + py_number(threshold); }

PReLU::PReLU(int64_t num_parameters, double init) : UnaryModule("PReLU"), num_parameters(num_parameters) {
  TWIG_CHECK(num_parameters >= 1, ValueError, "PReLU: num_parameters must be positive, got ", num_parameters);
  Tensor w = empty({num_parameters});
  init::constant_(w, init);
  register_parameter("weight", w);
}
Tensor PReLU::forward(const Tensor& x) { return F::prelu(x, get("weight")); }
std::string PReLU::extra_repr() const { return detail::str_cat("num_parameters=", num_parameters); }

Tensor Softsign::forward(const Tensor& x) { return F::softsign(x); }
Tensor Tanhshrink::forward(const Tensor& x) { return F::tanhshrink(x); }

GELU::GELU(std::string approx) : UnaryModule("GELU"), approximate(std::move(approx)) {
  TWIG_CHECK(approximate == "none" || approximate == "tanh", ValueError,
             "GELU: approximate must be 'none' or 'tanh', got '", approximate, "'");
}
Tensor GELU::forward(const Tensor& x) { return F::gelu(x, approximate); }
std::string GELU::extra_repr() const { return "approximate='" + approximate + "'"; }

Tensor Softmax::forward(const Tensor& x) { return F::softmax(x, dim); }
std::string Softmax::extra_repr() const { return detail::str_cat("dim=", dim); }

Tensor LogSoftmax::forward(const Tensor& x) { return F::log_softmax(x, dim); }
std::string LogSoftmax::extra_repr() const { return detail::str_cat("dim=", dim); }

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr ReLU::clone_instance() const { return std::make_shared<ReLU>(*this); }
ModulePtr RReLU::clone_instance() const { return std::make_shared<RReLU>(*this); }
ModulePtr Hardtanh::clone_instance() const { return std::make_shared<Hardtanh>(*this); }
ModulePtr ReLU6::clone_instance() const { return std::make_shared<ReLU6>(*this); }
ModulePtr Sigmoid::clone_instance() const { return std::make_shared<Sigmoid>(*this); }
ModulePtr Hardsigmoid::clone_instance() const { return std::make_shared<Hardsigmoid>(*this); }
ModulePtr Tanh::clone_instance() const { return std::make_shared<Tanh>(*this); }
ModulePtr SiLU::clone_instance() const { return std::make_shared<SiLU>(*this); }
ModulePtr Mish::clone_instance() const { return std::make_shared<Mish>(*this); }
ModulePtr Hardswish::clone_instance() const { return std::make_shared<Hardswish>(*this); }
ModulePtr ELU::clone_instance() const { return std::make_shared<ELU>(*this); }
ModulePtr CELU::clone_instance() const { return std::make_shared<CELU>(*this); }
ModulePtr SELU::clone_instance() const { return std::make_shared<SELU>(*this); }
ModulePtr Hardshrink::clone_instance() const { return std::make_shared<Hardshrink>(*this); }
ModulePtr LeakyReLU::clone_instance() const { return std::make_shared<LeakyReLU>(*this); }
ModulePtr LogSigmoid::clone_instance() const { return std::make_shared<LogSigmoid>(*this); }
ModulePtr Softplus::clone_instance() const { return std::make_shared<Softplus>(*this); }
ModulePtr PReLU::clone_instance() const { return std::make_shared<PReLU>(*this); }
ModulePtr Softsign::clone_instance() const { return std::make_shared<Softsign>(*this); }
ModulePtr Tanhshrink::clone_instance() const { return std::make_shared<Tanhshrink>(*this); }
ModulePtr GELU::clone_instance() const { return std::make_shared<GELU>(*this); }
ModulePtr Softmax::clone_instance() const { return std::make_shared<Softmax>(*this); }
ModulePtr LogSoftmax::clone_instance() const { return std::make_shared<LogSoftmax>(*this); }

}  // namespace twig::nn
