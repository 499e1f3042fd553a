// CPU elementwise kernels: unary, binary, where, clamp, and the fused Adam step.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/loops.h"
#include "twig/tensor/cpu/simd.h"

namespace twig::cpu {

namespace {

template <typename T>
T sign_of(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else if constexpr (std::is_unsigned_v<T>) {
    return v > 0 ? 1 : 0;
  } else {
    return static_cast<T>((T(0) < v) - (v < T(0)));
  }
}

// Floating remainder with the sign of the divisor (Python's %).
template <typename T>
T py_remainder(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    T r = std::fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  } else if constexpr (std::is_same_v<T, bool>) {
    return a;  // unreachable: bool remainder is rejected by the op
  } else {
    if (b == 0) return 0;  // checked by the op for integers
    T r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) r += b;
    return r;
  }
}

template <typename T>
T int_pow(T base, T exp) {
  if constexpr (std::is_same_v<T, bool>) {
    return base || !exp;
  } else {
    if (exp < 0) return base == 1 ? 1 : (base == T(-1) ? ((exp & 1) ? T(-1) : T(1)) : 0);
    T result = 1;
    while (exp) {
      if (exp & 1) result *= base;
      base *= base;
      exp >>= 1;
    }
    return result;
  }
}

template <typename T>
void unary_float(UnaryOp op, const Tensor& out, const Tensor& in) {
  switch (op) {
    case UnaryOp::Neg:
      return map1<T, T>(out, in, [](T v) { return -v; });
    case UnaryOp::Abs:
      return map1<T, T>(out, in, [](T v) { return std::abs(v); });
    case UnaryOp::Sign:
      return map1<T, T>(out, in, [](T v) { return sign_of(v); });
    case UnaryOp::Exp:
      return map1<T, T>(out, in, [](T v) { return std::exp(v); });
    case UnaryOp::Log:
      return map1<T, T>(out, in, [](T v) { return std::log(v); });
    case UnaryOp::Log1p:
      return map1<T, T>(out, in, [](T v) { return std::log1p(v); });
    case UnaryOp::Expm1:
      return map1<T, T>(out, in, [](T v) { return std::expm1(v); });
    case UnaryOp::Sqrt:
      return map1<T, T>(out, in, [](T v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt:
      return map1<T, T>(out, in, [](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::Reciprocal:
      return map1<T, T>(out, in, [](T v) { return T(1) / v; });
    case UnaryOp::Square:
      return map1<T, T>(out, in, [](T v) { return v * v; });
    case UnaryOp::Sin:
      return map1<T, T>(out, in, [](T v) { return std::sin(v); });
    case UnaryOp::Cos:
      return map1<T, T>(out, in, [](T v) { return std::cos(v); });
    case UnaryOp::Tanh:
      return map1<T, T>(out, in, [](T v) { return std::tanh(v); });
    case UnaryOp::Sigmoid:
      return map1<T, T>(out, in, [](T v) { return T(1) / (T(1) + std::exp(-v)); });
    // NaN propagates (torch.relu(nan) is nan): only values below zero are replaced.
    case UnaryOp::Relu:
      return map1<T, T>(out, in, [](T v) { return v < T(0) ? T(0) : v; });
    case UnaryOp::Floor:
      return map1<T, T>(out, in, [](T v) { return std::floor(v); });
    case UnaryOp::Ceil:
      return map1<T, T>(out, in, [](T v) { return std::ceil(v); });
    case UnaryOp::Round:
      return map1<T, T>(out, in, [](T v) { return std::nearbyint(v); });
    case UnaryOp::Trunc:
      return map1<T, T>(out, in, [](T v) { return std::trunc(v); });
    case UnaryOp::Erf:
      return map1<T, T>(out, in, [](T v) { return std::erf(v); });
    case UnaryOp::IsNan:
      return map1<bool, T>(out, in, [](T v) { return std::isnan(v); });
    case UnaryOp::IsInf:
      return map1<bool, T>(out, in, [](T v) { return std::isinf(v); });
    case UnaryOp::IsFinite:
      return map1<bool, T>(out, in, [](T v) { return std::isfinite(v); });
    case UnaryOp::LogicalNot:
      return map1<bool, T>(out, in, [](T v) { return v == T(0); });
    case UnaryOp::BitwiseNot:
      break;
  }
  TWIG_THROW(TypeError, "unary op ", static_cast<int>(op), " is not defined for floating tensors");
}

template <typename T>
void unary_integral(UnaryOp op, const Tensor& out, const Tensor& in) {
  switch (op) {
    case UnaryOp::Neg:
      return map1<T, T>(out, in, [](T v) { return static_cast<T>(-v); });
    case UnaryOp::Abs:
      return map1<T, T>(out, in, [](T v) {
        if constexpr (std::is_unsigned_v<T>)
          return v;
        else
          return static_cast<T>(v < 0 ? -v : v);
      });
    case UnaryOp::Sign:
      return map1<T, T>(out, in, [](T v) { return sign_of(v); });
    case UnaryOp::Square:
      return map1<T, T>(out, in, [](T v) { return static_cast<T>(v * v); });
    case UnaryOp::Relu:
      return map1<T, T>(out, in, [](T v) { return v > T(0) ? v : T(0); });
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
    case UnaryOp::Trunc:
      return map1<T, T>(out, in, [](T v) { return v; });
    case UnaryOp::IsNan:
    case UnaryOp::IsInf:
      return map1<bool, T>(out, in, [](T) { return false; });
    case UnaryOp::IsFinite:
      return map1<bool, T>(out, in, [](T) { return true; });
    case UnaryOp::LogicalNot:
      return map1<bool, T>(out, in, [](T v) { return v == T(0); });
    case UnaryOp::BitwiseNot:
      return map1<T, T>(out, in, [](T v) { return static_cast<T>(~v); });
    default:
      break;
  }
  TWIG_THROW(TypeError, "unary op ", static_cast<int>(op), " is not defined for integer tensors");
}

void unary_bool(UnaryOp op, const Tensor& out, const Tensor& in) {
  switch (op) {
    case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseNot:
      return map1<bool, bool>(out, in, [](bool v) { return !v; });
    case UnaryOp::Abs:
    case UnaryOp::Sign:
    case UnaryOp::Relu:
    case UnaryOp::Square:
      return map1<bool, bool>(out, in, [](bool v) { return v; });
    case UnaryOp::IsNan:
    case UnaryOp::IsInf:
      return map1<bool, bool>(out, in, [](bool) { return false; });
    case UnaryOp::IsFinite:
      return map1<bool, bool>(out, in, [](bool) { return true; });
    default:
      break;
  }
  TWIG_THROW(TypeError, "unary op ", static_cast<int>(op), " is not defined for bool tensors");
}

template <typename T>
void binary_typed(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  using B = bool;
  switch (op) {
    case BinaryOp::Add:
      if constexpr (std::is_same_v<T, bool>)
        return map2<T, T>(out, a, b, [](T x, T y) { return x || y; });
      else
        return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x + y); });
    case BinaryOp::Sub:
      return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x - y); });
    case BinaryOp::Mul:
      if constexpr (std::is_same_v<T, bool>)
        return map2<T, T>(out, a, b, [](T x, T y) { return x && y; });
      else
        return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x * y); });
    case BinaryOp::Div:
      if constexpr (std::is_floating_point_v<T>)
        return map2<T, T>(out, a, b, [](T x, T y) { return x / y; });
      else
        break;
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) {
        return map2<T, T>(out, a, b, [](T x, T y) { return y == T(2) ? x * x : std::pow(x, y); });
      } else {
        return map2<T, T>(out, a, b, [](T x, T y) { return int_pow(x, y); });
      }
    case BinaryOp::Maximum:
      return map2<T, T>(out, a, b, [](T x, T y) {
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<T>::quiet_NaN();
        }
        return x > y ? x : y;
      });
    case BinaryOp::Minimum:
      return map2<T, T>(out, a, b, [](T x, T y) {
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<T>::quiet_NaN();
        }
        return x < y ? x : y;
      });
    case BinaryOp::Remainder:
      return map2<T, T>(out, a, b, [](T x, T y) { return py_remainder(x, y); });
    case BinaryOp::Eq:
      return map2<B, T>(out, a, b, [](T x, T y) { return x == y; });
    case BinaryOp::Ne:
      return map2<B, T>(out, a, b, [](T x, T y) { return x != y; });
    case BinaryOp::Lt:
      return map2<B, T>(out, a, b, [](T x, T y) { return x < y; });
    case BinaryOp::Le:
      return map2<B, T>(out, a, b, [](T x, T y) { return x <= y; });
    case BinaryOp::Gt:
      return map2<B, T>(out, a, b, [](T x, T y) { return x > y; });
    case BinaryOp::Ge:
      return map2<B, T>(out, a, b, [](T x, T y) { return x >= y; });
    case BinaryOp::LogicalAnd:
      return map2<B, T>(out, a, b, [](T x, T y) { return x != T(0) && y != T(0); });
    case BinaryOp::LogicalOr:
      return map2<B, T>(out, a, b, [](T x, T y) { return x != T(0) || y != T(0); });
    case BinaryOp::LogicalXor:
      return map2<B, T>(out, a, b, [](T x, T y) { return (x != T(0)) != (y != T(0)); });
    case BinaryOp::BitwiseAnd:
    case BinaryOp::BitwiseOr:
    case BinaryOp::BitwiseXor:
      if constexpr (std::is_integral_v<T>) {
        if (op == BinaryOp::BitwiseAnd) return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x & y); });
        if (op == BinaryOp::BitwiseOr) return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x | y); });
        return map2<T, T>(out, a, b, [](T x, T y) { return static_cast<T>(x ^ y); });
      }
      break;
  }
  TWIG_THROW(TypeError, "binary op ", static_cast<int>(op), " is not defined for dtype ", dtype_name(a.dtype()));
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  switch (in.dtype()) {
    case kFloat32:
      return unary_float<float>(op, out, in);
    case kFloat64:
      return unary_float<double>(op, out, in);
    case kBool:
      return unary_bool(op, out, in);
    case kUInt8:
      return unary_integral<uint8_t>(op, out, in);
    case kInt32:
      return unary_integral<int32_t>(op, out, in);
    case kInt64:
      return unary_integral<int64_t>(op, out, in);
  }
}

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  TWIG_DISPATCH_ALL(a.dtype(), "binary", [&] { binary_typed<scalar_t>(op, out, a, b); });
}

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  TWIG_DISPATCH_ALL(out.dtype(), "where", [&] {
    for_each<4>(out.sizes(), {&out, &cond, &a, &b}, [](std::array<char*, 4> p, std::array<int64_t, 4> s, int64_t n) {
      constexpr int64_t sz = sizeof(scalar_t);
      if (s[0] == sz && s[1] == 1 && (s[2] == 0 || s[2] == sz) && (s[3] == 0 || s[3] == sz)) {
        // The common runs (masked_fill_, a pruning mask applied): dense out and cond, each value
        // operand dense or one broadcast scalar. Index steps of 0 or 1 keep the loop vectorizable.
        scalar_t* o = reinterpret_cast<scalar_t*>(p[0]);
        const bool* c = reinterpret_cast<const bool*>(p[1]);
        const scalar_t* x = reinterpret_cast<const scalar_t*>(p[2]);
        const scalar_t* y = reinterpret_cast<const scalar_t*>(p[3]);
        if (s[2] == 0 && s[3] == sz) {
          const scalar_t v = *x;
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? v : y[i];
        } else {
          const int64_t sx = s[2] / sz, sy = s[3] / sz;
          for (int64_t i = 0; i < n; ++i) o[i] = c[i] ? x[i * sx] : y[i * sy];
        }
        return;
      }
      for (int64_t i = 0; i < n; ++i) {
        bool c = *reinterpret_cast<const bool*>(p[1] + i * s[1]);
        *reinterpret_cast<scalar_t*>(p[0] + i * s[0]) = c ? *reinterpret_cast<const scalar_t*>(p[2] + i * s[2])
                                                          : *reinterpret_cast<const scalar_t*>(p[3] + i * s[3]);
      }
    });
  });
}

void CpuBackend::threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& self, Scalar threshold) {
  TWIG_DISPATCH_FLOATING(out.dtype(), "threshold_backward", [&] {
    const scalar_t t = threshold.to<scalar_t>();
    map2<scalar_t, scalar_t>(out, grad, self, [t](scalar_t g, scalar_t v) { return v > t ? g : scalar_t(0); });
  });
}

namespace {
template <typename T>
void addcmul_typed(const Tensor& self, const Tensor& t1, const Tensor& t2, T v, bool divide) {
  if (!t2.defined()) {
    return map2<T, T>(self, self, t1, [v](T s, T a) { return s + v * a; });
  }
  for_each<3>(
      self.sizes(), {&self, &t1, &t2}, [v, divide](std::array<char*, 3> p, std::array<int64_t, 3> st, int64_t n) {
        T* s = reinterpret_cast<T*>(p[0]);
        const T* a = reinterpret_cast<const T*>(p[1]);
        const T* b = reinterpret_cast<const T*>(p[2]);
        if (st[0] == sizeof(T) && st[1] == sizeof(T) && st[2] == sizeof(T)) {
          if (divide) {
            for (int64_t i = 0; i < n; ++i) s[i] += v * (a[i] / b[i]);
          } else {
            for (int64_t i = 0; i < n; ++i) s[i] += v * (a[i] * b[i]);
          }
          return;
        }
        for (int64_t i = 0; i < n; ++i) {
          T x = *reinterpret_cast<const T*>(p[1] + i * st[1]), y = *reinterpret_cast<const T*>(p[2] + i * st[2]);
          *reinterpret_cast<T*>(p[0] + i * st[0]) += v * (divide ? x / y : x * y);
        }
      });
}
}  // namespace

void CpuBackend::addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide) {
  TWIG_DISPATCH_FLOATING(self.dtype(), "addcmul",
                         [&] { addcmul_typed<scalar_t>(self, t1, t2, value.to<scalar_t>(), divide); });
}

namespace {
// The same arithmetic, in the same order and precision, as the op sequence torch.optim.Adam runs
// (mul_, add_, addcmul_, sqrt, div, add_, addcdiv_), so the fused step rounds like the unfused one.
// The options are template arguments so that each variant is a branch-free loop the compiler
// vectorizes (sqrt and division included: twig builds with -fno-math-errno).
template <typename T, bool kMaximize, bool kL2, bool kDecay, bool kAmsgrad>
[[gnu::always_inline]] inline void adam_body(T* __restrict p, const T* __restrict g_in, T* __restrict m,
                                             T* __restrict v, T* __restrict vmax, const AdamStep& s, int64_t begin,
                                             int64_t end) {
  const T one_minus_lr_wd = T(1.0 - s.lr * s.weight_decay), wd = T(s.weight_decay);
  const T b1 = T(s.beta1), b2 = T(s.beta2), c1 = T(1.0 - s.beta1), c2 = T(1.0 - s.beta2);
  const T bc2 = T(s.bias_correction2_sqrt), eps = T(s.eps), neg_step = T(-s.step_size);
  for (int64_t i = begin; i < end; ++i) {
    T g = kMaximize ? -g_in[i] : g_in[i];
    T pi = p[i];
    if constexpr (kDecay) pi = pi * one_minus_lr_wd;
    if constexpr (kL2) g = g + wd * pi;
    const T mi = m[i] * b1 + c1 * g;
    const T vi = v[i] * b2 + c2 * (g * g);
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      second = vmax[i] < vi ? vi : vmax[i];
      vmax[i] = second;
    }
    const T denom = std::sqrt(second) / bc2 + eps;
    p[i] = pi + neg_step * (mi / denom);
  }
}

// The loop compiled twice: for the baseline (SSE2) and, at AVX2 level or above (simd.h, so
// TWIG_CPU_CAPABILITY caps it like the other kernels), for AVX2 (8 floats a step). AVX2 without
// FMA: no contraction, so both round alike.
template <typename T, bool kMaximize, bool kL2, bool kDecay, bool kAmsgrad>
void adam_baseline(T* p, const T* g, T* m, T* v, T* vmax, const AdamStep& s, int64_t begin, int64_t end) {
  adam_body<T, kMaximize, kL2, kDecay, kAmsgrad>(p, g, m, v, vmax, s, begin, end);
}

#if TWIG_SIMD_X86
template <typename T, bool kMaximize, bool kL2, bool kDecay, bool kAmsgrad>
[[gnu::target("avx2")]] void adam_avx2(T* p, const T* g, T* m, T* v, T* vmax, const AdamStep& s, int64_t begin,
                                       int64_t end) {
  adam_body<T, kMaximize, kL2, kDecay, kAmsgrad>(p, g, m, v, vmax, s, begin, end);
}
#endif

template <typename T, bool kMaximize, bool kL2, bool kDecay, bool kAmsgrad>
void adam_range(T* p, const T* g, T* m, T* v, T* vmax, const AdamStep& s, int64_t begin, int64_t end, bool avx2) {
#if TWIG_SIMD_X86
  if (avx2) return adam_avx2<T, kMaximize, kL2, kDecay, kAmsgrad>(p, g, m, v, vmax, s, begin, end);
#endif
  (void)avx2;
  adam_baseline<T, kMaximize, kL2, kDecay, kAmsgrad>(p, g, m, v, vmax, s, begin, end);
}

// f(std::true_type) or f(std::false_type): a runtime flag as a template argument.
template <typename F>
void with_flag(bool flag, F f) {
  if (flag) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

template <typename T>
void adam_dispatch(T* p, const T* g, T* m, T* v, T* vmax, const AdamStep& s, int64_t begin, int64_t end) {
  const bool l2 = s.weight_decay != 0.0 && !s.decoupled, decay = s.weight_decay != 0.0 && s.decoupled;
  with_flag(s.maximize, [&](auto maximize) {
    with_flag(l2, [&](auto l2_on) {
      with_flag(decay, [&](auto decay_on) {
        with_flag(s.amsgrad, [&](auto amsgrad) {
          adam_range<T, maximize(), l2_on(), decay_on(), amsgrad()>(p, g, m, v, vmax, s, begin, end,
                                                                    best_simd_level() >= SimdLevel::kAvx2);
        });
      });
    });
  });
}
}  // namespace

void CpuBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                           const Tensor& max_exp_avg_sq, const AdamStep& s) {
  TWIG_DISPATCH_FLOATING(param.dtype(), "adam_step", [&] {
    scalar_t* p = param.data_ptr<scalar_t>();
    const scalar_t* g = grad.data_ptr<scalar_t>();
    scalar_t* m = exp_avg.data_ptr<scalar_t>();
    scalar_t* v = exp_avg_sq.data_ptr<scalar_t>();
    scalar_t* vmax = s.amsgrad ? max_exp_avg_sq.data_ptr<scalar_t>() : nullptr;
    const int64_t n = param.numel();
    if (n < kParallelGrain) return adam_dispatch(p, g, m, v, vmax, s, 0, n);
    parallel_for(0, n, kParallelGrain, [&](int64_t b, int64_t e) { adam_dispatch(p, g, m, v, vmax, s, b, e); });
  });
}

void CpuBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  TWIG_DISPATCH_NUMERIC(in.dtype(), "clamp", [&] {
    const bool has_lo = lo.has_value(), has_hi = hi.has_value();
    const scalar_t l = has_lo ? lo->to<scalar_t>() : scalar_t(0);
    const scalar_t h = has_hi ? hi->to<scalar_t>() : scalar_t(0);
    map1<scalar_t, scalar_t>(out, in, [=](scalar_t v) {
      if constexpr (std::is_floating_point_v<scalar_t>) {
        if (std::isnan(v)) return v;
      }
      if (has_lo && v < l) v = l;
      if (has_hi && v > h) v = h;
      return v;
    });
  });
}

}  // namespace twig::cpu
