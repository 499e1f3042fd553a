// The type registry behind whole-module files: how a module type or a hook type is written to
// and rebuilt from a file. nn's built-in layers are registered by serialize/ itself; any other
// library (prune/, ao/, a user's code) registers its own types once, before loading.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "nn/module.h"

namespace twig::serialize {

using json = nlohmann::json;

// Tensors a codec keeps beside its JSON (a CustomFromMask's mask, say). put() stores t in the
// file and returns the key to remember in the JSON; get() returns the tensor stored under it
// (KeyError naming the key when the file has none).
class TensorWriter {
 public:
  virtual ~TensorWriter() = default;
  virtual std::string put(const std::string& suggested_name, const Tensor& t) = 0;
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

// A hook type (pruning's methods and PruningContainer are forward pre-hooks).
struct ForwardPreHookCodec {
  std::function<json(const nn::ForwardPreHook&, TensorWriter&)> save;
  std::function<std::shared_ptr<nn::ForwardPreHook>(const json& state, TensorReader&)> load;
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

// Shorthand for a module type built from no options (most user models).
template <typename M>
void register_module_type(const std::string& type_name) {
  register_module_type(type_name, ModuleCodec{[](const nn::Module&) { return json::object(); },
                                              [](const json&) -> nn::ModulePtr { return std::make_shared<M>(); }});
}

}  // namespace twig::serialize
