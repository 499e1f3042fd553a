// nn::Module: parameters, buffers, plain tensor attributes and children registered by name in
// insertion order, forward pre-hooks and forward hooks, state dicts, train/eval, deep clone.
//
// Everything pruning needs is generic here: a layer reads its tensors by name through get() on
// every forward, so a pruning pre-hook (or a parametrization) can replace `weight` with a computed
// tensor without the layer knowing. Parameters are Tensor handles whose identity never changes:
// re-registering the same tensor object under another name keeps optimizers' references valid.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <typeinfo>
#include <vector>

#include "twig/nn/object.h"
#include "twig/nn/ordered_dict.h"
#include "twig/nn/value.h"
#include "twig/tensor/hooks.h"
#include "twig/tensor/tensor.h"

namespace twig::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StateDict = OrderedDict<Tensor>;

// A forward pre-hook: may return replacement inputs. Subclasses (pruning methods) are objects
// whose type can be inspected and serialized.
class ForwardPreHook {
 public:
  virtual ~ForwardPreHook() = default;
  virtual std::optional<Values> operator()(Module& module, const Values& inputs) = 0;
  virtual std::string type_name() const { return "ForwardPreHook"; }
  // The hook a deep-copied module gets; null means "share this one" (stateless hooks).
  virtual std::shared_ptr<ForwardPreHook> clone_hook() const { return nullptr; }
};

// A forward hook: may return a replacement output.
class ForwardHook {
 public:
  virtual ~ForwardHook() = default;
  virtual std::optional<Value> operator()(Module& module, const Values& inputs, const Value& output) = 0;
  virtual std::string type_name() const { return "ForwardHook"; }
  virtual std::shared_ptr<ForwardHook> clone_hook() const { return nullptr; }
};

using ForwardPreHookFn = std::function<std::optional<Values>(Module&, const Values&)>;
using ForwardHookFn = std::function<std::optional<Value>(Module&, const Values&, const Value&)>;

// What ao::trace implements beside trace::Recorder: while it is the active recorder, every
// Module::call goes to call_module (a leaf becomes one node; other modules run their forward).
class ModuleCallTracer {
 public:
  virtual ~ModuleCallTracer() = default;
  virtual Value call_module(Module& module, const Values& inputs) = 0;
};

// Result of load_state_dict(strict=false).
struct IncompatibleKeys {
  std::vector<std::string> missing_keys;
  std::vector<std::string> unexpected_keys;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  // A bare module, Python's `nn.Module()`: a holder of parameters, buffers and children whose
  // forward raises NotImplementedError.
  // (Constructors and destructor are in module.cpp: defined here they would instantiate every
  // member table's code in each user translation unit.)
  Module();
  explicit Module(std::string type_name);
  virtual ~Module();

  // "Linear", "Conv2d", ... (the Python class name).
  const std::string& type_name() const { return type_name_; }

  // ---- calling ---------------------------------------------------------------------------
  // Runs the forward pre-hooks, forward_values, then the forward hooks (registration order).
  // While a ModuleCallTracer records (ao::trace), the call goes through it.
  Value call(const Values& inputs);
  // call() without the tracer check (Python's _call_impl): what the tracer runs.
  Value call_impl(const Values& inputs);
  Value operator()(const Values& inputs) { return call(inputs); }
  // One tensor in, the output's tensor out (TypeError if the output is not a tensor).
  Tensor operator()(const Tensor& x) { return call({Value(x)}).tensor(); }
  // The forward computation on generic values. Layers with one tensor in and out derive from
  // UnaryModule instead of overriding this directly. Module's own raises NotImplementedError
  // naming the type, as Python's nn.Module does for a missing forward.
  virtual Value forward_values(const Values& inputs);

  // ---- registration (names are unique across parameters, buffers, attributes, children) ----
  // Registers t itself (not a copy) as a parameter; an undefined t registers "None". A floating
  // t is made to require grad, like torch.nn.Parameter.
  const Tensor& register_parameter(const std::string& name, const Tensor& t, bool requires_grad = true);
  const Tensor& register_buffer(const std::string& name, const Tensor& t, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    register_child(name, child);
    return child;
  }
  void register_child(const std::string& name, ModulePtr child);
  // Python's `module.name = tensor` for a name that is not a parameter or buffer: a plain tensor
  // attribute (pruning's recomputed `weight`). Assigning to a parameter's or buffer's name
  // replaces that parameter's or buffer's tensor instead.
  void set_attribute(const std::string& name, const Tensor& t);
  // Python's `module.name` for tensors: a parameter, buffer, parametrized tensor or plain
  // attribute. AttributeError naming the module type and the name when absent.
  Tensor get(const std::string& name) const;
  // Same, but an undefined Tensor when absent (or registered as None).
  Tensor get_or_undefined(const std::string& name) const;
  bool has(const std::string& name) const;
  bool is_parameter(const std::string& name) const { return parameters_.contains(name); }
  bool is_buffer(const std::string& name) const { return buffers_.contains(name); }
  bool is_attribute(const std::string& name) const { return attributes_.contains(name); }
  bool is_child(const std::string& name) const { return children_.contains(name); }
  // `del module._parameters[name]` and friends: remove and return the tensor (KeyError if absent).
  Tensor remove_parameter(const std::string& name);
  Tensor remove_buffer(const std::string& name);
  Tensor remove_attribute(const std::string& name);
  ModulePtr remove_child(const std::string& name);
  // Python's delattr: removes whichever kind `name` is (AttributeError if none).
  void delete_name(const std::string& name);
  // Plain (non-tensor) attributes, Python's `module.sparse_params = {...}`: any Object by name.
  // Setting replaces an existing one; a name held by a tensor or a child is a KeyError.
  void set_object(const std::string& name, Object value);
  // AttributeError naming the module type and the name when absent.
  const Object& object(const std::string& name) const;
  bool has_object(const std::string& name) const { return objects_.contains(name); }
  Object remove_object(const std::string& name) { return objects_.pop(name); }
  const OrderedDict<Object>& objects_dict() const { return objects_; }

  // ---- traversal (dotted names, insertion order) ------------------------------------------------
  NamedTensors named_parameters(const std::string& prefix = "", bool recurse = true) const;
  TensorList parameters(bool recurse = true) const;
  NamedTensors named_buffers(const std::string& prefix = "", bool recurse = true) const;
  TensorList buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, ModulePtr>> named_children() const;
  std::vector<ModulePtr> children() const;
  // Includes this module (name ""), each module once even if shared.
  std::vector<std::pair<std::string, ModulePtr>> named_modules(const std::string& prefix = "");
  std::vector<ModulePtr> modules();
  // The registries themselves (direct members only).
  const OrderedDict<Tensor>& parameters_dict() const { return parameters_; }
  const OrderedDict<Tensor>& buffers_dict() const { return buffers_; }
  const OrderedDict<Tensor>& attributes_dict() const { return attributes_; }
  const OrderedDict<ModulePtr>& children_dict() const { return children_; }
  bool buffer_is_persistent(const std::string& name) const;
  ModulePtr child(const std::string& name) const;
  // "seq.0.weight"-style lookup of a submodule ("" is this module); nullptr when absent.
  ModulePtr find_module(const std::string& dotted_path);

  // ---- state ----------------------------------------------------------------------------------
  // Parameters (defined ones) and persistent buffers, this module's first, then each child's.
  StateDict state_dict(const std::string& prefix = "") const;
  // Validates everything first (shapes, and with strict: missing/unexpected keys), then copies,
  // so a failing load leaves the module untouched. RuntimeError lists every problem.
  IncompatibleKeys load_state_dict(const StateDict& state, bool strict = true);

  // ---- hooks ----------------------------------------------------------------------------------
  RemovableHandle register_forward_pre_hook(std::shared_ptr<ForwardPreHook> hook);
  RemovableHandle register_forward_pre_hook(ForwardPreHookFn fn);
  RemovableHandle register_forward_hook(std::shared_ptr<ForwardHook> hook);
  RemovableHandle register_forward_hook(ForwardHookFn fn);
  HookDict<std::shared_ptr<ForwardPreHook>>& forward_pre_hooks() { return pre_hooks_; }
  const HookDict<std::shared_ptr<ForwardPreHook>>& forward_pre_hooks() const { return pre_hooks_; }
  HookDict<std::shared_ptr<ForwardHook>>& forward_hooks() { return hooks_; }
  const HookDict<std::shared_ptr<ForwardHook>>& forward_hooks() const { return hooks_; }

  // ---- modes and utilities --------------------------------------------------------------------
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Clears .grad of every parameter (set_to_none, PyTorch 2's default), or zeroes it.
  void zero_grad(bool set_to_none = true);
  // fn on every module, children first, then this one (like nn.Module.apply).
  void apply(const std::function<void(Module&)>& fn);
  // Converts parameters, buffers and attributes (floating ones only for a dtype), keeping the
  // parameter objects (their data is replaced through set_data).
  void to(Dtype dtype);
  void to(Device device);
  // A deep copy, like copy.deepcopy: new tensors (same values, same requires_grad; tensors that
  // alias each other anywhere in the tree stay aliased), new children, cloned hooks, the same
  // registration order. The copy is made by clone_instance() and then given this module's state;
  // where that instance built a child of the same name, type and configuration itself, the child
  // is kept and filled in, so members that point at children (a model's `fc1`) point into the copy.
  ModulePtr clone() const;
  int64_t num_parameters() const;

  // PyTorch's repr: "Linear(in_features=5, out_features=2, bias=True)", children indented.
  std::string repr() const;
  virtual std::string extra_repr() const { return ""; }

 protected:
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;
  // The instance clone() fills in. Either a copy (`std::make_shared<X>(*this)`: the built-in
  // layers, whose state is all in the registries) or, for a class with members that point at its
  // children, a freshly built one (`std::make_shared<Net>()` or with the same constructor
  // arguments), so those members point at the new instance's own children. clone() runs it under
  // init::SkipRandomInitGuard: building the fresh instance draws no random numbers.
  // Module's own copies a bare Module; for a subclass that does not override it, it raises
  // NotImplementedError naming the type.
  virtual ModulePtr clone_instance() const;

 private:
  void check_free_name(const std::string& name, const char* what) const;
  // clone() with one memo of tensor copies for the whole tree (keeps aliasing across modules).
  using CloneMemo = std::map<const TensorImpl*, Tensor>;
  ModulePtr clone_with(CloneMemo& memo) const;
  // Gives `dst` (a clone_instance() of this module) deep copies of this module's state.
  void copy_state_into(Module& dst, CloneMemo& memo) const;
  // fn(dotted prefix, module) for this module and every descendant, pre-order.
  void walk(const std::string& prefix, const std::function<void(const std::string&, const Module&)>& fn) const;
  // The state_dict's entries (defined parameters, persistent buffers) as the live tensors.
  NamedTensors persistent_state(const std::string& prefix) const;
  std::string type_name_;
  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  std::vector<std::string> non_persistent_buffers_;
  OrderedDict<Tensor> attributes_;
  OrderedDict<ModulePtr> children_;
  OrderedDict<Object> objects_;
  HookDict<std::shared_ptr<ForwardPreHook>> pre_hooks_;
  HookDict<std::shared_ptr<ForwardHook>> hooks_;
};

// Fresh instances by type name, for clone() of a class that does not override clone_instance():
// serialize::register_module<T>() and register_module_type<T>(name) register T() here. clone()
// uses the factory of a module's type_name() when the factory was registered for the module's
// own C++ class (`type`), before clone_instance(). Registering a name again replaces it.
void register_module_factory(const std::string& type_name, const std::type_info& type, std::function<ModulePtr()> make);

// A module with one tensor in and one tensor out (activations, Linear, Conv, pools, ...).
class UnaryModule : public Module {
 public:
  using Module::Module;
  using Module::operator();
  virtual Tensor forward(const Tensor& x) = 0;
  Value forward_values(const Values& inputs) override;
};

std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace twig::nn
