// Python-style indexing: t.index({...}) (t[...]) and t.index_put_({...}, v) (t[...] = v).
//
// Basic indices (integers, Slice, Ellipsis, None) compose the view ops, so the result shares
// storage and autograd follows the views. One tensor index (a bool mask over one or more dims,
// or int64 indices along one dim) is then applied to that view with index_select: a copy.
// Several tensor indices (PyTorch's advanced indexing) are broadcast together; each mask counts as
// the int64 coordinates of its true entries. The indexed dims are moved to the front and flattened
// into one, the broadcast indices become one linear index into it, and one index_select picks the
// elements (so the gradient is index_select's). The result holds the broadcast index shape where
// the indexed dims were when they are adjacent in the view, else in front (PyTorch's rule).
// Writes find the positions the same indices select in an int64 tensor of element numbers,
// then scatter the (broadcast) value there.
#include <algorithm>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/inplace.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

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

// A tensor index and the dim of the view where it starts.
struct Advanced {
  int64_t dim;
  Tensor index;
};

// The view that the basic indices select, and where the tensor indices (if any) apply in it.
struct BasicResult {
  Tensor view;
  std::vector<Advanced> advanced;  // in index order, so in increasing dims
};

BasicResult apply_basic(const Tensor& self, const std::vector<TensorIndex>& indices) {
  int64_t consumed = 0, ellipses = 0;
  for (const TensorIndex& ix : indices) {
    consumed += consumed_dims(ix);
    ellipses += ix.is_ellipsis();
    if (!ix.is_tensor()) continue;
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
  BasicResult r{self, {}};
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
      r.advanced.push_back({d, ix.tensor()});
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

// index (int64 or int32, any shape) as int64 in [0, n): negatives count from the end; IndexError
// naming the first bad value otherwise.
Tensor checked_index(const Tensor& index, int64_t n, int64_t d) {
  Tensor idx = index.to(kInt64);
  if (idx.numel() > 0) {
    int64_t lo = idx.amin({}).item<int64_t>(), hi = idx.amax({}).item<int64_t>();
    int64_t bad = lo < -n ? lo : hi;
    TWIG_CHECK(lo >= -n && hi < n, IndexError, "index ", bad, " is out of bounds for dimension ", d, " with size ", n);
    if (lo < 0) idx = where(idx < 0, idx + n, idx);
  }
  return idx;
}

// view[..., idx, ...] for int64 indices of any shape: dim d is replaced by idx's dims.
Tensor apply_int_index(const Tensor& view, int64_t d, const Tensor& index) {
  Tensor idx = checked_index(index, view.size(d), d).reshape({-1});
  Tensor out = view.index_select(d, idx);
  if (index.dim() == 1) return out;
  Shape shape(view.sizes().begin(), view.sizes().begin() + d);
  shape.insert(shape.end(), index.sizes().begin(), index.sizes().end());
  shape.insert(shape.end(), view.sizes().begin() + d + 1, view.sizes().end());
  return out.view(shape);
}

// view[..., i0, ..., i1, ...] for two or more tensor indices (Python's advanced indexing).
Tensor apply_advanced(const Tensor& view_in, const std::vector<Advanced>& advanced) {
  // One int64 index per indexed dim: a mask over k dims gives the k coordinates of its true
  // entries; a 0-d mask indexes a new dim of size 1 (with [0] if true, with nothing if false).
  Tensor view = view_in;
  Dims dims;
  TensorList idx;
  int64_t shift = 0;  // dims added by 0-d masks so far
  for (const Advanced& a : advanced) {
    const int64_t d = a.dim + shift;
    if (!is_mask(a.index)) {
      dims.push_back(d);
      idx.push_back(checked_index(a.index, view.size(d), d));
      continue;
    }
    Tensor mask = a.index.to(kBool);
    if (mask.dim() == 0) {
      view = view.unsqueeze(d);
      ++shift;
      dims.push_back(d);
      idx.push_back(zeros({mask.item<bool>() ? 1 : 0}, TensorOptions(kInt64).device(view.device())));
      continue;
    }
    for (int64_t j = 0; j < mask.dim(); ++j) {
      TWIG_CHECK(mask.size(j) == view.size(d + j), IndexError, "The shape of the mask ", mask.sizes(), " at index ", j,
                 " does not match the shape of the indexed tensor ", view.sizes(), " at index ", d + j);
    }
    Tensor coords = mask.nonzero();  // (true entries, mask.dim())
    for (int64_t j = 0; j < mask.dim(); ++j) {
      dims.push_back(d + j);
      idx.push_back(coords.select(1, j));
    }
  }
  Shape shape = idx[0].sizes();
  try {
    for (size_t j = 1; j < idx.size(); ++j) shape = broadcast_shapes(shape, idx[j].sizes());
  } catch (const RuntimeError&) {
    std::string shapes;
    for (size_t j = 0; j < idx.size(); ++j) shapes += (j ? ", " : "") + detail::str_cat(idx[j].sizes());
    TWIG_THROW(IndexError, "shape mismatch: indexing tensors could not be broadcast together with shapes ", shapes);
  }
  // The linear number of each selected element in the indexed dims, row-major.
  Tensor linear = idx[0];
  for (size_t j = 1; j < idx.size(); ++j) linear = linear * view.size(dims[j]) + idx[j];
  linear = linear.expand(shape).reshape({-1});

  // Indexed dims first (in order), then the others; the indexed ones become one dim.
  const int64_t m = static_cast<int64_t>(dims.size());
  Dims order = dims, rest;
  for (int64_t d = 0; d < view.dim(); ++d) {
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) rest.push_back(d);
  }
  order.insert(order.end(), rest.begin(), rest.end());
  Tensor picked = view.permute(order).flatten(0, m - 1).index_select(0, linear);
  Shape out_shape = shape;
  for (int64_t d : rest) out_shape.push_back(view.size(d));
  Tensor out = picked.view(out_shape);

  // Adjacent indexed dims keep their place: the broadcast dims go back where the first one was.
  bool adjacent = true;
  for (int64_t j = 1; j < m; ++j) adjacent = adjacent && dims[j] == dims[j - 1] + 1;
  if (!adjacent || dims[0] == 0) return out;
  const int64_t b = static_cast<int64_t>(shape.size());
  Dims back;
  for (int64_t j = 0; j < dims[0]; ++j) back.push_back(b + j);  // the dims before the indexed ones
  for (int64_t j = 0; j < b; ++j) back.push_back(j);
  for (int64_t j = b + dims[0]; j < out.dim(); ++j) back.push_back(j);
  return out.permute(back);
}

Tensor index_impl(const Tensor& self, const std::vector<TensorIndex>& indices) {
  BasicResult r = apply_basic(self, indices);
  if (r.advanced.empty()) return r.view.is_same(self) ? self.view(self.sizes()) : r.view;
  if (r.advanced.size() > 1) return apply_advanced(r.view, r.advanced);
  const Advanced& a = r.advanced.front();
  if (is_mask(a.index)) return apply_mask(r.view, a.dim, a.index.to(kBool));
  return apply_int_index(r.view, a.dim, a.index);
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
