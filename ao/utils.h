// torch.ao.pruning's sparsifier utilities (sparsifier/utils.py): dotted names of modules and
// tensors, the FakeSparsity parametrization, and swapping a sparsified module for another type.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <typeindex>
#include <utility>
#include <vector>

#include "twig/nn/module.h"
#include "twig/nn/object.h"

namespace twig::ao {

using nn::Dict;
using nn::Object;

// The dotted name of `module` inside `model` ("" when module is model), searched depth first in
// named_children order; nullopt when module is not a descendant. `prefix` goes before the name.
std::optional<std::string> module_to_fqn(const nn::Module& model, const nn::Module& module,
                                         const std::string& prefix = "");

// What `model.a.b.c` (Python's getattr chain with a None default) gives for path "a.b.c": a
// Module, a Tensor (a parameter, buffer, parametrized tensor or plain tensor attribute), a plain
// object attribute, or None when a part is missing. "" is the model itself.
Object fqn_to_module(const nn::ModulePtr& model, const std::string& path);
// Same, for a path that names a submodule: nullptr when it names nothing or not a module.
nn::ModulePtr fqn_to_submodule(const nn::ModulePtr& model, const std::string& path);

// {"module_fqn", "module", "tensor_name", "tensor_fqn"}: tensor_name is the text after the last
// ".", module_fqn the rest ("weight" gives module_fqn ""), module fqn_to_module(model, module_fqn).
Dict get_arg_info_from_tensor_fqn(const nn::ModulePtr& model, const std::string& tensor_fqn);

// The exact C++ type a module was built as. twig keeps the class when parametrizing (no
// "ParametrizedLinear" subclass), so this is PyTorch's type_before_parametrizations.
inline std::type_index type_before_parametrizations(const nn::Module& module) { return typeid(module); }

// A dense module to its sparse counterpart: the target type's `from_dense`.
using FromDense = std::function<nn::ModulePtr(const nn::Module&)>;

// Python's {SourceType: TargetType} mapping for swap_module and BaseSparsifier::convert: an
// exact source type (no subclasses, like Python's `type(m) in mapping`) to a from_dense factory.
//   ao::Mapping mapping{{typeid(nn::Linear), [](const nn::Module& m) { return Sparse::from_dense(m); }}};
class Mapping {
 public:
  using Entry = std::pair<std::type_index, FromDense>;
  Mapping() = default;
  Mapping(std::initializer_list<Entry> entries);
  // mapping[type] = from_dense (replaces an existing entry).
  void set(std::type_index type, FromDense from_dense);
  bool contains(std::type_index type) const { return find(type) != nullptr; }
  // The factory for exactly `type`, or nullptr.
  const FromDense* find(std::type_index type) const;
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// When mod's type is in mapping: mapping's from_dense(mod), given mod's forward pre-hooks and
// forward hooks (the same hook objects, in order) and moved to mod's device; otherwise mod itself.
nn::ModulePtr swap_module(const nn::ModulePtr& mod, const Mapping& mapping);

// A test on a parametrization object, Python's isinstance(p, cls): `ao::is_a<FakeSparsity>`.
using ParametrizationType = std::function<bool(const nn::Module&)>;
template <typename P>
bool is_a(const nn::Module& m) {
  return dynamic_cast<const P*>(&m) != nullptr;
}

// Whether module is parametrized and some tensor's parametrization list holds one of that type.
bool module_contains_param(const nn::Module& module, const ParametrizationType& parametrization);
template <typename P>
bool module_contains_param(const nn::Module& module) {
  return module_contains_param(module, is_a<P>);
}

// The unstructured mask parametrization: `mask` is registered as a buffer and is the very tensor
// passed in (it aliases the sparsifier's state["<fqn>"]["mask"]; later changes of its values are
// seen by both). forward(x) = mask * x, with an AssertionError when the shapes differ. Its own
// state_dict is empty (the mask buffer is not persistent), so a prepared model's state_dict has
// `<fqn>.parametrizations.weight.original` and no mask, as PyTorch's; whole-module files
// (serialize/) do keep the mask.
class FakeSparsity : public nn::UnaryModule {
 public:
  explicit FakeSparsity(const Tensor& mask);
  Tensor forward(const Tensor& x) override;
  Tensor mask() const { return get("mask"); }
  // Python's `p.mask = m`: the buffer becomes m itself.
  void set_mask(const Tensor& mask);

 protected:
  nn::ModulePtr clone_instance() const override;
};

}  // namespace twig::ao
