#include "apps/twig/structured.h"

#include <memory>
#include <typeindex>

#include "apps/twig/fashion.h"
#include "twig/ao/extended_patterns.h"
#include "twig/ao/pruners.h"
#include "twig/ao/utils.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::cli {

namespace {

bool is_linear_or_conv2d(const nn::Module& m) {
  const std::type_index t = ao::type_before_parametrizations(m);
  return t == typeid(nn::Linear) || t == typeid(nn::Conv2d);
}

std::vector<std::pair<std::string, Shape>> weight_shapes(nn::Module& model) {
  std::vector<std::pair<std::string, Shape>> out;
  for (auto& [name, layer] : prunable_layers(model)) out.emplace_back(name, layer->get("weight").sizes());
  return out;
}

int64_t param_count(const nn::Module& model) {
  int64_t n = 0;
  for (const Tensor& t : model.parameters()) n += t.numel();
  return n;
}

}  // namespace

std::vector<std::string> structured_targets(nn::Module& model) {
  std::vector<std::string> out;
  for (auto& [name, layer] : prunable_layers(model)) out.push_back(name);
  if (!out.empty()) out.pop_back();  // the output layer: its rows are the classes
  return out;
}

std::string check_structured(nn::Module& model) {
  auto layers = prunable_layers(model);
  for (const auto& [name, layer] : layers) {
    if (!is_linear_or_conv2d(*layer))
      return name + " is a " + layer->type_name() +
             ": the structured pruners shrink Linear and Conv2d layers only (PyTorch's supported modules)";
    if (nn::is_parametrized(*layer, "weight"))
      return name +
             ".weight has a weight_norm mask (a parametrization); make it permanent first: twig prune --in MODEL "
             "--out MODEL --remove";
    if (layer->has("weight_orig") || layer->has("weight_mask"))
      return name +
             ".weight is already pruned (weight_orig, weight_mask); make it permanent first: twig prune --in MODEL "
             "--out MODEL --remove";
  }
  if (layers.size() < 2)
    return "structured pruning needs at least two conv/linear layers (the last one, the classes, is kept whole); "
           "the model has " +
           std::to_string(layers.size());
  return "";
}

Shape example_input_shape(nn::Module& model) {
  auto layers = prunable_layers(model);
  TWIG_CHECK(!layers.empty(), ValueError, "the model has no conv or linear layer");
  const nn::Module& first = *layers.front().second;
  if (auto* conv = dynamic_cast<const nn::Conv2d*>(&first)) return {1, conv->options.in_channels_, 28, 28};
  if (auto* linear = dynamic_cast<const nn::Linear*>(&first)) return {1, linear->options.in_features_};
  TWIG_THROW(ValueError, "cannot derive an example input from the first layer ", layers.front().first, " (a ",
             first.type_name(), ")");
}

StructuredResult prune_structured(const nn::ModulePtr& model, const StructuredRequest& request) {
  TWIG_CHECK(request.method == "saliency" || request.method == "fpgm", ValueError,
             "structured pruning method must be saliency or fpgm, got '", request.method, "'");
  StructuredResult r;
  r.layers = structured_targets(*model);
  r.params_before = param_count(*model);
  r.shapes_before = weight_shapes(*model);
  const Shape input = example_input_shape(*model);

  std::vector<ao::Dict> config;
  for (const std::string& name : r.layers) config.push_back(ao::Dict{{"tensor_fqn", name + ".weight"}});
  std::unique_ptr<ao::BaseStructuredSparsifier> pruner;
  if (request.method == "saliency") {
    pruner = std::make_unique<ao::SaliencyPruner>(ao::Dict{{"sparsity_level", request.level}}, ao::extended_patterns());
  } else {
    pruner = std::make_unique<ao::FPGMPruner>(request.level, ao::FPGMDistance(), ao::extended_patterns());
  }
  pruner->prepare(model, config);
  pruner->step();
  pruner->prune(nn::Values{nn::Value(zeros(input))});

  // A plain model again: the sparsifier's input-remembering hook and prune_bias attributes go.
  std::vector<uint64_t> hooks;
  for (const auto& [id, hook] : model->forward_pre_hooks().items())
    if (hook->type_name() == "StructuredPrunerInputs") hooks.push_back(id);
  for (uint64_t id : hooks) model->forward_pre_hooks().erase(id);
  for (const nn::ModulePtr& m : model->modules())
    if (m->has_object("prune_bias")) m->remove_object("prune_bias");

  r.params_after = param_count(*model);
  r.shapes = weight_shapes(*model);
  return r;
}

}  // namespace twig::cli
