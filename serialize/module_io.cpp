#include "twig/serialize/module_io.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "twig/autograd/ops/ops.h"
#include "twig/serialize/detail.h"

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

// 2: recomputed attributes left out, masks bit-packed ("packed"); 1 is still read.
constexpr int kVersion = 2;

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
std::string where(const std::string& path, const std::string& type) { return "module '" + path + "' (" + type + "): "; }

// ---- saving ---------------------------------------------------------------------------------------

// ---- bit-packed masks --------------------------------------------------------------------------------

// The bits of t (CPU, contiguous) when every element is bitwise 0 or 1 of its dtype, else nullopt.
std::optional<std::string> pack_bits(const Tensor& t) {
  const size_t item = t.element_size();
  const Tensor zero = zeros({1}, t.dtype()), one = ones({1}, t.dtype());
  const auto* z = static_cast<const unsigned char*>(zero.raw_data_ptr());
  const auto* o = static_cast<const unsigned char*>(one.raw_data_ptr());
  const auto* p = static_cast<const unsigned char*>(t.raw_data_ptr());
  const size_t n = static_cast<size_t>(t.numel());
  std::string bits((n + 7) / 8, '\0');
  for (size_t k = 0; k < n; ++k, p += item) {
    if (std::memcmp(p, o, item) == 0) {
      bits[k / 8] = static_cast<char>(bits[k / 8] | (1 << (k % 8)));
    } else if (std::memcmp(p, z, item) != 0) {
      return std::nullopt;
    }
  }
  return bits;
}

// A packed entry's bits as a tensor of `dtype` and `shape`.
Tensor unpack_bits(const Tensor& bits, Dtype dtype, const Shape& shape, int64_t n) {
  Tensor flat = empty({n}, kUInt8);
  auto* out = flat.data_ptr<uint8_t>();
  const Tensor packed = bits.contiguous();
  const auto* in = packed.data_ptr<uint8_t>();
  for (int64_t k = 0; k < n; ++k) out[k] = (in[k / 8] >> (k % 8)) & 1;
  return flat.to(dtype).reshape(shape);
}

// Masks smaller than this are stored as they are (the table entry would cost more than it saves).
constexpr size_t kMinPackedBytes = 64;

// The tensors of the file: one entry per tensor object, named after the first place it was met.
// Masks go through put_mask: bit-packed into a U8 entry (equal masks share one entry), with the
// name the tree uses, the entry, dtype and shape in `packed`.
class Writer : public TensorWriter {
 public:
  Writer(nn::StateDict& tensors, std::unordered_map<const TensorImpl*, std::string>& keys, ordered_json& packed,
         std::map<std::string, std::string>& packed_entries, std::string prefix)
      : tensors_(tensors), keys_(keys), packed_(packed), packed_entries_(packed_entries), prefix_(std::move(prefix)) {}
  std::string put(const std::string& suggested_name, const Tensor& t) override {
    TWIG_CHECK(t.defined(), ValueError, "cannot store an undefined tensor as '", join(prefix_, suggested_name), "'");
    auto it = keys_.find(t.impl());
    if (it != keys_.end()) return it->second;
    const std::string key = fresh_key(suggested_name);
    tensors_.insert(key, t.detach());
    keys_[t.impl()] = key;
    return key;
  }
  std::string put_mask(const std::string& suggested_name, const Tensor& t) override {
    TWIG_CHECK(t.defined(), ValueError, "cannot store an undefined tensor as '", join(prefix_, suggested_name), "'");
    auto it = keys_.find(t.impl());
    if (it != keys_.end()) return it->second;
    if (t.nbytes() < kMinPackedBytes) return put(suggested_name, t);
    const Tensor host = t.detach().cpu().contiguous();
    std::optional<std::string> bits = pack_bits(host);
    if (!bits) return put(suggested_name, t);
    const std::string key = fresh_key(suggested_name);
    keys_[t.impl()] = key;
    // Same bits and element count: the same entry (the bits fix the count up to 7; keep it exact).
    const std::string content = std::to_string(t.numel()) + ":" + *bits;
    auto [entry, is_new] = packed_entries_.emplace(content, key);
    if (is_new) {
      Tensor u8 = empty({static_cast<int64_t>(bits->size())}, kUInt8);
      if (!bits->empty()) std::memcpy(u8.raw_data_ptr(), bits->data(), bits->size());
      tensors_.insert(key, u8);
    }
    packed_[key] = {{"data", entry->second}, {"dtype", safetensors_dtype_name(t.dtype())}, {"shape", t.sizes()}};
    return key;
  }

 private:
  // A name no tensor and no packed mask has yet.
  std::string fresh_key(const std::string& suggested_name) const {
    const std::string base = join(prefix_, suggested_name);
    std::string key = base;
    for (int i = 1; tensors_.contains(key) || packed_.contains(key) || key == "__metadata__"; ++i) {
      key = base + "#" + std::to_string(i);
    }
    return key;
  }
  nn::StateDict& tensors_;
  std::unordered_map<const TensorImpl*, std::string>& keys_;
  ordered_json& packed_;
  std::map<std::string, std::string>& packed_entries_;  // "numel:bits" -> entry
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

// Whether m's hook h will be stored (a plain-function hook is left out when the options say so).
template <typename Kind>
bool stored_hook(const typename Kind::Hook& h, const ModuleSaveOptions& options) {
  return !(options.skip_function_hooks && h.type_name() == Kind::kFunctionType);
}

// What m's stored pre-hooks derive: attributes not to store, buffers to store as masks.
HookTensors derived_tensors(const nn::Module& m, const ModuleSaveOptions& options) {
  HookTensors out;
  for (const auto& item : m.forward_pre_hooks().items()) {
    const auto& h = item.second;
    if (!stored_hook<PreHooks>(*h, options)) continue;
    auto hc = detail::find_forward_pre_hook_codec(h->type_name());
    if (!hc || !hc->tensors || !hc->recompute) continue;
    HookTensors t = hc->tensors(*h);
    out.recomputed_attributes.insert(out.recomputed_attributes.end(), t.recomputed_attributes.begin(),
                                     t.recomputed_attributes.end());
    out.mask_buffers.insert(out.mask_buffers.end(), t.mask_buffers.begin(), t.mask_buffers.end());
  }
  return out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// m's hooks of one kind as [{"type", "state"}], in registration order.
template <typename Kind>
ordered_json save_hooks(const nn::Module& m, const ModuleSaveOptions& options, const std::string& ctx,
                        TensorWriter& writer) {
  ordered_json out = ordered_json::array();
  for (const auto& item : Kind::of(m).items()) {
    const auto& h = item.second;  // (not a structured binding: the lambda below captures it)
    const bool function_hook = h->type_name() == Kind::kFunctionType;
    if (!stored_hook<Kind>(*h, options)) continue;
    auto hc = Kind::find(h->type_name());
    TWIG_CHECK(hc.has_value(), TypeError, "cannot save ", ctx, "its ", Kind::kLabel, " of type '", h->type_name(),
               "' has no codec (", Kind::kRegister,
               function_hook ? "; a plain-function hook is code and cannot be stored: "
                               "remove it or set ModuleSaveOptions::skip_function_hooks"
                             : "",
               ")");
    json state =
        detail::with_context(ctx + Kind::kLabel + " '" + h->type_name() + "': ", [&] { return hc->save(*h, writer); });
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
               Kind::kRegister,
               " before loading (pruning's hooks register themselves in a program linked "
               "with twig::twig, or after twig::prune::register_serialization() where twig_prune is linked by hand)");
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
  ordered_json packed = ordered_json::object();
  std::map<std::string, std::string> packed_entries;
  ordered_json modules = ordered_json::array();
  for (size_t i = 0; i < tree.order.size(); ++i) {
    const nn::Module& m = *tree.order[i];
    const std::string& path = tree.paths[i];
    const std::string ctx = where(path, m.type_name());
    Writer writer(file.tensors, keys, packed, packed_entries, path);
    auto ref = [&](const std::string& name, const Tensor& t) -> ordered_json {
      return t.defined() ? ordered_json(writer.put(name, t)) : ordered_json();
    };
    ordered_json e = ordered_json::object();
    e["type"] = m.type_name();
    // A holder a load made keeps its options; a type with no codec has none.
    if (auto* holder = dynamic_cast<const UnregisteredModule*>(&m)) {
      e["options"] = ordered_json::parse(holder->saved_options());
    } else if (auto codec = detail::find_module_codec(m.type_name())) {
      e["options"] = detail::with_context(ctx, [&] { return ordered_json(codec->save_options(m)); });
    } else {
      e["options"] = ordered_json::object();
    }
    e["training"] = m.is_training();
    const HookTensors derived = detail::with_context(ctx, [&] { return derived_tensors(m, options); });
    ordered_json params = ordered_json::array();
    for (const auto& [name, t] : m.parameters_dict()) {
      params.push_back({{"name", name}, {"tensor", ref(name, t)}, {"requires_grad", t.defined() && t.requires_grad()}});
    }
    ordered_json buffers = ordered_json::array();
    for (const auto& [name, t] : m.buffers_dict()) {
      const bool mask = t.defined() && contains(derived.mask_buffers, name);
      ordered_json tensor = mask ? ordered_json(writer.put_mask(name, t)) : ref(name, t);
      buffers.push_back({{"name", name}, {"tensor", tensor}, {"persistent", m.buffer_is_persistent(name)}});
    }
    ordered_json attrs = ordered_json::array();
    for (const auto& [name, t] : m.attributes_dict()) {
      if (contains(derived.recomputed_attributes, name)) continue;  // the hook sets it on load
      attrs.push_back({{"name", name}, {"tensor", ref(name, t)}, {"requires_grad", t.defined() && t.requires_grad()}});
    }
    // Plain objects of scalar kinds (structured pruning's `prune_bias`); other kinds are not stored.
    ordered_json objects = ordered_json::array();
    for (const auto& [name, o] : m.objects_dict()) {
      if (o.is_none()) objects.push_back({{"name", name}, {"value", nullptr}});
      if (o.is_bool()) objects.push_back({{"name", name}, {"value", o.to_bool()}});
      if (o.is_int()) objects.push_back({{"name", name}, {"value", o.to_int()}});
      if (o.is_float()) objects.push_back({{"name", name}, {"value", o.to_double()}});
      if (o.is_string()) objects.push_back({{"name", name}, {"value", o.to_string()}});
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
    if (!objects.empty()) e["objects"] = std::move(objects);  // files without objects stay as before
    e["children"] = std::move(children);
    e["forward_pre_hooks"] = std::move(pre_hooks);
    e["forward_hooks"] = std::move(hooks);
    modules.push_back(std::move(e));
  }
  ordered_json doc = {
      {"version", kVersion}, {"root", 0}, {"modules", std::move(modules)}, {"packed", std::move(packed)}};
  file.metadata = options.metadata;
  file.metadata[kModuleTreeKey] = doc.dump();
  return file;
}

// ---- loading: validation ------------------------------------------------------------------------------

void exact_keys(const ordered_json& j, std::initializer_list<const char*> keys, const std::string& what) {
  TWIG_CHECK(j.is_object(), ValueError, what, " must be an object, got ", j.type_name());
  std::set<std::string> allowed(keys.begin(), keys.end());
  for (const auto& [k, v] : j.items())
    TWIG_CHECK(allowed.count(k), ValueError, what, " has an unexpected field '", k, "'");
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
  if (e.is_object() && e.contains("objects")) {
    exact_keys(e,
               {"type", "options", "training", "parameters", "buffers", "attributes", "objects", "children",
                "forward_pre_hooks", "forward_hooks"},
               what);
    TWIG_CHECK(e.at("objects").is_array(), ValueError, what, ": 'objects' must be a list, got ",
               e.at("objects").type_name());
    for (const auto& o : e.at("objects")) {
      exact_keys(o, {"name", "value"}, what + " object");
      str_field(o, "name", what);
      const auto& v = o.at("value");
      TWIG_CHECK(v.is_null() || v.is_boolean() || v.is_number() || v.is_string(), ValueError, what,
                 ": object value must be null, a boolean, a number or a string, got ", v.type_name());
    }
  } else {
    exact_keys(e,
               {"type", "options", "training", "parameters", "buffers", "attributes", "children", "forward_pre_hooks",
                "forward_hooks"},
               what);
  }
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

// One row of the tree's "packed" table: the tensor named `key` is the bits of entry `data`.
struct Packed {
  std::string data;
  Dtype dtype;
  Shape shape;
  int64_t numel;
};

// The "packed" table, checked against the file: each row names a 1-D U8 entry of exactly
// ceil(numel / 8) bytes, a dtype twig holds and a valid shape.
std::map<std::string, Packed> read_packed(const ordered_json& table, const nn::StateDict& tensors) {
  TWIG_CHECK(table.is_object(), ValueError, "module tree: 'packed' must be an object, got ", table.type_name());
  std::map<std::string, Packed> out;
  for (const auto& [key, row] : table.items()) {
    const std::string what = "packed tensor '" + key + "'";
    exact_keys(row, {"data", "dtype", "shape"}, what);
    Packed p;
    p.data = str_field(row, "data", what);
    p.dtype = dtype_from_safetensors_name(str_field(row, "dtype", what));
    const ordered_json& shape = row.at("shape");
    TWIG_CHECK(shape.is_array() && shape.size() <= 16, ValueError, what, ": 'shape' must be a list of sizes, got ",
               shape.dump());
    uint64_t n = 1;
    for (const auto& d : shape) {
      TWIG_CHECK(d.is_number_unsigned() && !__builtin_mul_overflow(n, d.get<uint64_t>(), &n) && n < (uint64_t{1} << 62),
                 ValueError, what, ": 'shape' must hold sizes, got ", shape.dump());
      p.shape.push_back(d.get<int64_t>());
    }
    p.numel = static_cast<int64_t>(n);
    const Tensor* bits = tensors.find(p.data);
    TWIG_CHECK(bits != nullptr, KeyError, what, " is stored in '", p.data, "', which the file does not hold");
    TWIG_CHECK(bits->dtype() == kUInt8 && bits->dim() == 1 && bits->numel() == (p.numel + 7) / 8, ValueError, what,
               ": entry '", p.data, "' must be U8 of shape [", (p.numel + 7) / 8, "] for ", p.numel, " bits, got ",
               dtype_name(bits->dtype()), " ", bits->sizes());
    out.emplace(key, std::move(p));
  }
  return out;
}

class Reader : public TensorReader {
 public:
  Reader(const nn::StateDict& tensors, std::map<std::string, Packed> packed)
      : tensors_(tensors), packed_(std::move(packed)) {}
  Tensor get(const std::string& key) override {
    auto p = packed_.find(key);
    if (p != packed_.end()) {
      // One tensor object per key, as for stored tensors.
      auto it = unpacked_.find(key);
      if (it == unpacked_.end()) {
        it = unpacked_
                 .emplace(key, unpack_bits(*tensors_.find(p->second.data), p->second.dtype, p->second.shape,
                                           p->second.numel))
                 .first;
      }
      return it->second;
    }
    const Tensor* t = tensors_.find(key);
    TWIG_CHECK(t != nullptr, KeyError, "the module tree references tensor '", key, "', which the file does not hold");
    return *t;
  }

 private:
  const nn::StateDict& tensors_;
  std::map<std::string, Packed> packed_;
  std::map<std::string, Tensor> unpacked_;
};

struct BudgetGuard {
  int64_t saved;
  explicit BudgetGuard(int64_t budget) : saved(detail::t_budget) { detail::t_budget = budget; }
  ~BudgetGuard() { detail::t_budget = saved; }
};

// A fresh instance of the entry's type, built from its saved options; a holder when the type
// has no codec here.
nn::ModulePtr make_one(const ordered_json& e, const std::string& path) {
  const std::string type = e["type"].get<std::string>();
  const std::string ctx = where(path, type);
  auto codec = detail::find_module_codec(type);
  if (!codec) return std::make_shared<UnregisteredModule>(type, e["options"].dump());
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
    if (e.contains("objects")) {
      for (const auto& o : e["objects"]) {
        const std::string name = o["name"].get<std::string>();
        const auto& v = o["value"];
        if (v.is_null()) m->set_object(name, nn::Object());
        if (v.is_boolean()) m->set_object(name, nn::Object(v.get<bool>()));
        if (v.is_number_integer()) m->set_object(name, nn::Object(v.get<int64_t>()));
        if (v.is_number_float()) m->set_object(name, nn::Object(v.get<double>()));
        if (v.is_string()) m->set_object(name, nn::Object(v.get<std::string>()));
      }
    }
    for (const auto& c : e["children"]) {
      const nn::ModulePtr& child = built[c["module"].get<size_t>()];
      TWIG_INTERNAL_ASSERT(child != nullptr, "child built before its parent");
      m->register_child(c["name"].get<std::string>(), child);
    }
    load_hooks<PreHooks>(*m, e["forward_pre_hooks"], reader);
    load_hooks<PostHooks>(*m, e["forward_hooks"], reader);
    // What the hooks derive and the file does not hold (pruning's `weight`).
    for (const auto& item : m->forward_pre_hooks().items()) {
      const auto& h = item.second;
      auto hc = detail::find_forward_pre_hook_codec(h->type_name());
      if (hc && hc->tensors && hc->recompute) {
        detail::with_context(std::string("forward pre-hook '") + h->type_name() + "': ",
                             [&] { hc->recompute(*h, *m); });
      }
    }
  });
}

}  // namespace

UnregisteredModule::UnregisteredModule(std::string type_name, std::string options_json)
    : nn::Module(std::move(type_name)), options_json_(std::move(options_json)) {}

nn::Value UnregisteredModule::forward_values(const nn::Values&) {
  TWIG_THROW(NotImplementedError, "module type '", type_name(),
             "' was loaded as a generic holder (twig::serialize::UnregisteredModule) because no codec was "
             "registered for it: it holds the saved children, parameters and hooks but has no forward; register the "
             "class before loading (twig::serialize::register_module<YourClass>()) to get it back");
}

nn::ModulePtr UnregisteredModule::clone_instance() const {
  return std::make_shared<UnregisteredModule>(type_name(), options_json_);
}

nn::ModulePtr module_from_file_contents(const SafetensorsFile& file) {
  auto it = file.metadata.find(kModuleTreeKey);
  TWIG_CHECK(it != file.metadata.end(), ValueError, "no '", kModuleTreeKey,
             "' in __metadata__: this is a state dict, not a whole-module file (read it with load_state_dict_file)");
  const std::string& text = it->second;
  ordered_json doc = detail::parse_json_strict(text.data(), text.data() + text.size(), "module tree");
  TWIG_CHECK(doc.is_object() && doc.contains("version") && (doc["version"] == 1 || doc["version"] == kVersion),
             ValueError, "module tree version ",
             doc.is_object() && doc.contains("version") ? doc["version"].dump() : "(none)",
             " is not supported (this twig reads versions 1 and ", kVersion, ")");
  if (doc["version"] == 1) {
    exact_keys(doc, {"version", "root", "modules"}, "module tree");
  } else {
    exact_keys(doc, {"version", "root", "modules", "packed"}, "module tree");
  }
  const ordered_json& modules = doc["modules"];
  TWIG_CHECK(modules.is_array() && !modules.empty(), ValueError, "module tree: 'modules' must be a non-empty list");
  const int64_t root = index_field(doc, "root", modules.size(), "module tree");
  for (size_t i = 0; i < modules.size(); ++i) validate_entry(modules[i], i, modules.size());
  Plan p = plan(modules, root);

  int64_t bytes = 0;
  for (const auto& [name, t] : file.tensors) bytes += static_cast<int64_t>(t.nbytes());
  BudgetGuard budget(bytes + 4096);
  Reader reader(file.tensors,
                doc.contains("packed") ? read_packed(doc["packed"], file.tensors) : std::map<std::string, Packed>{});
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
