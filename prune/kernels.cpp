// Mask kernels on raw contiguous data. The selections pick what PyTorch's torch.topk picks, ties
// included (tensor/cpu/selection.h). Unstructured pruning ranks integer keys: the bit pattern of
// a float's magnitude (sign cleared) orders like the magnitude; with every NaN made one key above
// +inf, equal keys are equal magnitudes, so comparing keys answers every comparison as comparing
// |t| does in PyTorch.
#include "twig/prune/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/cpu/selection.h"
#include "twig/tensor/error.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"

namespace twig::prune::detail {

namespace {

// The bit pattern of |v|: orders like the magnitude, NaNs (of any payload) above +inf.
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

// The largest key that is not a NaN's: +inf's.
constexpr uint32_t inf_key(uint32_t) { return 0x7f800000u; }
constexpr uint64_t inf_key(uint64_t) { return 0x7ff0000000000000ull; }

// magnitude_key with every NaN folded into one key (above +inf's), so that equal keys are exactly
// the magnitudes PyTorch's comparisons find equal.
template <typename T>
inline auto ranking_key(T v) {
  const auto key = magnitude_key(v);
  return std::min(key, decltype(key)(inf_key(key) + 1));
}

// Where the key of rank k (1-based) stands among the keys of x.
template <typename K>
struct KthKey {
  K key;
  int64_t below;  // keys smaller than it
  int64_t equal;  // keys equal to it (it included)
};

// The key of rank k among the magnitudes of x, by radix selection over the key bits (a histogram
// per digit, each pass keeping only the keys that share the digits found so far): a few streaming
// passes, no copy of the data.
template <typename T>
auto kth_smallest_key(const T* x, int64_t n, int64_t k) {
  using K = decltype(magnitude_key(T()));
  constexpr int kKeyBits = sizeof(K) * 8;
  constexpr int kDigitBits = sizeof(K) == 4 ? 11 : 16;
  K prefix = 0, prefix_mask = 0;
  int64_t rank = k;  // rank among the keys sharing `prefix`
  int64_t equal = 0;
  std::vector<int64_t> hist;
  for (int shift = kKeyBits - kDigitBits; shift > -kDigitBits; shift -= kDigitBits) {
    const int s = std::max(shift, 0);
    const int bits = shift >= 0 ? kDigitBits : kDigitBits + shift;
    const K digit_mask = (K(1) << bits) - 1;
    hist.assign(size_t(1) << bits, 0);
    if (prefix_mask == 0) {
      for (int64_t i = 0; i < n; ++i) ++hist[(magnitude_key(x[i]) >> s) & digit_mask];
    } else {
      for (int64_t i = 0; i < n; ++i) {
        K key = magnitude_key(x[i]);
        if ((key & prefix_mask) == prefix) ++hist[(key >> s) & digit_mask];
      }
    }
    size_t b = 0;
    while (rank > hist[b]) rank -= hist[b++];
    prefix |= static_cast<K>(b) << s;
    prefix_mask |= digit_mask << s;
    equal = hist[b];  // after the last digit: the keys equal to the whole prefix
  }
  return KthKey<K>{prefix, k - rank, equal};
}

// The positions of the k entries of x that PyTorch's topk(|x|, k, largest=False) returns, by
// running its algorithm (the slow way, for when equal magnitudes straddle the k-th).
template <typename T>
std::vector<int64_t> smallest_by_topk_order(const T* x, int64_t n, int64_t k) {
  using K = decltype(ranking_key(T()));
  std::vector<cpu::Ranked<K>> line(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) line[static_cast<size_t>(i)] = cpu::Ranked<K>{ranking_key(x[i]), i};
  cpu::topk_line(line, k, /*largest=*/false, /*sorted=*/false);  // the order within the k is not needed
  std::vector<int64_t> out(static_cast<size_t>(k));
  for (int64_t q = 0; q < k; ++q) out[static_cast<size_t>(q)] = line[static_cast<size_t>(q)].index;
  return out;
}

// mask[i] = 0 for the k entries of x PyTorch's topk(|x|, k, largest=False) returns.
template <typename T>
void zero_smallest_keys(const T* x, int64_t n, int64_t k, const Tensor& mask) {
  if (k <= 0) return;
  const auto kth = kth_smallest_key(x, n, k);
  if (kth.key > inf_key(kth.key) || kth.below + kth.equal != k) {
    // Some but not all entries equal to the k-th are taken (or the k-th is a NaN, whose payloads
    // differ in the keys but compare equal): which ones is what PyTorch's algorithm leaves.
    zero_at(mask, smallest_by_topk_order(x, n, k));
    return;
  }
  // Every key up to the k-th is taken, so no algorithm has a choice: the k smallest keys are
  // PyTorch's selection whatever order it would visit them in.
  TWIG_DISPATCH_ALL(mask.dtype(), "prune mask", [&] {
    scalar_t* m = mask.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (magnitude_key(x[i]) <= kth.key) m[i] = scalar_t(0);
    }
  });
  mask.bump_version();
}

}  // namespace

void zero_smallest_magnitudes(const Tensor& mask, const Tensor& t, int64_t k) {
  NoGradGuard no_grad;
  TWIG_INTERNAL_ASSERT(mask.is_contiguous() && mask.numel() == t.numel());
  Tensor x = t.detach().contiguous();
  if (x.dtype() == kFloat32) return zero_smallest_keys(x.data_ptr<float>(), x.numel(), k, mask);
  if (x.dtype() != kFloat64) x = x.abs().to(kFloat64);  // integer scores: exact below 2^53
  zero_smallest_keys(x.data_ptr<double>(), x.numel(), k, mask);
}

std::vector<int64_t> positions_equal_to_one(const Tensor& t) {
  Tensor x = t.detach().contiguous();
  std::vector<int64_t> out;
  const int64_t n = x.numel();
  TWIG_DISPATCH_ALL(x.dtype(), "prune mask", [&] {
    const scalar_t* p = x.data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] == scalar_t(1)) out.push_back(i);
    }
  });
  return out;
}

Tensor gather_flat(const Tensor& t, const std::vector<int64_t>& positions) {
  Tensor x = t.detach().contiguous();
  Tensor out = empty({static_cast<int64_t>(positions.size())}, TensorOptions(x.dtype()));
  TWIG_DISPATCH_ALL(x.dtype(), "gather", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    for (size_t i = 0; i < positions.size(); ++i) dst[i] = src[positions[i]];
  });
  return out;
}

void scatter_flat(const Tensor& dst, const std::vector<int64_t>& positions, const Tensor& values) {
  TWIG_INTERNAL_ASSERT(dst.is_contiguous());
  TWIG_CHECK(values.numel() == static_cast<int64_t>(positions.size()), RuntimeError, "the pruning method returned ",
             values.numel(), " mask values for ", positions.size(), " unpruned entries");
  Tensor v = values.detach().to(dst.dtype()).contiguous();
  TWIG_DISPATCH_ALL(dst.dtype(), "scatter", [&] {
    const scalar_t* src = v.data_ptr<scalar_t>();
    scalar_t* d = dst.data_ptr<scalar_t>();
    for (size_t i = 0; i < positions.size(); ++i) d[positions[i]] = src[i];
  });
  dst.bump_version();
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
  Tensor v = values.detach().contiguous();
  const int64_t n = v.numel();
  std::vector<uint8_t> keep(static_cast<size_t>(n), 0);
  TWIG_DISPATCH_ALL(v.dtype(), "keep_largest", [&] {
    std::vector<cpu::Ranked<scalar_t>> line;
    cpu::fill_line(line, v.data_ptr<scalar_t>(), n);
    cpu::topk_line(line, k, /*largest=*/true, /*sorted=*/false);  // only the set matters
    for (int64_t q = 0; q < k; ++q) keep[static_cast<size_t>(line[static_cast<size_t>(q)].index)] = 1;
  });
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

// sum f(x[i]) over a contiguous run in double, with 8 independent partial sums so the loop
// vectorizes (a single accumulator is one long dependency chain).
template <typename T, typename F>
inline double lane_sum(const T* x, int64_t n, F f) {
  constexpr int kLanes = 8;
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += f(static_cast<double>(x[i + j]));
  }
  double tail = 0.0;
  for (; i < n; ++i) tail += f(static_cast<double>(x[i]));
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

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
                       acc += lane_sum(seg, inner, [](double v) { return v * v; });
                     } else if (kind == NormKind::One) {
                       acc += lane_sum(seg, inner, [](double v) { return std::fabs(v); });
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
  NormKind kind = p == 2.0         ? NormKind::Two
                  : p == 1.0       ? NormKind::One
                  : p == INFINITY  ? NormKind::Inf
                  : p == -INFINITY ? NormKind::NegInf
                  : p == 0.0       ? NormKind::Zero
                                   : NormKind::P;
  Tensor out = empty({channels}, TensorOptions(x.dtype()));
  TWIG_DISPATCH_FLOATING(x.dtype(), "compute_norm", [&] {
    channel_norm_kernel(x.data_ptr<scalar_t>(), outer, channels, inner, kind, p, out.data_ptr<scalar_t>());
  });
  return out;
}

}  // namespace twig::prune::detail
