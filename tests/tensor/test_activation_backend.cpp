// The Backend's activation, rrelu_with_noise and lstm_cell entry points (tensor/cpu/cpu_activation.cpp)
// against reference loops: the formulas nn/ ran on contiguous memory before the kernels moved behind
// the Backend, written out again here element by element. Results must match bit for bit, in
// float32 and float64, on contiguous, transposed, strided and broadcast operands. Then the nn/
// functions on non-contiguous inputs against their contiguous copies.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "testing.h"
#include "twig/nn/nn.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/raw.h"

using namespace twig;

namespace {

double sigmoid_of(double v) { return 1.0 / (1.0 + std::exp(-v)); }

constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

struct ActCase {
  const char* name;
  ActivationOp op;
  ActivationParams p;
  std::function<double(double)> fwd;
  std::function<double(double, double)> bwd;  // (grad, x)
};

std::vector<ActCase> act_cases() {
  const ActivationParams ht{.min_val = -0.5, .max_val = 2.0};
  const ActivationParams el{.alpha = 0.7};
  const ActivationParams ce{.alpha = 1.5};
  const ActivationParams hs{.lambd = 0.3};
  const ActivationParams lr{.negative_slope = 0.2};
  const ActivationParams sp{.beta = 2.0, .threshold = 3.0};
  constexpr double kBeta = M_SQRT2 * M_2_SQRTPI * 0.5;
  constexpr double kKappa = 0.044715;
  return {
      {"hardtanh", ActivationOp::Hardtanh, ht, [](double v) { return v < -0.5  ? -0.5
                                                                     : v > 2.0 ? 2.0
                                                                               : v; },
       [](double g, double v) { return v > -0.5 && v < 2.0 ? g : 0.0; }},
      {"hardsigmoid",
       ActivationOp::Hardsigmoid,
       {},
       [](double v) { return v <= -3  ? 0.0
                             : v >= 3 ? 1.0
                                      : v / 6 + 0.5; },
       [](double g, double v) { return v > -3 && v < 3 ? g / 6 : 0.0; }},
      {"silu",
       ActivationOp::Silu,
       {},
       [](double v) { return v * sigmoid_of(v); },
       [](double g, double v) {
         double s = sigmoid_of(v);
         return g * s * (1 + v * (1 - s));
       }},
      {"mish",
       ActivationOp::Mish,
       {},
       [](double v) { return v * std::tanh(std::log1p(std::exp(v))); },
       [](double g, double v) {
         double t = std::tanh(std::log1p(std::exp(v)));
         return g * (t + v * sigmoid_of(v) * (1 - t * t));
       }},
      {"hardswish",
       ActivationOp::Hardswish,
       {},
       [](double v) { return v <= -3  ? 0.0
                             : v >= 3 ? v
                                      : v * (v + 3) / 6; },
       [](double g, double v) { return v < -3   ? 0.0
                                       : v <= 3 ? g * (v / 3 + 0.5)
                                                : g; }},
      {"elu", ActivationOp::Elu, el, [](double v) { return v > 0 ? v : 0.7 * std::expm1(v); },
       [](double g, double v) { return v > 0 ? g : g * 0.7 * std::exp(v); }},
      {"celu", ActivationOp::Celu, ce, [](double v) { return v > 0 ? v : 1.5 * std::expm1(v / 1.5); },
       [](double g, double v) { return v > 0 ? g : g * std::exp(v / 1.5); }},
      {"selu",
       ActivationOp::Selu,
       {},
       [](double v) { return kSeluScale * (v > 0 ? v : kSeluAlpha * std::expm1(v)); },
       [](double g, double v) { return v > 0 ? g * kSeluScale : g * kSeluScale * kSeluAlpha * std::exp(v); }},
      {"hardshrink", ActivationOp::Hardshrink, hs, [](double v) { return v >= -0.3 && v <= 0.3 ? 0.0 : v; },
       [](double g, double v) { return v >= -0.3 && v <= 0.3 ? 0.0 : g; }},
      {"leaky_relu", ActivationOp::LeakyRelu, lr, [](double v) { return v > 0 ? v : v * 0.2; },
       [](double g, double v) { return v > 0 ? g : g * 0.2; }},
      {"logsigmoid",
       ActivationOp::LogSigmoid,
       {},
       [](double v) { return std::min(v, 0.0) - std::log1p(std::exp(-std::fabs(v))); },
       [](double g, double v) { return g * sigmoid_of(-v); }},
      {"softplus", ActivationOp::Softplus, sp,
       [](double v) { return v * 2.0 > 3.0 ? v : std::log1p(std::exp(v * 2.0)) / 2.0; },
       [](double g, double v) {
         if (v * 2.0 > 3.0) return g;
         double z = std::exp(v * 2.0);
         return g * z / (z + 1);
       }},
      {"gelu",
       ActivationOp::Gelu,
       {},
       [](double v) { return 0.5 * v * (1 + std::erf(v * M_SQRT1_2)); },
       [](double g, double v) {
         double cdf = 0.5 * (1 + std::erf(v * M_SQRT1_2));
         double pdf = std::exp(-0.5 * v * v) * (M_2_SQRTPI * M_SQRT1_2 * 0.5);
         return g * (cdf + v * pdf);
       }},
      {"gelu_tanh",
       ActivationOp::GeluTanh,
       {},
       [=](double v) { return 0.5 * v * (1 + std::tanh(kBeta * (v + kKappa * v * v * v))); },
       [=](double g, double v) {
         double inner = kBeta * (v + kKappa * v * v * v);
         double t = std::tanh(inner);
         double d_inner = kBeta * (1 + 3 * kKappa * v * v);
         return g * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * d_inner);
       }},
  };
}

// Values of t in row-major order, as double (exact for float32).
std::vector<double> values_of(const Tensor& t) { return t.to(kFloat64).contiguous().to_vector<double>(); }

// Rounds a double result to dtype as the kernels store it.
double stored(double v, Dtype dtype) { return dtype == kFloat32 ? static_cast<double>(static_cast<float>(v)) : v; }

// Inputs of one logical shape (6, 40) in several layouts; values spread over [-6, 6] with exact
// zeros and the ops' breakpoints (±3, the hardtanh/hardshrink bounds) mixed in.
std::vector<std::pair<std::string, Tensor>> layouts(Dtype dtype, uint64_t seed) {
  Generator gen(seed);
  Tensor base = (randn({40, 12}, kFloat64, &gen) * 3.0).to(dtype);
  std::vector<double> special = {0.0, -0.0, 3.0, -3.0, 2.0, -0.5, 0.3, -0.3, 1.5, 20.0, -20.0};
  for (size_t i = 0; i < special.size(); ++i) base.view({-1}).select(0, static_cast<int64_t>(i) * 7).fill_(special[i]);
  return {
      {"contiguous", base.view({12, 40})},
      {"transposed", base.t().slice(1, 0, 40, 2)},                    // (12, 20), strides (1, 24)
      {"strided", base.slice(1, 1, 12, 2).t()},                       // (6, 40), strides (2, 12)
      {"broadcast", base.select(1, 0).unsqueeze(0).expand({5, 40})},  // stride 0 rows
  };
}

class ActivationBackendTest : public ::testing::TestWithParam<Dtype> {};

TEST_P(ActivationBackendTest, MatchesReferenceOnEveryLayout) {
  const Dtype dtype = GetParam();
  Backend& be = backend_for(Device::cpu());
  for (const ActCase& c : act_cases()) {
    for (const auto& [layout, x] : layouts(dtype, 11)) {
      SCOPED_TRACE(std::string(c.name) + " " + layout + " " + dtype_name(dtype));
      Tensor y = detail::make_empty(x.sizes(), dtype, x.device());
      be.activation(c.op, y, x, c.p);
      const std::vector<double> xv = values_of(x), yv = values_of(y);
      for (size_t i = 0; i < xv.size(); ++i) {
        ASSERT_EQ(yv[i], stored(c.fwd(xv[i]), dtype)) << "at " << i << " x=" << xv[i];
      }
      // Backward with a grad in another layout (a transposed copy of random values).
      Generator gg(5);
      Tensor g = randn({x.size(1), x.size(0)}, kFloat64, &gg).to(dtype).t();
      Tensor gx = detail::make_empty(x.sizes(), dtype, x.device());
      be.activation_backward(c.op, gx, g, x, c.p);
      const std::vector<double> gv = values_of(g), gxv = values_of(gx);
      for (size_t i = 0; i < xv.size(); ++i) {
        ASSERT_EQ(gxv[i], stored(c.bwd(gv[i], xv[i]), dtype)) << "at " << i << " x=" << xv[i];
      }
    }
  }
}

TEST_P(ActivationBackendTest, WritesIntoStridedOutputs) {
  const Dtype dtype = GetParam();
  Backend& be = backend_for(Device::cpu());
  Tensor x = layouts(dtype, 3)[0].second;                                    // (12, 40)
  Tensor out = detail::make_full({40, 12}, -7.0, dtype, Device::cpu()).t();  // a transposed output
  be.activation(ActivationOp::Silu, out, x, {});
  Tensor ref = detail::make_empty(x.sizes(), dtype, x.device());
  be.activation(ActivationOp::Silu, ref, x, {});
  EXPECT_EQ(values_of(out), values_of(ref));
}

TEST_P(ActivationBackendTest, RreluNoiseDrawsInRowMajorOrder) {
  const Dtype dtype = GetParam();
  Backend& be = backend_for(Device::cpu());
  for (const auto& [layout, x] : layouts(dtype, 21)) {
    SCOPED_TRACE(layout);
    Generator gen(99), ref_gen(99);
    Tensor out = detail::make_empty(x.sizes(), dtype, x.device());
    Tensor noise = detail::make_empty(x.sizes(), dtype, x.device());
    be.rrelu_with_noise(out, noise, x, 0.1, 0.4, gen);
    const std::vector<double> xv = values_of(x), nv = values_of(noise), ov = values_of(out);
    for (size_t i = 0; i < xv.size(); ++i) {
      const double want_noise = xv[i] <= 0 ? stored(0.1 + (0.4 - 0.1) * ref_gen.uniform(), dtype) : 1.0;
      ASSERT_EQ(nv[i], want_noise) << "at " << i;
      ASSERT_EQ(ov[i], stored(xv[i] * want_noise, dtype)) << "at " << i;
    }
  }
}

// One LSTM step, the reference loop in double over row-major values.
struct LstmRef {
  std::vector<double> act, c, tc, h, d_gates, d_c;
};

LstmRef lstm_reference(const Tensor& gates, const Tensor& c_prev, const Tensor& grad_h, const Tensor& grad_c) {
  const Dtype dtype = gates.dtype();
  const int64_t n = gates.size(0), hs = gates.size(1) / 4;
  const std::vector<double> g = values_of(gates), cp = values_of(c_prev), gh = values_of(grad_h),
                            gc = values_of(grad_c);
  LstmRef r;
  r.act.resize(g.size());
  r.d_gates.resize(g.size());
  r.c.resize(cp.size());
  r.tc.resize(cp.size());
  r.h.resize(cp.size());
  r.d_c.resize(cp.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t j = 0; j < hs; ++j) {
      const int64_t row = b * 4 * hs, k = b * hs + j;
      double i = sigmoid_of(g[row + j]), f = sigmoid_of(g[row + hs + j]), gg = std::tanh(g[row + 2 * hs + j]);
      double o = sigmoid_of(g[row + 3 * hs + j]);
      double cn = f * cp[k] + i * gg;
      double t = std::tanh(cn);
      r.act[row + j] = stored(i, dtype);
      r.act[row + hs + j] = stored(f, dtype);
      r.act[row + 2 * hs + j] = stored(gg, dtype);
      r.act[row + 3 * hs + j] = stored(o, dtype);
      r.c[k] = stored(cn, dtype);
      r.tc[k] = stored(t, dtype);
      r.h[k] = stored(o * t, dtype);
      // The backward reads the stored (rounded) activations, as the saved tensors hold them.
      double si = r.act[row + j], sf = r.act[row + hs + j], sg = r.act[row + 2 * hs + j], so = r.act[row + 3 * hs + j];
      double st = r.tc[k];
      double dc = gc[k] + gh[k] * so * (1 - st * st);
      r.d_gates[row + j] = stored(dc * sg * si * (1 - si), dtype);
      r.d_gates[row + hs + j] = stored(dc * cp[k] * sf * (1 - sf), dtype);
      r.d_gates[row + 2 * hs + j] = stored(dc * si * (1 - sg * sg), dtype);
      r.d_gates[row + 3 * hs + j] = stored(gh[k] * st * so * (1 - so), dtype);
      r.d_c[k] = stored(dc * sf, dtype);
    }
  }
  return r;
}

TEST_P(ActivationBackendTest, LstmCellMatchesReference) {
  const Dtype dtype = GetParam();
  Backend& be = backend_for(Device::cpu());
  const int64_t n = 5, hs = 7;
  Generator gen(4);
  // Contiguous operands, then transposed ones with the same values.
  Tensor gates = (randn({n, 4 * hs}, kFloat64, &gen) * 2.0).to(dtype);
  Tensor c_prev = randn({n, hs}, kFloat64, &gen).to(dtype);
  Tensor grad_h = randn({n, hs}, kFloat64, &gen).to(dtype);
  Tensor grad_c = randn({n, hs}, kFloat64, &gen).to(dtype);
  auto transposed = [](const Tensor& t) { return t.t().contiguous().t(); };
  const LstmRef ref = lstm_reference(gates, c_prev, grad_h, grad_c);
  for (bool strided : {false, true}) {
    SCOPED_TRACE(strided ? "transposed operands" : "contiguous operands");
    Tensor g_in = strided ? transposed(gates) : gates, c_in = strided ? transposed(c_prev) : c_prev;
    Tensor gh_in = strided ? transposed(grad_h) : grad_h;
    Tensor gc_in = strided ? grad_c.select(0, 0).unsqueeze(0).expand({n, hs}) : grad_c;  // broadcast rows
    const LstmRef want = strided ? lstm_reference(gates, c_prev, grad_h, gc_in) : ref;
    auto make = [&](int64_t cols) { return detail::make_empty({n, cols}, dtype, Device::cpu()); };
    Tensor h = make(hs), c = make(hs), act = make(4 * hs), tc = make(hs);
    be.lstm_cell(h, c, act, tc, g_in, c_in);
    EXPECT_EQ(values_of(act), want.act);
    EXPECT_EQ(values_of(c), want.c);
    EXPECT_EQ(values_of(tc), want.tc);
    EXPECT_EQ(values_of(h), want.h);
    Tensor d_gates = make(4 * hs), d_c = make(hs);
    be.lstm_cell_backward(d_gates, d_c, gh_in, gc_in, strided ? transposed(act) : act, c_in,
                          strided ? transposed(tc) : tc);
    EXPECT_EQ(values_of(d_gates), want.d_gates);
    EXPECT_EQ(values_of(d_c), want.d_c);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ActivationBackendTest, ::testing::Values(kFloat32, kFloat64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(ActivationBackend, RejectsMismatchedOperands) {
  Backend& be = backend_for(Device::cpu());
  Tensor x = zeros({3, 4});
  EXPECT_ERROR(be.activation(ActivationOp::Silu, zeros({3, 5}), x, {}), RuntimeError, "[3, 5]");
  EXPECT_ERROR(be.activation(ActivationOp::Silu, zeros({3, 4}, kFloat64), x, {}), TypeError, "float32");
  EXPECT_ERROR(be.activation(ActivationOp::Silu, zeros({3, 4}, kInt64), zeros({3, 4}, kInt64), {}), TypeError, "int64");
  EXPECT_ERROR(be.activation_backward(ActivationOp::Elu, zeros({3, 4}), zeros({4, 3}), x, {}), RuntimeError, "[4, 3]");
  EXPECT_ERROR(be.activation(ActivationOp::Celu, zeros({3, 4}), x, {.alpha = 0}), ValueError, "alpha");
  Tensor h = zeros({2, 3}), act = zeros({2, 12});
  EXPECT_ERROR(be.lstm_cell(h, h, act, h, zeros({2, 10}), h), RuntimeError, "[2, 10]");
  EXPECT_ERROR(be.lstm_cell(h, h, act, h, zeros({2, 12}), zeros({2, 4})), RuntimeError, "[2, 4]");
  EXPECT_ERROR(be.lstm_cell(h, h, act, zeros({3, 2}).t(), zeros({2, 12}), h), RuntimeError, "contiguous");
  EXPECT_ERROR(be.lstm_cell(h, h, act, h, zeros({2, 12}, kFloat64), h), TypeError, "float64");
}

// Through nn/: a non-contiguous float64 input gives bit for bit what its contiguous copy gives,
// forward and backward (the Backend reads strides; nn/ no longer copies first).
TEST(ActivationBackend, FunctionalNonContiguousMatchesContiguous) {
  namespace F = nn::F;
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> fns = {
      {"gelu", [](const Tensor& x) { return F::gelu(x, "none"); }},
      {"gelu_tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return F::silu(x); }},
      {"mish", [](const Tensor& x) { return F::mish(x); }},
      {"elu", [](const Tensor& x) { return F::elu(x, 0.5); }},
      {"celu", [](const Tensor& x) { return F::celu(x, 2.0); }},
      {"selu", [](const Tensor& x) { return F::selu(x); }},
      {"relu6", [](const Tensor& x) { return F::relu6(x); }},
      {"hardsigmoid", [](const Tensor& x) { return F::hardsigmoid(x); }},
      {"hardswish", [](const Tensor& x) { return F::hardswish(x); }},
      {"hardshrink", [](const Tensor& x) { return F::hardshrink(x, 0.5); }},
      {"leaky_relu", [](const Tensor& x) { return F::leaky_relu(x, 0.1); }},
      {"logsigmoid", [](const Tensor& x) { return F::logsigmoid(x); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x, 1.0, 20.0); }},
      {"rrelu_eval", [](const Tensor& x) { return F::rrelu(x, 0.1, 0.3, false); }},
  };
  for (const auto& [name, fn] : fns) {
    SCOPED_TRACE(name);
    auto [view, base] = twig::testing::noncontiguous({6, 9}, 3);
    Tensor copy = view.detach().contiguous().requires_grad_();
    Tensor y1 = fn(view), y2 = fn(copy);
    EXPECT_EQ(y1.to_vector<double>(), y2.to_vector<double>());
    Tensor w = twig::testing::leaf({6, 9}, 8).detach();
    (y1 * w).sum().backward();
    (y2 * w).sum().backward();
    EXPECT_EQ(base.grad().t().contiguous().to_vector<double>(), copy.grad().to_vector<double>());
  }
}

TEST(ActivationBackend, RreluTrainingSameDrawsForStridedInput) {
  auto [view, base] = twig::testing::noncontiguous({5, 8}, 4);
  Tensor copy = view.detach().contiguous().requires_grad_();
  manual_seed(17);
  Tensor y1 = nn::F::rrelu(view, 0.1, 0.3, true);
  manual_seed(17);
  Tensor y2 = nn::F::rrelu(copy, 0.1, 0.3, true);
  EXPECT_EQ(y1.to_vector<double>(), y2.to_vector<double>());
  y1.sum().backward();
  y2.sum().backward();
  EXPECT_EQ(base.grad().t().contiguous().to_vector<double>(), copy.grad().to_vector<double>());
}

// An LSTM over a batch-first (so transposed inside) float64 input against the same input made
// contiguous: identical outputs and gradients.
TEST(ActivationBackend, LstmNonContiguousInputMatchesContiguous) {
  manual_seed(5);
  nn::LSTM lstm(nn::LSTMOptions(3, 4).num_layers(2));
  lstm.to(kFloat64);
  auto [view, base] = twig::testing::noncontiguous({2, 6, 3}, 9);  // (L, N, I) with reversed strides
  Tensor copy = view.detach().contiguous().requires_grad_();
  auto [o1, h1, c1] = lstm.forward(view, Tensor(), Tensor());
  (o1.sum() + c1.sum() * 0.5).backward();
  Tensor gw1 = lstm.get("weight_hh_l0").grad().clone();
  lstm.zero_grad();
  auto [o2, h2, c2] = lstm.forward(copy, Tensor(), Tensor());
  (o2.sum() + c2.sum() * 0.5).backward();
  EXPECT_EQ(o1.contiguous().to_vector<double>(), o2.contiguous().to_vector<double>());
  EXPECT_EQ(c1.contiguous().to_vector<double>(), c2.contiguous().to_vector<double>());
  EXPECT_EQ(base.grad().permute({2, 1, 0}).contiguous().to_vector<double>(), copy.grad().to_vector<double>());
  EXPECT_EQ(gw1.to_vector<double>(), lstm.get("weight_hh_l0").grad().to_vector<double>());
}

}  // namespace
