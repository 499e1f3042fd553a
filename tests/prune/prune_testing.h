// Helpers shared by the prune tests.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/module.h"
#include "twig/prune/prune.h"

namespace twig::testing {

// Python's mock.patch("...Method.compute_mask"): a Method whose compute_mask returns what fn
// returns (or throws what it throws); everything else is Method's.
template <typename Method>
class PatchedComputeMask : public Method {
 public:
  using MaskFn = std::function<Tensor(const Tensor& t, const Tensor& default_mask)>;
  template <typename... Args>
  explicit PatchedComputeMask(MaskFn fn, Args&&... args) : Method(std::forward<Args>(args)...), fn_(std::move(fn)) {}
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override {
    ++calls;
    return fn_(t, default_mask);
  }
  int calls = 0;

 private:
  MaskFn fn_;
};

inline std::set<std::string> parameter_names(const nn::Module& m) {
  std::set<std::string> out;
  for (const auto& [name, t] : m.named_parameters()) out.insert(name);
  return out;
}

inline std::set<std::string> buffer_names(const nn::Module& m) {
  std::set<std::string> out;
  for (const auto& [name, t] : m.named_buffers()) out.insert(name);
  return out;
}

// Python's `module.name = nn.Parameter(t)`.
inline void set_parameter(nn::Module& m, const std::string& name, const Tensor& t) {
  Tensor p = t.detach().clone();
  p.requires_grad_(true);
  m.set_attribute(name, p);
}

// isinstance(t, nn.Parameter): t is one of m's registered parameter objects.
inline bool is_parameter_object(const nn::Module& m, const Tensor& t) {
  for (const auto& [name, p] : m.parameters_dict()) {
    if (p.defined() && p.is_same(t)) return true;
  }
  return false;
}

}  // namespace twig::testing
