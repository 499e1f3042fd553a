// torch.ao.pruning's BaseSparsifier (sparsifier/base_sparsifier.py): groups of per-tensor
// configurations, masks held as FakeSparsity parametrizations and in `state`, step(),
// squash_mask(), state_dict() / load_state_dict() and convert().
//
//   struct MySparsifier : ao::BaseSparsifier {
//     MySparsifier() : BaseSparsifier({{"sparsity_level", 0.5}}) {}
//     void update_mask(nn::Module& m, const std::string& name, const ao::Dict& args) override;
//   };
//   MySparsifier s;
//   s.prepare(model, std::vector<ao::Dict>{{{"tensor_fqn", "linear1.weight"}, {"test", 3}}});
//   s.step();
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include "twig/ao/utils.h"
#include "twig/nn/module.h"
#include "twig/nn/object.h"

namespace twig::ao {

class BaseSparsifier {
 public:
  // Python's `defaults or {}`.
  explicit BaseSparsifier(Dict defaults = {});
  virtual ~BaseSparsifier();

  Dict defaults;
  // tensor_fqn -> Dict {"mask": Tensor, ...}. Python's defaultdict(dict): state_for() makes an
  // entry on demand. After load_state_dict it is the loaded dict itself.
  Dict state;
  // One per tensor: a deep copy of defaults, updated with the config entry, then with
  // get_arg_info_from_tensor_fqn (module_fqn, module, tensor_name, tensor_fqn). Accumulates over
  // prepare() calls.
  std::vector<Dict> groups;
  bool enable_mask_update = true;
  // Python's _step_count: how many times step() was called (a scheduler resets it to 0 when it
  // attaches, and warns when its own step() comes before the sparsifier's first).
  int64_t step_count = 0;
  nn::ModulePtr model;
  // The config prepare() used (the given one or make_config_from_model's).
  std::optional<std::vector<Dict>> config;

  // Adds the groups of `config` (nullopt: make_config_from_model) and the mask
  // parametrizations. Every entry is checked before anything changes, so a bad config leaves the
  // model and the sparsifier as they were: no tensor_fqn or keys disagreeing with it is
  // AssertionError (Python asserts), a tensor_fqn naming no module or no tensor AttributeError
  // (Python's getattr), a mask of another shape FakeSparsity's AssertionError.
  void prepare(const nn::ModulePtr& model, const std::optional<std::vector<Dict>>& config);
  // With gradients off, update_mask(module, tensor_name, group) for every group in order;
  // nothing when enable_mask_update is false.
  void step();
  // Python's update_mask(**group): `args` is the whole group (module, tensor_name, module_fqn,
  // tensor_fqn, the defaults and the config's own keys).
  virtual void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) = 0;
  // Bakes each mask into its tensor (remove_parametrizations, leave_parametrized). With
  // params_to_keep and/or params_to_keep_per_layer (module_fqn -> keys), the named group values
  // become the module's `sparse_params` object (KeyError naming a key a group lacks).
  void squash_mask(
      std::optional<std::vector<std::string>> params_to_keep = std::nullopt,
      std::optional<std::map<std::string, std::vector<std::string>>> params_to_keep_per_layer = std::nullopt);
  // {"state": the live state dict (not a copy), "groups": a tuple of Dicts, each a group without
  // "module", "module_fqn" and "tensor_name"}.
  Dict state_dict() const;
  // PyTorch's semantics: groups deep-copied from sd, state = sd["state"] itself; each state
  // entry's "mask" is popped from it (the caller's dict changes) and becomes the FakeSparsity's
  // mask. RuntimeError "Error loading <fqn> into the model" for an unknown tensor with strict.
  // Everything is checked first (a mask of another shape is a ValueError), so a failed load
  // changes nothing. Where PyTorch would fail on an attribute access, twig does what the code
  // means: without strict an unknown tensor is skipped, and a tensor that is not parametrized
  // yet gets a FakeSparsity (PyTorch registers one only on a parametrized tensor lacking it).
  void load_state_dict(const Dict& sd, bool strict = true);
  // Replaces every child that holds a `parameterization` and whose exact type is in mapping by
  // swap_module; recurses into the others. NotImplementedError without a mapping. Unless
  // inplace, works on (and returns) a deep copy.
  nn::ModulePtr convert(const nn::ModulePtr& module, const std::optional<Mapping>& mapping = std::nullopt,
                        bool inplace = false, const ParametrizationType& parameterization = is_a<FakeSparsity>);
  // Like PyTorch's __repr__: "<type_name> (\n\tGroup 0\n\t    module: ...\n\t    key: value\n...)".
  std::string repr() const;
  // The class name repr() shows.
  virtual std::string type_name() const { return "BaseSparsifier"; }

  // state[tensor_fqn], made an empty Dict first if absent (Python's defaultdict access).
  Dict state_for(const std::string& tensor_fqn);

  // Python's make_config_from_model: sets `config` to {"tensor_fqn": "<fqn>.weight"} for every
  // module whose exact type is in `supported`, found by a DFS with an explicit LIFO stack
  // (SimpleLinear: linear1, linear2, seq.0, seq.1, seq.2).
  void make_config_from_model(const nn::ModulePtr& model, const std::vector<std::type_index>& supported);
  void make_config_from_model(const nn::ModulePtr& model) { make_config_from_model(model, supported_modules()); }

 protected:
  // The exact module types make_config_from_model picks: {nn::Linear} here.
  virtual std::vector<std::type_index> supported_modules() const;
  // PyTorch's _prepare: for each group, mask = group["mask"] or ones_like(tensor);
  // state_for(fqn)["mask"] = mask; registers group["parametrization"] (a function of the mask
  // returning the parametrization module; FakeSparsity when absent) on the tensor.
  virtual void prepare_groups();
  // The mask of a group whose config gives none: ones_like(tensor) here.
  virtual Tensor default_mask(const nn::Module& module, const std::string& tensor_name) const;
  // The parametrization on `mask` of a group whose config names none: FakeSparsity here.
  virtual std::shared_ptr<nn::UnaryModule> default_parametrization(const Tensor& mask) const;
  // group["mask"] or default_mask; group["parametrization"](mask) or default_parametrization(mask).
  Tensor initial_mask(const Dict& group, const nn::Module& module, const std::string& tensor_name) const;
  std::shared_ptr<nn::UnaryModule> make_parametrization(const Dict& group, const Tensor& mask) const;
};

}  // namespace twig::ao
