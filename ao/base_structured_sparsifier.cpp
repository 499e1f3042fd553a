#include "twig/ao/base_structured_sparsifier.h"

#include <set>
#include <utility>

#include "twig/ao/prune_functions.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/activation.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/normalization.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"
#include "twig/tensor/error.h"
#include "twig/tensor/trace.h"

#if defined(TWIG_HAS_SERIALIZE)
#include <nlohmann/json.hpp>

#include "twig/serialize/registry.h"
#endif

namespace twig::ao {

// ---- MatchedItem, PatternElement, PatternTable -------------------------------------------------

Tensor MatchedItem::apply(const Tensor& x) const {
  TWIG_CHECK(node != nullptr, RuntimeError, "MatchedItem::apply: no node");
  if (node->op() == Opcode::call_module) {
    nn::Value out = (module ? module : node->module())->call({nn::Value(x)});
    TWIG_CHECK(out.is_tensor(), RuntimeError, "MatchedItem::apply: module '", node->target(), "' returned a ",
               out.kind(), ", not a tensor");
    return out.tensor();
  }
  return node->replay_unary(x);
}

PatternElement PatternElement::module(std::type_index type) {
  PatternElement e;
  e.kind = Kind::Module;
  e.module_type = type;
  return e;
}

PatternElement PatternElement::fn(std::string target) {
  PatternElement e;
  e.kind = Kind::Function;
  e.function = std::move(target);
  return e;
}

PatternElement PatternElement::output() {
  PatternElement e;
  e.kind = Kind::Output;
  return e;
}

PatternElement PatternElement::match_all() { return PatternElement{}; }

bool PatternElement::matches(const Node& node) const {
  switch (kind) {
    case Kind::Module:
      return node.op() == Opcode::call_module && node.module() &&
             std::type_index(type_before_parametrizations(*node.module())) == module_type;
    case Kind::Function:
      return node.op() == Opcode::call_function && node.target() == function;
    case Kind::Output:
      return node.op() == Opcode::output;
    case Kind::MatchAll:
      return true;
  }
  return false;
}

bool PatternElement::operator==(const PatternElement& other) const {
  if (kind != other.kind) return false;
  if (kind == Kind::Module) return module_type == other.module_type;
  if (kind == Kind::Function) return function == other.function;
  return true;
}

std::string PatternElement::str() const {
  switch (kind) {
    case Kind::Module:
      return module_type.name();
    case Kind::Function:
      return function;
    case Kind::Output:
      return "output";
    case Kind::MatchAll:
      return "MatchAllNode";
  }
  return "";
}

PatternTable::PatternTable(std::initializer_list<Entry> entries) {
  for (const auto& [pattern, fn] : entries) set(pattern, fn);
}

void PatternTable::set(const Pattern& pattern, ConvertFn fn) {
  TWIG_CHECK(!pattern.empty(), ValueError, "PatternTable: a pattern needs at least one element");
  TWIG_CHECK(fn != nullptr, ValueError, "PatternTable: the convert function of a pattern is empty");
  for (auto& entry : entries_) {
    if (entry.first == pattern) {
      entry.second = std::move(fn);
      return;
    }
  }
  entries_.emplace_back(pattern, std::move(fn));
}

bool PatternTable::contains(const Pattern& pattern) const {
  for (const auto& entry : entries_) {
    if (entry.first == pattern) return true;
  }
  return false;
}

// ---- the default table -------------------------------------------------------------------------

namespace {

void check_arity(const std::vector<MatchedItem>& items, size_t n, const char* what) {
  TWIG_CHECK(items.size() == n, ValueError, what, " takes ", n, " matched nodes, got ", items.size());
}

// The 21 activation functions of PyTorch's table, as the tracer names them.
const std::vector<std::string> kActivationFunctions = {
    "relu",       "rrelu",      "hardtanh",  "relu6", "sigmoid",  "hardsigmoid", "tanh",
    "silu",       "mish",       "hardswish", "elu",   "celu",     "selu",        "hardshrink",
    "leaky_relu", "logsigmoid", "softplus",  "prelu", "softsign", "tanhshrink",  "gelu"};

std::vector<std::type_index> activation_modules() {
  return {typeid(nn::ReLU),     typeid(nn::RReLU),       typeid(nn::Hardtanh),  typeid(nn::ReLU6),
          typeid(nn::Sigmoid),  typeid(nn::Hardsigmoid), typeid(nn::Tanh),      typeid(nn::SiLU),
          typeid(nn::Mish),     typeid(nn::Hardswish),   typeid(nn::ELU),       typeid(nn::CELU),
          typeid(nn::SELU),     typeid(nn::Hardshrink),  typeid(nn::LeakyReLU), typeid(nn::LogSigmoid),
          typeid(nn::Softplus), typeid(nn::PReLU),       typeid(nn::Softsign),  typeid(nn::Tanhshrink),
          typeid(nn::GELU)};
}

}  // namespace

PatternTable default_patterns() {
  using E = PatternElement;
  const E linear = E::module<nn::Linear>();
  const E conv = E::module<nn::Conv2d>();
  PatternTable table;
  table.set({linear, E::output()}, [](const std::vector<MatchedItem>& m) {
    check_arity(m, 2, "prune_linear");
    prune_linear(m[0].module_as<nn::Linear>());
  });
  table.set({linear, linear}, [](const std::vector<MatchedItem>& m) {
    check_arity(m, 2, "prune_linear_linear");
    prune_linear_linear(m[0].module_as<nn::Linear>(), m[1].module_as<nn::Linear>());
  });
  table.set({conv, E::output()}, [](const std::vector<MatchedItem>& m) {
    check_arity(m, 2, "prune_conv2d");
    prune_conv2d(m[0].module_as<nn::Conv2d>());
  });
  table.set({conv, conv}, [](const std::vector<MatchedItem>& m) {
    check_arity(m, 2, "prune_conv2d_conv2d");
    prune_conv2d_conv2d(m[0].module_as<nn::Conv2d>(), m[1].module_as<nn::Conv2d>());
  });
  table.set({E::module<nn::LSTM>(), E::fn("getitem"), linear}, [](const std::vector<MatchedItem>& m) {
    check_arity(m, 3, "prune_lstm_output_linear");
    prune_lstm_output_linear(m[0].module_as<nn::LSTM>(), m[1].as_function(), m[2].module_as<nn::Linear>());
  });
  table.set({E::module<nn::LSTM>(), E::fn("getitem"), E::module<nn::LayerNorm>(), linear},
            [](const std::vector<MatchedItem>& m) {
              check_arity(m, 4, "prune_lstm_output_layernorm_linear");
              prune_lstm_output_layernorm_linear(m[0].module_as<nn::LSTM>(), m[1].as_function(),
                                                 &m[2].module_as<nn::LayerNorm>(), m[3].module_as<nn::Linear>());
            });

  std::vector<E> activations;
  for (const auto& name : kActivationFunctions) activations.push_back(E::fn(name));
  for (const auto& type : activation_modules()) activations.push_back(E::module(type));
  const std::vector<E> pools = {E::module<nn::AvgPool2d>(), E::fn("avg_pool2d"), E::module<nn::MaxPool2d>(),
                                E::fn("max_pool2d")};
  const std::vector<E> adaptive_pools = {E::module<nn::AdaptiveAvgPool2d>(), E::module<nn::AdaptiveMaxPool2d>()};
  const std::vector<E> flattens = {E::module<nn::Flatten>(), E::fn("flatten")};

  for (const E& act : activations) {
    table.set({linear, act, linear}, [](const std::vector<MatchedItem>& m) {
      check_arity(m, 3, "prune_linear_activation_linear");
      prune_linear_activation_linear(m[0].module_as<nn::Linear>(), m[1].as_function(), m[2].module_as<nn::Linear>());
    });
    table.set({conv, act, conv}, [](const std::vector<MatchedItem>& m) {
      check_arity(m, 3, "prune_conv2d_activation_conv2d");
      prune_conv2d_activation_conv2d(m[0].module_as<nn::Conv2d>(), m[1].as_function(), m[2].module_as<nn::Conv2d>());
    });
    for (const E& pool : pools) {
      table.set({conv, act, pool, conv}, [](const std::vector<MatchedItem>& m) {
        check_arity(m, 4, "prune_conv2d_activation_pool_conv2d");
        prune_conv2d_activation_pool_conv2d(m[0].module_as<nn::Conv2d>(), m[1].as_function(), m[2].as_function(),
                                            m[3].module_as<nn::Conv2d>());
      });
      table.set({conv, pool, act, conv}, [](const std::vector<MatchedItem>& m) {
        check_arity(m, 4, "prune_conv2d_pool_activation_conv2d");
        prune_conv2d_pool_activation_conv2d(m[0].module_as<nn::Conv2d>(), m[1].as_function(), m[2].as_function(),
                                            m[3].module_as<nn::Conv2d>());
      });
    }
    // Re-inserted for every activation as in PyTorch: a dict keeps the first place.
    for (const E& pool : adaptive_pools) {
      for (const E& flatten : flattens) {
        table.set({conv, pool, flatten, linear}, [](const std::vector<MatchedItem>& m) {
          check_arity(m, 4, "prune_conv2d_pool_flatten_linear");
          prune_conv2d_pool_flatten_linear(m[0].module_as<nn::Conv2d>(), m[1].as_function(), m[2].as_function(),
                                           m[3].module_as<nn::Linear>());
        });
      }
    }
  }
  return table;
}

// ---- the inputs of the last forward ------------------------------------------------------------

namespace {

using InputsSlot = std::shared_ptr<std::optional<nn::Values>>;

// A forward pre-hook on the prepared model that remembers the inputs of its last call (not those
// of a tracing run), for prune() to trace with.
class LastInputsHook : public nn::ForwardPreHook {
 public:
  explicit LastInputsHook(InputsSlot slot) : slot_(std::move(slot)) {}
  std::optional<nn::Values> operator()(nn::Module&, const nn::Values& inputs) override {
    if (trace::active() == nullptr) *slot_ = inputs;
    return std::nullopt;
  }
  std::string type_name() const override { return "StructuredPrunerInputs"; }
  std::shared_ptr<nn::ForwardPreHook> clone_hook() const override {
    // A copy of the model is not the one the sparsifier prunes: it remembers for nobody.
    return std::make_shared<LastInputsHook>(std::make_shared<std::optional<nn::Values>>());
  }
  const InputsSlot& slot() const { return slot_; }

 private:
  InputsSlot slot_;
};

#if defined(TWIG_HAS_SERIALIZE)
// A prepared model saved whole keeps the hook; loaded, it remembers for nobody (no sparsifier
// holds its slot) until a sparsifier prepares the loaded model.
const bool kRegistered = [] {
  serialize::register_forward_pre_hook_type(
      "StructuredPrunerInputs",
      serialize::ForwardPreHookCodec{
          [](const nn::ForwardPreHook&, serialize::TensorWriter&) { return serialize::json::object(); },
          [](const serialize::json&, serialize::TensorReader&) -> std::shared_ptr<nn::ForwardPreHook> {
            return std::make_shared<LastInputsHook>(std::make_shared<std::optional<nn::Values>>());
          }});
  return true;
}();
#endif

}  // namespace

// ---- BaseStructuredSparsifier ------------------------------------------------------------------

BaseStructuredSparsifier::BaseStructuredSparsifier(Dict defaults, std::optional<PatternTable> patterns)
    : BaseSparsifier(std::move(defaults)),
      patterns_(patterns ? std::move(*patterns) : default_patterns()),
      last_inputs_(std::make_shared<std::optional<nn::Values>>()) {}

BaseStructuredSparsifier::~BaseStructuredSparsifier() = default;

const std::optional<nn::Values>& BaseStructuredSparsifier::last_inputs() const { return *last_inputs_; }

std::vector<std::type_index> BaseStructuredSparsifier::supported_modules() const {
  return {typeid(nn::Linear), typeid(nn::Conv2d), typeid(nn::LSTM)};
}

Tensor BaseStructuredSparsifier::default_mask(const nn::Module& module, const std::string& tensor_name) const {
  Tensor t = module.get(tensor_name);
  TWIG_CHECK(t.dim() >= 1, ValueError, "structured pruning needs a tensor with rows: '", tensor_name, "' of ",
             module.type_name(), " has shape ", t.sizes());
  return ones({t.size(0)}, TensorOptions(kBool).device(t.device()));
}

std::shared_ptr<nn::UnaryModule> BaseStructuredSparsifier::default_parametrization(const Tensor& mask) const {
  return std::make_shared<FakeStructuredSparsity>(mask);
}

void BaseStructuredSparsifier::prepare_groups() {
  // The parametrizations as BaseSparsifier registers them (state mask = the buffer, same tensor).
  BaseSparsifier::prepare_groups();
  for (const Dict& group : groups) {
    const nn::ModulePtr module = group.at("module").to_module();
    if (dynamic_cast<nn::Linear*>(module.get()) == nullptr && dynamic_cast<nn::Conv2d*>(module.get()) == nullptr) {
      continue;  // LSTM: the parametrizations only
    }
    const bool prune_bias = group.get("prune_bias", Object(true)).to_bool();
    Tensor bias = module->get_or_undefined("bias");
    if (bias.defined()) {
      module->register_parameter("_bias", bias.detach());
      module->set_attribute("bias", Tensor());
      module->set_object("prune_bias", Object(prune_bias));
    }
    std::shared_ptr<FakeStructuredSparsity> p;
    if (nn::is_parametrized(*module, "weight")) {
      p = std::dynamic_pointer_cast<FakeStructuredSparsity>(nn::parametrizations_of(*module, "weight")->at(0));
    }
    module->register_forward_hook(std::make_shared<BiasHook>(p, prune_bias));
  }
  if (model && hooked_ != model.get()) {
    model->register_forward_pre_hook(std::make_shared<LastInputsHook>(last_inputs_));
    hooked_ = model.get();
    last_inputs_->reset();
  }
}

namespace {

bool holds_structured_mask(const nn::Module& module) { return module_contains_param<FakeStructuredSparsity>(module); }

// PyTorch's apply_match: the pattern's first element against `node`, each next one against the
// previous node's first user; the matched nodes, or empty.
std::vector<const Node*> match_pattern(const Pattern& pattern, const Node* node) {
  std::vector<const Node*> matched;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (!pattern[i].matches(*node)) return {};
    matched.push_back(node);
    if (i + 1 == pattern.size()) break;
    if (node->users().empty()) return {};
    node = node->users().front();
  }
  return matched;
}

// One pass of PyTorch's loop over the nodes and patterns. `convert(matched, fn)` is called for
// each match whose head module holds a FakeStructuredSparsity (per `holds`). As in PyTorch, after a
// conversion the remaining patterns of that node's iteration are tried from the match's last
// node (Python rebinds its loop variable `node`); harmless, since a module is converted once, as
// the head of its first match.
template <typename Holds, typename Convert>
void walk_matches(const Graph& graph, const PatternTable& patterns, Holds holds, Convert convert) {
  for (const Node* start : graph.nodes()) {
    const Node* node = start;
    for (const auto& [pattern, fn] : patterns.entries()) {
      std::vector<const Node*> matched = match_pattern(pattern, node);
      if (matched.empty()) continue;
      const nn::ModulePtr& head = node->module();
      if (!head || !holds(*head)) continue;
      convert(matched, fn);
      node = matched.back();
    }
  }
}

[[noreturn]] void throw_still_masked(const nn::Module& module) {
  TWIG_THROW(RuntimeError, "Error: ", module.repr(), " still contains FakeStructuredSparsity parametrizations!");
}

}  // namespace

std::shared_ptr<GraphModule> BaseStructuredSparsifier::prune(std::optional<nn::Values> example_inputs) {
  TWIG_CHECK(model != nullptr, RuntimeError,
             "prune(): this sparsifier has no model; call prepare(model, config) first");
  if (!example_inputs) {
    TWIG_CHECK(last_inputs_->has_value(), RuntimeError,
               "prune(): no inputs to trace the model with: the prepared model has not been called since "
               "prepare(); call it once (its last inputs are used) or pass example_inputs");
    example_inputs = **last_inputs_;
  }

  // PyTorch traces symbolically: no forward runs, so no BiasHook zeroes a `_bias`. twig's trace
  // runs the forward once; the `_bias` values are put back afterwards (also when it fails).
  std::vector<std::pair<Tensor, Tensor>> biases;
  for (const nn::ModulePtr& m : model->modules()) {
    Tensor b = m->get_or_undefined("_bias");
    if (b.defined()) biases.emplace_back(b, b.detach().clone());
  }
  auto restore_biases = [&] {
    NoGradGuard no_grad;
    for (auto& [b, saved] : biases) b.detach().copy_(saved);
  };
  std::shared_ptr<GraphModule> traced;
  try {
    traced = trace(model, *example_inputs);
  } catch (...) {
    restore_biases();
    throw;
  }
  restore_biases();

  // Which modules the walk will convert, found before anything changes: a module that no match
  // would convert makes prune() fail with the model as it was (PyTorch raises the same error, but
  // only after converting the others).
  std::set<const nn::Module*> converted;
  walk_matches(
      traced->graph(), patterns_,
      [&](const nn::Module& m) { return holds_structured_mask(m) && !converted.contains(&m); },
      [&](const std::vector<const Node*>& matched, const ConvertFn&) { converted.insert(matched[0]->module().get()); });
  for (const nn::ModulePtr& m : traced->modules()) {
    if (holds_structured_mask(*m) && !converted.contains(m.get())) throw_still_masked(*m);
  }

  walk_matches(traced->graph(), patterns_, holds_structured_mask,
               [&](const std::vector<const Node*>& matched, const ConvertFn& fn) {
                 std::vector<MatchedItem> items;
                 for (const Node* n : matched) items.push_back(MatchedItem{n, n->module()});
                 fn(items);
               });
  // A user's convert function may leave a mask behind: PyTorch's check, after the fact.
  for (const nn::ModulePtr& m : traced->modules()) {
    if (holds_structured_mask(*m)) throw_still_masked(*m);
  }
  return traced;
}

}  // namespace twig::ao
