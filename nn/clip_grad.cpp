#include "twig/nn/clip_grad.h"

#include <cmath>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"

namespace twig::nn::utils {

Tensor clip_grad_norm_(const TensorList& parameters, double max_norm, double norm_type, bool error_if_nonfinite) {
  TWIG_CHECK(!std::isnan(norm_type), ValueError, "clip_grad_norm_(): norm_type is nan");
  NoGradGuard no_grad;
  TensorList grads;
  for (const Tensor& p : parameters) {
    TWIG_CHECK(p.defined(), TypeError, "clip_grad_norm_(): a parameter is an undefined tensor");
    if (p.grad().defined()) grads.push_back(p.grad().detach());
  }
  if (grads.empty()) return scalar_tensor(0.0);
  Tensor total;
  if (norm_type == kInf) {
    TensorList norms;
    for (const Tensor& g : grads) norms.push_back(g.abs().max());
    total = norms.size() == 1 ? norms[0] : stack(norms).max();
  } else {
    TensorList norms;
    for (const Tensor& g : grads) norms.push_back(g.norm(norm_type));
    total = stack(norms).norm(norm_type);
  }
  if (error_if_nonfinite) {
    const double t = total.item<double>();
    TWIG_CHECK(std::isfinite(t), RuntimeError, "The total norm of order ", norm_type,
               " for gradients from `parameters` is non-finite (", t,
               "), so it cannot be clipped. To disable this error and scale the gradients by the non-finite norm "
               "anyway, set `error_if_nonfinite=False`");
  }
  // max_norm / (total + 1e-6) in the gradients' dtype (Python's float / tensor is reciprocal * float).
  Tensor coef = (total + 1e-6).reciprocal() * max_norm;
  Tensor clamped = coef.clamp(std::nullopt, 1.0);
  for (const Tensor& g : grads) g.mul_(clamped);
  return total;
}

}  // namespace twig::nn::utils
