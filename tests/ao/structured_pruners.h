// The helper pruners of PyTorch's test_structured_sparsifier.py (spec §7.1), for the structured
// pruning tests: SimplePruner, ImplementedPruner, BottomHalfLSTMPruner; and what those tests share:
// prepare_like_sparsifier (spec §5.2 on one module) and check_pruner_prepared (spec §7.2).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "twig/ao/base_structured_sparsifier.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/parametrize.h"

namespace twig::testing {

// parametrizations.<tensor_name>[i] as a FakeStructuredSparsity (null if it is another type).
inline std::shared_ptr<ao::FakeStructuredSparsity> structured_parametrization(const nn::Module& module,
                                                                              const std::string& tensor_name,
                                                                              size_t i = 0) {
  return std::dynamic_pointer_cast<ao::FakeStructuredSparsity>(nn::parametrizations_of(module, tensor_name)->at(i));
}

// spec §5.2 on one module, as BaseStructuredSparsifier::prepare does it: the FakeStructuredSparsity
// row mask; on Linear/Conv2d with a bias, `_bias` (the bias values), `bias` None and the prune_bias
// attribute; the BiasHook always.
inline void prepare_like_sparsifier(nn::Module& m, const Tensor& mask, bool prune_bias) {
  auto p = std::make_shared<ao::FakeStructuredSparsity>(mask);
  nn::register_parametrization(m, "weight", p);
  Tensor bias = m.get_or_undefined("bias");
  if (bias.defined()) {
    m.register_parameter("_bias", bias.detach());
    m.set_attribute("bias", Tensor());
    m.set_object("prune_bias", prune_bias);
  }
  m.register_forward_hook(std::make_shared<ao::BiasHook>(p, prune_bias));
}

// _check_pruner_prepared (spec §7.2): every group's module is parametrized, its weight's first
// parametrization is exactly a FakeStructuredSparsity, and the pruner holds a state for it.
inline void check_pruner_prepared(const ao::BaseStructuredSparsifier& pruner) {
  for (const ao::Dict& config : pruner.groups) {
    nn::ModulePtr module = config.at("module").to_module();
    EXPECT_TRUE(module->get("weight").device().is_cpu());
    EXPECT_TRUE(pruner.state.contains(config.at("tensor_fqn").to_string()));
    EXPECT_TRUE(nn::is_parametrized(*module));
    EXPECT_TRUE(module->is_child("parametrizations"));
    auto p = nn::parametrizations_of(*module, "weight")->at(0);
    EXPECT_EQ(std::type_index(typeid(*p)), std::type_index(typeid(ao::FakeStructuredSparsity)));
  }
}

// update_mask sets mask[1] = False on the tensor's first parametrization.
class SimplePruner : public ao::BaseStructuredSparsifier {
 public:
  explicit SimplePruner(ao::Dict defaults = {}, std::optional<ao::PatternTable> patterns = std::nullopt)
      : BaseStructuredSparsifier(std::move(defaults), std::move(patterns)) {}
  void update_mask(nn::Module& module, const std::string& tensor_name, const ao::Dict&) override {
    structured_parametrization(module, tensor_name)->mask().select(0, 1).fill_(false);
  }
  std::string type_name() const override { return "SimplePruner"; }
};

// update_mask sets num_rows // 3 distinct rows, drawn at random (Python's random.sample), to
// False. The seed makes a run repeatable; the tests hold for any choice.
class ImplementedPruner : public ao::BaseStructuredSparsifier {
 public:
  explicit ImplementedPruner(ao::Dict defaults = {}, uint64_t seed = 0,
                             std::optional<ao::PatternTable> patterns = std::nullopt)
      : BaseStructuredSparsifier(std::move(defaults), std::move(patterns)), rng_(seed) {}
  void update_mask(nn::Module& module, const std::string& tensor_name, const ao::Dict&) override {
    Tensor mask = structured_parametrization(module, tensor_name)->mask();
    const int64_t num_rows = mask.size(0);
    std::vector<int64_t> rows(static_cast<size_t>(num_rows));
    std::iota(rows.begin(), rows.end(), 0);
    std::shuffle(rows.begin(), rows.end(), rng_);
    for (int64_t i = 0; i < num_rows / 3; ++i) mask.select(0, rows[static_cast<size_t>(i)]).fill_(false);
  }
  std::string type_name() const override { return "ImplementedPruner"; }

 private:
  std::mt19937_64 rng_;
};

// For every FakeStructuredSparsity on the tensor: the mask split into 4 chunks (the LSTM gates),
// the second half of each chunk (index >= len // 2) set to False, in place.
class BottomHalfLSTMPruner : public ao::BaseStructuredSparsifier {
 public:
  explicit BottomHalfLSTMPruner(ao::Dict defaults = {}, std::optional<ao::PatternTable> patterns = std::nullopt)
      : BaseStructuredSparsifier(std::move(defaults), std::move(patterns)) {}
  void update_mask(nn::Module& module, const std::string& tensor_name, const ao::Dict&) override {
    auto list = nn::parametrizations_of(module, tensor_name);
    for (size_t i = 0; i < list->size(); ++i) {
      auto p = std::dynamic_pointer_cast<ao::FakeStructuredSparsity>(list->at(i));
      if (!p) continue;
      Tensor mask = p->mask();
      const int64_t chunk = mask.size(0) / 4;
      for (int64_t start = 0; start < mask.size(0); start += chunk) {
        const int64_t len = std::min(chunk, mask.size(0) - start);
        mask.narrow(0, start + len / 2, len - len / 2).fill_(false);
      }
    }
  }
  std::string type_name() const override { return "BottomHalfLSTMPruner"; }
};

}  // namespace twig::testing
