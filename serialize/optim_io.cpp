#include "twig/serialize/optim_io.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace twig::serialize {

namespace {

using json = nlohmann::json;

constexpr const char* kMetadataKey = "twig.optimizer";
constexpr int kVersion = 1;
const std::string kStatePrefix = "state.";

// Each optimizer parameter's name, in the optimizer's order (groups, then parameters).
std::vector<std::string> parameter_names(const optim::Optimizer& optimizer, const nn::NamedTensors& named) {
  std::map<const TensorImpl*, std::string> by_impl;
  for (const auto& [name, t] : named) {
    if (t.defined()) by_impl.emplace(t.impl(), name);
  }
  std::vector<std::string> names;
  const auto& groups = optimizer.param_groups();
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    for (size_t i = 0; i < groups[gi].params.size(); ++i) {
      auto it = by_impl.find(groups[gi].params[i].impl());
      TWIG_CHECK(it != by_impl.end(), ValueError, "optimizer parameter ", i, " of group ", gi, " (shape ",
                 groups[gi].params[i].sizes(), ") is not a parameter of the module, so it has no name to save by");
      names.push_back(it->second);
    }
  }
  return names;
}

}  // namespace

std::string optimizer_type_name(const optim::Optimizer& optimizer) {
  if (dynamic_cast<const optim::AdamW*>(&optimizer)) return "AdamW";
  if (dynamic_cast<const optim::Adam*>(&optimizer)) return "Adam";
  if (dynamic_cast<const optim::SGD*>(&optimizer)) return "SGD";
  return "Optimizer";
}

void save_optimizer(const optim::Optimizer& optimizer, const nn::Module& module, const std::string& path,
                    const SaveOptions& options) {
  save_optimizer(optimizer, module.named_parameters(), path, options);
}

void save_optimizer(const optim::Optimizer& optimizer, const nn::NamedTensors& named_parameters,
                    const std::string& path, const SaveOptions& options) {
  const std::vector<std::string> names = parameter_names(optimizer, named_parameters);
  const optim::OptimizerStateDict sd = optimizer.state_dict();
  json meta = {{"format", "twig.optimizer"}, {"version", kVersion}, {"type", optimizer_type_name(optimizer)}};
  json groups = json::array();
  for (const auto& g : sd.param_groups) {
    json params = json::array();
    for (int64_t index : g.params) params.push_back(names[static_cast<size_t>(index)]);
    groups.push_back({{"options", g.options}, {"params", params}});
  }
  meta["param_groups"] = groups;
  nn::StateDict tensors;
  json none_entries = json::object();  // state entries that are None
  for (const auto& [index, state] : sd.state) {
    const std::string& name = names[static_cast<size_t>(index)];
    for (const auto& [key, t] : state) {
      if (t.defined()) {
        tensors.insert(kStatePrefix + name + "." + key, t);
      } else {
        none_entries[name].push_back(key);
      }
    }
  }
  meta["none"] = none_entries;
  save_state_dict(tensors, path, Metadata{{kMetadataKey, meta.dump()}}, options);
}

void load_optimizer(optim::Optimizer& optimizer, const nn::Module& module, const std::string& path) {
  load_optimizer(optimizer, module.named_parameters(), path);
}

void load_optimizer(optim::Optimizer& optimizer, const nn::NamedTensors& named_parameters, const std::string& path) {
  const std::vector<std::string> names = parameter_names(optimizer, named_parameters);
  std::map<std::string, int64_t> index_of;
  for (size_t i = 0; i < names.size(); ++i) index_of.emplace(names[i], static_cast<int64_t>(i));

  SafetensorsFile file = load_safetensors(path);
  auto found = file.metadata.find(kMetadataKey);
  TWIG_CHECK(found != file.metadata.end(), ValueError, path, ": not an optimizer file (no '", kMetadataKey,
             "' in __metadata__)");
  json meta;
  try {
    meta = json::parse(found->second);
  } catch (const json::exception& e) {
    TWIG_THROW(ValueError, path, ": the optimizer metadata is not valid JSON (", e.what(), ")");
  }
  optim::OptimizerStateDict sd;
  try {
    TWIG_CHECK(meta.is_object() && meta.value("format", "") == "twig.optimizer", ValueError, path,
               ": the optimizer metadata has no format \"twig.optimizer\"");
    const int version = meta.at("version").get<int>();
    TWIG_CHECK(version == kVersion, ValueError, path, ": optimizer file version ", version,
               " is not supported (this twig reads version ", kVersion, ")");
    const std::string type = meta.at("type").get<std::string>();
    const std::string mine = optimizer_type_name(optimizer);
    TWIG_CHECK(type == mine, ValueError, path, ": the file holds the state of a ", type, " optimizer, not of a ", mine);
    const json& groups = meta.at("param_groups");
    const auto& own_groups = optimizer.param_groups();
    TWIG_CHECK(groups.is_array() && groups.size() == own_groups.size(), ValueError, path, ": the file has ",
               groups.is_array() ? groups.size() : 0, " parameter groups, the optimizer ", own_groups.size());
    size_t first = 0;  // index of the group's first parameter in the optimizer's numbering
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      const json& g = groups[gi];
      optim::OptimizerStateDict::Group group;
      for (const auto& [key, value] : g.at("options").items()) {
        TWIG_CHECK(value.is_number(), ValueError, path, ": option '", key, "' of group ", gi, " is not a number");
        group.options[key] = value.get<double>();
      }
      for (const auto& [key, value] : own_groups[gi].options) {
        TWIG_CHECK(key == "initial_lr" || group.options.count(key), ValueError, path, ": group ", gi,
                   " in the file has no option '", key, "'");
      }
      const auto saved = g.at("params").get<std::vector<std::string>>();
      const size_t n = own_groups[gi].params.size();
      TWIG_CHECK(saved.size() == n, ValueError, path, ": group ", gi, " has ", saved.size(),
                 " parameters in the file but ", n, " in the optimizer");
      std::set<std::string> own(names.begin() + static_cast<std::ptrdiff_t>(first),
                                names.begin() + static_cast<std::ptrdiff_t>(first + n));
      for (const std::string& name : saved) {
        TWIG_CHECK(own.count(name), ValueError, path, ": parameter '", name, "' of group ", gi,
                   " in the file is not in the optimizer's group ", gi);
      }
      // The state dict's indices are the optimizer's own, in its order.
      for (size_t i = 0; i < n; ++i) group.params.push_back(static_cast<int64_t>(first + i));
      TWIG_CHECK(std::set<std::string>(saved.begin(), saved.end()).size() == n, ValueError, path, ": group ", gi,
                 " names a parameter twice");
      sd.param_groups.push_back(std::move(group));
      first += n;
    }
    if (meta.contains("none")) {
      for (const auto& [name, keys] : meta.at("none").items()) {
        auto it = index_of.find(name);
        TWIG_CHECK(it != index_of.end(), ValueError, path, ": state for unknown parameter '", name, "'");
        for (const auto& key : keys) sd.state[it->second][key.get<std::string>()] = Tensor();
      }
    }
  } catch (const json::exception& e) {
    TWIG_THROW(ValueError, path, ": malformed optimizer metadata (", e.what(), ")");
  }
  for (const auto& [full, t] : file.tensors.items()) {
    TWIG_CHECK(full.rfind(kStatePrefix, 0) == 0, ValueError, path, ": unexpected tensor '", full,
               "' (optimizer state tensors are named state.<parameter>.<key>)");
    const std::string rest = full.substr(kStatePrefix.size());
    const size_t dot = rest.rfind('.');
    TWIG_CHECK(dot != std::string::npos && dot > 0 && dot + 1 < rest.size(), ValueError, path,
               ": malformed state tensor name '", full, "'");
    const std::string name = rest.substr(0, dot), key = rest.substr(dot + 1);
    auto it = index_of.find(name);
    TWIG_CHECK(it != index_of.end(), ValueError, path, ": state for parameter '", name,
               "', which the optimizer does not have");
    sd.state[it->second][key] = t;
  }
  // Validates shapes and keys, then commits (or throws, changing nothing).
  optimizer.load_state_dict(sd);
}

}  // namespace twig::serialize
