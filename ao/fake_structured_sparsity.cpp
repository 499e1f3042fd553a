#include "twig/ao/fake_structured_sparsity.h"

#include <utility>

#include "twig/autograd/grad_mode.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

#if defined(TWIG_HAS_SERIALIZE)
#include <nlohmann/json.hpp>

#include "twig/serialize/registry.h"
#endif

namespace twig::ao {

// ---- FakeStructuredSparsity --------------------------------------------------------------------

FakeStructuredSparsity::FakeStructuredSparsity(const Tensor& mask) : UnaryModule("FakeStructuredSparsity") {
  // Not persistent: PyTorch's FakeStructuredSparsity.state_dict() is empty.
  register_buffer("mask", mask, /*persistent=*/false);
}

Tensor FakeStructuredSparsity::forward(const Tensor& x) {
  Tensor m = mask();
  TWIG_CHECK(m.defined(), AssertionError, "FakeStructuredSparsity: the mask is not a tensor");
  TWIG_CHECK(m.dim() >= 1 && x.dim() >= 1 && m.size(0) == x.size(0), AssertionError,
             "FakeStructuredSparsity: mask of shape ", m.sizes(), " does not match the rows of a tensor of shape ",
             x.sizes());
  Shape shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = -1;
  return m.reshape(shape) * x;  // a new tensor: x is not modified
}

void FakeStructuredSparsity::set_mask(const Tensor& mask) {
  remove_buffer("mask");
  register_buffer("mask", mask, /*persistent=*/false);
}

nn::ModulePtr FakeStructuredSparsity::clone_instance() const { return std::make_shared<FakeStructuredSparsity>(*this); }

// ---- BiasHook ----------------------------------------------------------------------------------

namespace {

// The module's first FakeStructuredSparsity on `weight` (a hook loaded from a file or copied with
// its module finds its parametrization this way); null if none.
std::shared_ptr<FakeStructuredSparsity> weight_parametrization(const nn::Module& module) {
  if (!nn::is_parametrized(module, "weight")) return nullptr;
  auto list = nn::parametrizations_of(module, "weight");
  for (size_t i = 0; i < list->size(); ++i) {
    if (auto p = std::dynamic_pointer_cast<FakeStructuredSparsity>(list->at(i))) return p;
  }
  return nullptr;
}

}  // namespace

BiasHook::BiasHook(std::shared_ptr<FakeStructuredSparsity> parametrization, bool prune_bias)
    : param_(std::move(parametrization)), prune_bias_(prune_bias) {}

std::optional<nn::Value> BiasHook::operator()(nn::Module& module, const nn::Values& /*inputs*/,
                                              const nn::Value& output) {
  Tensor bias_param = module.get_or_undefined("_bias");
  if (!bias_param.defined()) return output;
  TWIG_CHECK(output.is_tensor(), TypeError, "BiasHook: the output of ", module.type_name(), " is a ", output.kind(),
             ", not a tensor");
  Tensor bias = bias_param.detach();  // Python's _bias.data: the same storage
  if (prune_bias_) {
    std::shared_ptr<FakeStructuredSparsity> p = param_ ? param_ : weight_parametrization(module);
    TWIG_CHECK(p != nullptr, RuntimeError, "BiasHook: ", module.type_name(),
               " has no FakeStructuredSparsity on its weight to take the mask from");
    NoGradGuard no_grad;
    bias.masked_fill_(p->mask().logical_not(), 0);  // permanent: _bias itself changes
  }
  Tensor out = output.tensor();
  Shape shape(static_cast<size_t>(out.dim()), 1);
  shape.at(0) = 1;
  shape.at(1) = -1;  // PyTorch's [1, -1, 1, ...]: the channel dim is 1
  out.add_(bias.reshape(shape));
  return nn::Value(out);
}

std::shared_ptr<nn::ForwardHook> BiasHook::clone_hook() const {
  // A deep-copied module has its own parametrization: the copy finds it on the module.
  return std::make_shared<BiasHook>(nullptr, prune_bias_);
}

#if defined(TWIG_HAS_SERIALIZE)
namespace {
// Whole-module files: FakeStructuredSparsity is rebuilt empty and given its saved (non-persistent)
// mask buffer by serialize/'s generic restore; BiasHook stores prune_bias and, once loaded, takes
// the mask from its module's weight parametrization.
const bool kRegistered = [] {
  serialize::detail::register_default_module("FakeStructuredSparsity", typeid(FakeStructuredSparsity), [] {
    return nn::ModulePtr(std::make_shared<FakeStructuredSparsity>(Tensor()));
  });
  serialize::register_forward_hook_type(
      "BiasHook", serialize::ForwardHookCodec{
                      [](const nn::ForwardHook& h, serialize::TensorWriter&) {
                        return serialize::json{{"prune_bias", dynamic_cast<const BiasHook&>(h).prune_bias()}};
                      },
                      [](const serialize::json& state, serialize::TensorReader&) -> std::shared_ptr<nn::ForwardHook> {
                        TWIG_CHECK(
                            state.is_object() && state.contains("prune_bias") && state.at("prune_bias").is_boolean(),
                            ValueError, "BiasHook: the stored state ", state.dump(), " has no boolean 'prune_bias'");
                        return std::make_shared<BiasHook>(nullptr, state.at("prune_bias").get<bool>());
                      }});
  return true;
}();
}  // namespace
#endif

}  // namespace twig::ao
