// One Fashion-MNIST training epoch of the MLP or LeNet-5 with Adam(1e-3) at batch 64, timed the
// same way as bench/peer/train_libtorch.cpp (data loaded before the clock starts; the epoch
// includes shuffling, batching, forward, backward and the optimizer step). Prints seconds.
// Usage: bench_train {mlp|lenet} DATA_DIR THREADS [MAX_BATCHES]  (MAX_BATCHES: a short run, for profiling)
#include <chrono>
#include <cstdio>
#include <string>

#include "../examples/fashion_models.h"
#include "nn/data.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "twig.h"

using namespace twig;

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr, "usage: %s {mlp|lenet} DATA_DIR THREADS [MAX_BATCHES]\n", argv[0]);
    return 2;
  }
  try {
    set_num_threads(std::stoi(argv[3]));
    manual_seed(0);
    data::FashionMNIST train_set(argv[2], true);
    auto model = examples::make_model(argv[1]);
    optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
    data::DataLoader loader(train_set, 64, /*shuffle=*/true, /*drop_last=*/false, 0);
    const long max_batches = argc == 5 ? std::stol(argv[4]) : -1;
    long batches = 0;
    auto start = std::chrono::steady_clock::now();
    for (const data::Batch& b : loader) {
      if (batches++ == max_batches) break;
      opt.zero_grad();
      Tensor loss = nn::F::cross_entropy((*model)(b.input), b.target);
      loss.backward();
      opt.step();
    }
    std::printf("%.3f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
