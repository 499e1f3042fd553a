// What the tracer's hook points (tensor/trace.h Scopes in the ops, the recorder check in
// Module::call) cost an untraced run, counted in instructions by callgrind (bench/trace_overhead.sh
// builds this at two commits and compares). Only the marked region is counted, after one warm-up
// run of the same work:
//   lenet  3 training steps of LeNet-5, batch 64 (forward, cross_entropy, backward, Adam step)
//   mlp    10 forwards of the MLP 784-300-100-10, batch 64, no grad
//   small  2000 rounds of 6 ops on 4-element tensors (add, mul, relu, view, sum, flatten): the
//          per-op cost where the kernels are nearly free, the worst case for a per-op hook
// Random inputs (no data files), one thread. Usage: trace_overhead {lenet|mlp|small}
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else  // without valgrind's headers it still builds and runs; there is nothing to count then
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(name)
#endif

#include <cstdio>
#include <string>

#include "../examples/fashion_models.h"
#include "twig/core.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"
#include "twig/tensor/parallel.h"

using namespace twig;

namespace {

double sink = 0;  // keeps the results observable

void lenet_steps(nn::UnaryModule& model, optim::Adam& opt, const Tensor& x, const Tensor& y) {
  for (int step = 0; step < 3; ++step) {
    opt.zero_grad();
    Tensor loss = nn::F::cross_entropy(model(x), y);
    loss.backward();
    opt.step();
    sink += loss.item<float>();
  }
}

void mlp_forwards(nn::UnaryModule& model, const Tensor& x) {
  NoGradGuard no_grad;
  for (int i = 0; i < 10; ++i) sink += model(x).sum().item<float>();
}

void small_ops(const Tensor& a, const Tensor& b) {
  for (int i = 0; i < 2000; ++i) {
    Tensor c = (a + b) * b;
    c = c.relu().view({2, 2}).flatten(0);
    sink += c.sum().item<float>();
  }
}

template <typename Fn>
void measure(Fn fn) {
  fn();  // warm-up: first-touch allocations, lazy initialization
  CALLGRIND_ZERO_STATS;
  CALLGRIND_TOGGLE_COLLECT;
  fn();
  CALLGRIND_TOGGLE_COLLECT;
  CALLGRIND_DUMP_STATS_AT("measured");
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  set_num_threads(1);
  manual_seed(0);
  if (what == "lenet") {
    auto model = examples::make_model("lenet");
    optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
    Tensor x = randn({64, 1, 28, 28}), y = randint(0, 10, {64}, kInt64);
    measure([&] { lenet_steps(*model, opt, x, y); });
  } else if (what == "mlp") {
    auto model = examples::make_model("mlp");
    Tensor x = randn({64, 1, 28, 28});
    measure([&] { mlp_forwards(*model, x); });
  } else if (what == "small") {
    Tensor a = randn({4}), b = randn({4});
    measure([&] { small_ops(a, b); });
  } else {
    std::fprintf(stderr, "usage: trace_overhead {lenet|mlp|small}\n");
    return 2;
  }
  std::printf("%s done (%g)\n", what.c_str(), sink);
  return 0;
}
