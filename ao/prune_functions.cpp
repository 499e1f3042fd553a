#include "twig/ao/prune_functions.h"

#include <string>
#include <vector>

#include "twig/ao/fake_structured_sparsity.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::ao {

using indexing::Slice;

namespace {

// ---- reading a prepared module -------------------------------------------------------------------

// The mask of the last FakeStructuredSparsity on module's `name` (PyTorch loops over the list and
// keeps the last one). ValueError when there is none.
Tensor structured_mask(const nn::Module& module, const std::string& name) {
  TWIG_CHECK(nn::is_parametrized(module, name), ValueError, module.type_name(), ": '", name,
             "' is not parametrized; structured pruning converts modules prepared by BaseStructuredSparsifier");
  auto list = nn::parametrizations_of(module, name);
  Tensor mask;
  for (size_t i = 0; i < list->size(); ++i) {
    if (auto p = std::dynamic_pointer_cast<FakeStructuredSparsity>(list->at(i))) mask = p->mask();
  }
  TWIG_CHECK(mask.defined(), ValueError, module.type_name(), ": '", name,
             "' has no FakeStructuredSparsity parametrization");
  TWIG_CHECK(mask.dtype() == kBool && mask.dim() == 1, ValueError, module.type_name(), ": the mask of '", name,
             "' must be a 1-D bool tensor, got ", dtype_name(mask.dtype()), " of shape ", mask.sizes());
  return mask;
}

// getattr(module, "prune_bias", False).
bool prune_bias_of(const nn::Module& module) {
  return module.has_object("prune_bias") && module.object("prune_bias").to_bool();
}

// getattr(module, name, None) for a tensor: undefined when absent or None.
Tensor tensor_or_undefined(const nn::Module& module, const std::string& name) {
  return module.has(name) ? module.get_or_undefined(name) : Tensor();
}

// The weight as stored: `parametrizations.weight.original` while masked, else `weight`.
Tensor stored_weight(const nn::Module& module) {
  if (nn::is_parametrized(module, "weight")) return nn::parametrizations_of(module, "weight")->original();
  return module.get("weight");
}

// PyTorch's `padding > (0, 0)` on a Conv2d (tuples compare lexicographically; with non-negative
// pads that is "any pad is positive"). padding="same" pads whenever a kernel extent exceeds 1.
bool is_padded(const nn::Conv2d& conv) {
  const auto& o = conv.options;
  for (int64_t p : o.padding_)
    if (p > 0) return true;
  if (o.padding_str_ == "same") {
    for (size_t d = 0; d < o.kernel_size_.size(); ++d)
      if (o.dilation_[d] * (o.kernel_size_[d] - 1) > 0) return true;
  }
  return false;
}

// ---- checks made before anything changes ----------------------------------------------------------

void check_groups(const nn::Conv2d& conv) {
  TWIG_CHECK(conv.options.groups_ == 1, ValueError,
             "structured pruning of a grouped Conv2d (groups=", conv.options.groups_, ") is not supported");
}

// The next layer must take exactly `columns` inputs (its stored weight's dim 1).
void check_columns(const nn::Module& next, int64_t columns, const nn::Module& head) {
  Tensor w = stored_weight(next);
  TWIG_CHECK(w.dim() >= 2 && w.size(1) == columns, ValueError, "cannot prune the input columns of ", next.type_name(),
             ": its weight has shape ", w.sizes(), " but the ", head.type_name(), " before it has ", columns,
             " masked rows");
}

// ---- building new parameters ---------------------------------------------------------------------

// nn.Parameter(t): a new leaf that requires grad.
Tensor parameter(const Tensor& t) {
  Tensor p = t.detach();
  if (is_floating(p.dtype())) p.requires_grad_(true);
  return p;
}

// Python's `module.name = nn.Parameter(t)`: replaces the parameter in place (its registration
// order kept), or registers it when `name` is not a parameter yet.
void set_parameter(nn::Module& module, const std::string& name, const Tensor& t) {
  if (module.is_parameter(name)) {
    module.set_attribute(name, parameter(t));
  } else {
    module.register_parameter(name, parameter(t));
  }
}

void delete_if_present(nn::Module& module, const std::string& name) {
  if (module.has(name)) module.delete_name(name);
}

// _remove_bias_handles: every BiasHook among the forward hooks.
void remove_bias_hooks(nn::Module& module) {
  std::vector<uint64_t> ids;
  for (const auto& [id, hook] : module.forward_hooks().items()) {
    if (dynamic_cast<const BiasHook*>(hook.get()) != nullptr) ids.push_back(id);
  }
  for (uint64_t id : ids) module.forward_hooks().erase(id);
}

// _prune_linear_helper / _prune_conv2d_helper: bakes the mask into the weight, keeps its rows and
// removes the BiasHooks. Returns the new row count.
int64_t prune_rows(nn::Module& module, const Tensor& mask) {
  NoGradGuard no_grad;
  nn::remove_parametrizations(module, "weight", /*leave_parametrized=*/true);
  set_parameter(module, "weight", module.get("weight").index({mask}));
  remove_bias_hooks(module);
  return module.get("weight").size(0);
}

// Cuts the input columns of `next` to `mask`: on `original` while it is masked (the row mask still
// broadcasts), else on the weight. Returns the new column count.
int64_t prune_columns(nn::Module& next, const Tensor& mask) {
  NoGradGuard no_grad;
  if (nn::is_parametrized(next, "weight")) {
    auto list = nn::parametrizations_of(next, "weight");
    list->set_original(parameter(list->original().index({Slice(), mask})));
    return list->original().size(1);
  }
  set_parameter(next, "weight", next.get("weight").index({Slice(), mask}));
  return next.get("weight").size(1);
}

// The bias a pruned head keeps for its kept rows. PyTorch's _prune_module_bias reads `_bias` and
// ignores a bias propagated into the module (which already includes `_bias`, spec §5.5); twig reads
// the propagated one when there is one, so the kept rows keep what reached them from upstream.
// Deletes `_bias`.
void prune_module_bias(nn::Module& module, const Tensor& mask) {
  NoGradGuard no_grad;
  Tensor propagated = tensor_or_undefined(module, "bias");
  Tensor original = propagated.defined() ? propagated : tensor_or_undefined(module, "_bias");
  if (original.defined()) set_parameter(module, "bias", original.index({mask}));
  delete_if_present(module, "_bias");
}

// _propagate_module_bias: the head's bias keeps its kept rows (the propagated bias, else `_bias`);
// returns `_bias` of the removed rows (undefined without `_bias`) and deletes `_bias`.
Tensor propagate_module_bias(nn::Module& module, const Tensor& mask) {
  NoGradGuard no_grad;
  Tensor bias = tensor_or_undefined(module, "bias");
  Tensor original = tensor_or_undefined(module, "_bias");
  if (bias.defined()) {
    set_parameter(module, "bias", bias.index({mask}));
  } else if (original.defined()) {
    set_parameter(module, "bias", original.index({mask}));
  }
  Tensor pruned = original.defined() ? original.index({~mask}) : Tensor();
  delete_if_present(module, "_bias");
  return pruned;
}

// _get_adjusted_next_layer_bias: what the removed rows' (activated) biases contributed to `next`,
// next_weight[:, ~mask] applied to them (summed over the kernel for a conv), plus next's own bias
// (`_bias` while it is masked, `bias` when it is not).
Tensor adjusted_next_layer_bias(const nn::Module& next, const Tensor& pruned_biases, const Tensor& mask) {
  NoGradGuard no_grad;
  Tensor scaling = stored_weight(next).index({Slice(), ~mask});  // (out, removed[, kh, kw])
  Tensor scaled;
  if (dynamic_cast<const nn::Conv2d*>(&next) != nullptr) {
    scaled = (scaling * pruned_biases.reshape({1, -1, 1, 1})).sum({1, 2, 3});
  } else if (dynamic_cast<const nn::Linear*>(&next) != nullptr) {
    scaled = matmul(pruned_biases, scaling.t());
  } else {
    TWIG_THROW(NotImplementedError, "Type ", next.type_name(), " not supported yet.");
  }
  const bool masked = nn::is_parametrized(next);
  Tensor own = masked ? tensor_or_undefined(next, "_bias") : tensor_or_undefined(next, "bias");
  return own.defined() ? scaled + own : scaled;
}

// After the head's rows are gone: with prune_bias its bias keeps the kept rows; otherwise the
// removed rows' biases go, through the activation, into next's bias. `expand` turns the removed
// biases and the mask into next's columns (flatten: each channel repeated).
void move_head_bias(nn::Module& head, const Tensor& mask, const Activation& activation, nn::Module& next,
                    const Tensor& next_mask, int64_t repeats) {
  if (prune_bias_of(head)) {
    prune_module_bias(head, mask);
    return;
  }
  Tensor pruned = propagate_module_bias(head, mask);
  if (!pruned.defined()) return;  // the head had no bias of its own: nothing to propagate
  NoGradGuard no_grad;
  if (activation) pruned = activation(pruned);
  if (repeats > 1) pruned = pruned.repeat_interleave(repeats);
  set_parameter(next, "bias", adjusted_next_layer_bias(next, pruned, next_mask));
}

// prune_linear / prune_conv2d: a head whose output is the model's output.
void prune_head_to_output(nn::Module& module) {
  Tensor mask = structured_mask(module, "weight");
  prune_rows(module, mask);
  // PyTorch prunes the bias only with prune_bias; without it, `bias` stays None (or a propagated
  // bias of the old length) and `_bias` stays, so the pruned layer loses its bias or fails to run.
  // twig keeps the kept rows' bias either way (spec §5.5, reported as a PyTorch bug).
  prune_module_bias(module, mask);
}

std::string layer_name(const char* base, int64_t k) { return std::string(base) + "_l" + std::to_string(k); }

}  // namespace

// ---- Linear ------------------------------------------------------------------------------------

void prune_linear(nn::Linear& linear) {
  prune_head_to_output(linear);
  linear.options.out_features_ = linear.weight().size(0);
}

void prune_linear_linear(nn::Linear& linear1, nn::Linear& linear2) {
  prune_linear_activation_linear(linear1, Activation(), linear2);
}

void prune_linear_activation_linear(nn::Linear& linear1, const Activation& activation, nn::Linear& linear2) {
  Tensor mask = structured_mask(linear1, "weight");
  check_columns(linear2, mask.size(0), linear1);
  linear1.options.out_features_ = prune_rows(linear1, mask);
  move_head_bias(linear1, mask, activation, linear2, mask, 1);
  linear2.options.in_features_ = prune_columns(linear2, mask);
}

// ---- Conv2d ------------------------------------------------------------------------------------

void prune_conv2d(nn::Conv2d& conv2d) {
  check_groups(conv2d);
  prune_head_to_output(conv2d);
  conv2d.options.out_channels_ = conv2d.weight().size(0);
}

void prune_conv2d_padded(nn::Conv2d& conv2d) {
  Tensor mask = structured_mask(conv2d, "weight");
  NoGradGuard no_grad;
  nn::remove_parametrizations(conv2d, "weight", /*leave_parametrized=*/true);
  Tensor original = tensor_or_undefined(conv2d, "_bias");
  Tensor bias = tensor_or_undefined(conv2d, "bias");
  if (original.defined()) {
    // With prune_bias, `_bias` of the removed rows is 0 only if a forward ran since the masks were
    // last set (the BiasHook zeroes it then), as in PyTorch: prune() traces without zeroing it.
    if (bias.defined()) {
      // Kept rows: the propagated bias (it includes `_bias`); removed rows: `_bias` alone.
      Tensor new_bias = zeros_like(bias);
      new_bias.index_put_({mask}, bias.index({mask}));
      new_bias.index_put_({~mask}, original.index({~mask}));
      set_parameter(conv2d, "bias", new_bias);
    } else {
      set_parameter(conv2d, "bias", original);
    }
  } else if (bias.defined()) {
    bias.index_put_({~mask}, 0.0);  // only a propagated bias: removed rows give 0, as when masked
  }
  delete_if_present(conv2d, "_bias");
}

void prune_conv2d_conv2d(nn::Conv2d& conv2d_1, nn::Conv2d& conv2d_2) {
  prune_conv2d_activation_conv2d(conv2d_1, Activation(), conv2d_2);
}

void prune_conv2d_activation_conv2d(nn::Conv2d& conv2d_1, const Activation& activation, nn::Conv2d& conv2d_2) {
  Tensor mask = structured_mask(conv2d_1, "weight");
  const bool padded = is_padded(conv2d_2);
  const bool has_bias =
      tensor_or_undefined(conv2d_1, "bias").defined() || tensor_or_undefined(conv2d_1, "_bias").defined();
  if (padded && has_bias) {
    // The removed channels' biases would reach conv2d_2's border through its zero padding only
    // partly, so nothing is propagated and nothing shrinks.
    prune_conv2d_padded(conv2d_1);
    return;
  }
  check_groups(conv2d_1);
  check_groups(conv2d_2);
  check_columns(conv2d_2, mask.size(0), conv2d_1);
  conv2d_1.options.out_channels_ = prune_rows(conv2d_1, mask);
  move_head_bias(conv2d_1, mask, activation, conv2d_2, mask, 1);
  // PyTorch cuts conv2d_2's columns when it is unpadded or conv2d_1 has no bias now; on this route
  // one of the two always holds (a padded conv2d_2 means conv2d_1 had no bias at all).
  conv2d_2.options.in_channels_ = prune_columns(conv2d_2, mask);
}

void prune_conv2d_pool_activation_conv2d(nn::Conv2d& conv2d_1, const Activation& /*pool*/, const Activation& activation,
                                         nn::Conv2d& conv2d_2) {
  prune_conv2d_activation_conv2d(conv2d_1, activation, conv2d_2);
}

void prune_conv2d_activation_pool_conv2d(nn::Conv2d& conv2d_1, const Activation& activation, const Activation& /*pool*/,
                                         nn::Conv2d& conv2d_2) {
  prune_conv2d_activation_conv2d(conv2d_1, activation, conv2d_2);
}

void prune_conv2d_pool_flatten_linear(nn::Conv2d& conv2d, const Activation& pool, const Activation& flatten,
                                      nn::Linear& linear) {
  prune_conv2d_activation_pool_flatten_linear(conv2d, Activation(), pool, flatten, linear);
}

void prune_conv2d_activation_pool_flatten_linear(nn::Conv2d& conv2d, const Activation& activation,
                                                 const Activation& /*pool*/, const Activation& /*flatten*/,
                                                 nn::Linear& linear) {
  Tensor mask = structured_mask(conv2d, "weight");
  check_groups(conv2d);
  const int64_t linear_ic = stored_weight(linear).size(1), conv2d_oc = mask.size(0);
  TWIG_CHECK(linear_ic % conv2d_oc == 0, AssertionError, "Flattening from dimensions ", conv2d_oc, " to ", linear_ic,
             " not supported");
  const int64_t scale = linear_ic / conv2d_oc;
  // Channel-major flatten: channel c owns columns [c·scale, (c+1)·scale).
  Tensor flat_mask = mask.repeat_interleave(scale);
  conv2d.options.out_channels_ = prune_rows(conv2d, mask);
  // PyTorch fails here (iterating None) when the conv has no bias and no prune_bias; twig has
  // nothing to propagate then.
  move_head_bias(conv2d, mask, activation, linear, flat_mask, scale);
  linear.options.in_features_ = prune_columns(linear, flat_mask);
}

// ---- LSTM --------------------------------------------------------------------------------------

void prune_lstm_output_linear(nn::LSTM& lstm, const Activation& getitem, nn::Linear& linear) {
  prune_lstm_output_layernorm_linear(lstm, getitem, nullptr, linear);
}

namespace {

// PyTorch reads the first parametrization's mask of an LSTM weight.
Tensor first_mask(const nn::LSTM& lstm, const std::string& name) {
  auto p = std::dynamic_pointer_cast<FakeStructuredSparsity>(nn::parametrizations_of(lstm, name)->at(0));
  TWIG_CHECK(p != nullptr, ValueError, "LSTM: the first parametrization of '", name,
             "' is not a FakeStructuredSparsity");
  return p->mask();
}

// A pruned LSTM must still run: one hidden_size for every layer. So every layer needs both
// weights masked, and every gate of every layer must keep the same number of units. PyTorch
// checks none of this and leaves a model that fails at its next forward.
void check_lstm(const nn::LSTM& lstm, const nn::Linear& linear, const nn::LayerNorm* layernorm) {
  const int64_t layers = lstm.options.num_layers_, h = lstm.options.hidden_size_;
  TWIG_CHECK(!lstm.options.bidirectional_ && lstm.options.proj_size_ == 0, ValueError,
             "structured pruning of a bidirectional or projected LSTM is not supported");
  int64_t kept = -1;
  for (int64_t k = 0; k < layers; ++k) {
    for (const char* base : {"weight_ih", "weight_hh"}) {
      const std::string name = layer_name(base, k);
      TWIG_CHECK(nn::is_parametrized(lstm, name), ValueError, "LSTM structured pruning needs every layer's weight_ih ",
                 "and weight_hh masked (one hidden_size for all layers): '", name, "' is not");
      Tensor mask = first_mask(lstm, name);
      TWIG_CHECK(mask.dtype() == kBool && mask.dim() == 1 && mask.size(0) == 4 * h, ValueError, "LSTM: the mask of '",
                 name, "' must be a bool vector of length ", 4 * h, ", got ", dtype_name(mask.dtype()), " of shape ",
                 mask.sizes());
      for (int64_t g = 0; g < 4; ++g) {
        const int64_t n = mask.narrow(0, g * h, h).sum().item<int64_t>();
        if (kept < 0) kept = n;
        TWIG_CHECK(n == kept, ValueError, "LSTM: every gate of every layer must keep the same number of units; gate ",
                   g, " of '", name, "' keeps ", n, ", another keeps ", kept);
      }
    }
  }
  TWIG_CHECK(kept > 0, ValueError, "LSTM: the masks remove every hidden unit");
  check_columns(linear, h, lstm);
  if (layernorm != nullptr) {
    TWIG_CHECK(layernorm->normalized_shape == std::vector<int64_t>{h}, ValueError,
               "LayerNorm after the LSTM must normalize over its ", h, " hidden units, got normalized_shape ",
               Shape(layernorm->normalized_shape.begin(), layernorm->normalized_shape.end()));
  }
}

}  // namespace

void prune_lstm_output_layernorm_linear(nn::LSTM& lstm, const Activation& /*getitem*/, nn::LayerNorm* layernorm,
                                        nn::Linear& linear) {
  check_lstm(lstm, linear, layernorm);
  const int64_t layers = lstm.options.num_layers_, h = lstm.options.hidden_size_;
  const bool has_bias = lstm.options.bias_;
  NoGradGuard no_grad;
  for (int64_t k = 0; k < layers; ++k) {
    // Input-hidden: the masked rows of the weight and of bias_ih.
    const std::string w_ih = layer_name("weight_ih", k), b_ih = layer_name("bias_ih", k);
    Tensor mask_ih = first_mask(lstm, w_ih);
    nn::remove_parametrizations(lstm, w_ih, /*leave_parametrized=*/true);
    set_parameter(lstm, w_ih, lstm.get(w_ih).index({mask_ih}));
    if (has_bias) set_parameter(lstm, b_ih, lstm.get(b_ih).index({mask_ih}));

    // Hidden-hidden: per gate block, that gate's rows and columns.
    const std::string w_hh = layer_name("weight_hh", k), b_hh = layer_name("bias_hh", k);
    Tensor mask_hh = first_mask(lstm, w_hh);
    nn::remove_parametrizations(lstm, w_hh, /*leave_parametrized=*/true);
    Tensor weight = lstm.get(w_hh);  // (4H, H)
    TensorList blocks;
    std::vector<Tensor> gate_masks;
    for (int64_t g = 0; g < 4; ++g) {
      Tensor m = mask_hh.narrow(0, g * h, h);
      gate_masks.push_back(m);
      blocks.push_back(weight.narrow(0, g * h, h).index({m}).index({Slice(), m}));
    }
    set_parameter(lstm, w_hh, cat(blocks, 0));
    if (has_bias) set_parameter(lstm, b_hh, lstm.get(b_hh).index({mask_hh}));
    const Tensor& m_i = gate_masks[0];
    const Tensor& m_o = gate_masks[3];

    if (k + 1 == layers) {
      lstm.options.hidden_size_ = m_i.sum().item<int64_t>();
      linear.options.in_features_ = prune_columns(linear, m_o);
      if (layernorm != nullptr) {
        layernorm->normalized_shape = {linear.options.in_features_};
        for (const char* name : {"weight", "bias"}) {
          Tensor t = tensor_or_undefined(*layernorm, name);
          if (t.defined()) set_parameter(*layernorm, name, t.index({m_o}));
        }
      }
    } else {
      const std::string next = layer_name("weight_ih", k + 1);
      auto list = nn::parametrizations_of(lstm, next);  // checked above: masked
      list->set_original(parameter(list->original().index({Slice(), m_o})));
    }
  }
}

}  // namespace twig::ao
