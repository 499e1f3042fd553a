// Shape arithmetic shared by ops: dim wrapping, strides, element counts, broadcasting.
#pragma once

#include <cstdint>
#include <vector>

#include "twig/tensor/tensor_impl.h"

namespace twig {

// Python-style negative dims; IndexError "Dimension out of range" naming the range and the value.
int64_t wrap_dim(int64_t dim, int64_t ndim);
// Row-major strides for shape.
Shape contiguous_strides(const Shape& shape);
// Product of sizes; ValueError for a negative size or an overflowing count.
int64_t shape_numel(const Shape& shape);
// NumPy broadcasting; RuntimeError naming both shapes when they do not broadcast.
Shape broadcast_shape(const Shape& a, const Shape& b);
// Resolves one -1 in a view/reshape target; RuntimeError if numel does not match.
Shape infer_size(const Shape& shape, int64_t numel);

}  // namespace twig
