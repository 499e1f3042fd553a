// A torch.fx-like graph of a model's forward, recorded by running it once (eager tracing), for the
// structured pruners to match patterns on.
//
// trace(model, inputs) runs model's forward with a recorder active (tensor/trace.h): one
// `placeholder` per input ("x", "x_1", ...); a `call_module` node per call of a leaf module
// (target: its dotted name, "seq.0"; nothing inside it is recorded); containers and user modules
// are traced through; a `call_function` node per instrumented op (the list is in tensor/trace.h;
// C++ methods and free functions both record under the torch function name: x.flatten(1) is
// "flatten"); a `get_attr` node per parameter or buffer read outside a leaf (target "fc.weight");
// one `output` node. Names are fx's: the target with '.' as '_', then _1, _2 for repeats.
//
// Leaves are decided by the exact C++ type (typeid), not by "has no children": the built-in layers
// (Linear, Conv2d/3d, LSTM, LayerNorm, BatchNorm2d, Embedding, Dropout, Flatten, Identity, the
// pools and all activation modules) and any type given to mark_leaf<T>(). A parametrized Linear is
// still a leaf; a user subclass of Linear is not (its forward's F::linear is recorded).
//
// Tuples: a node whose output is a tuple or list (LSTM's (out, (h, c)), split, chunk) gets one
// `getitem` node per element right after it, index 0 first, as fx's `out, hidden = lstm(x)` does;
// the elements of a nested tuple get getitem nodes when first used.
//
// In-place ops on the list (add_, mul_, relu_, +=, ...) are nodes whose output is the tensor
// they changed: later uses of it take that node, and a replay runs the op in place again.
//
// The tracing run has autograd on, and each floating example input is replaced by a copy that
// requires grad (the caller's tensors are not changed, even by a forward that writes its input in
// place), so whatever depends on the inputs or parameters requires grad. An argument of a node
// that no node produced and that is no parameter or buffer is a constant of the graph if it does
// not require grad (zeros({2}) made in the forward); if it does, an op the tracer does not record
// computed it and a replay would reuse a stale value: RuntimeError "the input of <op> (a tensor of
// shape [...]) was computed by an op the tracer does not record". Likewise a node's output that an
// unrecorded in-place op (masked_fill_, index_put_, copy_, ...) changed afterwards (its version
// moved): "... was modified in place by an op the tracer does not record". Not detected: results
// that cannot require grad (integer ones such as argmax) and a forward that turns autograd off or
// detaches. Buffers (BatchNorm's running stats) are restored afterwards; no gradient is left on
// the parameters. An exception in the forward propagates and leaves no recorder active.
#pragma once

#include <memory>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <unordered_map>
#include <vector>

#include "twig/nn/module.h"
#include "twig/tensor/trace.h"

namespace twig::ao {

enum class Opcode { placeholder, get_attr, call_module, call_function, output };
const char* opcode_name(Opcode op);  // "placeholder", "call_module", ...

class Node;

// One argument of a node: another node, a constant tensor (kept for replay; undefined prints
// None), another constant in printable form, or a tuple/list of arguments.
struct Argument {
  enum class Kind { Node, Tensor, Constant, Tuple };
  Kind kind = Kind::Constant;
  Node* node = nullptr;
  Tensor tensor;
  std::string text;
  std::vector<Argument> items;
  bool is_list = false;  // a Tuple printed as [a, b] (cat's tensors)
  std::string str() const;
};

class Node {
 public:
  Opcode op() const { return op_; }
  const std::string& name() const { return name_; }
  // call_module: the module's dotted name; call_function: the function ("relu", "getitem");
  // get_attr: the tensor's dotted name; placeholder: its name; output: "output".
  const std::string& target() const { return target_; }
  const std::vector<Argument>& args() const { return args_; }
  const trace::Kwargs& kwargs() const { return kwargs_; }
  // The nodes that take this one as an input, each once, in creation order (fx's node.users).
  const std::vector<Node*>& users() const { return users_; }
  // The nodes among this one's args, each once, in order (fx's all_input_nodes).
  std::vector<Node*> input_nodes() const;
  // call_module: the module object (shared with the traced model); null otherwise.
  const nn::ModulePtr& module() const { return module_; }
  // Whether this is a call_module node whose module's exact type is T (not a subclass).
  template <typename T>
  bool is_module() const {
    return module_ && typeid(*module_) == typeid(T);
  }
  // getitem: the index taken; -1 for other nodes.
  int64_t index() const { return index_; }
  // What this node produced in the tracing run (shapes, dtypes).
  const nn::Value& example() const { return example_; }
  // call_function: re-runs the op with `x` as its first argument and the other arguments of the
  // tracing run (constants such as F::leaky_relu's slope; another node's input, such as prelu's
  // weight read as get_attr, with the value it had then); returns the output tensor.
  // RuntimeError for other nodes, a getitem, an op whose first argument is no node, and list
  // outputs.
  Tensor replay_unary(const Tensor& x) const;

 private:
  friend class Graph;
  friend class Tracer;
  friend class GraphModule;
  Opcode op_ = Opcode::placeholder;
  std::string name_, target_;
  std::vector<Argument> args_;
  trace::Kwargs kwargs_;
  std::vector<Node*> users_;
  nn::ModulePtr module_;
  int64_t index_ = -1;
  bool list_output_ = false;
  trace::Replay replay_;
  nn::Value example_;
};

class Graph {
 public:
  // All nodes in creation (topological) order.
  std::vector<Node*> nodes() const;
  std::vector<Node*> placeholders() const;
  Node* output() const;
  // The node named `name`, or null.
  Node* find(const std::string& name) const;
  // The node that produced `t` in the tracing run (for tensors of that run: an input, an op's
  // result, a parameter or buffer read as get_attr); null for any other tensor.
  Node* node_of(const Tensor& t) const;
  // fx's graph.print_tabular(): one row per node, columns opcode, name, target, args, kwargs.
  std::string print_tabular() const;

 private:
  friend class Tracer;
  friend class GraphModule;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unordered_map<std::string, Node*> by_name_;
  std::unordered_map<const TensorImpl*, Node*> producer_;
};

// The traced model: an nn::Module whose children are the traced model's own children (the same
// objects, so mutating a module of either is seen by both). Calling it replays the graph: module
// nodes call module->call(...) (hooks and parametrizations run), function nodes re-run their op,
// get_attr nodes read the module's tensor anew.
class GraphModule : public nn::Module {
 public:
  GraphModule(nn::ModulePtr root, std::unique_ptr<Graph> graph);
  const Graph& graph() const { return *graph_; }
  // The traced model.
  const nn::ModulePtr& root() const { return root_; }
  // TypeError if the number of inputs differs from the placeholders'.
  nn::Value forward_values(const nn::Values& inputs) override;

 protected:
  nn::ModulePtr clone_instance() const override;

 private:
  nn::ModulePtr root_;
  std::shared_ptr<Graph> graph_;
};

// Runs model's forward once on example_inputs and records its graph. ValueError if a module
// called in the forward is not a submodule of model; whatever the forward raises propagates.
std::shared_ptr<GraphModule> trace(const nn::ModulePtr& model, const nn::Values& example_inputs);

// Leaf types (exact type): the built-in layers, and the types marked here.
void mark_leaf(const std::type_info& type);
template <typename T>
void mark_leaf() {
  mark_leaf(typeid(T));
}
bool is_leaf_type(const std::type_info& type);

}  // namespace twig::ao
