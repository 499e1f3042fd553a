// Pooling: gradchecks, PyTorch 1.13 golden values (tests/fixtures/nn_conv.json), output-size
// rules, error messages and module reprs.
#include <gtest/gtest.h>

#include <limits>

#include "nn_conv_fixture.h"
#include "testing.h"
#include "twig/autograd/node.h"
#include "twig/nn/functional.h"
#include "twig/nn/pooling.h"

using namespace twig;
using namespace twig::nn;
using twig::nn::functional::IntPair;
using twig::testing::leaf;
using twig::testing::noncontiguous;

using twig::testing::error_of;

namespace {

using PoolFn = std::function<Tensor(const Tensor&)>;

// Gradcheck of a pooling function on a contiguous and on a non-contiguous input. Max pooling gets
// inputs without near-ties (a permutation of spread-out values), so finite differences are valid.
void check_pool(const PoolFn& pool, const Shape& shape, bool spread = false) {
  for (bool noncontig : {false, true}) {
    SCOPED_TRACE(noncontig ? "non-contiguous" : "contiguous");
    Tensor x, x_leaf;
    if (noncontig) {
      std::tie(x, x_leaf) = noncontiguous(shape, 11);
    } else {
      x = x_leaf = leaf(shape, 11);
    }
    if (spread) {
      // Values 0, 0.1, 0.2, ... in a random order: every pair differs by far more than eps.
      Generator g(5);
      Tensor vals = randperm(x_leaf.numel(), kInt64, &g).to(kFloat64) * 0.1;
      x_leaf = vals.reshape(x_leaf.sizes()).detach().requires_grad_();
      x = noncontig ? x_leaf.permute([&] {
        Dims d;
        for (int64_t i = x_leaf.dim() - 1; i >= 0; --i) d.push_back(i);
        return d;
      }())
                    : x_leaf;
    }
    EXPECT_GRADCHECK([&](const TensorList& in) -> TensorList { return {pool(in[0])}; }, (TensorList{x}));
  }
}

}  // namespace

// ---- gradchecks ------------------------------------------------------------------------------------

TEST(PoolGradcheck, MaxPool2d) {
  check_pool([](const Tensor& x) { return F::max_pool2d(x, {2}); }, {2, 2, 4, 4}, true);
  check_pool([](const Tensor& x) { return F::max_pool2d(x, {2}, {2}, {1}); }, {2, 2, 5, 5}, true);
  check_pool(
      [](const Tensor& x) {
        return F::max_pool2d(x, {3, 2}, {2, 1}, {1, 0}, {2, 1}, true);
      },
      {1, 2, 7, 6}, true);
  check_pool([](const Tensor& x) { return F::max_pool2d(x, {3}, {2}, {1}, {1}, true); }, {2, 6, 6}, true);
}

TEST(PoolGradcheck, AvgPool2d) {
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {2}); }, {2, 2, 4, 5});
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {2}, {2}, {1}); }, {2, 2, 5, 5});
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {2}, {2}, {1}, false, false); }, {2, 2, 5, 5});
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {3}, {2}, {1}, true, true); }, {1, 2, 6, 6});
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {3}, {2}, {1}, true, false); }, {1, 2, 6, 6});
  check_pool([](const Tensor& x) { return F::avg_pool2d(x, {3, 2}, {1, 2}, {1, 1}, false, true, 4); }, {2, 5, 6});
}

TEST(PoolGradcheck, AdaptiveAvgPool2d) {
  check_pool([](const Tensor& x) { return F::adaptive_avg_pool2d(x, {2}); }, {2, 2, 5, 6});
  check_pool([](const Tensor& x) { return F::adaptive_avg_pool2d(x, {3, 2}); }, {2, 7, 5});
  check_pool([](const Tensor& x) { return F::adaptive_avg_pool2d(x, {4}); }, {1, 2, 3, 3});
}

TEST(PoolGradcheck, AdaptiveMaxPool2d) {
  check_pool([](const Tensor& x) { return F::adaptive_max_pool2d(x, {2}); }, {2, 2, 5, 6}, true);
  check_pool([](const Tensor& x) { return F::adaptive_max_pool2d(x, {3, 2}); }, {2, 7, 5}, true);
  check_pool([](const Tensor& x) { return F::adaptive_max_pool2d(x, {4}); }, {1, 2, 3, 3}, true);
}

// ---- golden values from PyTorch 1.13 ---------------------------------------------------------

TEST(PoolGolden, MatchesPyTorch) {
  int checked = 0;
  for (const auto& c : twig::testing::nn_conv_fixture()["cases"]) {
    const std::string kind = c["kind"];
    if (kind.find("pool") == std::string::npos) continue;
    SCOPED_TRACE(kind + " " + c["name"].get<std::string>());
    Tensor x = twig::testing::fixture_tensor(c["input"]).requires_grad_();
    const auto& o = c["opts"];
    auto ints = [&](const char* key, IntPair dflt) { return o.contains(key) ? o[key].get<IntPair>() : dflt; };
    Tensor out;
    if (kind == "max_pool2d") {
      out = F::max_pool2d(x, ints("kernel_size", {}), ints("stride", {}), ints("padding", {0}), ints("dilation", {1}),
                          o.value("ceil_mode", false));
    } else if (kind == "avg_pool2d") {
      std::optional<int64_t> div;
      if (o.contains("divisor_override") && !o["divisor_override"].is_null())
        div = o["divisor_override"].get<int64_t>();
      out = F::avg_pool2d(x, ints("kernel_size", {}), ints("stride", {}), ints("padding", {0}),
                          o.value("ceil_mode", false), o.value("count_include_pad", true), div);
    } else if (kind == "adaptive_avg_pool2d") {
      out = F::adaptive_avg_pool2d(x, ints("output_size", {}));
    } else {
      out = F::adaptive_max_pool2d(x, ints("output_size", {}));
    }
    twig::testing::expect_fixture_close(out, c["out"]);
    (out * twig::testing::fixture_tensor(c["w"])).sum().backward();
    twig::testing::expect_fixture_close(x.grad(), c["grad_input"]);
    ++checked;
  }
  EXPECT_GE(checked, 27);
}

// ---- output sizes and semantics -------------------------------------------------------------------

TEST(PoolShapes, OutputSizeRules) {
  // floor((H + 2p - d(k-1) - 1) / s) + 1
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 28, 28}), {2}).sizes(), (Shape{1, 1, 14, 14}));
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 7, 7}), {2}, {2}, {1}).sizes(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 7, 7}), {3}, {2}, {0}, {2}).sizes(), (Shape{1, 1, 2, 2}));
  // ceil_mode rounds up ...
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 5, 5}), {2}, {2}, {0}, {1}, true).sizes(), (Shape{1, 1, 3, 3}));
  // ... unless the last window would start in the right padding: 5x5, k2 s2 p1 -> 3, not 4.
  EXPECT_EQ(F::max_pool2d(zeros({1, 1, 5, 5}), {2}, {2}, {1}, {1}, true).sizes(), (Shape{1, 1, 3, 3}));
  EXPECT_EQ(F::avg_pool2d(zeros({1, 1, 6, 6}), {2}, {2}, {1}, true).sizes(), (Shape{1, 1, 4, 4}));
  EXPECT_EQ(F::adaptive_avg_pool2d(zeros({2, 3, 7, 5}), {3, 2}).sizes(), (Shape{2, 3, 3, 2}));
  EXPECT_EQ(F::adaptive_max_pool2d(zeros({3, 7, 5}), {1}).sizes(), (Shape{3, 1, 1}));
}

TEST(PoolSemantics, MaxPoolNaNWinsAndPaddingNeverWins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = tensor({{{-5.0, -6.0}, {nan, -7.0}}}, kFloat64);  // (1, 2, 2)
  Tensor y = F::max_pool2d(x, {2});
  EXPECT_TRUE(std::isnan(y.item<double>()));
  // All-negative input with padding: the max is a real element, not a padded zero.
  Tensor z = F::max_pool2d(-ones({1, 3, 3}), {2}, {2}, {1});
  EXPECT_TRUE(equal(z, -ones({1, 2, 2})));
}

// The 2x2 stride-2 fast path (LeNet's pool, vectorized for float32) against a plain loop over the
// windows: values with many ties, -inf and NaNs, odd sizes (a vector tail and an unused last
// row/column), batch 1. The gradient of sum(y * w) lands on each window's winner.
TEST(PoolSemantics, MaxPool2x2FastPathMatchesReference) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (const Shape& shape : {Shape{2, 3, 9, 11}, Shape{1, 1, 28, 28}, Shape{1, 2, 2, 2}, Shape{3, 5, 19}}) {
    SCOPED_TRACE(::testing::PrintToString(shape));
    Generator gen(7);
    Tensor xv = randint(0, 4, shape, kFloat32, &gen);  // many ties
    float* px = xv.data_ptr<float>();
    const int64_t n = xv.numel();
    for (int64_t i = 0; i < n; i += 13) px[i] = -inf;
    for (int64_t i = 5; i < n; i += 37) px[i] = nan;
    Tensor x = xv.clone().requires_grad_();
    Tensor y = F::max_pool2d(x, {2});
    Tensor w = randn(y.sizes(), kFloat32, &gen);
    (y * w).sum().backward();

    const int64_t H = shape[shape.size() - 2], W = shape.back(), OH = H / 2, OW = W / 2, B = n / (H * W);
    Tensor want_y = zeros(y.sizes(), kFloat32), want_g = zeros(shape, kFloat32);
    const float* pw = w.contiguous().data_ptr<float>();
    float* py = want_y.data_ptr<float>();
    float* pg = want_g.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t best = -1;
          for (int64_t i : {2 * oh * W + 2 * ow, 2 * oh * W + 2 * ow + 1, (2 * oh + 1) * W + 2 * ow,
                            (2 * oh + 1) * W + 2 * ow + 1}) {
            const float v = px[b * H * W + i];
            if (best < 0 || std::isnan(v) || (!std::isnan(px[b * H * W + best]) && v > px[b * H * W + best])) best = i;
          }
          const int64_t o = (b * OH + oh) * OW + ow;
          py[o] = px[b * H * W + best];
          pg[b * H * W + best] += pw[o];
        }
      }
    }
    EXPECT_TRUE(equal(y.detach().isnan(), want_y.isnan()));
    EXPECT_TRUE(equal(y.detach().masked_fill(want_y.isnan(), 0.0), want_y.masked_fill(want_y.isnan(), 0.0)));
    EXPECT_TRUE(equal(x.grad(), want_g));
  }
}

TEST(PoolSemantics, BackwardRecordsOneNode) {
  Tensor x = leaf({1, 2, 4, 4});
  EXPECT_EQ(F::max_pool2d(x, {2}).grad_fn()->name(), "MaxPool2DWithIndicesBackward0");
  EXPECT_EQ(F::avg_pool2d(x, {2}).grad_fn()->name(), "AvgPool2DBackward0");
  EXPECT_EQ(F::adaptive_avg_pool2d(x, {1}).grad_fn()->name(), "AdaptiveAvgPool2DBackward0");
  EXPECT_EQ(F::adaptive_max_pool2d(x, {1}).grad_fn()->name(), "AdaptiveMaxPool2DBackward0");
  NoGradGuard ng;
  EXPECT_FALSE(F::max_pool2d(x, {2}).requires_grad());
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(PoolErrors, MessagesLikePyTorch) {
  EXPECT_EQ(error_of([] {
              F::max_pool2d(zeros({1, 3, 4, 4}), {3}, {}, {2});
            }),
            "pad should be at most half of kernel size, but got pad=2 and kernel_size=3");
  EXPECT_EQ(error_of([] {
              F::max_pool2d(zeros({1, 3, 2, 2}), {3});
            }),
            "Given input size: (3x2x2). Calculated output size: (3x0x0). Output size is too small");
  EXPECT_EQ(error_of([] {
              F::avg_pool2d(zeros({1, 3, 4, 4}), {2}, {}, {0}, false, true, 0);
            }),
            "divisor must be not zero");
  EXPECT_EQ(error_of([] { F::max_pool2d(zeros({1, 1, 4, 4}), {2}, {0}); }), "stride should not be zero");
  EXPECT_EQ(error_of([] {
              F::adaptive_avg_pool2d(zeros({3, 4}), {2});
            }),
            "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [3, 4]");
  EXPECT_EQ(error_of([] {
              F::adaptive_avg_pool2d(zeros({1, 3, 0, 4}), {2});
            }),
            "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has "
            "sizes [1, 3, 0, 4] with dimension 2 being empty");
  EXPECT_NE(error_of([] {
              F::max_pool2d(zeros({3, 4}), {2});
            }).find("non-empty 3D or 4D (batch mode) tensor expected for input"),
            std::string::npos);
  EXPECT_NE(error_of([] { F::max_pool2d(zeros({1, 1, 4, 4}), {2, 2, 2}); }).find("kernel_size"), std::string::npos);
}

// ---- modules -----------------------------------------------------------------------------------

TEST(PoolModule, ReprMatchesPyTorch) {
  const auto& r = twig::testing::nn_conv_fixture()["reprs"];
  EXPECT_EQ(MaxPool2d(MaxPool2dOptions(2).stride(2).padding(1)).repr(), r["maxpool"]);
  EXPECT_EQ(MaxPool2d(MaxPool2dOptions(2)).repr(), r["maxpool_default"]);
  EXPECT_EQ(MaxPool2d(MaxPool2dOptions({2, 3}).stride({1, 2}).ceil_mode(true)).repr(), r["maxpool_tuple"]);
  EXPECT_EQ(AvgPool2d(AvgPool2dOptions(2).stride(2).padding(1)).repr(), r["avgpool"]);
  EXPECT_EQ(AvgPool2d(AvgPool2dOptions(3)).repr(), r["avgpool_default"]);
  EXPECT_EQ(AdaptiveAvgPool2d({2, 2}).repr(), r["adaptive_avg_2x2"]);
  EXPECT_EQ(AdaptiveAvgPool2d(1).repr(), r["adaptive_avg_1"]);
  EXPECT_EQ(AdaptiveMaxPool2d({2, 2}).repr(), r["adaptive_max_2x2"]);
}

TEST(PoolModule, ForwardMatchesFunctionalAndHasNoParameters) {
  Tensor x = leaf({2, 3, 6, 6}).detach();
  MaxPool2d mp(MaxPool2dOptions(2).stride(2).padding(1));
  EXPECT_TRUE(equal(mp(x), F::max_pool2d(x, {2}, {2}, {1})));
  AvgPool2d ap(AvgPool2dOptions(2).stride(2).padding(1).count_include_pad(false));
  EXPECT_TRUE(equal(ap(x), F::avg_pool2d(x, {2}, {2}, {1}, false, false)));
  AdaptiveAvgPool2d aap({2, 2});
  EXPECT_TRUE(equal(aap(x), F::adaptive_avg_pool2d(x, {2, 2})));
  AdaptiveMaxPool2d amp(1);
  EXPECT_TRUE(equal(amp(x), F::adaptive_max_pool2d(x, {1})));
  EXPECT_EQ(mp.parameters().size(), 0u);
  auto copy = std::dynamic_pointer_cast<MaxPool2d>(mp.clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->repr(), mp.repr());
}
