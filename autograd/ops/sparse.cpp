// Sparse COO tensors (PyTorch's torch.sparse_coo): a TensorImpl with layout SparseCoo, no storage,
// and two strided tensors, indices (sparse_dim, nnz) int64 and values (nnz, dense dims...). Only
// conversion, coalescing and inspection exist; every other op rejects the layout by name through
// detail::check_defined. The index work runs on CPU copies (sparse kernels can come later).
#include <algorithm>
#include <numeric>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

namespace twig {

namespace {

using autograd::NoGradGuard;

using detail::make_sparse;

// The impl of a sparse tensor, else NotImplementedError naming the op (PyTorch has no strided kernel
// for these either).
const TensorImpl& coo(const Tensor& t, const char* op) {
  TWIG_CHECK(t.defined(), RuntimeError, op, ": got an undefined tensor");
  TWIG_CHECK(t.is_sparse(), NotImplementedError, op,
             ": expected a tensor with layout torch.sparse_coo but got one with layout ", layout_name(t.layout()));
  return *t.impl();
}

Shape head(const Shape& s, int64_t k) { return Shape(s.begin(), s.begin() + k); }
Shape tail(const Shape& s, int64_t k) { return Shape(s.begin() + k, s.end()); }

Shape prepend(int64_t first, const Shape& rest) {
  Shape out{first};
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

// Row-major linear index over the sparse dims of each of the nnz columns of idx (sparse_dim, nnz).
std::vector<int64_t> linear_indices(const std::vector<int64_t>& idx, int64_t nnz, const Shape& sparse_sizes) {
  std::vector<int64_t> lin(static_cast<size_t>(nnz), 0);
  for (size_t d = 0; d < sparse_sizes.size(); ++d) {
    for (int64_t j = 0; j < nnz; ++j) {
      auto& l = lin[static_cast<size_t>(j)];
      l = l * sparse_sizes[d] + idx[d * static_cast<size_t>(nnz) + static_cast<size_t>(j)];
    }
  }
  return lin;
}

// The (sparse_dim, n) int64 index matrix of row-major linear indices.
Tensor unravel(const std::vector<int64_t>& lin, const Shape& sparse_sizes, Device device) {
  auto k = static_cast<int64_t>(sparse_sizes.size());
  auto n = static_cast<int64_t>(lin.size());
  std::vector<int64_t> idx(static_cast<size_t>(k * n));
  for (int64_t j = 0; j < n; ++j) {
    int64_t l = lin[static_cast<size_t>(j)];
    for (int64_t d = k; d-- > 0;) {
      idx[static_cast<size_t>(d * n + j)] = l % sparse_sizes[d];
      l /= sparse_sizes[d];
    }
  }
  return from_vector(idx, {k, n}).to(device);
}

}  // namespace

namespace detail {

Tensor sparse_to(const Tensor& t, const TensorOptions& options, bool copy) {
  const TensorImpl& s = coo(t, "to");
  TWIG_CHECK(!options.requires_grad_, RuntimeError, "to: requires_grad is not supported for layout ",
             layout_name(s.layout));
  Dtype dt = options.dtype_or(s.dtype);
  if (!copy && dt == s.dtype && options.device_ == t.device()) return t;
  NoGradGuard no_grad;
  Tensor indices = Tensor(s.coo_indices).to(options.device_, /*copy=*/true);
  Tensor values = Tensor(s.coo_values).to(TensorOptions(dt).device(options.device_), /*copy=*/true);
  return make_sparse(indices, values, s.sizes, s.coo_coalesced);
}

}  // namespace detail

Tensor sparse_coo_tensor(const Tensor& indices, const Tensor& values, std::optional<Shape> size,
                         const TensorOptions& options) {
  detail::check_defined(indices, "sparse_coo_tensor");
  detail::check_defined(values, "sparse_coo_tensor");
  TWIG_CHECK(!options.requires_grad_ && !values.requires_grad(), RuntimeError,
             "sparse_coo_tensor: requires_grad is not supported for layout torch.sparse_coo");
  TWIG_CHECK(indices.dtype() == kInt64, RuntimeError, "indices must be an int64 tensor (got ",
             dtype_name(indices.dtype()), ")");
  TWIG_CHECK(indices.dim() == 2, RuntimeError, "indices must be sparse_dim x nnz, but got: ", indices.sizes());
  TWIG_CHECK(values.dim() >= 1, RuntimeError,
             "values must have at least one dimension (nnz), but got: ", values.sizes());
  TWIG_CHECK(indices.device() == values.device(), RuntimeError,
             "indices and values must be on the same device, but got ", indices.device(), " and ", values.device());
  int64_t k = indices.size(0);
  int64_t nnz = indices.size(1);
  TWIG_CHECK(values.size(0) == nnz, RuntimeError,
             "indices and values must have same nnz, but got nnz from indices: ", nnz,
             ", nnz from values: ", values.size(0));
  Shape dense_sizes = tail(values.sizes(), 1);
  auto dense_dim = static_cast<int64_t>(dense_sizes.size());

  std::vector<int64_t> idx = indices.to_vector<int64_t>();
  for (int64_t d = 0; d < k; ++d) {
    for (int64_t j = 0; j < nnz; ++j) {
      int64_t i = idx[static_cast<size_t>(d * nnz + j)];
      TWIG_CHECK(i >= 0, RuntimeError, "found negative index ", i, " for dim ", d);
    }
  }
  Shape sizes;
  if (size) {
    sizes = *size;
    TWIG_CHECK(static_cast<int64_t>(sizes.size()) == k + dense_dim, RuntimeError,
               "number of dimensions must be sparse_dim (", k, ") + dense_dim (", dense_dim, "), but got ",
               sizes.size());
    TWIG_CHECK(tail(sizes, k) == dense_sizes, RuntimeError, "values has incorrect size, expected ",
               prepend(nnz, tail(sizes, k)), ", got ", values.sizes());
    for (int64_t d = 0; d < k; ++d) {
      for (int64_t j = 0; j < nnz; ++j) {
        int64_t i = idx[static_cast<size_t>(d * nnz + j)];
        TWIG_CHECK(i < sizes[d], RuntimeError, "size is inconsistent with indices: for dim ", d, ", size is ", sizes[d],
                   " but found index ", i);
      }
    }
  } else {
    for (int64_t d = 0; d < k; ++d) {
      int64_t max = -1;
      for (int64_t j = 0; j < nnz; ++j) max = std::max(max, idx[static_cast<size_t>(d * nnz + j)]);
      sizes.push_back(max + 1);
    }
    sizes.insert(sizes.end(), dense_sizes.begin(), dense_sizes.end());
  }
  Tensor vals = options.dtype_ ? values.to(*options.dtype_) : values;
  // Zero or one entry cannot hold duplicates or be out of order.
  return make_sparse(indices, vals, sizes, /*coalesced=*/nnz <= 1);
}

Tensor Tensor::to_sparse(std::optional<int64_t> sparse_dim) const {
  TWIG_CHECK(defined(), RuntimeError, "to_sparse: got an undefined tensor");
  if (is_sparse()) {
    TWIG_CHECK(!sparse_dim, NotImplementedError, "to_sparse(sparse_dim=", *sparse_dim,
               "): not supported for a tensor with layout torch.sparse_coo");
    return *this;
  }
  detail::check_defined(*this, "to_sparse");
  int64_t n = dim();
  int64_t k = sparse_dim.value_or(n);
  TWIG_CHECK(k <= n, RuntimeError, "sparse_dim must be less than or equal to self.dim() (got sparse_dim ", k,
             " for dim ", n, ")");
  TWIG_CHECK(k > 0 || (n == 0 && k == 0), RuntimeError, "sparse_dim must be >0 if dimensionality > 0 (got sparse_dim ",
             k, " for dim ", n, ")");
  NoGradGuard no_grad;
  Shape sparse_sizes = head(sizes(), k);
  Shape dense_sizes = tail(sizes(), k);
  int64_t rows = shape_numel(sparse_sizes);
  int64_t row_size = shape_numel(dense_sizes);
  Tensor flat = detach().reshape({rows, row_size});
  // A row is kept when any element is not an exact zero (NaN counts as nonzero, -0.0 does not).
  Tensor kept = flat.ne(0).any(1).nonzero().reshape({-1});
  int64_t nnz = kept.size(0);
  Tensor values = flat.index_select(0, kept).reshape(prepend(nnz, dense_sizes));
  Tensor indices = unravel(kept.to_vector<int64_t>(), sparse_sizes, device());
  return make_sparse(indices, values, sizes(), /*coalesced=*/true);
}

Tensor Tensor::coalesce() const {
  const TensorImpl& s = coo(*this, "coalesce");
  if (s.coo_coalesced) return *this;
  NoGradGuard no_grad;
  int64_t k = sparse_dim();
  int64_t nnz = _nnz();
  Shape sparse_sizes = head(s.sizes, k);
  Shape dense_sizes = tail(s.sizes, k);
  int64_t row_size = shape_numel(dense_sizes);
  std::vector<int64_t> lin = linear_indices(_indices().to_vector<int64_t>(), nnz, sparse_sizes);
  std::vector<int64_t> order(static_cast<size_t>(nnz));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lin[static_cast<size_t>(a)] < lin[static_cast<size_t>(b)]; });
  std::vector<int64_t> unique_lin;
  std::vector<int64_t> group(static_cast<size_t>(nnz));  // output row of each input entry
  for (int64_t j : order) {
    int64_t l = lin[static_cast<size_t>(j)];
    if (unique_lin.empty() || unique_lin.back() != l) unique_lin.push_back(l);
    group[static_cast<size_t>(j)] = static_cast<int64_t>(unique_lin.size()) - 1;
  }
  auto n_out = static_cast<int64_t>(unique_lin.size());
  Tensor in = _values().to(Device::cpu()).contiguous();
  Tensor out = zeros(prepend(n_out, dense_sizes), TensorOptions(s.dtype));
  if (row_size > 0) {
    TWIG_DISPATCH_ALL(s.dtype, "coalesce", [&] {
      const auto* src = in.data_ptr<scalar_t>();
      auto* dst = out.data_ptr<scalar_t>();
      for (int64_t j : order) {  // sums duplicates in their sorted (stable) order
        scalar_t* row = dst + group[static_cast<size_t>(j)] * row_size;
        const scalar_t* from = src + j * row_size;
        for (int64_t e = 0; e < row_size; ++e) row[e] = static_cast<scalar_t>(row[e] + from[e]);
      }
    });
  }
  return make_sparse(unravel(unique_lin, sparse_sizes, device()), out.to(device()), s.sizes, /*coalesced=*/true);
}

Tensor Tensor::to_dense() const {
  TWIG_CHECK(defined(), RuntimeError, "to_dense: got an undefined tensor");
  if (!is_sparse()) return *this;
  NoGradGuard no_grad;
  Tensor c = coalesce();
  int64_t k = sparse_dim();
  Shape sparse_sizes = head(sizes(), k);
  int64_t rows = shape_numel(sparse_sizes);
  int64_t row_size = shape_numel(tail(sizes(), k));
  Tensor out = zeros(sizes(), options());
  int64_t nnz = c._nnz();
  if (nnz > 0) {
    std::vector<int64_t> lin = linear_indices(c._indices().to_vector<int64_t>(), nnz, sparse_sizes);
    Tensor rows_index = from_vector(lin).to(device());
    Tensor values = c._values().reshape({nnz, row_size});
    // PyTorch adds the values onto zeros, so a stored -0.0 comes out as +0.0.
    if (is_floating(values.dtype())) values = values.add(0.0);
    out.reshape({rows, row_size}).index_copy_(0, rows_index, values);
  }
  return out;
}

bool Tensor::is_coalesced() const { return coo(*this, "is_coalesced").coo_coalesced; }

Tensor Tensor::indices() const {
  const TensorImpl& s = coo(*this, "indices");
  TWIG_CHECK(s.coo_coalesced, RuntimeError,
             "Cannot get indices on an uncoalesced tensor, please call .coalesce() first");
  return Tensor(s.coo_indices);
}

Tensor Tensor::values() const {
  const TensorImpl& s = coo(*this, "values");
  TWIG_CHECK(s.coo_coalesced, RuntimeError,
             "Cannot get values on an uncoalesced tensor, please call .coalesce() first");
  return Tensor(s.coo_values);
}

Tensor Tensor::_indices() const { return Tensor(coo(*this, "_indices").coo_indices); }
Tensor Tensor::_values() const { return Tensor(coo(*this, "_values").coo_values); }

int64_t Tensor::sparse_dim() const { return coo(*this, "sparse_dim").coo_indices->sizes[0]; }

int64_t Tensor::dense_dim() const { return static_cast<int64_t>(coo(*this, "dense_dim").coo_values->sizes.size()) - 1; }

int64_t Tensor::_nnz() const { return coo(*this, "_nnz").coo_values->sizes[0]; }

}  // namespace twig
