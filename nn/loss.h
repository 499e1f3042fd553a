// Loss modules: MSELoss, NLLLoss, CrossEntropyLoss. The computations are F::mse_loss, F::nll_loss
// and F::cross_entropy (declared in nn/functional.h, defined in nn/loss.cpp).
//
//   nn::CrossEntropyLoss criterion(nn::CrossEntropyLossOptions().label_smoothing(0.1));
//   Tensor loss = criterion(logits, labels);   // logits (N, C), labels (N) int64
#pragma once

#include <memory>
#include <string>

#include "twig/nn/functional.h"
#include "twig/nn/module.h"

namespace twig::nn {

// How a per-element loss is reduced.
enum class Reduction { None, Mean, Sum };
// "none" / "mean" / "sum"; anything else is a ValueError, as in PyTorch.
Reduction parse_reduction(const std::string& reduction);

// A module with two tensor inputs (input, target) and one tensor output.
class LossModule : public Module {
 public:
  LossModule(std::string type_name, std::string reduction);
  using Module::operator();
  Tensor operator()(const Tensor& input, const Tensor& target) { return call({Value(input), Value(target)}).tensor(); }
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  // TypeError unless inputs are exactly two tensors.
  Value forward_values(const Values& inputs) override;
  std::string extra_repr() const override { return ""; }

  std::string reduction;
};

class MSELoss : public LossModule {
 public:
  explicit MSELoss(const std::string& reduction = "mean") : LossModule("MSELoss", reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;

 protected:
  ModulePtr clone_instance() const override;
};

struct NLLLossOptions {
  NLLLossOptions& weight(const Tensor& w) {
    weight_ = w;
    return *this;
  }
  NLLLossOptions& reduction(const std::string& r) {
    reduction_ = r;
    return *this;
  }
  NLLLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  Tensor weight_;
  std::string reduction_ = "mean";
  int64_t ignore_index_ = -100;
};

// The class weight (if any) is registered as the buffer `weight`, as in PyTorch.
class NLLLoss : public LossModule {
 public:
  explicit NLLLoss(const NLLLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  int64_t ignore_index;

 protected:
  ModulePtr clone_instance() const override;
};

struct CrossEntropyLossOptions {
  CrossEntropyLossOptions& weight(const Tensor& w) {
    weight_ = w;
    return *this;
  }
  CrossEntropyLossOptions& reduction(const std::string& r) {
    reduction_ = r;
    return *this;
  }
  CrossEntropyLossOptions& ignore_index(int64_t i) {
    ignore_index_ = i;
    return *this;
  }
  CrossEntropyLossOptions& label_smoothing(double s) {
    label_smoothing_ = s;
    return *this;
  }
  Tensor weight_;
  std::string reduction_ = "mean";
  int64_t ignore_index_ = -100;
  double label_smoothing_ = 0.0;
};

class CrossEntropyLoss : public LossModule {
 public:
  explicit CrossEntropyLoss(const CrossEntropyLossOptions& options = {});
  Tensor forward(const Tensor& input, const Tensor& target) override;
  int64_t ignore_index;
  double label_smoothing;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
