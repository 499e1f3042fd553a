// Python-style indexing: t.index({...}) (t[...]) and t.index_put_({...}, v) (t[...] = v).
//
// Basic indices (integers, Slice, Ellipsis, None) compose the view ops, so the result shares
// storage and autograd follows the views. One tensor index (a bool mask over one or more dims,
// or int64 indices along one dim) is then applied to that view with index_select: a copy.
// Writes find the positions the same indices select in an int64 tensor of element numbers,
// then scatter the (broadcast) value there.
#include "autograd/function.h"
#include "tensor/ops.h"
#include "tensor/ops/inplace.h"
#include "tensor/ops/internal.h"

namespace twig {

using autograd::Node;
using autograd::sum_to;

namespace {

bool is_mask(const Tensor& t) { return t.dtype() == kBool || t.dtype() == kUInt8; }

// Dims of self an index uses up.
int64_t consumed_dims(const TensorIndex& ix) {
  if (ix.is_integer() || ix.is_slice()) return 1;
  if (ix.is_tensor()) return is_mask(ix.tensor()) ? ix.tensor().dim() : 1;
  return 0;
}

std::string describe_index(const TensorIndex& ix) {
  if (ix.is_integer()) return std::to_string(ix.integer());
  if (ix.is_slice()) return "slice";
  if (ix.is_ellipsis()) return "...";
  if (ix.is_none()) return "None";
  return detail::describe(ix.tensor());
}

std::string describe_indices(const std::vector<TensorIndex>& indices) {
  std::string s = "(";
  for (size_t i = 0; i < indices.size(); ++i) s += (i ? ", " : "") + describe_index(indices[i]);
  return s + ")";
}

// The view that the basic indices select, and where the tensor index (if any) applies in it.
struct BasicResult {
  Tensor view;
  Tensor advanced;  // undefined when there is none
  int64_t advanced_dim = 0;
};

BasicResult apply_basic(const Tensor& self, const std::vector<TensorIndex>& indices) {
  int64_t consumed = 0, ellipses = 0, tensors = 0;
  for (const TensorIndex& ix : indices) {
    consumed += consumed_dims(ix);
    ellipses += ix.is_ellipsis();
    if (!ix.is_tensor()) continue;
    ++tensors;
    detail::check_defined(ix.tensor(), "index");
    Dtype t = ix.tensor().dtype();
    TWIG_CHECK(is_mask(ix.tensor()) || t == kInt64 || t == kInt32, IndexError,
               "tensors used as indices must be long, int, byte or bool tensors, got ", dtype_name(t), " in ",
               describe_indices(indices));
    detail::check_same_device(self, ix.tensor(), "index");
  }
  TWIG_CHECK(ellipses <= 1, IndexError, "an index can only have a single ellipsis ('...'), got ",
             describe_indices(indices));
  TWIG_CHECK(consumed <= self.dim(), IndexError, "too many indices for tensor of dimension ", self.dim(), " (got ",
             describe_indices(indices), ")");
  TWIG_CHECK(tensors <= 1, NotImplementedError, "index: only one tensor index (a bool mask or int64 indices) is "
             "supported, got ", tensors, " in ", describe_indices(indices));
  BasicResult r{self, Tensor(), 0};
  int64_t d = 0;
  for (const TensorIndex& ix : indices) {
    if (ix.is_integer()) {
      r.view = r.view.select(d, ix.integer());
    } else if (ix.is_slice()) {
      const indexing::Slice& s = ix.slice();
      TWIG_CHECK(s.step > 0, ValueError, "step must be greater than zero, got ", s.step);
      r.view = r.view.slice(d, s.start, s.stop, s.step);
      ++d;
    } else if (ix.is_none()) {
      r.view = r.view.unsqueeze(d);
      ++d;
    } else if (ix.is_ellipsis()) {
      d += self.dim() - consumed;
    } else {
      r.advanced = ix.tensor();
      r.advanced_dim = d;
      d += consumed_dims(ix);
    }
  }
  return r;
}

// view[..., mask, ...]: the mask covers dims [d, d + mask.dim()), which become one dim holding the
// selected elements in row-major order.
Tensor apply_mask(const Tensor& view, int64_t d, const Tensor& mask) {
  int64_t k = mask.dim();
  for (int64_t j = 0; j < k; ++j) {
    TWIG_CHECK(mask.size(j) == view.size(d + j), IndexError, "The shape of the mask ", mask.sizes(), " at index ", j,
               " does not match the shape of the indexed tensor ", view.sizes(), " at index ", d + j);
  }
  // A 0-d mask acts on a new dim of size 1 (t[True] adds a dim; t[False] makes it empty).
  Tensor v = k == 0 ? view.unsqueeze(d) : k > 1 ? view.flatten(d, d + k - 1) : view;
  Tensor flat_mask = mask.contiguous().reshape({-1});
  Tensor idx = backend_for(mask.device()).nonzero(flat_mask).view({-1});
  return v.index_select(d, idx);
}

// view[..., idx, ...] for int64 indices of any shape: dim d is replaced by idx's dims.
Tensor apply_int_index(const Tensor& view, int64_t d, const Tensor& index) {
  int64_t n = view.size(d);
  Tensor idx = index.to(kInt64).reshape({-1});
  if (idx.numel() > 0) {
    int64_t lo = idx.amin({}).item<int64_t>(), hi = idx.amax({}).item<int64_t>();
    int64_t bad = lo < -n ? lo : hi;
    TWIG_CHECK(lo >= -n && hi < n, IndexError, "index ", bad, " is out of bounds for dimension ", d, " with size ", n);
    if (lo < 0) idx = where(idx < 0, idx + n, idx);
  }
  Tensor out = view.index_select(d, idx);
  if (index.dim() == 1) return out;
  Shape shape(view.sizes().begin(), view.sizes().begin() + d);
  shape.insert(shape.end(), index.sizes().begin(), index.sizes().end());
  shape.insert(shape.end(), view.sizes().begin() + d + 1, view.sizes().end());
  return out.view(shape);
}

Tensor index_impl(const Tensor& self, const std::vector<TensorIndex>& indices) {
  BasicResult r = apply_basic(self, indices);
  if (!r.advanced.defined()) return r.view.is_same(self) ? self.view(self.sizes()) : r.view;
  if (is_mask(r.advanced)) return apply_mask(r.view, r.advanced_dim, r.advanced.to(kBool));
  return apply_int_index(r.view, r.advanced_dim, r.advanced);
}

// offset + sum_d i_d * strides[d] for every index (i_0, ...) of sizes, as int64 of that shape:
// the storage offset of each element of a tensor with this geometry. Built from one small arange
// per dim (the broadcast adds are cheaper than an arange over every element).
Tensor element_offsets(const Shape& sizes, const Shape& strides, int64_t offset, Device device) {
  TensorOptions opts = TensorOptions(kInt64).device(device);
  Tensor off = scalar_tensor(offset, opts);
  for (size_t d = 0; d < sizes.size(); ++d) off = off.unsqueeze(-1) + arange(sizes[d], opts) * strides[d];
  return off;
}

// value broadcast to shape, converted to dtype, as a contiguous 1-D tensor (a copy, so a value
// that overlaps the destination is read before it is written).
Tensor flat_values(const Tensor& value, const Shape& shape, Dtype dtype) {
  Tensor v = detail::make_empty(shape, dtype, value.device());
  backend_for(value.device()).copy(v, detail::broadcast_raw(value.detach(), shape));
  return v.view({v.numel()});
}

// dst (1-D) [positions] = values; no autograd.
void scatter_raw(const Tensor& dst, const Tensor& positions, const Tensor& values) {
  if (positions.numel() == 0) return;
  Tensor p = positions.contiguous().view({positions.numel()});
  backend_for(dst.device()).scatter(dst, 0, p, values, /*accumulate=*/false);
}

// Out-of-place put into a contiguous self at flat positions (pos has the indexed region's shape).
// Written elements take the value's gradient; the others keep self's.
Tensor put_flat(const Tensor& self, const Tensor& pos, const Tensor& value) {
  Tensor out = self.detach().clone();
  scatter_raw(out.view({out.numel()}), pos, flat_values(value, pos.sizes(), self.dtype()));
  Tensor written = zeros({self.numel()}, TensorOptions(kBool).device(self.device()));
  scatter_raw(written, pos, flat_values(detail::scalar_to_tensor(true, kBool, self.device()), pos.sizes(), kBool));
  autograd::record("IndexPutBackward0", {self, value}, {out},
                   [written = written.view(self.sizes()), pos, vs = value.sizes(), vt = value.dtype()](
                       const TensorList& g, const Node& n) {
                     Tensor gs, gv;
                     if (n.needs_input_grad(0)) gs = g[0].masked_fill(written, 0);
                     if (n.needs_input_grad(1)) {
                       Tensor picked = g[0].reshape({-1}).index_select(0, pos.reshape({-1})).view(pos.sizes());
                       gv = sum_to(picked, vs).to(vt);
                     }
                     return TensorList{gs, gv};
                   });
  return out;
}

}  // namespace

Tensor Tensor::index(const std::vector<TensorIndex>& indices) const {
  detail::check_defined(*this, "index");
  return index_impl(*this, indices);
}

const Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, const Tensor& value) const {
  detail::check_defined(*this, "index_put_");
  detail::check_defined(value, "index_put_");
  detail::check_same_device(*this, value, "index_put_");
  // t[mask] = scalar with a mask over all of t (pruning's w[mask] = 0) is masked_fill_.
  if (indices.size() == 1 && indices[0].is_tensor() && indices[0].tensor().dtype() == kBool &&
      indices[0].tensor().sizes() == sizes() && value.dim() == 0 && !value.requires_grad()) {
    return masked_fill_(indices[0].tensor(), value.item());
  }
  // Element numbers (row-major) of the region the indices select; also validates them.
  Tensor numbers = element_offsets(sizes(), contiguous_strides(sizes()), 0, device());
  Tensor pos = index_impl(numbers, indices);
  Shape region = pos.sizes();
  bool fits = value.dim() <= pos.dim();
  for (int64_t i = 1; fits && i <= value.dim(); ++i) {
    int64_t v = value.size(value.dim() - i), r = region[region.size() - i];
    fits = v == r || v == 1;
  }
  TWIG_CHECK(fits, RuntimeError, "shape mismatch: value tensor of shape ", value.sizes(),
             " cannot be broadcast to indexing result of shape ", region);
  return detail::inplace(
      *this, "index_put_", {value}, [&](const Tensor& s) { return put_flat(s, pos, value); },
      [&] {
        int64_t capacity = static_cast<int64_t>(storage()->nbytes() / element_size());
        Tensor all = detail::make_alias(*this, {capacity}, {1}, 0);
        Tensor offsets = element_offsets(sizes(), strides(), storage_offset(), device())
                             .reshape({-1})
                             .index_select(0, pos.reshape({-1}));
        scatter_raw(all, offsets, flat_values(value, region, dtype()));
      });
}

const Tensor& Tensor::index_put_(const std::vector<TensorIndex>& indices, Scalar value) const {
  detail::check_defined(*this, "index_put_");
  return index_put_(indices, detail::scalar_to_tensor(value, dtype(), device()));
}

}  // namespace twig
