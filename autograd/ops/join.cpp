// Joining and splitting: cat, stack, split, split_with_sizes, chunk, unbind, repeat,
// repeat_interleave, broadcast_tensors. cat is the one kernel here (copies into slices of the
// output); the rest are views (narrow / select / expand) or compose differentiable ops.
#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;

// ---- cat / stack ------------------------------------------------------------------------------

Tensor cat(const TensorList& tensors, int64_t dim) {
  trace::Scope scope;
  TWIG_CHECK(!tensors.empty(), RuntimeError, "torch.cat(): expected a non-empty list of Tensors");
  for (const Tensor& t : tensors) detail::check_defined(t, "cat");
  // Legacy behaviour: 1-D empty tensors are skipped whatever their shape elsewhere.
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.numel() == 0; };
  Dtype dtype = tensors[0].dtype();
  const Tensor* ref = nullptr;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    dtype = promote_types(dtype, t.dtype());
    TWIG_CHECK(t.dim() > 0, RuntimeError, "zero-dimensional tensor (at position ", i, ") cannot be concatenated");
    detail::check_same_device(tensors[0], t, "cat");
    if (!ref && !skipped(t)) ref = &t;
  }
  if (!ref) return detail::make_empty({0}, dtype, tensors[0].device());
  int64_t d = wrap_dim(dim, ref->dim());
  Shape shape = ref->sizes();
  shape[d] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped(t)) continue;
    TWIG_CHECK(t.dim() == ref->dim(), RuntimeError, "Tensors must have same number of dimensions: got ", ref->dim(),
               " and ", t.dim(), " (tensor number ", i, " in the list has shape ", t.sizes(), ")");
    for (int64_t k = 0; k < t.dim(); ++k) {
      TWIG_CHECK(k == d || t.size(k) == ref->size(k), RuntimeError, "Sizes of tensors must match except in dimension ",
                 d, ". Expected size ", ref->size(k), " but got size ", t.size(k), " for tensor number ", i,
                 " in the list (shapes ", ref->sizes(), " and ", t.sizes(), ").");
    }
    shape[d] += t.size(d);
  }
  Tensor out = detail::make_empty(shape, dtype, ref->device());
  std::vector<int64_t> offsets;  // start of each input along d (-1 for a skipped one)
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    if (skipped(t)) {
      offsets.push_back(-1);
      continue;
    }
    offsets.push_back(offset);
    if (t.numel() > 0) backend_for(out.device()).copy(out.narrow(d, offset, t.size(d)), t);
    offset += t.size(d);
  }
  std::vector<Dtype> dtypes;
  std::vector<Shape> in_sizes;
  for (const Tensor& t : tensors) {
    dtypes.push_back(t.dtype());
    in_sizes.push_back(t.sizes());
  }
  // Each input's gradient is its slice of the output's, in its own dtype.
  autograd::record("CatBackward0", tensors, {out}, [d, offsets, dtypes, in_sizes](const TensorList& g, const Node& n) {
    TensorList grads;
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (!n.needs_input_grad(i)) {
        grads.emplace_back();
      } else if (offsets[i] < 0) {
        grads.push_back(zeros(in_sizes[i], g[0].options().dtype(dtypes[i])));
      } else {
        grads.push_back(g[0].narrow(d, offsets[i], in_sizes[i][d]).to(dtypes[i]));
      }
    }
    return grads;
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("cat", {tensors}, {{"dim", trace::repr(dim)}}, out,
                  [dim](const TensorList& in) { return twig::cat(in, dim); });
  return out;
}

Tensor stack(const TensorList& tensors, int64_t dim) {
  trace::Scope scope;
  TWIG_CHECK(!tensors.empty(), RuntimeError, "stack expects a non-empty TensorList");
  for (size_t i = 0; i < tensors.size(); ++i) {
    detail::check_defined(tensors[i], "stack");
    TWIG_CHECK(tensors[i].sizes() == tensors[0].sizes(), RuntimeError,
               "stack expects each tensor to be equal size, but got ", tensors[0].sizes(), " at entry 0 and ",
               tensors[i].sizes(), " at entry ", i);
  }
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1);
  TensorList parts;
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d));
  Tensor out = cat(parts, d);
  if (scope.recording()) [[unlikely]]
    scope.record1("stack", {tensors}, {{"dim", trace::repr(dim)}}, out,
                  [dim](const TensorList& in) { return twig::stack(in, dim); });
  return out;
}

TensorList broadcast_tensors(const TensorList& tensors) {
  Shape shape;
  for (const Tensor& t : tensors) {
    detail::check_defined(t, "broadcast_tensors");
    shape = broadcast_shape(shape, t.sizes());
  }
  TensorList out;
  for (const Tensor& t : tensors) out.push_back(t.expand(shape));
  return out;
}

// ---- splitting (views) --------------------------------------------------------------------------

TensorList Tensor::split_with_sizes(const Shape& split_sizes, int64_t dim) const {
  detail::check_defined(*this, "split_with_sizes");
  TWIG_CHECK(this->dim() > 0, RuntimeError, "split_with_sizes expects at least a 1-dimensional tensor");
  int64_t d = wrap_dim(dim, this->dim());
  int64_t total = 0;
  for (int64_t s : split_sizes) {
    TWIG_CHECK(
        s >= 0, RuntimeError,
        "split_with_sizes expects split_sizes have only non-negative entries, but got split_sizes=", split_sizes);
    total += s;
  }
  TWIG_CHECK(total == size(d), RuntimeError, "split_with_sizes expects split_sizes to sum exactly to ", size(d),
             " (input tensor's size at dimension ", d, "), but got split_sizes=", split_sizes);
  TensorList out;
  int64_t start = 0;
  for (int64_t s : split_sizes) {
    out.push_back(narrow(d, start, s));
    start += s;
  }
  return out;
}

TensorList Tensor::split(int64_t split_size, int64_t dim) const {
  detail::check_defined(*this, "split");
  TWIG_CHECK(this->dim() > 0, RuntimeError, "split expects at least a 1-dimensional tensor");
  TWIG_CHECK(split_size >= 0, RuntimeError,
             "split expects split_size be non-negative, but got split_size=", split_size);
  int64_t d = wrap_dim(dim, this->dim());
  int64_t n = size(d);
  TWIG_CHECK(split_size > 0 || n == 0, RuntimeError,
             "split_size can only be 0 if dimension size is 0, but got dimension size of ", n);
  trace::Scope scope;
  TensorList out;
  if (n == 0) {
    out = {narrow(d, 0, 0)};
  } else {
    Shape sizes;
    for (int64_t start = 0; start < n; start += split_size) sizes.push_back(std::min(split_size, n - start));
    out = split_with_sizes(sizes, d);
  }
  if (scope.recording()) [[unlikely]]
    scope.record("split", {*this}, {{"split_size", trace::repr(split_size)}, {"dim", trace::repr(dim)}}, out, true,
                 [split_size, dim](const TensorList& in) { return in[0].split(split_size, dim); });
  return out;
}

// PyTorch's chunk sizes: ceil(size / chunks) each, so there may be fewer than `chunks` pieces.
TensorList Tensor::chunk(int64_t chunks, int64_t dim) const {
  detail::check_defined(*this, "chunk");
  TWIG_CHECK(this->dim() > 0, RuntimeError, "chunk expects at least a 1-dimensional tensor");
  TWIG_CHECK(chunks > 0, RuntimeError, "chunk expects `chunks` to be greater than 0, got: ", chunks);
  int64_t d = wrap_dim(dim, this->dim());
  int64_t n = size(d);
  trace::Scope scope;
  TensorList out = n == 0 ? split_with_sizes(Shape(chunks, 0), d) : split((n + chunks - 1) / chunks, d);
  if (scope.recording()) [[unlikely]]
    scope.record("chunk", {*this}, {{"chunks", trace::repr(chunks)}, {"dim", trace::repr(dim)}}, out, true,
                 [chunks, dim](const TensorList& in) { return in[0].chunk(chunks, dim); });
  return out;
}

TensorList Tensor::unbind(int64_t dim) const {
  detail::check_defined(*this, "unbind");
  TWIG_CHECK(this->dim() > 0, IndexError, "unbind(): Dimension specified as ", dim, " but tensor has no dimensions");
  int64_t d = wrap_dim(dim, this->dim());
  TensorList out;
  for (int64_t i = 0; i < size(d); ++i) out.push_back(select(d, i));
  return out;
}

// ---- repeating (expand + reshape, so autograd sums the copies) ----------------------------------

Tensor Tensor::repeat(const Shape& repeats) const {
  detail::check_defined(*this, "repeat");
  TWIG_CHECK(static_cast<int64_t>(repeats.size()) >= dim(), RuntimeError,
             "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor (repeats ",
             repeats, " for a tensor of shape ", sizes(), ")");
  for (int64_t r : repeats) {
    TWIG_CHECK(r >= 0, RuntimeError, "Trying to create tensor with negative dimension ", r, ": ", repeats);
  }
  int64_t lead = static_cast<int64_t>(repeats.size()) - dim();
  Shape interleaved, expanded, result;  // (1, s0, 1, s1, ...), (r0, s0, r1, s1, ...), (r0*s0, ...)
  for (size_t i = 0; i < repeats.size(); ++i) {
    int64_t s = static_cast<int64_t>(i) < lead ? 1 : size(static_cast<int64_t>(i) - lead);
    interleaved.insert(interleaved.end(), {1, s});
    expanded.insert(expanded.end(), {repeats[i], s});
    result.push_back(repeats[i] * s);
  }
  return reshape(interleaved).expand(expanded).reshape(result);
}

Tensor Tensor::repeat_interleave(int64_t repeats, std::optional<int64_t> dim) const {
  detail::check_defined(*this, "repeat_interleave");
  TWIG_CHECK(repeats >= 0, RuntimeError, "repeat_interleave: repeats can not be negative, got ", repeats);
  Tensor x = dim ? (this->dim() == 0 ? reshape({1}) : *this) : reshape({-1});
  int64_t d = dim ? wrap_dim(*dim, x.dim()) : 0;
  Shape expanded = x.sizes();
  expanded.insert(expanded.begin() + d + 1, repeats);
  return x.unsqueeze(d + 1).expand(expanded).flatten(d, d + 1);
}

Tensor Tensor::repeat_interleave(const Tensor& repeats, std::optional<int64_t> dim) const {
  detail::check_defined(*this, "repeat_interleave");
  detail::check_defined(repeats, "repeat_interleave");
  TWIG_CHECK(repeats.dtype() == kInt64 || repeats.dtype() == kInt32, RuntimeError,
             "repeat_interleave: repeats has to be Long or Int tensor, got ", dtype_name(repeats.dtype()));
  TWIG_CHECK(repeats.dim() <= 1, RuntimeError, "repeat_interleave: repeats must be 0-dim or 1-dim tensor, got shape ",
             repeats.sizes());
  if (repeats.dim() == 0) return repeat_interleave(repeats.item<int64_t>(), dim);
  Tensor x = dim ? (this->dim() == 0 ? reshape({1}) : *this) : reshape({-1});
  int64_t d = dim ? wrap_dim(*dim, x.dim()) : 0;
  TWIG_CHECK(repeats.numel() == x.size(d), RuntimeError,
             "repeat_interleave: repeats must have the same size as input along dim, but got repeats.size(0) = ",
             repeats.numel(), " and input.size(", d, ") = ", x.size(d));
  std::vector<int64_t> reps = repeats.to_vector<int64_t>();
  std::vector<int64_t> positions;
  for (size_t i = 0; i < reps.size(); ++i) {
    TWIG_CHECK(reps[i] >= 0, RuntimeError, "repeat_interleave: repeats can not be negative, got ", reps[i],
               " at position ", i);
    positions.insert(positions.end(), static_cast<size_t>(reps[i]), static_cast<int64_t>(i));
  }
  Tensor idx = from_vector(positions, {static_cast<int64_t>(positions.size())}, TensorOptions(kInt64).device(device()));
  return x.index_select(d, idx);
}

}  // namespace twig
