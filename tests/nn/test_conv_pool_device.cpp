// Conv and pooling on a device other than the CPU: their compute goes through that device's
// backend (Backend::conv_forward / conv_backward and the pool kernels), and every gradient lands on
// the device of the tensor it is for (nn/conv.cpp once made the empty-output zeros on the CPU).
// The device is a test-only one, privateuseone:9, whose memory is CPU memory served by the CPU
// backend's kernels; its backend counts the conv and pool calls it gets.
#include <gtest/gtest.h>

#include "tensor/conformance/fake_backend.h"
#include "testing.h"
#include "twig/nn/functional.h"
#include "twig/tensor/storage.h"
#include "twig/tensor/tensor_impl.h"

using namespace twig;
namespace F = twig::nn::functional;
using twig::testing::leaf;
using twig::testing::shape_str;

namespace {

// The conformance harness's fake device backend (CPU kernels on CPU aliases), counting calls.
class CountingBackend final : public conformance::FakeBackend {
 public:
  CountingBackend() : FakeBackend({}) {}
  void conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    int64_t groups) override {
    ++conv_forward_calls;
    FakeBackend::conv_forward(out, in, w, bias, g, groups);
  }
  void conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias, const Tensor& grad_out,
                     const Tensor& in, const Tensor& w, const ConvGeometry& g, int64_t groups) override {
    ++conv_backward_calls;
    FakeBackend::conv_backward(grad_in, grad_w, grad_bias, grad_out, in, w, g, groups);
  }
  void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) override {
    ++pool_backward_calls;
    FakeBackend::max_pool2d_backward(grad_in, grad_out, indices);
  }
  void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) override {
    ++pool_backward_calls;
    FakeBackend::avg_pool2d_backward(grad_in, grad_out, g);
  }
  int conv_forward_calls = 0, conv_backward_calls = 0, pool_backward_calls = 0;
};

class ConvPoolDevice : public ::testing::Test {
 protected:
  void SetUp() override { register_backend(dev, &backend); }
  void TearDown() override { unregister_backend(dev); }

  // A float64 leaf on dev with the values leaf(shape, seed) has on the CPU.
  Tensor leaf_on_dev(const Shape& shape, uint64_t seed) { return leaf(shape, seed).detach().to(dev).requires_grad_(); }

  const Device dev{DeviceType::PrivateUse1, 9};
  CountingBackend backend;
};

// conv2d on dev and on the CPU: the same outputs and gradients, all on dev.
void expect_conv_matches(const Device& dev, const Shape& xs, const Shape& ws, int64_t groups, const F::IntPair& stride,
                         const F::IntPair& padding) {
  const Tensor x = leaf(xs, 1), w = leaf(ws, 2), b = leaf({ws[0]}, 3);
  const Tensor xd = x.detach().to(dev).requires_grad_(), wd = w.detach().to(dev).requires_grad_(),
               bd = b.detach().to(dev).requires_grad_();
  const Tensor y = F::conv2d(x, w, b, stride, padding, {1}, groups);
  const Tensor yd = F::conv2d(xd, wd, bd, stride, padding, {1}, groups);
  EXPECT_EQ(yd.device(), dev);
  y.sum().backward();
  yd.sum().backward();
  EXPECT_TRUE(equal(yd.cpu(), y)) << "x " << shape_str(xs) << " groups " << groups;
  for (auto [cpu_t, dev_t] : {std::pair{x, xd}, std::pair{w, wd}, std::pair{b, bd}}) {
    ASSERT_TRUE(dev_t.grad().defined());
    EXPECT_EQ(dev_t.grad().device(), dev);
    EXPECT_TRUE(equal(dev_t.grad().cpu(), cpu_t.grad())) << "x " << shape_str(xs) << " groups " << groups;
  }
}

TEST_F(ConvPoolDevice, ConvRunsOnTheDeviceBackendAndItsGradsStayThere) {
  expect_conv_matches(dev, {6, 2, 7, 7}, {4, 2, 3, 3}, 1, {1}, {1});  // per-sample chunks
  expect_conv_matches(dev, {1, 2, 7, 7}, {4, 2, 3, 3}, 1, {2}, {0});  // one sample
  expect_conv_matches(dev, {3, 4, 6, 5}, {4, 2, 3, 2}, 2, {1}, {1});  // grouped
  expect_conv_matches(dev, {2, 4, 6, 6}, {4, 1, 3, 3}, 4, {1}, {0});  // depthwise
  EXPECT_EQ(backend.conv_forward_calls, 4);
  EXPECT_EQ(backend.conv_backward_calls, 4);
}

TEST_F(ConvPoolDevice, EmptyConvOutputGivesZeroGradsOnTheDevice) {
  const Tensor x = leaf_on_dev({0, 2, 5, 5}, 1), w = leaf_on_dev({3, 2, 3, 3}, 2), b = leaf_on_dev({3}, 3);
  F::conv2d(x, w, b).sum().backward();
  for (const Tensor& t : {x, w, b}) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_EQ(t.grad().device(), dev);
    EXPECT_EQ(t.grad().sizes(), t.sizes());
    EXPECT_EQ(t.grad().abs().sum().cpu().item<double>(), 0.0);
  }
  EXPECT_EQ(backend.conv_forward_calls, 0);  // nothing to compute
}

TEST_F(ConvPoolDevice, PoolGradsStayOnTheDevice) {
  const std::vector<std::function<Tensor(const Tensor&)>> pools = {
      [](const Tensor& t) { return F::max_pool2d(t, {2}); },
      [](const Tensor& t) { return F::avg_pool2d(t, {3}, {2}, {1}); },
      [](const Tensor& t) {
        return F::adaptive_avg_pool2d(t, {2, 3});
      },
      [](const Tensor& t) { return F::adaptive_max_pool2d(t, {3}); },
  };
  for (size_t i = 0; i < pools.size(); ++i) {
    const Tensor x = leaf({2, 3, 6, 7}, 4);
    const Tensor xd = x.detach().to(dev).requires_grad_();
    const Tensor y = pools[i](x), yd = pools[i](xd);
    EXPECT_EQ(yd.device(), dev);
    (y * y).sum().backward();
    (yd * yd).sum().backward();
    EXPECT_TRUE(equal(yd.cpu(), y)) << "pool " << i;
    ASSERT_TRUE(xd.grad().defined());
    EXPECT_EQ(xd.grad().device(), dev);
    EXPECT_TRUE(equal(xd.grad().cpu(), x.grad())) << "pool " << i;
  }
  EXPECT_EQ(backend.pool_backward_calls, 3);  // max and adaptive max share max_pool2d_backward
}

}  // namespace
