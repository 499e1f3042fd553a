// topk_mask: the set topk selects, as a mask. Kept out of ops.h so that the many files including
// the op API do not depend on it; prune/ (its one user) includes it.
#pragma once

#include <cstdint>

#include "twig/tensor/tensor.h"

namespace twig {

// A bool tensor of a's shape, true at the k elements that topk(a.flatten(), k, 0, largest) returns
// (equal values resolved as topk resolves them). Not differentiable. What pruning needs; a backend
// may find the set faster than topk (no values, no order): Backend::topk_mask.
Tensor topk_mask(const Tensor& a, int64_t k, bool largest = true);

}  // namespace twig
