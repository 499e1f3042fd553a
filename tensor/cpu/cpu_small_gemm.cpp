// The small-gemm kernels (cpu_small_gemm_kernels.inc) instantiated for AVX-512 and for AVX2 + FMA,
// and the choice between them, BLAS and the layouts. Every function of an instruction set carries
// that set as a target attribute, so this file builds for baseline x86-64 like the rest of twig and
// only runs the wide code after the CPU has said it has it.
#include "tensor/cpu/cpu_small_gemm.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TWIG_SG_X86 1
#endif

namespace twig::cpu {

namespace {

// Products up to this many multiply-adds per batch entry, with K up to kMaxK, go to the kernels;
// beyond that a BLAS that packs into cache-sized blocks wins (bench/bench_matmul measures it).
constexpr int64_t kMaxMacs = int64_t{1} << 22;
constexpr int64_t kMaxK = 1024;

}  // namespace

#if TWIG_SG_X86

namespace avx512 {
#define TWIG_SG_FN [[gnu::target("avx512f,avx2,fma")]]
#define TWIG_SG_INLINE [[gnu::target("avx512f,avx2,fma"), gnu::always_inline]] static inline

struct V {
  static constexpr int64_t W = 16;
  using Reg = __m512;
  using Mask = __mmask16;
  TWIG_SG_INLINE Reg zero() { return _mm512_setzero_ps(); }
  TWIG_SG_INLINE Reg load(const float* p) { return _mm512_loadu_ps(p); }
  TWIG_SG_INLINE Reg load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  TWIG_SG_INLINE void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  TWIG_SG_INLINE void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  TWIG_SG_INLINE Reg bcast(float x) { return _mm512_set1_ps(x); }
  TWIG_SG_INLINE Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  TWIG_SG_INLINE Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  TWIG_SG_INLINE float hsum(Reg v) {
    // Halves, then quarters, folded onto the low 128 bits (not _mm512_reduce_add_ps: GCC 12's
    // header trips its own -Wuninitialized there, as do the unmasked shuffles and extracts).
    __m512 t = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm512_add_ps(t, _mm512_maskz_shuffle_f32x4(0xFFFF, t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    __m128 s = _mm512_maskz_extractf32x4_ps(0xF, t, 0);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TWIG_SG_INLINE Mask tail(int n) { return static_cast<Mask>((1u << n) - 1u); }
};

#include "tensor/cpu/cpu_small_gemm_kernels.inc"

#undef TWIG_SG_FN
#undef TWIG_SG_INLINE
}  // namespace avx512

namespace avx2 {
#define TWIG_SG_FN [[gnu::target("avx2,fma")]]
#define TWIG_SG_INLINE [[gnu::target("avx2,fma"), gnu::always_inline]] static inline

// Lane masks for maskload / maskstore: tail(n) reads 8 ints starting n before the zeros.
alignas(32) constexpr int32_t kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct V {
  static constexpr int64_t W = 8;
  using Reg = __m256;
  using Mask = __m256i;
  TWIG_SG_INLINE Reg zero() { return _mm256_setzero_ps(); }
  TWIG_SG_INLINE Reg load(const float* p) { return _mm256_loadu_ps(p); }
  TWIG_SG_INLINE Reg load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  TWIG_SG_INLINE void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  TWIG_SG_INLINE void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  TWIG_SG_INLINE Reg bcast(float x) { return _mm256_set1_ps(x); }
  TWIG_SG_INLINE Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  TWIG_SG_INLINE Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  TWIG_SG_INLINE float hsum(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TWIG_SG_INLINE Mask tail(int n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - n));
  }
};

#include "tensor/cpu/cpu_small_gemm_kernels.inc"

#undef TWIG_SG_FN
#undef TWIG_SG_INLINE
}  // namespace avx2

#endif  // TWIG_SG_X86

SimdLevel best_simd_level() {
#if TWIG_SG_X86
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
    return SimdLevel::kNone;
  }();
  return level;
#else
  return SimdLevel::kNone;
#endif
}

bool small_gemm(const SmallGemm& g, SimdLevel level) {
  if (level == SimdLevel::kNone || g.K > kMaxK || g.M * g.N * g.K > kMaxMacs) return false;
  // A dimension of size 1 has no stride to speak of.
  const bool b_rows = g.b_n == 1 || g.N == 1;
  const bool k_rows = (g.a_k == 1 || g.K == 1) && (g.b_k == 1 || g.K == 1);
  if (!b_rows && !k_rows) return false;
#if TWIG_SG_X86
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
          acc += static_cast<double>(g.a[s * g.a_bs + m * g.a_m + k * g.a_k]) * g.b[s * g.b_bs + k * g.b_k + n * g.b_n];
        }
      }
      float& c = g.c[m * g.ldc + n];
      const float r = g.alpha * static_cast<float>(acc);
      c = g.beta != 0.0f ? r + g.beta * c : r;
    }
  }
}

}  // namespace twig::cpu
