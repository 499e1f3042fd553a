// Activations. The hot ones (gelu, silu, leaky_relu, elu, softplus, hardtanh, ...) are one Backend
// activation call forward and one recorded node whose backward is one activation_backward call (the
// kernels live in tensor/cpu/cpu_activation.cpp); relu, sigmoid and tanh are already single nodes
// in the ops; the rest compose existing ops. This file checks arguments, picks shapes and dtypes,
// and records autograd.
#include "twig/nn/activation.h"

#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/random.h"
#include "twig/tensor/raw.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

namespace {

using autograd::Node;
using autograd::SavedTensor;

void check_floating(const Tensor& x, const char* name) {
  TWIG_CHECK(x.defined(), RuntimeError, name, ": expected a defined tensor");
  TWIG_CHECK(x.is_floating_point(), RuntimeError, "\"", name, "\" not implemented for '", dtype_tensor_name(x.dtype()),
             "'");
}

// y = op(x) elementwise, recorded as one node whose backward is the op's activation_backward. Only
// x is saved (as PyTorch does for these ops), so modifying y in place later does not break the
// backward. y is contiguous whatever x's strides.
Tensor pointwise(const Tensor& x, const char* name, const char* node, ActivationOp op, const ActivationParams& p) {
  check_floating(x, name);
  Tensor xd = x.detach();
  Tensor y = detail::make_empty(xd.sizes(), xd.dtype(), xd.device());
  backend_for(xd.device()).activation(op, y, xd, p);
  if (autograd::should_record({x})) {
    autograd::record(node, {x}, {y}, [sx = SavedTensor(xd), op, p](const TensorList& g, const Node&) {
      Tensor xs = sx.get();
      Tensor gx = detail::make_empty(xs.sizes(), xs.dtype(), xs.device());
      backend_for(xs.device()).activation_backward(op, gx, g[0].to(xs.dtype()), xs, p);
      return TensorList{gx};
    });
  }
  return y;
}

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
  // The slopes: U(lower, upper) for x <= 0, 1 elsewhere (PyTorch's `noise`), drawn by the backend.
  Tensor xd = x.detach();
  Tensor noise = detail::make_empty(xd.sizes(), xd.dtype(), xd.device());
  Tensor y = detail::make_empty(xd.sizes(), xd.dtype(), xd.device());
  backend_for(xd.device()).rrelu_with_noise(y, noise, xd, lower, upper, default_generator());
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
  Tensor out =
      pointwise(x, "hardtanh", "HardtanhBackward0", ActivationOp::Hardtanh, {.min_val = min_val, .max_val = max_val});
  if (scope.recording()) [[unlikely]]
    scope.record1("hardtanh", {x}, {{"min_val", trace::repr(min_val)}, {"max_val", trace::repr(max_val)}}, out,
                  [min_val, max_val](const TensorList& in) { return hardtanh(in[0], min_val, max_val); });
  return out;
}

Tensor sigmoid(const Tensor& x) { return x.sigmoid(); }

Tensor hardsigmoid(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "hardsigmoid", "HardsigmoidBackward0", ActivationOp::Hardsigmoid, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("hardsigmoid", {x}, {}, out, [](const TensorList& in) { return hardsigmoid(in[0]); });
  return out;
}

Tensor tanh(const Tensor& x) { return x.tanh(); }

Tensor silu(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "silu", "SiluBackward0", ActivationOp::Silu, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("silu", {x}, {}, out, [](const TensorList& in) { return silu(in[0]); });
  return out;
}

Tensor mish(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "mish", "MishBackward0", ActivationOp::Mish, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("mish", {x}, {}, out, [](const TensorList& in) { return mish(in[0]); });
  return out;
}

Tensor hardswish(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "hardswish", "HardswishBackward0", ActivationOp::Hardswish, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("hardswish", {x}, {}, out, [](const TensorList& in) { return hardswish(in[0]); });
  return out;
}

Tensor elu(const Tensor& x, double alpha) {
  trace::Scope scope;
  Tensor out = pointwise(x, "elu", "EluBackward0", ActivationOp::Elu, {.alpha = alpha});
  if (scope.recording()) [[unlikely]]
    scope.record1("elu", {x}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return elu(in[0], alpha); });
  return out;
}

Tensor celu(const Tensor& x, double alpha) {
  trace::Scope scope;
  TWIG_CHECK(alpha != 0, RuntimeError, "ZeroDivisionError: celu alpha must not be 0");
  Tensor out = pointwise(x, "celu", "CeluBackward0", ActivationOp::Celu, {.alpha = alpha});
  if (scope.recording()) [[unlikely]]
    scope.record1("celu", {x}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return celu(in[0], alpha); });
  return out;
}

Tensor selu(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "selu", "EluBackward0", ActivationOp::Selu, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("selu", {x}, {}, out, [](const TensorList& in) { return selu(in[0]); });
  return out;
}

Tensor hardshrink(const Tensor& x, double lambd) {
  trace::Scope scope;
  Tensor out = pointwise(x, "hardshrink", "HardshrinkBackward0", ActivationOp::Hardshrink, {.lambd = lambd});
  if (scope.recording()) [[unlikely]]
    scope.record1("hardshrink", {x}, {{"lambd", trace::repr(lambd)}}, out,
                  [lambd](const TensorList& in) { return hardshrink(in[0], lambd); });
  return out;
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  trace::Scope scope;
  Tensor out =
      pointwise(x, "leaky_relu", "LeakyReluBackward0", ActivationOp::LeakyRelu, {.negative_slope = negative_slope});
  if (scope.recording()) [[unlikely]]
    scope.record1("leaky_relu", {x}, {{"negative_slope", trace::repr(negative_slope)}}, out,
                  [negative_slope](const TensorList& in) { return leaky_relu(in[0], negative_slope); });
  return out;
}

Tensor logsigmoid(const Tensor& x) {
  trace::Scope scope;
  Tensor out = pointwise(x, "log_sigmoid", "LogSigmoidBackward0", ActivationOp::LogSigmoid, {});
  if (scope.recording()) [[unlikely]]
    scope.record1("logsigmoid", {x}, {}, out, [](const TensorList& in) { return logsigmoid(in[0]); });
  return out;
}

Tensor softplus(const Tensor& x, double beta, double threshold) {
  trace::Scope scope;
  Tensor out =
      pointwise(x, "softplus", "SoftplusBackward0", ActivationOp::Softplus, {.beta = beta, .threshold = threshold});
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
  TWIG_CHECK(approximate == "none" || approximate == "tanh", RuntimeError,
             "approximate argument must be either none or tanh, got '", approximate, "'");
  return pointwise(x, "gelu", "GeluBackward0", approximate == "none" ? ActivationOp::Gelu : ActivationOp::GeluTanh, {});
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
