// The test models of PyTorch's torch/testing/_internal/common_pruning.py, layer by layer as in
// ../shared/spec/pytorch_pruning_facts.md §1, for the prune/ and ao/ tests.
#pragma once

#include <memory>

#include "twig/ao/base_sparsifier.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/normalization.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"

namespace twig::testing::models {

using nn::ModulePtr;

// Defines clone_instance for a model class.
#define TWIG_TEST_MODEL_CLONE(Cls) \
  nn::ModulePtr clone_instance() const override { return std::make_shared<Cls>(*this); }

// seq(Linear 7-5, 5-6, 6-4, no bias) -> linear1 (4-4) -> linear2 (4-10), all without bias.
class SimpleLinear : public nn::UnaryModule {
 public:
  SimpleLinear();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(SimpleLinear)
};

// seq: Linear(7,5,b), Linear(5,6,nb), Linear(6,3,b), Linear(3,3,b), Linear(3,10,nb).
class LinearBias : public nn::UnaryModule {
 public:
  LinearBias();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(LinearBias)
};

// seq(Linear, ReLU, Linear, Tanh, Linear) -> linear1 -> act1 (ReLU) -> linear2 -> act2 (Tanh).
class LinearActivation : public nn::UnaryModule {
 public:
  LinearActivation();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(LinearActivation)
};

// seq(Linear, ReLU, Linear, ReLU, Linear) -> linear1 -> F.relu -> linear2 -> F.relu -> linear3 -> F.relu.
// act1 is registered but never used.
class LinearActivationFunctional : public nn::UnaryModule {
 public:
  LinearActivationFunctional();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(LinearActivationFunctional)
};

// (1,1,28,28) -> (1,52,20,20): four 3x3 convs without bias.
class SimpleConv2d : public nn::UnaryModule {
 public:
  SimpleConv2d();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(SimpleConv2d)
};

// (1,1,28,28) -> (1,52,18,18).
class Conv2dBias : public nn::UnaryModule {
 public:
  Conv2dBias();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dBias)
};

// (1,1,28,28) -> (1,52,18,18); forward ends with F.relu and F.hardtanh.
class Conv2dActivation : public nn::UnaryModule {
 public:
  Conv2dActivation();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dActivation)
};

// (1,1,28,28) -> (1,52,24,24); some convs padded.
class Conv2dPadBias : public nn::UnaryModule {
 public:
  Conv2dPadBias();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dPadBias)
};

// (1,1,28,28) -> (1,52,3,3): convs with max/avg pools, module and functional.
class Conv2dPool : public nn::UnaryModule {
 public:
  Conv2dPool();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dPool)
};

// (1,1,28,28) -> (1,13): adaptive avg pool (1,1), torch.flatten, fc.
class Conv2dPoolFlattenFunctional : public nn::UnaryModule {
 public:
  Conv2dPoolFlattenFunctional();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dPoolFlattenFunctional)
};

// (1,1,28,28) -> (1,13): adaptive avg pool (2,2), nn.Flatten, fc 44-13.
class Conv2dPoolFlatten : public nn::UnaryModule {
 public:
  Conv2dPoolFlatten();
  Tensor forward(const Tensor& x) override;

 protected:
  TWIG_TEST_MODEL_CLONE(Conv2dPoolFlatten)
};

// lstm -> linear; returns (decoded, lstm output).
class LSTMLinearModel : public nn::Module {
 public:
  LSTMLinearModel(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers);
  nn::Value forward_values(const nn::Values& inputs) override;
  std::pair<Tensor, Tensor> forward(const Tensor& x);

 protected:
  TWIG_TEST_MODEL_CLONE(LSTMLinearModel)
};

// lstm -> norm (LayerNorm) -> linear; returns (x, (h_n, c_n)).
class LSTMLayerNormLinearModel : public nn::Module {
 public:
  LSTMLayerNormLinearModel(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers);
  nn::Value forward_values(const nn::Values& inputs) override;

 protected:
  TWIG_TEST_MODEL_CLONE(LSTMLayerNormLinearModel)
};

// common_pruning.ImplementedSparsifier(**kwargs): defaults = kwargs; update_mask zeroes row 0 of
// the tensor's first parametrization's mask and counts state["linear1.weight"]["step_count"].
class ImplementedSparsifier : public ao::BaseSparsifier {
 public:
  explicit ImplementedSparsifier(ao::Dict defaults = {}) : BaseSparsifier(std::move(defaults)) {}
  void update_mask(nn::Module& module, const std::string& tensor_name, const ao::Dict& args) override;
  std::string type_name() const override { return "ImplementedSparsifier"; }
};

// common_pruning.MockSparseLinear: a Linear subclass whose from_dense builds a fresh one of the
// same in/out features (the weights are not copied).
class MockSparseLinear : public nn::Linear {
 public:
  using nn::Linear::Linear;
  static nn::ModulePtr from_dense(const nn::Module& mod);

 protected:
  TWIG_TEST_MODEL_CLONE(MockSparseLinear)
};

// common_pruning.rows_are_subset: every row of sub appears in sup, in order (a matched row of
// sup may match again).
bool rows_are_subset(const Tensor& sub, const Tensor& sup);

}  // namespace twig::testing::models

namespace twig::testing::models {

// Registers every model above with serialize/'s type registry (so save_module/load_module handle
// them); idempotent, cheap, call it before loading.
void register_test_models();

}  // namespace twig::testing::models
