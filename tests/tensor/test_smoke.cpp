#include <gtest/gtest.h>

#include "twig/core.h"

using namespace twig;

TEST(Smoke, AddMulSumBackward) {
  Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}).requires_grad_();
  Tensor b = tensor({10.0, 20.0}).requires_grad_();
  Tensor y = (a * b + a).sum();
  EXPECT_DOUBLE_EQ(y.item<double>(), 1 * 10 + 2 * 20 + 3 * 10 + 4 * 20 + 10.0);
  y.backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{11, 21, 11, 21}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{4, 6}));
}
