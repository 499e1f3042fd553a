// The small-gemm kernels (cpu_small_gemm_kernels.inc) instantiated for AVX-512 and for AVX2 + FMA
// (tensor/cpu/simd.h), and the choice between them, BLAS and the two layouts.
#include "twig/tensor/cpu/cpu_small_gemm.h"

#include <algorithm>
#include <cmath>

namespace twig::cpu {

namespace {

// Products up to this many multiply-adds per batch entry, with K up to kMaxK, go to the kernels;
// beyond that a BLAS that packs into cache-sized blocks wins (bench/bench_matmul measures it).
constexpr int64_t kMaxMacs = int64_t{1} << 22;
constexpr int64_t kMaxK = 1024;

}  // namespace

#define TWIG_SIMD_KERNELS "twig/tensor/cpu/cpu_small_gemm_kernels.inc"
#include "twig/tensor/cpu/simd_levels.inc"
#undef TWIG_SIMD_KERNELS

namespace {

// Which kernel takes g: the nn one (B rows), the dot one (A and B rows along k), or none.
enum class Layout { kNone, kNn, kDot };

Layout layout_for(const SmallGemm& g, SimdLevel level) {
  if (level == SimdLevel::kNone || g.K > kMaxK || g.M * g.N * g.K > kMaxMacs) return Layout::kNone;
  // BLAS reads neither A nor B when alpha is 0 (NaN in them does not reach C); so does BLAS here.
  if (g.alpha == 0.0f) return Layout::kNone;
  if (g.b_noff != nullptr) {
    return (g.a_k == 1 || g.K == 1) && g.b_koff == nullptr ? Layout::kDot : Layout::kNone;
  }
  // A dimension of size 1 has no stride to speak of.
  if (g.b_n == 1 || g.N == 1) return Layout::kNn;
  const bool k_rows = (g.a_k == 1 || g.K == 1) && (g.b_k == 1 || g.K == 1) && g.b_koff == nullptr;
  return k_rows ? Layout::kDot : Layout::kNone;
}

}  // namespace

bool small_gemm_fits(const SmallGemm& g) { return layout_for(g, best_simd_level()) != Layout::kNone; }

bool small_gemm(const SmallGemm& g, SimdLevel level) {
  const Layout layout = layout_for(g, level);
  if (layout == Layout::kNone) return false;
  const bool b_rows = layout == Layout::kNn;
#if TWIG_SIMD_X86
  if (level == SimdLevel::kAvx512 && b_rows) {
    avx512::nn_gemm(g);
  } else if (level == SimdLevel::kAvx512) {
    avx512::dot_gemm(g);
  } else if (b_rows) {
    avx2::nn_gemm(g);
  } else {
    avx2::dot_gemm(g);
  }
  return true;
#else
  return false;
#endif
}

void reference_gemm(const SmallGemm& g) {
  for (int64_t m = 0; m < g.M; ++m) {
    for (int64_t n = 0; n < g.N; ++n) {
      double acc = 0;
      for (int64_t s = 0; s < g.batch; ++s) {
        for (int64_t k = 0; k < g.K; ++k) {
          const int64_t b_at =
              g.b_noff != nullptr ? g.b_noff[n] + k : (g.b_koff != nullptr ? g.b_koff[k] : k * g.b_k) + n * g.b_n;
          acc += static_cast<double>(g.a[s * g.a_bs + m * g.a_m + k * g.a_k]) * g.b[s * g.b_bs + b_at];
        }
      }
      float& c = g.c[m * g.ldc + n];
      const float r = g.alpha * static_cast<float>(acc) + (g.row_bias != nullptr ? g.row_bias[m] : 0.0f);
      c = g.beta != 0.0f ? r + g.beta * c : r;
    }
  }
}

}  // namespace twig::cpu
