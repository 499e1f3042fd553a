// twig::Tensor: a cheap, reference-counted handle to a TensorImpl. Copying a Tensor copies the
// handle (like a Python reference); `is_same` compares identity. Views share storage; `clone()`
// and `contiguous()` copy. Like ATen's TensorBody, the op methods are only declared here: they are
// defined with their backward in autograd/ops/*.cpp, the layer above tensor/ and autograd/, so
// nothing in tensor/ or autograd/ may call them (the link check in CMakeLists.txt enforces it);
// tensor/raw.h holds the non-recording helpers those layers use instead.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "twig/tensor/device.h"
#include "twig/tensor/dtype.h"
#include "twig/tensor/hooks.h"
#include "twig/tensor/layout.h"
#include "twig/tensor/scalar.h"
#include "twig/tensor/tensor_impl.h"

namespace twig {

namespace autograd {
class Node;
}

class Tensor;
using TensorList = std::vector<Tensor>;
using Dims = std::vector<int64_t>;

// dtype / device / requires_grad for factories; implicit from a Dtype or Device alone.
struct TensorOptions {
  std::optional<Dtype> dtype_;
  Device device_ = Device::cpu();
  bool requires_grad_ = false;

  TensorOptions() = default;
  TensorOptions(Dtype d) : dtype_(d) {}
  TensorOptions(Device d) : device_(d) {}
  TensorOptions(DeviceType d) : device_(Device(d)) {}

  TensorOptions& dtype(Dtype d) {
    dtype_ = d;
    return *this;
  }
  TensorOptions& device(Device d) {
    device_ = d;
    return *this;
  }
  TensorOptions& requires_grad(bool r = true) {
    requires_grad_ = r;
    return *this;
  }
  Dtype dtype_or(Dtype fallback) const { return dtype_.value_or(fallback); }
};

// The `p` of a norm: a real number (including ±inf) or "fro".
struct NormP {
  double p = 2.0;
  bool fro = false;
  NormP(double v) : p(v) {}
  NormP(int v) : p(v) {}
  NormP(const char* s);
  NormP(const std::string& s) : NormP(s.c_str()) {}
  std::string str() const;
};

// Gradient hook: receives the incoming gradient; returns a replacement, or an undefined Tensor to
// keep it (Python's hook returning None).
using TensorHook = std::function<Tensor(const Tensor& grad)>;

namespace indexing {
struct Slice {
  std::optional<int64_t> start, stop;
  int64_t step = 1;
  Slice() = default;
  Slice(std::optional<int64_t> start_, std::optional<int64_t> stop_ = std::nullopt, int64_t step_ = 1)
      : start(start_), stop(stop_), step(step_) {}
};
struct EllipsisType {};
struct NoneType {};
constexpr EllipsisType Ellipsis{};
constexpr NoneType None{};
}  // namespace indexing

// One element of t.index({...}): an integer, a Slice, Ellipsis, None (new axis) or a tensor
// (boolean mask, or int64 indices).
class TensorIndex {
 public:
  TensorIndex(int64_t i) : v_(i) {}
  TensorIndex(int i) : v_(static_cast<int64_t>(i)) {}
  TensorIndex(indexing::Slice s) : v_(s) {}
  TensorIndex(indexing::EllipsisType e) : v_(e) {}
  TensorIndex(indexing::NoneType n) : v_(n) {}
  TensorIndex(const Tensor& t);
  TensorIndex(bool) = delete;  // ambiguous in Python too; use a bool tensor

  bool is_integer() const { return std::holds_alternative<int64_t>(v_); }
  bool is_slice() const { return std::holds_alternative<indexing::Slice>(v_); }
  bool is_ellipsis() const { return std::holds_alternative<indexing::EllipsisType>(v_); }
  bool is_none() const { return std::holds_alternative<indexing::NoneType>(v_); }
  bool is_tensor() const { return std::holds_alternative<std::shared_ptr<Tensor>>(v_); }
  int64_t integer() const { return std::get<int64_t>(v_); }
  const indexing::Slice& slice() const { return std::get<indexing::Slice>(v_); }
  const Tensor& tensor() const { return *std::get<std::shared_ptr<Tensor>>(v_); }

 private:
  std::variant<int64_t, indexing::Slice, indexing::EllipsisType, indexing::NoneType, std::shared_ptr<Tensor>> v_;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- identity and metadata -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  int64_t use_count() const { return impl_.use_count(); }

  int64_t dim() const;
  const Shape& sizes() const;
  const Shape& strides() const;
  Shape shape() const { return sizes(); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t numel() const;
  Dtype dtype() const;
  Device device() const;
  TensorOptions options() const;
  int64_t storage_offset() const;
  const Storage& storage() const;
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  Layout layout() const;
  bool is_sparse() const { return layout() == Layout::SparseCoo; }
  size_t element_size() const { return itemsize(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(); }
  // Number of in-place modifications of this tensor's storage (shared with its views).
  uint32_t version() const;
  // Marks an in-place write; ops call it, so users rarely need to.
  void bump_version() const;

  // Raw pointer to element 0 (CPU only; dtype must match T).
  template <typename T>
  T* data_ptr() const;
  void* raw_data_ptr() const;
  // The value of a one-element tensor.
  Scalar item() const;
  template <typename T>
  T item() const {
    return item().to<T>();
  }
  // Copies the elements out in row-major order (converting to T).
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- autograd --------------------------------------------------------------------------
  bool requires_grad() const;
  // Only floating tensors may require grad (RuntimeError otherwise). Returns *this.
  const Tensor& requires_grad_(bool value = true) const;
  const Tensor& set_requires_grad(bool value) const { return requires_grad_(value); }
  // The accumulated gradient (undefined until a backward reaches this leaf).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  std::shared_ptr<autograd::Node> grad_fn() const;
  bool is_leaf() const;
  uint32_t output_nr() const;
  // gradient may be omitted for a one-element tensor.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  void retain_grad() const;
  bool retains_grad() const;
  RemovableHandle register_hook(TensorHook hook) const;
  // A new tensor sharing storage (and version counter), outside the graph.
  Tensor detach() const;
  const Tensor& detach_() const;
  // PyTorch's `.data`: shares storage, no autograd, and writes through it are not versioned.
  Tensor data() const;
  // `.data = other`: this tensor object now holds other's storage, sizes and dtype; its identity,
  // grad and hooks are kept (parametrize and pruning rely on this).
  void set_data(const Tensor& other) const;

  // ---- views (share storage) ---------------------------------------------------------------
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor view_as(const Tensor& other) const { return view(other.sizes()); }
  Tensor reshape_as(const Tensor& other) const { return reshape(other.sizes()); }
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const;  // 0-D, 1-D unchanged; 2-D transposed
  Tensor permute(const Dims& dims) const;
  Tensor movedim(int64_t src, int64_t dst) const;
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor squeeze() const;
  Tensor squeeze(int64_t d) const;
  Tensor unsqueeze(int64_t d) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor unflatten(int64_t dim, const Shape& sizes) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step = 1) const;
  Tensor as_strided(const Shape& sizes, const Shape& strides, std::optional<int64_t> offset = std::nullopt) const;
  // Sliding windows of `size` along dim, every `step`: a new last dim of length size.
  Tensor unfold(int64_t dim, int64_t size, int64_t step) const;
  Tensor operator[](int64_t i) const { return select(0, i); }
  // Python's t[...]: basic indices give views; a tensor index (mask / int64) gives a copy.
  Tensor index(const std::vector<TensorIndex>& indices) const;
  // Python's t[...] = v.
  const Tensor& index_put_(const std::vector<TensorIndex>& indices, const Tensor& value) const;
  const Tensor& index_put_(const std::vector<TensorIndex>& indices, Scalar value) const;

  // ---- copies and conversion ---------------------------------------------------------------
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Dtype dtype, bool copy = false) const;
  Tensor to(Device device, bool copy = false) const;
  Tensor to(const TensorOptions& options, bool copy = false) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor cuda(int index = 0) const { return to(Device::cuda(index)); }
  Tensor type_as(const Tensor& other) const { return to(other.dtype()); }
  Tensor to_float() const { return to(kFloat32); }
  Tensor to_double() const { return to(kFloat64); }
  Tensor to_long() const { return to(kInt64); }
  Tensor to_bool() const { return to(kBool); }
  const Tensor& copy_(const Tensor& src) const;
  const Tensor& fill_(Scalar value) const;
  const Tensor& zero_() const;

  // ---- sparse COO (autograd/ops/sparse.cpp) -----------------------------------------------------
  // A strided tensor as sparse COO with its first sparse_dim dims sparse (all by default) and the rest
  // dense (hybrid); coalesced, indices in row-major order, exact zeros dropped (NaN kept).
  Tensor to_sparse(std::optional<int64_t> sparse_dim = std::nullopt) const;
  // A sparse tensor as a strided one, duplicates summed; a strided tensor is returned as is.
  Tensor to_dense() const;
  // Sparse COO only, like the methods below: sorted by linear index with duplicates summed (a coalesced tensor is
  // returned as is).
  Tensor coalesce() const;
  bool is_coalesced() const;
  // int64 (sparse_dim, nnz) and (nnz, dense dims...); coalesced tensors only (RuntimeError otherwise).
  Tensor indices() const;
  Tensor values() const;
  // The same, whether coalesced or not.
  Tensor _indices() const;
  Tensor _values() const;
  // Sparse only (NotImplementedError for a strided tensor, as PyTorch).
  int64_t sparse_dim() const;
  int64_t dense_dim() const;
  int64_t _nnz() const;

  // ---- elementwise ------------------------------------------------------------------------
  Tensor add(const Tensor& other, Scalar alpha = 1) const;
  Tensor add(Scalar other, Scalar alpha = 1) const;
  Tensor sub(const Tensor& other, Scalar alpha = 1) const;
  Tensor sub(Scalar other, Scalar alpha = 1) const;
  Tensor mul(const Tensor& other) const;
  Tensor mul(Scalar other) const;
  Tensor div(const Tensor& other) const;
  Tensor div(Scalar other) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor pow(Scalar exponent) const;
  Tensor remainder(Scalar other) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  const Tensor& add_(const Tensor& other, Scalar alpha = 1) const;
  const Tensor& add_(Scalar other, Scalar alpha = 1) const;
  const Tensor& sub_(const Tensor& other, Scalar alpha = 1) const;
  const Tensor& sub_(Scalar other, Scalar alpha = 1) const;
  const Tensor& mul_(const Tensor& other) const;
  const Tensor& mul_(Scalar other) const;
  const Tensor& div_(const Tensor& other) const;
  const Tensor& div_(Scalar other) const;
  const Tensor& pow_(Scalar exponent) const;
  // self += value * t1 * t2, self += value * t1 / t2 (optimizers)
  const Tensor& addcmul_(const Tensor& t1, const Tensor& t2, Scalar value = 1) const;
  const Tensor& addcdiv_(const Tensor& t1, const Tensor& t2, Scalar value = 1) const;
  // self += weight * (end - self)
  const Tensor& lerp_(const Tensor& end, Scalar weight) const;

  Tensor neg() const;
  Tensor abs() const;
  Tensor sign() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor reciprocal() const;
  Tensor square() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor floor() const;
  Tensor ceil() const;
  Tensor round() const;  // half to even, like torch.round
  Tensor trunc() const;
  Tensor erf() const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor clamp_min(Scalar min) const { return clamp(min, std::nullopt); }
  Tensor clamp_max(Scalar max) const { return clamp(std::nullopt, max); }
  const Tensor& clamp_(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  const Tensor& relu_() const;
  const Tensor& neg_() const;
  const Tensor& abs_() const;
  const Tensor& sqrt_() const;
  const Tensor& exp_() const;

  Tensor eq(const Tensor& other) const;
  Tensor eq(Scalar other) const;
  Tensor ne(const Tensor& other) const;
  Tensor ne(Scalar other) const;
  Tensor lt(const Tensor& other) const;
  Tensor lt(Scalar other) const;
  Tensor le(const Tensor& other) const;
  Tensor le(Scalar other) const;
  Tensor gt(const Tensor& other) const;
  Tensor gt(Scalar other) const;
  Tensor ge(const Tensor& other) const;
  Tensor ge(Scalar other) const;
  Tensor logical_and(const Tensor& other) const;
  Tensor logical_or(const Tensor& other) const;
  Tensor logical_xor(const Tensor& other) const;
  Tensor logical_not() const;
  Tensor bitwise_not() const;  // ~ : logical not for bool, bitwise for integers
  Tensor isnan() const;
  Tensor isinf() const;
  Tensor isfinite() const;

  Tensor masked_fill(const Tensor& mask, Scalar value) const;
  const Tensor& masked_fill_(const Tensor& mask, Scalar value) const;
  Tensor masked_select(const Tensor& mask) const;

  // ---- reductions -------------------------------------------------------------------------
  Tensor sum(std::optional<Dtype> dtype = std::nullopt) const;
  Tensor sum(const Dims& dims, bool keepdim = false, std::optional<Dtype> dtype = std::nullopt) const;
  Tensor mean() const;
  Tensor mean(const Dims& dims, bool keepdim = false) const;
  Tensor prod() const;
  Tensor prod(int64_t dim, bool keepdim = false) const;
  // Unbiased (correction=1) by default, like torch.var; var(Dims{}, false) is the biased total.
  // (No var(bool) overload: x.var({0}) would silently pick it.)
  Tensor var(const Dims& dims, bool unbiased = true, bool keepdim = false) const;
  Tensor var() const;
  Tensor std(const Dims& dims, bool unbiased = true, bool keepdim = false) const;
  Tensor max() const;
  Tensor min() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor amax(const Dims& dims, bool keepdim = false) const;
  Tensor amin(const Dims& dims, bool keepdim = false) const;
  Tensor argmax(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor argmin(std::optional<int64_t> dim = std::nullopt, bool keepdim = false) const;
  Tensor norm(NormP p = 2.0) const;
  Tensor norm(NormP p, const Dims& dims, bool keepdim = false) const;
  Tensor count_nonzero() const;
  Tensor count_nonzero(const Dims& dims) const;
  Tensor all() const;
  Tensor all(int64_t dim, bool keepdim = false) const;
  Tensor any() const;
  Tensor any(int64_t dim, bool keepdim = false) const;
  Tensor cumsum(int64_t dim) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;

  // ---- linear algebra ---------------------------------------------------------------------
  Tensor matmul(const Tensor& other) const;
  Tensor mm(const Tensor& other) const;
  Tensor bmm(const Tensor& other) const;
  Tensor mv(const Tensor& vec) const;
  Tensor dot(const Tensor& other) const;

  // ---- selection --------------------------------------------------------------------------
  std::tuple<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true, bool sorted = true) const;
  std::tuple<Tensor, Tensor> kthvalue(int64_t k, int64_t dim = -1, bool keepdim = false) const;
  std::tuple<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false, bool stable = false) const;
  Tensor argsort(int64_t dim = -1, bool descending = false, bool stable = false) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  const Tensor& index_add_(int64_t dim, const Tensor& index, const Tensor& source) const;
  const Tensor& index_copy_(int64_t dim, const Tensor& index, const Tensor& source) const;
  const Tensor& index_fill_(int64_t dim, const Tensor& index, Scalar value) const;
  Tensor nonzero() const;
  Tensor repeat_interleave(int64_t repeats, std::optional<int64_t> dim = std::nullopt) const;
  Tensor repeat_interleave(const Tensor& repeats, std::optional<int64_t> dim = std::nullopt) const;
  Tensor repeat(const Shape& repeats) const;
  TensorList split(int64_t split_size, int64_t dim = 0) const;
  TensorList split_with_sizes(const Shape& sizes, int64_t dim = 0) const;
  TensorList chunk(int64_t chunks, int64_t dim = 0) const;
  TensorList unbind(int64_t dim = 0) const;

  // ---- random, in place -------------------------------------------------------------------
  const Tensor& uniform_(double from = 0.0, double to = 1.0) const;
  const Tensor& normal_(double mean = 0.0, double std = 1.0) const;
  const Tensor& bernoulli_(double p) const;

  std::string to_string() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// ---- operators -------------------------------------------------------------------------------
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);
Tensor operator==(const Tensor& a, const Tensor& b);
Tensor operator!=(const Tensor& a, const Tensor& b);
Tensor operator<(const Tensor& a, const Tensor& b);
Tensor operator<=(const Tensor& a, const Tensor& b);
Tensor operator>(const Tensor& a, const Tensor& b);
Tensor operator>=(const Tensor& a, const Tensor& b);
Tensor operator==(const Tensor& a, Scalar b);
Tensor operator!=(const Tensor& a, Scalar b);
Tensor operator<(const Tensor& a, Scalar b);
Tensor operator<=(const Tensor& a, Scalar b);
Tensor operator>(const Tensor& a, Scalar b);
Tensor operator>=(const Tensor& a, Scalar b);
Tensor operator!(const Tensor& a);
Tensor operator~(const Tensor& a);
Tensor operator&(const Tensor& a, const Tensor& b);
Tensor operator|(const Tensor& a, const Tensor& b);
Tensor operator^(const Tensor& a, const Tensor& b);
const Tensor& operator+=(const Tensor& a, const Tensor& b);
const Tensor& operator-=(const Tensor& a, const Tensor& b);
const Tensor& operator*=(const Tensor& a, const Tensor& b);
const Tensor& operator/=(const Tensor& a, const Tensor& b);
const Tensor& operator+=(const Tensor& a, Scalar b);
const Tensor& operator-=(const Tensor& a, Scalar b);
const Tensor& operator*=(const Tensor& a, Scalar b);
const Tensor& operator/=(const Tensor& a, Scalar b);

// PyTorch-format printing: tensor([[1., 2.], [3., 4.]]) with dtype / grad_fn suffixes.
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace twig
