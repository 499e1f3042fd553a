// ao/prune_functions.h on hand-prepared modules: the cases PyTorch's own tests do not reach (where
// its functions break the model and twig does what the masked model computes), where the
// conversion is not exact, and the checks that leave everything unchanged.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/ao/structured_pruners.h"
#include "tests/testing.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/ao/prune_functions.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"

namespace twig::ao {
namespace {

using indexing::Slice;
using testing::expect_error;
using testing::prepare_like_sparsifier;

Tensor bool_mask(std::initializer_list<int> bits) {
  Tensor m = zeros({static_cast<int64_t>(bits.size())}, kBool);
  int64_t i = 0;
  for (int b : bits) {
    if (b) m.index_put_({i}, 1.0);
    ++i;
  }
  return m;
}

// PyTorch's prune_linear without prune_bias leaves `bias` None and `_bias` behind: the pruned
// layer would compute x·Wᵀ with no bias. twig keeps the kept rows' bias.
TEST(TestPruneFunctions, prune_linear_keeps_bias_without_prune_bias) {
  manual_seed(0);
  nn::Linear lin(3, 4);
  Tensor b = lin.bias().clone();
  prepare_like_sparsifier(lin, bool_mask({1, 0, 1, 1}), /*prune_bias=*/false);
  Tensor x = randn({2, 3});
  Tensor y_masked = lin(x);
  prune_linear(lin);
  EXPECT_TRUE(lin.is_parameter("bias"));
  EXPECT_TRUE(equal(lin.bias(), b.index({bool_mask({1, 0, 1, 1})})));
  EXPECT_FALSE(lin.has("_bias"));
  EXPECT_TRUE(allclose(lin(x), y_masked.index({Slice(), bool_mask({1, 0, 1, 1})})));
  EXPECT_EQ(lin.repr(), "Linear(in_features=3, out_features=3, bias=True)");
}

// A bias propagated into a masked layer includes its `_bias`; PyTorch's _prune_module_bias (the
// prune_bias path) would read `_bias` and drop the propagated part.
TEST(TestPruneFunctions, propagated_bias_survives_prune_bias_of_next_layer) {
  manual_seed(1);
  nn::Linear l1(3, 4), l2(4, 2);
  Tensor m1 = bool_mask({1, 1, 0, 0}), m2 = bool_mask({0, 1});
  prepare_like_sparsifier(l1, m1, /*prune_bias=*/false);
  prepare_like_sparsifier(l2, m2, /*prune_bias=*/true);
  Tensor x = randn({5, 3});
  Tensor y_masked = l2(l1(x).tanh());
  prune_linear_activation_linear(
      l1, [](const Tensor& t) { return t.tanh(); }, l2);
  // l2.bias = W2[:, removed] · tanh(b1[removed]) + _bias2 while l2 is still masked.
  EXPECT_TRUE(l2.has("_bias"));
  EXPECT_FALSE(allclose(l2.bias(), l2.get("_bias")));  // something was propagated
  prune_linear(l2);
  Tensor y = l2(l1(x).tanh());
  EXPECT_TRUE(allclose(y, y_masked.index({Slice(), m2}), 1e-5, 1e-6));
}

// An activation with act(0) != 0 after a removed row that carries no bias (prune_bias, or no bias
// at all): the masked model feeds act(0) through the next layer's columns, the pruned one does
// not, and PyTorch propagates nothing. twig does the same; this states the difference exactly.
TEST(TestPruneFunctions, activation_nonzero_at_zero_is_not_exact) {
  manual_seed(2);
  nn::Linear l1(3, 4), l2(4, 2);
  Tensor m1 = bool_mask({1, 0, 1, 0});
  prepare_like_sparsifier(l1, m1, /*prune_bias=*/true);
  Tensor w2 = l2.weight().clone();
  Tensor x = randn({5, 3});
  Tensor y_masked = l2(l1(x).sigmoid());
  prune_linear_activation_linear(
      l1, [](const Tensor& t) { return t.sigmoid(); }, l2);
  Tensor y = l2(l1(x).sigmoid());
  EXPECT_FALSE(allclose(y, y_masked, 1e-3, 1e-3));
  Tensor lost = w2.index({Slice(), ~m1}).sum({1}) * 0.5;  // sigmoid(0) through the removed columns
  EXPECT_TRUE(allclose(y_masked - y, lost.unsqueeze(0).expand({5, 2}), 1e-5, 1e-6));
}

// The padded route: nothing shrinks; the removed channels become zero filters whose output is
// their bias. With prune_bias that bias is 0 only if a forward ran since the masks were set (the
// BiasHook zeroes `_bias` in place), as in PyTorch, whose prune() traces symbolically: without
// such a forward the pruned model keeps the removed channels' bias and differs from the masked one.
TEST(TestPruneFunctions, padded_route_depends_on_a_forward_with_prune_bias) {
  for (bool prune_bias : {true, false})
    for (bool forward : {true, false}) {
      manual_seed(3);
      nn::Conv2d c1(nn::Conv2dOptions(2, 3, 3));
      nn::Conv2d c2(nn::Conv2dOptions(3, 2, 3).padding(1));
      Tensor b1 = c1.bias().clone();
      Tensor mask = bool_mask({1, 0, 1});
      prepare_like_sparsifier(c1, mask, prune_bias);
      Tensor x = randn({1, 2, 7, 7});
      if (forward) c1(x);
      const int64_t before = c1.num_parameters() + c2.num_parameters();
      Tensor c2_weight = c2.weight();
      prune_conv2d_activation_conv2d(
          c1, [](const Tensor& t) { return t.relu(); }, c2);
      EXPECT_EQ(c1.weight().sizes(), (Shape{3, 2, 3, 3}));
      EXPECT_TRUE(equal(c1.weight().select(0, 1), zeros({2, 3, 3})));
      Tensor expected_bias = b1.clone();
      if (prune_bias && forward) expected_bias.index_put_({int64_t{1}}, 0.0);
      EXPECT_TRUE(equal(c1.bias(), expected_bias)) << prune_bias << forward;
      EXPECT_EQ(c1(x).select(1, 1).abs().max().item<float>() == 0.f, prune_bias && forward);
      EXPECT_FALSE(c1.has("_bias"));
      EXPECT_FALSE(nn::is_parametrized(c1));
      EXPECT_TRUE(c2.weight().is_same(c2_weight));  // untouched
      EXPECT_EQ(c1.num_parameters() + c2.num_parameters(), before);
      EXPECT_EQ(c1.options.out_channels_, 3);
    }
}

// Only a propagated bias (the conv had none): its removed entries become 0, in place.
TEST(TestPruneFunctions, padded_route_propagated_bias_only) {
  manual_seed(4);
  nn::Conv2d c1(nn::Conv2dOptions(2, 3, 3).bias(false));
  prepare_like_sparsifier(c1, bool_mask({0, 1, 1}), true);
  c1.set_attribute("bias", tensor({1.0f, 2.0f, 3.0f}).requires_grad_());
  Tensor bias = c1.bias();
  prune_conv2d_padded(c1);
  EXPECT_TRUE(c1.bias().is_same(bias));
  EXPECT_TRUE(equal(c1.bias(), tensor({0.0f, 2.0f, 3.0f})));
}

// padding="same" pads (PyTorch would fail comparing the string with (0, 0)).
TEST(TestPruneFunctions, same_padding_takes_the_padded_route) {
  manual_seed(5);
  nn::Conv2d c1(nn::Conv2dOptions(1, 3, 3));
  nn::Conv2d c2(nn::Conv2dOptions(3, 2, 3).padding("same"));
  prepare_like_sparsifier(c1, bool_mask({1, 0, 1}), false);
  prune_conv2d_conv2d(c1, c2);
  EXPECT_EQ(c1.weight().size(0), 3);
  EXPECT_EQ(c2.weight().size(1), 3);
}

// A bias-less conv before pool -> flatten -> linear without prune_bias: PyTorch iterates None and
// fails after shrinking the conv; twig has nothing to propagate.
TEST(TestPruneFunctions, flatten_linear_conv_without_bias) {
  manual_seed(6);
  nn::Conv2d conv(nn::Conv2dOptions(1, 3, 3).bias(false));
  nn::AdaptiveAvgPool2d pool(2);
  nn::Linear lin(12, 2);
  Tensor mask = bool_mask({1, 0, 1});
  prepare_like_sparsifier(conv, mask, false);
  Tensor x = randn({2, 1, 6, 6});
  Tensor y_masked = lin(pool(conv(x)).flatten(1));
  prune_conv2d_pool_flatten_linear(conv, Activation(), Activation(), lin);
  EXPECT_EQ(lin.weight().sizes(), (Shape{2, 8}));
  EXPECT_TRUE(allclose(lin(pool(conv(x)).flatten(1)), y_masked, 1e-5, 1e-6));
}

// ---- checks: typed errors naming the values, nothing changed ------------------------------------

struct Snapshot {
  std::string repr;
  std::vector<std::pair<std::string, Tensor>> params;
  explicit Snapshot(const nn::Module& m) : repr(m.repr()) {
    for (const auto& [n, t] : m.named_parameters()) params.push_back({n, t.clone()});
  }
  void expect_same(const nn::Module& m) const {
    EXPECT_EQ(m.repr(), repr);
    auto now = m.named_parameters();
    ASSERT_EQ(now.size(), params.size());
    for (size_t i = 0; i < now.size(); ++i) {
      EXPECT_EQ(now[i].first, params[i].first);
      EXPECT_TRUE(equal(now[i].second, params[i].second)) << now[i].first;
    }
  }
};

TEST(TestPruneFunctions, errors_leave_modules_unchanged) {
  manual_seed(7);
  {  // the head is not prepared
    nn::Linear l1(3, 4), l2(4, 2);
    Snapshot s1(l1), s2(l2);
    expect_error<ValueError>([&] { prune_linear_linear(l1, l2); }, {"Linear", "'weight' is not parametrized"});
    s1.expect_same(l1);
    s2.expect_same(l2);
  }
  {  // the next layer's columns do not match the mask
    nn::Linear l1(3, 4), l2(5, 2);
    prepare_like_sparsifier(l1, bool_mask({1, 0, 1, 1}), false);
    Snapshot s1(l1), s2(l2);
    expect_error<ValueError>([&] { prune_linear_linear(l1, l2); }, {"[2, 5]", "4 masked rows"});
    s1.expect_same(l1);
    s2.expect_same(l2);
    EXPECT_TRUE(nn::is_parametrized(l1, "weight"));
  }
  {  // flatten size that does not divide: PyTorch's AssertionError and message
    nn::Conv2d conv(nn::Conv2dOptions(1, 3, 3));
    nn::Linear lin(10, 2);
    prepare_like_sparsifier(conv, bool_mask({1, 0, 1}), false);
    Snapshot s1(conv), s2(lin);
    expect_error<AssertionError>([&] { prune_conv2d_pool_flatten_linear(conv, Activation(), Activation(), lin); },
                                 "Flattening from dimensions 3 to 10 not supported");
    s1.expect_same(conv);
    s2.expect_same(lin);
  }
  {  // a grouped conv would shrink
    nn::Conv2d c1(nn::Conv2dOptions(2, 4, 1).groups(2).bias(false)), c2(nn::Conv2dOptions(4, 2, 1));
    prepare_like_sparsifier(c1, bool_mask({1, 0, 1, 1}), false);
    Snapshot s1(c1), s2(c2);
    expect_error<ValueError>([&] { prune_conv2d_conv2d(c1, c2); }, "groups=2");
    s1.expect_same(c1);
    s2.expect_same(c2);
  }
}

}  // namespace
}  // namespace twig::ao
