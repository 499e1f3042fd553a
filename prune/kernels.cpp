// Mask computations in tensor ops (no raw memory, no threads): whatever backend holds the tensors
// runs them. The selections go through topk, whose CPU kernel picks what PyTorch's picks, ties
// included.
#include "twig/prune/kernels.h"

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/autograd/ops/topk_mask.h"
#include "twig/tensor/error.h"

namespace twig::prune::detail {

void zero_smallest_magnitudes(const Tensor& mask, const Tensor& t, int64_t k) {
  NoGradGuard no_grad;
  TWIG_INTERNAL_ASSERT(mask.is_contiguous() && mask.numel() == t.numel());
  if (k <= 0) return;
  // PyTorch: topk = torch.topk(torch.abs(t).view(-1), k=nparams_toprune, largest=False);
  //          mask.view(-1)[topk.indices] = 0
  // topk_mask is topk's set, which backends may find faster (the CPU one by radix selection).
  Tensor pruned = topk_mask(t.detach().abs(), k, /*largest=*/false);
  mask.masked_fill_(pruned.view(mask.sizes()), 0);
}

Tensor random_subset(int64_t n, int64_t k) {
  TWIG_INTERNAL_ASSERT(k >= 0 && k <= n);
  return randperm(n).narrow(0, 0, k);
}

void zero_at(const Tensor& mask, const Tensor& indices) {
  TWIG_INTERNAL_ASSERT(mask.is_contiguous());
  mask.view({-1}).index_fill_(0, indices.to(mask.device()), 0);
}

Tensor smallest_channels(const Tensor& values, int64_t k) {
  NoGradGuard no_grad;
  // PyTorch keeps torch.topk(norm, k=nparams_tokeep).indices; the others are pruned.
  Tensor kept = topk_mask(values.detach(), values.numel() - k, /*largest=*/true);
  return kept.logical_not().nonzero().view({-1});
}

Tensor channel_mask(const Tensor& t, int64_t dim, const Tensor& pruned, const Tensor& default_mask) {
  NoGradGuard no_grad;
  TWIG_INTERNAL_ASSERT(pruned.dim() == 1);
  // default_mask in t's dtype (broadcast to t's shape, when it has fewer dims or sizes of 1), the
  // pruned channels along dim zeroed.
  const Shape shape = broadcast_shapes(t.sizes(), default_mask.sizes());
  Tensor out = empty(shape, TensorOptions(t.dtype()).device(t.device()));
  out.copy_(default_mask.detach());
  const int64_t d = dim + static_cast<int64_t>(shape.size()) - t.dim();
  out.index_fill_(d, pruned.to(out.device()), 0);
  return out;
}

Tensor channel_norm(const Tensor& t, NormP n, int64_t dim) {
  NoGradGuard no_grad;
  Dims others;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d != dim) others.push_back(d);
  }
  return t.detach().norm(n.fro ? NormP(2) : n, others);
}

}  // namespace twig::prune::detail
