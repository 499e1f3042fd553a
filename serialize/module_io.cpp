#include "serialize/module_io.h"

#include <cxxabi.h>

#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "serialize/detail.h"

namespace twig::serialize {

using ordered_json = nlohmann::ordered_json;

namespace detail {

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : name;
  std::free(d);
  return out;
}

namespace {
thread_local int64_t t_budget = -1;
}
int64_t fresh_element_budget() { return t_budget; }

}  // namespace detail

namespace {

constexpr int kVersion = 1;

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
std::string where(const std::string& path, const std::string& type) {
  return "module '" + path + "' (" + type + "): ";
}

// ---- saving ---------------------------------------------------------------------------------------

// The tensors of the file: one entry per tensor object, named after the first place it was met.
class Writer : public TensorWriter {
 public:
  Writer(nn::StateDict& tensors, std::unordered_map<const TensorImpl*, std::string>& keys, std::string prefix)
      : tensors_(tensors), keys_(keys), prefix_(std::move(prefix)) {}
  std::string put(const std::string& suggested_name, const Tensor& t) override {
    TWIG_CHECK(t.defined(), ValueError, "cannot store an undefined tensor as '", join(prefix_, suggested_name), "'");
    auto it = keys_.find(t.impl());
    if (it != keys_.end()) return it->second;
    const std::string base = join(prefix_, suggested_name);
    std::string key = base;
    for (int i = 1; tensors_.contains(key) || key == "__metadata__"; ++i) key = base + "#" + std::to_string(i);
    tensors_.insert(key, t.detach());
    keys_[t.impl()] = key;
    return key;
  }

 private:
  nn::StateDict& tensors_;
  std::unordered_map<const TensorImpl*, std::string>& keys_;
  std::string prefix_;
};

struct Tree {
  std::vector<const nn::Module*> order;  // pre-order, each module once
  std::vector<std::string> paths;        // where each was first met
  std::unordered_map<const nn::Module*, int64_t> index;
};

// Pre-order walk with an explicit stack; a module met again is shared (stored once), a module met
// inside its own subtree is a cycle.
Tree walk_tree(const nn::Module& root) {
  Tree tree;
  enum State { kOpen, kDone };
  std::unordered_map<const nn::Module*, State> state;
  struct Item {
    const nn::Module* m;
    std::string path;
    bool exit;
  };
  std::vector<Item> stack{{&root, "", false}};
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    if (item.exit) {
      state[item.m] = kDone;
      continue;
    }
    auto it = state.find(item.m);
    if (it != state.end()) {
      TWIG_CHECK(it->second == kDone, ValueError, "cannot save: the module tree has a cycle (module '", item.path,
                 "' (", item.m->type_name(), ") contains itself)");
      continue;
    }
    state[item.m] = kOpen;
    tree.index[item.m] = static_cast<int64_t>(tree.order.size());
    tree.order.push_back(item.m);
    tree.paths.push_back(item.path);
    stack.push_back({item.m, item.path, true});
    const auto& kids = item.m->children_dict().items();
    for (auto k = kids.rbegin(); k != kids.rend(); ++k) {
      TWIG_CHECK(k->second != nullptr, ValueError, "cannot save: child '", join(item.path, k->first), "' is null");
      stack.push_back({k->second.get(), join(item.path, k->first), false});
    }
  }
  return tree;
}

// The two kinds of forward hook, for the save and load code they share.
struct PreHooks {
  using Hook = nn::ForwardPreHook;
  static constexpr const char* kLabel = "forward pre-hook";
  static constexpr const char* kFunctionType = "ForwardPreHook";  // type_name() of a plain-function hook
  static constexpr const char* kRegister = "twig::serialize::register_forward_pre_hook_type";
  static auto find(const std::string& type) { return detail::find_forward_pre_hook_codec(type); }
  static const auto& of(const nn::Module& m) { return m.forward_pre_hooks(); }
  static void attach(nn::Module& m, std::shared_ptr<Hook> h) { m.register_forward_pre_hook(std::move(h)); }
};
struct PostHooks {
  using Hook = nn::ForwardHook;
  static constexpr const char* kLabel = "forward hook";
  static constexpr const char* kFunctionType = "ForwardHook";
  static constexpr const char* kRegister = "twig::serialize::register_forward_hook_type";
  static auto find(const std::string& type) { return detail::find_forward_hook_codec(type); }
  static const auto& of(const nn::Module& m) { return m.forward_hooks(); }
  static void attach(nn::Module& m, std::shared_ptr<Hook> h) { m.register_forward_hook(std::move(h)); }
};

// m's hooks of one kind as [{"type", "state"}], in registration order.
template <typename Kind>
ordered_json save_hooks(const nn::Module& m, const ModuleSaveOptions& options, const std::string& ctx,
                        TensorWriter& writer) {
  ordered_json out = ordered_json::array();
  for (const auto& item : Kind::of(m).items()) {
    const auto& h = item.second;  // (not a structured binding: the lambda below captures it)
    const bool function_hook = h->type_name() == Kind::kFunctionType;
    if (options.skip_function_hooks && function_hook) continue;
    auto hc = Kind::find(h->type_name());
    TWIG_CHECK(hc.has_value(), TypeError, "cannot save ", ctx, "its ", Kind::kLabel, " of type '", h->type_name(),
               "' has no codec (", Kind::kRegister,
               function_hook ? "; a plain-function hook is code and cannot be stored: "
                               "remove it or set ModuleSaveOptions::skip_function_hooks"
                             : "",
               ")");
    json state = detail::with_context(ctx + Kind::kLabel + " '" + h->type_name() + "': ",
                                      [&] { return hc->save(*h, writer); });
    out.push_back({{"type", h->type_name()}, {"state", ordered_json(state)}});
  }
  return out;
}

// Rebuilds the hooks save_hooks wrote and registers them on m, in order.
template <typename Kind>
void load_hooks(nn::Module& m, const ordered_json& saved, TensorReader& reader) {
  for (const auto& h : saved) {
    const std::string type = h["type"].get<std::string>();
    auto hc = Kind::find(type);
    TWIG_CHECK(hc.has_value(), KeyError, "unknown ", Kind::kLabel, " type '", type, "': register it with ",
               Kind::kRegister, " before loading");
    auto hook = detail::with_context(std::string(Kind::kLabel) + " '" + type + "': ",
                                     [&] { return hc->load(json(h["state"]), reader); });
    TWIG_CHECK(hook != nullptr, ValueError, "the codec for ", Kind::kLabel, " '", type, "' made no hook");
    Kind::attach(m, std::move(hook));
  }
}

SafetensorsFile encode(const nn::Module& root, const ModuleSaveOptions& options) {
  TWIG_CHECK(!options.metadata.count(kModuleTreeKey), ValueError, "metadata key '", kModuleTreeKey,
             "' is reserved for the module tree");
  Tree tree = walk_tree(root);
  SafetensorsFile file;
  std::unordered_map<const TensorImpl*, std::string> keys;
  ordered_json modules = ordered_json::array();
  for (size_t i = 0; i < tree.order.size(); ++i) {
    const nn::Module& m = *tree.order[i];
    const std::string& path = tree.paths[i];
    const std::string ctx = where(path, m.type_name());
    auto codec = detail::find_module_codec(m.type_name());
    TWIG_CHECK(codec.has_value(), TypeError, "cannot save ", ctx, "the type '", m.type_name(),
               "' is not registered (twig::serialize::register_module_type)");
    Writer writer(file.tensors, keys, path);
    auto ref = [&](const std::string& name, const Tensor& t) -> ordered_json {
      return t.defined() ? ordered_json(writer.put(name, t)) : ordered_json();
    };
    ordered_json e = ordered_json::object();
    e["type"] = m.type_name();
    e["options"] = detail::with_context(ctx, [&] { return codec->save_options(m); });
    e["training"] = m.is_training();
    ordered_json params = ordered_json::array();
    for (const auto& [name, t] : m.parameters_dict()) {
      params.push_back({{"name", name}, {"tensor", ref(name, t)}, {"requires_grad", t.defined() && t.requires_grad()}});
    }
    ordered_json buffers = ordered_json::array();
    for (const auto& [name, t] : m.buffers_dict()) {
      buffers.push_back({{"name", name}, {"tensor", ref(name, t)}, {"persistent", m.buffer_is_persistent(name)}});
    }
    ordered_json attrs = ordered_json::array();
    for (const auto& [name, t] : m.attributes_dict()) {
      attrs.push_back({{"name", name}, {"tensor", ref(name, t)}, {"requires_grad", t.defined() && t.requires_grad()}});
    }
    ordered_json children = ordered_json::array();
    for (const auto& [name, c] : m.children_dict()) {
      children.push_back({{"name", name}, {"module", tree.index.at(c.get())}});
    }
    ordered_json pre_hooks = save_hooks<PreHooks>(m, options, ctx, writer);
    ordered_json hooks = save_hooks<PostHooks>(m, options, ctx, writer);
    e["parameters"] = std::move(params);
    e["buffers"] = std::move(buffers);
    e["attributes"] = std::move(attrs);
    e["children"] = std::move(children);
    e["forward_pre_hooks"] = std::move(pre_hooks);
    e["forward_hooks"] = std::move(hooks);
    modules.push_back(std::move(e));
  }
  ordered_json doc = {{"version", kVersion}, {"root", 0}, {"modules", std::move(modules)}};
  file.metadata = options.metadata;
  file.metadata[kModuleTreeKey] = doc.dump();
  return file;
}

// ---- loading: validation ------------------------------------------------------------------------------

void exact_keys(const ordered_json& j, std::initializer_list<const char*> keys, const std::string& what) {
  TWIG_CHECK(j.is_object(), ValueError, what, " must be an object, got ", j.type_name());
  std::set<std::string> allowed(keys.begin(), keys.end());
  for (const auto& [k, v] : j.items()) TWIG_CHECK(allowed.count(k), ValueError, what, " has an unexpected field '", k, "'");
  for (const char* k : keys) TWIG_CHECK(j.contains(k), ValueError, what, " has no '", k, "'");
}

const std::string& str_field(const ordered_json& j, const char* key, const std::string& what) {
  TWIG_CHECK(j.at(key).is_string(), ValueError, what, ": '", key, "' must be a string, got ", j.at(key).type_name());
  return j.at(key).get_ref<const std::string&>();
}

bool bool_field(const ordered_json& j, const char* key, const std::string& what) {
  TWIG_CHECK(j.at(key).is_boolean(), ValueError, what, ": '", key, "' must be true or false, got ",
             j.at(key).type_name());
  return j.at(key).get<bool>();
}

int64_t index_field(const ordered_json& j, const char* key, size_t n, const std::string& what) {
  const ordered_json& v = j.at(key);
  TWIG_CHECK(v.is_number_unsigned() && v.get<uint64_t>() < n, ValueError, what, ": '", key,
             "' must be a module index in [0, ", n, "), got ", v.dump());
  return v.get<int64_t>();
}

// A tensor reference: a key string or null (a parameter registered as None).
void check_tensor_ref(const ordered_json& j, const std::string& what) {
  TWIG_CHECK(j.at("tensor").is_string() || j.at("tensor").is_null(), ValueError, what,
             ": 'tensor' must be a tensor name or null, got ", j.at("tensor").type_name());
}

void validate_entry(const ordered_json& e, size_t i, size_t n) {
  const std::string what = "module entry " + std::to_string(i);
  exact_keys(e,
             {"type", "options", "training", "parameters", "buffers", "attributes", "children", "forward_pre_hooks",
              "forward_hooks"},
             what);
  str_field(e, "type", what);
  bool_field(e, "training", what);
  auto list = [&](const char* key) -> const ordered_json& {
    TWIG_CHECK(e.at(key).is_array(), ValueError, what, ": '", key, "' must be a list, got ", e.at(key).type_name());
    return e.at(key);
  };
  for (const auto& p : list("parameters")) {
    exact_keys(p, {"name", "tensor", "requires_grad"}, what + " parameter");
    str_field(p, "name", what);
    check_tensor_ref(p, what);
    bool_field(p, "requires_grad", what);
  }
  for (const auto& b : list("buffers")) {
    exact_keys(b, {"name", "tensor", "persistent"}, what + " buffer");
    str_field(b, "name", what);
    check_tensor_ref(b, what);
    bool_field(b, "persistent", what);
  }
  for (const auto& a : list("attributes")) {
    exact_keys(a, {"name", "tensor", "requires_grad"}, what + " attribute");
    str_field(a, "name", what);
    check_tensor_ref(a, what);
    bool_field(a, "requires_grad", what);
  }
  for (const auto& c : list("children")) {
    exact_keys(c, {"name", "module"}, what + " child");
    str_field(c, "name", what);
    index_field(c, "module", n, what + " child");
  }
  for (const char* key : {"forward_pre_hooks", "forward_hooks"}) {
    for (const auto& h : list(key)) {
      exact_keys(h, {"type", "state"}, what + " hook");
      str_field(h, "type", what);
    }
  }
}

struct Plan {
  std::vector<int64_t> build_order;  // children before parents
  std::vector<std::string> paths;
};

// Every entry reachable from the root, no cycles; the post-order to build in.
Plan plan(const ordered_json& modules, int64_t root) {
  const size_t n = modules.size();
  Plan p;
  p.paths.assign(n, "");
  enum Color { kWhite, kGrey, kBlack };
  std::vector<Color> color(n, kWhite);
  struct Item {
    int64_t idx;
    std::string path;
    bool exit;
  };
  std::vector<Item> stack{{root, "", false}};
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    if (item.exit) {
      color[item.idx] = kBlack;
      p.build_order.push_back(item.idx);
      continue;
    }
    TWIG_CHECK(color[item.idx] != kGrey, ValueError, "the module tree has a cycle: entry ", item.idx, " (at '",
               item.path, "') contains itself");
    if (color[item.idx] == kBlack) continue;  // shared, built already
    color[item.idx] = kGrey;
    p.paths[item.idx] = item.path;
    stack.push_back({item.idx, item.path, true});
    const auto& kids = modules[item.idx]["children"];
    for (auto k = kids.rbegin(); k != kids.rend(); ++k) {
      stack.push_back({(*k)["module"].get<int64_t>(), join(item.path, (*k)["name"].get<std::string>()), false});
    }
  }
  for (size_t i = 0; i < n; ++i) {
    TWIG_CHECK(color[i] == kBlack, ValueError, "module entry ", i, " is not reachable from the root");
  }
  return p;
}

// ---- loading: building ------------------------------------------------------------------------------

class Reader : public TensorReader {
 public:
  explicit Reader(const nn::StateDict& tensors) : tensors_(tensors) {}
  Tensor get(const std::string& key) override {
    const Tensor* t = tensors_.find(key);
    TWIG_CHECK(t != nullptr, KeyError, "the module tree references tensor '", key, "', which the file does not hold");
    return *t;
  }

 private:
  const nn::StateDict& tensors_;
};

struct BudgetGuard {
  int64_t saved;
  explicit BudgetGuard(int64_t budget) : saved(detail::t_budget) { detail::t_budget = budget; }
  ~BudgetGuard() { detail::t_budget = saved; }
};

std::optional<ModuleCodec> codec_for(const std::string& type, const std::string& ctx) {
  auto codec = detail::find_module_codec(type);
  TWIG_CHECK(codec.has_value(), KeyError, ctx, "unknown module type '", type,
             "': register it with twig::serialize::register_module_type before loading");
  return codec;
}

// A fresh instance of the entry's type, built from its saved options.
nn::ModulePtr make_one(const ordered_json& e, const std::string& path) {
  const std::string type = e["type"].get<std::string>();
  const std::string ctx = where(path, type);
  auto codec = codec_for(type, ctx);
  return detail::with_context(ctx, [&]() -> nn::ModulePtr {
    nn::ModulePtr m = codec->make(json::parse(e["options"].dump()));
    TWIG_CHECK(m != nullptr, ValueError, "the codec made no module");
    TWIG_CHECK(m->type_name() == type, TypeError, "the codec for '", type, "' made a '", m->type_name(), "'");
    return m;
  });
}

// Whether `fresh` (a child a parent's constructor made) can stand for the saved entry: same type
// and same options. Reusing it keeps C++ members that point at it (a model's `fc1`) valid.
bool can_reuse(const nn::Module& fresh, const ordered_json& e) {
  const std::string type = e["type"].get<std::string>();
  if (fresh.type_name() != type) return false;
  auto codec = detail::find_module_codec(type);
  if (!codec) return false;
  return json::parse(codec->save_options(fresh).dump()) == json::parse(e["options"].dump());
}

// Gives m (made by make_one or reused) exactly the saved registries: parameters, buffers,
// attributes, children (already restored), hooks and training flag.
void restore_one(const nn::ModulePtr& m, const ordered_json& e, const std::string& path, Reader& reader,
                 const std::vector<nn::ModulePtr>& built) {
  const std::string type = e["type"].get<std::string>();
  const std::string ctx = where(path, type);
  detail::with_context(ctx, [&] {
    // What the fresh instance holds, to check the file's tensors against the options.
    // (For nn's layers only: a user type may well rebuild its tensors' shapes from the file alone.)
    std::map<std::string, Shape> fresh;
    const bool check_shapes = detail::is_builtin_module_type(type);
    for (const auto* dict : {&m->parameters_dict(), &m->buffers_dict(), &m->attributes_dict()}) {
      for (const auto& [name, t] : *dict) {
        if (t.defined() && check_shapes) fresh[name] = t.sizes();
      }
    }
    for (const auto& name : m->parameters_dict().keys()) m->remove_parameter(name);
    for (const auto& name : m->buffers_dict().keys()) m->remove_buffer(name);
    for (const auto& name : m->attributes_dict().keys()) m->remove_attribute(name);
    for (const auto& name : m->children_dict().keys()) m->remove_child(name);
    m->forward_pre_hooks().clear();
    m->forward_hooks().clear();
    m->train(e["training"].get<bool>());  // before the children come, which carry their own flags

    auto tensor_of = [&](const ordered_json& ref, const std::string& name) -> Tensor {
      if (ref["tensor"].is_null()) return Tensor();
      Tensor t = reader.get(ref["tensor"].get<std::string>());
      auto it = fresh.find(name);
      TWIG_CHECK(it == fresh.end() || it->second == t.sizes(), ValueError, "'", name, "' has shape ", t.sizes(),
                 " in the file but a ", type, " built from the saved options has ", it->second);
      return t;
    };
    for (const auto& p : e["parameters"]) {
      const std::string name = p["name"].get<std::string>();
      Tensor t = tensor_of(p, name);
      const bool rg = p["requires_grad"].get<bool>();
      TWIG_CHECK(!rg || !t.defined() || t.is_floating_point(), ValueError, "parameter '", name, "' of dtype ",
                 t.defined() ? dtype_name(t.dtype()) : "", " cannot require grad");
      m->register_parameter(name, t, rg);
    }
    for (const auto& b : e["buffers"]) {
      const std::string name = b["name"].get<std::string>();
      m->register_buffer(name, tensor_of(b, name), b["persistent"].get<bool>());
    }
    for (const auto& a : e["attributes"]) {
      const std::string name = a["name"].get<std::string>();
      TWIG_CHECK(!a["tensor"].is_null(), ValueError, "attribute '", name, "' has no tensor");
      Tensor t = tensor_of(a, name);
      if (a["requires_grad"].get<bool>()) {
        TWIG_CHECK(t.is_floating_point(), ValueError, "attribute '", name, "' of dtype ", dtype_name(t.dtype()),
                   " cannot require grad");
        t.requires_grad_(true);
      }
      TWIG_CHECK(!m->has(name), KeyError, "attribute '", name, "' already exists");
      m->set_attribute(name, t);
    }
    for (const auto& c : e["children"]) {
      const nn::ModulePtr& child = built[c["module"].get<size_t>()];
      TWIG_INTERNAL_ASSERT(child != nullptr, "child built before its parent");
      m->register_child(c["name"].get<std::string>(), child);
    }
    load_hooks<PreHooks>(*m, e["forward_pre_hooks"], reader);
    load_hooks<PostHooks>(*m, e["forward_hooks"], reader);
  });
}

}  // namespace

nn::ModulePtr module_from_file_contents(const SafetensorsFile& file) {
  auto it = file.metadata.find(kModuleTreeKey);
  TWIG_CHECK(it != file.metadata.end(), ValueError, "no '", kModuleTreeKey,
             "' in __metadata__: this is a state dict, not a whole-module file (read it with load_state_dict_file)");
  const std::string& text = it->second;
  ordered_json doc = detail::parse_json_strict(text.data(), text.data() + text.size(), "module tree");
  exact_keys(doc, {"version", "root", "modules"}, "module tree");
  TWIG_CHECK(doc["version"] == kVersion, ValueError, "module tree version ", doc["version"].dump(),
             " is not supported (this twig reads version ", kVersion, ")");
  const ordered_json& modules = doc["modules"];
  TWIG_CHECK(modules.is_array() && !modules.empty(), ValueError, "module tree: 'modules' must be a non-empty list");
  const int64_t root = index_field(doc, "root", modules.size(), "module tree");
  for (size_t i = 0; i < modules.size(); ++i) validate_entry(modules[i], i, modules.size());
  Plan p = plan(modules, root);

  int64_t bytes = 0;
  for (const auto& [name, t] : file.tensors) bytes += static_cast<int64_t>(t.nbytes());
  BudgetGuard budget(bytes + 4096);
  Reader reader(file.tensors);
  std::vector<nn::ModulePtr> built(modules.size());
  // Parents first: make each module, and let a child its parent's constructor already made stand
  // for the saved child when type and options agree (a model's members keep pointing at the
  // modules its forward uses). Then children first: restore every registry in place.
  for (auto it = p.build_order.rbegin(); it != p.build_order.rend(); ++it) {
    const int64_t idx = *it;
    if (!built[idx]) built[idx] = make_one(modules[idx], p.paths[idx]);
    const nn::ModulePtr& m = built[idx];
    for (const auto& c : modules[idx]["children"]) {
      const int64_t cidx = c["module"].get<int64_t>();
      if (built[cidx]) continue;  // shared with an earlier parent
      nn::ModulePtr fresh = m->child(c["name"].get<std::string>());
      if (fresh && can_reuse(*fresh, modules[cidx])) built[cidx] = fresh;
    }
  }
  for (int64_t idx : p.build_order) restore_one(built[idx], modules[idx], p.paths[idx], reader, built);
  return built[root];
}

std::string module_to_bytes(const nn::Module& module, const ModuleSaveOptions& options) {
  SafetensorsFile f = encode(module, options);
  return to_safetensors_bytes(f.tensors, f.metadata);
}

void save_module(const nn::Module& module, const std::string& path, const ModuleSaveOptions& options) {
  SafetensorsFile f = encode(module, options);
  save_state_dict(f.tensors, path, f.metadata, SaveOptions{options.fsync});
}

nn::ModulePtr module_from_bytes(const void* data, size_t size) {
  return module_from_file_contents(from_safetensors_bytes(data, size));
}

nn::ModulePtr copy_module(const nn::Module& module) {
  std::string bytes = module_to_bytes(module);
  return module_from_bytes(bytes.data(), bytes.size());
}

nn::ModulePtr load_module(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  return detail::with_context("'" + path + "': ", [&] { return module_from_file_contents(f); });
}

}  // namespace twig::serialize
