// Matrix multiply on CPU: float32/float64 through OpenBLAS (transposed views are passed as
// transpose flags, never copied); integer types through a plain reference loop.
#include <cblas.h>

#include "tensor/cpu/cpu_backend.h"
#include "tensor/ops/internal.h"

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

template <typename T>
void gemm_reference(int64_t M, int64_t N, int64_t K, T alpha, const T* a, int64_t as0, int64_t as1, const T* b,
                    int64_t bs0, int64_t bs1, T beta, T* c) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += a[i * as0 + k * as1] * b[k * bs0 + j * bs1];
      c[i * N + j] = beta == T(0) ? alpha * acc : alpha * acc + beta * c[i * N + j];
    }
  }
}

template <typename T>
void gemm_batched(const Tensor& out, const Tensor& a, const Tensor& b, const BlasOperand& la, const BlasOperand& lb,
                  int64_t a_bs, int64_t b_bs, Scalar alpha, Scalar beta, int64_t B, int64_t M, int64_t N, int64_t K) {
  const T* pa = static_cast<const T*>(a.raw_data_ptr());
  const T* pb = static_cast<const T*>(b.raw_data_ptr());
  T* pc = static_cast<T*>(out.raw_data_ptr());
  const T al = alpha.to<T>(), be = beta.to<T>();
  const auto ta = la.transposed ? CblasTrans : CblasNoTrans, tb = lb.transposed ? CblasTrans : CblasNoTrans;
  for (int64_t i = 0; i < B; ++i) {
    const T* ai = pa + i * a_bs;
    const T* bi = pb + i * b_bs;
    T* ci = pc + i * M * N;
    if (K == 0) {
      for (int64_t j = 0; j < M * N; ++j) ci[j] = be == T(0) ? T(0) : static_cast<T>(be * ci[j]);
      continue;
    }
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), al, ai,
                  static_cast<int>(la.ld), bi, static_cast<int>(lb.ld), be, ci, static_cast<int>(N));
    } else if constexpr (std::is_same_v<T, double>) {
      cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), al, ai,
                  static_cast<int>(la.ld), bi, static_cast<int>(lb.ld), be, ci, static_cast<int>(N));
    } else {
      gemm_reference<T>(M, N, K, al, ai, a.stride(1), a.stride(2), bi, b.stride(1), b.stride(2), be, ci);
    }
  }
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
    a = a.contiguous();
    la = blas_layout(M, K, a.stride(1), a.stride(2));
  }
  if (!lb.usable) {
    b = b.contiguous();
    lb = blas_layout(K, N, b.stride(1), b.stride(2));
  }
  const int64_t a_bs = a.size(0) == 1 ? 0 : a.stride(0), b_bs = b.size(0) == 1 ? 0 : b.stride(0);
  constexpr int64_t kIntMax = 2147483647;
  TWIG_CHECK(M <= kIntMax && N <= kIntMax && K <= kIntMax && la.ld <= kIntMax && lb.ld <= kIntMax, RuntimeError,
             "matmul: dimensions (M=", M, ", N=", N, ", K=", K, ") exceed the 32-bit range of BLAS");
  TWIG_DISPATCH_NUMERIC(out.dtype(), "matmul", [&] {
    gemm_batched<scalar_t>(out, a, b, la, lb, a_bs, b_bs, alpha, beta, B, M, N, K);
  });
}

}  // namespace twig::cpu
