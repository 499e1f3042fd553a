// adam_step_: the fused kernel must round exactly like the tensor-op sequence torch.optim.Adam runs
// (the OptimGolden test checks that sequence against PyTorch), for every option and for strided input.
#include <gtest/gtest.h>

#include <cmath>

#include "testing.h"

using namespace twig;
using twig::testing::expect_error;

namespace {

struct Moments {
  Tensor param, exp_avg, exp_avg_sq, max_sq;
};

Moments start(Dtype dtype, uint64_t seed, bool amsgrad) {
  Generator g(seed);
  Moments m;
  m.param = randn({37, 29}, dtype, &g);
  m.exp_avg = randn({37, 29}, dtype, &g) * 0.1;
  m.exp_avg_sq = rand({37, 29}, dtype, &g) * 0.01;
  if (amsgrad) m.max_sq = m.exp_avg_sq + rand({37, 29}, dtype, &g) * 0.01;
  return m;
}

// torch.optim.Adam's _single_tensor_adam, op for op.
void reference(Moments& m, Tensor grad, const AdamStep& s) {
  if (s.maximize) grad = grad.neg();
  if (s.weight_decay != 0) {
    if (s.decoupled) {
      m.param.mul_(1.0 - s.lr * s.weight_decay);
    } else {
      grad = grad.add(m.param, s.weight_decay);
    }
  }
  m.exp_avg.mul_(s.beta1).add_(grad, 1.0 - s.beta1);
  m.exp_avg_sq.mul_(s.beta2).addcmul_(grad, grad, 1.0 - s.beta2);
  Tensor second = m.exp_avg_sq;
  if (s.amsgrad) {
    m.max_sq.copy_(maximum(m.max_sq, m.exp_avg_sq));
    second = m.max_sq;
  }
  Tensor denom = (second.sqrt() / s.bias_correction2_sqrt).add_(s.eps);
  m.param.addcdiv_(m.exp_avg, denom, -s.step_size);
}

AdamStep options(int variant, double step) {
  AdamStep s;
  s.lr = 0.01;
  s.weight_decay = variant & 1 ? 0.05 : 0.0;
  s.decoupled = variant & 2;
  s.amsgrad = variant & 4;
  s.maximize = variant & 8;
  s.step_size = s.lr / (1 - std::pow(s.beta1, step));
  s.bias_correction2_sqrt = std::sqrt(1 - std::pow(s.beta2, step));
  return s;
}

}  // namespace

TEST(AdamStep, RoundsExactlyLikeTheOpSequence) {
  for (Dtype dtype : {kFloat32, kFloat64}) {
    for (int variant = 0; variant < 16; ++variant) {
      SCOPED_TRACE(std::string(dtype_name(dtype)) + " variant " + std::to_string(variant));
      AdamStep s = options(variant, 3);
      Moments fused = start(dtype, variant, s.amsgrad), ref = start(dtype, variant, s.amsgrad);
      Generator g(100 + variant);
      for (int step = 0; step < 3; ++step) {
        Tensor grad = randn({37, 29}, dtype, &g);
        adam_step_(fused.param, grad, fused.exp_avg, fused.exp_avg_sq, fused.max_sq, s);
        reference(ref, grad, s);
      }
      EXPECT_TENSOR_EQ(fused.param, ref.param);
      EXPECT_TENSOR_EQ(fused.exp_avg, ref.exp_avg);
      EXPECT_TENSOR_EQ(fused.exp_avg_sq, ref.exp_avg_sq);
      if (s.amsgrad) {
        EXPECT_TENSOR_EQ(fused.max_sq, ref.max_sq);
      }
    }
  }
}

// Large enough to be split over the thread pool.
TEST(AdamStep, ParallelSplitMatchesSerialResult) {
  Generator g(7);
  Tensor p = randn({300, 400}, kFloat32, &g), grad = randn({300, 400}, kFloat32, &g);
  Moments ref{p.clone(), zeros_like(p), zeros_like(p), Tensor()};
  Tensor m = zeros_like(p), v = zeros_like(p);
  AdamStep s = options(1, 1);
  adam_step_(p, grad, m, v, Tensor(), s);
  reference(ref, grad, s);
  EXPECT_TENSOR_EQ(p, ref.param);
  EXPECT_TENSOR_EQ(v, ref.exp_avg_sq);
}

// A transposed parameter and gradient are updated in place through their own strides.
TEST(AdamStep, StridedTensorsAreUpdatedInPlace) {
  Generator g(3);
  Tensor base = randn({29, 37}, kFloat64, &g);
  Tensor p = base.t(), grad = randn({29, 37}, kFloat64, &g).t();
  Moments ref{p.contiguous(), zeros({37, 29}, kFloat64), zeros({37, 29}, kFloat64), Tensor()};
  Tensor m = zeros({37, 29}, kFloat64), v = zeros({37, 29}, kFloat64);
  const int64_t version = p.version();
  AdamStep s = options(3, 1);
  adam_step_(p, grad, m, v, Tensor(), s);
  reference(ref, grad.contiguous(), s);
  EXPECT_TENSOR_EQ(base.t(), ref.param);
  EXPECT_TENSOR_EQ(m, ref.exp_avg);
  EXPECT_GT(p.version(), version);
}

TEST(AdamStep, MismatchesAreTypedErrorsAndChangeNothing) {
  Tensor p = ones({4, 3}), m = zeros({4, 3}), v = zeros({4, 3});
  AdamStep s = options(0, 1);
  expect_error<ValueError>([&] { adam_step_(p, ones({3, 4}), m, v, Tensor(), s); }, {"grad", "[3, 4]", "[4, 3]"});
  expect_error<TypeError>([&] { adam_step_(p, ones({4, 3}, kFloat64), m, v, Tensor(), s); }, {"grad", "float64"});
  expect_error<TypeError>(
      [&] {
        adam_step_(ones({4, 3}, kInt64), ones({4, 3}, kInt64), m, v, Tensor(), s);
      },
      {"param", "int64"});
  s.amsgrad = true;
  expect_error<RuntimeError>([&] { adam_step_(p, ones({4, 3}), m, v, Tensor(), s); }, {"max_exp_avg_sq"});
  s.amsgrad = false;
  Tensor leaf = ones({4, 3}).requires_grad_();
  expect_error<RuntimeError>([&] { adam_step_(leaf, ones({4, 3}), m, v, Tensor(), s); }, {"NoGradGuard"});
  EXPECT_TENSOR_EQ(p, ones({4, 3}));
  EXPECT_TENSOR_EQ(m, zeros({4, 3}));
  EXPECT_TENSOR_EQ(leaf.detach(), ones({4, 3}));
}
