// Sorting and order statistics: sort, argsort, topk (and topk_mask, its set), kthvalue. The kernels work along the last
// dim of contiguous tensors, so each op moves `dim` last, runs, and moves it back. The values' gradient goes back to
// the positions the indices name.
#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/autograd/ops/topk_mask.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// Runs a last-dim kernel on self with `dim` moved last; returns (values, indices) in self's
// layout with `dim` of size `out_len`. No autograd.
template <typename Kernel>
std::tuple<Tensor, Tensor> along_last(const Tensor& self, int64_t d, int64_t out_len, Kernel kernel) {
  Tensor x = self.detach();
  if (x.dim() == 0) x = x.view({1});
  Tensor in = x.movedim(d, -1).contiguous();
  Shape shape = in.sizes();
  shape.back() = out_len;
  Tensor values = detail::make_empty(shape, self.dtype(), self.device());
  Tensor indices = detail::make_empty(shape, kInt64, self.device());
  if (in.numel() > 0 && out_len > 0) kernel(values, indices, in);
  values = values.movedim(-1, d).contiguous();
  indices = indices.movedim(-1, d).contiguous();
  if (self.dim() == 0 && out_len == 1) return {values.view({}), indices.view({})};
  return {values, indices};
}

// values = self gathered at indices along d; the gradient scatters back through them.
void record_gather_like(const char* name, const Tensor& self, const Tensor& values, const Tensor& indices, int64_t d) {
  autograd::record(name, {self}, {values},
                   [s = self.sizes(), d, si = SavedTensor(indices)](const TensorList& g, const Node&) {
                     Tensor idx = si.get();
                     if (s.empty()) return TensorList{g[0].reshape({})};
                     return TensorList{zeros(s, g[0].options()).scatter_add(d, idx, g[0])};
                   });
}

}  // namespace

std::tuple<Tensor, Tensor> Tensor::sort(int64_t dim, bool descending, bool stable) const {
  detail::check_defined(*this, "sort");
  int64_t d = wrap_dim(dim, this->dim());
  int64_t len = this->dim() == 0 ? 1 : size(d);
  auto [values, indices] = along_last(*this, d, len, [&](const Tensor& v, const Tensor& i, const Tensor& in) {
    backend_for(device()).sort(v, i, in, descending, stable);
  });
  record_gather_like("SortBackward0", *this, values, indices, d);
  return {values, indices};
}

Tensor Tensor::argsort(int64_t dim, bool descending, bool stable) const {
  return std::get<1>(detach().sort(dim, descending, stable));
}

std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  detail::check_defined(*this, "topk");
  int64_t d = wrap_dim(dim, this->dim());
  int64_t len = this->dim() == 0 ? 1 : size(d);
  TWIG_CHECK(k >= 0 && k <= len, RuntimeError, "topk(): selected index k out of range (k = ", k, ", dimension ", d,
             " has size ", len, ")");
  auto [values, indices] = along_last(*this, d, k, [&](const Tensor& v, const Tensor& i, const Tensor& in) {
    backend_for(device()).topk(v, i, in, k, largest, sorted);
  });
  record_gather_like("TopkBackward0", *this, values, indices, d);
  return {values, indices};
}

Tensor topk_mask(const Tensor& a, int64_t k, bool largest) {
  detail::check_defined(a, "topk_mask");
  TWIG_CHECK(k >= 0 && k <= a.numel(), RuntimeError, "topk_mask(): selected index k out of range (k = ", k,
             ", the tensor has ", a.numel(), " elements)");
  Tensor in = a.detach().contiguous();
  Tensor mask = detail::make_empty(a.sizes(), kBool, a.device());
  backend_for(a.device()).topk_mask(mask, in, k, largest);
  return mask;
}

// The k-th smallest (1-based, NaN largest) along dim, by PyTorch's own quickselect so that equal
// values give the index PyTorch gives.
std::tuple<Tensor, Tensor> Tensor::kthvalue(int64_t k, int64_t dim, bool keepdim) const {
  detail::check_defined(*this, "kthvalue");
  int64_t d = wrap_dim(dim, this->dim());
  int64_t len = this->dim() == 0 ? 1 : size(d);
  TWIG_CHECK(numel() > 0, RuntimeError, "kthvalue(): cannot perform reduction function kthvalue on tensor of shape ",
             sizes(), " with no elements because the operation does not have an identity");
  TWIG_CHECK(k >= 1 && k <= len, RuntimeError, "kthvalue(): selected number k out of range for dimension ", d,
             " (k = ", k, ", size ", len, ")");
  auto [values, indices] = along_last(*this, d, 1, [&](const Tensor& v, const Tensor& i, const Tensor& in) {
    backend_for(device()).kthvalue(v, i, in, k);
  });
  record_gather_like("KthvalueBackward0", *this, values, indices, d);
  if (this->dim() == 0 || keepdim) return {values, indices};
  return {values.squeeze(d), indices.squeeze(d)};
}

}  // namespace twig
