// The set topk selects, as a mask (Backend::topk_mask): what pruning needs from topk, without the
// values, the indices or their order. For float32/float64 the k-th key is found by radix selection
// (a histogram per digit over order-preserving integer keys, a few streaming passes, no copy of the
// data); when the entries equal to the k-th are all taken, the set is the k smallest keys whatever
// algorithm picks it. Otherwise (equal values straddle the k-th, or other dtypes) topk's own
// selection (selection.h) decides which of the equal values are taken, as PyTorch's CPU topk does.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/selection.h"
#include "twig/tensor/error.h"

namespace twig::cpu {

namespace {

// Unsigned keys that order like the values, NaN largest: every NaN one key (above +inf's), -0 and
// +0 one key, so equal keys are exactly the values PyTorch's comparisons find equal.
inline uint32_t order_key(float v) {
  if (std::isnan(v)) return 0xffffffffu;
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  if (b == 0x80000000u) b = 0;  // -0 == +0
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
inline uint64_t order_key(double v) {
  if (std::isnan(v)) return ~uint64_t{0};
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  if (b == 0x8000000000000000ull) b = 0;
  return (b & 0x8000000000000000ull) ? ~b : (b | 0x8000000000000000ull);
}

// The rank key: ascending for the k smallest, complemented for the k largest (NaN first then).
template <typename T>
inline auto rank_key(T v, bool largest) {
  const auto key = order_key(v);
  return largest ? decltype(key)(~key) : key;
}

// Where the key of rank k (1-based) stands among the keys.
template <typename K>
struct KthKey {
  K key;
  int64_t below;  // keys smaller than it
  int64_t equal;  // keys equal to it (it included)
};

template <typename T>
auto kth_smallest_key(const T* x, int64_t n, int64_t k, bool largest) {
  using K = decltype(order_key(T()));
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
      for (int64_t i = 0; i < n; ++i) ++hist[(rank_key(x[i], largest) >> s) & digit_mask];
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const K key = rank_key(x[i], largest);
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

// topk's own selection: the k entries CpuBackend::topk returns for this line.
template <typename T>
void mark_by_topk(bool* m, const T* x, int64_t n, int64_t k, bool largest) {
  std::fill(m, m + n, false);
  std::vector<Ranked<T>> line;
  fill_line(line, x, n);
  topk_line(line, k, largest, /*sorted=*/false);  // only the set matters
  for (int64_t q = 0; q < k; ++q) m[line[static_cast<size_t>(q)].index] = true;
}

template <typename T>
void mark_by_keys(bool* m, const T* x, int64_t n, int64_t k, bool largest) {
  const auto kth = kth_smallest_key(x, n, k, largest);
  if (kth.below + kth.equal != k) return mark_by_topk(m, x, n, k, largest);  // which equal ones: topk's choice
  for (int64_t i = 0; i < n; ++i) m[i] = rank_key(x[i], largest) <= kth.key;
}

}  // namespace

void CpuBackend::topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) {
  TWIG_INTERNAL_ASSERT(mask.dtype() == kBool && mask.is_contiguous() && in.is_contiguous() &&
                       mask.numel() == in.numel() && k >= 0 && k <= in.numel());
  const int64_t n = in.numel();
  bool* m = mask.data_ptr<bool>();
  if (k == 0) return std::fill(m, m + n, false);
  if (in.dtype() == kFloat32) return mark_by_keys(m, in.data_ptr<float>(), n, k, largest);
  if (in.dtype() == kFloat64) return mark_by_keys(m, in.data_ptr<double>(), n, k, largest);
  TWIG_DISPATCH_ALL(in.dtype(), "topk_mask", [&] { mark_by_topk(m, in.data_ptr<scalar_t>(), n, k, largest); });
}

}  // namespace twig::cpu
