// torch.nn.utils.parametrize: `module.<name>` computed on access as p_n(...p_0(original)).
// The original tensor object is kept (same identity) as `parametrizations.<name>.original`; a mask
// held by a parametrization may alias state elsewhere (a sparsifier's mask).
#pragma once

#include <memory>
#include <string>

#include "twig/nn/module.h"

namespace twig::nn {

// Holds `original` and the chain of parametrizations "0", "1", ... as children.
class ParametrizationList : public Module {
 public:
  ParametrizationList(const Tensor& original, bool original_is_buffer);
  // The parametrized value: the chain applied to original, freshly computed on every call.
  Tensor value() const;
  Tensor original() const { return get("original"); }
  // Replaces `original` (its shape may change: structured pruning removes input columns).
  void set_original(const Tensor& t);
  bool original_is_buffer() const { return original_is_buffer_; }
  size_t size() const { return children_dict().size(); }
  std::shared_ptr<UnaryModule> at(size_t i) const;
  void append(std::shared_ptr<UnaryModule> p);
  Value forward_values(const Values&) override;

 protected:
  ModulePtr clone_instance() const override;

 private:
  bool original_is_buffer_;
};

// Registers p on module's tensor `name` (a parameter, a buffer, or an already parametrized
// name). Unless unsafe, p's output must keep the tensor's shape and dtype (ValueError otherwise);
// on any failure the module is left as it was.
void register_parametrization(Module& module, const std::string& name, std::shared_ptr<UnaryModule> p,
                              bool unsafe = false);
// Without a name: whether any tensor is parametrized.
bool is_parametrized(const Module& module, const std::string& name = "");
// The list for `name` (ValueError if not parametrized).
std::shared_ptr<ParametrizationList> parametrizations_of(const Module& module, const std::string& name);
// Removes the parametrizations of `name`; with leave_parametrized the original object keeps its
// identity and takes the parametrized value. ValueError if `name` is not parametrized.
void remove_parametrizations(Module& module, const std::string& name, bool leave_parametrized = true);

}  // namespace twig::nn
