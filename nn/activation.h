// Activation modules: the 21 of the structured-pruning pattern table, plus Softmax and LogSoftmax.
// Each type_name() is the PyTorch class name (pattern matching keys on it) and each extra_repr()
// reads like PyTorch's. The functional forms are declared in nn/functional.h.
#pragma once

#include <memory>
#include <string>

#include "twig/nn/module.h"

namespace twig::nn {

// A stateless activation: forward is one F:: call with the module's settings.
// (clone_instance is defined in activation.cpp, so user translation units instantiate no
// make_shared for the 23 classes.)
#define TWIG_ACTIVATION_CLONE(Cls) ModulePtr clone_instance() const override;

class ReLU : public UnaryModule {
 public:
  ReLU() : UnaryModule("ReLU") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(ReLU)
};

// Training: y = a·x for x <= 0 with a ~ U(lower, upper) per element; eval: a = (lower + upper) / 2.
class RReLU : public UnaryModule {
 public:
  explicit RReLU(double lower = 1.0 / 8, double upper = 1.0 / 3);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double lower, upper;

 protected:
  TWIG_ACTIVATION_CLONE(RReLU)
};

class Hardtanh : public UnaryModule {
 public:
  explicit Hardtanh(double min_val = -1.0, double max_val = 1.0);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double min_val, max_val;

 protected:
  Hardtanh(const std::string& type_name, double min_val, double max_val);
  TWIG_ACTIVATION_CLONE(Hardtanh)
};

// Hardtanh(0, 6), as in PyTorch (a subclass there too); its repr shows no values.
class ReLU6 : public Hardtanh {
 public:
  ReLU6() : Hardtanh("ReLU6", 0.0, 6.0) {}
  std::string extra_repr() const override { return ""; }

 protected:
  TWIG_ACTIVATION_CLONE(ReLU6)
};

class Sigmoid : public UnaryModule {
 public:
  Sigmoid() : UnaryModule("Sigmoid") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Sigmoid)
};

class Hardsigmoid : public UnaryModule {
 public:
  Hardsigmoid() : UnaryModule("Hardsigmoid") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Hardsigmoid)
};

class Tanh : public UnaryModule {
 public:
  Tanh() : UnaryModule("Tanh") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Tanh)
};

class SiLU : public UnaryModule {
 public:
  SiLU() : UnaryModule("SiLU") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(SiLU)
};

class Mish : public UnaryModule {
 public:
  Mish() : UnaryModule("Mish") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Mish)
};

class Hardswish : public UnaryModule {
 public:
  Hardswish() : UnaryModule("Hardswish") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Hardswish)
};

class ELU : public UnaryModule {
 public:
  explicit ELU(double alpha = 1.0) : UnaryModule("ELU"), alpha(alpha) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double alpha;

 protected:
  TWIG_ACTIVATION_CLONE(ELU)
};

class CELU : public UnaryModule {
 public:
  explicit CELU(double alpha = 1.0) : UnaryModule("CELU"), alpha(alpha) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double alpha;

 protected:
  TWIG_ACTIVATION_CLONE(CELU)
};

class SELU : public UnaryModule {
 public:
  SELU() : UnaryModule("SELU") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(SELU)
};

class Hardshrink : public UnaryModule {
 public:
  explicit Hardshrink(double lambd = 0.5) : UnaryModule("Hardshrink"), lambd(lambd) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double lambd;

 protected:
  TWIG_ACTIVATION_CLONE(Hardshrink)
};

class LeakyReLU : public UnaryModule {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : UnaryModule("LeakyReLU"), negative_slope(negative_slope) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double negative_slope;

 protected:
  TWIG_ACTIVATION_CLONE(LeakyReLU)
};

class LogSigmoid : public UnaryModule {
 public:
  LogSigmoid() : UnaryModule("LogSigmoid") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(LogSigmoid)
};

class Softplus : public UnaryModule {
 public:
  explicit Softplus(double beta = 1.0, double threshold = 20.0)
      : UnaryModule("Softplus"), beta(beta), threshold(threshold) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  double beta, threshold;

 protected:
  TWIG_ACTIVATION_CLONE(Softplus)
};

// y = max(0, x) + weight · min(0, x), one learnable slope per channel (dim 1) or one shared.
class PReLU : public UnaryModule {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t num_parameters;

 protected:
  TWIG_ACTIVATION_CLONE(PReLU)
};

class Softsign : public UnaryModule {
 public:
  Softsign() : UnaryModule("Softsign") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Softsign)
};

class Tanhshrink : public UnaryModule {
 public:
  Tanhshrink() : UnaryModule("Tanhshrink") {}
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_ACTIVATION_CLONE(Tanhshrink)
};

// approximate: "none" (exact, erf) or "tanh".
class GELU : public UnaryModule {
 public:
  explicit GELU(std::string approximate = "none");
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  std::string approximate;

 protected:
  TWIG_ACTIVATION_CLONE(GELU)
};

class Softmax : public UnaryModule {
 public:
  explicit Softmax(int64_t dim) : UnaryModule("Softmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;

 protected:
  TWIG_ACTIVATION_CLONE(Softmax)
};

class LogSoftmax : public UnaryModule {
 public:
  explicit LogSoftmax(int64_t dim) : UnaryModule("LogSoftmax"), dim(dim) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  int64_t dim;

 protected:
  TWIG_ACTIVATION_CLONE(LogSoftmax)
};

#undef TWIG_ACTIVATION_CLONE

}  // namespace twig::nn
