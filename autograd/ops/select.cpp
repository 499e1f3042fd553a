// Index-based selection and writes: index_select, gather, scatter_add, index_add_/copy_/fill_,
// masked_fill/masked_select and nonzero.
#include "twig/autograd/function.h"
#include "twig/autograd/ops/inplace.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// index must be a 1-D (or 0-d) int64 tensor whose values lie in [-size, size); returns it with
// negative values wrapped.
Tensor checked_index(const Tensor& index, int64_t size, const char* op) {
  detail::check_defined(index, op);
  TWIG_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, IndexError, op,
             "(): Expected dtype int64 for index, got ", dtype_name(index.dtype()));
  TWIG_CHECK(index.dim() <= 1, IndexError, op, "(): Index is supposed to be a vector, got shape ", index.sizes());
  Tensor idx = index.to(kInt64).contiguous().view({index.numel()});
  if (idx.numel() == 0) return idx;
  Tensor cpu = idx.device().is_cpu() ? idx : idx.cpu();
  const int64_t* p = cpu.data_ptr<int64_t>();
  bool negative = false;
  const int64_t n = cpu.numel();
  for (int64_t i = 0; i < n; ++i) {
    TWIG_CHECK(p[i] >= -size && p[i] < size, IndexError, op, "(): index ", p[i],
               " is out of bounds for dimension with size ", size);
    negative = negative || p[i] < 0;
  }
  if (!negative) return idx;
  return where(idx < 0, idx + size, idx);
}

// gather/scatter: index has src's rank, and index.size(d) <= src.size(d) for d != dim.
void check_gather_index(const Tensor& self, int64_t dim, const Tensor& index, const char* op) {
  detail::check_defined(index, op);
  TWIG_CHECK(index.dtype() == kInt64, RuntimeError, op, "(): Expected dtype int64 for index, got ",
             dtype_name(index.dtype()));
  TWIG_CHECK(index.dim() == self.dim() || (self.dim() == 0 && index.dim() <= 1), RuntimeError, op,
             "(): Index tensor must have the same number of dimensions as input tensor (", index.dim(), " vs ",
             self.dim(), ")");
  for (int64_t d = 0; d < index.dim(); ++d) {
    if (d == dim) continue;
    TWIG_CHECK(index.size(d) <= self.size(d), RuntimeError, op, "(): Size does not match at dimension ", d,
               " expected index ", index.sizes(), " to be smaller than self ", self.sizes(), " apart from dimension ",
               dim);
  }
  if (index.numel() == 0) return;
  Tensor mn = index.amin({}), mx = index.amax({});
  int64_t size = self.dim() == 0 ? 1 : self.size(dim);
  TWIG_CHECK(mn.item<int64_t>() >= 0 && mx.item<int64_t>() < size, RuntimeError, op, "(): index ",
             mn.item<int64_t>() < 0 ? mn.item<int64_t>() : mx.item<int64_t>(), " is out of bounds for dimension ", dim,
             " with size ", size);
}

}  // namespace

Tensor Tensor::index_select(int64_t dim, const Tensor& index) const {
  detail::check_defined(*this, "index_select");
  int64_t d = wrap_dim(dim, this->dim());
  if (this->dim() == 0) return view({1}).index_select(0, index).view(index.dim() == 0 ? Shape{} : Shape{index.numel()});
  Tensor idx = checked_index(index, size(d), "index_select");
  Shape shape = sizes();
  shape[d] = idx.numel();
  Tensor out = detail::make_empty(shape, dtype(), device());
  // On 1-D input each selected slice is one element: the gather kernel's tight loop beats a
  // slice copy per index (masks select this way).
  if (this->dim() == 1) {
    backend_for(device()).gather(out, *this, 0, idx);
  } else {
    backend_for(device()).index_select(out, *this, d, idx);
  }
  autograd::record("IndexSelectBackward0", {*this}, {out}, [s = sizes(), d, idx](const TensorList& g, const Node&) {
    Tensor z = zeros(s, g[0].options());
    z.index_add_(d, idx, g[0]);
    return TensorList{z};
  });
  return out;
}

Tensor Tensor::gather(int64_t dim, const Tensor& index) const {
  detail::check_defined(*this, "gather");
  int64_t d = wrap_dim(dim, this->dim());
  check_gather_index(*this, d, index, "gather");
  Tensor out = detail::make_empty(index.sizes(), dtype(), device());
  if (index.numel() > 0) backend_for(device()).gather(out, *this, d, index);
  autograd::record("GatherBackward0", {*this}, {out},
                   [s = sizes(), d, si = SavedTensor(index)](const TensorList& g, const Node&) {
                     return TensorList{zeros(s, g[0].options()).scatter_add(d, si.get(), g[0])};
                   });
  return out;
}

Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  detail::check_defined(*this, "scatter_add");
  detail::check_defined(src, "scatter_add");
  int64_t d = wrap_dim(dim, this->dim());
  check_gather_index(*this, d, index, "scatter_add");
  TWIG_CHECK(src.dtype() == dtype(), RuntimeError, "scatter_add(): Expected self.dtype to be equal to src.dtype (",
             dtype_name(dtype()), " vs ", dtype_name(src.dtype()), ")");
  for (int64_t k = 0; k < index.dim(); ++k) {
    TWIG_CHECK(index.size(k) <= src.size(k), RuntimeError, "scatter_add(): index ", index.sizes(),
               " must not be larger than src ", src.sizes(), " in any dimension");
  }
  Tensor out = clone();
  {
    NoGradGuard no_grad;
    if (index.numel() > 0) backend_for(device()).scatter(out, d, index, src, /*accumulate=*/true);
  }
  autograd::record("ScatterAddBackward0", {*this, src}, {out},
                   [d, si = SavedTensor(index)](const TensorList& g, const Node& n) {
                     return TensorList{g[0], n.needs_input_grad(1) ? g[0].gather(d, si.get()) : Tensor()};
                   });
  return out;
}

namespace {
// Shared checks of index_add_/index_copy_: source matches self except along dim.
void check_index_source(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source, const char* op) {
  detail::check_defined(source, op);
  Shape expect = self.sizes();
  if (self.dim() > 0) expect[d] = idx.numel();
  TWIG_CHECK(source.sizes() == expect || (self.dim() == 0 && source.numel() == idx.numel()), RuntimeError, op,
             "(): source of shape ", source.sizes(), " does not match self ", self.sizes(), " with ", idx.numel(),
             " indices along dim ", d, " (expected ", expect, ")");
}
// self.index_select(d, idx) (+)= source; 1-D self goes through the scatter kernel's tight loop.
void put_along(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source, bool accumulate) {
  if (self.dim() == 1) {
    backend_for(self.device()).scatter(self, 0, idx, detail::broadcast_raw(source, idx.sizes()), accumulate);
  } else {
    backend_for(self.device()).index_put(self, d, idx, source, accumulate);
  }
}
void index_add_raw(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source) {
  if (idx.numel() == 0) return;
  Tensor self_v = self.dim() == 0 ? self.view({1}) : self;
  Tensor src_v = self.dim() == 0 ? source.reshape({idx.numel()}) : source;
  put_along(self_v, d, idx, detail::converted(src_v, self.dtype()), /*accumulate=*/true);
}

// Out-of-place index_add with its backward (the in-place form runs it when autograd records).
Tensor index_add(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source) {
  Tensor out = self.detach().clone();
  index_add_raw(out, d, idx, source.detach());
  autograd::record("IndexAddBackward0", {self, source}, {out}, [d, idx](const TensorList& g, const Node& n) {
    return TensorList{g[0], n.needs_input_grad(1) ? g[0].index_select(d, idx) : Tensor()};
  });
  return out;
}

}  // namespace

const Tensor& Tensor::index_add_(int64_t dim, const Tensor& index, const Tensor& source) const {
  int64_t d = wrap_dim(dim, this->dim());
  Tensor idx = checked_index(index, this->dim() == 0 ? 1 : size(d), "index_add_");
  check_index_source(*this, d, idx, source, "index_add_");
  return detail::inplace(
      *this, "index_add_", {source}, [&](const Tensor& s) { return index_add(s, d, idx, source); },
      [&] { index_add_raw(*this, d, idx, source); });
}

namespace {

void index_copy_raw(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source) {
  if (idx.numel() == 0) return;
  Tensor self_v = self.dim() == 0 ? self.view({1}) : self;
  Tensor src_v = self.dim() == 0 ? source.reshape({idx.numel()}) : source;
  put_along(self_v, d, idx, detail::converted(src_v, self.dtype()), /*accumulate=*/false);
}

// Writes value into the slices idx along d (a 0-d source broadcast over each slice).
void index_fill_raw(const Tensor& self, int64_t d, const Tensor& idx, Scalar value) {
  if (idx.numel() == 0) return;
  Tensor self_v = self.dim() == 0 ? self.view({1}) : self;
  Shape region = self_v.sizes();
  region[d] = idx.numel();
  Tensor v = detail::broadcast_raw(detail::scalar_to_tensor(value, self.dtype(), self.device()), region);
  put_along(self_v, d, idx, v, /*accumulate=*/false);
}

// Out-of-place index_copy: the copied slices take source's gradient, self keeps the rest.
Tensor index_copy(const Tensor& self, int64_t d, const Tensor& idx, const Tensor& source) {
  Tensor out = self.detach().clone();
  index_copy_raw(out, d, idx, source.detach());
  autograd::record("IndexCopyBackward0", {self, source}, {out}, [d, idx](const TensorList& g, const Node& n) {
    Tensor gs;
    if (n.needs_input_grad(0)) {
      gs = g[0].clone();
      gs.index_fill_(d, idx, 0);
    }
    return TensorList{gs, n.needs_input_grad(1) ? g[0].index_select(d, idx) : Tensor()};
  });
  return out;
}

Tensor index_fill(const Tensor& self, int64_t d, const Tensor& idx, Scalar value) {
  Tensor out = self.detach().clone();
  index_fill_raw(out, d, idx, value);
  autograd::record("IndexFillBackward0", {self}, {out}, [d, idx](const TensorList& g, const Node&) {
    Tensor gs = g[0].clone();
    gs.index_fill_(d, idx, 0);
    return TensorList{gs};
  });
  return out;
}

}  // namespace

const Tensor& Tensor::index_copy_(int64_t dim, const Tensor& index, const Tensor& source) const {
  detail::check_defined(*this, "index_copy_");
  int64_t d = wrap_dim(dim, this->dim());
  Tensor idx = checked_index(index, this->dim() == 0 ? 1 : size(d), "index_copy_");
  check_index_source(*this, d, idx, source, "index_copy_");
  return detail::inplace(
      *this, "index_copy_", {source}, [&](const Tensor& s) { return index_copy(s, d, idx, source); },
      [&] { index_copy_raw(*this, d, idx, source); });
}

const Tensor& Tensor::index_fill_(int64_t dim, const Tensor& index, Scalar value) const {
  detail::check_defined(*this, "index_fill_");
  int64_t d = wrap_dim(dim, this->dim());
  Tensor idx = checked_index(index, this->dim() == 0 ? 1 : size(d), "index_fill_");
  return detail::inplace(
      *this, "index_fill_", {}, [&](const Tensor& s) { return index_fill(s, d, idx, value); },
      [&] { index_fill_raw(*this, d, idx, value); });
}

// ---- masks ------------------------------------------------------------------------------------

namespace {
void check_mask(const Tensor& mask, const char* op) {
  detail::check_defined(mask, op);
  TWIG_CHECK(mask.dtype() == kBool, RuntimeError, op, " only supports boolean masks, but got mask with dtype ",
             dtype_name(mask.dtype()));
}
}  // namespace

// where() carries the backward: the gradient passes where the mask is false.
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const {
  detail::check_defined(*this, "masked_fill");
  check_mask(mask, "masked_fill");
  detail::check_same_device(*this, mask, "masked_fill");
  return where(mask, detail::scalar_to_tensor(value, dtype(), device()), *this);
}

const Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) const {
  detail::check_defined(*this, "masked_fill_");
  check_mask(mask, "masked_fill_");
  detail::check_same_device(*this, mask, "masked_fill_");
  Shape shape = broadcast_shape(sizes(), mask.sizes());
  TWIG_CHECK(shape == sizes(), RuntimeError, "masked_fill_: mask of shape ", mask.sizes(),
             " cannot be broadcast to the destination shape ", sizes());
  return detail::inplace(
      *this, "masked_fill_", {}, [&](const Tensor& s) { return s.masked_fill(mask, value); },
      [&] {
        Tensor v = detail::scalar_to_tensor(value, dtype(), device());
        backend_for(device()).where(*this, detail::broadcast_raw(mask, sizes()), detail::broadcast_raw(v, sizes()),
                                    *this);
      });
}

// self and mask broadcast together; the selected elements in row-major order. The gradient
// flows back through expand / reshape / index_select.
Tensor Tensor::masked_select(const Tensor& mask) const {
  detail::check_defined(*this, "masked_select");
  check_mask(mask, "masked_select");
  detail::check_same_device(*this, mask, "masked_select");
  Shape shape = broadcast_shape(sizes(), mask.sizes());
  Tensor flat_mask = detail::broadcast_raw(mask, shape).contiguous().view({shape_numel(shape)});
  Tensor idx = backend_for(device()).nonzero(flat_mask).view({-1});
  return expand(shape).reshape({-1}).index_select(0, idx);
}

Tensor Tensor::nonzero() const {
  detail::check_defined(*this, "nonzero");
  return backend_for(device()).nonzero(*this);
}

}  // namespace twig
