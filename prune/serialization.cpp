// The pruning hooks' codecs for serialize/'s type registry: whole-module files keep each pruned
// tensor's method (or PruningContainer) with its hyper-parameters; name_orig and name_mask
// travel as the module's own parameter and buffer.
//
// Registration: at program start when twig_prune is linked (twig::twig links it whole, see
// CMakeLists.txt), and again, harmlessly, from prune.h's detail::kRegistered.
//
// State of a method: {"tensor_name", and per type "amount" (an integer for a count, a float for
// a fraction), "dim", "n" ({"p": real} or {"fro": true}), "mask" (a tensor key)}; a container
// holds {"tensor_name", "methods": [state with "type", ...]}.
#include <nlohmann/json.hpp>

#include "twig/prune/prune.h"

#if defined(TWIG_HAS_SERIALIZE)
#include "twig/serialize/registry.h"
#endif

namespace twig::prune {

#if defined(TWIG_HAS_SERIALIZE)

namespace {

using json = nlohmann::json;
using serialize::TensorReader;
using serialize::TensorWriter;

// An amount keeps Python's int / float distinction: a JSON integer is a count, a JSON float a
// fraction; anything else (a string, a bool, null, a list) is a TypeError, as Python's check.
json amount_to_json(const Amount& a) { return a.is_count() ? json(a.count()) : json(a.fraction()); }

Amount amount_from_json(const json& value) {
  if (value.is_number_unsigned()) {
    TWIG_CHECK(value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX), ValueError, "amount ", value.dump(),
               " is out of range");
    return Amount(static_cast<int64_t>(value.get<uint64_t>()));
  }
  if (value.is_number_integer()) return Amount(value.get<int64_t>());
  if (value.is_number_float()) return Amount(value.get<double>());
  return Amount(value.dump());  // TypeError "Invalid type for amount: ..."
}

json norm_to_json(const NormP& n) {
  if (n.fro) return json{{"fro", true}};
  // JSON has no infinities: store them as text.
  if (std::isinf(n.p)) return json{{"p", n.p > 0 ? "inf" : "-inf"}};
  return json{{"p", n.p}};
}

NormP norm_from_json(const json& j) {
  if (j.value("fro", false)) return NormP("fro");
  const json& p = j.at("p");
  if (p.is_string()) return NormP(p.get<std::string>() == "inf" ? INFINITY : -INFINITY);
  return NormP(p.get<double>());
}

json save_method(const BasePruningMethod& m, TensorWriter& writer) {
  json s{{"type", m.type_name()}, {"tensor_name", m.tensor_name}};
  if (auto* c = dynamic_cast<const PruningContainer*>(&m)) {
    json methods = json::array();
    for (const auto& child : *c) methods.push_back(save_method(*child, writer));
    s["methods"] = methods;
  } else if (auto* r = dynamic_cast<const RandomUnstructured*>(&m)) {
    s["amount"] = amount_to_json(r->amount);
  } else if (auto* l = dynamic_cast<const L1Unstructured*>(&m)) {
    s["amount"] = amount_to_json(l->amount);
  } else if (auto* rs = dynamic_cast<const RandomStructured*>(&m)) {
    s["amount"] = amount_to_json(rs->amount);
    s["dim"] = rs->dim;
  } else if (auto* ln = dynamic_cast<const LnStructured*>(&m)) {
    s["amount"] = amount_to_json(ln->amount);
    s["n"] = norm_to_json(ln->n);
    s["dim"] = ln->dim;
  } else if (auto* cm = dynamic_cast<const CustomFromMask*>(&m)) {
    // Bit-packed, and stored once when it equals the module's mask (a global_unstructured round's
    // mask is the module's mask after that round) or an earlier round's.
    s["mask"] = writer.put_mask(m.tensor_name + "_custom_mask", cm->mask);
  } else if (!dynamic_cast<const Identity*>(&m)) {
    TWIG_THROW(TypeError, "cannot serialize pruning method ", m.type_name(), ": not one of twig::prune's types");
  }
  return s;
}

PruningMethodPtr load_method(const json& s, TensorReader& reader) {
  const std::string type = s.at("type").get<std::string>();
  PruningMethodPtr m;
  if (type == "PruningContainer") {
    auto c = std::make_shared<PruningContainer>();
    c->tensor_name = s.at("tensor_name").get<std::string>();
    for (const json& child : s.at("methods")) c->add_pruning_method(load_method(child, reader));
    m = c;
  } else if (type == "Identity") {
    m = std::make_shared<Identity>();
  } else if (type == "RandomUnstructured") {
    m = std::make_shared<RandomUnstructured>(amount_from_json(s.at("amount")));
  } else if (type == "L1Unstructured") {
    m = std::make_shared<L1Unstructured>(amount_from_json(s.at("amount")));
  } else if (type == "RandomStructured") {
    m = std::make_shared<RandomStructured>(amount_from_json(s.at("amount")), s.at("dim").get<int64_t>());
  } else if (type == "LnStructured") {
    m = std::make_shared<LnStructured>(amount_from_json(s.at("amount")), norm_from_json(s.at("n")),
                                       s.at("dim").get<int64_t>());
  } else if (type == "CustomFromMask") {
    m = std::make_shared<CustomFromMask>(reader.get(s.at("mask").get<std::string>()));
  } else {
    TWIG_THROW(TypeError, "unknown pruning method type ", type);
  }
  m->tensor_name = s.at("tensor_name").get<std::string>();
  return m;
}

}  // namespace

bool register_serialization() {
  for (const char* type : {"PruningContainer", "Identity", "RandomUnstructured", "L1Unstructured", "RandomStructured",
                           "LnStructured", "CustomFromMask"}) {
    serialize::register_forward_pre_hook_type(
        type, serialize::ForwardPreHookCodec{
                  [](const nn::ForwardPreHook& hook, TensorWriter& writer) -> json {
                    auto* m = dynamic_cast<const BasePruningMethod*>(&hook);
                    TWIG_CHECK(m != nullptr, TypeError, "hook ", hook.type_name(), " is not a pruning method");
                    return save_method(*m, writer);
                  },
                  [](const json& state, TensorReader& reader) -> std::shared_ptr<nn::ForwardPreHook> {
                    return load_method(state, reader);
                  },
                  // name = name_orig * name_mask is recomputed, not stored; name_mask is a mask.
                  [](const nn::ForwardPreHook& hook) {
                    auto* m = dynamic_cast<const BasePruningMethod*>(&hook);
                    TWIG_CHECK(m != nullptr, TypeError, "hook ", hook.type_name(), " is not a pruning method");
                    return serialize::HookTensors{{m->tensor_name}, {m->tensor_name + "_mask"}};
                  },
                  [](nn::ForwardPreHook& hook, nn::Module& module) {
                    auto* m = dynamic_cast<BasePruningMethod*>(&hook);
                    TWIG_CHECK(m != nullptr, TypeError, "hook ", hook.type_name(), " is not a pruning method");
                    module.set_attribute(m->tensor_name, m->apply_mask(module));
                  }});
  }
  return true;
}

namespace {
// Registers the codecs when twig_prune is linked, whether or not the program includes prune.h
// (twig::twig links twig_prune whole, so the linker keeps this object file).
const bool kRegisteredAtLoad = register_serialization();
}  // namespace

#else

bool register_serialization() { return false; }

#endif

}  // namespace twig::prune
