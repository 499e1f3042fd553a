// CPU sorting, top-k and index kernels.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/loops.h"
#include "twig/tensor/cpu/selection.h"
#include "twig/tensor/raw.h"

namespace twig::cpu {

namespace {

// A view whose `dim` has size 1, so for_each visits one position per line along dim.
Tensor line_starts(const Tensor& t, int64_t dim) {
  Shape s = t.sizes();
  s[dim] = 1;
  return detail::make_alias(t, s, t.strides(), t.storage_offset());
}

// The rows of a contiguous tensor along its last dim: (rows, len).
std::pair<int64_t, int64_t> rows_and_length(const Tensor& in) {
  const int64_t len = in.size(in.dim() - 1);
  return {len == 0 ? 0 : in.numel() / len, len};
}

int64_t rows_per_task(int64_t len) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(len, 1)); }

// Runs `select` (a Ranked<T> line in, the first `out_len` entries chosen in order) over every last-dim
// line of `in`, writing out_len values and indices per line.
template <typename Select>
void select_lines(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t out_len, const char* name,
                  Select select) {
  const auto [rows, len] = rows_and_length(in);
  TWIG_DISPATCH_ALL(in.dtype(), name, [&] {
    using T = scalar_t;
    const T* x = static_cast<const T*>(in.raw_data_ptr());
    T* v = static_cast<T*>(values.raw_data_ptr());
    int64_t* idx = static_cast<int64_t*>(indices.raw_data_ptr());
    parallel_for(0, rows, rows_per_task(len), [&](int64_t b, int64_t e) {
      std::vector<Ranked<T>> line;
      for (int64_t r = b; r < e; ++r) {
        fill_line(line, x + r * len, len);
        select(line);
        for (int64_t q = 0; q < out_len; ++q) {
          v[r * out_len + q] = line[q].value;
          idx[r * out_len + q] = line[q].index;
        }
      }
    });
  });
}

}  // namespace

// The selections follow PyTorch's CPU kernels step for step (tensor/cpu/selection.h), so equal
// values resolve as they do there.
void CpuBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending, bool stable) {
  select_lines(values, indices, in, rows_and_length(in).second, "sort",
               [&](auto& line) { sort_line(line, descending, stable); });
}

void CpuBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest,
                      bool sorted) {
  select_lines(values, indices, in, k, "topk", [&](auto& line) { topk_line(line, k, largest, sorted); });
}

void CpuBackend::kthvalue(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k) {
  const auto [rows, len] = rows_and_length(in);
  TWIG_DISPATCH_ALL(in.dtype(), "kthvalue", [&] {
    using T = scalar_t;
    const T* x = static_cast<const T*>(in.raw_data_ptr());
    T* v = static_cast<T*>(values.raw_data_ptr());
    int64_t* idx = static_cast<int64_t*>(indices.raw_data_ptr());
    parallel_for(0, rows, rows_per_task(len), [&](int64_t b, int64_t e) {
      auto line_values = std::make_unique<T[]>(static_cast<size_t>(len));  // not vector<T>: T may be bool
      std::vector<int64_t> line_indices(static_cast<size_t>(len));
      for (int64_t r = b; r < e; ++r) {
        std::copy(x + r * len, x + (r + 1) * len, line_values.get());
        std::iota(line_indices.begin(), line_indices.end(), int64_t{0});
        kth_smallest_line(line_values.get(), line_indices.data(), len, k - 1);
        v[r] = line_values[k - 1];
        idx[r] = line_indices[k - 1];
      }
    });
  });
}

void CpuBackend::index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  Tensor idx = detail::contiguous_raw(index);
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    Tensor dst = detail::make_alias(out, line_starts(out, dim).sizes(), out.strides(),
                                    out.storage_offset() + i * out.stride(dim));
    Tensor src = detail::make_alias(in, dst.sizes(), in.strides(), in.storage_offset() + ip[i] * in.stride(dim));
    copy(dst, src);
  }
}

void CpuBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  // `in` restricted to index's shape with stride 0 along dim; the index supplies the offset.
  Shape st = in.strides();
  const int64_t dim_stride = st[dim] * static_cast<int64_t>(in.element_size());
  st[dim] = 0;
  Tensor in_r = detail::make_alias(in, index.sizes(), st, in.storage_offset());
  TWIG_DISPATCH_ALL(in.dtype(), "gather", [&] {
    using T = scalar_t;
    for_each<3>(index.sizes(), {&out, &in_r, &index}, [=](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        int64_t k = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
        *reinterpret_cast<T*>(p[0] + i * s[0]) = *reinterpret_cast<const T*>(p[1] + i * s[1] + k * dim_stride);
      }
    });
  });
}

void CpuBackend::scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  Shape st = self.strides();
  const int64_t dim_stride = st[dim] * static_cast<int64_t>(self.element_size());
  st[dim] = 0;
  Tensor self_r = detail::make_alias(self, index.sizes(), st, self.storage_offset());
  Tensor src_r = detail::make_alias(src, index.sizes(), src.strides(), src.storage_offset());
  TWIG_DISPATCH_ALL(self.dtype(), "scatter", [&] {
    using T = scalar_t;
    for_each<3>(
        index.sizes(), {&self_r, &src_r, &index},
        [=](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            int64_t k = *reinterpret_cast<const int64_t*>(p[2] + i * s[2]);
            T* dst = reinterpret_cast<T*>(p[0] + i * s[0] + k * dim_stride);
            T v = *reinterpret_cast<const T*>(p[1] + i * s[1]);
            if constexpr (std::is_same_v<T, bool>) {
              *dst = accumulate ? (*dst || v) : v;
            } else {
              *dst = accumulate ? static_cast<T>(*dst + v) : v;
            }
          }
        },
        /*parallel=*/false);  // several sources may hit one destination
  });
}

void CpuBackend::index_put(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                           bool accumulate) {
  Tensor idx = detail::contiguous_raw(index);
  if (dim > 0 && self.dim() > 1 && source.numel() > 0 && source.dtype() == self.dtype() && source.dim() == self.dim()) {
    // The slices along an inner dim are strided (a pruned column each): one pass over source
    // instead, as a scatter whose index is idx broadcast along every other dim. Along each
    // destination the writes (or adds) still come in index order.
    Shape istrides(static_cast<size_t>(self.dim()), 0);
    istrides[dim] = 1;
    return scatter(self, dim, detail::make_alias(idx, source.sizes(), istrides, idx.storage_offset()), source,
                   accumulate);
  }
  const int64_t* ip = idx.data_ptr<int64_t>();
  Shape slice_shape = line_starts(self, dim).sizes();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    Tensor dst =
        detail::make_alias(self, slice_shape, self.strides(), self.storage_offset() + ip[i] * self.stride(dim));
    Tensor src =
        detail::make_alias(source, slice_shape, source.strides(), source.storage_offset() + i * source.stride(dim));
    if (accumulate) {
      binary(BinaryOp::Add, dst, dst, src);
    } else {
      copy(dst, src);
    }
  }
}

Tensor CpuBackend::nonzero(const Tensor& in) {
  Tensor c = detail::contiguous_raw(in);
  const int64_t nd = c.dim(), n = c.numel();
  const Shape sizes = c.sizes();
  Tensor out;
  TWIG_DISPATCH_ALL(c.dtype(), "nonzero", [&] {
    const scalar_t* x = static_cast<const scalar_t*>(c.raw_data_ptr());
    // Two passes: count, then write each hit's coordinates straight into the result, carried
    // along with a running multi-index (no division per element).
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) count += x[i] != scalar_t(0);
    out = detail::make_empty({count, nd}, kInt64, Device::cpu());
    int64_t* o = static_cast<int64_t*>(out.raw_data_ptr());
    if (nd == 1) {
      for (int64_t i = 0; i < n; ++i) {
        if (x[i] != scalar_t(0)) *o++ = i;
      }
      return;
    }
    Shape idx(static_cast<size_t>(nd), 0);
    for (int64_t i = 0; i < n; ++i) {
      if (x[i] != scalar_t(0)) o = std::copy(idx.begin(), idx.end(), o);
      for (int64_t d = nd - 1; d >= 0 && ++idx[d] == sizes[d]; --d) idx[d] = 0;
    }
  });
  return out;
}

}  // namespace twig::cpu
