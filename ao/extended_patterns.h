// An opt-in second pattern table for BaseStructuredSparsifier::prune(): PyTorch's table
// (default_patterns(), unchanged, in its order) followed by the patterns a LeNet- or VGG-style
// model needs that PyTorch's lacks, so such a model shrinks end to end:
//
//   (Conv2d, [A], [P], F, Linear) and (Conv2d, P, A, F, Linear)
//       the classifier's entry: prune_conv2d_activation_pool_flatten_linear. [ ] = may be absent;
//   (Linear, A, output)   prune_linear  (the kept outputs are the masked model's kept outputs);
//   (Conv2d, A, output)   prune_conv2d  (likewise),
//
// for A each activation of PyTorch's table (its 21 functions and 21 modules), P in {AvgPool2d,
// avg_pool2d, MaxPool2d, max_pool2d, AdaptiveAvgPool2d, adaptive_avg_pool2d, AdaptiveMaxPool2d,
// adaptive_max_pool2d} and F in {Flatten, flatten}. Patterns already in PyTorch's table keep its
// function. With LeNet-5 (conv1 -> relu -> max_pool -> conv2 -> relu -> max_pool -> flatten -> fc1
// -> relu -> fc2 -> relu -> fc3): conv1 matches PyTorch's (Conv2d, A, P, Conv2d), conv2 the new
// (Conv2d, A, P, F, Linear), fc1 and fc2 PyTorch's (Linear, A, Linear).
//
// The flatten patterns check the traced shapes before anything changes: the flatten's input must
// be (N, C, H, W) with C the conv's out_channels, its output (N, C*H*W) and the Linear's
// in_features C*H*W; channel c then owns the Linear's columns c*H*W .. (c+1)*H*W - 1 (ValueError
// naming the shapes otherwise).
//
// Where the shrunk model differs from the masked one (as for PyTorch's own patterns, spec §5.5):
// with prune_bias and act(0) != 0 (sigmoid, ...) the removed channels' act(0) no longer reaches
// the Linear; without prune_bias, an AvgPool2d with padding and count_include_pad (or a
// divisor_override) does not pass a removed channel's constant bias map on as a constant, so its
// border windows differ. Every other case is exact (tests/ao/test_extended_patterns.cpp).
#pragma once

#include "twig/ao/base_structured_sparsifier.h"

namespace twig::ao {

PatternTable extended_patterns();

}  // namespace twig::ao
