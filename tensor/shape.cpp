#include "twig/tensor/shape.h"

#include <limits>

#include "twig/tensor/error.h"

namespace twig {

int64_t wrap_dim(int64_t dim, int64_t ndim) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  TWIG_CHECK(dim >= -n && dim < n, IndexError, "Dimension out of range (expected to be in range of [", -n, ", ", n - 1,
             "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    TWIG_CHECK(s >= 0, ValueError, "negative dimension ", s, " in shape ", shape);
    TWIG_CHECK(s == 0 || n <= std::numeric_limits<int64_t>::max() / s, ValueError, "shape ", shape,
               " has too many elements");
    n *= s;
  }
  return n;
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t sa = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t sb = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TWIG_CHECK(sa == sb || sa == 1 || sb == 1, RuntimeError, "The size of tensor a (", sa,
               ") must match the size of tensor b (", sb, ") at non-singleton dimension ", i, ": shapes ", a, " and ",
               b, " do not broadcast");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

Shape infer_size(const Shape& shape, int64_t numel) {
  Shape out = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      TWIG_CHECK(infer < 0, RuntimeError, "only one dimension can be inferred in shape ", shape);
      infer = static_cast<int>(i);
    } else {
      TWIG_CHECK(shape[i] >= 0, RuntimeError, "invalid shape dimension ", shape[i], " in shape ", shape);
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    TWIG_CHECK(known != 0 && numel % known == 0, RuntimeError, "shape ", shape, " is invalid for input of size ",
               numel);
    out[infer] = numel / known;
  } else {
    TWIG_CHECK(known == numel, RuntimeError, "shape ", shape, " is invalid for input of size ", numel);
  }
  return out;
}

}  // namespace twig
