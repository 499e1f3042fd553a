// A 784-300-100-10 ReLU MLP on Fashion-MNIST with Adam(1e-3), batch 64: the nn/ training stack
// end to end (FashionMNIST -> DataLoader -> Linear -> cross_entropy -> backward -> Adam).
//
//   train_mlp_fashion [--epochs N] [--data DIR] [--seed S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "nn/data.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "twig.h"

using namespace twig;

namespace {

class Mlp : public nn::UnaryModule {
 public:
  Mlp() : nn::UnaryModule("Mlp") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 300));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(300, 100));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(100, 10));
  }
  // x (B, 1, 28, 28) -> logits (B, 10)
  Tensor forward(const Tensor& x) override {
    Tensor h = (*fc1)(x.flatten(1)).relu();
    h = (*fc2)(h).relu();
    return (*fc3)(h);
  }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<Mlp>(*this); }
};

double accuracy(nn::Module& model, const data::Dataset& ds) {
  NoGradGuard no_grad;
  model.eval();
  data::DataLoader loader(ds, 1000);
  int64_t correct = 0;
  for (const data::Batch& b : loader) {
    Tensor logits = model(b.input);
    correct += logits.argmax(1).eq(b.target).count_nonzero().item<int64_t>();
  }
  model.train();
  return static_cast<double>(correct) / static_cast<double>(ds.size());
}

}  // namespace

int main(int argc, char** argv) {
  int epochs = 3;
  std::string root = data::FashionMNIST::kDefaultRoot;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) {
      epochs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--data") && i + 1 < argc) {
      root = argv[++i];
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--epochs N] [--data DIR] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  try {
    manual_seed(seed);
    data::FashionMNIST train_set(root, true), test_set(root, false);
    data::DataLoader loader(train_set, 64, /*shuffle=*/true, /*drop_last=*/false, seed);
    auto model = std::make_shared<Mlp>();
    optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
    nn::CrossEntropyLoss criterion;
    std::printf("train %lld, test %lld examples; %lld parameters\n", static_cast<long long>(train_set.size()),
                static_cast<long long>(test_set.size()), static_cast<long long>(model->num_parameters()));
    double acc = 0;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      auto t0 = std::chrono::steady_clock::now();
      double total = 0;
      int64_t batches = 0;
      for (const data::Batch& b : loader) {
        opt.zero_grad();
        Tensor loss = criterion((*model)(b.input), b.target);
        loss.backward();
        opt.step();
        total += loss.item<double>();
        ++batches;
      }
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      acc = accuracy(*model, test_set);
      std::printf("epoch %d  loss %.4f  test accuracy %.2f%%  %.1f s\n", epoch, total / static_cast<double>(batches),
                  100.0 * acc, secs);
      std::fflush(stdout);
    }
    return 0;
  } catch (const twig::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
