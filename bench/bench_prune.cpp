// Pruning benchmark (twig side): l1_unstructured and ln_structured on 1024x1024 and 4096x4096
// weights, global_unstructured over LeNet-5's weights. Each line: "<case> <best seconds>".
// bench/peer/bench_prune_torch.py is the PyTorch 1.13 peer; bench/run_prune.sh runs both.
// Usage: bench_prune [threads] [reps]
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include "bench/bench_timer.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/prune/prune.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"

using namespace twig;

namespace {

class Holder : public nn::Module {
 public:
  explicit Holder(const Tensor& w) : Module("Holder") { register_parameter("weight", w); }
  nn::Value forward_values(const nn::Values& in) override { return in.at(0); }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<Holder>(*this); }
};

// Best time of `run` over reps, each on a fresh module from `make` (built outside the timing).
template <typename Make, typename Run>
double best(int reps, Make make, Run run) {
  double b = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps + 1; ++r) {
    auto m = make();
    double t = bench::time_once([&] { run(m); });
    if (r > 0) b = std::min(b, t);  // the first is a warm-up
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : get_num_threads();
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  set_num_threads(threads);
  Generator gen(0);
  for (int64_t n : {1024, 4096}) {
    Tensor w = randn({n, n}, kFloat32, &gen);
    auto make = [&] { return std::make_shared<Holder>(w.clone()); };
    const std::string sz = std::to_string(n) + "x" + std::to_string(n);
    std::printf("l1_unstructured_%s %.6f\n", sz.c_str(),
                best(reps, make, [](auto& m) { prune::l1_unstructured(*m, "weight", 0.5); }));
    std::printf("ln_structured_dim0_%s %.6f\n", sz.c_str(),
                best(reps, make, [](auto& m) { prune::ln_structured(*m, "weight", 0.5, 2, 0); }));
    std::printf("ln_structured_dim1_%s %.6f\n", sz.c_str(),
                best(reps, make, [](auto& m) { prune::ln_structured(*m, "weight", 0.5, 1, -1); }));
  }
  // LeNet-5: conv 1->6 (5x5), conv 6->16 (5x5), fc 400->120, 120->84, 84->10.
  struct LeNet {
    std::shared_ptr<nn::Conv2d> c1 = std::make_shared<nn::Conv2d>(1, 6, 5), c2 = std::make_shared<nn::Conv2d>(6, 16, 5);
    std::shared_ptr<nn::Linear> f1 = std::make_shared<nn::Linear>(400, 120), f2 = std::make_shared<nn::Linear>(120, 84),
                                f3 = std::make_shared<nn::Linear>(84, 10);
  };
  std::printf("global_unstructured_lenet5 %.6f\n",
              best(
                  reps * 4, [] { return std::make_shared<LeNet>(); },
                  [](auto& m) {
                    prune::global_unstructured(
                        {{m->c1, "weight"}, {m->c2, "weight"}, {m->f1, "weight"}, {m->f2, "weight"}, {m->f3, "weight"}},
                        std::make_shared<prune::L1Unstructured>(0.2));
                  }));
  return 0;
}
