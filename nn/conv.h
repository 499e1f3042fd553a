// Conv2d and Conv3d: cross-correlation over 2 or 3 spatial dims, computed as im2col + one gemm per
// group (nn/functional.h declares F::conv2d / F::conv3d).
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "twig/nn/module.h"
#include "twig/nn/spatial.h"

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
    padding_str_.clear();
    return *this;
  }
  // padding="same" or "valid" (checked by the layer). A template so that padding(0) stays an int.
  template <typename S>
  requires std::convertible_to<const S&, std::string> &&(!std::is_arithmetic_v<S>)ConvOptions& padding(const S& mode) {
    padding_str_ = std::string(mode);
    padding_ = std::vector<int64_t>(D, 0);
    return *this;
  }
  // "zeros" (default), "reflect", "replicate" or "circular".
  ConvOptions& padding_mode(const std::string& mode) {
    padding_mode_ = mode;
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
  // The numeric padding; for padding="same" the left (top) pad of each dim, set by the layer.
  std::vector<int64_t> padding_ = std::vector<int64_t>(D, 0);
  std::string padding_str_;  // "same" / "valid" when padding was given as a string, else empty
  std::string padding_mode_ = "zeros";
  std::vector<int64_t> dilation_ = std::vector<int64_t>(D, 1);
  int64_t groups_ = 1;
  bool bias_ = true;
};
using Conv2dOptions = ConvOptions<2>;
using Conv3dOptions = ConvOptions<3>;

// weight (out_channels, in_channels / groups, k...), bias (out_channels) or None. With
// padding_mode other than "zeros" the input is padded with F::pad in that mode (by `padding`, or
// by "same"'s amounts), then convolved without padding, as PyTorch. Reads weight and bias by
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
  // F.pad's argument for a padding_mode other than zeros: (left, right) per dim, last dim first
  // (PyTorch's _reversed_padding_repeated_twice); for "same" the right pad takes the odd one.
  std::vector<int64_t> reversed_padding_repeated_twice() const;

 protected:
  ModulePtr clone_instance() const override;
};

// Built once, in conv.cpp.
extern template class ConvNd<2>;
extern template class ConvNd<3>;

using Conv2d = ConvNd<2>;
using Conv3d = ConvNd<3>;

}  // namespace twig::nn
