// Activations and the LSTM cell, forward and backward: wall time per call (best of N), to compare
// twig against itself before and after a change. Shapes: activations on a (256, 4096) float32
// tensor; LSTM(64 -> 128) over 32 steps of a batch of 16.
//   bench_activation [THREADS]        timings
//   bench_activation --small          one small pass of each (for valgrind --tool=callgrind)
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_timer.h"
#include "twig/twig.h"

using namespace twig;

namespace {

struct Act {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
};

std::vector<Act> activations() {
  namespace F = nn::F;
  return {
      {"gelu", [](const Tensor& x) { return F::gelu(x, "none"); }},
      {"gelu_tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
      {"silu", [](const Tensor& x) { return F::silu(x); }},
      {"mish", [](const Tensor& x) { return F::mish(x); }},
      {"elu", [](const Tensor& x) { return F::elu(x, 1.0); }},
      {"selu", [](const Tensor& x) { return F::selu(x); }},
      {"leaky_relu", [](const Tensor& x) { return F::leaky_relu(x, 0.01); }},
      {"hardtanh", [](const Tensor& x) { return F::hardtanh(x, -1.0, 1.0); }},
      {"hardswish", [](const Tensor& x) { return F::hardswish(x); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x, 1.0, 20.0); }},
      {"logsigmoid", [](const Tensor& x) { return F::logsigmoid(x); }},
  };
}

// One forward and one backward of each activation on x (requires grad).
double run_activation(const Act& a, const Tensor& x, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    best = std::min(best, bench::time_once([&] {
                      Tensor y = a.fn(x);
                      y.sum().backward();
                      x.grad().zero_();
                    }));
  }
  return best;
}

double run_lstm(nn::LSTM& lstm, const Tensor& x, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    best = std::min(best, bench::time_once([&] {
                      auto [out, h, c] = lstm.forward(x, Tensor(), Tensor());
                      (out.sum() + c.sum()).backward();
                    }));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const bool small = argc > 1 && std::string(argv[1]) == "--small";
  set_num_threads(small ? 1 : (argc > 1 ? std::stoi(argv[1]) : 1));
  const int reps = small ? 1 : 20;
  Generator gen(7);
  Tensor x = randn(small ? Shape{64, 256} : Shape{256, 4096}, kFloat32, &gen).mul(3.0).requires_grad_(true);
  for (const Act& a : activations()) {
    double t = run_activation(a, x, reps);
    if (!small) std::printf("%-12s fwd+bwd %8.3f ms\n", a.name, t * 1e3);
  }
  manual_seed(3);
  nn::LSTM lstm(nn::LSTMOptions(64, 128));
  Tensor seq = randn(small ? Shape{4, 16, 64} : Shape{32, 16, 64}, kFloat32, &gen);
  double t = run_lstm(lstm, seq, reps);
  if (!small) std::printf("%-12s fwd+bwd %8.3f ms\n", "lstm", t * 1e3);
  return 0;
}
