// Whole modules in one file (what Python does with torch.save(model)): the module tree with its
// types, options, parameters (and requires_grad), buffers (and persistence), plain tensor
// attributes, children in order, training flags, serializable forward (pre-)hooks and
// parametrizations, so a pruned model comes back pruned and can be pruned further or `remove`d.
//
// The file is an ordinary safetensors file (serialize/safetensors.h): every tensor is an entry
// named like the state dict where it can be (`0.weight_orig`, `0.weight_mask`), so any safetensors
// reader sees the weights; the tree is JSON in __metadata__["twig.module"]. A tensor held in two
// places (a tied weight, a mask shared by a hook and a buffer) is stored once and comes back as
// one tensor object. (Distinct views of one storage come back as separate tensors.)
//
// Types are found in the registry (serialize/registry.h); nn's layers are registered already.
// A module type with no codec (a user's model made of registered children) is saved with its
// tree and no options; a load without its codec builds an UnregisteredModule in its place, which
// holds the same children, parameters, buffers, attributes and hooks but has no forward.
//
// Nothing recomputable is stored: an attribute a hook recomputes (pruning's `weight`) is set by
// the hook's codec on load, and mask buffers (`weight_mask`) and masks kept by hooks are stored
// bit-packed (a U8 entry of ceil(n/8) bytes, bit k of byte k/8 little-endian first, NumPy's
// `unpackbits(a, bitorder="little")[:n]`) with their dtype and shape in the tree's "packed"
// table, equal masks once. Files of version 1 (every tensor stored as is) still load.
//
// Errors on save: TypeError naming the module path and type when a hook type has no codec,
// ValueError for a cycle in the tree. A hook registered as a plain function (a lambda) is
// code and cannot be stored: save raises TypeError naming it unless
// ModuleSaveOptions::skip_function_hooks is set (then such hooks are left out, deliberately).
// Errors on load (nothing is executed; the tree is validated before any module is built):
// ValueError for a malformed tree (missing/extra fields, a cycle, an unreachable entry, a tensor
// whose shape does not fit the nn layer built from its options, a packed mask whose entry does
// not fit its shape; a user type's codec checks its own), KeyError for a hook type with no codec
// or a tensor the file does not hold; RuntimeError for I/O; each names the module path and type.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>

#include "twig/serialize/registry.h"
#include "twig/serialize/safetensors.h"

namespace twig::serialize {

// The __metadata__ key that holds the module tree.
inline constexpr const char* kModuleTreeKey = "twig.module";

// What a load builds for a module type that has no codec: a holder with the saved type name and
// everything the file holds for it (children, parameters, buffers, attributes, hooks, training
// flag). Its forward raises NotImplementedError naming the fix (register the class with
// register_module<T>() before loading); saved again, it writes the options it was loaded with.
class UnregisteredModule : public nn::Module {
 public:
  explicit UnregisteredModule(std::string type_name, std::string options_json = "{}");
  // The options the file held for this module, as JSON text.
  const std::string& saved_options() const { return options_json_; }
  nn::Value forward_values(const nn::Values& inputs) override;

 protected:
  nn::ModulePtr clone_instance() const override;

 private:
  std::string options_json_;
};

struct ModuleSaveOptions {
  // Leave out forward (pre-)hooks registered as plain functions instead of raising TypeError.
  bool skip_function_hooks = false;
  // Extra __metadata__ entries (the key "twig.module" is reserved).
  Metadata metadata;
  // See SaveOptions::fsync.
  bool fsync = true;
};

void save_module(const nn::Module& module, const std::string& path, const ModuleSaveOptions& options = {});
nn::ModulePtr load_module(const std::string& path);

// In memory: the bytes save_module writes, and a load from such bytes (tensors copied).
std::string module_to_bytes(const nn::Module& module, const ModuleSaveOptions& options = {});
nn::ModulePtr module_from_bytes(const void* data, size_t size);
// A deep copy built like a load: a fresh instance of each registered type (through the type
// registry, whatever the class's clone_instance does), then its state. nn::Module::clone gives the
// same result for classes whose clone_instance builds a fresh instance.
nn::ModulePtr copy_module(const nn::Module& module);
// From an already loaded safetensors file (its metadata must hold "twig.module").
nn::ModulePtr module_from_file_contents(const SafetensorsFile& file);

namespace detail {
std::string demangle(const char* name);
// The registry's codecs (nullopt when the type is not registered).
std::optional<ModuleCodec> find_module_codec(const std::string& type_name);
std::optional<ForwardPreHookCodec> find_forward_pre_hook_codec(const std::string& type_name);
// Whether type_name's codec is nn's own (its options fix the shapes of the layer's tensors).
bool is_builtin_module_type(const std::string& type_name);
std::optional<ForwardHookCodec> find_forward_hook_codec(const std::string& type_name);
// While a module file is loaded: the bytes of tensors it holds, the most elements a built-in
// layer's options may ask a fresh instance to allocate; -1 outside a load.
int64_t fresh_element_budget();
}  // namespace detail

// The module in the file as a T: TypeError naming both types when it is something else (and the
// registration to add when the file's type was loaded as an UnregisteredModule).
template <typename T>
std::shared_ptr<T> load_module(const std::string& path) {
  nn::ModulePtr m = load_module(path);
  auto typed = std::dynamic_pointer_cast<T>(m);
  const nn::Module& ref = *m;
  const bool unregistered = dynamic_cast<const UnregisteredModule*>(&ref) != nullptr;
  TWIG_CHECK(typed != nullptr, TypeError, "load_module<", detail::demangle(typeid(T).name()), ">: '", path,
             "' holds a ", m->type_name(),
             unregistered ? ", a type with no codec here, so it was loaded as a generic holder "
                            "(twig::serialize::UnregisteredModule): register the class first, e.g. "
                            "twig::serialize::register_module<" +
                                detail::demangle(typeid(T).name()) + ">()"
                          : " (C++ class " + detail::demangle(typeid(ref).name()) + ")");
  return typed;
}

}  // namespace twig::serialize
