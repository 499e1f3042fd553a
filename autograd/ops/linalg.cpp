// Linear algebra: matmul and its named special cases (mm, bmm, mv, dot), addmm, cdist.
// Every product ends in Backend::gemm on views: transposed operands are passed as strides (BLAS
// transpose flags), broadcast batch dims as stride 0, so nothing is copied unless neither of an
// operand's last two strides is 1.
//
// Dimension letters: B batch, M rows of the left operand, K the contracted dim, N columns of the
// right operand; cdist: P rows of x1, R rows of x2, M features.
#include <cmath>
#include <limits>
#include <optional>

#include "twig/autograd/function.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;
using autograd::sum_to;

namespace {

// "2x3" for messages, like PyTorch's "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)".
std::string dims_str(const Tensor& t) {
  std::string s;
  for (int64_t i = 0; i < t.dim(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(t.size(i));
  }
  return s;
}

// PyTorch's C++ scalar names in dtype messages ("float != double").
const char* scalar_type_name(Dtype d) {
  switch (d) {
    case kBool:
      return "bool";
    case kUInt8:
      return "unsigned char";
    case kInt32:
      return "int";
    case kInt64:
      return "long int";
    case kFloat32:
      return "float";
    case kFloat64:
      return "double";
  }
  return "unknown";
}

void check_operands(const Tensor& a, const Tensor& b, const char* op) {
  detail::check_defined(a, op);
  detail::check_defined(b, op);
  detail::check_same_device(a, b, op);
  TWIG_CHECK(a.dtype() == b.dtype(), RuntimeError,
             "expected m1 and m2 to have the same dtype, but got: ", scalar_type_name(a.dtype()),
             " != ", scalar_type_name(b.dtype()));
  TWIG_CHECK(a.dtype() != kBool, RuntimeError, op, ": not implemented for 'Bool' (shapes ", a.sizes(), " and ",
             b.sizes(), ")");
}

// t with rows x cols in its last two dims is something BLAS can read in place: one of the two
// strides is 1 and the other is a valid leading dimension. Mirrors cpu_blas.cpp's blas_layout.
bool gemm_readable(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  if ((s1 == 1 || cols == 1) && (rows == 1 || s0 >= cols)) return true;
  if ((s0 == 1 || rows == 1) && (cols == 1 || s1 >= rows)) return true;
  return false;
}

// A contiguous copy, no autograd (the op records its own node).
Tensor contiguous_raw(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = detail::make_empty(t.sizes(), t.dtype(), t.device());
  backend_for(t.device()).copy(c, t);
  return c;
}

// Shape of one operand as a stack of matrices: batch dims, then (rows, cols).
Shape batch_of(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }

// out (batch..., M, N) contiguous  = alpha * a (batch'..., M, K) @ b (batch''..., K, N) + beta * out,
// a and b at least 2-D, their batch dims broadcast to out's. No autograd. The batch dims are
// coalesced as far as all three operands allow; what cannot be coalesced is looped over here, the
// innermost run goes to one gemm call with a single batch stride per operand (0 where broadcast).
void gemm_into(const Tensor& out, Tensor a, Tensor b, Scalar alpha, Scalar beta) {
  const int64_t nd = out.dim();
  const int64_t M = out.size(nd - 2), N = out.size(nd - 1), K = a.size(a.dim() - 1);
  if (out.numel() == 0) return;
  if (!gemm_readable(M, K, a.stride(a.dim() - 2), a.stride(a.dim() - 1))) a = contiguous_raw(a);
  if (!gemm_readable(K, N, b.stride(b.dim() - 2), b.stride(b.dim() - 1))) b = contiguous_raw(b);
  Backend& be = backend_for(out.device());

  const Shape batch(out.sizes().begin(), out.sizes().end() - 2);
  if (batch.empty()) {
    // The 2-D hot path: three metadata views, no data copies.
    be.gemm(detail::make_alias(out, {1, M, N}, {M * N, N, 1}, out.storage_offset()),
            detail::make_alias(a, {1, M, K}, {0, a.stride(0), a.stride(1)}, a.storage_offset()),
            detail::make_alias(b, {1, K, N}, {0, b.stride(0), b.stride(1)}, b.storage_offset()), alpha, beta);
    return;
  }

  // Batch strides of a and b broadcast to `batch` (0 where expanded), and out's.
  const Tensor ab = detail::broadcast_raw(a, [&] {
    Shape s = batch;
    s.push_back(M);
    s.push_back(K);
    return s;
  }());
  const Tensor bb = detail::broadcast_raw(b, [&] {
    Shape s = batch;
    s.push_back(K);
    s.push_back(N);
    return s;
  }());
  // Coalesce batch dims from the innermost outwards while every operand steps uniformly.
  struct Dim {
    int64_t size, sa, sb, so;
  };
  std::vector<Dim> dims;  // outermost first
  for (size_t d = 0; d < batch.size(); ++d) {
    if (batch[d] == 1) continue;
    Dim cur{batch[d], ab.stride(d), bb.stride(d), out.stride(d)};
    if (!dims.empty()) {
      Dim& prev = dims.back();
      if (prev.sa == cur.sa * cur.size && prev.sb == cur.sb * cur.size && prev.so == cur.so * cur.size) {
        prev = {prev.size * cur.size, cur.sa, cur.sb, cur.so};
        continue;
      }
    }
    dims.push_back(cur);
  }
  if (dims.empty()) dims.push_back({1, 0, 0, M * N});
  const Dim inner = dims.back();
  dims.pop_back();
  int64_t outer = 1;
  for (const Dim& d : dims) outer *= d.size;

  std::vector<int64_t> idx(dims.size(), 0);
  for (int64_t it = 0; it < outer; ++it) {
    int64_t oa = ab.storage_offset(), ob = bb.storage_offset(), oo = out.storage_offset();
    for (size_t d = 0; d < dims.size(); ++d) {
      oa += idx[d] * dims[d].sa;
      ob += idx[d] * dims[d].sb;
      oo += idx[d] * dims[d].so;
    }
    be.gemm(detail::make_alias(out, {inner.size, M, N}, {inner.so, N, 1}, oo),
            detail::make_alias(ab, {inner.size, M, K}, {inner.sa, ab.stride(nd - 2), ab.stride(nd - 1)}, oa),
            detail::make_alias(bb, {inner.size, K, N}, {inner.sb, bb.stride(nd - 2), bb.stride(nd - 1)}, ob), alpha,
            beta);
    for (int64_t d = static_cast<int64_t>(dims.size()) - 1; d >= 0; --d) {
      if (++idx[d] < dims[d].size) break;
      idx[d] = 0;
    }
  }
}

// t viewed as a (1, K) row (for a 1-D left operand) or (K, 1) column (1-D right operand); no autograd.
Tensor as_row(const Tensor& t) {
  return detail::make_alias(t, {1, t.size(0)}, {t.size(0) * t.stride(0), t.stride(0)}, t.storage_offset());
}
Tensor as_col(const Tensor& t) { return detail::make_alias(t, {t.size(0), 1}, {t.stride(0), 1}, t.storage_offset()); }

// RuntimeError naming both shapes when the contracted dims differ, worded as PyTorch does for
// each case.
void check_inner_dims(const Tensor& a, const Tensor& b, int64_t K, int64_t Kb) {
  if (K == Kb) return;
  if (a.dim() == 1 && b.dim() == 1) {
    TWIG_THROW(RuntimeError, "inconsistent tensor size, expected tensor [", K, "] and src [", Kb,
               "] to have the same number of elements, but got ", K, " and ", Kb, " elements respectively");
  }
  if (a.dim() == 2 && b.dim() == 1) {
    TWIG_THROW(RuntimeError, "size mismatch, got mat (", dims_str(a), "), vec (", dims_str(b), ")");
  }
  if (a.dim() <= 2 && b.dim() <= 2) {
    TWIG_THROW(RuntimeError, "mat1 and mat2 shapes cannot be multiplied (", dims_str(a), " and ", dims_str(b), ")");
  }
  TWIG_THROW(RuntimeError, "matmul: shapes cannot be multiplied (", dims_str(a), " and ", dims_str(b),
             "): contracted dims ", K, " != ", Kb);
}

// The one stride of t's first `ndims` dims seen as a single dim, if they collapse (size-1 dims
// ignored); 0 when all of them have size 1.
std::optional<int64_t> collapsed_stride(const Tensor& t, int64_t ndims) {
  int64_t stride = 0, span = 0;
  bool any = false;
  for (int64_t d = ndims - 1; d >= 0; --d) {
    if (t.size(d) == 1) continue;
    if (any && t.stride(d) != span) return std::nullopt;
    if (!any) stride = t.stride(d);
    any = true;
    span = t.stride(d) * t.size(d);
  }
  return stride;
}

// The forward of matmul for any ranks >= 1; no autograd.
Tensor matmul_raw(const Tensor& a, const Tensor& b) {
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  const Tensor a2 = a_vec ? as_row(a) : a;  // (..., M, K)
  const Tensor b2 = b_vec ? as_col(b) : b;  // (..., K, N)
  const int64_t M = a2.size(a2.dim() - 2), K = a2.size(a2.dim() - 1);
  const int64_t N = b2.size(b2.dim() - 1);
  check_inner_dims(a, b, K, b2.size(b2.dim() - 2));
  const Shape ba = batch_of(a2), bb = batch_of(b2);
  Shape batch;
  {
    const size_t n = std::max(ba.size(), bb.size());
    batch.resize(n);
    for (size_t i = 0; i < n; ++i) {
      int64_t x = i < n - ba.size() ? 1 : ba[i - (n - ba.size())];
      int64_t y = i < n - bb.size() ? 1 : bb[i - (n - bb.size())];
      TWIG_CHECK(x == y || x == 1 || y == 1, RuntimeError, "matmul: batch dims of ", a.sizes(), " and ", b.sizes(),
                 " cannot be broadcast (", x, " vs ", y, " at batch dim ", i, ")");
      batch[i] = x == 1 ? y : x;
    }
  }
  // The result shape PyTorch reports: batch, then M unless a was 1-D, then N unless b was 1-D.
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);
  Tensor out = detail::make_empty(out_shape, a.dtype(), a.device());
  if (!a_vec && !b_vec && batch.empty()) {
    gemm_into(out, a2, b2, 1, 0);  // the 2-D hot path: straight to one gemm call
    return out;
  }

  // A batched left operand against a plain matrix: fold the batch into M when a's batch and row
  // dims collapse to one stride (e.g. a contiguous (B, T, C) input times a (C, N) weight).
  if (a2.dim() > 2 && b2.dim() == 2) {
    if (std::optional<int64_t> row_stride = collapsed_stride(a2, a2.dim() - 1)) {
      int64_t flat_rows = 1;
      for (int64_t d = 0; d + 1 < a2.dim(); ++d) flat_rows *= a2.size(d);
      const Tensor a_flat =
          detail::make_alias(a2, {flat_rows, K}, {*row_stride, a2.stride(a2.dim() - 1)}, a2.storage_offset());
      gemm_into(detail::make_alias(out, {flat_rows, N}, {N, 1}, 0), a_flat, b2, 1, 0);
      return out;
    }
  }
  Shape full = batch;
  full.push_back(M);
  full.push_back(N);
  gemm_into(detail::make_alias(out, full, contiguous_strides(full), 0), a2, b2, 1, 0);
  return out;
}

Tensor transpose_last(const Tensor& t) { return t.transpose(-2, -1); }

}  // namespace

// ---- matmul and its special cases -------------------------------------------------------------

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "matmul");
  TWIG_CHECK(a.dim() >= 1 && b.dim() >= 1, RuntimeError,
             "both arguments to matmul need to be at least 1D, but they are ", a.dim(), "D and ", b.dim(), "D");
  trace::Scope scope;
  Tensor out = matmul_raw(a, b);
  if (scope.recording()) [[unlikely]]
    scope.record1("matmul", {a, b}, {}, out, [](const TensorList& in) { return twig::matmul(in[0], in[1]); });
  // Checked here so that the no-grad hot path builds no backward closure at all.
  if (!a.requires_grad() && !b.requires_grad()) return out;
  autograd::record(
      "MatmulBackward0", {a, b}, {out},
      [sa = SavedTensor(a), sb = SavedTensor(b)](const TensorList& g, const Node& n) -> TensorList {
        const Tensor a = sa.get(), b = sb.get();
        if (a.dim() == 1 && b.dim() == 1) {
          return {n.needs_input_grad(0) ? g[0] * b : Tensor(), n.needs_input_grad(1) ? g[0] * a : Tensor()};
        }
        // Work with matrices: a 1-D operand as a (1, K) row / (K, 1) column, and the
        // gradient given back its squeezed dims.
        const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
        const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
        Tensor g2 = g[0];
        if (a.dim() == 1) g2 = g2.unsqueeze(g2.dim() - 1);
        if (b.dim() == 1) g2 = g2.unsqueeze(g2.dim());
        Tensor ga, gb;
        if (n.needs_input_grad(0)) {
          ga = sum_to(matmul(g2, transpose_last(b2)), a2.sizes()).reshape(a.sizes());
        }
        if (n.needs_input_grad(1)) {
          if (a2.dim() > 2 && b2.dim() == 2) {
            // Sum over the batch inside one gemm: (K, B*M) @ (B*M, N).
            const int64_t K = a2.size(a2.dim() - 1), N = g2.size(g2.dim() - 1);
            int64_t rows = 1;  // B * M, spelled out: reshape cannot infer -1 when K or N is 0
            for (int64_t d = 0; d + 1 < a2.dim(); ++d) rows *= a2.size(d);
            gb = matmul(a2.reshape({rows, K}).t(), g2.reshape({rows, N})).reshape(b.sizes());
          } else {
            gb = sum_to(matmul(transpose_last(a2), g2), b2.sizes()).reshape(b.sizes());
          }
        }
        return {ga, gb};
      });
  return out;
}

Tensor mm(const Tensor& a, const Tensor& b) {
  trace::Scope scope;
  check_operands(a, b, "mm");
  TWIG_CHECK(a.dim() == 2, RuntimeError, "self must be a matrix, got shape ", a.sizes());
  TWIG_CHECK(b.dim() == 2, RuntimeError, "mat2 must be a matrix, got shape ", b.sizes());
  Tensor out = matmul(a, b);
  if (scope.recording()) [[unlikely]]
    scope.record1("mm", {a, b}, {}, out, [](const TensorList& in) { return twig::mm(in[0], in[1]); });
  return out;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  trace::Scope scope;
  check_operands(a, b, "bmm");
  TWIG_CHECK(a.dim() == 3, RuntimeError, "batch1 must be a 3D tensor, got shape ", a.sizes());
  TWIG_CHECK(b.dim() == 3, RuntimeError, "batch2 must be a 3D tensor, got shape ", b.sizes());
  TWIG_CHECK(a.size(0) == b.size(0) && a.size(2) == b.size(1), RuntimeError,
             "Expected size for first two dimensions of batch2 tensor to be: [", a.size(0), ", ", a.size(2),
             "] but got: [", b.size(0), ", ", b.size(1), "] (bmm of ", a.sizes(), " and ", b.sizes(), ")");
  Tensor out = matmul(a, b);
  if (scope.recording()) [[unlikely]]
    scope.record1("bmm", {a, b}, {}, out, [](const TensorList& in) { return twig::bmm(in[0], in[1]); });
  return out;
}

Tensor Tensor::matmul(const Tensor& other) const { return twig::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return twig::mm(*this, other); }
Tensor Tensor::bmm(const Tensor& other) const { return twig::bmm(*this, other); }

Tensor Tensor::mv(const Tensor& vec) const {
  check_operands(*this, vec, "mv");
  TWIG_CHECK(dim() == 2 && vec.dim() == 1, RuntimeError, "vector + matrix @ vector expected, got shapes ", sizes(),
             " and ", vec.sizes());
  TWIG_CHECK(size(1) == vec.size(0), RuntimeError, "size mismatch, got mat (", dims_str(*this), "), vec (",
             dims_str(vec), ")");
  return twig::matmul(*this, vec);
}

Tensor Tensor::dot(const Tensor& other) const {
  detail::check_defined(*this, "dot");
  detail::check_defined(other, "dot");
  TWIG_CHECK(dim() == 1 && other.dim() == 1, RuntimeError, "1D tensors expected, but got ", dim(), "D and ",
             other.dim(), "D tensors (shapes ", sizes(), " and ", other.sizes(), ")");
  TWIG_CHECK(dtype() == other.dtype(), RuntimeError, "dot : expected both vectors to have same dtype, but found ",
             dtype_tensor_name(dtype()), " and ", dtype_tensor_name(other.dtype()));
  return twig::matmul(*this, other);
}

// ---- addmm --------------------------------------------------------------------------------------

Tensor addmm(const Tensor& self, const Tensor& m1, const Tensor& m2, Scalar beta, Scalar alpha) {
  detail::check_defined(self, "addmm");
  check_operands(m1, m2, "addmm");
  TWIG_CHECK(m1.dim() == 2, RuntimeError, "mat1 must be a matrix, got shape ", m1.sizes());
  TWIG_CHECK(m2.dim() == 2, RuntimeError, "mat2 must be a matrix, got shape ", m2.sizes());
  TWIG_CHECK(m1.size(1) == m2.size(0), RuntimeError, "mat1 and mat2 shapes cannot be multiplied (", dims_str(m1),
             " and ", dims_str(m2), ")");
  TWIG_CHECK(self.dtype() == m1.dtype(), RuntimeError,
             "expected self and mat1 to have the same dtype, but got: ", scalar_type_name(self.dtype()),
             " != ", scalar_type_name(m1.dtype()));
  detail::check_same_device(self, m1, "addmm");
  TWIG_CHECK(is_floating(m1.dtype()) || (!alpha.is_floating() && !beta.is_floating()), RuntimeError,
             "For integral input tensors, argument alpha and beta must not be floating point numbers (got alpha=",
             alpha, ", beta=", beta, ")");
  const int64_t M = m1.size(0), N = m2.size(1);
  const Shape out_shape{M, N};
  TWIG_CHECK(self.dim() <= 2 && broadcast_shapes(self.sizes(), out_shape) == out_shape, RuntimeError,
             "addmm: self of shape ", self.sizes(), " cannot be broadcast to the product's shape ", out_shape,
             " (mat1 ", m1.sizes(), ", mat2 ", m2.sizes(), ")");
  Tensor out = detail::make_empty(out_shape, m1.dtype(), m1.device());
  const bool use_self = beta.to_double() != 0.0;  // beta == 0 ignores self (no NaN from it), like PyTorch
  if (use_self) backend_for(out.device()).copy(out, detail::broadcast_raw(self, out_shape));
  gemm_into(out, m1, m2, alpha, use_self ? beta : Scalar(0));
  autograd::record("AddmmBackward0", {self, m1, m2}, {out},
                   [s_shape = self.sizes(), s1 = SavedTensor(m1), s2 = SavedTensor(m2), alpha, beta](
                       const TensorList& g, const Node& n) -> TensorList {
                     const bool unit = alpha.to_double() == 1.0;
                     Tensor gs, g1, g2;
                     if (n.needs_input_grad(0)) gs = sum_to(g[0] * beta, s_shape);
                     if (n.needs_input_grad(1)) {
                       g1 = matmul(g[0], s2.get().t());
                       if (!unit) g1 = g1 * alpha;
                     }
                     if (n.needs_input_grad(2)) {
                       g2 = matmul(s1.get().t(), g[0]);
                       if (!unit) g2 = g2 * alpha;
                     }
                     return {gs, g1, g2};
                   });
  return out;
}

// ---- cdist --------------------------------------------------------------------------------------

Tensor cdist(const Tensor& x1, const Tensor& x2, double p) {
  detail::check_defined(x1, "cdist");
  detail::check_defined(x2, "cdist");
  detail::check_same_device(x1, x2, "cdist");
  TWIG_CHECK(x1.dim() >= 2, RuntimeError, "cdist only supports at least 2D tensors, X1 got: ", x1.dim(), "D (shape ",
             x1.sizes(), ")");
  TWIG_CHECK(x2.dim() >= 2, RuntimeError, "cdist only supports at least 2D tensors, X2 got: ", x2.dim(), "D (shape ",
             x2.sizes(), ")");
  TWIG_CHECK(x1.size(x1.dim() - 1) == x2.size(x2.dim() - 1), RuntimeError,
             "X1 and X2 must have the same number of columns. X1: ", x1.size(x1.dim() - 1),
             " X2: ", x2.size(x2.dim() - 1), " (shapes ", x1.sizes(), " and ", x2.sizes(), ")");
  TWIG_CHECK(is_floating(x1.dtype()) && is_floating(x2.dtype()), RuntimeError,
             "cdist only supports floating-point dtypes, X1 got: ", dtype_tensor_name(x1.dtype()),
             ", X2 got: ", dtype_tensor_name(x2.dtype()));
  TWIG_CHECK(x1.dtype() == x2.dtype(), RuntimeError, "cdist: X1 and X2 must have the same dtype, but got ",
             dtype_tensor_name(x1.dtype()), " and ", dtype_tensor_name(x2.dtype()));
  TWIG_CHECK(p >= 0.0 && !std::isnan(p), RuntimeError, "cdist only supports non-negative p values, got ", p);
  {
    const Shape b1 = batch_of(x1), b2 = batch_of(x2);
    const size_t n = std::max(b1.size(), b2.size());
    for (size_t i = 0; i < n; ++i) {
      int64_t u = i < n - b1.size() ? 1 : b1[i - (n - b1.size())];
      int64_t v = i < n - b2.size() ? 1 : b2[i - (n - b2.size())];
      TWIG_CHECK(u == v || u == 1 || v == 1, RuntimeError, "cdist: batch dims of ", x1.sizes(), " and ", x2.sizes(),
                 " cannot be broadcast (", u, " vs ", v, " at batch dim ", i, ")");
    }
  }
  const bool inf = std::isinf(p);

  // Forward by direct differences (exact for near-duplicate points, unlike |a|^2+|b|^2-2ab):
  // diff (.., P, R, M), reduced over M.
  Tensor out;
  {
    autograd::NoGradGuard no_grad;
    const Tensor diff = x1.unsqueeze(x1.dim() - 1) - x2.unsqueeze(x2.dim() - 2);
    const Dims last{diff.dim() - 1};
    if (diff.size(diff.dim() - 1) == 0) {
      out = zeros(Shape(diff.sizes().begin(), diff.sizes().end() - 1), x1.dtype());  // no features: distance 0
    } else if (p == 0.0) {
      out = diff.ne(0).to(x1.dtype()).sum(last);
    } else if (p == 1.0) {
      out = diff.abs().sum(last);
    } else if (p == 2.0) {
      out = (diff * diff).sum(last).sqrt();
    } else if (inf) {
      out = diff.abs().amax(last);
    } else {
      out = diff.abs().pow(p).sum(last).pow(1.0 / p);
    }
  }

  autograd::record(
      "CdistBackward0", {x1, x2}, {out},
      [s1 = SavedTensor(x1), s2 = SavedTensor(x2), so = SavedTensor(out), p, inf](const TensorList& g,
                                                                                  const Node& n) -> TensorList {
        const Tensor a = s1.get(), b = s2.get(), dist = so.get();
        if (p == 0.0) {
          return {n.needs_input_grad(0) ? zeros_like(a) : Tensor(), n.needs_input_grad(1) ? zeros_like(b) : Tensor()};
        }
        // d dist / d diff, (.., P, R, M); 0 where dist == 0 (and where diff == 0 for p < 1), as PyTorch.
        const Tensor diff = a.unsqueeze(a.dim() - 1) - b.unsqueeze(b.dim() - 2);
        const Tensor d = dist.unsqueeze(dist.dim());
        const Tensor zero_dist = d == 0;
        const Tensor safe_d = where(zero_dist, 1.0, d);
        Tensor w;
        if (p == 1.0) {
          w = diff.sign();
        } else if (p == 2.0) {
          w = where(zero_dist, 0.0, diff / safe_d);
        } else if (inf) {
          w = where(zero_dist, 0.0, diff.sign() * (diff.abs() == d).to(diff.dtype()));
        } else {
          const Tensor ad = diff.abs();
          Tensor mask = zero_dist;
          if (p < 1.0) mask = mask | (ad == 0);
          const Tensor safe_ad = where(ad == 0, 1.0, ad);
          w = where(mask, 0.0, diff.sign() * (safe_ad / safe_d).pow(p - 1.0));
        }
        const Tensor gw = g[0].unsqueeze(g[0].dim()) * w;  // (.., P, R, M)
        Tensor ga, gb;
        if (n.needs_input_grad(0)) ga = sum_to(gw.sum({gw.dim() - 2}), a.sizes());
        if (n.needs_input_grad(1)) gb = sum_to(-gw.sum({gw.dim() - 3}), b.sizes());
        return {ga, gb};
      });
  return out;
}

}  // namespace twig
