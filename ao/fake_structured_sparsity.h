// torch.ao.pruning._experimental.pruner's parametrization.py: the structured (row) mask
// parametrization and the forward hook that adds a masked layer's bias back.
//
//   auto p = std::make_shared<ao::FakeStructuredSparsity>(mask);  // mask: bool, (out,)
//   nn::register_parametrization(linear, "weight", p);
//   linear.register_forward_hook(std::make_shared<ao::BiasHook>(p, /*prune_bias=*/true));
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "twig/nn/module.h"

namespace twig::ao {

// The row mask parametrization: `mask` is registered as a (non-persistent) buffer and is the very
// tensor passed in, so it aliases the sparsifier's state["<fqn>"]["mask"]. forward(x) returns
// mask.reshape([-1, 1, ..., 1]) * x: rows (dim 0) whose mask entry is false become zero; a bool
// mask times a float x keeps x's dtype. x itself is never modified. AssertionError when
// mask.shape[0] != x.shape[0] (or the mask is undefined). Its own state_dict is empty, as
// PyTorch's; whole-module files (serialize/) keep the mask.
class FakeStructuredSparsity : public nn::UnaryModule {
 public:
  explicit FakeStructuredSparsity(const Tensor& mask);
  Tensor forward(const Tensor& x) override;
  Tensor mask() const { return get("mask"); }
  // Python's `p.mask = m`: the buffer becomes m itself.
  void set_mask(const Tensor& mask);

 protected:
  nn::ModulePtr clone_instance() const override;
};

// PyTorch's BiasHook(parametrization, prune_bias), a forward (post) hook. When the module has a
// defined `_bias` (a parameter or tensor attribute): with prune_bias, the entries of _bias whose
// mask entry is false are set to 0 **in place** (permanently, at forward time, without autograd);
// then _bias, reshaped to [1, -1, 1, ...] (the channel dim is 1), is added to the output **in
// place** and the output is returned. Without `_bias` the output is returned unchanged.
// A hook made with a null parametrization (loaded from a file, or copied with its module by
// clone()) takes the mask from the module's first FakeStructuredSparsity on `weight`.
class BiasHook : public nn::ForwardHook {
 public:
  BiasHook(std::shared_ptr<FakeStructuredSparsity> parametrization, bool prune_bias);
  std::optional<nn::Value> operator()(nn::Module& module, const nn::Values& inputs, const nn::Value& output) override;
  std::string type_name() const override { return "BiasHook"; }
  std::shared_ptr<nn::ForwardHook> clone_hook() const override;
  const std::shared_ptr<FakeStructuredSparsity>& parametrization() const { return param_; }
  bool prune_bias() const { return prune_bias_; }

 private:
  std::shared_ptr<FakeStructuredSparsity> param_;
  bool prune_bias_;
};

}  // namespace twig::ao
