#include "twig/ao/graph.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "twig/autograd/grad_mode.h"
#include "twig/nn/activation.h"
#include "twig/nn/conv.h"
#include "twig/nn/dropout.h"
#include "twig/nn/embedding.h"
#include "twig/nn/linear.h"
#include "twig/nn/normalization.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"
#include "twig/tensor/error.h"
#include "twig/tensor/tensor_impl.h"

namespace twig::ao {

using nn::Value;
using nn::Values;

const char* opcode_name(Opcode op) {
  switch (op) {
    case Opcode::placeholder:
      return "placeholder";
    case Opcode::get_attr:
      return "get_attr";
    case Opcode::call_module:
      return "call_module";
    case Opcode::call_function:
      return "call_function";
    case Opcode::output:
      return "output";
  }
  return "?";
}

// ---- leaf types ---------------------------------------------------------------------------------

namespace {

struct LeafTypes {
  std::mutex mutex;
  std::set<std::type_index> types{typeid(nn::Linear),
                                  typeid(nn::Conv2d),
                                  typeid(nn::Conv3d),
                                  typeid(nn::LSTM),
                                  typeid(nn::LayerNorm),
                                  typeid(nn::BatchNorm2d),
                                  typeid(nn::Embedding),
                                  typeid(nn::Dropout),
                                  typeid(nn::Flatten),
                                  typeid(nn::Identity),
                                  typeid(nn::MaxPool2d),
                                  typeid(nn::AvgPool2d),
                                  typeid(nn::AdaptiveAvgPool2d),
                                  typeid(nn::AdaptiveMaxPool2d),
                                  typeid(nn::ReLU),
                                  typeid(nn::RReLU),
                                  typeid(nn::Hardtanh),
                                  typeid(nn::ReLU6),
                                  typeid(nn::Sigmoid),
                                  typeid(nn::Hardsigmoid),
                                  typeid(nn::Tanh),
                                  typeid(nn::SiLU),
                                  typeid(nn::Mish),
                                  typeid(nn::Hardswish),
                                  typeid(nn::ELU),
                                  typeid(nn::CELU),
                                  typeid(nn::SELU),
                                  typeid(nn::Hardshrink),
                                  typeid(nn::LeakyReLU),
                                  typeid(nn::LogSigmoid),
                                  typeid(nn::Softplus),
                                  typeid(nn::PReLU),
                                  typeid(nn::Softsign),
                                  typeid(nn::Tanhshrink),
                                  typeid(nn::GELU),
                                  typeid(nn::Softmax),
                                  typeid(nn::LogSoftmax)};
};

LeafTypes& leaf_types() {
  static LeafTypes leaves;
  return leaves;
}

// fx's node names: characters other than letters, digits and '_' become '_', and a name that
// starts with a digit gets a leading '_' (a Sequential root's "0" is "_0").
std::string sanitize(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(out.begin(), '_');
  return out;
}

std::string tensor_text(const Tensor& t) {
  if (!t.defined()) return "None";
  std::ostringstream os;
  os << "tensor(shape=" << trace::repr(t.sizes()) << ", dtype=" << dtype_name(t.dtype()) << ")";
  return os.str();
}

void collect_nodes(const Argument& a, std::vector<Node*>& out) {
  if (a.kind == Argument::Kind::Node) {
    if (std::find(out.begin(), out.end(), a.node) == out.end()) out.push_back(a.node);
  } else if (a.kind == Argument::Kind::Tuple) {
    for (const Argument& item : a.items) collect_nodes(item, out);
  }
}

bool same_value(const Value& a, const Value& b) {
  if (a.is_tensor() && b.is_tensor()) return a.tensor().is_same(b.tensor());
  if (a.is_tuple() && b.is_tuple()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!same_value(a[i], b[i])) return false;
    }
    return true;
  }
  return a.is_none() && b.is_none();
}

void tensors_of(const Value& v, std::vector<const Tensor*>& out) {
  if (v.is_tensor()) out.push_back(&v.tensor());
  for (size_t i = 0; i < v.size(); ++i) tensors_of(v[i], out);
}

const Tensor* first_tensor(const Value& v) {
  if (v.is_tensor()) return &v.tensor();
  for (size_t i = 0; i < v.size(); ++i) {
    if (const Tensor* t = first_tensor(v[i])) return t;
  }
  return nullptr;
}

}  // namespace

void mark_leaf(const std::type_info& type) {
  std::lock_guard<std::mutex> lock(leaf_types().mutex);
  leaf_types().types.insert(type);
}

bool is_leaf_type(const std::type_info& type) {
  std::lock_guard<std::mutex> lock(leaf_types().mutex);
  return leaf_types().types.contains(type);
}

// ---- Argument, Node, Graph ----------------------------------------------------------------------

std::string Argument::str() const {
  switch (kind) {
    case Kind::Node:
      return node->name();
    case Kind::Tensor:
      return tensor_text(tensor);
    case Kind::Constant:
      return text;
    case Kind::Tuple: {
      std::string s = is_list ? "[" : "(";
      for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + items[i].str();
      if (!is_list && items.size() == 1) s += ",";
      return s + (is_list ? "]" : ")");
    }
  }
  return "";
}

std::vector<Node*> Node::input_nodes() const {
  std::vector<Node*> out;
  for (const Argument& a : args_) collect_nodes(a, out);
  return out;
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  for (const auto& n : nodes_) out.push_back(n.get());
  return out;
}

std::vector<Node*> Graph::placeholders() const {
  std::vector<Node*> out;
  for (const auto& n : nodes_) {
    if (n->op() == Opcode::placeholder) out.push_back(n.get());
  }
  return out;
}

Node* Graph::output() const {
  for (const auto& n : nodes_) {
    if (n->op() == Opcode::output) return n.get();
  }
  return nullptr;
}

Node* Graph::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::node_of(const Tensor& t) const {
  auto it = producer_.find(t.impl());
  return it == producer_.end() ? nullptr : it->second;
}

std::string Graph::print_tabular() const {
  std::vector<std::vector<std::string>> rows{{"opcode", "name", "target", "args", "kwargs"}};
  for (const auto& n : nodes_) {
    std::string args = "(";
    for (size_t i = 0; i < n->args().size(); ++i) args += (i ? ", " : "") + n->args()[i].str();
    args += n->args().size() == 1 ? ",)" : ")";
    std::string kwargs = "{";
    for (size_t i = 0; i < n->kwargs().size(); ++i) {
      kwargs += (i ? ", " : "") + n->kwargs()[i].first + ": " + n->kwargs()[i].second;
    }
    rows.push_back({opcode_name(n->op()), n->name(), n->target(), args, kwargs + "}"});
  }
  std::vector<size_t> width(5, 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < 5; ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    for (size_t c = 0; c < 5; ++c) {
      out += r[c];
      if (c + 1 < 5) out += std::string(width[c] - r[c].size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\n";
  };
  line(rows[0]);
  std::vector<std::string> dashes;
  for (size_t c = 0; c < 5; ++c) dashes.push_back(std::string(width[c], '-'));
  line(dashes);
  for (size_t i = 1; i < rows.size(); ++i) line(rows[i]);
  return out;
}

// ---- the tracer ---------------------------------------------------------------------------------

class Tracer : public trace::Recorder, public nn::ModuleCallTracer {
 public:
  Tracer(const nn::ModulePtr& root, Graph& graph) : root_(root), g_(graph) {
    for (const auto& [name, m] : root->named_modules()) module_names_[m.get()] = name;
    for (const auto& [name, t] : root->named_parameters()) attr_names_[t.impl()] = name;
    for (const auto& [name, t] : root->named_buffers()) attr_names_[t.impl()] = name;
  }

  // `traced` is what the forward gets (given, or its grad-requiring copy); node_of(given) is this
  // placeholder too.
  Node* placeholder(const Value& given, const Value& traced) {
    Node* n = add(Opcode::placeholder, "x", "", {}, {});
    n->target_ = n->name_;
    bind(n, traced, false);
    std::vector<const Tensor*> a, b;
    tensors_of(given, a);
    tensors_of(traced, b);
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) g_.producer_.emplace(a[i]->impl(), n);
    return n;
  }

  void finish(const Value& out) {
    Node* n = add(Opcode::output, "output", "output", {resolve(out, "output")}, {});
    n->example_ = out;
  }

  // trace::Recorder
  void record(trace::Op op) override {
    // An in-place op (add_, relu_, ...) returns its own input, whose version it has just bumped.
    in_place_.clear();
    for (const Tensor& t : op.outputs) in_place_.push_back(t.impl());
    std::vector<Argument> args;
    for (const trace::Arg& a : op.args) {
      if (a.kind == trace::Arg::Kind::Tensor) {
        args.push_back(resolve(a.tensor, op.target));
      } else if (a.kind == trace::Arg::Kind::List) {
        Argument list;
        list.kind = Argument::Kind::Tuple;
        list.is_list = true;
        for (const Tensor& t : a.list) list.items.push_back(resolve(t, op.target));
        args.push_back(std::move(list));
      } else {
        args.push_back(constant(a.text));
      }
    }
    in_place_.clear();
    Node* n = add(Opcode::call_function, op.target, op.target, std::move(args), std::move(op.kwargs));
    n->replay_ = std::move(op.replay);
    n->list_output_ = op.list_output;
    if (op.list_output) {
      std::vector<Value> items(op.outputs.begin(), op.outputs.end());
      bind(n, Value::tuple(std::move(items)), true);
    } else {
      bind(n, Value(op.outputs.at(0)), true);
    }
  }

  // nn::ModuleCallTracer
  Value call_module(nn::Module& m, const Values& inputs) override {
    if (trace::depth() > 0 || !is_leaf_type(typeid(m))) return m.call_impl(inputs);
    auto it = module_names_.find(&m);
    TWIG_CHECK(it != module_names_.end(), ValueError, "trace: a module of type ", m.type_name(),
               " is called in the forward but is not a submodule of the traced ", root_->type_name());
    std::vector<Argument> args;
    for (const Value& v : inputs) args.push_back(resolve(v, it->second));
    Value out;
    {
      trace::Scope scope;  // nothing inside a leaf is recorded
      out = m.call_impl(inputs);
    }
    Node* n = add(Opcode::call_module, sanitize(it->second), it->second, std::move(args), {});
    n->module_ = m.shared_from_this();
    bind(n, out, true);
    return out;
  }

 private:
  // Where a tensor of the run came from: a node, and the path of indices into its tuple output
  // that has no getitem node yet.
  struct Ref {
    Node* node;
    std::vector<size_t> path;
  };

  Node* add(Opcode op, const std::string& base, const std::string& target, std::vector<Argument> args,
            trace::Kwargs kwargs) {
    auto node = std::make_unique<Node>();
    Node* n = node.get();
    n->op_ = op;
    const std::string stem = sanitize(base);
    int& k = counts_[stem];
    do {
      n->name_ = k ? stem + "_" + std::to_string(k) : stem;
      ++k;
    } while (g_.by_name_.contains(n->name_));
    n->target_ = target;
    n->args_ = std::move(args);
    n->kwargs_ = std::move(kwargs);
    for (Node* in : n->input_nodes()) in->users_.push_back(n);
    g_.by_name_[n->name_] = n;
    g_.nodes_.push_back(std::move(node));
    return n;
  }

  // Records that n produced v. A tuple gets one getitem node per element when `eager` (a node's
  // own output); otherwise its tensors are remembered with their paths (getitem on first use).
  void bind(Node* n, const Value& v, bool eager) {
    n->example_ = v;
    if (v.is_tensor()) {
      refs_[v.tensor().impl()] = Ref{n, {}};
      g_.producer_[v.tensor().impl()] = n;
      seen_version(v.tensor());
    } else if (v.is_tuple()) {
      if (eager) {
        for (size_t i = 0; i < v.size(); ++i) getitem(n, i);
      } else {
        bind_leaves(n, v, {});
      }
    }
  }

  void bind_leaves(Node* n, const Value& v, const std::vector<size_t>& path) {
    if (v.is_tensor()) {
      refs_[v.tensor().impl()] = Ref{n, path};
      g_.producer_.emplace(v.tensor().impl(), n);
      seen_version(v.tensor());
    }
    for (size_t i = 0; i < v.size(); ++i) {
      std::vector<size_t> p = path;
      p.push_back(i);
      bind_leaves(n, v[i], p);
    }
  }

  Node* getitem(Node* from, size_t i) {
    Node* n = add(Opcode::call_function, "getitem", "getitem", {node_arg(from), constant(std::to_string(i))}, {});
    n->index_ = static_cast<int64_t>(i);
    Value item = from->example_[i];
    bind(n, item, false);
    return n;
  }

  // The node whose output is `path` into n's output, creating the getitem nodes on the way.
  Node* materialize(Node* n, const std::vector<size_t>& path, size_t len) {
    for (size_t i = 0; i < len; ++i) n = getitem(n, path[i]);
    return n;
  }

  // Remembers the version of t's storage as the graph knows it (after the op that produced it).
  void seen_version(const Tensor& t) { versions_[t.impl()->version.get()] = t.version(); }

  // The argument for tensor t that the op or module `consumer` takes. Raises where a replay could
  // not reproduce t: t was changed in place by an op that no node records, or t depends on the
  // inputs or parameters (it requires grad in the tracing run) but no node produced it.
  Argument resolve(const Tensor& t, const std::string& consumer) {
    if (!t.defined()) {
      Argument a;
      a.kind = Argument::Kind::Tensor;
      return a;
    }
    if (auto it = refs_.find(t.impl()); it != refs_.end()) {
      bool own_output = std::find(in_place_.begin(), in_place_.end(), t.impl()) != in_place_.end();
      auto known = versions_.find(t.impl()->version.get());
      TWIG_CHECK(own_output || known == versions_.end() || known->second == t.version(), RuntimeError,
                 "trace: the input of ", consumer, " (a tensor of shape ", t.sizes(),
                 ") was modified in place by an op the tracer does not record, so a replay would not "
                 "reproduce it; use a recorded op (twig/tensor/trace.h lists them) or make the module "
                 "doing it a leaf (ao::mark_leaf)");
      Ref ref = it->second;
      return node_arg(materialize(ref.node, ref.path, ref.path.size()));
    }
    if (auto it = attr_names_.find(t.impl()); it != attr_names_.end()) {
      auto [pos, fresh] = attrs_.try_emplace(it->second, nullptr);
      if (fresh) {
        pos->second = add(Opcode::get_attr, it->second, it->second, {}, {});
        pos->second->example_ = t;
        g_.producer_[t.impl()] = pos->second;
      }
      return node_arg(pos->second);
    }
    TWIG_CHECK(!t.requires_grad(), RuntimeError, "trace: the input of ", consumer, " (a tensor of shape ", t.sizes(),
               ") was computed by an op the tracer does not record, so a replay would reuse its value from "
               "the tracing run; use a recorded op (twig/tensor/trace.h lists them) or make the module "
               "computing it a leaf (ao::mark_leaf)");
    Argument a;  // a constant: it depends on neither the inputs nor the parameters
    a.kind = Argument::Kind::Tensor;
    a.tensor = t;
    return a;
  }

  Argument resolve(const Value& v, const std::string& consumer) {
    if (v.is_tensor()) return resolve(v.tensor(), consumer);
    if (v.is_none()) return constant("None");
    // A tuple that is exactly (part of) some node's output is that node (or a getitem of it).
    if (const Tensor* t = first_tensor(v)) {
      if (auto it = refs_.find(t->impl()); it != refs_.end()) {
        Ref ref = it->second;
        for (size_t len = 0; len <= ref.path.size(); ++len) {
          Value sub = ref.node->example_;
          for (size_t i = 0; i < len; ++i) {
            Value next = sub[ref.path[i]];
            sub = next;
          }
          if (same_value(sub, v)) return node_arg(materialize(ref.node, ref.path, len));
        }
      }
    }
    Argument a;
    a.kind = Argument::Kind::Tuple;
    for (const Value& item : v.items()) a.items.push_back(resolve(item, consumer));
    return a;
  }

  static Argument node_arg(Node* n) {
    Argument a;
    a.kind = Argument::Kind::Node;
    a.node = n;
    return a;
  }
  static Argument constant(std::string text) {
    Argument a;
    a.kind = Argument::Kind::Constant;
    a.text = std::move(text);
    return a;
  }

  nn::ModulePtr root_;
  Graph& g_;
  std::unordered_map<const nn::Module*, std::string> module_names_;
  std::unordered_map<const TensorImpl*, std::string> attr_names_;
  std::unordered_map<const TensorImpl*, Ref> refs_;
  std::unordered_map<std::string, Node*> attrs_;
  std::unordered_map<std::string, int> counts_;
  std::unordered_map<const VersionCounter*, uint32_t> versions_;
  std::vector<const TensorImpl*> in_place_;  // while record() resolves: the op's outputs
};

namespace {

// A floating tensor becomes a copy that requires grad (not a leaf, so the forward may change it in
// place), so every tensor computed from it requires grad too; the caller's tensor is not touched.
Value traced_input(const Value& v) {
  if (v.is_tensor()) {
    const Tensor& t = v.tensor();
    if (!t.defined() || !is_floating(t.dtype())) return v;
    return Value(t.detach().requires_grad_().clone());
  }
  if (v.is_tuple()) {
    std::vector<Value> items;
    for (const Value& item : v.items()) items.push_back(traced_input(item));
    return Value::tuple(std::move(items));
  }
  return v;
}

}  // namespace

std::shared_ptr<GraphModule> trace(const nn::ModulePtr& model, const Values& example_inputs) {
  TWIG_CHECK(model != nullptr, ValueError, "trace: the model is null");
  auto graph = std::make_unique<Graph>();
  Tracer tracer(model, *graph);
  Values inputs;
  {
    EnableGradGuard grad;
    for (const Value& v : example_inputs) {
      inputs.push_back(traced_input(v));
      tracer.placeholder(v, inputs.back());
    }
  }
  // The run must not change the model: buffers (running stats) are put back afterwards.
  struct BufferRestore {
    std::vector<std::pair<Tensor, Tensor>> saved;
    ~BufferRestore() {
      NoGradGuard no_grad;
      for (auto& [live, copy] : saved) live.data().copy_(copy);
    }
  } restore;
  {
    NoGradGuard no_grad;
    for (const Tensor& b : model->buffers()) {
      if (b.defined()) restore.saved.emplace_back(b, b.clone());
    }
  }
  Value out;
  {
    // With autograd on, what depends on the inputs or parameters requires grad: resolve() tells
    // such a tensor that no node produced (an op the tracer does not record) from a constant.
    EnableGradGuard grad;
    trace::ActiveRecorder active(&tracer);
    out = model->call_impl(inputs);
  }
  tracer.finish(out);
  return std::make_shared<GraphModule>(model, std::move(graph));
}

// ---- GraphModule --------------------------------------------------------------------------------

GraphModule::GraphModule(nn::ModulePtr root, std::unique_ptr<Graph> graph)
    : Module("GraphModule"), root_(std::move(root)), graph_(std::move(graph)) {
  for (const auto& [name, child] : root_->named_children()) register_child(name, child);
  for (const auto& [name, t] : root_->parameters_dict()) register_parameter(name, t, t.defined() && t.requires_grad());
  for (const auto& [name, t] : root_->buffers_dict()) register_buffer(name, t, root_->buffer_is_persistent(name));
}

nn::ModulePtr GraphModule::clone_instance() const {
  TWIG_THROW(NotImplementedError, "GraphModule cannot be cloned; trace a clone of the model instead");
}

namespace {

Value value_of(const Argument& a, const std::unordered_map<const Node*, Value>& env) {
  switch (a.kind) {
    case Argument::Kind::Node:
      return env.at(a.node);
    case Argument::Kind::Tensor:
      return a.tensor.defined() ? Value(a.tensor) : Value();
    case Argument::Kind::Constant:
      return Value();
    case Argument::Kind::Tuple: {
      std::vector<Value> items;
      for (const Argument& item : a.items) items.push_back(value_of(item, env));
      return Value::tuple(std::move(items));
    }
  }
  return Value();
}

void flat_tensors(const Argument& a, const std::unordered_map<const Node*, Value>& env, TensorList& out) {
  if (a.kind == Argument::Kind::Node) {
    out.push_back(env.at(a.node).tensor());
  } else if (a.kind == Argument::Kind::Tensor) {
    out.push_back(a.tensor);
  } else if (a.kind == Argument::Kind::Tuple) {
    for (const Argument& item : a.items) flat_tensors(item, env, out);
  }
}

// The tensors of `a` as a replay takes them, the first node argument replaced by `x` (`used` says
// whether it was) and other nodes taking their example values.
void replay_inputs(const Argument& a, const Tensor& x, bool& used, TensorList& out) {
  if (a.kind == Argument::Kind::Node) {
    out.push_back(used ? a.node->example().tensor() : x);
    used = true;
  } else if (a.kind == Argument::Kind::Tensor) {
    out.push_back(a.tensor);
  } else if (a.kind == Argument::Kind::Tuple) {
    for (const Argument& item : a.items) replay_inputs(item, x, used, out);
  }
}

}  // namespace

Tensor Node::replay_unary(const Tensor& x) const {
  TWIG_CHECK(op_ == Opcode::call_function && index_ < 0 && replay_ && !list_output_, RuntimeError,
             "Node::replay_unary: node '", name_, "' (", opcode_name(op_), " ", target_,
             ") is not a function of a tensor with one tensor output");
  TWIG_CHECK(!args_.empty() && args_[0].kind == Argument::Kind::Node, RuntimeError, "Node::replay_unary: node '", name_,
             "' (", target_, ") does not take a node as its first argument");
  TensorList in;
  bool used = false;
  for (const Argument& a : args_) replay_inputs(a, x, used, in);
  TensorList out = replay_(in);
  TWIG_CHECK(out.size() == 1, RuntimeError, "Node::replay_unary: node '", name_, "' gave ", out.size(), " outputs");
  return out[0];
}

Value GraphModule::forward_values(const Values& inputs) {
  std::vector<Node*> placeholders = graph_->placeholders();
  TWIG_CHECK(inputs.size() == placeholders.size(), TypeError, "GraphModule.forward() takes ", placeholders.size(),
             " inputs but ", inputs.size(), " were given");
  std::unordered_map<const Node*, Value> env;
  size_t next_input = 0;
  for (const auto& node : graph_->nodes_) {
    const Node* n = node.get();
    switch (n->op()) {
      case Opcode::placeholder:
        env[n] = inputs[next_input++];
        break;
      case Opcode::get_attr: {
        const std::string& fqn = n->target();
        size_t dot = fqn.rfind('.');
        nn::ModulePtr owner = dot == std::string::npos ? root_ : root_->find_module(fqn.substr(0, dot));
        TWIG_CHECK(owner != nullptr, AttributeError, "GraphModule: the traced model has no module for '", fqn, "'");
        env[n] = owner->get(dot == std::string::npos ? fqn : fqn.substr(dot + 1));
        break;
      }
      case Opcode::call_module: {
        Values args;
        for (const Argument& a : n->args()) args.push_back(value_of(a, env));
        env[n] = n->module()->call(args);
        break;
      }
      case Opcode::call_function: {
        if (n->index() >= 0) {
          Value item = env.at(n->args()[0].node)[static_cast<size_t>(n->index())];
          env[n] = item;
          break;
        }
        TensorList in;
        for (const Argument& a : n->args()) flat_tensors(a, env, in);
        TensorList out = n->replay_(in);
        if (n->list_output_) {
          env[n] = Value::tuple(std::vector<Value>(out.begin(), out.end()));
        } else {
          env[n] = out.at(0);
        }
        break;
      }
      case Opcode::output:
        return value_of(n->args()[0], env);
    }
  }
  TWIG_THROW(RuntimeError, "GraphModule: the graph has no output node");
}

}  // namespace twig::ao
