// The conversion functions of torch.ao.pruning._experimental.pruner (prune_functions.py): each
// takes modules prepared by BaseStructuredSparsifier (weight parametrized with a
// FakeStructuredSparsity row mask; `_bias` and `bias = None` on modules that had a bias, the
// `prune_bias` object attribute on those; a BiasHook on every Linear/Conv2d) and physically
// shrinks them: the masked rows of the head module go, and the next module loses the matching
// input columns. New parameter tensors replace the old ones; in/out_features, in/out_channels
// and LSTM hidden_size follow the new shapes, so repr and forward agree.
//
// PyTorch's rules, kept exactly (../shared/spec/pytorch_pruning_facts.md §5.5):
// - the head's parametrization is removed with leave_parametrized, then the kept rows are taken;
//   its BiasHooks are removed;
// - with prune_bias (the attribute, False when absent) the head keeps `_bias[mask]` as its bias;
//   otherwise the biases of the removed rows are propagated: the activation (if any) is applied
//   to them, and the next layer's bias becomes next_weight[:, ~mask] · act(b_removed) plus its own
//   (`_bias` if it is masked, `bias` if not). This is exact when the next layer is a Linear or an
//   unpadded Conv2d and nothing but the activation sits in between (pools are ignored);
// - the next layer's columns are cut on `parametrizations.weight.original` while it is still
//   masked (the row mask still broadcasts);
// - Conv2d -> (activation) -> padded Conv2d, with a bias on the head: the padded route. Nothing
//   shrinks: the masked rows become zero weights and the bias is rebuilt (see prune_conv2d_padded),
//   the next conv is untouched and the head's BiasHooks stay (they become no-ops).
//
// Where PyTorch's functions break the model, twig does what the masked model computes (each is
// tested; none is exercised by PyTorch's own tests):
// - prune_linear / prune_conv2d without prune_bias leave `bias` None (or a propagated bias of the
//   old length) and `_bias` in place: the layer loses its bias or cannot run. twig gives the kept
//   rows their bias (the propagated one, else `_bias`) in both settings and deletes `_bias`.
// - _prune_module_bias reads `_bias` even when a bias was propagated into the module (that one
//   already includes `_bias`); twig keeps the propagated one.
// - prune_conv2d_pool_flatten_linear on a conv without a bias and without prune_bias fails in
//   PyTorch (it iterates None); twig has nothing to propagate then.
// - the LSTM function checks the masks first (every layer's weight_ih and weight_hh masked, every
//   gate keeping the same count), where PyTorch leaves a model that fails at its next forward.
//
// Arguments that PyTorch accepts and ignores (the pool, flatten and getitem nodes) are kept for
// the same signatures; `Activation` is any function on one tensor, empty for none.
//
// A failed check (a module that is not prepared, a next layer whose columns do not match the mask,
// a flatten size that does not divide, a grouped conv that would shrink) throws ValueError (the
// flatten one AssertionError, as PyTorch) before anything changes.
#pragma once

#include <functional>

#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/normalization.h"
#include "twig/nn/rnn.h"

namespace twig::ao {

// An activation (or any other one-tensor op) applied to the propagated biases; empty = none.
using Activation = std::function<Tensor(const Tensor&)>;

// ---- Linear ------------------------------------------------------------------------------------
// Linear -> output: rows removed, the bias keeps the kept rows.
void prune_linear(nn::Linear& linear);
void prune_linear_linear(nn::Linear& linear1, nn::Linear& linear2);
void prune_linear_activation_linear(nn::Linear& linear1, const Activation& activation, nn::Linear& linear2);

// ---- Conv2d ------------------------------------------------------------------------------------
void prune_conv2d(nn::Conv2d& conv2d);
// The padded route: removes conv2d's parametrization (masked rows stay, as zeros) and rebuilds its
// bias: propagated bias on kept rows, `_bias` on removed ones; `_bias` alone when nothing was
// propagated; a propagated bias alone gets zeros on the removed rows. Deletes `_bias`. As in
// PyTorch, with prune_bias the removed rows' `_bias` is zero only if a forward ran since the masks
// were set (the BiasHook zeroes it in place); otherwise the removed channels keep their bias.
void prune_conv2d_padded(nn::Conv2d& conv2d);
void prune_conv2d_conv2d(nn::Conv2d& conv2d_1, nn::Conv2d& conv2d_2);
void prune_conv2d_activation_conv2d(nn::Conv2d& conv2d_1, const Activation& activation, nn::Conv2d& conv2d_2);
// The pool is ignored, as in PyTorch (bias propagation through a pool is not exact).
void prune_conv2d_pool_activation_conv2d(nn::Conv2d& conv2d_1, const Activation& pool, const Activation& activation,
                                         nn::Conv2d& conv2d_2);
void prune_conv2d_activation_pool_conv2d(nn::Conv2d& conv2d_1, const Activation& activation, const Activation& pool,
                                         nn::Conv2d& conv2d_2);
// Conv2d -> adaptive pool -> flatten -> Linear: the linear's columns come in blocks of
// in_features / out_channels per channel (ValueError naming both when that does not divide;
// PyTorch raises AssertionError). Without prune_bias the conv must have had a bias.
void prune_conv2d_pool_flatten_linear(nn::Conv2d& conv2d, const Activation& pool, const Activation& flatten,
                                      nn::Linear& linear);
// twig's addition, for ao::extended_patterns(): Conv2d -> activation -> pool -> flatten -> Linear
// (LeNet's conv2 -> relu -> max_pool2d -> flatten -> fc1). As above, with the activation applied to
// the propagated biases (empty: none). The pool is ignored: a removed channel's map is the constant
// act(bias), and a max or adaptive pool, or an average pool without padding counted in the divisor,
// keeps a constant map constant, so the propagation is exact there; an AvgPool2d with padding and
// count_include_pad (or a divisor_override) is not exact at the border windows. The linear's
// columns come in blocks of in_features / out_channels per channel, which is the pooled H*W when
// flatten(1) produced its input (ao::extended_patterns() checks that on the traced shapes).
void prune_conv2d_activation_pool_flatten_linear(nn::Conv2d& conv2d, const Activation& activation,
                                                 const Activation& pool, const Activation& flatten, nn::Linear& linear);

// ---- LSTM --------------------------------------------------------------------------------------
// For every layer k whose weight_ih_l{k} / weight_hh_l{k} is masked: weight_ih and bias_ih keep
// the masked rows; weight_hh keeps, per gate block (i, f, g, o), that gate's rows AND columns
// (its own mask), bias_hh the masked rows. hidden_size becomes the input gate's kept count. The
// output gate's mask cuts the columns of weight_ih_l{k+1}, or of the linear after the last layer
// (and a LayerNorm's normalized_shape, weight and bias). The pruned model equals the masked one
// for a sequence of length 1 from a zero state only: the masked model's removed units still run
// on their (never masked) biases and feed the kept ones from the second step on.
void prune_lstm_output_linear(nn::LSTM& lstm, const Activation& getitem, nn::Linear& linear);
// layernorm may be null (that is prune_lstm_output_linear).
void prune_lstm_output_layernorm_linear(nn::LSTM& lstm, const Activation& getitem, nn::LayerNorm* layernorm,
                                        nn::Linear& linear);

}  // namespace twig::ao
