#include "model_ops.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fashion.h"
#include "fashion_models.h"
#include "prune/prune.h"
#include "serialize/module_io.h"
#include "serialize/safetensors.h"

namespace twig::cli {

namespace {

// Errors from reading a file name the file (the serializer names the problem).
template <typename F>
auto naming_file(const std::string& path, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    std::string what = e.what();
    if (what.find(path) != std::string::npos) throw;
    throw RuntimeError(path + ": " + what);
  }
}

}  // namespace

void register_model_types() {
  serialize::register_module_type<examples::Mlp>("Mlp");
  serialize::register_module_type<examples::LeNet5>("LeNet5");
}

nn::ModulePtr make_model(const std::string& name) { return examples::make_model(name); }

void save_model(const nn::Module& model, const std::string& path) { serialize::save_module(model, path); }

nn::ModulePtr copy_model(const nn::Module& model) { return serialize::copy_module(model); }

nn::ModulePtr load_model(const std::string& path) {
  return naming_file(path, [&] { return serialize::load_module(path); });
}

void save_weights(const nn::Module& model, const std::string& path) { serialize::save_state_dict(model, path); }

namespace {
bool is_structured(const std::string& method) { return method == "ln_structured" || method == "random_structured"; }
}  // namespace

std::vector<std::pair<std::string, Tensor>> pruning_targets(nn::Module& model, const PruneRequest& request) {
  auto layers = prunable_layers(model);
  // Structured methods leave the last layer alone: its output rows are the classes.
  if (is_structured(request.method) && !layers.empty()) layers.pop_back();
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, layer] : layers) out.emplace_back(name, layer->get("weight"));
  return out;
}

std::vector<std::string> apply_pruning(nn::Module& model, const PruneRequest& request) {
  prune::Amount amount = std::holds_alternative<int64_t>(request.amount) ? prune::Amount(std::get<int64_t>(request.amount))
                                                                          : prune::Amount(std::get<double>(request.amount));
  prune::validate_pruning_amount_init(amount);
  auto all_layers = prunable_layers(model);
  TWIG_CHECK(!all_layers.empty(), ValueError, "the model has no conv or linear layer to prune");
  const std::string& m = request.method;
  TWIG_CHECK(m == "l1_unstructured" || m == "random_unstructured" || is_structured(m), ValueError, "unknown pruning method '", m, "'");
  TWIG_CHECK(!request.global || !is_structured(m), ValueError, "global pruning needs an unstructured method, not ", m);
  std::vector<std::pair<std::string, nn::ModulePtr>> layers;
  std::vector<std::string> names;
  for (auto& [name, weight] : pruning_targets(model, request)) {
    (void)weight;
    for (auto& [lname, layer] : all_layers)
      if (lname == name) layers.emplace_back(lname, layer);
    names.push_back(name);
  }
  if (request.global) {
    std::vector<prune::TensorRef> refs;
    for (auto& [name, layer] : layers) refs.emplace_back(layer, "weight");
    if (m == "l1_unstructured") prune::global_unstructured<prune::L1Unstructured>(refs, amount);
    else prune::global_unstructured<prune::RandomUnstructured>(refs, amount);
    return names;
  }
  for (auto& [name, layer] : layers) {
    if (m == "l1_unstructured") prune::l1_unstructured(*layer, "weight", amount);
    else if (m == "random_unstructured") prune::random_unstructured(*layer, "weight", amount);
    else if (m == "ln_structured") prune::ln_structured(*layer, "weight", amount, request.n, request.dim);
    else prune::random_structured(*layer, "weight", amount, request.dim);
  }
  return names;
}

void remove_pruning(nn::Module& model) {
  for (auto& [prefix, m] : model.named_modules()) {
    (void)prefix;
    std::vector<std::string> pruned;
    for (const auto& [name, t] : m->parameters_dict()) {
      (void)t;
      if (name.size() > 5 && name.ends_with("_orig")) {
        std::string base = name.substr(0, name.size() - 5);
        if (prune::pruning_hook(*m, base)) pruned.push_back(base);
      }
    }
    for (const std::string& base : pruned) prune::remove(*m, base);
  }
}

std::string describe_file(const std::string& path, bool as_json) {
  serialize::SafetensorsFile file = naming_file(path, [&] { return serialize::load_safetensors(path); });
  nlohmann::ordered_json j;
  j["file"] = path;
  j["tensors"] = nlohmann::ordered_json::array();
  std::ostringstream text;
  text << path << ": " << file.tensors.size() << " tensors\n";
  char line[512];
  std::snprintf(line, sizeof(line), "  %-32s %-6s %-18s %9s\n", "name", "dtype", "shape", "sparsity");
  text << line;
  for (const auto& [name, t] : file.tensors) {
    int64_t zeros = t.numel() - t.count_nonzero().item<int64_t>();
    double sparsity = t.numel() ? static_cast<double>(zeros) / static_cast<double>(t.numel()) : 0.0;
    std::ostringstream shape;
    shape << '[';
    for (size_t d = 0; d < t.sizes().size(); ++d) shape << (d ? ", " : "") << t.sizes()[d];
    shape << ']';
    std::snprintf(line, sizeof(line), "  %-32s %-6s %-18s %8.2f%%\n", name.c_str(), serialize::safetensors_dtype_name(t.dtype()),
                  shape.str().c_str(), 100 * sparsity);
    text << line;
    j["tensors"].push_back({{"name", name}, {"dtype", serialize::safetensors_dtype_name(t.dtype())}, {"shape", t.sizes()},
                            {"sparsity", sparsity}});
  }
  if (file.metadata.contains(serialize::kModuleTreeKey)) {
    nn::ModulePtr model = naming_file(path, [&] { return serialize::module_from_file_contents(file); });
    text << "module tree:\n" << model->repr() << "\n";
    j["module"] = model->repr();
    j["pruning_hooks"] = nlohmann::ordered_json::array();
    bool any = false;
    for (auto& [mname, m] : model->named_modules()) {
      for (const auto& [id, hook] : m->forward_pre_hooks().items()) {
        (void)id;
        auto method = std::dynamic_pointer_cast<prune::BasePruningMethod>(hook);
        if (!method) continue;
        if (!any) text << "pruning hooks:\n";
        any = true;
        std::string where = mname.empty() ? method->tensor_name : mname + "." + method->tensor_name;
        std::string desc = method->type_name();
        if (auto container = std::dynamic_pointer_cast<prune::PruningContainer>(method)) {
          desc += "(";
          for (size_t i = 0; i < container->size(); ++i) desc += (i ? ", " : "") + (*container)[static_cast<int64_t>(i)]->type_name();
          desc += ")";
        }
        text << "  " << where << ": " << desc << "\n";
        j["pruning_hooks"].push_back({{"tensor", where}, {"hook", desc}});
      }
    }
  }
  if (file.metadata.size() > (file.metadata.contains(serialize::kModuleTreeKey) ? 1u : 0u)) {
    text << "metadata:\n";
    for (const auto& [k, v] : file.metadata)
      if (k != serialize::kModuleTreeKey) text << "  " << k << ": " << v << "\n";
  }
  for (const auto& [k, v] : file.metadata)
    if (k != serialize::kModuleTreeKey) j["metadata"][k] = v;
  return as_json ? j.dump() + "\n" : text.str();
}

}  // namespace twig::cli
