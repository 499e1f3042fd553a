// The mask computations behind the pruning methods (internal to prune/), written in tensor ops so
// that they run on any backend: selection of the k smallest magnitudes, random subsets, per-channel
// norms and channel masks. The selections are the tensor ops' (topk), which pick what PyTorch's CPU
// kernels pick, ties included (tensor/cpu/selection.h).
#pragma once

#include <cstdint>

#include "twig/tensor/tensor.h"

namespace twig::prune::detail {

// Zeroes mask (contiguous, t's number of elements, any dtype) at the k entries of t with the
// smallest |value| (NaN counts as the largest): the entries torch.topk(abs(t).view(-1), k,
// largest=False) returns, among equal magnitudes too. 0 <= k <= t.numel().
void zero_smallest_magnitudes(const Tensor& mask, const Tensor& t, int64_t k);

// k distinct indices of [0, n) (int64, 1-D, on the CPU), uniformly at random from twig's default
// generator: the first k of a random permutation.
Tensor random_subset(int64_t n, int64_t k);

// Sets mask.view(-1)[indices] = 0 in place (mask contiguous, any dtype; indices int64).
void zero_at(const Tensor& mask, const Tensor& indices);

// The k channels to prune by their norms (1-D values): the positions that are not among the
// numel - k that torch.topk(values, numel - k) keeps (NaN largest, equal values resolved as topk
// resolves them), ascending, int64. 0 <= k <= numel.
Tensor smallest_channels(const Tensor& values, int64_t k);

// A new tensor of t's dtype and shape (broadcast with default_mask's): default_mask (converted to
// t's dtype) with the channels along dim that pruned (int64, 1-D) names set to 0.
Tensor channel_mask(const Tensor& t, int64_t dim, const Tensor& pruned, const Tensor& default_mask);

// The L_n norm over every dim but dim (dim already wrapped); shape [t.size(dim)], t's dtype.
Tensor channel_norm(const Tensor& t, NormP n, int64_t dim);

}  // namespace twig::prune::detail
