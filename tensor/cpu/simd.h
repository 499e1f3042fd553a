// Float vectors for the CPU kernels that twig writes itself, chosen at run time. twig builds for
// baseline x86-64; the wide code carries its instruction set as a target attribute, and runs only
// after best_simd_level() has said the CPU has it.
//
// A kernel file writes its loops once over a vector type V in a .inc file, and simd_levels.inc
// includes that file once per level, inside namespace avx512 and namespace avx2, with TWIG_SIMD_FN
// defined as that level's TWIG_AVX512_FN / TWIG_AVX2_FN (lambdas do not inherit a target
// attribute, so the .inc files use plain loops). V offers:
//   W                  floats per register; Reg, Mask
//   zero, bcast        all lanes 0 / x
//   load(p), store(p, v)
//   load(p, m)         lanes outside m read as 0 and their memory is not touched
//   store(p, v, m)     only the lanes in m are written
//   add, mul, fma      fma(a, b, c) = a * b + c, one rounding
//   pin(v)             keeps v in a register: without it GCC folds a loaded operand into every
//                      FMA that uses it, one load per use, and the kernel waits on load ports
//   hsum               the sum of all lanes
//   tail(n)            the first n lanes, 0 <= n <= W; range(a, b): lanes [a, b), 0 <= a <= b <= W
#pragma once

#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define TWIG_SIMD_X86 1
#else
#define TWIG_SIMD_X86 0
#endif

namespace twig::cpu {

enum class SimdLevel { kNone, kAvx2, kAvx512 };

// The widest vectors this CPU runs (kNone off x86-64 or without AVX2 + FMA).
SimdLevel best_simd_level();

#if TWIG_SIMD_X86

#define TWIG_AVX512_FN [[gnu::target("avx512f,avx2,fma")]]
#define TWIG_AVX2_FN [[gnu::target("avx2,fma")]]

namespace avx512 {
#define TWIG_SIMD_INLINE [[gnu::target("avx512f,avx2,fma"), gnu::always_inline]] static inline

struct V {
  static constexpr int64_t W = 16;
  using Reg = __m512;
  using Mask = __mmask16;
  TWIG_SIMD_INLINE Reg zero() { return _mm512_setzero_ps(); }
  TWIG_SIMD_INLINE Reg bcast(float x) { return _mm512_set1_ps(x); }
  TWIG_SIMD_INLINE Reg load(const float* p) { return _mm512_loadu_ps(p); }
  // See kMaskedLoadNote below.
  TWIG_SIMD_INLINE Reg load(const float* p, Mask m) {
    Reg r;
    __asm__ volatile("vmovups (%1), %0%{%2%}%{z%}" : "=v"(r) : "r"(p), "Yk"(m));
    return r;
  }
  TWIG_SIMD_INLINE void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  TWIG_SIMD_INLINE void store(float* p, Reg v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  TWIG_SIMD_INLINE Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  TWIG_SIMD_INLINE Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  TWIG_SIMD_INLINE Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  TWIG_SIMD_INLINE void pin(Reg& v) { __asm__("" : "+v"(v)); }
  TWIG_SIMD_INLINE float hsum(Reg v) {
    // Halves, then quarters, folded onto the low 128 bits. Masked forms throughout: the unmasked
    // shuffle / extract (and _mm512_reduce_add_ps) trip GCC 12's -Wuninitialized in its header.
    __m512 t = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm512_add_ps(t, _mm512_maskz_shuffle_f32x4(0xFFFF, t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    __m128 s = _mm512_maskz_extractf32x4_ps(0xF, t, 0);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TWIG_SIMD_INLINE Mask tail(int64_t n) { return static_cast<Mask>((1u << n) - 1u); }
  TWIG_SIMD_INLINE Mask range(int64_t a, int64_t b) { return static_cast<Mask>(tail(b) & ~tail(a)); }
};

#undef TWIG_SIMD_INLINE
}  // namespace avx512

namespace avx2 {
#define TWIG_SIMD_INLINE [[gnu::target("avx2,fma"), gnu::always_inline]] static inline

// Lane masks for maskload / maskstore: tail(n) reads the 8 ints starting n before the zeros.
alignas(32) inline constexpr int32_t kLaneMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct V {
  static constexpr int64_t W = 8;
  using Reg = __m256;
  using Mask = __m256i;
  TWIG_SIMD_INLINE Reg zero() { return _mm256_setzero_ps(); }
  TWIG_SIMD_INLINE Reg bcast(float x) { return _mm256_set1_ps(x); }
  TWIG_SIMD_INLINE Reg load(const float* p) { return _mm256_loadu_ps(p); }
  // See kMaskedLoadNote below.
  TWIG_SIMD_INLINE Reg load(const float* p, Mask m) {
    Reg r;
    __asm__ volatile("vmaskmovps (%1), %2, %0" : "=x"(r) : "r"(p), "x"(m));
    return r;
  }
  TWIG_SIMD_INLINE void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  TWIG_SIMD_INLINE void store(float* p, Reg v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  TWIG_SIMD_INLINE Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  TWIG_SIMD_INLINE Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  TWIG_SIMD_INLINE Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  TWIG_SIMD_INLINE void pin(Reg& v) { __asm__("" : "+x"(v)); }
  TWIG_SIMD_INLINE float hsum(Reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TWIG_SIMD_INLINE Mask tail(int64_t n) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMask + 8 - n));
  }
  TWIG_SIMD_INLINE Mask range(int64_t a, int64_t b) { return _mm256_andnot_si256(tail(a), tail(b)); }
};

#undef TWIG_SIMD_INLINE
}  // namespace avx2

// kMaskedLoadNote: the masked loads are inline asm that reads through a register operand and
// tells GCC of no memory access. Through the intrinsics (or an asm with a memory operand), GCC 12
// would not keep a tile's accumulator array in registers across a loop holding a masked load: it
// stored all of them to the stack on every step (LeNet-5's conv1 forward tile: 12 stores per 12
// FMAs). Hiding the read is sound because no kernel reads through a masked load what it wrote
// earlier in the same call (where a kernel reads and then writes the same place, C under beta,
// the store depends on the load), and the asm is volatile: it stays in order with calls. The lanes
// outside the mask are not read, so a load may start before or run past the end of a buffer.

#endif  // TWIG_SIMD_X86

}  // namespace twig::cpu
