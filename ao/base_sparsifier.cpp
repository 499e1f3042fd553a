#include "twig/ao/base_sparsifier.h"

#include <algorithm>
#include <sstream>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::ao {

namespace {

// The groups' keys that state_dict() leaves out (references into the model).
const std::vector<std::string> kKeysNotInStateDict = {"module", "module_fqn", "tensor_name"};

// str(value) as an f-string shows it: strings bare, everything else as its repr.
std::string str_of(const Object& o) { return o.is_string() ? o.to_string() : o.repr(); }

// The group's module (a TypeError naming the tensor when the group holds none).
nn::ModulePtr module_of(const Dict& group) {
  const Object& m = group.at("module");
  TWIG_CHECK(m.is_module(), TypeError, "the group of '", str_of(group.get("tensor_fqn", Object())),
             "' has no module: ", m.repr());
  return m.to_module();
}

// The parametrization the group's "parametrization" (a function of the mask returning the
// parametrization module) builds on `mask`.
std::shared_ptr<nn::UnaryModule> configured_parametrization(const Dict& group, const Tensor& mask) {
  const Object& factory = group.at("parametrization");
  TWIG_CHECK(factory.is_function(), TypeError, "'parametrization' of '", str_of(group.at("tensor_fqn")),
             "' must be a function of the mask returning a module, got ", factory.type_name());
  Object made = factory({Object(mask)});
  auto p = made.is_module() ? std::dynamic_pointer_cast<nn::UnaryModule>(made.to_module()) : nullptr;
  TWIG_CHECK(p != nullptr, TypeError, "'parametrization' of '", str_of(group.at("tensor_fqn")), "' returned ",
             made.type_name(), ", not a module with one tensor in and out");
  return p;
}

}  // namespace

// The mask a group starts with: its "mask", or the sparsifier's default for the tensor.
Tensor BaseSparsifier::initial_mask(const Dict& group, const nn::Module& module, const std::string& tensor_name) const {
  if (group.contains("mask")) return group.at("mask").to_tensor();
  return default_mask(module, tensor_name);
}

Tensor BaseSparsifier::default_mask(const nn::Module& module, const std::string& tensor_name) const {
  return ones_like(module.get(tensor_name));
}

std::shared_ptr<nn::UnaryModule> BaseSparsifier::make_parametrization(const Dict& group, const Tensor& mask) const {
  if (!group.contains("parametrization")) return default_parametrization(mask);
  return configured_parametrization(group, mask);
}

std::shared_ptr<nn::UnaryModule> BaseSparsifier::default_parametrization(const Tensor& mask) const {
  return std::make_shared<FakeSparsity>(mask);
}

namespace {

// Sets module's child `name` to `child`, keeping its position (Python's module._modules[name] = child).
void replace_child(nn::Module& module, const std::string& name, const nn::ModulePtr& child) {
  if (module.child(name) == child) return;
  auto children = module.named_children();
  auto it = std::find_if(children.begin(), children.end(), [&](const auto& item) { return item.first == name; });
  for (auto later = it; later != children.end(); ++later) module.remove_child(later->first);
  for (auto later = it; later != children.end(); ++later) {
    module.register_child(later->first, later->first == name ? child : later->second);
  }
}

}  // namespace

BaseSparsifier::BaseSparsifier(Dict defaults) : defaults(std::move(defaults)) {}
BaseSparsifier::~BaseSparsifier() = default;

Dict BaseSparsifier::state_for(const std::string& tensor_fqn) { return state.setdefault(tensor_fqn, Dict()).to_dict(); }

std::vector<std::type_index> BaseSparsifier::supported_modules() const { return {typeid(nn::Linear)}; }

void BaseSparsifier::make_config_from_model(const nn::ModulePtr& model, const std::vector<std::type_index>& supported) {
  TWIG_CHECK(model != nullptr, ValueError, "make_config_from_model: no model");
  std::vector<Dict> found;
  std::vector<nn::ModulePtr> stack{model};
  while (!stack.empty()) {
    nn::ModulePtr module = stack.back();
    stack.pop_back();
    for (const auto& [name, child] : module->named_children()) {
      if (std::find(supported.begin(), supported.end(), type_before_parametrizations(*child)) != supported.end()) {
        auto module_fqn = module_to_fqn(*model, *child);
        TWIG_CHECK(module_fqn.has_value(), AssertionError, "module_fqn must be a string");
        found.push_back(Dict{{"tensor_fqn", *module_fqn + ".weight"}});
      } else {
        stack.push_back(child);
      }
    }
  }
  config = std::move(found);
}

void BaseSparsifier::prepare(const nn::ModulePtr& model_in, const std::optional<std::vector<Dict>>& config_in) {
  TWIG_CHECK(model_in != nullptr, ValueError, "prepare: no model");
  // Everything is computed and checked on the side first; the model and this sparsifier change
  // only once every entry is known to be good.
  std::optional<std::vector<Dict>> saved_config = config;
  if (config_in) {
    config = config_in;
  } else {
    make_config_from_model(model_in);
  }
  std::vector<Dict> entries = *config;
  config = saved_config;

  std::vector<Dict> new_groups;
  for (const Dict& module_config : entries) {
    Dict local_args = defaults.deepcopy();
    local_args.update(module_config);
    Object tensor_fqn = local_args.get("tensor_fqn", Object());
    TWIG_CHECK(!tensor_fqn.is_none(), AssertionError,
               "tensor_fqn is a required argument in the sparsity config which replaces previous `module` and "
               "[module]`fqn` arguments; got config ",
               module_config.repr());
    TWIG_CHECK(tensor_fqn.is_string(), TypeError, "tensor_fqn must be a string, got ", tensor_fqn.repr());
    Dict info = get_arg_info_from_tensor_fqn(model_in, tensor_fqn.to_string());
    for (const auto& [key, value] : info) {
      if (!local_args.contains(key)) continue;
      const Object& given = local_args.at(key);
      bool agree =
          value == given || (key == "tensor_fqn" && given.is_string() && "." + value.to_string() == given.to_string());
      TWIG_CHECK(agree, AssertionError, "Given both `", key,
                 "` and `tensor_fqn` in the config, it is expected them to agree! (", key, "=", given.repr(),
                 ", tensor_fqn=", tensor_fqn.repr(), ")");
    }
    local_args.update(info);
    // What _prepare will read: the module and its tensor (AttributeError as Python's getattr).
    const Object& module = local_args.at("module");
    const std::string& tensor_name = local_args.at("tensor_name").to_string();
    TWIG_CHECK(module.is_module(), AttributeError, "'", module.type_name(), "' object has no attribute '", tensor_name,
               "' (tensor_fqn '", tensor_fqn.to_string(), "' names no module of the model)");
    TWIG_CHECK(module.to_module()->has(tensor_name), AttributeError, "'", module.to_module()->type_name(),
               "' object has no attribute '", tensor_name, "' (tensor_fqn '", tensor_fqn.to_string(), "')");
    new_groups.push_back(local_args);
  }
  // The parametrizations, built and tried on their tensors before any is registered: what
  // register_parametrization would reject (a mask of another shape, a tensor that is not a
  // parameter or buffer) is rejected here with the model untouched.
  for (const Dict& group : new_groups) {
    nn::ModulePtr module = module_of(group);
    const std::string& tensor_name = group.at("tensor_name").to_string();
    TWIG_CHECK(module->is_parameter(tensor_name) || module->is_buffer(tensor_name) ||
                   nn::is_parametrized(*module, tensor_name),
               ValueError, "Module '", module->type_name(),
               "' does not have a parameter, a buffer, or a parametrized element with name '", tensor_name, "'");
    Tensor mask = initial_mask(group, *module, tensor_name);
    auto p = make_parametrization(group, mask);
    Tensor value = module->get(tensor_name);
    Tensor out = p->forward(value);  // FakeSparsity: AssertionError on a mask of another shape
    TWIG_CHECK(out.defined() && out.dtype() == value.dtype() && out.sizes() == value.sizes(), ValueError,
               "the parametrization of '", group.at("tensor_fqn").to_string(),
               "' changes the tensor's shape or dtype: ", value.sizes(), " -> ", out.sizes());
  }

  model = model_in;
  config = entries;
  for (const Dict& group : new_groups) groups.push_back(group);
  prepare_groups();
}

void BaseSparsifier::prepare_groups() {
  // Python's _prepare registers on every group, also those of an earlier prepare() call.
  for (const Dict& group : groups) {
    nn::ModulePtr module = module_of(group);
    const std::string& tensor_name = group.at("tensor_name").to_string();
    Tensor mask = initial_mask(group, *module, tensor_name);
    state_for(group.at("tensor_fqn").to_string()).set("mask", mask);
    nn::register_parametrization(*module, tensor_name, make_parametrization(group, mask));
  }
}

void BaseSparsifier::step() {
  ++step_count;  // every call, as PyTorch's scheduler wrapper counts them
  if (!enable_mask_update) return;
  NoGradGuard no_grad;
  // A failing update_mask must leave every mask and state entry as it was (PyTorch would keep the
  // earlier groups' new masks): the masks' data and the state entries are saved first.
  std::vector<std::pair<Tensor, Tensor>> saved_masks;
  std::vector<std::pair<Dict, Dict>> saved_states;
  for (const Dict& group : groups) {
    nn::ModulePtr module = module_of(group);
    const std::string& tensor_name = group.at("tensor_name").to_string();
    if (nn::is_parametrized(*module, tensor_name)) {
      auto list = nn::parametrizations_of(*module, tensor_name);
      for (size_t i = 0; i < list->size(); ++i) {
        Tensor mask = list->at(i)->get_or_undefined("mask");
        if (mask.defined()) saved_masks.emplace_back(mask, mask.detach().clone());
      }
    }
    Object entry = state.get(group.at("tensor_fqn").to_string(), Object());
    if (entry.is_dict()) saved_states.emplace_back(entry.to_dict(), entry.to_dict().copy());
  }
  try {
    for (const Dict& group : groups) update_mask(*module_of(group), group.at("tensor_name").to_string(), group);
  } catch (...) {
    for (auto& [mask, data] : saved_masks) mask.set_data(data);
    for (auto& [entry, copy] : saved_states) {
      entry.clear();
      entry.update(copy);
    }
    throw;
  }
}

void BaseSparsifier::squash_mask(
    std::optional<std::vector<std::string>> params_to_keep,
    std::optional<std::map<std::string, std::vector<std::string>>> params_to_keep_per_layer) {
  // The sparse_params of every group first (KeyError naming a missing key before anything changes).
  std::vector<Dict> sparse;
  for (const Dict& group : groups) {
    Dict sparse_params;
    if (params_to_keep) {
      for (const auto& key : *params_to_keep) sparse_params.set(key, group.at(key));
    }
    if (params_to_keep_per_layer) {
      auto it = params_to_keep_per_layer->find(group.at("module_fqn").to_string());
      if (it != params_to_keep_per_layer->end()) {
        for (const auto& key : it->second) sparse_params.set(key, group.at(key));
      }
    }
    nn::ModulePtr module = module_of(group);
    nn::parametrizations_of(*module, group.at("tensor_name").to_string());  // ValueError if not parametrized
    sparse.push_back(sparse_params);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    nn::ModulePtr module = module_of(groups[i]);
    nn::remove_parametrizations(*module, groups[i].at("tensor_name").to_string(), /*leave_parametrized=*/true);
    if (!sparse[i].empty()) module->set_object("sparse_params", sparse[i]);
  }
}

Dict BaseSparsifier::state_dict() const {
  nn::Tuple out_groups;
  for (const Dict& group : groups) {
    Dict kept;
    for (const auto& [key, value] : group) {
      if (std::find(kKeysNotInStateDict.begin(), kKeysNotInStateDict.end(), key) == kKeysNotInStateDict.end()) {
        kept.set(key, value);
      }
    }
    out_groups.push_back(kept);
  }
  return Dict{{"state", state}, {"groups", Object(std::move(out_groups))}};
}

void BaseSparsifier::load_state_dict(const Dict& sd, bool strict) {
  TWIG_CHECK(model != nullptr, RuntimeError, "load_state_dict: prepare() the sparsifier on a model first");
  std::vector<Dict> new_groups;
  for (const Object& g : sd.at("groups").to_tuple()) new_groups.push_back(g.deepcopy().to_dict());
  Dict states = sd.at("state").to_dict();

  // Checked first: every entry's module and tensor, and every mask's shape.
  struct Entry {
    std::string tensor_fqn;
    Dict info;
    Dict s;
  };
  std::vector<Entry> entries;
  for (const auto& [tensor_fqn, s_obj] : states) {
    Dict info = get_arg_info_from_tensor_fqn(model, tensor_fqn);
    const Object& module = info.at("module");
    if (!module.is_module()) {
      TWIG_CHECK(!strict, RuntimeError, "Error loading ", tensor_fqn, " into the model");
      continue;  // not strict: an entry for a tensor the model lacks is left out
    }
    const std::string& tensor_name = info.at("tensor_name").to_string();
    const nn::Module& m = *module.to_module();
    TWIG_CHECK(m.has(tensor_name), AttributeError, "'", m.type_name(), "' object has no attribute '", tensor_name,
               "' (loading ", tensor_fqn, ")");
    Dict s = s_obj.to_dict();
    Object mask = s.get("mask", Object());
    if (!mask.is_none()) {
      TWIG_CHECK(mask.is_tensor(), TypeError, "the mask of ", tensor_fqn, " is a ", mask.type_name(), ", not a Tensor");
      TWIG_CHECK(mask.to_tensor().sizes() == m.get(tensor_name).sizes(), ValueError, "the mask of ", tensor_fqn,
                 " has shape ", mask.to_tensor().sizes(), " but the tensor has shape ", m.get(tensor_name).sizes());
    }
    entries.push_back({tensor_fqn, info, s});
  }

  for (Entry& e : entries) {
    nn::ModulePtr module = e.info.at("module").to_module();
    const std::string& tensor_name = e.info.at("tensor_name").to_string();
    std::shared_ptr<FakeSparsity> p;
    if (nn::is_parametrized(*module, tensor_name)) {
      auto list = nn::parametrizations_of(*module, tensor_name);
      for (size_t i = 0; i < list->size() && !p; ++i) p = std::dynamic_pointer_cast<FakeSparsity>(list->at(i));
    }
    if (!p) {
      p = std::make_shared<FakeSparsity>(ones(module->get(tensor_name).sizes()));
      nn::register_parametrization(*module, tensor_name, p);
    }
    if (!e.s.get("mask", Object()).is_none()) p->set_mask(e.s.pop("mask").to_tensor());
    for (Dict& group : new_groups) {
      if (group.get("tensor_fqn", Object()) == Object(e.tensor_fqn)) group.update(e.info);
    }
  }
  state = states;
  groups = std::move(new_groups);
}

nn::ModulePtr BaseSparsifier::convert(const nn::ModulePtr& module_in, const std::optional<Mapping>& mapping,
                                      bool inplace, const ParametrizationType& parameterization) {
  TWIG_CHECK(mapping.has_value(), NotImplementedError, "Need to auto generate mapping ");
  TWIG_CHECK(module_in != nullptr, ValueError, "convert: no module");
  nn::ModulePtr module = inplace ? module_in : module_in->clone();
  std::vector<std::pair<std::string, nn::ModulePtr>> reassign;
  for (const auto& [name, child] : module->named_children()) {
    if (module_contains_param(*child, parameterization) && mapping->contains(type_before_parametrizations(*child))) {
      reassign.emplace_back(name, swap_module(child, *mapping));
    } else {
      reassign.emplace_back(name, convert(child, mapping, /*inplace=*/true, parameterization));
    }
  }
  for (const auto& [name, child] : reassign) replace_child(*module, name, child);
  return module;
}

std::string BaseSparsifier::repr() const {
  std::ostringstream os;
  os << type_name() << " (";
  for (size_t i = 0; i < groups.size(); ++i) {
    const Dict& group = groups[i];
    os << "\n\tGroup " << i << "\n";
    os << "\t    module: " << str_of(group.get("module", Object())) << "\n";
    std::vector<std::string> keys = group.keys();
    std::sort(keys.begin(), keys.end());
    for (const auto& key : keys) {
      if (key == "module") continue;
      os << "\t    " << key << ": " << str_of(group.at(key)) << "\n";
    }
  }
  os << ")";
  return os.str();
}

}  // namespace twig::ao
