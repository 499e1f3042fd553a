// `twig prune --method weight_norm`: torch.ao.pruning's WeightNormSparsifier on a model's Linear
// layers, one-shot or on Zhu & Gupta's cubic schedule (CubicSL, "AGP") during fine-tuning.
//
// Layers: the ones PyTorch's make_config_from_model picks, every nn::Linear. Conv weights are
// left dense: PyTorch 1.13's WeightNormSparsifier fails on a 4-D Conv2d weight (avg_pool2d of a
// 6-D tensor, RuntimeError), so twig does not pretend to a conv behaviour PyTorch does not have.
//
// The schedule of N steps over T fine-tuning batches: sparsifier step k (k = 1..N) runs before
// batch floor((k - 1) * T / N), then the scheduler steps (PyTorch's order); between steps the
// masks stay fixed. CubicSL(init_sl 0, init_t -1, delta_t 1, total_t N) gives step k the level
//   s_k = s_f * (1 - (1 - k / N)^3),
// so the sparsity rises from 0 (at the notional step 0) to the target s_f, reached by step N.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "twig/ao/scheduler.h"
#include "twig/ao/weight_norm_sparsifier.h"
#include "twig/nn/module.h"

namespace twig::cli {

struct WeightNormRequest {
  double level = 0.8;                      // target sparsity_level: the fraction of blocks zeroed
  int64_t block_h = 1, block_w = 4;        // sparse_block_shape
  std::optional<int64_t> zeros_per_block;  // default block_h * block_w (whole blocks)
  int64_t steps = 0;                       // 0: one-shot; N >= 1: the cubic schedule's N steps
};

// The Linear weights weight_norm sparsifies, by name ("fc1", ...), with the weight.
std::vector<std::pair<std::string, Tensor>> weight_norm_targets(nn::Module& model);

// What can be checked against the model before any work, as a message for a usage error (empty
// when fine): a model without Linear layers, a Linear weight that is already pruned or
// parametrized, a block that does not tile a weight (PyTorch 1.13 fails there), a bad
// zeros_per_block.
std::string check_weight_norm(nn::Module& model, const WeightNormRequest& request);

class WeightNormRun {
 public:
  // Prepares the sparsifier on model (every Linear weight gets a FakeSparsity mask of ones) and,
  // with request.steps, the CubicSL schedule over total_batches fine-tuning batches
  // (1 <= steps <= total_batches).
  WeightNormRun(const nn::ModulePtr& model, const WeightNormRequest& request, int64_t total_batches = 0);
  ~WeightNormRun();

  // The modules sparsified (make_config_from_model's order).
  std::vector<std::string> layers() const;
  // One-shot: one sparsifier.step() at the target level.
  void step_once();
  // With a schedule: called before each fine-tuning batch; takes the scheduled steps.
  void before_batch();
  // Bakes the masks into the weights (squash_mask): plain Linear weights again.
  void squash();
  // The levels the sparsifier stepped with so far (one per step).
  const std::vector<double>& levels() const { return levels_; }

 private:
  WeightNormRequest request_;
  int64_t total_batches_ = 0, batch_ = 0, steps_taken_ = 0;
  std::unique_ptr<ao::WeightNormSparsifier> sparsifier_;
  std::unique_ptr<ao::CubicSL> scheduler_;
  std::vector<double> levels_;
};

// Removes every FakeSparsity parametrization of model, leaving the masked values (squash_mask for
// a model loaded from a file, whose sparsifier is gone). Returns how many it removed.
int64_t squash_fake_sparsity(nn::Module& model);

}  // namespace twig::cli
