// Non-recording helpers (tensor/raw.h).
#include "twig/tensor/raw.h"

namespace twig::detail {

Tensor make_empty(const Shape& shape, Dtype dtype, Device device) {
  int64_t n = shape_numel(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<StorageImpl>(static_cast<size_t>(n) * itemsize(dtype), device);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_alias(const Tensor& base, Shape sizes, Shape strides, int64_t offset) {
  check_defined(base, "view");
  auto impl = std::make_shared<TensorImpl>();
  const TensorImpl& b = *base.impl();
  impl->storage = b.storage;
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = b.dtype;
  impl->version = b.version;
  impl->view_base = b.view_base ? b.view_base : base.impl_ptr();
  return Tensor(std::move(impl));
}

Tensor scalar_to_tensor(Scalar s, Dtype dtype, Device device) {
  Tensor t = make_empty({}, dtype, device);
  backend_for(device).fill(t, s);
  return t;
}

void check_defined(const Tensor& t, const char* op) {
  TWIG_CHECK(t.defined(), RuntimeError, op, ": got an undefined tensor");
  if (t.impl()->layout != Layout::Strided) [[unlikely]]
    TWIG_THROW(NotImplementedError, op, ": expected a strided tensor but got one with layout ", layout_name(t.layout()),
               "; call to_dense() first");
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  TWIG_CHECK(a.device() == b.device(), RuntimeError, op,
             ": expected all tensors to be on the same device, but found at least two devices, ", a.device(), " and ",
             b.device());
}

Tensor converted(const Tensor& t, Dtype dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = make_empty(t.sizes(), dtype, t.device());
  backend_for(t.device()).copy(out, t);
  return out;
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined";
  return detail::str_cat(dtype_tensor_name(t.dtype()), t.sizes());
}

Tensor make_full(const Shape& shape, Scalar value, Dtype dtype, Device device) {
  Tensor t = make_empty(shape, dtype, device);
  backend_for(device).fill(t, value);
  return t;
}

Tensor copy_raw(const Tensor& t, Dtype dtype, Device device) {
  Tensor out = make_empty(t.sizes(), dtype, device);
  Backend& b = device.is_cpu() ? backend_for(t.device()) : backend_for(device);
  b.copy(out, t);
  return out;
}

Tensor contiguous_raw(const Tensor& t) { return t.is_contiguous() ? t : copy_raw(t, t.dtype(), t.device()); }

Tensor reshape_raw(const Tensor& t, const Shape& shape) {
  TWIG_INTERNAL_ASSERT(shape_numel(shape) == t.numel(), "reshape_raw: ", t.sizes(), " to ", shape);
  if (t.sizes() == shape) return t;
  Tensor c = contiguous_raw(t);
  return make_alias(c, shape, contiguous_strides(shape), c.storage_offset());
}

Tensor add_raw(const Tensor& a, const Tensor& b) {
  check_same_device(a, b, "add");
  Dtype dtype = promote_types(a.dtype(), b.dtype());
  Shape shape = broadcast_shape(a.sizes(), b.sizes());
  Tensor out = make_empty(shape, dtype, a.device());
  backend_for(a.device())
      .binary(BinaryOp::Add, out, broadcast_raw(converted(a, dtype), shape), broadcast_raw(converted(b, dtype), shape));
  return out;
}

void add_into_raw(const Tensor& self, const Tensor& other) {
  check_same_device(self, other, "add_");
  backend_for(self.device())
      .binary(BinaryOp::Add, self, self, broadcast_raw(converted(other, self.dtype()), self.sizes()));
  self.bump_version();
}

// A view of t broadcast to shape (stride 0 on expanded dims), without autograd.
Tensor broadcast_raw(const Tensor& t, const Shape& shape) {
  if (t.sizes() == shape) return t;
  int64_t lead = static_cast<int64_t>(shape.size()) - t.dim();
  TWIG_CHECK(lead >= 0, RuntimeError, "cannot broadcast shape ", t.sizes(), " to ", shape);
  Shape strides(shape.size(), 0);
  for (int64_t i = 0; i < t.dim(); ++i) {
    int64_t s = t.size(i);
    TWIG_CHECK(s == shape[lead + i] || s == 1, RuntimeError, "The expanded size of the tensor (", shape[lead + i],
               ") must match the existing size (", s, ") at non-singleton dimension ", lead + i,
               ".  Target sizes: ", shape, ".  Tensor sizes: ", t.sizes());
    strides[lead + i] = s == 1 ? 0 : t.stride(i);
  }
  return make_alias(t, shape, strides, t.storage_offset());
}

ReduceDims reduce_dims(const Tensor& t, const Dims& dims, bool keepdim) {
  ReduceDims rd;
  const int64_t n = t.dim();
  rd.reduced.assign(static_cast<size_t>(n), dims.empty());
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, n);
    if (n == 0) continue;
    TWIG_CHECK(!rd.reduced[w] || dims.empty(), RuntimeError, "dim ", w, " appears multiple times in the list of dims ",
               dims);
    rd.reduced[w] = true;
  }
  rd.count = 1;
  for (int64_t i = 0; i < n; ++i) {
    if (rd.reduced[i]) {
      rd.count *= t.size(i);
      rd.keep_shape.push_back(1);
      if (keepdim) rd.out_shape.push_back(1);
    } else {
      rd.keep_shape.push_back(t.size(i));
      rd.out_shape.push_back(t.size(i));
    }
  }
  return rd;
}

Tensor reduce_raw(ReduceOp op, const Tensor& in, const ReduceDims& rd, Dtype out_dtype, double p) {
  Tensor out = make_empty(rd.keep_shape, out_dtype, in.device());
  backend_for(in.device()).reduce(op, out, in, rd.reduced, p);
  return make_alias(out, rd.out_shape, contiguous_strides(rd.out_shape), 0);
}

Tensor make_sparse(const Tensor& indices, const Tensor& values, const Shape& sizes, bool coalesced) {
  auto impl = std::make_shared<TensorImpl>();
  impl->layout = Layout::SparseCoo;
  impl->sizes = sizes;
  impl->strides.clear();
  impl->dtype = values.dtype();
  impl->coo_indices = indices.impl_ptr();
  impl->coo_values = values.impl_ptr();
  impl->coo_coalesced = coalesced;
  return Tensor(std::move(impl));
}

Tensor sparse_shallow_copy(const Tensor& t) {
  TWIG_CHECK(t.defined() && t.is_sparse(), NotImplementedError,
             "detach: expected a tensor with layout torch.sparse_coo but got one with layout ",
             t.defined() ? layout_name(t.layout()) : "undefined");
  const TensorImpl& s = *t.impl();
  return make_sparse(Tensor(s.coo_indices), Tensor(s.coo_values), s.sizes, s.coo_coalesced);
}

}  // namespace twig::detail
