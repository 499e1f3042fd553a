// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d (nn/functional.h declares the
// F:: forms). Spatial options are kept as given (an int or a pair) so repr prints them back as
// PyTorch does: MaxPool2d(kernel_size=2, stride=2, padding=1, dilation=1, ceil_mode=False).
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "twig/nn/module.h"
#include "twig/nn/spatial.h"

namespace twig::nn {

struct MaxPool2dOptions {
  MaxPool2dOptions(const SpatialInts& kernel_size) : kernel_size_(kernel_size) {}
  MaxPool2dOptions& stride(const SpatialInts& v) {
    stride_ = v;
    return *this;
  }
  MaxPool2dOptions& padding(const SpatialInts& v) {
    padding_ = v;
    return *this;
  }
  MaxPool2dOptions& dilation(const SpatialInts& v) {
    dilation_ = v;
    return *this;
  }
  MaxPool2dOptions& ceil_mode(bool v) {
    ceil_mode_ = v;
    return *this;
  }
  // The module returns the tuple (output, indices) (see F::max_pool2d_with_indices).
  MaxPool2dOptions& return_indices(bool v) {
    return_indices_ = v;
    return *this;
  }
  SpatialInts kernel_size_;
  std::optional<SpatialInts> stride_;  // none: kernel_size
  SpatialInts padding_ = 0;
  SpatialInts dilation_ = 1;
  bool ceil_mode_ = false;
  bool return_indices_ = false;
};

class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(const MaxPool2dOptions& options) : UnaryModule("MaxPool2d"), options(options) {}
  // The output only (whatever return_indices says).
  Tensor forward(const Tensor& x) override;
  // (output, int64 indices).
  std::pair<Tensor, Tensor> forward_with_indices(const Tensor& x);
  // With return_indices the tuple (output, indices), as Python's module returns; else the output.
  Value forward_values(const Values& inputs) override;
  std::string extra_repr() const override;
  MaxPool2dOptions options;

 protected:
  ModulePtr clone_instance() const override;
};

struct AvgPool2dOptions {
  AvgPool2dOptions(const SpatialInts& kernel_size) : kernel_size_(kernel_size) {}
  AvgPool2dOptions& stride(const SpatialInts& v) {
    stride_ = v;
    return *this;
  }
  AvgPool2dOptions& padding(const SpatialInts& v) {
    padding_ = v;
    return *this;
  }
  AvgPool2dOptions& ceil_mode(bool v) {
    ceil_mode_ = v;
    return *this;
  }
  AvgPool2dOptions& count_include_pad(bool v) {
    count_include_pad_ = v;
    return *this;
  }
  AvgPool2dOptions& divisor_override(std::optional<int64_t> v) {
    divisor_override_ = v;
    return *this;
  }
  SpatialInts kernel_size_;
  std::optional<SpatialInts> stride_;  // none: kernel_size
  SpatialInts padding_ = 0;
  bool ceil_mode_ = false;
  bool count_include_pad_ = true;
  std::optional<int64_t> divisor_override_;
};

class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(const AvgPool2dOptions& options) : UnaryModule("AvgPool2d"), options(options) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  AvgPool2dOptions options;

 protected:
  ModulePtr clone_instance() const override;
};

class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(const SpatialInts& output_size)
      : UnaryModule("AdaptiveAvgPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SpatialInts output_size;

 protected:
  ModulePtr clone_instance() const override;
};

class AdaptiveMaxPool2d : public UnaryModule {
 public:
  explicit AdaptiveMaxPool2d(const SpatialInts& output_size)
      : UnaryModule("AdaptiveMaxPool2d"), output_size(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  SpatialInts output_size;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
