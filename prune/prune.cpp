// torch.nn.utils.prune in twig: the methods, the container, apply/remove and the functions.
#include "twig/prune/prune.h"

#include <charconv>
#include <cmath>
#include <ostream>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/prune/kernels.h"
#include "twig/prune/patch.h"
#include "twig/tensor/shape.h"

namespace twig::prune {

// ---- Amount --------------------------------------------------------------------------------------

namespace {

[[noreturn]] void invalid_amount_type(const std::string& shown) {
  TWIG_THROW(TypeError, "Invalid type for amount: ", shown, ". Must be int or float.");
}

// Python's repr of a float: shortest round-trip digits, ".0" for integral values.
std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

Amount::Amount(const char* text) { invalid_amount_type(text ? text : "None"); }
Amount::Amount(const std::string& text) { invalid_amount_type(text); }

int64_t Amount::count() const {
  TWIG_CHECK(is_count_, TypeError, "amount ", str(), " is a fraction, not a count");
  return count_;
}

double Amount::fraction() const {
  TWIG_CHECK(!is_count_, TypeError, "amount ", str(), " is a count, not a fraction");
  return fraction_;
}

std::string Amount::str() const { return is_count_ ? std::to_string(count_) : py_float(fraction_); }

std::ostream& operator<<(std::ostream& os, const Amount& a) { return os << a.str(); }

// ---- validators ------------------------------------------------------------------------------------

void validate_pruning_amount_init(const Amount& amount) {
  const bool bad =
      amount.is_count() ? amount.count() < 0 : !(amount.fraction() >= 0.0 && amount.fraction() <= 1.0);  // NaN too
  TWIG_CHECK(!bad, ValueError, "amount=", amount.str(),
             " should either be a float in the range [0, 1] or a non-negative integer");
}

void validate_pruning_amount(const Amount& amount, int64_t tensor_size) {
  TWIG_CHECK(!(amount.is_count() && amount.count() > tensor_size), ValueError, "amount=", amount.str(),
             " should be smaller than the number of parameters to prune=", tensor_size);
}

void validate_structured_pruning(const Tensor& t) {
  TWIG_CHECK(t.dim() > 1, ValueError,
             "Structured pruning can only be applied to multidimensional tensors. Found tensor of shape ", t.sizes(),
             " with ", t.dim(), " dims");
}

void validate_pruning_dim(const Tensor& t, int64_t dim) {
  TWIG_CHECK(dim < t.dim() && dim >= -t.dim(), IndexError, "Invalid index ", dim, " for tensor of size ", t.sizes());
}

int64_t compute_nparams_toprune(const Amount& amount, int64_t tensor_size) {
  if (amount.is_count()) return amount.count();
  // Python's round(): halves go to the even neighbour, which is nearbyint's default mode.
  return static_cast<int64_t>(std::nearbyint(amount.fraction() * static_cast<double>(tensor_size)));
}

Tensor compute_norm(const Tensor& t, NormP n, int64_t dim) {
  validate_pruning_dim(t, dim);
  return detail::channel_norm(t, n, wrap_dim(dim, t.dim()));
}

// ---- BasePruningMethod -------------------------------------------------------------------------------

namespace {

std::string describe(const nn::Module& module) { return module.repr(); }

}  // namespace

Tensor BasePruningMethod::apply_mask(const nn::Module& module) const {
  TWIG_CHECK(!tensor_name.empty(), AssertionError, "Module ", describe(module), " has to be pruned");
  Tensor mask = module.get(tensor_name + "_mask");
  Tensor orig = module.get(tensor_name + "_orig");
  return mask.to(orig.dtype()) * orig;
}

Tensor BasePruningMethod::prune(const Tensor& t, const Tensor& default_mask, const Tensor& importance_scores) {
  Tensor scores = t;
  if (importance_scores.defined()) {
    TWIG_CHECK(importance_scores.sizes() == t.sizes(), AssertionError,
               "importance_scores should have the same shape as tensor t");
    scores = importance_scores;
  }
  Tensor dm = default_mask.defined() ? default_mask : ones_like(t);
  return t * compute_mask(scores, dm);
}

void BasePruningMethod::remove(nn::Module& module) {
  TWIG_CHECK(!tensor_name.empty(), AssertionError, "Module ", describe(module),
             " has to be pruned before pruning can be removed");
  Tensor weight = apply_mask(module);
  if (module.has(tensor_name)) module.delete_name(tensor_name);
  Tensor orig = module.remove_parameter(tensor_name + "_orig");
  orig.set_data(weight.detach());
  module.remove_buffer(tensor_name + "_mask");
  module.register_parameter(tensor_name, orig, orig.requires_grad());
}

std::optional<nn::Values> BasePruningMethod::operator()(nn::Module& module, const nn::Values&) {
  module.set_attribute(tensor_name, apply_mask(module));
  return std::nullopt;
}

PruningMethodPtr pruning_hook(const nn::Module& module, const std::string& name) {
  for (const auto& [id, hook] : module.forward_pre_hooks().items()) {
    auto method = std::dynamic_pointer_cast<BasePruningMethod>(hook);
    if (method && method->tensor_name == name) return method;
  }
  return nullptr;
}

PruningMethodPtr BasePruningMethod::apply(nn::Module& module, const std::string& name, PruningMethodPtr method,
                                          const Tensor& importance_scores) {
  TWIG_CHECK(method != nullptr, TypeError, "apply(): the pruning method is None");
  // The hook already pruning `name`, if any (at most one).
  auto& hooks = module.forward_pre_hooks();
  std::optional<uint64_t> old_id;
  PruningMethodPtr old_method;
  for (const auto& [id, hook] : hooks.items()) {
    auto m = std::dynamic_pointer_cast<BasePruningMethod>(hook);
    if (m && m->tensor_name == name) {
      TWIG_CHECK(!old_id, AssertionError, "Avoid adding multiple pruning hooks to the same tensor ", name,
                 " of module ", describe(module), ". Use a PruningContainer.");
      old_id = id;
      old_method = m;
    }
  }
  Tensor orig = module.get(name);  // AttributeError when absent, before anything changes
  Tensor scores = orig;
  if (importance_scores.defined()) {
    TWIG_CHECK(importance_scores.sizes() == orig.sizes(), AssertionError,
               "importance_scores should have the same shape as parameter ", name, " of ", describe(module));
    scores = importance_scores;
  }
  if (!old_method) {
    TWIG_CHECK(module.is_parameter(name), TypeError, "cannot prune '", name, "' of ", module.type_name(),
               ": only parameters can be pruned (it is not a registered parameter)");
  }

  // Combine with earlier pruning of `name`. A failure below undoes exactly this.
  method->tensor_name = name;
  PruningMethodPtr combined = method;
  std::shared_ptr<PruningContainer> grown;  // an existing container `method` was appended to
  if (old_method) {
    if (auto container = std::dynamic_pointer_cast<PruningContainer>(old_method)) {
      container->add_pruning_method(method);
      grown = container;
      combined = container;
    } else {
      auto fresh = std::make_shared<PruningContainer>(old_method);
      fresh->add_pruning_method(method);
      combined = fresh;
    }
  }

  // The mask first: compute_mask sees only tensors, so if it throws the module is untouched.
  Tensor mask;
  try {
    NoGradGuard no_grad;
    Tensor default_mask = old_method ? module.get(name + "_mask").detach().clone() : ones_like(orig);
    mask = combined->compute_mask(scores, default_mask);
  } catch (...) {
    if (grown) grown->pop_back();
    throw;
  }

  // Then the reparametrization.
  const std::string orig_name = name + "_orig", mask_name = name + "_mask";
  if (!old_method) {
    Tensor old_mask_none;
    try {
      module.register_parameter(orig_name, orig, orig.requires_grad());
      module.remove_parameter(name);
      module.register_buffer(mask_name, mask);
      module.set_attribute(name, combined->apply_mask(module));
      module.register_forward_pre_hook(combined);
    } catch (...) {
      if (module.is_attribute(name)) module.remove_attribute(name);
      if (module.is_buffer(mask_name)) module.remove_buffer(mask_name);
      if (!module.is_parameter(name)) module.register_parameter(name, orig, orig.requires_grad());
      if (module.is_parameter(orig_name)) module.remove_parameter(orig_name);
      throw;
    }
  } else {
    Tensor old_mask = module.get(mask_name);
    Tensor old_value = module.get(name);
    try {
      module.set_attribute(mask_name, mask);  // replaces the buffer's tensor
      module.set_attribute(name, combined->apply_mask(module));
      hooks.erase(*old_id);
      module.register_forward_pre_hook(combined);
    } catch (...) {
      module.set_attribute(mask_name, old_mask);
      module.set_attribute(name, old_value);
      hooks.items()[*old_id] = old_method;
      if (grown) grown->pop_back();
      throw;
    }
  }
  return combined;
}

// ---- PruningContainer ----------------------------------------------------------------------------------

PruningContainer::PruningContainer(PruningMethodPtr method) {
  TWIG_CHECK(method != nullptr, TypeError, "NoneType is not a BasePruningMethod subclass");
  tensor_name = method->tensor_name;
  add_pruning_method(std::move(method));
}

PruningContainer::PruningContainer(const std::vector<PruningMethodPtr>& methods) {
  if (!methods.empty() && methods.front()) tensor_name = methods.front()->tensor_name;
  for (const auto& m : methods) add_pruning_method(m);
}

void PruningContainer::add_pruning_method(PruningMethodPtr method) {
  TWIG_CHECK(method != nullptr, TypeError, "NoneType is not a BasePruningMethod subclass");
  TWIG_CHECK(method->tensor_name == tensor_name, ValueError,
             "Can only add pruning methods acting on the parameter named '", tensor_name,
             "' to PruningContainer. Found '", method->tensor_name, "'");
  methods_.push_back(std::move(method));
}

void PruningContainer::add_pruning_hook(const std::shared_ptr<nn::ForwardPreHook>& hook) {
  auto method = std::dynamic_pointer_cast<BasePruningMethod>(hook);
  TWIG_CHECK(method != nullptr, TypeError, "<class '", hook ? hook->type_name() : std::string("NoneType"),
             "'> is not a BasePruningMethod subclass");
  add_pruning_method(method);
}

const PruningMethodPtr& PruningContainer::operator[](int64_t index) const {
  const int64_t n = static_cast<int64_t>(methods_.size());
  int64_t i = index < 0 ? index + n : index;
  TWIG_CHECK(i >= 0 && i < n, IndexError, "tuple index out of range (index ", index, ", size ", n, ")");
  return methods_[static_cast<size_t>(i)];
}

PruningMethodPtr PruningContainer::pop_back() {
  TWIG_CHECK(!methods_.empty(), IndexError, "pop from an empty PruningContainer");
  PruningMethodPtr last = methods_.back();
  methods_.pop_back();
  return last;
}

PruningMethodPtr PruningContainer::clone_method() const {
  auto copy = std::make_shared<PruningContainer>();
  copy->tensor_name = tensor_name;
  for (const auto& m : methods_) copy->methods_.push_back(m->clone_method());
  return copy;
}

Tensor PruningContainer::compute_mask(const Tensor& t, const Tensor& default_mask) {
  TWIG_CHECK(!methods_.empty(), IndexError, "PruningContainer.compute_mask: the container holds no method");
  NoGradGuard no_grad;
  const PruningMethodPtr& method = methods_.back();
  const std::string type = method->pruning_type();
  TWIG_CHECK(default_mask.sizes() == t.sizes(), ValueError, "default_mask of shape ", default_mask.sizes(),
             " does not match the tensor's shape ", t.sizes());
  Tensor new_mask = default_mask.detach().to(t.dtype(), /*copy=*/true).contiguous();
  if (type == "unstructured") {
    // The entries still unpruned, flattened: slc = default_mask == 1; new_mask[slc] = compute_mask(t[slc], ...).
    Tensor slots = default_mask.detach() == 1;
    Tensor unpruned = t.detach().masked_select(slots);
    Tensor partial = method->compute_mask(unpruned, default_mask.detach().masked_select(slots));
    TWIG_CHECK(partial.numel() == unpruned.numel(), RuntimeError, "the pruning method returned ", partial.numel(),
               " mask values for ", unpruned.numel(), " unpruned entries");
    new_mask.index_put_({slots}, partial.detach().reshape({-1}).to(new_mask.dtype()));
  } else if (type == "structured") {
    std::optional<int64_t> dim = method->structured_dim();
    TWIG_CHECK(dim.has_value(), AttributeError,
               "Pruning methods of PRUNING_TYPE \"structured\" need to have the attribute `dim` defined.");
    const int64_t n_dims = t.dim();
    int64_t d = *dim < 0 ? *dim + n_dims : *dim;
    TWIG_CHECK(d >= 0 && d < n_dims, IndexError, "Index is out of bounds for tensor with dimensions ", n_dims);
    // The channels not entirely pruned yet.
    Tensor nonzero_channels;
    if (n_dims == 1) {
      nonzero_channels = default_mask != 0;
    } else {
      Dims others;
      for (int64_t k = 0; k < n_dims; ++k) {
        if (k != d) others.push_back(k);
      }
      nonzero_channels = default_mask.to(kFloat64).abs().sum(others) != 0;
    }
    Tensor channels = nonzero_channels.nonzero().view({-1});
    Tensor partial = method->compute_mask(t.detach().index_select(d, channels), default_mask.index_select(d, channels));
    new_mask.index_copy_(d, channels, partial.to(new_mask.dtype()));
  } else if (type == "global") {
    new_mask = method->compute_mask(t.detach(), default_mask).to(t.dtype(), /*copy=*/true);
  } else {
    TWIG_THROW(ValueError, "Unrecognized PRUNING_TYPE ", type);
  }
  return new_mask;
}

// ---- the methods -----------------------------------------------------------------------------------------

Tensor Identity::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(Identity))) {
    return (*patch)(t, default_mask);
  }
  return default_mask;
}

PruningMethodPtr Identity::apply(nn::Module& module, const std::string& name) {
  return BasePruningMethod::apply(module, name, std::make_shared<Identity>());
}

namespace {
// What both unstructured methods do first: how many entries to prune (validated against the
// tensor) and a copy of the default mask to prune them in.
std::pair<int64_t, Tensor> unstructured_start(const Amount& amount, const Tensor& t, const Tensor& default_mask) {
  const int64_t n = t.numel();
  const int64_t k = compute_nparams_toprune(amount, n);
  validate_pruning_amount(Amount(k), n);
  TWIG_CHECK(default_mask.numel() == n, ValueError, "default_mask has ", default_mask.numel(), " elements, the tensor ",
             n);
  return {k, default_mask.detach().clone()};
}
}  // namespace

RandomUnstructured::RandomUnstructured(Amount a) : amount(a) { validate_pruning_amount_init(amount); }

Tensor RandomUnstructured::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(RandomUnstructured))) {
    return (*patch)(t, default_mask);
  }
  auto [k, mask] = unstructured_start(amount, t, default_mask);
  if (k != 0) detail::zero_at(mask, detail::random_subset(t.numel(), k));
  return mask;
}

PruningMethodPtr RandomUnstructured::apply(nn::Module& module, const std::string& name, Amount amount) {
  return BasePruningMethod::apply(module, name, std::make_shared<RandomUnstructured>(amount));
}

L1Unstructured::L1Unstructured(Amount a) : amount(a) { validate_pruning_amount_init(amount); }

Tensor L1Unstructured::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(L1Unstructured))) {
    return (*patch)(t, default_mask);
  }
  auto [k, mask] = unstructured_start(amount, t, default_mask);
  if (k != 0) detail::zero_smallest_magnitudes(mask, t, k);
  return mask;
}

PruningMethodPtr L1Unstructured::apply(nn::Module& module, const std::string& name, Amount amount,
                                       const Tensor& importance_scores) {
  return BasePruningMethod::apply(module, name, std::make_shared<L1Unstructured>(amount), importance_scores);
}

RandomStructured::RandomStructured(Amount a, int64_t d) : amount(a), dim(d) { validate_pruning_amount_init(amount); }

Tensor RandomStructured::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(RandomStructured))) {
    return (*patch)(t, default_mask);
  }
  validate_structured_pruning(t);
  validate_pruning_dim(t, dim);
  const int64_t d = wrap_dim(dim, t.dim());
  const int64_t channels = t.size(d);
  const int64_t k = compute_nparams_toprune(amount, channels);
  validate_pruning_amount(Amount(k), channels);
  if (k == 0) return default_mask;
  return detail::channel_mask(t, d, detail::random_subset(channels, k), default_mask);
}

PruningMethodPtr RandomStructured::apply(nn::Module& module, const std::string& name, Amount amount, int64_t dim) {
  return BasePruningMethod::apply(module, name, std::make_shared<RandomStructured>(amount, dim));
}

LnStructured::LnStructured(Amount a, NormP norm, int64_t d) : amount(a), n(norm), dim(d) {
  validate_pruning_amount_init(amount);
}

Tensor LnStructured::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(LnStructured))) {
    return (*patch)(t, default_mask);
  }
  validate_structured_pruning(t);
  validate_pruning_dim(t, dim);
  const int64_t d = wrap_dim(dim, t.dim());
  const int64_t channels = t.size(d);
  const int64_t k = compute_nparams_toprune(amount, channels);
  validate_pruning_amount(Amount(k), channels);
  Tensor norm = detail::channel_norm(t, n, d);
  if (k == 0) return default_mask;
  return detail::channel_mask(t, d, detail::smallest_channels(norm, k), default_mask);
}

PruningMethodPtr LnStructured::apply(nn::Module& module, const std::string& name, Amount amount, NormP n, int64_t dim,
                                     const Tensor& importance_scores) {
  return BasePruningMethod::apply(module, name, std::make_shared<LnStructured>(amount, n, dim), importance_scores);
}

CustomFromMask::CustomFromMask(Tensor m) : mask(std::move(m)) {
  TWIG_CHECK(mask.defined(), TypeError, "CustomFromMask: the mask is None");
}

Tensor CustomFromMask::compute_mask(const Tensor& t, const Tensor& default_mask) {
  // prune/patch.h: a test may have replaced this method's compute_mask (mock.patch).
  if (const ComputeMaskFn* patch = detail::patched_compute_mask(typeid(CustomFromMask))) {
    return (*patch)(t, default_mask);
  }
  TWIG_CHECK(default_mask.sizes() == mask.sizes(), AssertionError, "CustomFromMask: default_mask of shape ",
             default_mask.sizes(), " does not match the mask's shape ", mask.sizes());
  NoGradGuard no_grad;
  return default_mask * mask.detach().to(default_mask.dtype());
}

PruningMethodPtr CustomFromMask::clone_method() const {
  auto copy = std::make_shared<CustomFromMask>(*this);
  copy->mask = mask.detach().clone();
  return copy;
}

PruningMethodPtr CustomFromMask::apply(nn::Module& module, const std::string& name, const Tensor& mask) {
  return BasePruningMethod::apply(module, name, std::make_shared<CustomFromMask>(mask));
}

// ---- functions ------------------------------------------------------------------------------------------

nn::Module& identity(nn::Module& module, const std::string& name) {
  Identity::apply(module, name);
  return module;
}

nn::Module& random_unstructured(nn::Module& module, const std::string& name, Amount amount) {
  RandomUnstructured::apply(module, name, amount);
  return module;
}

nn::Module& l1_unstructured(nn::Module& module, const std::string& name, Amount amount,
                            const Tensor& importance_scores) {
  L1Unstructured::apply(module, name, amount, importance_scores);
  return module;
}

nn::Module& random_structured(nn::Module& module, const std::string& name, Amount amount, int64_t dim) {
  RandomStructured::apply(module, name, amount, dim);
  return module;
}

nn::Module& ln_structured(nn::Module& module, const std::string& name, Amount amount, NormP n, int64_t dim,
                          const Tensor& importance_scores) {
  LnStructured::apply(module, name, amount, n, dim, importance_scores);
  return module;
}

nn::Module& custom_from_mask(nn::Module& module, const std::string& name, const Tensor& mask) {
  CustomFromMask::apply(module, name, mask);
  return module;
}

void global_unstructured(const std::vector<TensorRef>& parameters, const PruningMethodPtr& pruning_method,
                         const ImportanceScores& importance_scores) {
  TWIG_CHECK(pruning_method != nullptr, TypeError, "global_unstructured(): pruning_method is None");
  for (const auto& p : parameters) {
    TWIG_CHECK(p.module != nullptr, TypeError, "global_unstructured(): a parameter's module is None");
  }
  // A copy does the work: the caller's object keeps its tensor_name (Python builds a new method
  // from the class and its kwargs for every call).
  PruningMethodPtr method = pruning_method->clone_method();
  method->tensor_name = "temp";
  TWIG_CHECK(method->pruning_type() == "unstructured", TypeError,
             "Only \"unstructured\" PRUNING_TYPE supported for the `pruning_method`. Found method ",
             method->type_name(), " of type ", method->pruning_type());
  Tensor scores, default_mask;
  {
    NoGradGuard no_grad;
    TensorList score_parts, mask_parts;
    for (const auto& p : parameters) {
      Tensor value = p.module->get(p.name);
      auto it = importance_scores.find(p);
      Tensor s = it != importance_scores.end() ? it->second : value;
      score_parts.push_back(s.detach().reshape({-1}));
      Tensor m = p.module->has(p.name + "_mask") ? p.module->get(p.name + "_mask") : ones_like(value);
      mask_parts.push_back(m.detach().reshape({-1}));
    }
    if (parameters.empty()) return;
    scores = cat(score_parts);
    default_mask = cat(mask_parts);
  }
  PruningContainer container;
  container.tensor_name = "temp";
  container.add_pruning_method(method);
  Tensor final_mask = container.compute_mask(scores, default_mask);
  int64_t pointer = 0;
  for (const auto& p : parameters) {
    Tensor param = p.module->get(p.name);
    const int64_t numel = param.numel();
    Tensor param_mask = final_mask.slice(0, pointer, pointer + numel).view(param.sizes());
    custom_from_mask(*p.module, p.name, param_mask);
    pointer += numel;
  }
}

nn::Module& remove(nn::Module& module, const std::string& name) {
  auto& hooks = module.forward_pre_hooks();
  for (const auto& [id, hook] : hooks.items()) {
    auto method = std::dynamic_pointer_cast<BasePruningMethod>(hook);
    if (method && method->tensor_name == name) {
      method->remove(module);
      hooks.erase(id);
      return module;
    }
  }
  TWIG_THROW(ValueError, "Parameter '", name, "' of module ", describe(module),
             " has to be pruned before pruning can be removed");
}

bool is_pruned(const nn::Module& module) {
  for (const auto& [id, hook] : module.forward_pre_hooks().items()) {
    if (std::dynamic_pointer_cast<BasePruningMethod>(hook)) return true;
  }
  for (const auto& [name, child] : module.children_dict()) {
    if (child && is_pruned(*child)) return true;
  }
  return false;
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
PruningMethodPtr Identity::clone_method() const { return std::make_shared<Identity>(*this); }
PruningMethodPtr RandomUnstructured::clone_method() const { return std::make_shared<RandomUnstructured>(*this); }
PruningMethodPtr L1Unstructured::clone_method() const { return std::make_shared<L1Unstructured>(*this); }
PruningMethodPtr RandomStructured::clone_method() const { return std::make_shared<RandomStructured>(*this); }
PruningMethodPtr LnStructured::clone_method() const { return std::make_shared<LnStructured>(*this); }

}  // namespace twig::prune
