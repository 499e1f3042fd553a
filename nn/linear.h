// Linear, Identity, Flatten.
#pragma once

#include <memory>

#include "twig/nn/module.h"

namespace twig::nn {

struct LinearOptions {
  LinearOptions(int64_t in_features, int64_t out_features) : in_features_(in_features), out_features_(out_features) {}
  LinearOptions& bias(bool b) {
    bias_ = b;
    return *this;
  }
  int64_t in_features_;
  int64_t out_features_;
  bool bias_ = true;
};

// y = x Wᵀ + b with weight (out_features, in_features) and bias (out_features). Reads `weight` and
// `bias` by name on every forward, so a pruning hook or a parametrization can stand in for them.
class Linear : public UnaryModule {
 public:
  explicit Linear(const LinearOptions& options);
  Linear(int64_t in_features, int64_t out_features, bool bias = true)
      : Linear(LinearOptions(in_features, out_features).bias(bias)) {}
  Tensor forward(const Tensor& x) override;
  // kaiming_uniform_(a=√5) for the weight, U(±1/√fan_in) for the bias, as PyTorch.
  void reset_parameters();
  Tensor weight() const { return get("weight"); }
  Tensor bias() const { return get_or_undefined("bias"); }
  std::string extra_repr() const override;

  LinearOptions options;

 protected:
  ModulePtr clone_instance() const override;
};

class Identity : public UnaryModule {
 public:
  Identity() : UnaryModule("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }

 protected:
  ModulePtr clone_instance() const override;
};

class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : UnaryModule("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
