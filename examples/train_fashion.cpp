// Trains the MLP 784-300-100-10 or LeNet-5 on Fashion-MNIST with Adam(1e-3), batch 64: the nn/
// training stack end to end (FashionMNIST -> DataLoader -> layers -> cross_entropy -> backward -> Adam).
//
//   train_fashion [--model mlp|lenet] [--epochs N] [--data DIR] [--seed S]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "fashion_models.h"
#include "twig/core.h"
#include "twig/nn/data.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"

using namespace twig;

namespace {

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
  std::string model_name = "lenet";
  std::string root = data::FashionMNIST::kDefaultRoot;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model") && i + 1 < argc) {
      model_name = argv[++i];
    } else if (!std::strcmp(argv[i], "--epochs") && i + 1 < argc) {
      epochs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--data") && i + 1 < argc) {
      root = argv[++i];
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--model mlp|lenet] [--epochs N] [--data DIR] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  try {
    manual_seed(seed);
    data::FashionMNIST train_set(root, true), test_set(root, false);
    data::DataLoader loader(train_set, 64, /*shuffle=*/true, /*drop_last=*/false, seed);
    auto model = examples::make_model(model_name);
    optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
    nn::CrossEntropyLoss criterion;
    std::printf("%s: train %lld, test %lld examples; %lld parameters\n", model_name.c_str(),
                static_cast<long long>(train_set.size()), static_cast<long long>(test_set.size()),
                static_cast<long long>(model->num_parameters()));
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
