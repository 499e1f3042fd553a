// A sparsifier state file: a safetensors file whose entries are the state's tensors ("t0", "t1",
// ...; a tensor held in two places is stored once and comes back as one object) and whose
// __metadata__["twig.sparsifier_state"] is the whole dict as JSON, each value tagged where JSON
// alone would lose its kind:
//   None, bool, int, str           as themselves
//   float                          a JSON number with a fraction ("0.5", "3.0"); {"__float__": "inf"|"-inf"|"nan"}
//   Tensor                         {"__tensor__": "t0"}
//   tuple                          {"__tuple__": [...]}
//   dict                           {"__dict__": {...}} (keys in order)
//   function                       {"__function__": "<name given to register_function>"}
// A sparse COO tensor is stored by serialize/ as its indices and values (layout in the metadata).
#include "twig/ao/sparsifier_io.h"

#include <mutex>
#include <utility>
#include <vector>

#include "twig/tensor/error.h"

#if defined(TWIG_HAS_SERIALIZE)
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "twig/serialize/safetensors.h"
#endif

namespace twig::ao {

// ---- the function registry ---------------------------------------------------------------------

namespace {

struct FunctionRegistry {
  std::mutex mutex;
  std::vector<std::pair<std::string, nn::Object>> entries;  // the latest registration last
};

FunctionRegistry& function_registry() {
  static FunctionRegistry registry;
  return registry;
}

}  // namespace

void register_function(const std::string& name, const nn::Object& fn) {
  TWIG_CHECK(!name.empty(), ValueError, "register_function: the name is empty");
  TWIG_CHECK(fn.is_function(), TypeError, "register_function('", name, "'): expected a function but got ",
             fn.type_name(), " ", fn.repr());
  FunctionRegistry& registry = function_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  std::erase_if(registry.entries, [&](const auto& entry) { return entry.first == name; });
  registry.entries.emplace_back(name, fn);
}

std::optional<std::string> registered_function_name(const nn::Object& fn) {
  FunctionRegistry& registry = function_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (auto it = registry.entries.rbegin(); it != registry.entries.rend(); ++it)
    if (it->second.is(fn)) return it->first;
  return std::nullopt;
}

std::optional<nn::Object> registered_function(const std::string& name) {
  FunctionRegistry& registry = function_registry();
  std::lock_guard<std::mutex> lock(registry.mutex);
  for (const auto& [key, fn] : registry.entries)
    if (key == name) return fn;
  return std::nullopt;
}

// ---- files ---------------------------------------------------------------------------------------

#if defined(TWIG_HAS_SERIALIZE)

namespace {

using ordered_json = nlohmann::ordered_json;
using nn::Object;

constexpr const char* kMetadataKey = "twig.sparsifier_state";
constexpr int kVersion = 1;

class Encoder {
 public:
  ordered_json encode(const Object& o, const std::string& where) {
    switch (o.kind()) {
      case Object::Kind::None:
        return nullptr;
      case Object::Kind::Bool:
        return o.to_bool();
      case Object::Kind::Int:
        return o.to_int();
      case Object::Kind::Float: {
        double v = o.to_double();
        if (std::isnan(v)) return ordered_json{{"__float__", "nan"}};
        if (std::isinf(v)) return ordered_json{{"__float__", v > 0 ? "inf" : "-inf"}};
        return v;
      }
      case Object::Kind::Str:
        return o.to_string();
      case Object::Kind::Tensor:
        return ordered_json{{"__tensor__", put(o.to_tensor(), where)}};
      case Object::Kind::Tuple: {
        ordered_json items = ordered_json::array();
        size_t i = 0;
        for (const Object& item : o.to_tuple()) items.push_back(encode(item, where + "[" + std::to_string(i++) + "]"));
        return ordered_json{{"__tuple__", items}};
      }
      case Object::Kind::Dict:
        return ordered_json{{"__dict__", encode_items(o.to_dict(), where)}};
      case Object::Kind::Function: {
        std::optional<std::string> name = registered_function_name(o);
        TWIG_CHECK(name.has_value(), TypeError, "save_sparsifier_state: cannot store ", where,
                   ": a function that was not registered (give it a name with ao::register_function)");
        return ordered_json{{"__function__", *name}};
      }
      default:
        TWIG_THROW(TypeError, "save_sparsifier_state: cannot store ", where, ": a ", o.type_name(),
                   " (only None, bool, int, float, str, Tensor, registered functions, tuples and dicts of these)");
    }
  }

  ordered_json encode_items(const nn::Dict& d, const std::string& where) {
    ordered_json out = ordered_json::object();
    for (const auto& [key, value] : d) out[key] = encode(value, where + "['" + key + "']");
    return out;
  }

  nn::StateDict tensors;

 private:
  std::string put(const Tensor& t, const std::string& where) {
    TWIG_CHECK(t.defined(), ValueError, "save_sparsifier_state: ", where, " is an undefined tensor");
    auto it = keys_.find(t.impl());
    if (it != keys_.end()) return it->second;
    std::string key = std::to_string(keys_.size());
    key.insert(key.begin(), 't');
    keys_[t.impl()] = key;
    tensors.insert(key, t.is_sparse() ? t : t.detach());  // (a sparse tensor never requires grad)
    return key;
  }
  std::map<const void*, std::string> keys_;
};

class Decoder {
 public:
  explicit Decoder(const nn::StateDict& file_tensors) : file_tensors_(file_tensors) {}

  Object decode(const ordered_json& j) {
    if (j.is_null()) return Object();
    if (j.is_boolean()) return Object(j.get<bool>());
    if (j.is_number_unsigned()) {
      TWIG_CHECK(j.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), ValueError, "sparsifier state file: integer ",
                 j.dump(), " is out of range");
      return Object(static_cast<int64_t>(j.get<uint64_t>()));
    }
    if (j.is_number_integer()) return Object(j.get<int64_t>());
    if (j.is_number_float()) return Object(j.get<double>());
    if (j.is_string()) return Object(j.get<std::string>());
    TWIG_CHECK(j.is_object() && j.size() == 1, ValueError, "sparsifier state file: malformed value ", j.dump());
    // (Not `*j.items().begin()`: that proxy refers to an iterator that dies with the statement.)
    const auto first = j.begin();
    const std::string tag = first.key();
    const ordered_json& body = first.value();
    if (tag == "__float__") {
      const std::string s = body.is_string() ? body.get<std::string>() : "";
      TWIG_CHECK(s == "inf" || s == "-inf" || s == "nan", ValueError, "sparsifier state file: malformed float ",
                 body.dump());
      return Object(s == "nan" ? std::nan("") : s == "inf" ? INFINITY : -INFINITY);
    }
    if (tag == "__tensor__") {
      TWIG_CHECK(body.is_string(), ValueError, "sparsifier state file: malformed tensor reference ", body.dump());
      const std::string key = body.get<std::string>();
      auto it = loaded_.find(key);
      if (it != loaded_.end()) return Object(it->second);
      const Tensor* t = file_tensors_.find(key);
      TWIG_CHECK(t != nullptr, KeyError, "sparsifier state file: no tensor '", key, "' in the file");
      Tensor copy = t->clone();  // not a view of the file's mapping
      loaded_[key] = copy;
      return Object(copy);
    }
    if (tag == "__tuple__") {
      TWIG_CHECK(body.is_array(), ValueError, "sparsifier state file: malformed tuple ", body.dump());
      nn::Tuple items;
      for (const auto& item : body) items.push_back(decode(item));
      return Object(std::move(items));
    }
    if (tag == "__dict__") return Object(decode_items(body));
    if (tag == "__function__") {
      TWIG_CHECK(body.is_string(), ValueError, "sparsifier state file: malformed function name ", body.dump());
      std::optional<Object> fn = registered_function(body.get<std::string>());
      TWIG_CHECK(fn.has_value(), ValueError, "sparsifier state file: unknown function '", body.get<std::string>(),
                 "' (register it with ao::register_function before loading)");
      return *fn;
    }
    TWIG_THROW(ValueError, "sparsifier state file: unknown value tag '", tag, "'");
  }

  nn::Dict decode_items(const ordered_json& body) {
    TWIG_CHECK(body.is_object(), ValueError, "sparsifier state file: malformed dict ", body.dump());
    nn::Dict d;
    for (const auto& [key, value] : body.items()) d.set(key, decode(value));
    return d;
  }

 private:
  const nn::StateDict& file_tensors_;
  std::map<std::string, Tensor> loaded_;
};

}  // namespace

void save_sparsifier_state(const nn::Dict& sd, const std::string& path) {
  // Everything is encoded before the file is opened: a value that cannot be stored leaves an
  // existing file as it was, and the write itself is atomic (serialize/'s temporary + rename).
  Encoder encoder;
  ordered_json doc{{"version", kVersion}, {"state_dict", encoder.encode_items(sd, "state_dict")}};
  serialize::save_state_dict(encoder.tensors, path, {{kMetadataKey, doc.dump()}});
}

nn::Dict load_sparsifier_state(const std::string& path) {
  serialize::SafetensorsFile file = serialize::load_safetensors(path);
  auto it = file.metadata.find(kMetadataKey);
  TWIG_CHECK(it != file.metadata.end(), ValueError, "'", path, "' is not a sparsifier state file (no ", kMetadataKey,
             " in its __metadata__)");
  ordered_json doc = ordered_json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  TWIG_CHECK(doc.is_object() && doc.contains("version") && doc.contains("state_dict"), ValueError, "'", path,
             "': malformed sparsifier state (", kMetadataKey, " is not {version, state_dict})");
  TWIG_CHECK(doc["version"] == kVersion, ValueError, "'", path, "': sparsifier state version ", doc["version"].dump(),
             " is not supported (this twig reads ", kVersion, ")");
  Decoder decoder(file.tensors);
  return decoder.decode_items(doc["state_dict"]);
}

#else

void save_sparsifier_state(const nn::Dict&, const std::string& path) {
  TWIG_THROW(NotImplementedError, "save_sparsifier_state('", path, "'): twig was built without serialize/");
}
nn::Dict load_sparsifier_state(const std::string& path) {
  TWIG_THROW(NotImplementedError, "load_sparsifier_state('", path, "'): twig was built without serialize/");
}

#endif

}  // namespace twig::ao
