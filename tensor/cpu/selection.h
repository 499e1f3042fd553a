// Order statistics over one line of values that pick what PyTorch 1.13's CPU kernels pick, ties
// included: the CPU topk, sort and kthvalue kernels and the pruning selections built on them.
//
// PyTorch compares values only (NaN above every number, NaNs equal to each other), so which of
// several equal values comes first is whatever its algorithm leaves there:
//   topk      (value, index) pairs in line order; std::partial_sort of the first k when
//             k * 64 <= n, else std::nth_element at k - 1 followed, when sorted, by std::sort of
//             the k - 1 before it;
//   sort      std::stable_sort when stable, else std::sort, over the (value, index) pairs;
//   kthvalue  its own median-of-three quickselect (Sedgewick's partitioning) on a copy of the line,
//             the indices swapped along with the values.
// The standard algorithms are deterministic functions of the sequence and of the comparator's
// answers, so running libstdc++'s (g++ 12 on Debian 12, the one Debian's PyTorch 1.13 was built
// with) over the same pairs with a comparator that answers the same reproduces PyTorch's choice.
// tests/fixtures/ties.json (tools/gen_ties_fixtures.py) holds PyTorch's answers under ties.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace twig::cpu {

// One entry of a line: its value and its position in the line.
template <typename T>
struct Ranked {
  T value;
  int64_t index;
};

template <typename T>
inline bool is_nan_value(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// Ascending, NaN last: a strictly before b. Values only, never the index.
template <typename T>
struct AscendingNanLast {
  bool operator()(const Ranked<T>& a, const Ranked<T>& b) const {
    return (!is_nan_value(a.value) && is_nan_value(b.value)) || a.value < b.value;
  }
};

// Descending, NaN first.
template <typename T>
struct DescendingNanFirst {
  bool operator()(const Ranked<T>& a, const Ranked<T>& b) const {
    return (is_nan_value(a.value) && !is_nan_value(b.value)) || a.value > b.value;
  }
};

// line[i] = (x[i], i) for the n values of a contiguous line.
template <typename T>
void fill_line(std::vector<Ranked<T>>& line, const T* x, int64_t n) {
  line.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) line[static_cast<size_t>(i)] = Ranked<T>{x[i], i};
}

namespace selection_detail {

template <typename T, typename Before>
void topk_with(std::vector<Ranked<T>>& line, int64_t k, bool sorted, Before before) {
  const int64_t n = static_cast<int64_t>(line.size());
  if (k <= 0) return;
  const auto first = line.begin();
  if (k * 64 <= n) {
    std::partial_sort(first, first + k, line.end(), before);
    return;
  }
  std::nth_element(first, first + (k - 1), line.end(), before);
  if (sorted) std::sort(first, first + (k - 1), before);
}

}  // namespace selection_detail

// Rearranges line (the pairs of fill_line) so that line[0, k) holds the k entries PyTorch's CPU
// topk returns, in the order it returns them (for sorted = false too). 0 <= k <= line.size().
template <typename T>
void topk_line(std::vector<Ranked<T>>& line, int64_t k, bool largest, bool sorted) {
  if (largest) {
    selection_detail::topk_with(line, k, sorted, DescendingNanFirst<T>());
  } else {
    selection_detail::topk_with(line, k, sorted, AscendingNanLast<T>());
  }
}

// Sorts line as PyTorch's CPU sort does: equal values keep their order when stable, and land
// where std::sort leaves them otherwise.
template <typename T>
void sort_line(std::vector<Ranked<T>>& line, bool descending, bool stable) {
  if (descending) {
    if (stable) {
      std::stable_sort(line.begin(), line.end(), DescendingNanFirst<T>());
    } else {
      std::sort(line.begin(), line.end(), DescendingNanFirst<T>());
    }
  } else {
    if (stable) {
      std::stable_sort(line.begin(), line.end(), AscendingNanLast<T>());
    } else {
      std::sort(line.begin(), line.end(), AscendingNanLast<T>());
    }
  }
}

// Moves the entry of rank k (0-based, ascending, NaN largest) of the n values v to v[k], and
// permutes idx (the values' positions) along with them: PyTorch's kthvalue selection, the same
// comparisons and swaps in the same order, so equal values resolve as they do there.
template <typename T>
void kth_smallest_line(T* v, int64_t* idx, int64_t n, int64_t k) {
  auto above = [](T a, T b) { return (is_nan_value(a) && !is_nan_value(b)) || a > b; };
  auto exchange = [&](int64_t a, int64_t b) {
    std::swap(v[a], v[b]);
    std::swap(idx[a], idx[b]);
  };
  int64_t lo = 0, hi = n - 1;  // the part of the line that still holds rank k
  while (hi > lo) {
    if (hi == lo + 1) {
      if (above(v[lo], v[hi])) exchange(lo, hi);
      return;
    }
    // Median of three, leaving v[lo + 1] <= v[lo] <= v[hi]: v[lo] is the pivot, and the two ends
    // stop the scans below without bounds checks.
    exchange(lo + (hi - lo) / 2, lo + 1);
    if (above(v[lo + 1], v[hi])) exchange(lo + 1, hi);
    if (above(v[lo], v[hi])) exchange(lo, hi);
    if (above(v[lo + 1], v[lo])) exchange(lo + 1, lo);
    const T pivot = v[lo];
    int64_t i = lo + 1, j = hi;
    while (true) {
      do {
        ++i;
      } while (above(pivot, v[i]));
      do {
        --j;
      } while (above(v[j], pivot));
      if (j < i) break;
      exchange(i, j);
    }
    exchange(lo, j);  // the pivot to its final place, j
    if (j <= k) lo = i;
    if (j >= k) hi = j - 1;
  }
}

}  // namespace twig::cpu
