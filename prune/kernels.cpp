// Mask kernels on raw contiguous data. Order statistics use integer keys: the bit pattern of a
// float's magnitude (sign cleared) orders like the magnitude itself, with NaN above +inf, so a
// selection needs no floating comparisons and no NaN special cases.
#include "prune/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tensor/random.h"

namespace twig::prune::detail {

namespace {

inline uint32_t magnitude_key(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b & 0x7fffffffu;
}
inline uint64_t magnitude_key(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b & 0x7fffffffffffffffull;
}

// k smallest keys; ties at the threshold go to the lowest indices.
template <typename T>
std::vector<int64_t> smallest_keys(const T* x, int64_t n, int64_t k) {
  using K = decltype(magnitude_key(T()));
  std::vector<int64_t> out;
  if (k <= 0) return out;
  out.reserve(static_cast<size_t>(k));
  if (k == n) {
    out.resize(static_cast<size_t>(n));
    std::iota(out.begin(), out.end(), int64_t{0});
    return out;
  }
  K threshold;
  {
    std::vector<K> keys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) keys[i] = magnitude_key(x[i]);
    std::nth_element(keys.begin(), keys.begin() + (k - 1), keys.end());
    threshold = keys[k - 1];
  }
  int64_t less = 0;
  for (int64_t i = 0; i < n; ++i) less += magnitude_key(x[i]) < threshold;
  int64_t ties = k - less;
  for (int64_t i = 0; i < n; ++i) {
    K key = magnitude_key(x[i]);
    if (key < threshold) {
      out.push_back(i);
    } else if (key == threshold && ties > 0) {
      out.push_back(i);
      --ties;
    }
  }
  return out;
}

}  // namespace

std::vector<int64_t> smallest_magnitude_indices(const Tensor& t, int64_t k) {
  NoGradGuard no_grad;
  Tensor x = t.detach().contiguous();
  if (x.dtype() == kFloat32) return smallest_keys(x.data_ptr<float>(), x.numel(), k);
  if (x.dtype() != kFloat64) x = x.abs().to(kFloat64);  // integer scores: exact below 2^53
  return smallest_keys(x.data_ptr<double>(), x.numel(), k);
}

std::vector<int64_t> random_subset(int64_t n, int64_t k) {
  TWIG_INTERNAL_ASSERT(k >= 0 && k <= n);
  Generator& gen = default_generator();
  // Floyd's algorithm draws min(k, n - k) indices; a uniform subset of the complement is uniform too.
  const bool complement = k > n - k;
  const int64_t m = complement ? n - k : k;
  std::vector<uint8_t> chosen(static_cast<size_t>(n), 0);
  for (int64_t j = n - m; j < n; ++j) {
    int64_t r = static_cast<int64_t>(gen.below(static_cast<uint64_t>(j + 1)));
    if (chosen[r]) {
      chosen[j] = 1;
    } else {
      chosen[r] = 1;
    }
  }
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(k));
  for (int64_t i = 0; i < n; ++i) {
    if (static_cast<bool>(chosen[i]) != complement) out.push_back(i);
  }
  return out;
}

void zero_at(const Tensor& mask, const std::vector<int64_t>& indices) {
  TWIG_INTERNAL_ASSERT(mask.is_contiguous());
  const int64_t n = mask.numel();
  TWIG_DISPATCH_ALL(mask.dtype(), "prune mask", [&] {
    scalar_t* m = mask.data_ptr<scalar_t>();
    for (int64_t i : indices) {
      TWIG_CHECK(i >= 0 && i < n, IndexError, "index ", i, " is out of bounds for a mask of ", n, " elements");
      m[i] = scalar_t(0);
    }
  });
  mask.bump_version();
}

std::vector<uint8_t> keep_largest(const Tensor& values, int64_t k) {
  Tensor v = values.detach().to(kFloat64).contiguous();
  const double* x = v.data_ptr<double>();
  const int64_t n = v.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  // Descending, NaN first (largest), ties by index.
  auto greater = [&](int64_t a, int64_t b) {
    double xa = x[a], xb = x[b];
    bool na = std::isnan(xa), nb = std::isnan(xb);
    if (na != nb) return na;
    if (!na && xa != xb) return xa > xb;
    return a < b;
  };
  std::vector<uint8_t> keep(static_cast<size_t>(n), 0);
  if (k <= 0) return keep;
  if (k < n) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), greater);
  for (int64_t i = 0; i < std::min(k, n); ++i) keep[order[i]] = 1;
  return keep;
}

Tensor channel_mask(const Tensor& t, int64_t dim, const std::vector<uint8_t>& keep, const Tensor& default_mask) {
  NoGradGuard no_grad;
  const int64_t channels = t.size(dim);
  TWIG_INTERNAL_ASSERT(static_cast<int64_t>(keep.size()) == channels);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= t.size(d);
  for (int64_t d = dim + 1; d < t.dim(); ++d) inner *= t.size(d);
  if (default_mask.sizes() == t.sizes() && is_floating(t.dtype())) {
    Tensor dm = default_mask.detach().to(t.dtype()).contiguous();
    Tensor out = empty(t.sizes(), TensorOptions(t.dtype()));
    TWIG_DISPATCH_FLOATING(t.dtype(), "channel_mask", [&] {
      const scalar_t* src = dm.data_ptr<scalar_t>();
      scalar_t* dst = out.data_ptr<scalar_t>();
      parallel_for(0, outer * channels, std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t oc = b; oc < e; ++oc) {
                       const int64_t c = oc % channels;
                       const int64_t base = oc * inner;
                       if (keep[c]) {
                         std::memcpy(dst + base, src + base, sizeof(scalar_t) * inner);
                       } else {
                         std::fill(dst + base, dst + base + inner, scalar_t(0));
                       }
                     }
                   });
    });
    return out;
  }
  // General case (broadcasting or integer masks): a channel vector times the default mask.
  std::vector<double> flags(keep.begin(), keep.end());
  Shape shape(static_cast<size_t>(t.dim()), 1);
  shape[dim] = channels;
  Tensor ch = from_vector(flags, Shape{channels}).to(t.dtype()).view(shape);
  Tensor out = zeros_like(t) + ch;
  return out * default_mask.detach().to(t.dtype());
}

namespace {

enum class NormKind { Two, One, Inf, NegInf, Zero, P };

template <typename T>
void channel_norm_kernel(const T* x, int64_t outer, int64_t channels, int64_t inner, NormKind kind, double p,
                         T* result) {
  // acc[c] over outer x inner. The combine step is a sum, max or min.
  auto init = [&]() -> double {
    if (kind == NormKind::Inf) return 0.0;
    if (kind == NormKind::NegInf) return INFINITY;
    return 0.0;
  };
  auto finish = [&](double acc) -> double {
    switch (kind) {
      case NormKind::Two:
        return std::sqrt(acc);
      case NormKind::P:
        return std::pow(acc, 1.0 / p);
      default:
        return acc;
    }
  };
  auto body = [&](double acc, double v) -> double {
    double a = std::fabs(v);
    switch (kind) {
      case NormKind::Two:
        return acc + v * v;
      case NormKind::One:
        return acc + a;
      case NormKind::Inf:
        return (a > acc || std::isnan(a)) ? a : acc;
      case NormKind::NegInf:
        return (a < acc || std::isnan(a)) ? a : acc;
      case NormKind::Zero:
        return acc + (v != 0.0 ? 1.0 : 0.0);
      case NormKind::P:
        return acc + std::pow(a, p);
    }
    return acc;
  };
  if (inner == 1) {
    // Channels are the contiguous last dim: sweep rows, each thread owning a range of channels.
    parallel_for(0, channels, 1024, [&](int64_t c0, int64_t c1) {
      std::vector<double> acc(static_cast<size_t>(c1 - c0), init());
      double* a = acc.data();
      const int64_t len = c1 - c0;
      for (int64_t o = 0; o < outer; ++o) {
        const T* row = x + o * channels + c0;
        if (kind == NormKind::Two) {
          for (int64_t j = 0; j < len; ++j) {
            double v = row[j];
            a[j] += v * v;
          }
        } else if (kind == NormKind::One) {
          for (int64_t j = 0; j < len; ++j) a[j] += std::fabs(static_cast<double>(row[j]));
        } else {
          for (int64_t j = 0; j < len; ++j) a[j] = body(a[j], row[j]);
        }
      }
      for (int64_t j = 0; j < len; ++j) result[c0 + j] = static_cast<T>(finish(a[j]));
    });
    return;
  }
  parallel_for(0, channels, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, outer * inner)),
               [&](int64_t c0, int64_t c1) {
                 for (int64_t c = c0; c < c1; ++c) {
                   double acc = init();
                   for (int64_t o = 0; o < outer; ++o) {
                     const T* seg = x + (o * channels + c) * inner;
                     if (kind == NormKind::Two) {
                       double s = 0.0;
                       for (int64_t i = 0; i < inner; ++i) {
                         double v = seg[i];
                         s += v * v;
                       }
                       acc += s;
                     } else if (kind == NormKind::One) {
                       double s = 0.0;
                       for (int64_t i = 0; i < inner; ++i) s += std::fabs(static_cast<double>(seg[i]));
                       acc += s;
                     } else {
                       for (int64_t i = 0; i < inner; ++i) acc = body(acc, seg[i]);
                     }
                   }
                   result[c] = static_cast<T>(finish(acc));
                 }
               });
}

}  // namespace

Tensor channel_norm(const Tensor& t, NormP n, int64_t dim) {
  NoGradGuard no_grad;
  const bool fast = (t.dtype() == kFloat32 || t.dtype() == kFloat64) && t.numel() > 0;
  if (!fast) {
    Dims dims;
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (d != dim) dims.push_back(d);
    }
    return t.detach().norm(n, dims);
  }
  Tensor x = t.detach().contiguous();
  const int64_t channels = x.size(dim);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const double p = n.fro ? 2.0 : n.p;
  NormKind kind = p == 2.0        ? NormKind::Two
                  : p == 1.0      ? NormKind::One
                  : p == INFINITY ? NormKind::Inf
                  : p == -INFINITY ? NormKind::NegInf
                  : p == 0.0      ? NormKind::Zero
                                  : NormKind::P;
  Tensor out = empty({channels}, TensorOptions(x.dtype()));
  TWIG_DISPATCH_FLOATING(x.dtype(), "compute_norm", [&] {
    channel_norm_kernel(x.data_ptr<scalar_t>(), outer, channels, inner, kind, p, out.data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace twig::prune::detail
