// twig's own float32 gemm kernels for the small products that conv and linear layers make (a
// LeNet-5 conv is (16, 150) @ (150, 100)). OpenBLAS packs both operands into its own layout on
// every call, which costs as much as the arithmetic at these sizes; these kernels read the
// operands where they lie, with AVX-512 or AVX2 + FMA chosen at run time (twig itself is built
// for baseline x86-64), and can sum a batch of products into one output in the same pass.
//
// Two layouts are covered; anything else is left to BLAS:
//   "nn"  B has unit stride along n: each k step broadcasts MR values of A and multiplies them
//         into full rows of B (A may have any strides, so Wᵀ @ grad is read in place);
//   "dot" A and B both have unit stride along k: every output is a dot product of two rows
//         (x @ Wᵀ of a linear layer, Σ_l grad_out[o, l] · cols[ck, l] of a conv's weight gradient).
#pragma once

#include <cstdint>

#include "twig/tensor/cpu/simd.h"

namespace twig::cpu {

// C (M, N) with row stride ldc and unit column stride
//   = alpha * Σ_{s < batch} A_s (M, K) @ B_s (K, N) + beta * C.
// Element (s, m, k) of A is a[s * a_bs + m * a_m + k * a_k]; element (s, k, n) of B is
// b[s * b_bs + k * b_k + n * b_n]. With beta == 0, C is not read (it may hold garbage or NaN).
struct SmallGemm {
  int64_t M = 0, N = 0, K = 0, batch = 1;
  const float* a = nullptr;
  int64_t a_bs = 0, a_m = 0, a_k = 0;
  const float* b = nullptr;
  int64_t b_bs = 0, b_k = 0, b_n = 0;
  // When set (nn layout only), row k of B starts at b[s * b_bs + b_koff[k]] instead of at
  // k * b_k: a conv reads its input windows in place this way, row k being (channel, ky, kx).
  const int64_t* b_koff = nullptr;
  // When set (dot layout only), column n of B (a unit-stride run along k) starts at
  // b[s * b_bs + b_noff[n]] instead of at n * b_n: a conv's weight gradient reads the input
  // windows in place this way, column n being (channel, ky, kx).
  const int64_t* b_noff = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1, beta = 0;
  // When set, row m of C also gets row_bias[m]: c = alpha * (A @ B) + row_bias[m] (+ beta * c).
  // A conv's bias this way costs no pass over its output.
  const float* row_bias = nullptr;
};

// Computes g with the kernels of `level` and returns true, or returns false without touching C
// when level is kNone, the layout is neither nn nor dot, the product is too big for kernels that
// do not pack, or alpha is 0 (the caller then uses BLAS). M, N, K, batch >= 1.
bool small_gemm(const SmallGemm& g, SimdLevel level);
inline bool small_gemm(const SmallGemm& g) { return small_gemm(g, best_simd_level()); }

// Whether small_gemm(g) would take g on this machine (it does not look at the pointers).
bool small_gemm_fits(const SmallGemm& g);

// The obviously correct loop the kernels are tested against (any strides, any size).
void reference_gemm(const SmallGemm& g);

}  // namespace twig::cpu
