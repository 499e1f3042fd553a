// Matrix multiply on CPU: float32/float64 through OpenBLAS (transposed views are passed as
// transpose flags, never copied); integer types through a plain reference loop.
#include <cblas.h>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/cpu_small_gemm.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/raw.h"

namespace twig::cpu {

namespace {

// How one (M, K) operand with strides (s0, s1) is handed to BLAS.
struct BlasOperand {
  bool transposed = false;
  int64_t ld = 1;
  bool usable = false;
};

BlasOperand blas_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1) {
  BlasOperand op;
  if (s1 == 1 || cols == 1) {
    op.ld = std::max<int64_t>({s0, cols, 1});
    op.usable = rows == 1 || s0 >= cols;
  }
  if (!op.usable && (s0 == 1 || rows == 1)) {
    op.transposed = true;
    op.ld = std::max<int64_t>({s1, rows, 1});
    op.usable = cols == 1 || s1 >= rows;
  }
  return op;
}

// One (M, N, K) product into the contiguous (M, N) block at c with row stride ldc.
template <typename T>
void gemm_one(const T* a, const T* b, T* c, int64_t ldc, const BlasOperand& la, const BlasOperand& lb, int64_t as1,
              int64_t as2, int64_t bs1, int64_t bs2, T alpha, T beta, int64_t M, int64_t N, int64_t K) {
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : static_cast<T>(beta * c[i * ldc + j]);
    }
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    SmallGemm g;
    g.M = M, g.N = N, g.K = K;
    g.a = a, g.a_m = as1, g.a_k = as2;
    g.b = b, g.b_k = bs1, g.b_n = bs2;
    g.c = c, g.ldc = ldc;
    g.alpha = alpha, g.beta = beta;
    if (small_gemm(g)) return;
  }
  const auto ta = la.transposed ? CblasTrans : CblasNoTrans, tb = lb.transposed ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, a,
                static_cast<int>(la.ld), b, static_cast<int>(lb.ld), beta, c, static_cast<int>(ldc));
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, a,
                static_cast<int>(la.ld), b, static_cast<int>(lb.ld), beta, c, static_cast<int>(ldc));
  } else {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        T acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += a[i * as1 + k * as2] * b[k * bs1 + j * bs2];
        c[i * ldc + j] = beta == T(0) ? alpha * acc : alpha * acc + beta * c[i * ldc + j];
      }
    }
  }
}

// A parallel task should carry at least this many multiply-adds before it is worth a thread.
constexpr int64_t kGemmGrainMacs = 1 << 18;

// OpenBLAS runs single-threaded (see tensor/parallel.h); the pool splits the work instead: over
// the batch when there is one, else over blocks of output rows (or columns when M is small).
// Each task writes its own part of out, so the result does not depend on the thread count.
template <typename T>
void gemm_batched(const Tensor& out, const Tensor& a, const Tensor& b, const BlasOperand& la, const BlasOperand& lb,
                  int64_t a_bs, int64_t b_bs, Scalar alpha, Scalar beta, int64_t B, int64_t M, int64_t N, int64_t K) {
  const T* pa = static_cast<const T*>(a.raw_data_ptr());
  const T* pb = static_cast<const T*>(b.raw_data_ptr());
  T* pc = static_cast<T*>(out.raw_data_ptr());
  const T al = alpha.to<T>(), be = beta.to<T>();
  const int64_t as1 = a.stride(1), as2 = a.stride(2), bs1 = b.stride(1), bs2 = b.stride(2);
  const int64_t macs = std::max<int64_t>(1, M * N * std::max<int64_t>(K, 1));
  if (B > 1) {
    parallel_for(0, B, std::max<int64_t>(1, kGemmGrainMacs / macs), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        gemm_one<T>(pa + i * a_bs, pb + i * b_bs, pc + i * M * N, N, la, lb, as1, as2, bs1, bs2, al, be, M, N, K);
      }
    });
    return;
  }
  // One product: split the larger output dim into blocks (of 16 rows / 64 columns at least, the
  // sizes the BLAS micro-kernels like).
  const bool by_rows = M >= N;
  const int64_t extent = by_rows ? M : N, unit = by_rows ? 16 : 64;
  const int64_t per_unit = macs / extent * unit;
  const int64_t grain_units = std::max<int64_t>(1, kGemmGrainMacs / std::max<int64_t>(1, per_unit));
  const int64_t units = (extent + unit - 1) / unit;
  parallel_for(0, units, grain_units, [&](int64_t u0, int64_t u1) {
    const int64_t lo = u0 * unit, hi = std::min(extent, u1 * unit);
    if (by_rows) {
      // Rows [lo, hi) of out take rows [lo, hi) of a.
      const T* ai = pa + lo * as1;
      gemm_one<T>(ai, pb, pc + lo * N, N, la, lb, as1, as2, bs1, bs2, al, be, hi - lo, N, K);
    } else {
      // Columns [lo, hi) of out take columns [lo, hi) of b.
      const T* bi = pb + lo * bs2;
      gemm_one<T>(pa, bi, pc + lo, N, la, lb, as1, as2, bs1, bs2, al, be, M, hi - lo, K);
    }
  });
}

}  // namespace

void CpuBackend::gemm(const Tensor& out, const Tensor& a_in, const Tensor& b_in, Scalar alpha, Scalar beta) {
  const int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a_in.size(2);
  TWIG_INTERNAL_ASSERT(out.is_contiguous(), "gemm output must be contiguous");
  if (M == 0 || N == 0) return;
  Tensor a = a_in, b = b_in;
  BlasOperand la = blas_layout(M, K, a.stride(1), a.stride(2));
  BlasOperand lb = blas_layout(K, N, b.stride(1), b.stride(2));
  if (!la.usable) {
    a = detail::contiguous_raw(a);
    la = blas_layout(M, K, a.stride(1), a.stride(2));
  }
  if (!lb.usable) {
    b = detail::contiguous_raw(b);
    lb = blas_layout(K, N, b.stride(1), b.stride(2));
  }
  const int64_t a_bs = a.size(0) == 1 ? 0 : a.stride(0), b_bs = b.size(0) == 1 ? 0 : b.stride(0);
  constexpr int64_t kIntMax = 2147483647;
  TWIG_CHECK(M <= kIntMax && N <= kIntMax && K <= kIntMax && la.ld <= kIntMax && lb.ld <= kIntMax, RuntimeError,
             "matmul: dimensions (M=", M, ", N=", N, ", K=", K, ") exceed the 32-bit range of BLAS");
  TWIG_DISPATCH_NUMERIC(out.dtype(), "matmul",
                        [&] { gemm_batched<scalar_t>(out, a, b, la, lb, a_bs, b_bs, alpha, beta, B, M, N, K); });
}

void CpuBackend::gemm_sum(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) {
  const int64_t S = a.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  TWIG_INTERNAL_ASSERT(out.is_contiguous() && out.size(0) == 1 && S >= 1 && b.size(0) == S,
                       "gemm_sum: out must be one contiguous (M, N) block and a, b hold the same S >= 1 entries");
  if (M == 0 || N == 0) return;
  if (out.dtype() == kFloat32 && K > 0) {
    SmallGemm g;
    g.M = M, g.N = N, g.K = K, g.batch = S;
    g.a = a.data_ptr<float>(), g.a_bs = a.stride(0), g.a_m = a.stride(1), g.a_k = a.stride(2);
    g.b = b.data_ptr<float>(), g.b_bs = b.stride(0), g.b_k = b.stride(1), g.b_n = b.stride(2);
    g.c = out.data_ptr<float>(), g.ldc = N;
    g.alpha = alpha.to<float>(), g.beta = beta.to<float>();
    if (small_gemm(g)) return;
  }
  // One product after another, each adding onto the last.
  for (int64_t s = 0; s < S; ++s) {
    gemm(out, detail::make_alias(a, {1, M, K}, {M * K, a.stride(1), a.stride(2)}, a.storage_offset() + s * a.stride(0)),
         detail::make_alias(b, {1, K, N}, {K * N, b.stride(1), b.stride(2)}, b.storage_offset() + s * b.stride(0)),
         alpha, s == 0 ? beta : Scalar(1));
  }
}

}  // namespace twig::cpu
