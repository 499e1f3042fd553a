#include "nn/linear.h"

#include <cmath>

#include "nn/functional.h"
#include "nn/init.h"
#include "tensor/ops.h"

namespace twig::nn {

namespace functional {

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TWIG_CHECK(weight.defined() && weight.dim() == 2, RuntimeError, "linear: weight must be 2-D (out, in), got ",
             weight.defined() ? weight.sizes() : Shape{});
  TWIG_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), RuntimeError, "mat1 and mat2 shapes cannot be multiplied (",
             x.dim() >= 2 ? x.numel() / x.size(-1) : 1, "x", x.dim() >= 1 ? x.size(-1) : 0, " and ", weight.size(1), "x",
             weight.size(0), ")");
  if (x.dim() == 2 && bias.defined()) return addmm(bias, x, weight.t());
  Tensor y = x.matmul(weight.t());
  return bias.defined() ? y + bias : y;
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

}  // namespace twig::nn
