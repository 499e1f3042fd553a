// The helper pruners of PyTorch's test_structured_sparsifier.py (spec §7.1), for the structured
// pruning tests: SimplePruner, ImplementedPruner, BottomHalfLSTMPruner.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "twig/ao/base_structured_sparsifier.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/ops.h"

namespace twig::testing {

// parametrizations.<tensor_name>[i] as a FakeStructuredSparsity (null if it is another type).
inline std::shared_ptr<ao::FakeStructuredSparsity> structured_parametrization(const nn::Module& module,
                                                                              const std::string& tensor_name,
                                                                              size_t i = 0) {
  return std::dynamic_pointer_cast<ao::FakeStructuredSparsity>(nn::parametrizations_of(module, tensor_name)->at(i));
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
