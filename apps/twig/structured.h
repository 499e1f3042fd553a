// `twig prune --method {saliency,fpgm} --amount A --structured`: torch.ao.pruning's structured
// pruners (SaliencyPruner, FPGMPruner) on every Linear / Conv2d but the last (its rows are the
// classes), then prune() with ao::extended_patterns(), so the saved model is physically smaller:
// the removed rows and the next layers' matching columns are gone, and `twig info` shows the new
// shapes. LeNet-5 and the MLP shrink end to end (conv2 -> relu -> max_pool -> flatten -> fc1 needs the
// extended table).
//
// prune() traces the model with an example input: a batch of one zero image of Fashion-MNIST's
// shape, (1, C, 28, 28) when the first layer is a Conv2d of C input channels, (1, in_features) when
// it is a Linear (the MLP flattens its input itself).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "twig/nn/module.h"

namespace twig::cli {

struct StructuredRequest {
  std::string method = "saliency";  // saliency or fpgm
  double level = 0.5;               // sparsity_level: the fraction of each layer's rows removed
};

// The layers the structured pruners prune, by name: every Linear / Conv2d but the last.
std::vector<std::string> structured_targets(nn::Module& model);

// What can be checked against the model before any work, as a message for a usage error (empty
// when fine): a conv/linear layer other than Linear / Conv2d (Conv3d), a layer that is pruned or
// masked already, fewer than two layers.
std::string check_structured(nn::Module& model);

// The example input prune() traces with (see above).
Shape example_input_shape(nn::Module& model);

struct StructuredResult {
  std::vector<std::string> layers;                                   // the pruned layers
  int64_t params_before = 0, params_after = 0;                       // every parameter's numel
  std::vector<std::pair<std::string, Shape>> shapes_before, shapes;  // each conv/linear weight's shape
};

// Prepares the pruner, steps it once at request.level, prunes with the extended table and leaves
// the model a plain smaller one (no masks, hooks or `_bias` left). On an error the model may be
// partly converted: the caller saves nothing then.
StructuredResult prune_structured(const nn::ModulePtr& model, const StructuredRequest& request);

}  // namespace twig::cli
