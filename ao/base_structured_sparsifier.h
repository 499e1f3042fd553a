// torch.ao.pruning._experimental.pruner's BaseStructuredSparsifier: row masks held as
// FakeStructuredSparsity parametrizations (prepare), a pruner's update_mask decides them (step),
// and prune() rewrites the model into a physically smaller one by matching its traced graph
// against a table of patterns (Linear -> Linear, Conv2d -> ReLU -> Conv2d, LSTM -> getitem ->
// Linear, ...) and calling each match's conversion function (ao/prune_functions.h).
//
//   struct MyPruner : ao::BaseStructuredSparsifier {
//     MyPruner() : BaseStructuredSparsifier({}) {}
//     void update_mask(nn::Module& m, const std::string& name, const ao::Dict& args) override;
//   };
//   MyPruner p;
//   p.prepare(model, std::nullopt);  // every Linear / Conv2d / LSTM weight
//   model->call({x});                // prune() traces with the last inputs (or pass them)
//   p.step();
//   std::shared_ptr<ao::GraphModule> small = p.prune();
//
// How prune() gets its input: PyTorch's prune() takes none because torch.fx traces symbolically;
// twig traces by running the model once (ao::trace), so prune(example_inputs) takes them, and
// without them uses the inputs of the last forward of the model after prepare(): prepare()
// registers a forward pre-hook on the model (the root) that remembers them (type_name
// "StructuredPrunerInputs"; it holds the tensors of the last call; not while tracing).
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "twig/ao/base_sparsifier.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/ao/graph.h"
#include "twig/nn/module.h"
#include "twig/tensor/error.h"

namespace twig::ao {

// One matched node of a pattern, as the conversion function gets it.
struct MatchedItem {
  const Node* node = nullptr;
  nn::ModulePtr module;  // the module of a call_module node; null for other nodes
  // The node's op on one tensor: the module called (its hooks and parametrizations run), or the
  // function replayed with the node's constant arguments (F.leaky_relu's slope, ...). Conversion
  // functions apply an activation to the pruned biases with it. RuntimeError for a node that is
  // neither (output, placeholder, get_attr) or a function of more than one tensor.
  Tensor apply(const Tensor& x) const;
  // apply() as a function of one tensor (the activation, pool or flatten a conversion function
  // takes); it holds a copy of this item.
  std::function<Tensor(const Tensor&)> as_function() const {
    return [item = *this](const Tensor& x) { return item.apply(x); };
  }
  // The module as T (the pattern matched its exact type); TypeError when it is no T.
  template <typename T>
  T& module_as() const {
    auto* m = dynamic_cast<T*>(module.get());
    TWIG_CHECK(m != nullptr, TypeError, "structured pruning: the matched node '",
               node ? node->name() : std::string("?"), "' is not a ", typeid(T).name());
    return *m;
  }
};

using ConvertFn = std::function<void(const std::vector<MatchedItem>&)>;

// One element of a pattern: an exact module type (not a subclass: PyTorch compares
// type_before_parametrizations), a function target as the tracer names it ("relu", "flatten",
// "getitem", "avg_pool2d", ...), the graph's output node, or anything (PyTorch's MatchAllNode).
struct PatternElement {
  enum class Kind { Module, Function, Output, MatchAll };
  Kind kind = Kind::MatchAll;
  std::type_index module_type = typeid(void);
  std::string function;

  static PatternElement module(std::type_index type);
  template <typename M>
  static PatternElement module() {
    return module(typeid(M));
  }
  static PatternElement fn(std::string target);
  static PatternElement output();
  static PatternElement match_all();
  bool matches(const Node& node) const;
  bool operator==(const PatternElement& other) const;
  std::string str() const;  // "Linear", "relu", "output", "MatchAllNode"
};
using Pattern = std::vector<PatternElement>;

// Python's ordered {pattern: convert_fn} dict: set() of an existing pattern replaces its function
// and keeps its place; iteration is in first-insertion order.
class PatternTable {
 public:
  using Entry = std::pair<Pattern, ConvertFn>;
  PatternTable() = default;
  PatternTable(std::initializer_list<Entry> entries);
  void set(const Pattern& pattern, ConvertFn fn);
  bool contains(const Pattern& pattern) const;
  size_t size() const { return entries_.size(); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

// PyTorch's table (spec §5.4), in its order: (Linear, output), (Linear, Linear), (Conv2d, output),
// (Conv2d, Conv2d), (LSTM, getitem, Linear), (LSTM, getitem, LayerNorm, Linear), then for each of
// the 21 activation functions and 21 activation modules A: (Linear, A, Linear), (Conv2d, A,
// Conv2d), (Conv2d, A, P, Conv2d) and (Conv2d, P, A, Conv2d) for P in {AvgPool2d, avg_pool2d,
// MaxPool2d, max_pool2d}, and (once, after the first A's) (Conv2d, Q, F, Linear) for Q in
// {AdaptiveAvgPool2d, AdaptiveMaxPool2d}, F in {Flatten, flatten}.
PatternTable default_patterns();

class BaseStructuredSparsifier : public BaseSparsifier {
 public:
  // patterns: nullopt is default_patterns().
  explicit BaseStructuredSparsifier(Dict defaults = {}, std::optional<PatternTable> patterns = std::nullopt);
  ~BaseStructuredSparsifier() override;

  const PatternTable& patterns() const { return patterns_; }

  // Traces the model with example_inputs (default: the inputs of its last forward after
  // prepare(); RuntimeError when there was none), then for each node in order tries the patterns
  // in table order (each next element against the first user only, exact types) and calls the
  // convert function of a match whose head module holds a FakeStructuredSparsity. Then, like
  // PyTorch, Exception (RuntimeError) "Error: <module> still contains FakeStructuredSparsity
  // parametrizations!" if a module still holds one. Returns the traced module, which shares its
  // modules with the model: the model itself is pruned too. RuntimeError before prepare().
  // As in PyTorch, after a conversion the remaining patterns of that node are tried from the
  // match's last node (Python rebinds its loop variable); harmless, each module is converted once.
  // Unlike PyTorch, which raises only after converting the other matches, the modules no match
  // would convert are found first, so that error leaves the model as it was; the tracing forward
  // (fx's trace runs none) does not leave BiasHook's zeroing of `_bias` behind. A conversion
  // function's own error leaves the matches converted before it converted (as in PyTorch).
  std::shared_ptr<GraphModule> prune(std::optional<nn::Values> example_inputs = std::nullopt);

  std::string type_name() const override { return "BaseStructuredSparsifier"; }

  // The inputs the last forward of the model after prepare() was called with (nullopt if none).
  const std::optional<nn::Values>& last_inputs() const;

 protected:
  // {nn::Linear, nn::Conv2d, nn::LSTM}.
  std::vector<std::type_index> supported_modules() const override;
  // Spec §5.2: a FakeStructuredSparsity (bool ones of length shape[0], or group["mask"]) on each
  // tensor; on Linear/Conv2d a bias becomes the parameter `_bias`, `bias` is registered as None and
  // the object attribute "prune_bias" (group's, default true) is set, and a BiasHook is always
  // registered. LSTM gets only the parametrization.
  void prepare_groups() override;
  // A bool vector of ones of length shape[0] on the tensor's device.
  Tensor default_mask(const nn::Module& module, const std::string& tensor_name) const override;
  // FakeStructuredSparsity(mask).
  std::shared_ptr<nn::UnaryModule> default_parametrization(const Tensor& mask) const override;

 private:
  PatternTable patterns_;
  std::shared_ptr<std::optional<nn::Values>> last_inputs_;
  const nn::Module* hooked_ = nullptr;  // the model whose forward pre-hook fills last_inputs_
};

}  // namespace twig::ao
