// Conformance entries for the activation family and the LSTM cell (tensor/backend.h):
// every ActivationOp forward and backward, rrelu's noise (a generator seeded alike on both sides, so
// a backend must draw in the row-major order the contract names), and one LSTM step each way.
#include <string>
#include <utility>
#include <vector>

#include "harness.h"
#include "twig/tensor/random.h"

namespace twig::conformance {

namespace {

struct NamedActivation {
  const char* name;
  ActivationOp op;
  ActivationParams p;
};

const std::vector<NamedActivation>& named_activations() {
  static const std::vector<NamedActivation> all = {
      {"hardtanh", ActivationOp::Hardtanh, {.min_val = -0.5, .max_val = 2.0}},
      {"hardsigmoid", ActivationOp::Hardsigmoid, {}},
      {"silu", ActivationOp::Silu, {}},
      {"mish", ActivationOp::Mish, {}},
      {"hardswish", ActivationOp::Hardswish, {}},
      {"elu", ActivationOp::Elu, {.alpha = 0.7}},
      {"celu", ActivationOp::Celu, {.alpha = 1.5}},
      {"selu", ActivationOp::Selu, {}},
      {"hardshrink", ActivationOp::Hardshrink, {.lambd = 0.3}},
      {"leaky_relu", ActivationOp::LeakyRelu, {.negative_slope = 0.2}},
      {"logsigmoid", ActivationOp::LogSigmoid, {}},
      {"softplus", ActivationOp::Softplus, {.beta = 2.0, .threshold = 3.0}},
      {"gelu", ActivationOp::Gelu, {}},
      {"gelu_tanh", ActivationOp::GeluTanh, {}},
  };
  return all;
}

}  // namespace

void add_activation_cases(Table& t) {
  for (const NamedActivation& a : named_activations()) {
    const ActivationOp op = a.op;
    const ActivationParams p = a.p;
    t.add(BackendOp::Activation, std::string("activation.") + a.name, kFloatingDtypes, [op, p](Case& c) {
      const Shape shape{c.size(1, 5), c.size(1, 9)};
      auto in = c.input(shape, c.dtype(), c.layout(), -6, 6);
      auto out = c.output(shape, c.dtype(), c.dense_layout());
      c.run([=](Backend& b, const Args& x) { b.activation(op, x[out], x[in], p); });
    });
    t.add(BackendOp::ActivationBackward, std::string("activation_backward.") + a.name, kFloatingDtypes,
          [op, p](Case& c) {
            const Shape shape{c.size(1, 5), c.size(1, 9)};
            auto grad_out = c.input(shape, c.dtype(), c.layout());
            auto in = c.input(shape, c.dtype(), c.dense_layout(), -6, 6);
            auto grad_in = c.output(shape, c.dtype(), c.dense_layout());
            c.run([=](Backend& b, const Args& x) { b.activation_backward(op, x[grad_in], x[grad_out], x[in], p); });
          });
  }
  t.add(BackendOp::RreluWithNoise, "rrelu_with_noise", kFloatingDtypes, [](Case& c) {
    const Shape shape{c.size(1, 5), c.size(1, 9)};
    const uint64_t seed = c.rng()();
    auto in = c.input(shape, c.dtype(), c.layout());
    auto out = c.output(shape, c.dtype(), c.dense_layout());
    auto noise = c.output(shape, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& x) {
      Generator gen(seed);
      b.rrelu_with_noise(x[out], x[noise], x[in], 0.125, 1.0 / 3, gen);
    });
  });
  t.add(BackendOp::LstmCell, "lstm_cell", kFloatingDtypes, [](Case& c) {
    const int64_t n = c.size(1, 4), hs = c.size(1, 6);
    auto gates = c.input({n, 4 * hs}, c.dtype(), c.layout());
    auto c_prev = c.input({n, hs}, c.dtype(), c.layout());
    auto h = c.output({n, hs}, c.dtype());
    auto cell = c.output({n, hs}, c.dtype());
    auto act = c.output({n, 4 * hs}, c.dtype());
    auto tanh_c = c.output({n, hs}, c.dtype());
    c.run([=](Backend& b, const Args& x) { b.lstm_cell(x[h], x[cell], x[act], x[tanh_c], x[gates], x[c_prev]); });
  });
  t.add(BackendOp::LstmCellBackward, "lstm_cell_backward", kFloatingDtypes, [](Case& c) {
    const int64_t n = c.size(1, 4), hs = c.size(1, 6);
    auto grad_h = c.input({n, hs}, c.dtype(), c.layout());
    auto grad_c = c.input({n, hs}, c.dtype(), c.layout());
    auto act = c.input({n, 4 * hs}, c.dtype(), c.dense_layout(), 0, 1);  // σ and tanh values
    auto c_prev = c.input({n, hs}, c.dtype(), c.layout());
    auto tanh_c = c.input({n, hs}, c.dtype(), c.dense_layout(), -1, 1);
    auto d_gates = c.output({n, 4 * hs}, c.dtype());
    auto d_c_prev = c.output({n, hs}, c.dtype());
    c.run([=](Backend& b, const Args& x) {
      b.lstm_cell_backward(x[d_gates], x[d_c_prev], x[grad_h], x[grad_c], x[act], x[c_prev], x[tanh_c]);
    });
  });
}

}  // namespace twig::conformance
