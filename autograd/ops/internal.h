// Helpers for implementing ops (not part of the public API); the non-recording ones are in
// tensor/raw.h.
#pragma once

#include "twig/tensor/raw.h"

namespace twig::detail {

// A reduced gradient broadcast back over the input's shape.
Tensor expand_reduced_grad(const Tensor& g, const ReduceDims& rd, const Shape& input_shape);
}  // namespace twig::detail
