// The training and evaluation steps the `twig` commands share: Fashion-MNIST, one epoch of
// cross-entropy training, test accuracy with its inference time, and counts of what pruning did.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "twig/nn/data.h"
#include "twig/nn/module.h"
#include "twig/nn/optim.h"

namespace twig::cli {

struct TrainOptions {
  std::string optimizer = "adam";  // "adam" or "sgd"
  double lr = 1e-3;
  double momentum = 0.0;  // sgd only
  int64_t batch_size = 64;
  uint64_t seed = 0;
};

// RuntimeError naming the folder, every missing file (…-ubyte.gz; the uncompressed files work
// too) and the Debian package, unless the test files (and with `with_train` the training files)
// of Fashion-MNIST are in root. Cheap: it only looks, so commands call it before any work.
void check_fashion_files(const std::string& root, bool with_train);

struct FashionData {
  // check_fashion_files, then loads the test set and, with `with_train`, the training set
  // (`eval` needs only the t10k files).
  FashionData(const std::string& root, bool with_train);
  data::FashionMNIST test;
  std::optional<data::FashionMNIST> train;
};

struct EpochResult {
  double loss = 0;     // mean training loss
  double seconds = 0;  // wall time of the epoch
};

struct EvalResult {
  double accuracy = 0;  // in [0, 1]
  double seconds = 0;   // inference over the whole test set (batches of 1000, no grad)
};

// The optimizer of `options` over model's parameters (a pruned weight trains as weight_orig; its
// pruned entries get zero gradients, so the mask stays fixed).
std::unique_ptr<optim::Optimizer> make_optimizer(nn::Module& model, const TrainOptions& options);

// One pass over `loader`; label names the epoch on the progress bar. before_batch (when set) runs
// before each batch's forward (a sparsifier's scheduled step).
EpochResult train_epoch(nn::Module& model, data::DataLoader& loader, optim::Optimizer& opt, const std::string& label,
                        const std::function<void()>& before_batch = {});
EvalResult evaluate(nn::Module& model, const data::Dataset& test);

// What the weights of conv and linear layers look like after pruning: the tensors the forward
// pass uses (`weight`, recomputed as weight_orig * weight_mask on pruned layers).
struct Sparsity {
  int64_t prunable = 0;        // entries of conv/linear weights
  int64_t prunable_zeros = 0;  // of which zero
  int64_t nonzero_params = 0;  // nonzero entries over all effective parameters (biases too)
  double fraction() const {
    return prunable ? static_cast<double>(prunable_zeros) / static_cast<double>(prunable) : 0.0;
  }
};
Sparsity measure_sparsity(nn::Module& model);

// The conv and linear layers in registration order (the prunable ones).
std::vector<std::pair<std::string, nn::ModulePtr>> prunable_layers(nn::Module& model);

}  // namespace twig::cli
