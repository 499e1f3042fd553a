// The type registry behind whole-module files: how a module type or a hook type is written to
// and rebuilt from a file. nn's built-in layers are registered by serialize/ itself, pruning's
// hooks by twig_prune (linked whole into twig::twig); a user's model made of registered children
// needs no registration at all to be saved and loaded (it comes back as a generic holder, see
// module_io.h), and one line, register_module<MyNet>(), to come back as a MyNet.
//
// Only the declaration of nlohmann::json is included here: code that writes a codec (and so
// builds or reads JSON) includes <nlohmann/json.hpp> itself.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <typeinfo>
#include <vector>

#include "twig/nn/module.h"

namespace twig::serialize {

using json = nlohmann::json;

// Tensors a codec keeps beside its JSON (a CustomFromMask's mask, say). put() stores t in the
// file and returns the key to remember in the JSON; get() returns the tensor stored under it
// (KeyError naming the key when the file has none).
class TensorWriter {
 public:
  virtual ~TensorWriter() = default;
  virtual std::string put(const std::string& suggested_name, const Tensor& t) = 0;
  // Same for a mask: stored bit-packed when every element is exactly 0 or 1 (get() restores
  // dtype, shape and values exactly), and stored once when an equal mask is stored already.
  virtual std::string put_mask(const std::string& suggested_name, const Tensor& t) { return put(suggested_name, t); }
};
class TensorReader {
 public:
  virtual ~TensorReader() = default;
  virtual Tensor get(const std::string& key) = 0;
};

// A module type. Parameters, buffers, plain tensor attributes, children, training mode and
// serializable hooks are written generically; the codec writes only what a fresh instance
// needs (its options) and builds one from them.
struct ModuleCodec {
  std::function<json(const nn::Module&)> save_options;
  std::function<nn::ModulePtr(const json& options)> make;
};

// What a hook that reparametrizes a module's tensor (pruning's) says about the module's tensors.
struct HookTensors {
  // Attributes the hook recomputes before every forward (pruning's `weight`): not stored; after a
  // load the codec's `recompute` sets them.
  std::vector<std::string> recomputed_attributes;
  // Buffers that are masks (pruning's `weight_mask`): stored as TensorWriter::put_mask does.
  std::vector<std::string> mask_buffers;
};

// A hook type (pruning's methods and PruningContainer are forward pre-hooks).
struct ForwardPreHookCodec {
  std::function<json(const nn::ForwardPreHook&, TensorWriter&)> save;
  std::function<std::shared_ptr<nn::ForwardPreHook>(const json& state, TensorReader&)> load;
  // Optional (both or neither): the module tensors the hook derives, and how to recompute the
  // derived attributes on `module` once the hook is loaded and registered.
  std::function<HookTensors(const nn::ForwardPreHook&)> tensors = {};
  std::function<void(nn::ForwardPreHook&, nn::Module& module)> recompute = {};
};
struct ForwardHookCodec {
  std::function<json(const nn::ForwardHook&, TensorWriter&)> save;
  std::function<std::shared_ptr<nn::ForwardHook>(const json& state, TensorReader&)> load;
};

// Keyed by Module::type_name() / the hook's type_name(). Registering a name twice replaces the
// codec (so a registration that runs more than once is harmless).
void register_module_type(const std::string& type_name, ModuleCodec codec);
void register_forward_pre_hook_type(const std::string& type_name, ForwardPreHookCodec codec);
void register_forward_hook_type(const std::string& type_name, ForwardHookCodec codec);
bool has_module_type(const std::string& type_name);
bool has_forward_pre_hook_type(const std::string& type_name);
bool has_forward_hook_type(const std::string& type_name);
std::vector<std::string> registered_module_types();

namespace detail {
// Registers a module type whose fresh instance is make() (no options), with serialize/ and with
// nn's clone factories (so Module::clone works without clone_instance). An empty type_name is
// read from a make() built without drawing random numbers. Returns the name registered.
std::string register_default_module(const std::string& type_name, const std::type_info& type,
                                    std::function<nn::ModulePtr()> make);
}  // namespace detail

// Shorthand for a module type built from no options (most user models): M() is its fresh
// instance on load and in clone().
template <typename M>
void register_module_type(const std::string& type_name) {
  detail::register_default_module(type_name, typeid(M), [] { return nn::ModulePtr(std::make_shared<M>()); });
}

// The one-line registration of a default-constructible model: the type name is M().type_name().
// Afterwards load_module returns an M (not a generic holder) and M needs no clone_instance().
// Returns the name registered.
template <typename M>
std::string register_module() {
  return detail::register_default_module("", typeid(M), [] { return nn::ModulePtr(std::make_shared<M>()); });
}

}  // namespace twig::serialize
