#include "twig/nn/linear.h"

#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

namespace functional {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  trace::Scope scope;
  for (const Tensor* t : {&x, &weight, &bias}) {
    TWIG_CHECK(!t->defined() || !t->is_sparse(), NotImplementedError,
               "linear: expected a strided tensor but got one with layout ", layout_name(t->layout()),
               "; call to_dense() first");
  }
  TWIG_CHECK(weight.defined() && weight.dim() == 2, RuntimeError, "linear: weight must be 2-D (out, in), got ",
             weight.defined() ? weight.sizes() : Shape{});
  TWIG_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), RuntimeError, "mat1 and mat2 shapes cannot be multiplied (",
             x.dim() >= 2 ? x.numel() / x.size(-1) : 1, "x", x.dim() >= 1 ? x.size(-1) : 0, " and ", weight.size(1),
             "x", weight.size(0), ")");
  TWIG_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)), RuntimeError,
             "linear: bias of shape ", bias.defined() ? bias.sizes() : Shape{}, " does not match weight ",
             weight.sizes());
  // One node: x2 (M, in) @ Wᵀ (+ b). Its backward computes dW = gᵀ x2 directly in W's (out, in)
  // layout, so no transposed gradient has to be copied before accumulation.
  const Shape in_shape = x.sizes();
  Shape out_shape = in_shape;
  out_shape.back() = weight.size(0);
  Tensor out;
  {
    NoGradGuard no_grad;
    Tensor x2 = x.reshape({-1, weight.size(1)});
    out = bias.defined() ? addmm(bias, x2, weight.t()) : x2.mm(weight.t());
    out = out.view(out_shape);
  }
  autograd::record("LinearBackward", {x, weight, bias}, {out},
                   [sx = autograd::SavedTensor(x), sw = autograd::SavedTensor(weight), in_shape](
                       const TensorList& g, const autograd::Node& n) {
                     Tensor w = sw.get();
                     Tensor g2 = g[0].reshape({-1, w.size(0)});
                     Tensor gx, gw, gb;
                     if (n.needs_input_grad(0)) gx = g2.mm(w).view(in_shape);
                     if (n.needs_input_grad(1)) gw = g2.t().mm(sx.get().reshape({-1, w.size(1)}));
                     if (n.needs_input_grad(2)) gb = g2.sum({0});
                     return TensorList{gx, gw, gb};
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("linear", {x, weight, bias}, {}, out,
                  [](const TensorList& in) { return linear(in[0], in[1], in[2]); });
  return out;
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) { return x.flatten(start_dim, end_dim); }

}  // namespace functional

Linear::Linear(const LinearOptions& opts) : UnaryModule("Linear"), options(opts) {
  TWIG_CHECK(opts.in_features_ >= 0 && opts.out_features_ >= 0, ValueError, "Linear: in_features=", opts.in_features_,
             " and out_features=", opts.out_features_, " must be non-negative");
  register_parameter("weight", empty({opts.out_features_, opts.in_features_}));
  register_parameter("bias", opts.bias_ ? empty({opts.out_features_}) : Tensor());
  reset_parameters();
}

void Linear::reset_parameters() {
  Tensor w = get("weight");
  init::kaiming_uniform_(w, std::sqrt(5.0));
  Tensor b = bias();
  if (b.defined()) {
    int64_t fan_in = options.in_features_;
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(b, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) { return F::linear(x, get("weight"), get_or_undefined("bias")); }

std::string Linear::extra_repr() const {
  return detail::str_cat("in_features=", options.in_features_, ", out_features=", options.out_features_,
                         ", bias=", bias().defined() ? "True" : "False");
}

std::string Flatten::extra_repr() const { return detail::str_cat("start_dim=", start_dim, ", end_dim=", end_dim); }

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr Linear::clone_instance() const { return std::make_shared<Linear>(*this); }
ModulePtr Identity::clone_instance() const { return std::make_shared<Identity>(*this); }
ModulePtr Flatten::clone_instance() const { return std::make_shared<Flatten>(*this); }

}  // namespace twig::nn
