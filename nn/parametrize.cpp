#include "twig/nn/parametrize.h"

#include "twig/autograd/grad_mode.h"
#include "twig/nn/container.h"

namespace twig::nn {

ParametrizationList::ParametrizationList(const Tensor& original, bool original_is_buffer)
    : Module("ParametrizationList"), original_is_buffer_(original_is_buffer) {
  if (original_is_buffer) {
    register_buffer("original", original);
  } else {
    register_parameter("original", original, original.requires_grad() || !original.defined());
  }
}

Tensor ParametrizationList::value() const {
  Tensor x = original();
  for (const auto& [name, p] : children_dict()) x = std::static_pointer_cast<UnaryModule>(p)->forward(x);
  return x;
}

void ParametrizationList::set_original(const Tensor& t) {
  if (original_is_buffer_) {
    remove_buffer("original");
    register_buffer("original", t);
  } else {
    remove_parameter("original");
    register_parameter("original", t, t.requires_grad());
  }
}

std::shared_ptr<UnaryModule> ParametrizationList::at(size_t i) const {
  TWIG_CHECK(i < size(), IndexError, "parametrization index ", i, " out of range (", size(), " registered)");
  return std::static_pointer_cast<UnaryModule>(children_dict().items()[i].second);
}

void ParametrizationList::append(std::shared_ptr<UnaryModule> p) { register_child(std::to_string(size()), p); }

Value ParametrizationList::forward_values(const Values&) {
  TWIG_THROW(NotImplementedError, "ParametrizationList is not called directly; read the parametrized tensor");
}

namespace {

std::shared_ptr<ModuleDict> parametrizations_dict(const Module& module) {
  return std::dynamic_pointer_cast<ModuleDict>(module.child("parametrizations"));
}

void check_same_kind(const Tensor& before, const Tensor& after, const std::string& name) {
  TWIG_CHECK(after.defined(), ValueError, "A parametrization must return a tensor. Got an undefined tensor for '", name,
             "'");
  TWIG_CHECK(after.dtype() == before.dtype(), ValueError,
             "Registering a parametrization may not change the dtype of the tensor, unless `unsafe` flag is enabled.\n"
             "unparametrized dtype: ",
             dtype_name(before.dtype()), "\nparametrized dtype: ", dtype_name(after.dtype()));
  TWIG_CHECK(after.sizes() == before.sizes(), ValueError,
             "Registering a parametrization may not change the shape of the tensor, unless `unsafe` flag is enabled.\n"
             "unparametrized shape: ",
             before.sizes(), "\nparametrized shape: ", after.sizes());
}

}  // namespace

bool is_parametrized(const Module& module, const std::string& name) {
  auto dict = parametrizations_dict(module);
  if (!dict || dict->size() == 0) return false;
  return name.empty() || dict->contains(name);
}

std::shared_ptr<ParametrizationList> parametrizations_of(const Module& module, const std::string& name) {
  TWIG_CHECK(is_parametrized(module, name), ValueError, "Module ", module.type_name(),
             " does not have a parametrization on ", name);
  return std::static_pointer_cast<ParametrizationList>((*parametrizations_dict(module))[name]);
}

void register_parametrization(Module& module, const std::string& name, std::shared_ptr<UnaryModule> p, bool unsafe) {
  TWIG_CHECK(p != nullptr, ValueError, "register_parametrization: null parametrization for '", name, "'");
  p->train(module.is_training());
  if (is_parametrized(module, name)) {
    auto list = parametrizations_of(module, name);
    if (!unsafe) {
      Tensor y = list->value();
      check_same_kind(y, p->forward(y), name);
    }
    list->append(p);
    return;
  }
  bool is_param = module.is_parameter(name), is_buf = module.is_buffer(name);
  TWIG_CHECK(is_param || is_buf, ValueError, "Module '", module.type_name(),
             "' does not have a parameter, a buffer, or a parametrized element with name '", name, "'");
  Tensor original = module.get(name);
  TWIG_CHECK(original.defined(), ValueError, "cannot parametrize '", name, "' of ", module.type_name(), ": it is None");
  if (!unsafe) check_same_kind(original, p->forward(original), name);  // before any change
  auto list = std::make_shared<ParametrizationList>(original, is_buf);
  list->append(p);
  list->train(module.is_training());
  auto dict = parametrizations_dict(module);
  if (!dict) {
    dict = std::make_shared<ModuleDict>();
    module.register_child("parametrizations", dict);
  }
  if (is_param) {
    module.remove_parameter(name);
  } else {
    module.remove_buffer(name);
  }
  dict->insert(name, list);
}

void remove_parametrizations(Module& module, const std::string& name, bool leave_parametrized) {
  auto list = parametrizations_of(module, name);
  Tensor original = list->original();
  if (leave_parametrized) {
    NoGradGuard no_grad;
    Tensor t = list->value();
    original.set_data(t.detach());
  }
  auto dict = parametrizations_dict(module);
  dict->remove_child(name);
  if (dict->size() == 0) module.remove_child("parametrizations");
  if (list->original_is_buffer()) {
    module.register_buffer(name, original);
  } else {
    module.register_parameter(name, original, original.requires_grad());
  }
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr ParametrizationList::clone_instance() const { return std::make_shared<ParametrizationList>(*this); }

}  // namespace twig::nn
