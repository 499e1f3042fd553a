// ActivationSparsifier: PyTorch 1.13's torch.ao.sparsity._experimental.activation_sparsifier, with
// three differences where PyTorch leaves a trap: every public operation checks what it needs before
// it changes anything (a failure leaves the sparsifier and the model's hooks as they were);
// load_state_dict removes the hooks of the layers it replaces (PyTorch's keep aggregating); and a
// layer squashed without a sparsify hook can be unregistered, re-registered and squashed again
// (PyTorch raises KeyError 'hook').
#include "twig/ao/activation_sparsifier.h"

#include <utility>

#if defined(TWIG_HAS_SERIALIZE)
#include <nlohmann/json.hpp>

#include "twig/serialize/registry.h"
#endif

#include "twig/ao/utils.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/error.h"
#include "twig/tensor/warning.h"

namespace twig::ao {

using nn::Dict;
using nn::Object;
using nn::Tuple;

// ---- the typed function wrappers ---------------------------------------------------------------

namespace {

Tensor call_tensor(const Object& fn, const std::vector<Object>& args, const char* what) {
  Object out = fn(args);
  TWIG_CHECK(out.is_tensor(), TypeError, "ActivationSparsifier: ", what, " returned a ", out.type_name(),
             ", expected a Tensor");
  return out.to_tensor();
}

void check_arity(const std::vector<Object>& args, size_t n, const char* what) {
  TWIG_CHECK(args.size() == n, TypeError, what, " takes ", n, " arguments but ", args.size(), " were given");
}

}  // namespace

Object aggregate_function(std::function<Tensor(const Tensor& agg, const Tensor& input)> f) {
  TWIG_CHECK(static_cast<bool>(f), ValueError, "aggregate_function: the function is empty");
  return Object::function([f = std::move(f)](const std::vector<Object>& args) {
    check_arity(args, 2, "aggregate_fn");
    return Object(f(args[0].to_tensor(), args[1].to_tensor()));
  });
}

Object reduce_function(std::function<Tensor(const Tensor& data)> f) {
  TWIG_CHECK(static_cast<bool>(f), ValueError, "reduce_function: the function is empty");
  return Object::function([f = std::move(f)](const std::vector<Object>& args) {
    check_arity(args, 1, "reduce_fn");
    return Object(f(args[0].to_tensor()));
  });
}

Object mask_function(std::function<Tensor(const Tensor& data, const Dict& sparse_config)> f) {
  TWIG_CHECK(static_cast<bool>(f), ValueError, "mask_function: the function is empty");
  return Object::function([f = std::move(f)](const std::vector<Object>& args) {
    check_arity(args, 2, "mask_fn");
    return Object(f(args[0].to_tensor(), args[1].to_dict()));
  });
}

// ---- the sparsifier ----------------------------------------------------------------------------

struct detail::ActivationSparsifierImpl {
  nn::ModulePtr model;
  Dict defaults;
  Dict data_groups;  // name -> config
  Dict state;        // name -> {"mask": ...}
};

namespace {

using ImplPtr = std::shared_ptr<detail::ActivationSparsifierImpl>;

std::optional<std::vector<int64_t>> features_of(const Dict& config) {
  const Object& features = config.at("features");
  if (features.is_none()) return std::nullopt;
  return features.to_int_vector();
}

std::optional<int64_t> feature_dim_of(const Dict& config) {
  const Object& dim = config.at("feature_dim");
  if (dim.is_none()) return std::nullopt;
  return dim.to_int();
}

Tensor feature_index(int64_t feature) { return tensor({feature}, kInt64); }

// Item i of a per-feature tuple (data or mask) of layer `name` as a Tensor.
Tensor feature_item(const Object& tuple, size_t i, const std::string& name, const char* what) {
  const Tuple& items = tuple.to_tuple();
  TWIG_CHECK(i < items.size(), IndexError, "ActivationSparsifier: layer '", name, "' has ", items.size(), " ", what,
             " tensors, feature ", i, " has none");
  return items[i].to_tensor();
}

// The aggregate forward pre-hook of layer `name`. Like PyTorch's it reads features, feature_dim
// and aggregate_fn from the config now, and the config's "data" and the state at every call (so
// a load_state_dict that replaces the dicts is seen). It reaches the sparsifier weakly: once the
// sparsifier is gone it does nothing.
nn::ForwardPreHookFn make_aggregate_hook(const std::weak_ptr<detail::ActivationSparsifierImpl>& weak,
                                         const std::string& name, const Dict& config) {
  std::optional<std::vector<int64_t>> features = features_of(config);
  std::optional<int64_t> feature_dim = feature_dim_of(config);
  Object agg_fn = config.at("aggregate_fn");
  return
      [weak, name, features, feature_dim, agg_fn](nn::Module&, const nn::Values& inputs) -> std::optional<nn::Values> {
        ImplPtr impl = weak.lock();
        if (!impl) return std::nullopt;
        TWIG_CHECK(!inputs.empty(), IndexError, "ActivationSparsifier: layer '", name, "' was called without inputs");
        const Tensor& input = inputs[0].tensor();
        Dict config = impl->data_groups.at(name).to_dict();
        Object data = config.get("data", Object());
        // Everything is computed before the state changes: a failing aggregate_fn changes nothing.
        Object mask, out;
        if (!features) {
          Tensor agg = data.is_none() ? zeros_like(input) : data.to_tensor();
          if (data.is_none()) mask = ones_like(input);
          out = call_tensor(agg_fn, {agg, input}, "aggregate_fn");
        } else {
          Tuple out_items, mask_items;
          for (size_t i = 0; i < features->size(); ++i) {
            Tensor selected = input.index_select(*feature_dim, feature_index((*features)[i]));
            Tensor agg = data.is_none() ? zeros_like(selected) : feature_item(data, i, name, "data");
            if (data.is_none()) mask_items.push_back(ones_like(selected));
            out_items.push_back(call_tensor(agg_fn, {agg, selected}, "aggregate_fn"));
          }
          if (data.is_none()) mask = Object(std::move(mask_items));
          out = Object(std::move(out_items));
        }
        if (data.is_none()) impl->state.setdefault(name, Dict()).to_dict().set("mask", mask);
        config.set("data", out);
        return std::nullopt;
      };
}

}  // namespace

// ---- the sparsify hook ---------------------------------------------------------------------------

namespace {

// The pre-hook squash_mask attaches: the layer's input times the mask. Without features the
// product replaces the input; with features each selected slice along feature_dim is multiplied by
// its mask and written back into the input in place. Like PyTorch's closure it holds the mask
// tensors themselves (a later step() that replaces their data is seen) and only input[0] goes on.
// It needs no sparsifier, so a model saved whole keeps it (codec below).
class ActivationSparsifyHook : public nn::ForwardPreHook {
 public:
  ActivationSparsifyHook(std::vector<Tensor> masks, std::optional<std::vector<int64_t>> features,
                         std::optional<int64_t> feature_dim)
      : masks_(std::move(masks)), features_(std::move(features)), feature_dim_(feature_dim) {}

  std::optional<nn::Values> operator()(nn::Module&, const nn::Values& inputs) override {
    TWIG_CHECK(!inputs.empty(), IndexError, "ActivationSparsifyHook: the layer was called without inputs");
    Tensor input = inputs[0].tensor();
    if (!features_) return nn::Values{input * masks_[0]};
    // PyTorch writes into input[0] even when it is a view of a tensor that requires grad (a
    // reshaped activation while training); twig's autograd refuses in-place ops on such views, so
    // there, and only there, the features are written into a copy, which the layer gets instead.
    if (autograd::GradMode::is_enabled() && input.impl()->view_base &&
        Tensor(input.impl()->view_base).requires_grad()) {
      input = input.clone();
    }
    for (size_t i = 0; i < features_->size(); ++i) {
      Tensor index = feature_index((*features_)[i]);
      Tensor sparsified = input.index_select(*feature_dim_, index) * masks_[i];
      input.index_copy_(*feature_dim_, index, sparsified);
    }
    return nn::Values{input};
  }
  std::string type_name() const override { return "ActivationSparsifyHook"; }

  const std::vector<Tensor>& masks() const { return masks_; }
  const std::optional<std::vector<int64_t>>& features() const { return features_; }
  std::optional<int64_t> feature_dim() const { return feature_dim_; }

 private:
  std::vector<Tensor> masks_;  // one, or one per feature
  std::optional<std::vector<int64_t>> features_;
  std::optional<int64_t> feature_dim_;
};

#if defined(TWIG_HAS_SERIALIZE)
// {"masks": [keys], "features": [...] | null, "feature_dim": int | null}; the masks go through
// put_mask (bit-packed when 0/1, restored exactly).
const bool kRegistered = [] {
  serialize::register_forward_pre_hook_type(
      "ActivationSparsifyHook",
      serialize::ForwardPreHookCodec{
          [](const nn::ForwardPreHook& h, serialize::TensorWriter& writer) {
            const auto& hook = dynamic_cast<const ActivationSparsifyHook&>(h);
            serialize::json masks = serialize::json::array();
            for (size_t i = 0; i < hook.masks().size(); ++i)
              masks.push_back(writer.put_mask("activation_mask" + std::to_string(i), hook.masks()[i]));
            serialize::json features = nullptr, feature_dim = nullptr;
            if (hook.features()) features = *hook.features();
            if (hook.feature_dim()) feature_dim = *hook.feature_dim();
            return serialize::json{{"masks", masks}, {"features", features}, {"feature_dim", feature_dim}};
          },
          [](const serialize::json& j, serialize::TensorReader& reader) -> std::shared_ptr<nn::ForwardPreHook> {
            TWIG_CHECK(j.is_object() && j.contains("masks") && j.at("masks").is_array(), ValueError,
                       "ActivationSparsifyHook: malformed state ", j.dump());
            std::vector<Tensor> masks;
            for (const auto& key : j.at("masks")) masks.push_back(reader.get(key.get<std::string>()));
            std::optional<std::vector<int64_t>> features;
            std::optional<int64_t> feature_dim;
            if (j.contains("features") && !j.at("features").is_null())
              features = j.at("features").get<std::vector<int64_t>>();
            if (j.contains("feature_dim") && !j.at("feature_dim").is_null())
              feature_dim = j.at("feature_dim").get<int64_t>();
            size_t expected = features ? features->size() : 1;
            TWIG_CHECK(masks.size() == expected && (!features || feature_dim), ValueError,
                       "ActivationSparsifyHook: malformed state ", j.dump());
            return std::make_shared<ActivationSparsifyHook>(std::move(masks), std::move(features), feature_dim);
          }});
  return true;
}();
#endif

}  // namespace

namespace {

// get_mask's checks, on a given state dict.
Object checked_mask(const Dict& state, const std::string& name) {
  TWIG_CHECK(state.contains(name), ValueError, "Error: layer with the given name not found ('", name, "')");
  Object mask = state.at(name).to_dict().get("mask", Object());
  TWIG_CHECK(!mask.is_none(), ValueError,
             "Error: shape unknown, call layer() routine at least once to infer mask (layer '", name, "')");
  return mask;
}

std::shared_ptr<ActivationSparsifyHook> make_sparsify_hook(const Dict& state, const std::string& name,
                                                           const Dict& config) {
  Object mask = checked_mask(state, name);
  std::optional<std::vector<int64_t>> features = features_of(config);
  std::optional<int64_t> feature_dim = feature_dim_of(config);
  std::vector<Tensor> masks;
  if (!features) {
    masks.push_back(mask.to_tensor());
  } else {
    for (const Object& m : mask.to_tuple()) masks.push_back(m.to_tensor());
    TWIG_CHECK(masks.size() == features->size(), ValueError, "ActivationSparsifier: layer '", name, "' has ",
               masks.size(), " feature masks for ", features->size(), " features");
    TWIG_CHECK(feature_dim.has_value(), AssertionError, "need feature dim to select features (layer '", name, "')");
  }
  return std::make_shared<ActivationSparsifyHook>(std::move(masks), std::move(features), feature_dim);
}

// Python's _convert_mask: a deep copy of the state with each mask (or each element of a tuple
// mask) made sparse COO or dense.
Dict convert_masks(const Dict& state, bool sparse_coo) {
  auto convert = [sparse_coo](const Object& m) -> Object {
    const Tensor& t = m.to_tensor();
    return sparse_coo ? t.to_sparse() : t.to_dense();
  };
  Dict out;
  for (const auto& [name, entry] : state) {
    Dict copy = entry.to_dict().deepcopy();
    const Object& mask = copy.at("mask");
    if (mask.is_tuple()) {
      Tuple items;
      for (const Object& m : mask.to_tuple()) items.push_back(convert(m));
      copy.set("mask", Object(std::move(items)));
    } else if (!mask.is_none()) {
      copy.set("mask", convert(mask));
    }
    out.set(name, Object(copy));
  }
  return out;
}

void remove_hook(const Dict& config) {
  if (config.contains("hook")) config.at("hook").to_handle().remove();
}

}  // namespace

ActivationSparsifier::ActivationSparsifier(nn::ModulePtr model, ActivationArgs defaults)
    : impl_(std::make_shared<detail::ActivationSparsifierImpl>()) {
  TWIG_CHECK(model != nullptr, ValueError, "ActivationSparsifier: the model is null");
  impl_->model = std::move(model);
  Dict& d = impl_->defaults;
  d.set("sparse_config", Object(defaults.sparse_config.copy()));  // **sparse_config is a new dict
  d.set("aggregate_fn", defaults.aggregate_fn);
  d.set("reduce_fn", defaults.reduce_fn);
  d.set("mask_fn", defaults.mask_fn);
  d.set("features", defaults.features ? Object(*defaults.features) : Object());
  d.set("feature_dim", defaults.feature_dim ? Object(*defaults.feature_dim) : Object());
}

const nn::ModulePtr& ActivationSparsifier::model() const { return impl_->model; }
Dict& ActivationSparsifier::defaults() { return impl_->defaults; }
const Dict& ActivationSparsifier::defaults() const { return impl_->defaults; }
Dict& ActivationSparsifier::data_groups() { return impl_->data_groups; }
const Dict& ActivationSparsifier::data_groups() const { return impl_->data_groups; }
Dict& ActivationSparsifier::state() { return impl_->state; }
const Dict& ActivationSparsifier::state() const { return impl_->state; }

void ActivationSparsifier::register_layer(const nn::ModulePtr& layer, ActivationArgs args) {
  TWIG_CHECK(layer != nullptr, AssertionError, "layer not found in the model (the layer is null)");
  std::optional<std::string> found = module_to_fqn(*impl_->model, *layer);
  TWIG_CHECK(found.has_value(), AssertionError, "layer not found in the model (a ", layer->type_name(),
             " that is not a module of the ", impl_->model->type_name(), ")");
  const std::string name = *found;

  Dict local = impl_->defaults.deepcopy();
  if (!args.aggregate_fn.is_none()) local.set("aggregate_fn", args.aggregate_fn);
  if (!args.reduce_fn.is_none()) local.set("reduce_fn", args.reduce_fn);
  if (!args.mask_fn.is_none()) local.set("mask_fn", args.mask_fn);
  if (args.features) local.set("features", Object(*args.features));
  if (args.feature_dim) local.set("feature_dim", Object(*args.feature_dim));
  local.set("layer", Object(layer));
  local.at("sparse_config").to_dict().update(args.sparse_config);

  // _safe_rail_checks, on the merged config.
  if (!local.at("features").is_none()) {
    TWIG_CHECK(!local.at("feature_dim").is_none(), AssertionError, "need feature dim to select features (layer '", name,
               "' has features ", local.at("features").repr(), " and feature_dim None)");
  }
  for (const char* key : {"aggregate_fn", "reduce_fn", "mask_fn"}) {
    const Object& fn = local.at(key);
    TWIG_CHECK(fn.is_function(), AssertionError, "function should be callable (layer '", name, "': ", key, " is ",
               fn.repr(), ")");
  }
  nn::ForwardPreHookFn hook = make_aggregate_hook(impl_, name, local);  // checks features' types

  if (impl_->data_groups.contains(name)) {
    warn("layer already attached to the sparsifier, deregistering the layer and registering with new config ('" + name +
         "')");
    unregister_layer(name);
  }
  impl_->data_groups.set(name, Object(local));
  RemovableHandle handle = layer->register_forward_pre_hook(std::move(hook));
  impl_->state.set(name, Object(Dict{{"mask", Object()}}));  // created at the first forward
  local.set("hook", Object::handle(std::move(handle)));
  local.set("hook_state", "aggregate");
}

Object ActivationSparsifier::get_mask(const std::string& name) const { return checked_mask(impl_->state, name); }

Object ActivationSparsifier::get_mask_of(const nn::ModulePtr& layer) const {
  TWIG_CHECK(layer != nullptr, AssertionError, "Need at least name or layer obj to retrieve mask");
  std::optional<std::string> name = module_to_fqn(*impl_->model, *layer);
  TWIG_CHECK(name.has_value(), AssertionError, "layer not found in the specified model (a ", layer->type_name(), ")");
  return get_mask(*name);
}

void ActivationSparsifier::unregister_layer(const std::string& name) {
  TWIG_CHECK(impl_->data_groups.contains(name), KeyError, "'", name, "' (not a registered layer)");
  // (PyTorch raises KeyError 'hook' for a layer squashed without a sparsify hook; there is
  // simply no hook to remove.)
  remove_hook(impl_->data_groups.at(name).to_dict());
  impl_->state.erase(name);
  impl_->data_groups.pop(name);
}

void ActivationSparsifier::step() {
  NoGradGuard no_grad;
  // All new masks are computed before any is replaced: a layer without data (KeyError 'data', as
  // Python's configs['data']) or a failing function leaves every mask as it was.
  std::vector<std::pair<Tensor, Tensor>> updates;  // (mask, its new data)
  for (const auto& [name, entry] : impl_->data_groups) {
    Dict config = entry.to_dict();
    TWIG_CHECK(config.contains("data"), KeyError, "'data' (layer '", name,
               "' saw no forward since it was registered or since the last step)");
    const Object& data = config.at("data");
    Object mask = get_mask(name);
    Dict sparse_config = config.at("sparse_config").to_dict();
    std::optional<std::vector<int64_t>> features = features_of(config);
    const Object& reduce_fn = config.at("reduce_fn");
    const Object& mask_fn = config.at("mask_fn");
    auto new_mask = [&](const Tensor& d) {
      Tensor reduced = call_tensor(reduce_fn, {d}, "reduce_fn");
      return call_tensor(mask_fn, {reduced, sparse_config}, "mask_fn");
    };
    if (!features) {
      updates.emplace_back(mask.to_tensor(), new_mask(data.to_tensor()));
    } else {
      for (size_t i = 0; i < features->size(); ++i)
        updates.emplace_back(feature_item(mask, i, name, "mask"), new_mask(feature_item(data, i, name, "data")));
    }
  }
  for (auto& [mask, value] : updates) mask.set_data(value);
  for (const auto& [name, entry] : impl_->data_groups) entry.to_dict().pop("data");
}

void ActivationSparsifier::squash_mask(bool attach_sparsify_hook) {
  std::vector<std::shared_ptr<ActivationSparsifyHook>> hooks;
  if (attach_sparsify_hook) {
    for (const auto& [name, entry] : impl_->data_groups) {
      Dict config = entry.to_dict();
      config.at("layer").to_module();  // TypeError now rather than half way
      hooks.push_back(make_sparsify_hook(impl_->state, name, config));
    }
  }
  size_t i = 0;
  for (const auto& [name, entry] : impl_->data_groups) {
    Dict config = entry.to_dict();
    remove_hook(config);
    config.erase("hook");
    config.set("hook_state", "None");
    if (attach_sparsify_hook)
      config.set("hook", Object::handle(config.at("layer").to_module()->register_forward_pre_hook(hooks[i++])));
    config.set("hook_state", "sparsify");  // also without a hook, as PyTorch
  }
}

Dict ActivationSparsifier::state_dict() const {
  Dict data_groups;
  for (const auto& [name, entry] : impl_->data_groups) {
    Dict config;
    for (const auto& [key, value] : entry.to_dict())
      if (key != "hook" && key != "layer") config.set(key, value);
    data_groups.set(name, Object(config));
  }
  Dict state = convert_masks(impl_->state, /*sparse_coo=*/true);
  return Dict{{"state", Object(state)}, {"data_groups", Object(data_groups)}, {"defaults", Object(impl_->defaults)}};
}

void ActivationSparsifier::load_state_dict(const Dict& sd) {
  // Everything that can fail happens before the sparsifier or the model changes.
  Dict state = convert_masks(sd.at("state").to_dict(), /*sparse_coo=*/false);
  Dict data_groups = sd.at("data_groups").to_dict();
  Dict defaults = sd.at("defaults").to_dict();
  struct Attach {
    Dict config;
    nn::ModulePtr layer;
    std::shared_ptr<nn::ForwardPreHook> sparsify;
    nn::ForwardPreHookFn aggregate;
  };
  std::vector<Attach> attach;
  for (const auto& [name, entry] : data_groups) {
    Attach a{entry.to_dict(), fqn_to_submodule(impl_->model, name), nullptr, nullptr};
    TWIG_CHECK(a.layer != nullptr, AssertionError, "load_state_dict: layer '", name, "' is not a module of the model");
    Object hook_state = a.config.get("hook_state", Object());
    if (hook_state == Object("aggregate")) {
      a.aggregate = make_aggregate_hook(impl_, name, a.config);
    } else if (hook_state == Object("sparsify")) {
      a.sparsify = make_sparsify_hook(state, name, a.config);
    } else {
      // (PyTorch fails here too: its hook variable is unbound.)
      TWIG_THROW(ValueError, "load_state_dict: layer '", name, "' has hook_state ", hook_state.repr(),
                 " (expected 'aggregate' or 'sparsify')");
    }
    attach.push_back(std::move(a));
  }

  // The hooks of the current layers go (PyTorch leaves them attached, and they would keep
  // aggregating into the loaded configs).
  for (const auto& [name, entry] : impl_->data_groups) remove_hook(entry.to_dict());
  impl_->state = state;
  impl_->data_groups = data_groups;
  impl_->defaults = defaults;
  for (Attach& a : attach) {
    RemovableHandle handle = a.sparsify ? a.layer->register_forward_pre_hook(a.sparsify)
                                        : a.layer->register_forward_pre_hook(std::move(a.aggregate));
    a.config.set("layer", Object(a.layer));
    a.config.set("hook", Object::handle(std::move(handle)));
  }
}

}  // namespace twig::ao
