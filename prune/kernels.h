// Mask kernels behind the pruning methods (internal to prune/): selection of the k smallest
// magnitudes, random subsets, per-channel norms and channel masks, on raw contiguous data.
#pragma once

#include <cstdint>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig::prune::detail {

// Zeroes mask (contiguous, t's number of elements, any dtype) at the k entries of t with the
// smallest |value| (NaN counts as the largest): the entries torch.topk(abs(t).view(-1), k,
// largest=False) returns on CPU, among equal magnitudes too. 0 <= k <= t.numel().
void zero_smallest_magnitudes(const Tensor& mask, const Tensor& t, int64_t k);

// The flat positions where t == 1; t's elements at those positions (1-D); dst[positions] = values.
std::vector<int64_t> positions_equal_to_one(const Tensor& t);
Tensor gather_flat(const Tensor& t, const std::vector<int64_t>& positions);
void scatter_flat(const Tensor& dst, const std::vector<int64_t>& positions, const Tensor& values);

// k distinct indices of [0, n), uniformly at random from twig's default generator.
std::vector<int64_t> random_subset(int64_t n, int64_t k);

// Sets mask.view(-1)[indices] = 0 in place (mask contiguous, any dtype).
void zero_at(const Tensor& mask, const std::vector<int64_t>& indices);

// The k largest entries of a 1-D tensor's values (NaN largest; among equal values the ones
// torch.topk(values, k) returns on CPU), as keep flags of length values.numel(). 0 <= k <= numel.
std::vector<uint8_t> keep_largest(const Tensor& values, int64_t k);

// A new tensor of t's dtype and shape: default_mask (converted to t's dtype) where the channel
// along dim is kept, 0 elsewhere.
Tensor channel_mask(const Tensor& t, int64_t dim, const std::vector<uint8_t>& keep, const Tensor& default_mask);

// The L_n norm over every dim but dim (dim already wrapped); shape [t.size(dim)], t's dtype.
Tensor channel_norm(const Tensor& t, NormP n, int64_t dim);

}  // namespace twig::prune::detail
