// Strided iteration over N same-shaped operands. Dims are coalesced (size-1 dims dropped,
// mergeable neighbours joined), then the linear index range is split over the thread pool and each
// piece is walked as runs along the innermost dim: inner(ptrs, byte_strides, n) gets base pointers
// and byte strides for a run of n elements, so kernels write one tight loop per run.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "twig/tensor/parallel.h"
#include "twig/tensor/tensor.h"

namespace twig::cpu {

// Below this many elements an op runs on the calling thread.
constexpr int64_t kParallelGrain = 32768;

template <size_t N>
struct StridedGeometry {
  std::vector<int64_t> sizes;                   // coalesced, innermost last
  std::vector<std::array<int64_t, N>> strides;  // bytes, per dim per operand
  std::array<char*, N> base{};
  int64_t numel = 1;
};

template <size_t N>
StridedGeometry<N> make_geometry(const Shape& shape, const std::array<const Tensor*, N>& ops) {
  StridedGeometry<N> g;
  for (size_t k = 0; k < N; ++k) g.base[k] = static_cast<char*>(ops[k]->raw_data_ptr());
  for (int64_t s : shape) g.numel *= s;
  // Keep non-trivial dims, outermost first.
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, N> st;
    for (size_t k = 0; k < N; ++k) st[k] = ops[k]->strides()[d] * static_cast<int64_t>(ops[k]->element_size());
    if (!g.sizes.empty()) {
      // Merge with the previous (outer) dim when it steps exactly over this one for every operand.
      bool merge = true;
      const auto& prev = g.strides.back();
      for (size_t k = 0; k < N; ++k) merge = merge && prev[k] == st[k] * shape[d];
      if (merge) {
        g.sizes.back() *= shape[d];
        g.strides.back() = st;
        continue;
      }
    }
    g.sizes.push_back(shape[d]);
    g.strides.push_back(st);
  }
  return g;
}

// Walks linear indices [begin, end) of geometry g, calling inner for each innermost run.
template <size_t N, typename Inner>
void walk_range(const StridedGeometry<N>& g, int64_t begin, int64_t end, Inner& inner) {
  const int64_t nd = static_cast<int64_t>(g.sizes.size());
  if (nd == 0) {
    std::array<int64_t, N> zero{};
    if (begin < end) inner(g.base, zero, int64_t{1});
    return;
  }
  // Multi-index of `begin`.
  std::vector<int64_t> idx(nd);
  int64_t rem = begin;
  for (int64_t d = nd - 1; d >= 0; --d) {
    idx[d] = rem % g.sizes[d];
    rem /= g.sizes[d];
  }
  std::array<char*, N> ptr = g.base;
  for (int64_t d = 0; d < nd; ++d) {
    for (size_t k = 0; k < N; ++k) ptr[k] += idx[d] * g.strides[d][k];
  }
  const int64_t inner_size = g.sizes[nd - 1];
  const auto& inner_stride = g.strides[nd - 1];
  int64_t pos = begin;
  while (pos < end) {
    int64_t run = std::min(inner_size - idx[nd - 1], end - pos);
    inner(ptr, inner_stride, run);
    pos += run;
    if (pos >= end) break;
    // Advance: finish the inner run, then carry into outer dims.
    for (size_t k = 0; k < N; ++k) ptr[k] += (run - 0) * inner_stride[k];
    idx[nd - 1] += run;
    for (int64_t d = nd - 1; d > 0 && idx[d] == g.sizes[d]; --d) {
      for (size_t k = 0; k < N; ++k) ptr[k] -= g.sizes[d] * g.strides[d][k];
      idx[d] = 0;
      idx[d - 1]++;
      for (size_t k = 0; k < N; ++k) ptr[k] += g.strides[d - 1][k];
    }
  }
}

// inner(std::array<char*, N> ptrs, std::array<int64_t, N> byte_strides, int64_t n).
template <size_t N, typename Inner>
void for_each(const Shape& shape, const std::array<const Tensor*, N>& ops, Inner inner, bool parallel = true) {
  StridedGeometry<N> g = make_geometry<N>(shape, ops);
  if (g.numel == 0) return;
  if (!parallel || g.numel < kParallelGrain) {
    walk_range(g, 0, g.numel, inner);
    return;
  }
  parallel_for(0, g.numel, kParallelGrain, [&](int64_t b, int64_t e) {
    Inner local = inner;
    walk_range(g, b, e, local);
  });
}

// Typed elementwise helpers: f maps element values to the output value.
template <typename Out, typename In, typename F>
void map1(const Tensor& out, const Tensor& in, F f) {
  for_each<2>(out.sizes(), {&out, &in}, [f](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    if (s[0] == sizeof(Out) && s[1] == sizeof(In)) {
      Out* o = reinterpret_cast<Out*>(p[0]);
      const In* a = reinterpret_cast<const In*>(p[1]);
      for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]);
    } else if (s[0] == sizeof(Out) && s[1] == 0) {
      // A broadcast input (expanded bias copied into a conv output).
      Out* o = reinterpret_cast<Out*>(p[0]);
      const Out v = f(*reinterpret_cast<const In*>(p[1]));
      for (int64_t i = 0; i < n; ++i) o[i] = v;
    } else {
      for (int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<Out*>(p[0] + i * s[0]) = f(*reinterpret_cast<const In*>(p[1] + i * s[1]));
      }
    }
  });
}

template <typename Out, typename In, typename F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  for_each<3>(out.sizes(), {&out, &a, &b}, [f](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
    Out* o = reinterpret_cast<Out*>(p[0]);
    const In* x = reinterpret_cast<const In*>(p[1]);
    const In* y = reinterpret_cast<const In*>(p[2]);
    if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == sizeof(In)) {
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
    } else if (s[0] == sizeof(Out) && s[1] == sizeof(In) && s[2] == 0) {
      const In yv = *y;
      for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
    } else if (s[0] == sizeof(Out) && s[1] == 0 && s[2] == sizeof(In)) {
      const In xv = *x;
      for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        *reinterpret_cast<Out*>(p[0] + i * s[0]) =
            f(*reinterpret_cast<const In*>(p[1] + i * s[1]), *reinterpret_cast<const In*>(p[2] + i * s[2]));
      }
    }
  });
}

}  // namespace twig::cpu
