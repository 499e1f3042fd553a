// Dropout: inverted dropout in training (kept elements scaled by 1 / (1 - p)), identity in eval.
#pragma once

#include <memory>

#include "twig/nn/module.h"

namespace twig::nn {

class Dropout : public UnaryModule {
 public:
  // ValueError unless 0 <= p <= 1.
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double p;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
