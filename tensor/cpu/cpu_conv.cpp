// Convolution and pooling kernels on CPU: im2col / col2im (2-D and 3-D) for conv-as-gemm, and
// 2-D max / average / adaptive pooling with their backward passes. Each kernel is parallelized
// over (batch x channel) planes with parallel_for, so every task writes its own plane (or its own
// rows of cols). Called inside a pool task (cpu_conv_gemm.cpp's sample chunks) they run serially.
//
// Dimension letters: N batch, C channels, (D, H, W) input dims, (OD, OH, OW) output dims,
// K = kD * kH * kW kernel positions, L = OD * OH * OW output positions, B = N * C planes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "twig/tensor/cpu/conv_kernels.h"
#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/cpu_small_gemm.h"
#include "twig/tensor/cpu/simd.h"
#include "twig/tensor/parallel.h"

namespace twig::cpu {

namespace {

// A plane task should carry at least this many element visits before it is worth a thread.
constexpr int64_t kPlaneGrainElems = 16384;

int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, kPlaneGrainElems / std::max<int64_t>(1, work_per_plane));
}

// 2-D and 3-D convolution geometry as 3-D (a 2-D conv is a 3-D one with D = kD = 1).
struct Geom3 {
  int64_t in[3], out[3], k[3], s[3], p[3], d[3];
};

Geom3 to_geom3(const ConvGeometry& g) {
  Geom3 r{};
  const size_t nd = g.in.size();
  TWIG_INTERNAL_ASSERT(nd == 2 || nd == 3, "conv geometry must be 2-D or 3-D");
  for (size_t i = 0; i < 3; ++i) {
    const bool lead = nd == 2 && i == 0;
    const size_t j = nd == 2 ? i - 1 : i;
    r.in[i] = lead ? 1 : g.in[j];
    r.out[i] = lead ? 1 : g.out[j];
    r.k[i] = lead ? 1 : g.kernel[j];
    r.s[i] = lead ? 1 : g.stride[j];
    r.p[i] = lead ? 0 : g.padding[j];
    r.d[i] = lead ? 1 : g.dilation[j];
  }
  return r;
}

// ceil(num / den) for den > 0, clamped below at 0.
int64_t ceil_div_pos(int64_t num, int64_t den) { return num <= 0 ? 0 : (num + den - 1) / den; }

// For kernel column offset kx: the output columns [lo, hi) whose input column
// ox * s - p + kx * d lies inside [0, W).
void valid_cols(int64_t W, int64_t OW, int64_t s, int64_t p, int64_t offset, int64_t& lo, int64_t& hi) {
  lo = std::min(OW, ceil_div_pos(p - offset, s));
  hi = std::max(lo, std::min(OW, ceil_div_pos(W + p - offset, s)));
}

// Visits, for plane (n, c), every (kernel position, output row): fn(row_in_cols_block, out_row_ptr_offset,
// input row pointer offset or -1, lo, hi, input column of ox = 0). Shared by im2col and col2im.
template <typename Fn>
void for_each_window_row(const Geom3& g, Fn fn) {
  const int64_t OD = g.out[0], OH = g.out[1], OW = g.out[2];
  for (int64_t kz = 0; kz < g.k[0]; ++kz) {
    for (int64_t ky = 0; ky < g.k[1]; ++ky) {
      for (int64_t kx = 0; kx < g.k[2]; ++kx) {
        const int64_t kidx = (kz * g.k[1] + ky) * g.k[2] + kx;
        int64_t lo, hi;
        valid_cols(g.in[2], OW, g.s[2], g.p[2], kx * g.d[2], lo, hi);
        const int64_t ix0 = -g.p[2] + kx * g.d[2];  // input column of ox = 0
        for (int64_t oz = 0; oz < OD; ++oz) {
          const int64_t iz = oz * g.s[0] - g.p[0] + kz * g.d[0];
          for (int64_t oy = 0; oy < OH; ++oy) {
            const int64_t iy = oy * g.s[1] - g.p[1] + ky * g.d[1];
            const bool inside = iz >= 0 && iz < g.in[0] && iy >= 0 && iy < g.in[1];
            const int64_t in_row = inside ? (iz * g.in[1] + iy) * g.in[2] : -1;
            fn(kidx, (oz * OH + oy) * OW, in_row, lo, hi, ix0);
          }
        }
      }
    }
  }
}

// ---- 2-D planes ---------------------------------------------------------------------------------
// A 2-D conv (D = kD = 1) gets loops of its own: every bound hoisted out of the row loop, the
// output rows whose input row lies in the padding found up front, and rows moved by inline vector
// loops instead of a memcpy call each. LeNet-5's rows are 10 and 28 floats; the generic 3-D walk
// spent about 40 instructions of index math on every one of them.

// dst[0, n) = src[0, n). Floats move 4 at a time, the last group overlapping the one before it.
template <typename T>
inline void copy_row(T* __restrict dst, const T* __restrict src, int64_t n) {
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    if (n >= 4) {
      for (int64_t i = 0; i + 4 <= n; i += 4) {
        _mm_storeu_ps(dst + i, _mm_loadu_ps(src + i));
        __asm__("" : "+r"(i));  // GCC would turn the loop back into a memmove call
      }
      _mm_storeu_ps(dst + n - 4, _mm_loadu_ps(src + n - 4));
      return;
    }
  }
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
}

// dst[0, n) += src[0, n).
template <typename T>
inline void add_row(T* __restrict dst, const T* __restrict src, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    for (; i + 4 <= n; i += 4) _mm_storeu_ps(dst + i, _mm_add_ps(_mm_loadu_ps(dst + i), _mm_loadu_ps(src + i)));
  }
#endif
  for (; i < n; ++i) dst[i] += src[i];
}

// d[0, n) = 0 for the few columns (n <= padding) of a row that lie in the padding. GCC turns the
// plain loop into a memset call, one per row: LeNet-5's conv1 made about 17000 of them per batch,
// 3.4% of a training run's instructions (callgrind). The empty asm hides the pattern.
template <typename T>
inline void zero_few(T* d, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    d[i] = T(0);
    asm volatile("" : "+r"(i));
  }
}

// One (sample, channel) plane into its K cols rows, the first at `block`, `row_len` apart.
template <typename T>
void im2col_plane_2d(T* block, int64_t row_len, const T* src, const Geom3& g) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], kw = g.k[2];
  const int64_t sh = g.s[1], sw = g.s[2], ph = g.p[1], pw = g.p[2], dh = g.d[1], dw = g.d[2];
  for (int64_t ky = 0; ky < g.k[1]; ++ky) {
    int64_t y0, y1;  // the output rows whose input row is inside the plane
    valid_cols(H, OH, sh, ph, ky * dh, y0, y1);
    for (int64_t kx = 0; kx < kw; ++kx) {
      T* dst = block + (ky * kw + kx) * row_len;
      int64_t lo, hi;
      valid_cols(W, OW, sw, pw, kx * dw, lo, hi);
      std::fill(dst, dst + y0 * OW, T(0));
      for (int64_t oy = y0; oy < y1; ++oy) {
        T* d = dst + oy * OW;
        const T* s = src + (oy * sh - ph + ky * dh) * W + kx * dw - pw;  // s[ox * sw]: input under ox
        zero_few(d, lo);
        if (sw == 1) {
          copy_row(d + lo, s + lo, hi - lo);
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] = s[ox * sw];
        }
        zero_few(d + hi, OW - hi);
      }
      std::fill(dst + y1 * OW, dst + OH * OW, T(0));
    }
  }
}

// The adjoint: plane `dst` (zeroed here) = every cols entry added back under its window.
template <typename T>
void col2im_plane_2d(T* dst, const T* block, int64_t row_len, const Geom3& g) {
  const int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2], kw = g.k[2];
  const int64_t sh = g.s[1], sw = g.s[2], ph = g.p[1], pw = g.p[2], dh = g.d[1], dw = g.d[2];
  std::fill(dst, dst + H * W, T(0));
  for (int64_t ky = 0; ky < g.k[1]; ++ky) {
    int64_t y0, y1;
    valid_cols(H, OH, sh, ph, ky * dh, y0, y1);
    for (int64_t kx = 0; kx < kw; ++kx) {
      const T* src = block + (ky * kw + kx) * row_len;
      int64_t lo, hi;
      valid_cols(W, OW, sw, pw, kx * dw, lo, hi);
      for (int64_t oy = y0; oy < y1; ++oy) {
        T* d = dst + (oy * sh - ph + ky * dh) * W + kx * dw - pw;
        const T* s = src + oy * OW;
        if (sw == 1) {
          add_row(d + lo, s + lo, hi - lo);
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox * sw] += s[ox];
        }
      }
    }
  }
}

}  // namespace

#define TWIG_SIMD_KERNELS "twig/tensor/cpu/cpu_conv_rows.inc"
#include "twig/tensor/cpu/simd_levels.inc"
#undef TWIG_SIMD_KERNELS

namespace {

// One 2-D plane's cols rows: the vector row kernels (cpu_conv_rows.inc) for float32 windows
// that step one column at a time, where the CPU has AVX2 or AVX-512; the plane loops above else.
template <typename T>
void im2col_plane(T* block, int64_t row_len, const T* src, const Geom3& g, SimdLevel level) {
#if TWIG_SIMD_X86
  if constexpr (std::is_same_v<T, float>) {
    if (g.s[2] == 1 && level == SimdLevel::kAvx512) return avx512::im2col_plane_rows(block, row_len, src, g);
    if (g.s[2] == 1 && level == SimdLevel::kAvx2) return avx2::im2col_plane_rows(block, row_len, src, g);
  }
#endif
  (void)level;
  im2col_plane_2d(block, row_len, src, g);
}

template <typename T>
void col2im_plane(T* dst, const T* block, int64_t row_len, const Geom3& g, SimdLevel level) {
#if TWIG_SIMD_X86
  if constexpr (std::is_same_v<T, float>) {
    const bool rows = g.s[2] == 1 && g.k[2] <= avx512::kRowsMaxKw;
    if (rows && level == SimdLevel::kAvx512) return avx512::col2im_plane_rows(dst, block, row_len, g);
    if (rows && level == SimdLevel::kAvx2) return avx2::col2im_plane_rows(dst, block, row_len, g);
  }
#endif
  (void)level;
  col2im_plane_2d(dst, block, row_len, g);
}

bool is_2d(const Geom3& g) { return g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1; }

template <typename T>
void im2col_impl(T* cols, const T* in, int64_t N, int64_t C, const Geom3& g, bool per_sample) {
  const int64_t K = g.k[0] * g.k[1] * g.k[2];
  const int64_t L = g.out[0] * g.out[1] * g.out[2];
  const int64_t S = g.in[0] * g.in[1] * g.in[2];
  const int64_t OW = g.out[2], sw = g.s[2];
  // cols (C*K, N*L): row stride N*L, sample n at column n*L; per_sample cols (N, C*K, L):
  // row stride L, sample n at n*C*K*L.
  const int64_t row_len = per_sample ? L : N * L;
  const int64_t sample_off = per_sample ? C * K * L : L;
  const bool plane_2d = is_2d(g);
  const SimdLevel level = best_simd_level();
  parallel_for(0, N * C, plane_grain(K * L), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = b / C, c = b % C;
      const T* src = in + b * S;
      T* block = cols + c * K * row_len + n * sample_off;  // row (c, 0) of sample n
      if (plane_2d) {
        im2col_plane(block, row_len, src, g, level);
        continue;
      }
      for_each_window_row(g, [&](int64_t kidx, int64_t out_off, int64_t in_row, int64_t lo, int64_t hi, int64_t ix0) {
        T* dst = block + kidx * row_len + out_off;
        if (in_row < 0) {
          std::fill(dst, dst + OW, T(0));
          return;
        }
        const T* s = src + in_row + ix0;  // s[ox * sw] is input column ox * sw + ix0
        std::fill(dst, dst + lo, T(0));
        if (sw == 1) {
          std::copy(s + lo, s + hi, dst + lo);
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox] = s[ox * sw];
        }
        std::fill(dst + hi, dst + OW, T(0));
      });
    }
  });
}

template <typename T>
void col2im_impl(T* in, const T* cols, int64_t N, int64_t C, const Geom3& g, bool per_sample) {
  const int64_t K = g.k[0] * g.k[1] * g.k[2];
  const int64_t L = g.out[0] * g.out[1] * g.out[2];
  const int64_t S = g.in[0] * g.in[1] * g.in[2];
  const int64_t sw = g.s[2];
  // cols (C*K, N*L): row stride N*L, sample n at column n*L; per_sample cols (N, C*K, L):
  // row stride L, sample n at n*C*K*L.
  const int64_t row_len = per_sample ? L : N * L;
  const int64_t sample_off = per_sample ? C * K * L : L;
  const bool plane_2d = is_2d(g);
  const SimdLevel level = best_simd_level();
  parallel_for(0, N * C, plane_grain(K * L), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t n = b / C, c = b % C;
      T* dst_plane = in + b * S;
      const T* block = cols + c * K * row_len + n * sample_off;
      if (plane_2d) {
        col2im_plane(dst_plane, block, row_len, g, level);
        continue;
      }
      std::fill(dst_plane, dst_plane + S, T(0));
      for_each_window_row(g, [&](int64_t kidx, int64_t out_off, int64_t in_row, int64_t lo, int64_t hi, int64_t ix0) {
        if (in_row < 0) return;
        const T* src = block + kidx * row_len + out_off;
        T* d = dst_plane + in_row + ix0;
        if (sw == 1) {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox] += src[ox];
        } else {
          for (int64_t ox = lo; ox < hi; ++ox) d[ox * sw] += src[ox];
        }
      });
    }
  });
}

// ---- pooling ----------------------------------------------------------------------------------

// One output row of a 2x2, stride-2, unpadded max pool whose windows lie inside the plane (LeNet's
// pool). PyTorch's rule: the first maximum of the window in row-major order wins, and a NaN
// beats everything (the last NaN if there are several).
template <typename T>
void max_pool_2x2_scalar(T* o, int64_t* id, const T* src, int64_t W, int64_t oh, int64_t ow0, int64_t ow1) {
  for (int64_t ow = ow0; ow < ow1; ++ow) {
    const int64_t i0 = 2 * oh * W + 2 * ow;
    T best = src[i0];
    int64_t best_i = i0, nan_i = best != best ? i0 : -1;
    for (int64_t i : {i0 + 1, i0 + W, i0 + W + 1}) {
      const T v = src[i];
      if (v > best) {
        best = v;
        best_i = i;
      }
      if (v != v) nan_i = i;
    }
    o[ow] = nan_i >= 0 ? src[nan_i] : best;
    id[ow] = nan_i >= 0 ? nan_i : best_i;
  }
}

template <typename T>
void max_pool_2x2_row(T* o, int64_t* id, const T* src, int64_t W, int64_t oh, int64_t OW) {
  int64_t ow = 0;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    // Four windows at a time: a b / c d are the window's top-left, top-right, bottom-left,
    // bottom-right values; k is the winner's offset in the plane relative to the top-left.
    const float* r0 = src + 2 * oh * W;
    const float* r1 = r0 + W;
    const __m128i one = _mm_set1_epi32(1), w0 = _mm_set1_epi32(static_cast<int>(W)),
                  w1 = _mm_set1_epi32(static_cast<int>(W + 1)), step = _mm_setr_epi32(0, 2, 4, 6);
    for (; ow + 4 <= OW; ow += 4) {
      const __m128 x0 = _mm_loadu_ps(r0 + 2 * ow), x1 = _mm_loadu_ps(r0 + 2 * ow + 4);
      const __m128 y0 = _mm_loadu_ps(r1 + 2 * ow), y1 = _mm_loadu_ps(r1 + 2 * ow + 4);
      const __m128 a = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(2, 0, 2, 0)),
                   b = _mm_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 1, 3, 1));
      const __m128 c = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                   d = _mm_shuffle_ps(y0, y1, _MM_SHUFFLE(3, 1, 3, 1));
      const __m128 nan = _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
      if (_mm_movemask_ps(nan) != 0) {
        max_pool_2x2_scalar(o, id, src, W, oh, ow, ow + 4);
        continue;
      }
      __m128 m = a;
      __m128i k = _mm_setzero_si128();
      __m128 gt = _mm_cmpgt_ps(b, m);
      m = _mm_or_ps(_mm_and_ps(gt, b), _mm_andnot_ps(gt, m));
      k = _mm_or_si128(_mm_and_si128(_mm_castps_si128(gt), one), _mm_andnot_si128(_mm_castps_si128(gt), k));
      gt = _mm_cmpgt_ps(c, m);
      m = _mm_or_ps(_mm_and_ps(gt, c), _mm_andnot_ps(gt, m));
      k = _mm_or_si128(_mm_and_si128(_mm_castps_si128(gt), w0), _mm_andnot_si128(_mm_castps_si128(gt), k));
      gt = _mm_cmpgt_ps(d, m);
      m = _mm_or_ps(_mm_and_ps(gt, d), _mm_andnot_ps(gt, m));
      k = _mm_or_si128(_mm_and_si128(_mm_castps_si128(gt), w1), _mm_andnot_si128(_mm_castps_si128(gt), k));
      _mm_storeu_ps(o + ow, m);
      // Plane index of the winner: 2*oh*W + 2*ow + 2*lane + k, widened to int64 (all >= 0).
      const __m128i idx32 =
          _mm_add_epi32(_mm_add_epi32(k, step), _mm_set1_epi32(static_cast<int>(2 * oh * W + 2 * ow)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(id + ow), _mm_unpacklo_epi32(idx32, _mm_setzero_si128()));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(id + ow + 2), _mm_unpackhi_epi32(idx32, _mm_setzero_si128()));
    }
  }
#endif
  max_pool_2x2_scalar(o, id, src, W, oh, ow, OW);
}

template <typename T>
void max_pool2d_impl(T* out, int64_t* idx, const T* in, int64_t B, const Pool2dGeometry& geom) {
  // Geometry in locals: the int64 index stores below could otherwise alias it and force reloads.
  const int64_t H = geom.in_h, W = geom.in_w, OH = geom.out_h, OW = geom.out_w;
  const int64_t kh = geom.kernel_h, kw = geom.kernel_w, sh = geom.stride_h, sw = geom.stride_w;
  const int64_t ph = geom.pad_h, pw = geom.pad_w, dh = geom.dilation_h, dw = geom.dilation_w;
  const bool fast_2x2 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 && dw == 1 &&
                        2 * OH <= H && 2 * OW <= W && H * W <= std::numeric_limits<int32_t>::max();
  parallel_for(0, B, plane_grain(OH * OW * kh * kw), [=](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* src = in + b * H * W;
      T* o = out + b * OH * OW;
      int64_t* id = idx + b * OH * OW;
      if (fast_2x2) {
        for (int64_t oh = 0; oh < OH; ++oh) max_pool_2x2_row(o + oh * OW, id + oh * OW, src, W, oh, OW);
        continue;
      }
      for (int64_t oh = 0; oh < OH; ++oh) {
        int64_t h0 = oh * sh - ph;
        const int64_t h1 = std::min(h0 + (kh - 1) * dh + 1, H);
        while (h0 < 0) h0 += dh;
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t w0 = ow * sw - pw;
          const int64_t w1 = std::min(w0 + (kw - 1) * dw + 1, W);
          while (w0 < 0) w0 += dw;
          // PyTorch: start at -inf with the window's first position; a larger value or a NaN
          // wins, so the result is the first maximum, or the last NaN if there is one. Written
          // branch-free: on real data each comparison is a coin flip for the branch predictor.
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_i = (h0 < h1 && w0 < w1) ? h0 * W + w0 : -1;
          int64_t nan_i = -1;
          for (int64_t h = h0; h < h1; h += dh) {
            const T* row = src + h * W;
            for (int64_t w = w0; w < w1; w += dw) {
              const T v = row[w];
              const int64_t i = h * W + w;
              const int64_t gt = -static_cast<int64_t>(v > best);  // all ones or zero
              const int64_t isnan = -static_cast<int64_t>(v != v);
              best_i = (i & gt) | (best_i & ~gt);
              nan_i = (i & isnan) | (nan_i & ~isnan);
              best = v > best ? v : best;
            }
          }
          if (nan_i >= 0) {
            best = std::numeric_limits<T>::quiet_NaN();
            best_i = nan_i;
          }
          o[oh * OW + ow] = best;
          id[oh * OW + ow] = best_i;
        }
      }
    }
  });
}

template <typename T>
void max_pool2d_backward_impl(T* gin, const T* gout, const int64_t* idx, int64_t B, int64_t S_in, int64_t S_out) {
  parallel_for(0, B, plane_grain(S_in + S_out), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* gi = gin + b * S_in;
      const T* go = gout + b * S_out;
      const int64_t* id = idx + b * S_out;
      std::fill(gi, gi + S_in, T(0));
      for (int64_t i = 0; i < S_out; ++i) {
        if (id[i] >= 0) gi[id[i]] += go[i];
      }
    }
  });
}

// The window of average-pool output (oh, ow) clipped to the input, and its divisor (PyTorch's
// cpu_avg_pool: the padded window size counts unless count_include_pad is false).
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  int64_t divisor;  // 0 when the clipped window is empty
};

AvgWindow avg_window(const Pool2dGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  int64_t h1 = std::min(h0 + g.kernel_h, g.in_h + g.pad_h), w1 = std::min(w0 + g.kernel_w, g.in_w + g.pad_w);
  const int64_t pool_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.in_h);
  w1 = std::min(w1, g.in_w);
  if (h0 >= h1 || w0 >= w1) return {h0, h1, w0, w1, 0};
  int64_t divisor = g.divisor_override != 0 ? g.divisor_override
                    : g.count_include_pad   ? pool_size
                                            : (h1 - h0) * (w1 - w0);
  return {h0, h1, w0, w1, divisor};
}

template <typename T>
void avg_pool2d_impl(T* out, const T* in, int64_t B, const Pool2dGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, OH = g.out_h, OW = g.out_w;
  parallel_for(0, B, plane_grain(OH * OW * g.kernel_h * g.kernel_w), [=](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* src = in + b * H * W;
      T* o = out + b * OH * OW;
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow);
          if (win.divisor == 0) {
            o[oh * OW + ow] = T(0);
            continue;
          }
          T sum = 0;
          for (int64_t h = win.h0; h < win.h1; ++h) {
            for (int64_t w = win.w0; w < win.w1; ++w) sum += src[h * W + w];
          }
          o[oh * OW + ow] = sum / static_cast<T>(win.divisor);
        }
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward_impl(T* gin, const T* gout, int64_t B, const Pool2dGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, OH = g.out_h, OW = g.out_w;
  parallel_for(0, B, plane_grain(OH * OW * g.kernel_h * g.kernel_w), [=](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* gi = gin + b * H * W;
      const T* go = gout + b * OH * OW;
      std::fill(gi, gi + H * W, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow);
          if (win.divisor == 0) continue;
          const T share = go[oh * OW + ow] / static_cast<T>(win.divisor);
          for (int64_t h = win.h0; h < win.h1; ++h) {
            for (int64_t w = win.w0; w < win.w1; ++w) gi[h * W + w] += share;
          }
        }
      }
    }
  });
}

// Adaptive bin i of `out` bins over `in` elements: [floor(i * in / out), ceil((i + 1) * in / out)).
int64_t bin_start(int64_t i, int64_t out, int64_t in) { return (i * in) / out; }
int64_t bin_end(int64_t i, int64_t out, int64_t in) { return ((i + 1) * in + out - 1) / out; }

template <typename T>
void adaptive_avg_pool2d_impl(T* out, const T* in, int64_t B, int64_t H, int64_t W, int64_t OH, int64_t OW,
                              bool backward) {
  // Forward: out[b, oh, ow] = mean of the bin. Backward (out is grad_in, in is grad_out): every
  // element of the bin gets grad_out / bin size.
  parallel_for(0, B, plane_grain(H * W + OH * OW), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (backward) std::fill(out + b * H * W, out + (b + 1) * H * W, T(0));
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = bin_start(oh, OH, H), h1 = bin_end(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = bin_start(ow, OW, W), w1 = bin_end(ow, OW, W);
          const T count = static_cast<T>((h1 - h0) * (w1 - w0));
          if (backward) {
            T* gi = out + b * H * W;
            const T share = in[b * OH * OW + oh * OW + ow] / count;
            for (int64_t h = h0; h < h1; ++h) {
              for (int64_t w = w0; w < w1; ++w) gi[h * W + w] += share;
            }
          } else {
            const T* src = in + b * H * W;
            T sum = 0;
            for (int64_t h = h0; h < h1; ++h) {
              for (int64_t w = w0; w < w1; ++w) sum += src[h * W + w];
            }
            out[b * OH * OW + oh * OW + ow] = sum / count;
          }
        }
      }
    }
  });
}

template <typename T>
void adaptive_max_pool2d_impl(T* out, int64_t* idx, const T* in, int64_t B, int64_t H, int64_t W, int64_t OH,
                              int64_t OW) {
  parallel_for(0, B, plane_grain(H * W + OH * OW), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* src = in + b * H * W;
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = bin_start(oh, OH, H), h1 = bin_end(oh, OH, H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = bin_start(ow, OW, W), w1 = bin_end(ow, OW, W);
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_i = h0 * W + w0;
          for (int64_t h = h0; h < h1; ++h) {
            for (int64_t w = w0; w < w1; ++w) {
              const T v = src[h * W + w];
              const bool take = (v > best) | (v != v);
              best = take ? v : best;
              best_i = take ? h * W + w : best_i;
            }
          }
          out[b * OH * OW + oh * OW + ow] = best;
          idx[b * OH * OW + oh * OW + ow] = best_i;
        }
      }
    }
  });
}

void check_contiguous(std::initializer_list<const Tensor*> ts, const char* op) {
  for (const Tensor* t : ts) TWIG_INTERNAL_ASSERT(t->is_contiguous(), op, ": kernel operands must be contiguous");
}

}  // namespace

void im2col(const Tensor& cols, const Tensor& in, const ConvGeometry& g) {
  check_contiguous({&cols, &in}, "im2col");
  const Geom3 g3 = to_geom3(g);
  TWIG_DISPATCH_FLOATING(in.dtype(), "im2col", [&] {
    im2col_impl<scalar_t>(cols.data_ptr<scalar_t>(), in.data_ptr<scalar_t>(), in.size(0), in.size(1), g3,
                          cols.dim() == 3);
  });
}

void col2im(const Tensor& in, const Tensor& cols, const ConvGeometry& g) {
  check_contiguous({&cols, &in}, "col2im");
  const Geom3 g3 = to_geom3(g);
  TWIG_DISPATCH_FLOATING(in.dtype(), "col2im", [&] {
    col2im_impl<scalar_t>(in.data_ptr<scalar_t>(), cols.data_ptr<scalar_t>(), in.size(0), in.size(1), g3,
                          cols.dim() == 3);
  });
}

namespace {

// What conv2d_direct and its weight gradient share: whether the geometry suits reading input
// windows in place, the padded sample's sizes, and where each window row (c, ky, kx) starts in it.
struct DirectWindows {
  int64_t N, C, H, W, Hp, Wp, ph, pw, CK;
  std::vector<int64_t> offsets;  // row (c, ky, kx) under output row 0, in a padded sample
};

// False where the direct kernels decline: float32 2-D with a unit column stride only (output rows
// are then runs of input columns), a SIMD level, and rows that fill 3/4 of their vectors' lanes
// (below that im2col + gemm is faster: LeNet-5's conv1, 28 wide, gains; its conv2, 10 wide in 16
// lanes, loses).
bool direct_windows(const Tensor& in, const ConvGeometry& g, DirectWindows& d) {
  const SimdLevel level = best_simd_level();
  if (in.dtype() != kFloat32 || g.in.size() != 2 || g.stride[1] != 1 || level == SimdLevel::kNone) return false;
  const int64_t OW = g.out[1], lanes = level == SimdLevel::kAvx512 ? 16 : 8;
  if (4 * OW < 3 * lanes * ((OW + lanes - 1) / lanes)) return false;
  const int64_t kh = g.kernel[0], kw = g.kernel[1];
  d.N = in.size(0), d.C = in.size(1), d.H = g.in[0], d.W = g.in[1];
  d.ph = g.padding[0], d.pw = g.padding[1];
  d.Hp = d.H + 2 * d.ph, d.Wp = d.W + 2 * d.pw, d.CK = d.C * kh * kw;
  d.offsets.resize(static_cast<size_t>(d.CK));
  for (int64_t c = 0; c < d.C; ++c) {
    for (int64_t ky = 0; ky < kh; ++ky) {
      for (int64_t kx = 0; kx < kw; ++kx)
        d.offsets[(c * kh + ky) * kw + kx] = (c * d.Hp + ky * g.dilation[0]) * d.Wp + kx * g.dilation[1];
    }
  }
  return true;
}

// Sample xs (C, H, W) with its zero border, in `buffer`; xs itself where there is no border.
const float* padded_sample(const float* xs, const DirectWindows& d, std::vector<float>& buffer) {
  if (d.ph == 0 && d.pw == 0) return xs;
  buffer.assign(d.C * d.Hp * d.Wp, 0.0f);
  for (int64_t c = 0; c < d.C; ++c) {
    for (int64_t y = 0; y < d.H; ++y) {
      std::copy(xs + (c * d.H + y) * d.W, xs + (c * d.H + y + 1) * d.W,
                buffer.data() + (c * d.Hp + y + d.ph) * d.Wp + d.pw);
    }
  }
  return buffer.data();
}

}  // namespace

bool conv2d_direct(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g) {
  check_contiguous({&out, &in, &w}, "conv2d_direct");
  DirectWindows d;
  if (!direct_windows(in, g, d)) return false;
  const int64_t O = w.size(0), OH = g.out[0], OW = g.out[1], sh = g.stride[0];
  SmallGemm row;  // one output row of every channel: (O, OW) = w (O, CK) @ window rows (CK, OW)
  row.M = O, row.N = OW, row.K = d.CK;
  row.a = w.data_ptr<float>(), row.a_m = d.CK, row.a_k = 1;
  row.b_n = 1, row.b_koff = d.offsets.data();
  row.ldc = OH * OW;
  row.row_bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  if (OH * OW == 0 || !small_gemm_fits(row)) return false;
  const float* x = in.data_ptr<float>();
  float* o = out.data_ptr<float>();
  parallel_for(0, d.N, 1, [&](int64_t n0, int64_t n1) {
    std::vector<float> padded;
    for (int64_t n = n0; n < n1; ++n) {
      const float* xs = padded_sample(x + n * d.C * d.H * d.W, d, padded);
      SmallGemm r = row;
      for (int64_t oy = 0; oy < OH; ++oy) {
        r.b = xs + oy * sh * d.Wp;
        r.c = o + n * O * OH * OW + oy * OW;
        small_gemm(r);
      }
    }
  });
  return true;
}

bool conv2d_direct_weight_grad(const Tensor& grad_w, const Tensor& grad_out, const Tensor& in, const ConvGeometry& g) {
  check_contiguous({&grad_w, &grad_out, &in}, "conv2d_direct_weight_grad");
  DirectWindows d;
  if (!direct_windows(in, g, d)) return false;
  const int64_t O = grad_out.size(1), OH = g.out[0], OW = g.out[1], sh = g.stride[0];
  // grad_w (O, CK) += Σ over output rows oy (the batch) of grad_out[n, :, oy, :] (O, OW) · the
  // window rows under oy (CK, OW), as dot products along ox; column (c, ky, kx) of B is window row
  // (c, ky, kx).
  SmallGemm gemm;
  gemm.M = O, gemm.N = d.CK, gemm.K = OW, gemm.batch = OH;
  gemm.a_m = OH * OW, gemm.a_k = 1, gemm.a_bs = OW;
  gemm.b_bs = sh * d.Wp, gemm.b_noff = d.offsets.data();
  gemm.c = grad_w.data_ptr<float>(), gemm.ldc = d.CK;
  if (OH * OW == 0 || d.N == 0 || !small_gemm_fits(gemm)) return false;
  const float* x = in.data_ptr<float>();
  const float* go = grad_out.data_ptr<float>();
  std::vector<float> padded;
  for (int64_t n = 0; n < d.N; ++n) {
    gemm.a = go + n * O * OH * OW;
    gemm.b = padded_sample(x + n * d.C * d.H * d.W, d, padded);
    gemm.beta = n == 0 ? 0.0f : 1.0f;
    small_gemm(gemm);
  }
  return true;
}

void CpuBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dGeometry& g) {
  check_contiguous({&out, &indices, &in}, "max_pool2d");
  TWIG_DISPATCH_FLOATING(in.dtype(), "max_pool2d", [&] {
    max_pool2d_impl<scalar_t>(out.data_ptr<scalar_t>(), indices.data_ptr<int64_t>(), in.data_ptr<scalar_t>(),
                              in.size(0), g);
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  check_contiguous({&grad_in, &grad_out, &indices}, "max_pool2d_backward");
  const int64_t B = grad_in.size(0);
  const int64_t S_in = grad_in.size(1) * grad_in.size(2), S_out = grad_out.size(1) * grad_out.size(2);
  TWIG_DISPATCH_FLOATING(grad_in.dtype(), "max_pool2d_backward", [&] {
    max_pool2d_backward_impl<scalar_t>(grad_in.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(),
                                       indices.data_ptr<int64_t>(), B, S_in, S_out);
  });
}

void CpuBackend::avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dGeometry& g) {
  check_contiguous({&out, &in}, "avg_pool2d");
  TWIG_DISPATCH_FLOATING(in.dtype(), "avg_pool2d", [&] {
    avg_pool2d_impl<scalar_t>(out.data_ptr<scalar_t>(), in.data_ptr<scalar_t>(), in.size(0), g);
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) {
  check_contiguous({&grad_in, &grad_out}, "avg_pool2d_backward");
  TWIG_DISPATCH_FLOATING(grad_in.dtype(), "avg_pool2d_backward", [&] {
    avg_pool2d_backward_impl<scalar_t>(grad_in.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), grad_in.size(0), g);
  });
}

void CpuBackend::adaptive_avg_pool2d(const Tensor& out, const Tensor& in) {
  check_contiguous({&out, &in}, "adaptive_avg_pool2d");
  TWIG_DISPATCH_FLOATING(in.dtype(), "adaptive_avg_pool2d", [&] {
    adaptive_avg_pool2d_impl<scalar_t>(out.data_ptr<scalar_t>(), in.data_ptr<scalar_t>(), in.size(0), in.size(1),
                                       in.size(2), out.size(1), out.size(2), false);
  });
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out) {
  check_contiguous({&grad_in, &grad_out}, "adaptive_avg_pool2d_backward");
  TWIG_DISPATCH_FLOATING(grad_in.dtype(), "adaptive_avg_pool2d_backward", [&] {
    adaptive_avg_pool2d_impl<scalar_t>(grad_in.data_ptr<scalar_t>(), grad_out.data_ptr<scalar_t>(), grad_in.size(0),
                                       grad_in.size(1), grad_in.size(2), grad_out.size(1), grad_out.size(2), true);
  });
}

void CpuBackend::adaptive_max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in) {
  check_contiguous({&out, &indices, &in}, "adaptive_max_pool2d");
  TWIG_DISPATCH_FLOATING(in.dtype(), "adaptive_max_pool2d", [&] {
    adaptive_max_pool2d_impl<scalar_t>(out.data_ptr<scalar_t>(), indices.data_ptr<int64_t>(), in.data_ptr<scalar_t>(),
                                       in.size(0), in.size(1), in.size(2), out.size(1), out.size(2));
  });
}

}  // namespace twig::cpu
