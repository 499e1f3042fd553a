// What the `twig` commands do to models through prune/ and serialize/: build, save, load, prune,
// remove pruning, and describe a file.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "twig/nn/module.h"

namespace twig::cli {

// "mlp" or "lenet" (ValueError otherwise); the model types are registered for whole-module files.
nn::ModulePtr make_model(const std::string& name);
void register_model_types();

// Whole-module file (.twig: safetensors with the module tree in its metadata), written atomically.
void save_model(const nn::Module& model, const std::string& path);
// A deep copy whose members point at its own children (serialize::copy_module).
nn::ModulePtr copy_model(const nn::Module& model);
nn::ModulePtr load_model(const std::string& path);
// Plain state dict as safetensors (readable by any safetensors reader).
void save_weights(const nn::Module& model, const std::string& path);

struct PruneRequest {
  std::string method;                    // l1_unstructured, random_unstructured, ln_structured, random_structured
  std::variant<int64_t, double> amount;  // a count or a fraction, as in Python
  bool global = false;                   // global_unstructured over every conv/linear weight
  NormP n = NormP(2.0);                  // ln_structured's norm: a real, ±inf or "fro"
  int64_t dim = 0;                       // structured methods' dim
};

// Unstructured methods prune every conv/linear weight (globally with `global`). Structured ones
// prune every conv/linear weight except the last layer's (its rows are the classes).
// ValueError for an unknown method or `global` with a structured one. Returns the names of the
// layers it pruned. Random methods draw from twig's default generator (manual_seed).
std::vector<std::string> apply_pruning(nn::Module& model, const PruneRequest& request);
// The layers apply_pruning prunes for `request`, with the weight each one prunes.
std::vector<std::pair<std::string, Tensor>> pruning_targets(nn::Module& model, const PruneRequest& request);
// prune.remove on every pruned tensor, and squash_mask for every weight_norm mask (FakeSparsity
// parametrization): the masks are made permanent.
void remove_pruning(nn::Module& model);

// Every tensor of a safetensors file (name, dtype, shape, sparsity) and, for a whole-module
// file, the module tree with its pruning hooks. As text, or as JSON with as_json.
std::string describe_file(const std::string& path, bool as_json);

}  // namespace twig::cli
