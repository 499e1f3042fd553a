#include "model_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fashion.h"
#include "fashion_models.h"
#include "sparsify.h"
#include "twig/nn/parametrize.h"
#include "twig/prune/prune.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

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
  prune::Amount amount = std::holds_alternative<int64_t>(request.amount)
                             ? prune::Amount(std::get<int64_t>(request.amount))
                             : prune::Amount(std::get<double>(request.amount));
  prune::validate_pruning_amount_init(amount);
  auto all_layers = prunable_layers(model);
  TWIG_CHECK(!all_layers.empty(), ValueError, "the model has no conv or linear layer to prune");
  const std::string& m = request.method;
  TWIG_CHECK(m == "l1_unstructured" || m == "random_unstructured" || is_structured(m), ValueError,
             "unknown pruning method '", m, "'");
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
    if (m == "l1_unstructured")
      prune::global_unstructured<prune::L1Unstructured>(refs, amount);
    else
      prune::global_unstructured<prune::RandomUnstructured>(refs, amount);
    return names;
  }
  for (auto& [name, layer] : layers) {
    if (m == "l1_unstructured")
      prune::l1_unstructured(*layer, "weight", amount);
    else if (m == "random_unstructured")
      prune::random_unstructured(*layer, "weight", amount);
    else if (m == "ln_structured")
      prune::ln_structured(*layer, "weight", amount, request.n, request.dim);
    else
      prune::random_structured(*layer, "weight", amount, request.dim);
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
  squash_fake_sparsity(model);
}

namespace {

// What the module tree of a file says without building it: the bit-packed masks (by the entry
// holding their bits) and the types this program has no codec for.
struct TreeFacts {
  std::map<std::string, nlohmann::json> packed;  // entry -> {"dtype", "shape", ...}
  std::vector<std::string> unknown_modules, unknown_hooks;
};

void add_once(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

TreeFacts tree_facts(const serialize::SafetensorsFile& file) {
  TreeFacts facts;
  auto it = file.metadata.find(serialize::kModuleTreeKey);
  if (it == file.metadata.end()) return facts;
  nlohmann::json tree = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!tree.is_object()) return facts;  // the loader names the problem
  if (tree.contains("packed") && tree["packed"].is_object()) {
    for (const auto& [key, row] : tree["packed"].items()) {
      if (row.is_object() && row.contains("data") && row["data"] == key) facts.packed[key] = row;
    }
  }
  if (!tree.contains("modules") || !tree["modules"].is_array()) return facts;
  for (const auto& m : tree["modules"]) {
    if (!m.is_object()) continue;
    if (m.contains("type") && m["type"].is_string() && !serialize::has_module_type(m["type"].get<std::string>())) {
      add_once(facts.unknown_modules, m["type"].get<std::string>());
    }
    for (const char* kind : {"forward_pre_hooks", "forward_hooks"}) {
      if (!m.contains(kind) || !m[kind].is_array()) continue;
      for (const auto& h : m[kind]) {
        if (!h.is_object() || !h.contains("type") || !h["type"].is_string()) continue;
        const std::string type = h["type"].get<std::string>();
        const bool known = std::string(kind) == "forward_pre_hooks" ? serialize::has_forward_pre_hook_type(type)
                                                                    : serialize::has_forward_hook_type(type);
        if (!known) add_once(facts.unknown_hooks, type);
      }
    }
  }
  return facts;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

// Every tensor the file holds (a bit-packed mask shown as the mask it stands for), then, for a
// whole-module file, the module tree and its pruning hooks; types this program has no codec for
// are named, and the tree is shown as far as it can be built (a module type without a codec
// appears as a holder; a hook type without one stops the tree, not the listing).
std::string describe_file(const std::string& path, bool as_json) {
  serialize::SafetensorsFile file = naming_file(path, [&] { return serialize::load_safetensors(path); });
  const TreeFacts facts = tree_facts(file);
  nlohmann::ordered_json j;
  j["file"] = path;
  j["tensors"] = nlohmann::ordered_json::array();
  std::ostringstream text;
  text << path << ": " << file.tensors.size() << " tensors\n";
  char line[512];
  int name_w = 32;  // wide enough for every name (fc1.parametrizations.weight.original: 36)
  for (const auto& [name, t] : file.tensors) name_w = std::max(name_w, std::min(200, static_cast<int>(name.size())));
  std::snprintf(line, sizeof(line), "  %-*s %-6s %-18s %9s\n", name_w, "name", "dtype", "shape", "sparsity");
  text << line;
  for (const auto& [name, t] : file.tensors) {
    std::string dtype = serialize::safetensors_dtype_name(t.dtype());
    std::vector<int64_t> sizes = t.sizes();
    int64_t numel = t.numel(), zeros = 0;
    auto packed = facts.packed.find(name);
    bool is_packed = packed != facts.packed.end() && t.dtype() == kUInt8 && t.dim() == 1;
    if (is_packed) {
      const nlohmann::json& row = packed->second;
      std::vector<int64_t> shape;
      int64_t n = 1;
      is_packed = row.contains("shape") && row["shape"].is_array() && row.contains("dtype") && row["dtype"].is_string();
      for (const auto& d : is_packed ? row["shape"] : nlohmann::json::array()) {
        if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40)) is_packed = false;
        if (!is_packed) break;
        shape.push_back(d.get<int64_t>());
        if (__builtin_mul_overflow(n, shape.back(), &n) || n > (int64_t{1} << 40)) is_packed = false;
      }
      is_packed = is_packed && (n + 7) / 8 == t.numel();
      if (is_packed) {
        dtype = row["dtype"].get<std::string>();
        sizes = shape;
        numel = n;
      }
    }
    if (is_packed) {
      const Tensor bytes = t.contiguous();
      const uint8_t* bits = bytes.data_ptr<uint8_t>();
      int64_t ones = 0;
      for (int64_t k = 0; k < numel && k / 8 < bytes.numel(); ++k) ones += (bits[k / 8] >> (k % 8)) & 1;
      zeros = numel - ones;
    } else {
      zeros = numel - t.count_nonzero().item<int64_t>();
    }
    double sparsity = numel ? static_cast<double>(zeros) / static_cast<double>(numel) : 0.0;
    std::ostringstream shape;
    shape << '[';
    for (size_t d = 0; d < sizes.size(); ++d) shape << (d ? ", " : "") << sizes[d];
    shape << ']';
    std::snprintf(line, sizeof(line), "  %-*s %-6s %-18s %8.2f%%%s\n", name_w, name.c_str(), dtype.c_str(),
                  shape.str().c_str(), 100 * sparsity, is_packed ? "  (stored bit-packed)" : "");
    text << line;
    nlohmann::ordered_json e = {{"name", name}, {"dtype", dtype}, {"shape", sizes}, {"sparsity", sparsity}};
    if (is_packed) e["stored"] = "bit-packed U8";
    j["tensors"].push_back(e);
  }
  if (file.metadata.contains(serialize::kModuleTreeKey)) {
    std::vector<std::string> unknown = facts.unknown_modules;
    for (const auto& h : facts.unknown_hooks) unknown.push_back(h + " (hook)");
    j["unknown_types"] = unknown;
    if (!unknown.empty()) text << "types this program does not know: " << join_names(unknown) << "\n";
  }
  if (file.metadata.contains(serialize::kModuleTreeKey) && facts.unknown_hooks.empty()) {
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
          for (size_t i = 0; i < container->size(); ++i)
            desc += (i ? ", " : "") + (*container)[static_cast<int64_t>(i)]->type_name();
          desc += ")";
        }
        text << "  " << where << ": " << desc << "\n";
        j["pruning_hooks"].push_back({{"tensor", where}, {"hook", desc}});
      }
    }
    // weight_norm's masks: parametrizations (PyTorch's FakeSparsity), not hooks.
    j["parametrizations"] = nlohmann::ordered_json::array();
    any = false;
    for (auto& [mname, m] : model->named_modules()) {
      if (!nn::is_parametrized(*m)) continue;
      for (const auto& [tname, child] : m->child("parametrizations")->children_dict()) {
        auto list = std::dynamic_pointer_cast<nn::ParametrizationList>(child);
        if (!list) continue;
        std::string desc;
        for (size_t i = 0; i < list->size(); ++i) desc += (i ? ", " : "") + list->at(i)->type_name();
        if (!any) text << "parametrizations (sparsifier masks):\n";
        any = true;
        std::string where = mname.empty() ? tname : mname + "." + tname;
        text << "  " << where << ": " << desc << "\n";
        j["parametrizations"].push_back({{"tensor", where}, {"parametrizations", desc}});
      }
    }
    // ActivationSparsifier's sparsify pre-hooks (twig eval --activation-sparsity --out): input masks.
    j["activation_hooks"] = nlohmann::ordered_json::array();
    any = false;
    for (auto& [mname, m] : model->named_modules()) {
      for (const auto& [id, hook] : m->forward_pre_hooks().items()) {
        (void)id;
        if (hook->type_name() != "ActivationSparsifyHook") continue;
        if (!any) text << "activation sparsify hooks (the layer's input times a mask):\n";
        any = true;
        text << "  " << mname << ": " << hook->type_name() << "\n";
        j["activation_hooks"].push_back({{"layer", mname}, {"hook", hook->type_name()}});
      }
    }
  } else if (file.metadata.contains(serialize::kModuleTreeKey)) {
    text << "module tree: not built (no codec for its hook types: " << join_names(facts.unknown_hooks) << ")\n";
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
