// Conv2d and Conv3d: cross-correlation over 2 or 3 spatial dims, computed as im2col + one gemm per
// group (nn/functional.h declares F::conv2d / F::conv3d).
#pragma once

#include <memory>
#include <vector>

#include "nn/module.h"
#include "nn/spatial.h"

namespace twig::nn {

// Conv2dOptions(1, 32, 3).padding(1).bias(false); every spatial argument is one int for all dims
// or one per dim. Stored expanded to one value per dim, as PyTorch's _pair / _triple do.
template <size_t D>
struct ConvOptions {
  ConvOptions(int64_t in_channels, int64_t out_channels, const SpatialInts& kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size.expand(D)) {}
  ConvOptions& stride(const SpatialInts& v) {
    stride_ = v.expand(D);
    return *this;
  }
  ConvOptions& padding(const SpatialInts& v) {
    padding_ = v.expand(D);
    return *this;
  }
  ConvOptions& dilation(const SpatialInts& v) {
    dilation_ = v.expand(D);
    return *this;
  }
  ConvOptions& groups(int64_t g) {
    groups_ = g;
    return *this;
  }
  ConvOptions& bias(bool b) {
    bias_ = b;
    return *this;
  }
  int64_t in_channels_;
  int64_t out_channels_;
  std::vector<int64_t> kernel_size_;
  std::vector<int64_t> stride_ = std::vector<int64_t>(D, 1);
  std::vector<int64_t> padding_ = std::vector<int64_t>(D, 0);
  std::vector<int64_t> dilation_ = std::vector<int64_t>(D, 1);
  int64_t groups_ = 1;
  bool bias_ = true;
};
using Conv2dOptions = ConvOptions<2>;
using Conv3dOptions = ConvOptions<3>;

// weight (out_channels, in_channels / groups, k...), bias (out_channels) or None. Reads both by
// name on every forward, so pruning hooks and parametrizations can stand in for them. `options`
// is public: structured pruning rewrites in/out_channels after shrinking the tensors.
template <size_t D>
class ConvNd : public UnaryModule {
 public:
  explicit ConvNd(const ConvOptions<D>& options);
  ConvNd(int64_t in_channels, int64_t out_channels, const SpatialInts& kernel_size)
      : ConvNd(ConvOptions<D>(in_channels, out_channels, kernel_size)) {}
  Tensor forward(const Tensor& x) override;
  // kaiming_uniform_(a=√5) for the weight, U(±1/√fan_in) for the bias, as PyTorch.
  void reset_parameters();
  Tensor weight() const { return get("weight"); }
  Tensor bias() const { return get_or_undefined("bias"); }
  // "1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False", PyTorch's format.
  std::string extra_repr() const override;

  ConvOptions<D> options;

 protected:
  ModulePtr clone_instance() const override { return std::make_shared<ConvNd<D>>(*this); }
};

using Conv2d = ConvNd<2>;
using Conv3d = ConvNd<3>;

}  // namespace twig::nn
