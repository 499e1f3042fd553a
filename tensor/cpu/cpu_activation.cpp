// CPU activations (forward and fused backward), rrelu's noise, and the LSTM cell's pointwise half.
// Every formula works in double and stores in the tensors' dtype, as nn/ computed them before they
// moved behind the Backend; the element loops are loops.h's (split over the pool above
// kParallelGrain elements, the grain nn/ used).
#include <algorithm>
#include <cmath>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/cpu/loops.h"
#include "twig/tensor/random.h"
#include "twig/tensor/raw.h"

namespace twig::cpu {

namespace {

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kGeluTanhBeta = M_SQRT2 * M_2_SQRTPI * 0.5;  // sqrt(2 / pi)
constexpr double kGeluTanhKappa = 0.044715;

double sigmoid_of(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// out[i] = fwd(in[i]) in double.
template <typename Fwd>
void forward_map(const Tensor& out, const Tensor& in, Fwd fwd) {
  TWIG_DISPATCH_FLOATING(out.dtype(), "activation", [&] {
    map1<scalar_t, scalar_t>(out, in, [fwd](scalar_t v) { return static_cast<scalar_t>(fwd(static_cast<double>(v))); });
  });
}

// grad_in[i] = bwd(grad_out[i], in[i]) in double: the gradient times the derivative at in[i].
template <typename Bwd>
void backward_map(const Tensor& grad_in, const Tensor& grad_out, const Tensor& in, Bwd bwd) {
  TWIG_DISPATCH_FLOATING(grad_in.dtype(), "activation_backward", [&] {
    map2<scalar_t, scalar_t>(grad_in, grad_out, in, [bwd](scalar_t g, scalar_t v) {
      return static_cast<scalar_t>(bwd(static_cast<double>(g), static_cast<double>(v)));
    });
  });
}

// Inputs must share out's dtype (the ops convert before calling).
void check_same_dtype(const char* name, const Tensor& out, std::initializer_list<const Tensor*> ins) {
  for (const Tensor* t : ins) {
    TWIG_CHECK(t->dtype() == out.dtype(), TypeError, name, ": dtype ", dtype_name(t->dtype()), " does not match ",
               dtype_name(out.dtype()));
  }
}

}  // namespace

void CpuBackend::activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) {
  TWIG_CHECK(in.sizes() == out.sizes(), RuntimeError, "activation: input shape ", in.sizes(),
             " does not match output shape ", out.sizes());
  check_same_dtype("activation", out, {&in});
  switch (op) {
    case ActivationOp::Hardtanh: {
      const double lo = p.min_val, hi = p.max_val;
      return forward_map(out, in, [lo, hi](double v) { return v < lo ? lo : v > hi ? hi : v; });
    }
    case ActivationOp::Hardsigmoid:
      return forward_map(out, in, [](double v) { return v <= -3 ? 0.0 : v >= 3 ? 1.0 : v / 6 + 0.5; });
    case ActivationOp::Silu:
      return forward_map(out, in, [](double v) { return v * sigmoid_of(v); });
    case ActivationOp::Mish:
      return forward_map(out, in, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); });
    case ActivationOp::Hardswish:
      return forward_map(out, in, [](double v) { return v <= -3 ? 0.0 : v >= 3 ? v : v * (v + 3) / 6; });
    case ActivationOp::Elu: {
      const double alpha = p.alpha;
      return forward_map(out, in, [alpha](double v) { return v > 0 ? v : alpha * std::expm1(v); });
    }
    case ActivationOp::Celu: {
      const double alpha = p.alpha;
      TWIG_CHECK(alpha != 0, ValueError, "celu: alpha must not be 0");
      return forward_map(out, in, [alpha](double v) { return v > 0 ? v : alpha * std::expm1(v / alpha); });
    }
    case ActivationOp::Selu:
      return forward_map(out, in, [](double v) { return kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v)); });
    case ActivationOp::Hardshrink: {
      const double lambd = p.lambd;
      return forward_map(out, in, [lambd](double v) { return v >= -lambd && v <= lambd ? 0.0 : v; });
    }
    case ActivationOp::LeakyRelu: {
      const double slope = p.negative_slope;
      return forward_map(out, in, [slope](double v) { return v > 0 ? v : v * slope; });
    }
    case ActivationOp::LogSigmoid:
      // log σ(x) = min(x, 0) - log1p(exp(-|x|)), stable for either sign.
      return forward_map(out, in, [](double v) { return std::min(v, 0.0) - std::log1p(std::exp(-std::fabs(v))); });
    case ActivationOp::Softplus: {
      const double beta = p.beta, threshold = p.threshold;
      return forward_map(out, in, [beta, threshold](double v) {
        return v * beta > threshold ? v : std::log1p(std::exp(v * beta)) / beta;
      });
    }
    case ActivationOp::Gelu:
      return forward_map(out, in, [](double v) { return 0.5 * v * (1 + std::erf(v * M_SQRT1_2)); });
    case ActivationOp::GeluTanh:
      return forward_map(out, in, [](double v) {
        return 0.5 * v * (1 + std::tanh(kGeluTanhBeta * (v + kGeluTanhKappa * v * v * v)));
      });
  }
  TWIG_THROW(ValueError, "activation: unknown ActivationOp ", static_cast<int>(op));
}

void CpuBackend::activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                     const ActivationParams& p) {
  TWIG_CHECK(in.sizes() == grad_in.sizes() && grad_out.sizes() == grad_in.sizes(), RuntimeError,
             "activation_backward: shapes ", grad_in.sizes(), ", ", grad_out.sizes(), " and ", in.sizes(),
             " must agree");
  check_same_dtype("activation_backward", grad_in, {&grad_out, &in});
  switch (op) {
    case ActivationOp::Hardtanh: {
      const double lo = p.min_val, hi = p.max_val;
      return backward_map(grad_in, grad_out, in, [lo, hi](double g, double v) { return v > lo && v < hi ? g : 0.0; });
    }
    case ActivationOp::Hardsigmoid:
      return backward_map(grad_in, grad_out, in, [](double g, double v) { return v > -3 && v < 3 ? g / 6 : 0.0; });
    case ActivationOp::Silu:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        double s = sigmoid_of(v);
        return g * s * (1 + v * (1 - s));
      });
    case ActivationOp::Mish:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        double t = std::tanh(std::log1p(std::exp(v)));
        return g * (t + v * sigmoid_of(v) * (1 - t * t));
      });
    case ActivationOp::Hardswish:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        return v < -3 ? 0.0 : v <= 3 ? g * (v / 3 + 0.5) : g;
      });
    case ActivationOp::Elu: {
      const double alpha = p.alpha;
      return backward_map(grad_in, grad_out, in,
                          [alpha](double g, double v) { return v > 0 ? g : g * alpha * std::exp(v); });
    }
    case ActivationOp::Celu: {
      const double alpha = p.alpha;
      TWIG_CHECK(alpha != 0, ValueError, "celu: alpha must not be 0");
      return backward_map(grad_in, grad_out, in,
                          [alpha](double g, double v) { return v > 0 ? g : g * std::exp(v / alpha); });
    }
    case ActivationOp::Selu:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        return v > 0 ? g * kSeluScale : g * kSeluScale * kSeluAlpha * std::exp(v);
      });
    case ActivationOp::Hardshrink: {
      const double lambd = p.lambd;
      return backward_map(grad_in, grad_out, in,
                          [lambd](double g, double v) { return v >= -lambd && v <= lambd ? 0.0 : g; });
    }
    case ActivationOp::LeakyRelu: {
      const double slope = p.negative_slope;
      return backward_map(grad_in, grad_out, in, [slope](double g, double v) { return v > 0 ? g : g * slope; });
    }
    case ActivationOp::LogSigmoid:
      return backward_map(grad_in, grad_out, in, [](double g, double v) { return g * sigmoid_of(-v); });
    case ActivationOp::Softplus: {
      const double beta = p.beta, threshold = p.threshold;
      return backward_map(grad_in, grad_out, in, [beta, threshold](double g, double v) {
        if (v * beta > threshold) return g;
        double z = std::exp(v * beta);
        return g * z / (z + 1);
      });
    }
    case ActivationOp::Gelu:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        double cdf = 0.5 * (1 + std::erf(v * M_SQRT1_2));
        double pdf = std::exp(-0.5 * v * v) * (M_2_SQRTPI * M_SQRT1_2 * 0.5);
        return g * (cdf + v * pdf);
      });
    case ActivationOp::GeluTanh:
      return backward_map(grad_in, grad_out, in, [](double g, double v) {
        double inner = kGeluTanhBeta * (v + kGeluTanhKappa * v * v * v);
        double t = std::tanh(inner);
        double d_inner = kGeluTanhBeta * (1 + 3 * kGeluTanhKappa * v * v);
        return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * d_inner);
      });
  }
  TWIG_THROW(ValueError, "activation_backward: unknown ActivationOp ", static_cast<int>(op));
}

void CpuBackend::rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                                  Generator& gen) {
  TWIG_CHECK(in.sizes() == out.sizes() && noise.sizes() == out.sizes(), RuntimeError, "rrelu_with_noise: shapes ",
             out.sizes(), ", ", noise.sizes(), " and ", in.sizes(), " must agree");
  check_same_dtype("rrelu_with_noise", out, {&noise, &in});
  TWIG_DISPATCH_FLOATING(out.dtype(), "rrelu_with_noise", [&] {
    using T = scalar_t;
    // Serial, in row-major order: the draws follow the elements <= 0 one by one.
    for_each<2>(
        out.sizes(), {&noise, &in},
        [&](std::array<char*, 2> ptr, std::array<int64_t, 2> st, int64_t n) {
          for (int64_t i = 0; i < n; ++i) {
            const T v = *reinterpret_cast<const T*>(ptr[1] + i * st[1]);
            *reinterpret_cast<T*>(ptr[0] + i * st[0]) =
                v <= 0 ? static_cast<T>(lower + (upper - lower) * gen.uniform()) : T(1);
          }
        },
        /*parallel=*/false);
    map2<T, T>(out, in, noise,
               [](T v, T a) { return static_cast<T>(static_cast<double>(v) * static_cast<double>(a)); });
  });
}

namespace {

// Rows per parallel_for chunk: about 4096 elements of (N, H) each.
int64_t lstm_grain(int64_t hs) { return std::max<int64_t>(1, 4096 / std::max<int64_t>(hs, 1)); }

void check_lstm_out(const char* name, const Tensor& t, int64_t n, int64_t cols, Dtype dtype) {
  TWIG_CHECK(t.dim() == 2 && t.size(0) == n && t.size(1) == cols, RuntimeError, name, ": expected shape (", n, ", ",
             cols, "), got ", t.sizes());
  TWIG_CHECK(t.dtype() == dtype, TypeError, name, ": expected dtype ", dtype_name(dtype), ", got ",
             dtype_name(t.dtype()));
}

void check_lstm_contiguous(const char* name, std::initializer_list<const Tensor*> outs) {
  for (const Tensor* t : outs) {
    TWIG_CHECK(t->is_contiguous(), RuntimeError, name, ": outputs must be contiguous, got strides ", t->strides());
  }
}

}  // namespace

void CpuBackend::lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c,
                           const Tensor& gates, const Tensor& c_prev) {
  TWIG_CHECK(gates.dim() == 2 && gates.size(1) % 4 == 0, RuntimeError, "lstm_cell: gates must be (N, 4H), got ",
             gates.sizes());
  const int64_t n = gates.size(0), h4 = gates.size(1), hs = h4 / 4;
  const Dtype dtype = gates.dtype();
  check_lstm_out("lstm_cell", c_prev, n, hs, dtype);
  check_lstm_out("lstm_cell", act, n, h4, dtype);
  for (const Tensor* t : {&h, &c, &tanh_c}) check_lstm_out("lstm_cell", *t, n, hs, dtype);
  check_lstm_contiguous("lstm_cell", {&h, &c, &act, &tanh_c});
  const Tensor gin = detail::contiguous_raw(gates), cin = detail::contiguous_raw(c_prev);
  TWIG_DISPATCH_FLOATING(dtype, "lstm_cell", [&] {
    using T = scalar_t;
    const T* pg = gin.data_ptr<T>();
    const T* pc = cin.data_ptr<T>();
    T *pa = act.data_ptr<T>(), *pcn = c.data_ptr<T>(), *ptc = tanh_c.data_ptr<T>(), *ph = h.data_ptr<T>();
    parallel_for(0, n, lstm_grain(hs), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* g = pg + b * h4;
        T* a = pa + b * h4;
        for (int64_t j = 0; j < hs; ++j) {
          double i = sigmoid_of(g[j]), f = sigmoid_of(g[hs + j]), gg = std::tanh(static_cast<double>(g[2 * hs + j]));
          double o = sigmoid_of(g[3 * hs + j]);
          double cn = f * static_cast<double>(pc[b * hs + j]) + i * gg;
          double t = std::tanh(cn);
          a[j] = static_cast<T>(i);
          a[hs + j] = static_cast<T>(f);
          a[2 * hs + j] = static_cast<T>(gg);
          a[3 * hs + j] = static_cast<T>(o);
          pcn[b * hs + j] = static_cast<T>(cn);
          ptc[b * hs + j] = static_cast<T>(t);
          ph[b * hs + j] = static_cast<T>(o * t);
        }
      }
    });
  });
}

void CpuBackend::lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h,
                                    const Tensor& grad_c, const Tensor& act, const Tensor& c_prev,
                                    const Tensor& tanh_c) {
  TWIG_CHECK(act.dim() == 2 && act.size(1) % 4 == 0, RuntimeError, "lstm_cell_backward: act must be (N, 4H), got ",
             act.sizes());
  const int64_t n = act.size(0), hs = act.size(1) / 4;
  const Dtype dtype = act.dtype();
  check_lstm_out("lstm_cell_backward", d_gates, n, 4 * hs, dtype);
  for (const Tensor* t : {&d_c_prev, &grad_h, &grad_c, &c_prev, &tanh_c}) {
    check_lstm_out("lstm_cell_backward", *t, n, hs, dtype);
  }
  check_lstm_contiguous("lstm_cell_backward", {&d_gates, &d_c_prev});
  const Tensor a_t = detail::contiguous_raw(act), cp_t = detail::contiguous_raw(c_prev);
  const Tensor tc_t = detail::contiguous_raw(tanh_c), gh = detail::contiguous_raw(grad_h);
  const Tensor gc = detail::contiguous_raw(grad_c);
  TWIG_DISPATCH_FLOATING(dtype, "lstm_cell_backward", [&] {
    using T = scalar_t;
    const T *pa = a_t.data_ptr<T>(), *pcp = cp_t.data_ptr<T>(), *ptc = tc_t.data_ptr<T>();
    const T *pgh = gh.data_ptr<T>(), *pgc = gc.data_ptr<T>();
    T *pdg = d_gates.data_ptr<T>(), *pdc = d_c_prev.data_ptr<T>();
    parallel_for(0, n, lstm_grain(hs), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const T* a = pa + b * 4 * hs;
        T* dg = pdg + b * 4 * hs;
        for (int64_t j = 0; j < hs; ++j) {
          const int64_t k = b * hs + j;
          double i = a[j], f = a[hs + j], g = a[2 * hs + j], o = a[3 * hs + j];
          double t = ptc[k], ghv = pgh[k];
          double dc = pgc[k] + ghv * o * (1 - t * t);
          dg[j] = static_cast<T>(dc * g * i * (1 - i));
          dg[hs + j] = static_cast<T>(dc * static_cast<double>(pcp[k]) * f * (1 - f));
          dg[2 * hs + j] = static_cast<T>(dc * i * (1 - g * g));
          dg[3 * hs + j] = static_cast<T>(ghv * t * o * (1 - o));
          pdc[k] = static_cast<T>(dc * f);
        }
      }
    });
  });
}

}  // namespace twig::cpu
