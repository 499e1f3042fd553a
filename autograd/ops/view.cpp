// Views: ops that change sizes/strides/offset and share storage. Each public op is a raw geometric
// function plus a recorded backward that maps the gradient back to the input's shape.
#include <algorithm>
#include <numeric>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;

namespace {

// PyTorch's rule for when a reshape can be a view of a strided tensor; nullopt when it can't.
std::optional<Shape> view_strides(const Tensor& t, const Shape& shape) {
  if (t.is_contiguous()) return contiguous_strides(shape);
  const Shape& old_sizes = t.sizes();
  const Shape& old_strides = t.strides();
  Shape strides(shape.size());
  if (t.numel() == 0) return contiguous_strides(shape);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    if (d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        strides[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

// Gradient of a view: zeros of the input's shape with the gradient written into the same view.
Tensor scatter_into_zeros(const Tensor& g, const Shape& input_sizes, const std::function<Tensor(const Tensor&)>& view) {
  Tensor z = zeros(input_sizes, g.options());
  backend_for(z.device()).copy(view(z), g);
  return z;
}

void record_reshape(const char* name, const Tensor& in, const Tensor& out) {
  autograd::record(name, {in}, {out},
                   [s = in.sizes()](const TensorList& g, const Node&) { return TensorList{g[0].reshape(s)}; });
}

Tensor transpose_raw(const Tensor& t, int64_t d0, int64_t d1) {
  Shape sizes = t.sizes(), strides = t.strides();
  std::swap(sizes[d0], sizes[d1]);
  std::swap(strides[d0], strides[d1]);
  return detail::make_alias(t, sizes, strides, t.storage_offset());
}

struct SliceSpec {
  int64_t start, length, step;
};

SliceSpec normalize_slice(int64_t size, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) {
  TWIG_CHECK(step > 0, ValueError, "slice step must be positive, got ", step);
  int64_t b = start.value_or(0), e = stop.value_or(size);
  if (b < 0) b += size;
  if (e < 0) e += size;
  b = std::clamp<int64_t>(b, 0, size);
  e = std::clamp<int64_t>(e, 0, size);
  int64_t len = e > b ? (e - b + step - 1) / step : 0;
  return {b, len, step};
}

Tensor slice_raw(const Tensor& t, int64_t dim, const SliceSpec& s) {
  Shape sizes = t.sizes(), strides = t.strides();
  int64_t offset = t.storage_offset() + s.start * strides[dim];
  sizes[dim] = s.length;
  strides[dim] *= s.step;
  return detail::make_alias(t, sizes, strides, offset);
}

Tensor select_raw(const Tensor& t, int64_t dim, int64_t index) {
  Shape sizes = t.sizes(), strides = t.strides();
  int64_t offset = t.storage_offset() + index * strides[dim];
  sizes.erase(sizes.begin() + dim);
  strides.erase(strides.begin() + dim);
  return detail::make_alias(t, sizes, strides, offset);
}

Tensor view_raw(const Tensor& t, const Shape& shape, const char* op) {
  Shape target = infer_size(shape, t.numel());
  auto strides = view_strides(t, target);
  TWIG_CHECK(strides.has_value(), RuntimeError, op, ": view size ", target,
             " is not compatible with input tensor's size ", t.sizes(), " and stride ", t.strides(),
             " (at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead.");
  return detail::make_alias(t, target, *strides, t.storage_offset());
}

// Drops the listed size-1 dims (sorted ascending).
Tensor squeeze_dims(const Tensor& t, const Dims& drop) {
  Shape sizes, strides;
  for (int64_t i = 0, j = 0; i < t.dim(); ++i) {
    if (j < static_cast<int64_t>(drop.size()) && drop[j] == i) {
      ++j;
      continue;
    }
    sizes.push_back(t.size(i));
    strides.push_back(t.stride(i));
  }
  Tensor out = detail::make_alias(t, sizes, strides, t.storage_offset());
  record_reshape("SqueezeBackward0", t, out);
  return out;
}

}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  trace::Scope scope;
  detail::check_defined(*this, "view");
  Tensor out = view_raw(*this, shape, "view");
  record_reshape("ViewBackward0", *this, out);
  if (scope.recording()) [[unlikely]]
    scope.record1("view", {*this}, {{"size", trace::repr(shape)}}, out,
                  [shape](const TensorList& in) { return in[0].view(shape); });
  return out;
}

Tensor Tensor::reshape(const Shape& shape) const {
  detail::check_defined(*this, "reshape");
  trace::Scope scope;
  Shape target = infer_size(shape, numel());
  Tensor out = view_strides(*this, target) ? view(target) : contiguous().view(target);
  if (scope.recording()) [[unlikely]]
    scope.record1("reshape", {*this}, {{"shape", trace::repr(shape)}}, out,
                  [shape](const TensorList& in) { return in[0].reshape(shape); });
  return out;
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  detail::check_defined(*this, "transpose");
  trace::Scope scope;
  int64_t n = dim();
  Tensor out;
  if (n == 0) {
    out = view_raw(*this, {}, "transpose");
  } else {
    int64_t w0 = wrap_dim(d0, n), w1 = wrap_dim(d1, n);
    out = transpose_raw(*this, w0, w1);
    autograd::record("TransposeBackward0", {*this}, {out},
                     [w0, w1](const TensorList& g, const Node&) { return TensorList{g[0].transpose(w0, w1)}; });
  }
  if (scope.recording()) [[unlikely]]
    scope.record1("transpose", {*this}, {{"dim0", trace::repr(d0)}, {"dim1", trace::repr(d1)}}, out,
                  [d0, d1](const TensorList& in) { return in[0].transpose(d0, d1); });
  return out;
}

Tensor Tensor::t() const {
  TWIG_CHECK(dim() <= 2, RuntimeError, "t() expects a tensor with <= 2 dimensions, but self is ", dim(), "D");
  return dim() < 2 ? view(sizes()) : transpose(0, 1);
}

Tensor Tensor::permute(const Dims& dims) const {
  trace::Scope scope;
  detail::check_defined(*this, "permute");
  int64_t n = dim();
  TWIG_CHECK(static_cast<int64_t>(dims.size()) == n, RuntimeError,
             "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
             "ordering of dimensions i.e. input.dim() = ",
             n, " is not equal to len(dims) = ", dims.size());
  Shape sizes(n), strides(n);
  Dims inverse(n, -1);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n);
    TWIG_CHECK(inverse[d] == -1, RuntimeError, "permute(): duplicate dims are not allowed (dims ", dims, ")");
    inverse[d] = i;
    sizes[i] = size(d);
    strides[i] = stride(d);
  }
  Tensor out = detail::make_alias(*this, sizes, strides, storage_offset());
  autograd::record("PermuteBackward0", {*this}, {out},
                   [inverse](const TensorList& g, const Node&) { return TensorList{g[0].permute(inverse)}; });
  if (scope.recording()) [[unlikely]]
    scope.record1("permute", {*this}, {{"dims", trace::repr(dims)}}, out,
                  [dims](const TensorList& in) { return in[0].permute(dims); });
  return out;
}

Tensor Tensor::movedim(int64_t src, int64_t dst) const {
  int64_t n = dim();
  src = wrap_dim(src, n);
  dst = wrap_dim(dst, n);
  Dims order;
  for (int64_t i = 0; i < n; ++i) {
    if (i != src) order.push_back(i);
  }
  order.insert(order.begin() + dst, src);
  return permute(order);
}

Tensor Tensor::expand(const Shape& shape) const {
  detail::check_defined(*this, "expand");
  TWIG_CHECK(static_cast<int64_t>(shape.size()) >= dim(), RuntimeError, "expand: the number of sizes provided (",
             shape.size(), ") must be greater or equal to the number of dimensions in the tensor (", dim(), ")");
  Shape target = shape;
  int64_t lead = static_cast<int64_t>(shape.size()) - dim();
  for (int64_t i = 0; i < dim(); ++i) {
    if (target[lead + i] == -1) target[lead + i] = size(i);
  }
  for (int64_t i = 0; i < lead; ++i) {
    TWIG_CHECK(target[i] >= 0, RuntimeError, "expand: -1 is not allowed in a leading, non-existing dimension (shape ",
               shape, ")");
  }
  Tensor out = detail::broadcast_raw(*this, target);
  if (out.is_same(*this)) out = detail::make_alias(*this, sizes(), strides(), storage_offset());
  autograd::record("ExpandBackward0", {*this}, {out},
                   [s = sizes()](const TensorList& g, const Node&) { return TensorList{autograd::sum_to(g[0], s)}; });
  return out;
}

Tensor Tensor::squeeze() const {
  trace::Scope scope;
  detail::check_defined(*this, "squeeze");
  Dims drop;
  for (int64_t i = 0; i < dim(); ++i) {
    if (size(i) == 1) drop.push_back(i);
  }
  Tensor out = squeeze_dims(*this, drop);
  if (scope.recording()) [[unlikely]]
    scope.record1("squeeze", {*this}, {}, out, [](const TensorList& in) { return in[0].squeeze(); });
  return out;
}

Tensor Tensor::squeeze(int64_t d) const {
  detail::check_defined(*this, "squeeze");
  trace::Scope scope;
  int64_t w = wrap_dim(d, dim());
  Tensor out = dim() == 0 || size(w) != 1 ? squeeze_dims(*this, {}) : squeeze_dims(*this, {w});
  if (scope.recording()) [[unlikely]]
    scope.record1("squeeze", {*this}, {{"dim", trace::repr(d)}}, out,
                  [d](const TensorList& in) { return in[0].squeeze(d); });
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  trace::Scope scope;
  detail::check_defined(*this, "unsqueeze");
  d = wrap_dim(d, dim() + 1);
  Shape s = sizes(), st = strides();
  int64_t new_stride = d < dim() ? stride(d) * size(d) : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, new_stride);
  Tensor out = detail::make_alias(*this, s, st, storage_offset());
  record_reshape("UnsqueezeBackward0", *this, out);
  if (scope.recording()) [[unlikely]]
    scope.record1("unsqueeze", {*this}, {{"dim", trace::repr(d)}}, out,
                  [d](const TensorList& in) { return in[0].unsqueeze(d); });
  return out;
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  trace::Scope scope;
  detail::check_defined(*this, "flatten");
  int64_t n = dim();
  Shape s{1};
  if (n > 0) {
    int64_t first = wrap_dim(start_dim, n), last = wrap_dim(end_dim, n);
    TWIG_CHECK(first <= last, RuntimeError, "flatten() has invalid args: start_dim (", first,
               ") cannot come after end_dim (", last, ")");
    s.clear();
    for (int64_t i = 0; i < first; ++i) s.push_back(size(i));
    int64_t mid = 1;
    for (int64_t i = first; i <= last; ++i) mid *= size(i);
    s.push_back(mid);
    for (int64_t i = last + 1; i < n; ++i) s.push_back(size(i));
  }
  Tensor out = reshape(s);
  if (scope.recording()) [[unlikely]]
    scope.record1("flatten", {*this}, {{"start_dim", trace::repr(start_dim)}, {"end_dim", trace::repr(end_dim)}}, out,
                  [start_dim, end_dim](const TensorList& in) { return in[0].flatten(start_dim, end_dim); });
  return out;
}

Tensor Tensor::unflatten(int64_t d, const Shape& parts) const {
  trace::Scope scope;
  d = wrap_dim(d, dim());
  Shape inner = infer_size(parts, size(d));
  Shape s = sizes();
  s.erase(s.begin() + d);
  s.insert(s.begin() + d, inner.begin(), inner.end());
  Tensor out = view(s);
  if (scope.recording()) [[unlikely]]
    scope.record1("unflatten", {*this}, {{"dim", trace::repr(d)}, {"sizes", trace::repr(parts)}}, out,
                  [d, parts](const TensorList& in) { return in[0].unflatten(d, parts); });
  return out;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  detail::check_defined(*this, "narrow");
  TWIG_CHECK(dim() > 0, RuntimeError, "narrow() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim());
  int64_t n = size(d);
  TWIG_CHECK(start >= -n && start <= n, IndexError, "start out of range (expected to be in range of [", -n, ", ", n,
             "], but got ", start, ")");
  if (start < 0) start += n;
  TWIG_CHECK(length >= 0 && start + length <= n, RuntimeError, "start (", start, ") + length (", length,
             ") exceeds dimension size (", n, ").");
  return slice(d, start, start + length, 1);
}

Tensor Tensor::slice(int64_t d, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step) const {
  detail::check_defined(*this, "slice");
  TWIG_CHECK(dim() > 0, IndexError, "slice() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim());
  SliceSpec spec = normalize_slice(size(d), start, stop, step);
  Tensor out = slice_raw(*this, d, spec);
  autograd::record("SliceBackward0", {*this}, {out}, [s = sizes(), d, spec](const TensorList& g, const Node&) {
    return TensorList{scatter_into_zeros(g[0], s, [&](const Tensor& z) { return slice_raw(z, d, spec); })};
  });
  return out;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  trace::Scope scope;
  detail::check_defined(*this, "select");
  TWIG_CHECK(dim() > 0, IndexError, "select() cannot be applied to a 0-dim tensor.");
  d = wrap_dim(d, dim());
  int64_t n = size(d);
  TWIG_CHECK(index >= -n && index < n, IndexError, "index ", index, " is out of bounds for dimension ", d,
             " with size ", n);
  if (index < 0) index += n;
  Tensor out = select_raw(*this, d, index);
  autograd::record("SelectBackward0", {*this}, {out}, [s = sizes(), d, index](const TensorList& g, const Node&) {
    return TensorList{scatter_into_zeros(g[0], s, [&](const Tensor& z) { return select_raw(z, d, index); })};
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("select", {*this}, {{"dim", trace::repr(d)}, {"index", trace::repr(index)}}, out,
                  [d, index](const TensorList& in) { return in[0].select(d, index); });
  return out;
}

Tensor Tensor::as_strided(const Shape& sz, const Shape& st, std::optional<int64_t> offset) const {
  detail::check_defined(*this, "as_strided");
  TWIG_CHECK(sz.size() == st.size(), RuntimeError, "as_strided: mismatch in length of strides and shape (", sz, " vs ",
             st, ")");
  int64_t off = offset.value_or(storage_offset());
  TWIG_CHECK(off >= 0, RuntimeError, "as_strided: negative storage offset ", off);
  int64_t max_index = off;
  for (size_t i = 0; i < sz.size(); ++i) {
    TWIG_CHECK(sz[i] >= 0 && st[i] >= 0, RuntimeError, "as_strided: negative size or stride (sizes ", sz, ", strides ",
               st, ")");
    if (sz[i] == 0) max_index = -1;
    if (max_index >= 0) max_index += (sz[i] - 1) * st[i];
  }
  int64_t capacity = static_cast<int64_t>(storage()->nbytes() / element_size());
  TWIG_CHECK(max_index < capacity, RuntimeError, "as_strided: setStorage: sizes ", sz, ", strides ", st,
             ", storage offset ", off, " require ", max_index + 1, " elements but the storage holds ", capacity);
  Tensor out = detail::make_alias(*this, sz, st, off);
  // Backward: each output element adds its gradient into the input element it reads, by flat
  // position in this tensor's own geometry (windows may overlap, so index_add_ accumulates).
  autograd::record("AsStridedBackward0", {*this}, {out},
                   [in_sizes = sizes(), in_strides = strides(), in_off = storage_offset(), sz, st, off](
                       const TensorList& g, const Node&) {
                     TWIG_CHECK(contiguous_strides(in_sizes) == in_strides || shape_numel(in_sizes) <= 1, RuntimeError,
                                "as_strided backward needs a contiguous input; call contiguous() first");
                     int64_t n = shape_numel(in_sizes);
                     Tensor positions = arange(n, TensorOptions(kInt64).device(g[0].device()));
                     Tensor idx = positions.as_strided(sz, st, off - in_off).contiguous().flatten();
                     Tensor z = zeros({n}, g[0].options());
                     z.index_add_(0, idx, g[0].contiguous().flatten());
                     return TensorList{z.view(in_sizes)};
                   });
  return out;
}

Tensor Tensor::unfold(int64_t d, int64_t size_, int64_t step) const {
  int64_t n = dim();
  d = wrap_dim(d, n);
  int64_t len = n == 0 ? 1 : size(d);
  TWIG_CHECK(size_ >= 0 && size_ <= len, RuntimeError, "maximum size for tensor at dimension ", d, " is ", len,
             " but size is ", size_);
  TWIG_CHECK(step > 0, RuntimeError, "step is ", step, " but must be > 0");
  Shape sz = sizes(), st = strides();
  if (n == 0) {
    return as_strided({size_}, {1});
  }
  sz[d] = (len - size_) / step + 1;
  int64_t inner_stride = st[d];
  st[d] *= step;
  sz.push_back(size_);
  st.push_back(inner_stride);
  Tensor base = is_contiguous() ? *this : contiguous();
  if (!base.is_same(*this)) {
    st = base.strides();
    inner_stride = st[d];
    st[d] *= step;
    st.push_back(inner_stride);
  }
  return base.as_strided(sz, st);
}

}  // namespace twig
