#include "twig/nn/dropout.h"

#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/trace.h"

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
  trace::Scope scope;
  Tensor out = x;
  if (training && p != 0.0) {
    TWIG_CHECK(x.is_floating_point(), RuntimeError, "dropout: expected a floating input, got ", dtype_name(x.dtype()));
    Tensor mask = p == 1.0 ? zeros_like(x) : bernoulli(x.sizes(), 1.0 - p, x.dtype());
    if (p != 1.0) mask.mul_(1.0 / (1.0 - p));
    out = x * mask;
  }
  if (scope.recording()) [[unlikely]]
    scope.record1("dropout", {x}, {{"p", trace::repr(p)}, {"training", trace::repr(training)}}, out,
                  [p, training](const TensorList& in) { return dropout(in[0], p, training); });
  return out;
}

}  // namespace functional

Dropout::Dropout(double p_) : UnaryModule("Dropout"), p(p_) { check_p(p); }

Tensor Dropout::forward(const Tensor& x) { return F::dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const { return "p=" + pyfmt::py_float(p) + ", inplace=False"; }

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr Dropout::clone_instance() const { return std::make_shared<Dropout>(*this); }

}  // namespace twig::nn
