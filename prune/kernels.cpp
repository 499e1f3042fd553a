// Mask computations in tensor ops (no raw memory, no threads): whatever backend holds the tensors
// runs them. The selections go through topk, whose CPU kernel picks what PyTorch's picks, ties
// included.
#include "twig/prune/kernels.h"

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/error.h"

namespace twig::prune::detail {

void zero_smallest_magnitudes(const Tensor& mask, const Tensor& t, int64_t k) {
  NoGradGuard no_grad;
  TWIG_INTERNAL_ASSERT(mask.is_contiguous() && mask.numel() == t.numel());
  if (k <= 0) return;
  // PyTorch: topk = torch.topk(torch.abs(t).view(-1), k=nparams_toprune, largest=False);
  //          mask.view(-1)[topk.indices] = 0
  Tensor magnitudes = t.detach().abs().reshape({-1});
  auto [values, indices] = magnitudes.topk(k, /*dim=*/0, /*largest=*/false, /*sorted=*/false);
  zero_at(mask, indices);
}

Tensor random_subset(int64_t n, int64_t k) {
  TWIG_INTERNAL_ASSERT(k >= 0 && k <= n);
  return randperm(n).narrow(0, 0, k);
}

void zero_at(const Tensor& mask, const Tensor& indices) {
  TWIG_INTERNAL_ASSERT(mask.is_contiguous());
  mask.view({-1}).index_fill_(0, indices.to(mask.device()), 0);
}

Tensor keep_largest(const Tensor& values, int64_t k) {
  NoGradGuard no_grad;
  Tensor v = values.detach();
  Tensor keep = zeros(v.sizes(), TensorOptions(kBool).device(v.device()));
  if (k <= 0) return keep;
  auto [top, indices] = v.topk(k, /*dim=*/0, /*largest=*/true, /*sorted=*/false);  // only the set matters
  keep.index_fill_(0, indices, true);
  return keep;
}

Tensor channel_mask(const Tensor& t, int64_t dim, const Tensor& keep, const Tensor& default_mask) {
  NoGradGuard no_grad;
  const int64_t channels = t.size(dim);
  TWIG_INTERNAL_ASSERT(keep.dim() == 1 && keep.numel() == channels);
  // The channel flags along dim, broadcast over the rest of t.
  Shape shape(static_cast<size_t>(t.dim()), 1);
  shape[static_cast<size_t>(dim)] = channels;
  Tensor flags = keep.to(kBool).view(shape).expand(t.sizes());
  return where(flags, default_mask.detach().to(t.dtype()), Scalar(0));
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
