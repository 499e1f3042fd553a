// The main job's work, timed the same way as bench/peer/train_libtorch.cpp does it in libtorch:
//   train  one Fashion-MNIST epoch with Adam(1e-3) at batch 64 (data loaded before the clock starts;
//          the epoch includes shuffling, batching, forward, backward and the optimizer step);
//   infer  the 10000 test images in eval mode without grad, batches of 1000, with the argmax and
//          the count of correct answers (the best of 5 passes: the first also pays for page faults);
//   prune  global L1 unstructured pruning of every conv/linear weight to 90% (masks found over all
//          weights at once, reparametrized as weight_orig * weight_mask), the best of 5 fresh models.
// Prints seconds.
// Usage: bench_train {train|infer|prune} {mlp|lenet} DATA_DIR THREADS [MAX_BATCHES]
//        (MAX_BATCHES: a short training run, for profiling)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "../examples/fashion_models.h"
#include "twig/core.h"
#include "twig/nn/data.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"
#include "twig/prune/prune.h"

using namespace twig;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double train(const std::string& model_name, const std::string& dir, long max_batches) {
  data::FashionMNIST train_set(dir, true);
  auto model = examples::make_model(model_name);
  optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
  data::DataLoader loader(train_set, 64, /*shuffle=*/true, /*drop_last=*/false, 0);
  long batches = 0;
  auto start = std::chrono::steady_clock::now();
  for (const data::Batch& b : loader) {
    if (batches++ == max_batches) break;
    opt.zero_grad();
    Tensor loss = nn::F::cross_entropy((*model)(b.input), b.target);
    loss.backward();
    opt.step();
  }
  return seconds_since(start);
}

double infer(const std::string& model_name, const std::string& dir) {
  data::FashionMNIST test_set(dir, false);
  auto model = examples::make_model(model_name);
  model->eval();
  NoGradGuard no_grad;
  double best = 1e30;
  int64_t correct = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto start = std::chrono::steady_clock::now();
    correct = 0;
    for (const data::Batch& b : data::DataLoader(test_set, 1000)) {
      correct += (*model)(b.input).argmax(1).eq(b.target).count_nonzero().item<int64_t>();
    }
    best = std::min(best, seconds_since(start));
  }
  if (correct < 0) std::fprintf(stderr, "impossible\n");  // keeps the work observable
  return best;
}

double prune_time(const std::string& model_name) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    auto model = examples::make_model(model_name);
    std::vector<prune::TensorRef> refs;
    for (auto& [name, m] : model->named_modules()) {
      if (m->type_name() == "Linear" || m->type_name() == "Conv2d") refs.emplace_back(m, "weight");
    }
    auto start = std::chrono::steady_clock::now();
    prune::global_unstructured(refs, std::make_shared<prune::L1Unstructured>(0.9));
    best = std::min(best, seconds_since(start));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s {train|infer|prune} {mlp|lenet} DATA_DIR THREADS [MAX_BATCHES]\n", argv[0]);
    return 2;
  }
  try {
    const std::string task = argv[1], model = argv[2], dir = argv[3];
    set_num_threads(std::stoi(argv[4]));
    manual_seed(0);
    double s;
    if (task == "train") {
      s = train(model, dir, argc == 6 ? std::stol(argv[5]) : -1);
    } else if (task == "infer") {
      s = infer(model, dir);
    } else if (task == "prune") {
      s = prune_time(model);
    } else {
      std::fprintf(stderr, "unknown task '%s' (expected train, infer or prune)\n", task.c_str());
      return 2;
    }
    std::printf("%.4f\n", s);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
