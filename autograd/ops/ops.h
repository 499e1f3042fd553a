// Free functions: factories, and the ops that take several tensors. Methods of Tensor forward here
// or the other way round; either spelling records autograd the same way.
#pragma once

#include <optional>
#include <tuple>
#include <vector>

#include "twig/tensor/backend.h"
#include "twig/tensor/tensor.h"

namespace twig {

// ---- factories -----------------------------------------------------------------------------
Tensor empty(const Shape& shape, const TensorOptions& options = {});
Tensor zeros(const Shape& shape, const TensorOptions& options = {});
Tensor ones(const Shape& shape, const TensorOptions& options = {});
// dtype defaults to the scalar's own (int64 for 2, float32 for 2.0, bool for true).
Tensor full(const Shape& shape, Scalar value, const TensorOptions& options = {});
Tensor scalar_tensor(Scalar value, const TensorOptions& options = {});
Tensor arange(Scalar end, const TensorOptions& options = {});
Tensor arange(Scalar start, Scalar end, Scalar step = 1, const TensorOptions& options = {});
Tensor linspace(double start, double end, int64_t steps, const TensorOptions& options = {});
Tensor eye(int64_t n, std::optional<int64_t> m = std::nullopt, const TensorOptions& options = {});
// *_like: same shape, and the source's dtype/device unless options say otherwise.
Tensor empty_like(const Tensor& t, const TensorOptions& options = {});
Tensor zeros_like(const Tensor& t, const TensorOptions& options = {});
Tensor ones_like(const Tensor& t, const TensorOptions& options = {});
Tensor full_like(const Tensor& t, Scalar value, const TensorOptions& options = {});
// From flat data in row-major order.
template <typename T>
Tensor from_vector(const std::vector<T>& data, const Shape& shape, const TensorOptions& options = {});
template <typename T>
Tensor from_vector(const std::vector<T>& data) {
  return from_vector(data, Shape{static_cast<int64_t>(data.size())});
}
// Wraps memory owned by the caller (no copy); the caller keeps it alive.
Tensor from_blob(void* data, const Shape& shape, Dtype dtype);

// Nested initializer lists of any depth: tensor({{1, 2}, {3, 4}}). Ints give int64, any float
// gives float32, bools give bool, unless options name a dtype. Ragged lists are a ValueError.
class NestedList {
 public:
  NestedList(Scalar v) : scalar_(v), is_scalar_(true) {}
  NestedList(int v) : NestedList(Scalar(v)) {}
  NestedList(long v) : NestedList(Scalar(v)) {}
  NestedList(long long v) : NestedList(Scalar(static_cast<int64_t>(v))) {}
  NestedList(double v) : NestedList(Scalar(v)) {}
  NestedList(float v) : NestedList(Scalar(v)) {}
  NestedList(bool v) : NestedList(Scalar(v)) {}
  NestedList(std::initializer_list<NestedList> items) : items_(items) {}
  bool is_scalar() const { return is_scalar_; }
  const Scalar& scalar() const { return scalar_; }
  const std::vector<NestedList>& items() const { return items_; }

 private:
  Scalar scalar_;
  bool is_scalar_ = false;
  std::vector<NestedList> items_;
};
Tensor tensor(const NestedList& values, const TensorOptions& options = {});

// A sparse COO tensor from int64 indices (sparse_dim, nnz) and values (nnz, dense dims...). size
// defaults to each index's max + 1 (and the values' dense sizes); indices are checked against it
// (RuntimeError as PyTorch's). options may convert the values' dtype. Not coalesced unless nnz <= 1.
Tensor sparse_coo_tensor(const Tensor& indices, const Tensor& values, std::optional<Shape> size = std::nullopt,
                         const TensorOptions& options = {});

// ---- random (tensor/random.h has the Generator) ---------------------------------------------
class Generator;
Tensor rand(const Shape& shape, const TensorOptions& options = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, const TensorOptions& options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& options = {},
               Generator* gen = nullptr);
Tensor randperm(int64_t n, const TensorOptions& options = {}, Generator* gen = nullptr);
// Each element 1 with probability p[i] (same shape and dtype as p).
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, const TensorOptions& options = {}, Generator* gen = nullptr);
Tensor rand_like(const Tensor& t, Generator* gen = nullptr);
Tensor randn_like(const Tensor& t, Generator* gen = nullptr);

// ---- elementwise across tensors ------------------------------------------------------------
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, Scalar a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, Scalar b);
Tensor where(const Tensor& cond, Scalar a, Scalar b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, Scalar b);
Tensor pow(Scalar a, const Tensor& b);
// The dtype an op on these operands computes in (PyTorch's result_type).
Dtype result_type(const Tensor& a, const Tensor& b);
Dtype result_type(const Tensor& a, Scalar b);
Shape broadcast_shapes(const Shape& a, const Shape& b);
TensorList broadcast_tensors(const TensorList& tensors);

// ---- joining and splitting -----------------------------------------------------------------
Tensor cat(const TensorList& tensors, int64_t dim = 0);
Tensor stack(const TensorList& tensors, int64_t dim = 0);

// ---- linear algebra ------------------------------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
// beta * self + alpha * (m1 @ m2)
Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, Scalar beta = 1, Scalar alpha = 1);
// Pairwise p-norm distances between the rows of x1 (.., P, M) and x2 (.., R, M): (.., P, R).
Tensor cdist(const Tensor& x1, const Tensor& x2, double p = 2.0);

// ---- optimizer steps -----------------------------------------------------------------------
// (AdamStep, the scalars of one step, is declared beside the Backend in tensor/backend.h.)
// The whole update of one parameter in place, in one pass over memory: weight decay, both moment
// updates, the amsgrad maximum and the parameter step. param, grad, exp_avg, exp_avg_sq (and
// max_exp_avg_sq when s.amsgrad) share shape, floating dtype and device, else ValueError/TypeError/
// RuntimeError naming the mismatch. Rounds like the op sequence PyTorch runs. Not differentiable:
// RuntimeError when grad mode would record it.
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const Tensor& max_exp_avg_sq, const AdamStep& s);

// ---- comparison helpers --------------------------------------------------------------------
// Same shape and same values (dtypes may differ, like torch.equal after promotion).
bool equal(const Tensor& a, const Tensor& b);
// |a - b| <= atol + rtol * |b|, elementwise, with broadcasting.
Tensor isclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);

// ---- the remaining methods as free functions (PyTorch spelling) -----------------------------
inline Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1) { return a.add(b, alpha); }
inline Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1) { return a.sub(b, alpha); }
inline Tensor mul(const Tensor& a, const Tensor& b) { return a.mul(b); }
inline Tensor div(const Tensor& a, const Tensor& b) { return a.div(b); }
inline Tensor neg(const Tensor& a) { return a.neg(); }
inline Tensor abs(const Tensor& a) { return a.abs(); }
inline Tensor exp(const Tensor& a) { return a.exp(); }
inline Tensor log(const Tensor& a) { return a.log(); }
inline Tensor sqrt(const Tensor& a) { return a.sqrt(); }
inline Tensor tanh(const Tensor& a) { return a.tanh(); }
inline Tensor sigmoid(const Tensor& a) { return a.sigmoid(); }
inline Tensor relu(const Tensor& a) { return a.relu(); }
inline Tensor clamp(const Tensor& a, std::optional<Scalar> lo, std::optional<Scalar> hi = std::nullopt) {
  return a.clamp(lo, hi);
}
inline Tensor sum(const Tensor& a) { return a.sum(); }
inline Tensor sum(const Tensor& a, const Dims& dims, bool keepdim = false) { return a.sum(dims, keepdim); }
inline Tensor mean(const Tensor& a) { return a.mean(); }
inline Tensor norm(const Tensor& a, NormP p = 2.0) { return a.norm(p); }
inline Tensor norm(const Tensor& a, NormP p, const Dims& dims, bool keepdim = false) {
  return a.norm(p, dims, keepdim);
}
inline Tensor flatten(const Tensor& a, int64_t start_dim = 0, int64_t end_dim = -1) {
  return a.flatten(start_dim, end_dim);
}
inline Tensor reshape(const Tensor& a, const Shape& shape) { return a.reshape(shape); }
inline Tensor transpose(const Tensor& a, int64_t d0, int64_t d1) { return a.transpose(d0, d1); }
inline Tensor permute(const Tensor& a, const Dims& dims) { return a.permute(dims); }
inline Tensor squeeze(const Tensor& a) { return a.squeeze(); }
inline Tensor unsqueeze(const Tensor& a, int64_t d) { return a.unsqueeze(d); }
inline Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index) { return a.index_select(dim, index); }
inline Tensor gather(const Tensor& a, int64_t dim, const Tensor& index) { return a.gather(dim, index); }
inline Tensor masked_select(const Tensor& a, const Tensor& mask) { return a.masked_select(mask); }
inline Tensor nonzero(const Tensor& a) { return a.nonzero(); }
inline Tensor count_nonzero(const Tensor& a) { return a.count_nonzero(); }
inline std::tuple<Tensor, Tensor> topk(const Tensor& a, int64_t k, int64_t dim = -1, bool largest = true,
                                       bool sorted = true) {
  return a.topk(k, dim, largest, sorted);
}
inline std::tuple<Tensor, Tensor> sort(const Tensor& a, int64_t dim = -1, bool descending = false,
                                       bool stable = false) {
  return a.sort(dim, descending, stable);
}
inline Tensor argsort(const Tensor& a, int64_t dim = -1, bool descending = false, bool stable = false) {
  return a.argsort(dim, descending, stable);
}
inline std::tuple<Tensor, Tensor> kthvalue(const Tensor& a, int64_t k, int64_t dim = -1, bool keepdim = false) {
  return a.kthvalue(k, dim, keepdim);
}
inline TensorList split(const Tensor& a, int64_t size, int64_t dim = 0) { return a.split(size, dim); }
inline TensorList chunk(const Tensor& a, int64_t chunks, int64_t dim = 0) { return a.chunk(chunks, dim); }
inline Tensor repeat_interleave(const Tensor& a, int64_t repeats, std::optional<int64_t> dim = std::nullopt) {
  return a.repeat_interleave(repeats, dim);
}
inline Tensor softmax(const Tensor& a, int64_t dim) { return a.softmax(dim); }
inline Tensor log_softmax(const Tensor& a, int64_t dim) { return a.log_softmax(dim); }
inline Tensor logical_not(const Tensor& a) { return a.logical_not(); }
inline Tensor logical_and(const Tensor& a, const Tensor& b) { return a.logical_and(b); }
inline Tensor logical_or(const Tensor& a, const Tensor& b) { return a.logical_or(b); }

}  // namespace twig
