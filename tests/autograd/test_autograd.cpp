// Autograd semantics: backward and accumulation, retain_grad, hooks (the mechanism pruning uses to
// mask gradients), grad mode, in-place and version-counter errors, autograd::grad, deep graphs.
#include <functional>

#include "testing.h"
#include "twig/autograd/node.h"

using namespace twig;
using twig::testing::expect_error;
using twig::testing::leaf;

namespace {
std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(AutogradBackward, WithGradient) {
  Tensor x = tensor({1., 2., 3.}, kFloat64).requires_grad_();
  Tensor y = x * x;
  y.backward(tensor({1., 0.5, -1.}, kFloat64));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 2, -6}));
  EXPECT_EQ(x.grad().dtype(), kFloat64);
}

TEST(AutogradBackward, NonScalarWithoutGradientThrows) {
  Tensor x = ones({3}).requires_grad_();
  expect_error<RuntimeError>([&] { (x * 2).backward(); }, "[3]");
  expect_error<RuntimeError>([&] { tensor({1.}).backward(); }, "does not require grad");
  expect_error<RuntimeError>([&] { (x * 2).backward(ones({2})); }, "[2]");
}

TEST(AutogradBackward, AccumulatesAcrossBackwards) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  (x * 3).sum().backward();
  Tensor first = x.grad();
  (x * x).sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{5, 7}));
  // The gradient accumulates in place into the same tensor, as in PyTorch.
  EXPECT_TRUE(first.is_same(x.grad()));
  x.set_grad(Tensor());
  (x * 3).sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 3}));
}

TEST(AutogradBackward, SharedSubexpressionSumsPaths) {
  Tensor x = tensor({2.}, kFloat64).requires_grad_();
  Tensor a = x * x;      // 2x
  Tensor b = a * x + a;  // x^3 + x^2 -> 3x^2 + 2x = 16
  b.backward(ones_like(b));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{16}));
}

TEST(AutogradBackward, BroadcastGradientsReduce) {
  Tensor a = ones({2, 3}, kFloat64).requires_grad_();
  Tensor b = tensor({1., 2., 3.}, kFloat64).requires_grad_();
  Tensor c = tensor(2.0, kFloat64).requires_grad_();
  ((a * b) * c).sum().backward();
  EXPECT_EQ(b.grad().sizes(), (Shape{3}));
  EXPECT_EQ(vals(b.grad()), (std::vector<double>{4, 4, 4}));
  EXPECT_EQ(c.grad().dim(), 0);
  EXPECT_EQ(c.grad().item<double>(), 12);
  EXPECT_EQ(vals(a.grad()), (std::vector<double>{2, 4, 6, 2, 4, 6}));
}

TEST(AutogradBackward, Float32LeafThroughFloat64Op) {
  Tensor x = tensor({1., 2.}).requires_grad_();
  Tensor y = (x.to(kFloat64) * tensor({3., 4.}, kFloat64)).sum();
  y.backward();
  EXPECT_EQ(x.grad().dtype(), kFloat32);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{3, 4}));
}

TEST(AutogradBackward, ConversionToIntegerLeavesTheGraph) {
  Tensor w = tensor({1.5, -2.5}).requires_grad_();
  Tensor i = w.to(kInt64);  // torch: w.long() works and does not require grad
  EXPECT_FALSE(i.requires_grad());
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, -2}));
  EXPECT_FALSE((w * 2).to(kBool).requires_grad());
  EXPECT_EQ(w.to_vector<int64_t>(), (std::vector<int64_t>{1, -2}));
}

TEST(AutogradBackward, RetainGraphAllowsSecondBackward) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{4, 8}));
}

TEST(AutogradBackward, SecondBackwardWithoutRetainThrows) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor y = (x * x).sum();
  y.backward();
  expect_error<RuntimeError>([&] { y.backward(); }, "second time");
}

TEST(AutogradBackward, RetainGrad) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor h = x * 2;
  h.retain_grad();
  EXPECT_TRUE(h.retains_grad());
  Tensor y = (h * h).sum();
  y.backward(Tensor(), true);
  EXPECT_EQ(vals(h.grad()), (std::vector<double>{4, 8}));
  y.backward();
  EXPECT_EQ(vals(h.grad()), (std::vector<double>{8, 16}));
  Tensor g = x * 3;
  EXPECT_FALSE(g.grad().defined());  // non-leaf without retain_grad keeps no grad
  expect_error<RuntimeError>([] { tensor({1.}).retain_grad(); }, "requires_grad=False");
}

TEST(AutogradBackward, LeafAndGradFnFlags) {
  Tensor x = tensor({1.}).requires_grad_();
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn(), nullptr);
  Tensor y = x * 2;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward0");
  EXPECT_TRUE(tensor({1.}).is_leaf());
  expect_error<RuntimeError>([&] { y.requires_grad_(false); }, "leaf variables");
  Tensor z = tensor({1.}) * 2;  // no input requires grad
  EXPECT_FALSE(z.requires_grad());
  EXPECT_TRUE(z.is_leaf());
}

TEST(AutogradBackward, IntTensorCannotRequireGrad) {
  expect_error<RuntimeError>([] { tensor({1, 2}).requires_grad_(); }, "int64");
  expect_error<RuntimeError>([] { tensor({true}).requires_grad_(); }, "bool");
  expect_error<RuntimeError>([] { ones({2}, TensorOptions(kInt32).requires_grad()); }, "int32");
  tensor({1, 2}).requires_grad_(false);  // turning it off is fine
}

// ---- hooks ----------------------------------------------------------------------------------

TEST(AutogradHooks, LeafHookReplacesGradient) {
  Tensor w = tensor({1., 2., 3., 4.}, kFloat64).requires_grad_();
  Tensor mask = tensor({1., 0., 1., 0.}, kFloat64);
  auto handle = w.register_hook([mask](const Tensor& g) { return g * mask; });
  (w * w).sum().backward();
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{2, 0, 6, 0}));
  handle.remove();
  w.set_grad(Tensor());
  (w * w).sum().backward();
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{2, 4, 6, 8}));
  handle.remove();  // removing twice is a no-op
}

TEST(AutogradHooks, NonLeafHookChangesUpstreamGradient) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor h = x * 3;
  std::vector<double> seen;
  auto observe = h.register_hook([&](const Tensor& g) {
    seen = vals(g);
    return Tensor();  // keep the gradient
  });
  auto scale = h.register_hook([](const Tensor& g) { return g * 10; });
  h.sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{1, 1}));
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{30, 30}));
  (void)observe;
  (void)scale;
}

TEST(AutogradHooks, HooksRunInOrderAndCanBeRemoved) {
  Tensor x = tensor({1.}, kFloat64).requires_grad_();
  Tensor h = x * 1;
  auto add = h.register_hook([](const Tensor& g) { return g + 1; });
  auto mul = h.register_hook([](const Tensor& g) { return g * 2; });
  (h * 1).sum().backward(Tensor(), true);
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{4}));  // (1 + 1) * 2
  add.remove();
  x.set_grad(Tensor());
  (h * 1).sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2}));
  (void)mul;
}

TEST(AutogradHooks, HookOnTensorWithoutGradThrows) {
  expect_error<RuntimeError>([] { tensor({1.}).register_hook([](const Tensor& g) { return g; }); },
                             "doesn't require gradient");
}

TEST(AutogradHooks, HookSeesGradOnce) {
  Tensor w = tensor({1., 1.}, kFloat64).requires_grad_();
  int calls = 0;
  w.register_hook([&](const Tensor&) {
    ++calls;
    return Tensor();
  });
  (w * 2 + w * 3).sum().backward();  // two paths, one accumulated gradient
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(vals(w.grad()), (std::vector<double>{5, 5}));
}

// ---- grad mode ------------------------------------------------------------------------------

TEST(AutogradGradMode, NoGradGuard) {
  Tensor x = tensor({1.}).requires_grad_();
  {
    NoGradGuard guard;
    EXPECT_FALSE(autograd::GradMode::is_enabled());
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    x.mul_(2);  // in-place on a leaf is allowed without grad
    {
      EnableGradGuard enable;
      EXPECT_TRUE((x * 2).requires_grad());
    }
    EXPECT_FALSE(autograd::GradMode::is_enabled());
  }
  EXPECT_TRUE(autograd::GradMode::is_enabled());
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{2}));
  EXPECT_TRUE((x * 2).requires_grad());
}

// ---- in-place and versions ------------------------------------------------------------------

TEST(AutogradInplace, LeafRequiringGradRejectsInplace) {
  Tensor x = tensor({1., 2.}).requires_grad_();
  expect_error<RuntimeError>([&] { x.add_(1); },
                             "a leaf Variable that requires grad is being used in an in-place operation");
  expect_error<RuntimeError>([&] { x.mul_(tensor({2.})); }, "leaf Variable");
  expect_error<RuntimeError>([&] { x.zero_(); }, "leaf Variable");
  expect_error<RuntimeError>([&] { x.relu_(); }, "leaf Variable");
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(x.version(), 0u);
}

TEST(AutogradInplace, ModifiedSavedTensorIsDetected) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor h = x * 1;
  Tensor y = h * h;  // saves h
  h.add_(1);
  expect_error<RuntimeError>([&] { y.sum().backward(); }, "modified by an inplace operation");
}

TEST(AutogradInplace, ModifiedViewOfSavedTensorIsDetected) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor h = x.exp();  // ExpBackward saves its output
  NoGradGuard guard;
  Tensor alias = h.detach();
  alias.mul_(2);  // shares the version counter
  EnableGradGuard enable;
  expect_error<RuntimeError>([&] { h.sum().backward(); }, "modified by an inplace operation");
}

TEST(AutogradInplace, InplaceOnNonLeafIsDifferentiable) {
  Tensor x = tensor({1., -2., 3.}, kFloat64).requires_grad_();
  Tensor h = x * 2;
  h.relu_();
  EXPECT_EQ(h.grad_fn()->name(), "ReluBackward0");
  h.mul_(tensor({1., 1., 3.}, kFloat64));
  h.add_(1, 2);
  h.sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{2, 0, 6}));
  Tensor z = x * 1;
  z.clamp_(0, 2);
  z.sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{3, 0, 6}));
}

TEST(AutogradInplace, InplaceGradcheck) {
  Tensor x = leaf({3, 4}, 3);
  Tensor o = leaf({4}, 4);
  EXPECT_GRADCHECK(
      [](const TensorList& in) {
        Tensor h = in[0] * 1.5;
        h.add_(in[1], 0.5);
        h.mul_(in[1]);
        h.sub_(in[0]);
        h.div_(2.0);
        return TensorList{h};
      },
      (TensorList{x, o}));
}

// ---- autograd::grad ---------------------------------------------------------------------------

TEST(AutogradGrad, ReturnsGradientsWithoutTouchingDotGrad) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor w = tensor({3., 4.}, kFloat64).requires_grad_();
  Tensor y = (x * w).sum();
  TensorList g = autograd::grad({y}, {x, w});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{3, 4}));
  EXPECT_EQ(vals(g[1]), (std::vector<double>{1, 2}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(AutogradGrad, NonLeafInputAndUnused) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor h = x * 2;
  Tensor y = (h * h).sum();
  TensorList g = autograd::grad({y}, {h}, {}, /*retain_graph=*/true);
  EXPECT_EQ(vals(g[0]), (std::vector<double>{4, 8}));
  Tensor unused = tensor({1.}, kFloat64).requires_grad_();
  expect_error<RuntimeError>([&] { autograd::grad({y}, {unused}, {}, true); }, "not used");
  TensorList u = autograd::grad({y}, {x, unused}, {}, true, /*allow_unused=*/true);
  EXPECT_EQ(vals(u[0]), (std::vector<double>{8, 16}));
  EXPECT_FALSE(u[1].defined());
}

TEST(AutogradGrad, WithGradRoots) {
  Tensor x = tensor({1., 2.}, kFloat64).requires_grad_();
  Tensor y = x * x;
  TensorList g = autograd::grad({y}, {x}, {tensor({1., 10.}, kFloat64)});
  EXPECT_EQ(vals(g[0]), (std::vector<double>{2, 40}));
}

// ---- deep graphs ----------------------------------------------------------------------------

TEST(AutogradDeep, HundredThousandChainedAdds) {
  Tensor x = tensor({1.}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 1.0;
  y.sum().backward();
  EXPECT_EQ(vals(x.grad()), (std::vector<double>{1}));
  EXPECT_EQ(y.item<double>(), 100001.0);
  // Dropping the chain must not overflow the stack either (graph destruction).
  y = Tensor();
}

TEST(AutogradDeep, DeepChainDestroyedWithoutBackward) {
  Tensor x = tensor({1.}, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  y = Tensor();
  SUCCEED();
}

TEST(AutogradInplace, RetainedGradFollowsInplaceRebase) {
  // PyTorch 1.13: h = x * 2; h.retain_grad(); h.mul_(3); h.sum().backward() -> h.grad == ones.
  Tensor x = tensor({1.0, 2.0}).requires_grad_();
  Tensor h = x * 2;
  h.retain_grad();
  h.mul_(3);
  h.sum().backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6.0, 6.0}));
}

TEST(AutogradGradcheck, IntegerOutputsAreIgnored) {
  Tensor x = tensor({3.0, 1.0, 2.0}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck(
      [](const TensorList& in) {
        auto [v, i] = in[0].max(0);
        return TensorList{v, i};
      },
      {x});
  EXPECT_TRUE(r.ok) << r.message;
}
