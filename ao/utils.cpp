#include "twig/ao/utils.h"

#include <set>

#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

#if defined(TWIG_HAS_SERIALIZE)
#include "twig/serialize/registry.h"
#endif

namespace twig::ao {

std::optional<std::string> module_to_fqn(const nn::Module& model, const nn::Module& module, const std::string& prefix) {
  if (&model == &module) return "";
  for (const auto& [name, child] : model.named_children()) {
    if (auto fqn = module_to_fqn(*child, module, ".")) return prefix + name + *fqn;
  }
  return std::nullopt;
}

namespace {

// getattr(obj, name, None) for one path part.
Object attribute_of(const Object& obj, const std::string& name) {
  if (!obj.is_module()) return Object();  // a tensor's or None's attribute: None here
  const nn::Module& m = *obj.to_module();
  if (m.is_child(name)) return Object(m.child(name));
  if (m.has(name)) {
    Tensor t = m.get_or_undefined(name);  // a parameter registered as None is None
    return t.defined() ? Object(t) : Object();
  }
  if (m.has_object(name)) return m.object(name);
  return Object();
}

std::vector<std::string> split_dots(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

}  // namespace

Object fqn_to_module(const nn::ModulePtr& model, const std::string& path) {
  Object current = model ? Object(model) : Object();
  if (path.empty()) return current;
  for (const auto& part : split_dots(path)) current = attribute_of(current, part);
  return current;
}

nn::ModulePtr fqn_to_submodule(const nn::ModulePtr& model, const std::string& path) {
  Object o = fqn_to_module(model, path);
  return o.is_module() ? o.to_module() : nullptr;
}

Dict get_arg_info_from_tensor_fqn(const nn::ModulePtr& model, const std::string& tensor_fqn) {
  size_t dot = tensor_fqn.rfind('.');
  std::string tensor_name = dot == std::string::npos ? tensor_fqn : tensor_fqn.substr(dot + 1);
  std::string module_fqn = dot == std::string::npos ? "" : tensor_fqn.substr(0, dot);
  return Dict{{"module_fqn", module_fqn},
              {"module", fqn_to_module(model, module_fqn)},
              {"tensor_name", tensor_name},
              {"tensor_fqn", tensor_fqn}};
}

// ---- Mapping and swap_module ------------------------------------------------------------------

Mapping::Mapping(std::initializer_list<Entry> entries) {
  for (const auto& [type, from_dense] : entries) set(type, from_dense);
}

void Mapping::set(std::type_index type, FromDense from_dense) {
  TWIG_CHECK(from_dense != nullptr, ValueError, "Mapping: no from_dense function for type ", type.name());
  for (auto& entry : entries_) {
    if (entry.first == type) {
      entry.second = std::move(from_dense);
      return;
    }
  }
  entries_.emplace_back(type, std::move(from_dense));
}

const FromDense* Mapping::find(std::type_index type) const {
  for (const auto& entry : entries_) {
    if (entry.first == type) return &entry.second;
  }
  return nullptr;
}

nn::ModulePtr swap_module(const nn::ModulePtr& mod, const Mapping& mapping) {
  TWIG_CHECK(mod != nullptr, ValueError, "swap_module: no module");
  const FromDense* from_dense = mapping.find(type_before_parametrizations(*mod));
  if (from_dense == nullptr) return mod;
  // The device first, so nothing is built when mod spans several (AssertionError, as Python's).
  std::set<std::string> devices;
  std::optional<Device> device;
  for (const auto& tensors : {mod->parameters(), mod->buffers()}) {
    for (const Tensor& t : tensors) {
      if (!t.defined()) continue;
      devices.insert(t.device().str());
      device = t.device();
    }
  }
  TWIG_CHECK(devices.size() <= 1, AssertionError,
             "swap_module only works with cpu or single-device CUDA modules, but got devices of ", mod->type_name(),
             ": ", devices.size());
  nn::ModulePtr swapped = (*from_dense)(*mod);
  TWIG_CHECK(swapped != nullptr, ValueError, "swap_module: from_dense of ", mod->type_name(), " returned no module");
  for (const auto& [id, hook] : mod->forward_pre_hooks().items()) swapped->register_forward_pre_hook(hook);
  for (const auto& [id, hook] : mod->forward_hooks().items()) swapped->register_forward_hook(hook);
  if (device) swapped->to(*device);
  return swapped;
}

bool module_contains_param(const nn::Module& module, const ParametrizationType& parametrization) {
  if (!nn::is_parametrized(module)) return false;
  for (const auto& [name, list] : module.child("parametrizations")->named_children()) {
    for (const auto& [index, p] : list->named_children()) {
      if (parametrization(*p)) return true;
    }
  }
  return false;
}

// ---- FakeSparsity ------------------------------------------------------------------------------

FakeSparsity::FakeSparsity(const Tensor& mask) : UnaryModule("FakeSparsity") {
  // Not persistent: PyTorch's FakeSparsity.state_dict() is empty, so a model's state_dict has no mask.
  register_buffer("mask", mask, /*persistent=*/false);
}

Tensor FakeSparsity::forward(const Tensor& x) {
  Tensor m = mask();
  TWIG_CHECK(m.defined() && m.sizes() == x.sizes(), AssertionError, "FakeSparsity: mask of shape ",
             m.defined() ? m.sizes() : Shape{}, " does not match the tensor's shape ", x.sizes());
  return m * x;
}

void FakeSparsity::set_mask(const Tensor& mask) {
  remove_buffer("mask");
  register_buffer("mask", mask, /*persistent=*/false);
}

nn::ModulePtr FakeSparsity::clone_instance() const { return std::make_shared<FakeSparsity>(*this); }

#if defined(TWIG_HAS_SERIALIZE)
namespace {
// Whole-module files: FakeSparsity is rebuilt empty and given its saved (non-persistent) mask
// buffer by serialize/'s generic registry restore.
const bool kRegistered = [] {
  serialize::detail::register_default_module("FakeSparsity", typeid(FakeSparsity),
                                             [] { return nn::ModulePtr(std::make_shared<FakeSparsity>(Tensor())); });
  return true;
}();
}  // namespace
#endif

}  // namespace twig::ao
