// torch.nn.utils.clip_grad_norm_: scales gradients in place so that their joint norm is at most
// max_norm.
#pragma once

#include <limits>

#include "twig/tensor/tensor.h"

namespace twig::nn::utils {

// The norm of the norms of every defined .grad of `parameters` (order norm_type; infinity for the
// largest absolute value), returned as a 0-d tensor of the gradients' dtype. Each gradient is then
// multiplied in place by min(1, max_norm / (total_norm + 1e-6)), as PyTorch 1.13. No gradients:
// a 0-d zero of the default dtype. error_if_nonfinite: RuntimeError naming the order when the total
// is NaN or infinite, with no gradient changed.
Tensor clip_grad_norm_(const TensorList& parameters, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);
inline Tensor clip_grad_norm_(const Tensor& parameter, double max_norm, double norm_type = 2.0,
                              bool error_if_nonfinite = false) {
  return clip_grad_norm_(TensorList{parameter}, max_norm, norm_type, error_if_nonfinite);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace twig::nn::utils
