// torch.ao.sparsity's ActivationSparsifier (_experimental/activation_sparsifier): it sparsifies
// the *input* activations of registered layers. While registered, a forward pre-hook aggregates
// each layer's inputs; step() turns them into a mask, mask_fn(reduce_fn(aggregate), **sparse_config);
// squash_mask() swaps the aggregating hook for one that multiplies the input by the mask.
//
//   auto sp = ao::ActivationSparsifier(model, {.aggregate_fn = ao::aggregate_function(add),
//                                              .reduce_fn = ao::reduce_function(mean0),
//                                              .sparse_config = {{"sparsity_level", 0.5}}});
//   sp.register_layer(model->get_child("linear1"), {.mask_fn = ao::mask_function(vanilla)});
//   for (...) model->call(...);   // the hook aggregates
//   sp.step();                    // masks from the aggregate
//   sp.squash_mask();             // the layers' inputs are multiplied by their masks from now on
//
// Configs are nn::Dicts with PyTorch's keys: "sparse_config" (a Dict), "aggregate_fn",
// "reduce_fn", "mask_fn" (function Objects, compared by identity), "features" (a tuple of ints,
// Python's list), "feature_dim" (int), "layer" (the module), "hook" (a RemovableHandle Object),
// "hook_state" ("aggregate", "sparsify" or "None") and, after a forward, "data" (a Tensor, or a
// tuple of Tensors when features are given). A mask is a Tensor, or a tuple of Tensors (one per
// feature).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twig/nn/module.h"
#include "twig/nn/object.h"
#include "twig/tensor/tensor.h"

namespace twig::ao {

namespace detail {
struct ActivationSparsifierImpl;
}  // namespace detail

// Python functions as nn::Object functions (compared by identity): typed wrappers.
// aggregate_fn(agg, input) -> the new aggregate (agg is zeros at the first forward).
nn::Object aggregate_function(std::function<Tensor(const Tensor& agg, const Tensor& input)> f);
// reduce_fn(aggregate) -> the reduced data mask_fn sees.
nn::Object reduce_function(std::function<Tensor(const Tensor& data)> f);
// mask_fn(data, sparse_config) -> the mask (Python's mask_fn(data, **sparse_config)).
nn::Object mask_function(std::function<Tensor(const Tensor& data, const nn::Dict& sparse_config)> f);

// The keyword arguments of the constructor and of register_layer; None / nullopt = not given.
// Every field has a default member initializer, so designated initializers may leave any out
// without -Wmissing-field-initializers: {.mask_fn = f, .sparse_config = {{"sparsity_level", 0.3}}}.
struct ActivationArgs {
  nn::Object aggregate_fn{}, reduce_fn{}, mask_fn{};
  std::optional<std::vector<int64_t>> features{};
  std::optional<int64_t> feature_dim{};
  nn::Dict sparse_config{};  // **sparse_config, e.g. {{"sparsity_level", 0.5}}
};

class ActivationSparsifier {
 public:
  // defaults: {"sparse_config", "aggregate_fn", "reduce_fn", "mask_fn", "features", "feature_dim"}
  // in this order, None where not given.
  explicit ActivationSparsifier(nn::ModulePtr model, ActivationArgs defaults = {});

  // Registers `layer` (a module of the model: AssertionError otherwise) under its dotted name with
  // the defaults updated by the given args (sparse_config merged key by key), and attaches the
  // aggregate pre-hook. AssertionError when features are given without feature_dim or a function
  // is unset. A layer registered already is unregistered first, with a warning.
  void register_layer(const nn::ModulePtr& layer, ActivationArgs args = {});
  // The mask: a Tensor, or a tuple of Tensors when the layer has features. ValueError when the
  // name is not registered or no forward ran yet (the mask's shape is the input's).
  nn::Object get_mask(const std::string& name) const;
  // Same by module (AssertionError when the layer is not in the model).
  nn::Object get_mask_of(const nn::ModulePtr& layer) const;
  // Removes the layer's hook, state and config (KeyError naming it when not registered).
  void unregister_layer(const std::string& name);
  // For each layer (registration order), without gradients: the mask's data becomes
  // mask_fn(reduce_fn(data), sparse_config) (same tensor object, the shape may change), and "data"
  // is removed. KeyError 'data' when a layer saw no forward since the last step.
  void step();
  // Removes the aggregate hooks; with attach_sparsify_hook, registers the sparsify pre-hooks
  // (the input multiplied by the mask). hook_state becomes "sparsify" either way.
  void squash_mask(bool attach_sparsify_hook = true);

  // {"state", "data_groups", "defaults"}: state deep-copied with its masks as sparse COO tensors
  // (tuples elementwise, None kept), data_groups' configs without "hook" and "layer" (values
  // shared), defaults by reference.
  nn::Dict state_dict() const;
  // Restores from a state_dict(): masks back to dense, data_groups and defaults are sd's own
  // dicts, and each layer gets the hook its hook_state names. Everything is checked first: a
  // failing load leaves the sparsifier and the model as they were.
  void load_state_dict(const nn::Dict& sd);

  const nn::ModulePtr& model() const;
  nn::Dict& defaults();  // the very dict (Dicts are references): changes are the sparsifier's
  const nn::Dict& defaults() const;
  nn::Dict& data_groups();  // name -> config, in registration order
  const nn::Dict& data_groups() const;
  nn::Dict& state();  // name -> {"mask": ...}
  const nn::Dict& state() const;

 private:
  // The dicts live in a shared block that the aggregate hooks reach weakly (Python's hooks close
  // over self): no ownership cycle through the model's hook tables.
  std::shared_ptr<detail::ActivationSparsifierImpl> impl_;
};
}  // namespace twig::ao
