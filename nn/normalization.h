// LayerNorm and BatchNorm2d. Both read `weight` and `bias` through get() on every forward, so
// pruning hooks and parametrizations can stand in for them.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "twig/nn/module.h"

namespace twig::nn {

// Normalizes over the trailing dims `normalized_shape`; weight (normalized_shape) starts at ones and
// bias at zeros. normalized_shape is public: structured pruning shrinks it with the weight.
class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(std::vector<int64_t> normalized_shape, double eps = 1e-5, bool elementwise_affine = true);
  explicit LayerNorm(int64_t normalized_size, double eps = 1e-5, bool elementwise_affine = true)
      : LayerNorm(std::vector<int64_t>{normalized_size}, eps, elementwise_affine) {}
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;

  std::vector<int64_t> normalized_shape;
  double eps;
  bool elementwise_affine;

 protected:
  ModulePtr clone_instance() const override;
};

// Batch normalization over (N, C, H, W) per channel. Buffers running_mean (C), running_var (C) and
// num_batches_tracked (int64 scalar) when track_running_stats. momentum nullopt means a cumulative
// average (factor 1 / num_batches_tracked), as PyTorch's momentum=None.
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;
  void reset_running_stats();
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine;
  bool track_running_stats;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
