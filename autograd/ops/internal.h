// Helpers for implementing ops (not part of the public API); the non-recording ones are in
// tensor/raw.h.
#pragma once

#include "twig/tensor/raw.h"

namespace twig::detail {

// A reduced gradient broadcast back over the input's shape.
Tensor expand_reduced_grad(const Tensor& g, const ReduceDims& rd, const Shape& input_shape);
// Sparse COO (autograd/ops/sparse.cpp): t's indices and values copied / converted (clone, to).
Tensor sparse_to(const Tensor& t, const TensorOptions& options, bool copy);
}  // namespace twig::detail
