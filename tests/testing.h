// Shared test helpers.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "twig.h"

namespace twig::testing {

// A float64 leaf that requires grad, filled from a seeded normal distribution.
inline Tensor leaf(const Shape& shape, uint64_t seed = 0, double scale = 1.0) {
  Generator g(seed);
  return (randn(shape, kFloat64, &g) * scale).detach().requires_grad_();
}

// A non-contiguous float64 leaf-backed view with the given logical shape (a transposed buffer).
// Returns {view, leaf}; gradients accumulate in leaf.
inline std::pair<Tensor, Tensor> noncontiguous(const Shape& shape, uint64_t seed = 0) {
  Shape rev(shape.rbegin(), shape.rend());
  Tensor base = leaf(rev, seed);
  Dims order;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) order.push_back(i);
  return {base.permute(order), base};
}

// Runs gradcheck and reports the mismatch message on failure.
#define EXPECT_GRADCHECK(fn, inputs)                                          \
  do {                                                                         \
    auto _r = ::twig::autograd::gradcheck(fn, inputs);                         \
    EXPECT_TRUE(_r.ok) << _r.message;                                          \
  } while (0)

inline std::string str(const Tensor& t) {
  std::ostringstream os;
  os << t;
  return os.str();
}

#define EXPECT_TENSOR_EQ(a, b) EXPECT_TRUE(::twig::equal((a), (b))) << ::twig::testing::str(a) << "\nvs\n" << ::twig::testing::str(b)
#define EXPECT_TENSOR_CLOSE(a, b, rtol, atol)                                                   \
  EXPECT_TRUE(::twig::allclose((a), (b), (rtol), (atol))) << ::twig::testing::str(a) << "\nvs\n" \
                                                          << ::twig::testing::str(b)

}  // namespace twig::testing
