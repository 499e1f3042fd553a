#include "twig/nn/dropout.h"

#include "twig/nn/functional.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/ops.h"

namespace twig::nn {

namespace {
void check_p(double p) {
  TWIG_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout probability has to be between 0 and 1, but got ", p);
}
}  // namespace

namespace functional {

// A Bernoulli(1 - p) mask from the default generator, scaled by 1 / (1 - p): one MulBackward node.
Tensor dropout(const Tensor& x, double p, bool training) {
  check_p(p);
  if (!training || p == 0.0) return x;
  TWIG_CHECK(x.is_floating_point(), RuntimeError, "dropout: expected a floating input, got ", dtype_name(x.dtype()));
  if (p == 1.0) return x * zeros_like(x);
  Tensor mask = bernoulli(x.sizes(), 1.0 - p, x.dtype());
  mask.mul_(1.0 / (1.0 - p));
  return x * mask;
}

}  // namespace functional

Dropout::Dropout(double p_) : UnaryModule("Dropout"), p(p_) { check_p(p); }

Tensor Dropout::forward(const Tensor& x) { return F::dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + pyfmt::py_float(p) + ", inplace=False"; }

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr Dropout::clone_instance() const { return std::make_shared<Dropout>(*this); }

}  // namespace twig::nn
