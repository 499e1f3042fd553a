// CPU reductions. A reduction splits the input's dims into kept dims (one output element per
// position) and reduced dims (walked for each output). One output: the reduced range is split over
// threads and partial accumulators are combined. Floating sums accumulate in double.
#include <cmath>
#include <functional>
#include <limits>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/loops.h"
#include "twig/tensor/raw.h"

namespace twig::cpu {

namespace {

// Accumulator policies: init, step, combine (for parallel partials), and the final value.
template <typename T>
struct SumOp {
  using Acc = acc_type<T>;
  double p = 0;
  Acc init() const { return Acc(0); }
  void step(Acc& a, T v) const { a += static_cast<Acc>(v); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  double finish(Acc a) const { return static_cast<double>(a); }
  Acc finish_exact(Acc a) const { return a; }
};
template <typename T>
struct ProdOp {
  using Acc = acc_type<T>;
  double p = 0;
  Acc init() const { return Acc(1); }
  void step(Acc& a, T v) const { a *= static_cast<Acc>(v); }
  Acc combine(Acc a, Acc b) const { return a * b; }
  Acc finish_exact(Acc a) const { return a; }
};
template <typename T, bool IsMax>
struct ExtremeOp {
  using Acc = T;
  double p = 0;
  Acc init() const {
    if constexpr (std::is_same_v<T, bool>)
      return !IsMax;
    else if constexpr (std::is_floating_point_v<T>)
      return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      return IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  void step(Acc& a, T v) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a)) return;
      if (std::isnan(v)) {
        a = v;
        return;
      }
    }
    if (IsMax ? v > a : v < a) a = v;
  }
  Acc combine(Acc a, Acc b) const {
    Acc r = a;
    step(r, b);
    return r;
  }
  Acc finish_exact(Acc a) const { return a; }
};
template <typename T, bool IsAll>
struct LogicOp {
  using Acc = bool;
  double p = 0;
  Acc init() const { return IsAll; }
  void step(Acc& a, T v) const { a = IsAll ? (a && v != T(0)) : (a || v != T(0)); }
  Acc combine(Acc a, Acc b) const { return IsAll ? (a && b) : (a || b); }
  Acc finish_exact(Acc a) const { return a; }
};
template <typename T>
struct CountOp {
  using Acc = int64_t;
  double p = 0;
  Acc init() const { return 0; }
  void step(Acc& a, T v) const { a += v != T(0); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  Acc finish_exact(Acc a) const { return a; }
};
// Norms run on floating inputs only (see reduce_norm).
template <typename T>
struct NormPOp {
  using Acc = double;
  double p = 2;
  Acc init() const { return 0; }
  void step(Acc& a, T v) const {
    double x = std::abs(static_cast<double>(v));
    a += p == 1.0 ? x : p == 2.0 ? x * x : std::pow(x, p);
  }
  Acc combine(Acc a, Acc b) const { return a + b; }
  Acc finish_exact(Acc a) const { return p == 1.0 ? a : p == 2.0 ? std::sqrt(a) : std::pow(a, 1.0 / p); }
};
template <typename T, bool IsMax>
struct NormExtremeOp {
  using Acc = double;
  double p = 0;
  Acc init() const { return IsMax ? 0.0 : std::numeric_limits<double>::infinity(); }
  void step(Acc& a, T v) const {
    double x = std::abs(static_cast<double>(v));
    if (std::isnan(a)) return;
    if (std::isnan(x)) {
      a = x;
      return;
    }
    if (IsMax ? x > a : x < a) a = x;
  }
  Acc combine(Acc a, Acc b) const {
    Acc r = a;
    step(r, static_cast<T>(b));
    return r;
  }
  Acc finish_exact(Acc a) const { return a; }
};
template <typename T>
struct Norm0Op {
  using Acc = double;
  double p = 0;
  Acc init() const { return 0; }
  void step(Acc& a, T v) const { a += v != T(0); }
  Acc combine(Acc a, Acc b) const { return a + b; }
  Acc finish_exact(Acc a) const { return a; }
};

template <typename Out, typename Acc>
Out cast_out(Acc a) {
  if constexpr (std::is_same_v<Out, bool>)
    return a != Acc(0);
  else
    return static_cast<Out>(a);
}

// Floating sums of a contiguous input whose dims group as (R1, K, R2) with R1 and R2 reduced
// (either may be empty): the bias gradients, sum over (N, L) of (N, O, L) or over M of (M, O).
// Rows are streamed once with one accumulator per kept element instead of a strided walk per
// output, in double. Short inner runs (R2 < 16) are added element by element in order; longer
// ones (a conv's L) are summed with eight interleaved partial sums first, which the compiler
// vectorizes (one chain of dependent adds made the conv bias gradient 3-4% of a LeNet-5 epoch). The order is
// fixed, so results do not depend on the thread count. Returns false when the layout does not fit.
// It sums f(x) and stores finish(sum): the identity for sum; x² and sqrt for the 2-norm, |x| for
// the 1-norm (a pruned layer's channel norms: the generic walk took a strided column each).
template <typename T, typename F = std::identity, typename Finish = std::identity>
bool sum_outer_inner(const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, F f = {},
                     Finish finish = {}) {
  if (!in.is_contiguous() || !out.is_contiguous()) return false;
  int64_t r1 = 1, k = 1, r2 = 1;
  int phase = 0;  // 0: leading reduced dims, 1: kept dims, 2: trailing reduced dims
  for (int64_t d = 0; d < in.dim(); ++d) {
    const int64_t n = in.size(d);
    if (n == 1) continue;
    if (reduced[d]) {
      if (phase == 1) phase = 2;
      (phase == 0 ? r1 : r2) *= n;
    } else {
      if (phase == 2) return false;
      phase = 1;
      k *= n;
    }
  }
  if (k == 1 || r1 * r2 == 0) return false;
  const T* x = static_cast<const T*>(in.raw_data_ptr());
  T* o = static_cast<T*>(out.raw_data_ptr());
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / (r1 * r2));
  parallel_for(0, k, grain, [&](int64_t k0, int64_t k1) {
    std::vector<double> acc(static_cast<size_t>(k1 - k0), 0.0);
    for (int64_t i = 0; i < r1; ++i) {
      const T* row = x + i * k * r2;
      if (r2 == 1) {
        for (int64_t j = k0; j < k1; ++j) acc[j - k0] += f(static_cast<double>(row[j]));
      } else if (r2 < 16) {
        // l outer: the kept elements' chains of dependent adds interleave instead of running
        // one after another.
        for (int64_t l = 0; l < r2; ++l) {
          for (int64_t j = k0; j < k1; ++j) acc[j - k0] += f(static_cast<double>(row[j * r2 + l]));
        }
      } else {
        for (int64_t j = k0; j < k1; ++j) {
          const T* run = row + j * r2;
          double p[8] = {};  // lane q sums run[l + q]: the compiler keeps them in vector registers
          int64_t l = 0;
          for (; l + 8 <= r2; l += 8) {
            for (int q = 0; q < 8; ++q) p[q] += f(static_cast<double>(run[l + q]));
          }
          for (; l < r2; ++l) p[0] += f(static_cast<double>(run[l]));
          acc[j - k0] += ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
        }
      }
    }
    for (int64_t j = k0; j < k1; ++j) o[j] = static_cast<T>(finish(acc[j - k0]));
  });
  return true;
}

// Stores n finished values at element offsets off[] of a tensor of dtype O. The output dtype
// matters only here: a reduction loop is compiled once per (input dtype, op), and the store for its
// accumulator type is picked once per call (store_for), not compiled into a copy of the loop per
// output dtype.
template <typename A>
using StoreFn = void (*)(void* out, const int64_t* off, const A* values, int64_t n);

template <typename O, typename A>
void store_as(void* out, const int64_t* off, const A* values, int64_t n) {
  O* o = static_cast<O*>(out);
  for (int64_t i = 0; i < n; ++i) o[off[i]] = cast_out<O>(values[i]);
}

template <typename A>
StoreFn<A> store_for(Dtype dtype) {
  return TWIG_DISPATCH_ALL(dtype, "reduce", [] { return &store_as<scalar_t, A>; });
}

// The input's dims split into kept dims (one output each) and reduced dims (walked per output).
struct ReducePlan {
  Shape kept_sizes, kept_in_strides, kept_out_strides;  // per kept dim; strides in elements
  StridedGeometry<1> red;                               // the reduced dims, from the input's first element
  int64_t red_n = 1;                                    // elements reduced into each output
  int64_t out_n = 1;                                    // outputs
};

ReducePlan plan_reduce(const Tensor& out, const Tensor& in, const std::vector<bool>& reduced) {
  ReducePlan plan;
  Shape red_sizes, red_strides;
  for (int64_t d = 0; d < in.dim(); ++d) {
    if (reduced[d]) {
      red_sizes.push_back(in.size(d));
      red_strides.push_back(in.stride(d));
    } else {
      plan.kept_sizes.push_back(in.size(d));
      plan.kept_in_strides.push_back(in.stride(d));
      plan.kept_out_strides.push_back(out.stride(d));
    }
  }
  Tensor red_view = detail::make_alias(in, red_sizes, red_strides, in.storage_offset());
  plan.red = make_geometry<1>(red_sizes, {&red_view});
  plan.red_n = plan.red.numel;
  for (int64_t s : plan.kept_sizes) plan.out_n *= s;
  return plan;
}

template <typename T, typename Op>
void reduce_typed(const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, Op op) {
  using Acc = typename Op::Acc;
  if constexpr (std::is_floating_point_v<T> && std::is_same_v<Op, SumOp<T>> && std::is_same_v<Acc, double>) {
    if (out.dtype() == in.dtype() && sum_outer_inner<T>(out, in, reduced)) return;
  }
  if constexpr (std::is_floating_point_v<T> && std::is_same_v<Op, NormPOp<T>>) {
    if (out.dtype() == in.dtype()) {
      if (op.p == 2.0 && sum_outer_inner<T>(
                             out, in, reduced, [](double v) { return v * v; }, [](double a) { return std::sqrt(a); }))
        return;
      if (op.p == 1.0 && sum_outer_inner<T>(out, in, reduced, [](double v) { return std::fabs(v); })) return;
    }
  }
  const ReducePlan plan = plan_reduce(out, in, reduced);
  const StoreFn<Acc> store = store_for<Acc>(out.dtype());
  const int64_t red_n = plan.red_n, out_n = plan.out_n;
  char* in_base = static_cast<char*>(in.raw_data_ptr());
  void* out_base = out.raw_data_ptr();
  const int64_t isz = static_cast<int64_t>(sizeof(T));

  auto reduce_from = [&](char* base, int64_t begin, int64_t end) {
    Acc acc = op.init();
    StridedGeometry<1> g = plan.red;
    g.base[0] = base;
    auto inner = [&](std::array<char*, 1> p, std::array<int64_t, 1> s, int64_t n) {
      if (s[0] == isz) {
        const T* x = reinterpret_cast<const T*>(p[0]);
        for (int64_t i = 0; i < n; ++i) op.step(acc, x[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) op.step(acc, *reinterpret_cast<const T*>(p[0] + i * s[0]));
      }
    };
    walk_range(g, begin, end, inner);
    return acc;
  };

  if (out_n == 1) {
    const int64_t zero = 0;
    Acc acc = op.init();
    if (red_n < kParallelGrain || in_parallel_region() || get_num_threads() == 1) {
      acc = red_n == 0 ? op.init() : reduce_from(in_base, 0, red_n);
    } else {
      int64_t nt = get_num_threads();
      std::vector<Acc> partial(static_cast<size_t>(nt), op.init());
      int64_t chunk = (red_n + nt - 1) / nt;
      parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
        for (int64_t t = b; t < e; ++t) {
          int64_t lo = t * chunk, hi = std::min(red_n, lo + chunk);
          if (lo < hi) partial[static_cast<size_t>(t)] = reduce_from(in_base, lo, hi);
        }
      });
      acc = partial[0];
      for (size_t t = 1; t < partial.size(); ++t) acc = op.combine(acc, partial[t]);
    }
    const Acc value = op.finish_exact(acc);
    store(out_base, &zero, &value, 1);
    return;
  }
  // Finished values are gathered in blocks and stored a block at a time.
  constexpr int64_t kBlock = 64;
  const int64_t nk = static_cast<int64_t>(plan.kept_sizes.size());
  auto body = [&](int64_t b, int64_t e) {
    std::array<Acc, kBlock> values;
    std::array<int64_t, kBlock> out_offs;
    for (int64_t o0 = b; o0 < e; o0 += kBlock) {
      const int64_t m = std::min(kBlock, e - o0);
      for (int64_t j = 0; j < m; ++j) {
        int64_t rem = o0 + j, in_off = 0, out_off = 0;
        for (int64_t d = nk - 1; d >= 0; --d) {
          int64_t i = rem % plan.kept_sizes[d];
          rem /= plan.kept_sizes[d];
          in_off += i * plan.kept_in_strides[d];
          out_off += i * plan.kept_out_strides[d];
        }
        Acc acc = red_n == 0 ? op.init() : reduce_from(in_base + in_off * isz, 0, red_n);
        values[static_cast<size_t>(j)] = op.finish_exact(acc);
        out_offs[static_cast<size_t>(j)] = out_off;
      }
      store(out_base, out_offs.data(), values.data(), m);
    }
  };
  int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(red_n, 1));
  parallel_for(0, out_n, grain, body);
}

// Norms are compiled for floating inputs only (norm() refuses other dtypes before it gets here):
// the 16 integer and bool instantiations were more than a third of this file's compile time.
template <typename T>
void reduce_norm(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case ReduceOp::NormP: {
        NormPOp<T> n;
        n.p = p;
        return reduce_typed<T>(out, in, reduced, n);
      }
      case ReduceOp::NormInf:
        return reduce_typed<T>(out, in, reduced, NormExtremeOp<T, true>{});
      case ReduceOp::NormNegInf:
        return reduce_typed<T>(out, in, reduced, NormExtremeOp<T, false>{});
      case ReduceOp::Norm0:
        return reduce_typed<T>(out, in, reduced, Norm0Op<T>{});
      default:
        break;
    }
  }
  TWIG_THROW(TypeError, "norm: expected a floating input dtype, got ", dtype_name(in.dtype()));
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) {
  TWIG_DISPATCH_ALL(in.dtype(), "reduce", [&] {
    using T = scalar_t;
    switch (op) {
      case ReduceOp::Sum:
        return reduce_typed<T>(out, in, reduced, SumOp<T>{});
      case ReduceOp::Prod:
        return reduce_typed<T>(out, in, reduced, ProdOp<T>{});
      case ReduceOp::Max:
        return reduce_typed<T>(out, in, reduced, ExtremeOp<T, true>{});
      case ReduceOp::Min:
        return reduce_typed<T>(out, in, reduced, ExtremeOp<T, false>{});
      case ReduceOp::Any:
        return reduce_typed<T>(out, in, reduced, LogicOp<T, false>{});
      case ReduceOp::All:
        return reduce_typed<T>(out, in, reduced, LogicOp<T, true>{});
      case ReduceOp::CountNonzero:
        return reduce_typed<T>(out, in, reduced, CountOp<T>{});
      case ReduceOp::NormP:
      case ReduceOp::NormInf:
      case ReduceOp::NormNegInf:
      case ReduceOp::Norm0:
        return reduce_norm<T>(op, out, in, reduced, p);
    }
  });
}

namespace {

// max/min with index over n lines of len elements: for each, the first maximum (minimum), or the
// first NaN. p/s: (value, index, input) line starts and their steps in bytes; stride in elements.
// These run functions are the only per-dtype code of arg_reduce and cumsum: the strided walk over
// lines (for_each) is compiled once and calls the run function picked once per call, once per
// innermost run of lines, so short lines cost no more than before.
using ArgRunFn = void (*)(std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n, int64_t len, int64_t stride,
                          bool is_max);

template <typename T>
void arg_run(std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n, int64_t len, int64_t stride, bool is_max) {
  for (int64_t i = 0; i < n; ++i) {
    const T* x = reinterpret_cast<const T*>(p[2] + i * s[2]);
    T best = x[0];
    int64_t best_i = 0;
    for (int64_t j = 1; j < len; ++j) {
      T v = x[j * stride];
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(best)) break;
        if (std::isnan(v)) {
          best = v;
          best_i = j;
          break;
        }
      }
      if (is_max ? v > best : v < best) {
        best = v;
        best_i = j;
      }
    }
    *reinterpret_cast<T*>(p[0] + i * s[0]) = best;
    *reinterpret_cast<int64_t*>(p[1] + i * s[1]) = best_i;
  }
}

// cumsum over n lines of len elements: y[j] = x[0] + ... + x[j], accumulated in acc_type<O>.
// p/s: (out, in) line starts and their steps in bytes; in_stride/out_stride in elements.
using CumsumRunFn = void (*)(std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n, int64_t len,
                             int64_t in_stride, int64_t out_stride);

template <typename T, typename O>
void cumsum_run(std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n, int64_t len, int64_t in_stride,
                int64_t out_stride) {
  for (int64_t i = 0; i < n; ++i) {
    const T* x = reinterpret_cast<const T*>(p[1] + i * s[1]);
    O* y = reinterpret_cast<O*>(p[0] + i * s[0]);
    acc_type<O> acc = 0;
    for (int64_t j = 0; j < len; ++j) {
      acc += static_cast<acc_type<O>>(x[j * in_stride]);
      y[j * out_stride] = static_cast<O>(acc);
    }
  }
}

}  // namespace

void CpuBackend::arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) {
  TWIG_CHECK(op == ReduceOp::Max || op == ReduceOp::Min, RuntimeError, "arg_reduce supports max and min");
  const bool is_max = op == ReduceOp::Max;
  const int64_t len = in.size(dim), in_stride = in.stride(dim);
  const ArgRunFn run = TWIG_DISPATCH_ALL(in.dtype(), "max/min", [] { return &arg_run<scalar_t>; });
  // Iterate over every position of `values` (dim has size 1 there); walk dim in the input.
  Tensor in_first = detail::make_alias(in, values.sizes(), in.strides(), in.storage_offset());
  for_each<3>(
      values.sizes(), {&values, &indices, &in_first},
      [=](std::array<char*, 3> p, std::array<int64_t, 3> s, int64_t n) { run(p, s, n, len, in_stride, is_max); });
}

void CpuBackend::cumsum(const Tensor& out, const Tensor& in, int64_t dim) {
  const int64_t len = in.size(dim), in_stride = in.stride(dim), out_stride = out.stride(dim);
  const CumsumRunFn run = TWIG_DISPATCH_NUMERIC(in.dtype(), "cumsum", [&] {
    using T = scalar_t;
    return TWIG_DISPATCH_NUMERIC(out.dtype(), "cumsum", [] { return &cumsum_run<T, scalar_t>; });
  });
  Shape line_shape = in.sizes();
  line_shape[dim] = 1;
  Tensor in_first = detail::make_alias(in, line_shape, in.strides(), in.storage_offset());
  Tensor out_first = detail::make_alias(out, line_shape, out.strides(), out.storage_offset());
  for_each<2>(line_shape, {&out_first, &in_first}, [=](std::array<char*, 2> p, std::array<int64_t, 2> s, int64_t n) {
    run(p, s, n, len, in_stride, out_stride);
  });
}

}  // namespace twig::cpu
