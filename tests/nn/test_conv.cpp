// Conv2d / Conv3d: finite-difference gradchecks over every option, PyTorch 1.13 golden values
// (tests/fixtures/nn_conv.json from tools/gen_nn_conv_fixtures.py), error messages, module
// parameters and repr.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "nn_conv_fixture.h"
#include "testing.h"
#include "twig/autograd/node.h"
#include "twig/nn/conv.h"
#include "twig/nn/functional.h"

using namespace twig;
using namespace twig::nn;
using twig::nn::functional::IntPair;
using twig::testing::leaf;
using twig::testing::noncontiguous;

using twig::testing::error_of;

namespace {

struct ConvArgs {
  IntPair stride{1}, padding{0}, dilation{1};
  int64_t groups = 1;
};

// Gradcheck of conv (2-D or 3-D) on x, weight and (optionally) bias.
void check_conv(size_t dims, const Shape& x_shape, const Shape& w_shape, bool bias, const ConvArgs& a,
                bool noncontig = false) {
  Tensor x, x_leaf;
  if (noncontig) {
    std::tie(x, x_leaf) = noncontiguous(x_shape, 1);
    ASSERT_FALSE(x.is_contiguous());
  } else {
    x = x_leaf = leaf(x_shape, 1);
  }
  Tensor w = leaf(w_shape, 2, 0.5);
  Tensor b = bias ? leaf({w_shape[0]}, 3) : Tensor();
  auto fn = [&](const TensorList& in) -> TensorList {
    const Tensor& bb = in.size() > 2 ? in[2] : Tensor();
    if (dims == 2) return {F::conv2d(in[0], in[1], bb, a.stride, a.padding, a.dilation, a.groups)};
    return {F::conv3d(in[0], in[1], bb, a.stride, a.padding, a.dilation, a.groups)};
  };
  TensorList inputs{x, w};
  if (bias) inputs.push_back(b);
  EXPECT_GRADCHECK(fn, inputs);
}

}  // namespace

// ---- gradchecks (float64) ------------------------------------------------------------------------

TEST(ConvGradcheck, Conv2dBasic) { check_conv(2, {2, 2, 5, 5}, {3, 2, 3, 3}, true, {}); }
TEST(ConvGradcheck, Conv2dNoBias) { check_conv(2, {2, 2, 4, 5}, {3, 2, 2, 3}, false, {}); }
TEST(ConvGradcheck, Conv2dStridePadding) { check_conv(2, {2, 2, 6, 5}, {3, 2, 3, 3}, true, {{2}, {1}, {1}, 1}); }
TEST(ConvGradcheck, Conv2dPerDimStridePaddingDilation) {
  check_conv(2, {1, 2, 7, 6}, {2, 2, 3, 2}, true, {{2, 1}, {1, 0}, {2, 1}, 1});
}
TEST(ConvGradcheck, Conv2dGroups) { check_conv(2, {2, 4, 4, 4}, {6, 2, 3, 3}, true, {{1}, {1}, {1}, 2}); }
TEST(ConvGradcheck, Conv2dDepthwise) { check_conv(2, {2, 3, 5, 4}, {3, 1, 3, 3}, false, {{2}, {1}, {1}, 3}); }
TEST(ConvGradcheck, Conv2dUnbatched) { check_conv(2, {2, 4, 4}, {3, 2, 3, 3}, true, {{1}, {1}, {1}, 1}); }
TEST(ConvGradcheck, Conv2dNonContiguousInput) {
  check_conv(2, {2, 2, 5, 4}, {3, 2, 3, 3}, true, {{1}, {1}, {1}, 1}, /*noncontig=*/true);
}
TEST(ConvGradcheck, Conv2dNonContiguousWeight) {
  auto [w, w_leaf] = noncontiguous({3, 2, 2, 2}, 4);
  Tensor x = leaf({2, 2, 4, 4}, 5);
  EXPECT_GRADCHECK([](const TensorList& in) -> TensorList { return {F::conv2d(in[0], in[1], Tensor(), {1}, {1})}; },
                   (TensorList{x, w}));
}
TEST(ConvGradcheck, Conv2dOnlySomeInputsNeedGrad) {
  Tensor x = leaf({2, 2, 4, 4}, 1), w = leaf({3, 2, 3, 3}, 2).detach(), b = leaf({3}, 3);
  EXPECT_GRADCHECK([](const TensorList& in) -> TensorList { return {F::conv2d(in[0], in[1], in[2], {1}, {1})}; },
                   (TensorList{x, w, b}));
  Tensor x2 = leaf({2, 2, 4, 4}, 1).detach(), w2 = leaf({3, 2, 3, 3}, 2);
  EXPECT_GRADCHECK([](const TensorList& in) -> TensorList { return {F::conv2d(in[0], in[1])}; }, (TensorList{x2, w2}));
}
TEST(ConvGradcheck, Conv3dBasic) { check_conv(3, {2, 2, 3, 4, 3}, {2, 2, 2, 2, 2}, true, {}); }
TEST(ConvGradcheck, Conv3dAllOptions) {
  check_conv(3, {1, 4, 4, 5, 4}, {4, 2, 2, 3, 2}, true, {{1, 2, 1}, {1, 0, 1}, {2, 1, 1}, 2});
}
TEST(ConvGradcheck, Conv3dUnbatchedNonContiguous) {
  check_conv(3, {2, 3, 4, 3}, {2, 2, 2, 2, 2}, false, {{1}, {1}, {1}, 1}, /*noncontig=*/true);
}

TEST(ConvForward, MatchesDirectSumLoop) {
  // A slow, obviously correct reference for one configuration with every option on.
  Tensor x = leaf({2, 4, 6, 7}, 7).detach(), w = leaf({4, 2, 3, 2}, 8).detach(), b = leaf({4}, 9).detach();
  const int64_t sh = 2, sw = 1, ph = 1, pw = 2, dh = 1, dw = 2, G = 2;
  Tensor out = F::conv2d(x, w, b, {sh, sw}, {ph, pw}, {dh, dw}, G);
  const int64_t OH = (6 + 2 * ph - dh * 2 - 1) / sh + 1, OW = (7 + 2 * pw - dw * 1 - 1) / sw + 1;
  ASSERT_EQ(out.sizes(), (Shape{2, 4, OH, OW}));
  auto xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  auto ov = out.to_vector<double>();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t o = 0; o < 4; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bv[o];
          const int64_t g = o / 2;
          for (int64_t c = 0; c < 2; ++c)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 2; ++kw) {
                const int64_t ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
                if (ih < 0 || ih >= 6 || iw < 0 || iw >= 7) continue;
                acc += xv[((n * 4 + g * 2 + c) * 6 + ih) * 7 + iw] * wv[((o * 2 + c) * 3 + kh) * 2 + kw];
              }
          EXPECT_NEAR(ov[((n * 4 + o) * OH + oh) * OW + ow], acc, 1e-12);
        }
}

// float32 through the fast paths (per-sample chunks, twig's own gemm kernels, the direct conv that
// reads input windows in place, the 2-D im2col / col2im row kernels of cpu_conv_rows.inc: masked
// vector loads, col2im summing in registers) against float64 through the plain im2col path, which
// the gradchecks and the direct sum above pin down; ctest runs it again capped at AVX2 and at none. Rows 1 to 40 floats
// wide, padded and not, strided and dilated, batch 1 (one big gemm) and batch 5 (chunks of samples, the last one
// short).
TEST(ConvForward, Float32AgreesWithFloat64ForwardAndBackward) {
  struct Case {
    Shape x, w;
    IntPair stride, padding, dilation;
  };
  const std::vector<Case> cases = {
      {{5, 1, 28, 28}, {6, 1, 5, 5}, {1}, {2}, {1}},   // LeNet-5 conv1
      {{5, 6, 14, 14}, {16, 6, 5, 5}, {1}, {0}, {1}},  // LeNet-5 conv2
      {{1, 3, 9, 40}, {4, 3, 3, 3}, {1}, {1}, {1}},    // one sample, wide rows
      {{5, 2, 11, 13}, {3, 2, 3, 3}, {2, 1}, {1, 2}, {1, 2}},
      {{5, 2, 6, 3}, {3, 2, 2, 2}, {1}, {1}, {1}},  // rows shorter than one vector
      {{5, 2, 9, 21}, {3, 2, 3, 4}, {1, 3}, {0, 3}, {2, 1}},
      {{5, 2, 11, 40}, {3, 2, 3, 3}, {2, 1}, {1, 0}, {2, 1}},  // direct kernel: rows 38 wide
      {{5, 2, 5, 3}, {3, 2, 2, 2}, {1}, {1, 20}, {1}},         // rows of 42, nearly all padding
      {{5, 2, 7, 9}, {3, 2, 2, 3}, {1}, {4, 5}, {3, 4}},       // padding rows and columns, dilated
      {{5, 2, 3, 40}, {3, 2, 2, 17}, {1}, {0, 3}, {1}},        // kernel wider than the col2im rows take
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i));
    Tensor x = randn(c.x, kFloat32), w = randn(c.w, kFloat32), b = randn({c.w[0]}, kFloat32);
    x.requires_grad_(true);
    w.requires_grad_(true);
    b.requires_grad_(true);
    Tensor x64 = x.detach().to(kFloat64).requires_grad_(true), w64 = w.detach().to(kFloat64).requires_grad_(true);
    Tensor b64 = b.detach().to(kFloat64).requires_grad_(true);
    Tensor out = F::conv2d(x, w, b, c.stride, c.padding, c.dilation, 1);
    Tensor out64 = F::conv2d(x64, w64, b64, c.stride, c.padding, c.dilation, 1);
    Tensor g = randn(out.sizes(), kFloat32);
    out.backward(g);
    out64.backward(g.to(kFloat64));
    EXPECT_TRUE(allclose(out.to(kFloat64), out64, 1e-4, 1e-4)) << "forward";
    EXPECT_TRUE(allclose(x.grad().to(kFloat64), x64.grad(), 1e-4, 1e-4)) << "grad input";
    EXPECT_TRUE(allclose(w.grad().to(kFloat64), w64.grad(), 1e-3, 1e-3)) << "grad weight";
    EXPECT_TRUE(allclose(b.grad().to(kFloat64), b64.grad(), 1e-3, 1e-3)) << "grad bias";
  }
}

TEST(ConvForward, RecordsOneNodeAndNoGradRecordsNothing) {
  Tensor x = leaf({1, 1, 4, 4}), w = leaf({2, 1, 3, 3}), b = leaf({2});
  Tensor y = F::conv2d(x, w, b);
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_EQ(y.grad_fn()->name(), "ConvolutionBackward0");
  EXPECT_EQ(y.grad_fn()->next_edges().size(), 3u);
  {
    NoGradGuard ng;
    EXPECT_FALSE(F::conv2d(x, w, b).requires_grad());
  }
}

TEST(ConvForward, InPlaceChangeOfSavedInputIsAnError) {
  Tensor x0 = leaf({1, 1, 4, 4});
  Tensor x = x0 * 1.0;
  Tensor y = F::conv2d(x, leaf({1, 1, 3, 3}));
  x.add_(1.0);
  EXPECT_THROW(y.sum().backward(), RuntimeError);
}

// ---- golden values from PyTorch 1.13 ---------------------------------------------------------

TEST(ConvGolden, MatchesPyTorch) {
  int checked = 0;
  for (const auto& c : twig::testing::nn_conv_fixture()["cases"]) {
    const std::string kind = c["kind"];
    if (kind != "conv2d" && kind != "conv3d") continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    using twig::testing::fixture_tensor;
    Tensor x = fixture_tensor(c["input"]).requires_grad_();
    Tensor w = fixture_tensor(c["weight"]).requires_grad_();
    Tensor b = c.contains("bias") ? fixture_tensor(c["bias"]).requires_grad_() : Tensor();
    const auto& o = c["opts"];
    const IntPair stride = o["stride"], padding = o["padding"], dilation = o["dilation"];
    const int64_t groups = o["groups"];
    Tensor out = kind == "conv2d" ? F::conv2d(x, w, b, stride, padding, dilation, groups)
                                  : F::conv3d(x, w, b, stride, padding, dilation, groups);
    twig::testing::expect_fixture_close(out, c["out"]);
    (out * fixture_tensor(c["w"])).sum().backward();
    twig::testing::expect_fixture_close(x.grad(), c["grad_input"]);
    twig::testing::expect_fixture_close(w.grad(), c["grad_weight"]);
    if (b.defined()) twig::testing::expect_fixture_close(b.grad(), c["grad_bias"]);
    ++checked;
  }
  EXPECT_GE(checked, 17);
}

// ---- errors ----------------------------------------------------------------------------------------

TEST(ConvErrors, ChannelMismatchNamesShapes) {
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({64, 3, 28, 28}), zeros({6, 1, 5, 5}));
            }),
            "Given groups=1, weight of size [6, 1, 5, 5], expected input[64, 3, 28, 28] to have 1 channels, but got 3 "
            "channels instead");
}

TEST(ConvErrors, ShapesAndOptions) {
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({2, 3}), zeros({1, 1, 1, 1}));
            }),
            "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [2, 3]");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 3, 2, 2}), zeros({1, 3, 3, 3}));
            }),
            "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater "
            "than actual input size");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 4, 5, 5}), zeros({3, 2, 3, 3}), Tensor(), {1}, {0}, {1}, 2);
            }),
            "Given groups=2, expected weight to be divisible by 2 at dimension 0, but got weight of size [3, 2, 3, 3] "
            "instead");
  EXPECT_EQ(
      error_of([] {
        F::conv2d(zeros({1, 1, 5, 5}), zeros({6, 1, 5, 5}), zeros({5}));
      }),
      "Given weight of size [6, 1, 5, 5], expected bias to be 1-dimensional with 6 elements, but got bias of size "
      "[5] instead");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), {1, 1, 1});
            }),
            "expected stride to be a single integer value or a list of 2 values to match the convolution dimensions, "
            "but got stride=[1, 1, 1]");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), {0});
            }),
            "non-positive stride is not supported");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), {1}, {-1});
            }),
            "negative padding is not supported");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}), Tensor(), {1}, {0}, {1}, 0);
            }),
            "non-positive groups is not supported");
  EXPECT_EQ(error_of([] {
              F::conv3d(zeros({1, 1, 5, 5, 5}), zeros({1, 1, 3, 3}));
            }),
            "Expected 4-dimensional input for 4-dimensional weight [1, 1, 3, 3], but got 5-dimensional input of size "
            "[1, 1, 5, 5, 5] instead");
  EXPECT_EQ(error_of([] {
              F::conv2d(zeros({1, 1, 5, 5}), zeros({1, 1, 3, 3}, kFloat64));
            }),
            "Input type (Float) and weight type (Double) should be the same");
  EXPECT_THROW(F::conv2d(zeros({1, 1, 5, 5}, kInt64), zeros({1, 1, 3, 3}, kInt64)), RuntimeError);
}

// ---- modules -----------------------------------------------------------------------------------

TEST(ConvModule, ParametersShapesAndInitBounds) {
  Conv2d conv(Conv2dOptions(6, 16, 5).groups(2));
  EXPECT_EQ(conv.weight().sizes(), (Shape{16, 3, 5, 5}));
  EXPECT_EQ(conv.bias().sizes(), (Shape{16}));
  // kaiming_uniform(a=√5): bound = 1/√fan_in, fan_in = 3 * 5 * 5; the bias shares the bound.
  const double bound = 1.0 / std::sqrt(75.0);
  EXPECT_LE(conv.weight().abs().max().item<double>(), bound);
  EXPECT_GT(conv.weight().abs().max().item<double>(), 0.8 * bound);
  EXPECT_LE(conv.bias().abs().max().item<double>(), bound);
  EXPECT_TRUE(conv.weight().requires_grad());

  Conv3d c3(Conv3dOptions(2, 4, {1, 2, 3}).bias(false));
  EXPECT_EQ(c3.weight().sizes(), (Shape{4, 2, 1, 2, 3}));
  EXPECT_FALSE(c3.bias().defined());
  EXPECT_EQ(c3.named_parameters().size(), 1u);
  EXPECT_THROW(Conv2d(Conv2dOptions(3, 4, 3).groups(2)), ValueError);
}

TEST(ConvModule, ForwardUsesNamedTensorsAndOptions) {
  Conv2d conv(Conv2dOptions(1, 2, 3).padding(1).bias(false));
  Tensor x = ones({1, 1, 4, 4});
  EXPECT_EQ(conv(x).sizes(), (Shape{1, 2, 4, 4}));
  // A pruning-style substitute: weight removed as a parameter and set as a plain attribute.
  Tensor orig = conv.remove_parameter("weight");
  conv.register_parameter("weight_orig", orig);
  conv.set_attribute("weight", zeros_like(orig));
  EXPECT_TRUE(equal(conv(x), zeros({1, 2, 4, 4})));
  // options are writable: stride 2 halves the output.
  conv.options.stride_ = {2, 2};
  EXPECT_EQ(conv(x).sizes(), (Shape{1, 2, 2, 2}));
}

TEST(ConvModule, CloneIsDeep) {
  auto conv = std::make_shared<Conv2d>(2, 3, 3);
  auto copy = std::dynamic_pointer_cast<Conv2d>(conv->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_TRUE(equal(copy->weight(), conv->weight()));
  EXPECT_FALSE(copy->weight().is_same(conv->weight()));
  EXPECT_EQ(copy->options.kernel_size_, conv->options.kernel_size_);
}

TEST(ConvModule, ReprMatchesPyTorch) {
  const auto& r = twig::testing::nn_conv_fixture()["reprs"];
  EXPECT_EQ(Conv2d(Conv2dOptions(1, 32, 3).padding(1).bias(false)).repr(), r["conv2d_pruning"]);
  EXPECT_EQ(Conv2d(Conv2dOptions(1, 6, 5).padding(2)).repr(), r["conv2d_lenet1"]);
  EXPECT_EQ(Conv2d(Conv2dOptions(4, 8, {3, 5}).stride({2, 1}).padding({1, 2}).dilation(2).groups(2)).repr(),
            r["conv2d_full"]);
  EXPECT_EQ(Conv3d(Conv3dOptions(2, 4, 3).stride(2).padding(1)).repr(), r["conv3d"]);
}
