#include "twig/nn/module.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <typeinfo>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/init.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

// ---- Value ------------------------------------------------------------------------------------

const Tensor& Value::tensor() const {
  TWIG_CHECK(is_tensor(), TypeError, "expected a Tensor but the value is ", kind());
  return std::get<Tensor>(v_);
}

const std::vector<Value>& Value::items() const {
  TWIG_CHECK(is_tuple(), TypeError, "expected a tuple but the value is ", kind());
  return std::get<std::vector<Value>>(v_);
}

const Value& Value::operator[](size_t i) const {
  const auto& v = items();
  TWIG_CHECK(i < v.size(), IndexError, "tuple index ", i, " out of range (size ", v.size(), ")");
  return v[i];
}

// ---- calling ----------------------------------------------------------------------------------

Value Module::call(const Values& inputs) {
  if (trace::Recorder* r = trace::active()) [[unlikely]] {
    if (auto* tracer = dynamic_cast<ModuleCallTracer*>(r)) return tracer->call_module(*this, inputs);
  }
  return call_impl(inputs);
}

Value Module::call_impl(const Values& inputs) {
  Values args = inputs;
  for (auto& [id, hook] : pre_hooks_.snapshot()) {
    std::optional<Values> replaced = (*hook)(*this, args);
    if (replaced) args = std::move(*replaced);
  }
  Value out = forward_values(args);
  for (auto& [id, hook] : hooks_.snapshot()) {
    std::optional<Value> replaced = (*hook)(*this, args, out);
    if (replaced) out = std::move(*replaced);
  }
  return out;
}

Module::Module() : Module("Module") {}

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

Module::~Module() = default;

Value Module::forward_values(const Values&) {
  TWIG_THROW(NotImplementedError, "Module [", type_name(), "] is missing the required \"forward\" function");
}

ModulePtr Module::clone_instance() const {
  TWIG_CHECK(typeid(*this) == typeid(Module), NotImplementedError, "Module [", type_name(),
             "] cannot be cloned: its class does not override clone_instance() and no factory is registered for it "
             "(call twig::serialize::register_module<ThatClass>() once, or override clone_instance())");
  return ModulePtr(new Module(*this));  // the copy constructor is protected
}

Value UnaryModule::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 1, TypeError, type_name(), ".forward() takes 1 input but ", inputs.size(), " were given");
  return forward(inputs[0].tensor());
}

// ---- registration -----------------------------------------------------------------------------

void Module::check_free_name(const std::string& name, const char* what) const {
  TWIG_CHECK(!name.empty(), KeyError, what, " name can't be empty string \"\"");
  TWIG_CHECK(name.find('.') == std::string::npos, KeyError, what, " name can't contain \".\", got \"", name, "\"");
  TWIG_CHECK(!parameters_.contains(name) && !buffers_.contains(name) && !attributes_.contains(name) &&
                 !children_.contains(name) && !objects_.contains(name),
             KeyError, "attribute '", name, "' already exists in ", type_name_);
}

const Tensor& Module::register_parameter(const std::string& name, const Tensor& t, bool requires_grad) {
  check_free_name(name, "parameter");
  if (t.defined() && is_floating(t.dtype()) && t.is_leaf()) t.requires_grad_(requires_grad);
  return parameters_.insert(name, t);
}

const Tensor& Module::register_buffer(const std::string& name, const Tensor& t, bool persistent) {
  check_free_name(name, "buffer");
  if (!persistent) non_persistent_buffers_.push_back(name);
  return buffers_.insert(name, t);
}

void Module::register_child(const std::string& name, ModulePtr child) {
  check_free_name(name, "module");
  TWIG_CHECK(child.get() != this, ValueError, "cannot register a module as its own child ('", name, "')");
  children_.insert(name, std::move(child));
}

void Module::set_attribute(const std::string& name, const Tensor& t) {
  if (Tensor* p = parameters_.find(name)) {
    *p = t;
    return;
  }
  if (Tensor* b = buffers_.find(name)) {
    *b = t;
    return;
  }
  if (Tensor* a = attributes_.find(name)) {
    *a = t;
    return;
  }
  TWIG_CHECK(!children_.contains(name), TypeError, "cannot assign a Tensor to '", name, "': it is a child module of ",
             type_name_);
  if (const ModulePtr* p = children_.find("parametrizations")) {
    TWIG_CHECK(!(*p)->is_child(name), RuntimeError, "parametrization(s) of '", name,
               "' do not implement right_inverse, so the parametrized tensor cannot be assigned; assign to "
               "parametrizations.",
               name, ".original instead");
  }
  check_free_name(name, "attribute");
  attributes_.insert(name, t);
}

Tensor Module::get_or_undefined(const std::string& name) const {
  if (const Tensor* p = parameters_.find(name)) return *p;
  if (const Tensor* b = buffers_.find(name)) return *b;
  if (const Tensor* a = attributes_.find(name)) return *a;
  if (const ModulePtr* p = children_.find("parametrizations")) {
    if (ModulePtr list = (*p)->child(name)) return std::static_pointer_cast<ParametrizationList>(list)->value();
  }
  return Tensor();
}

Tensor Module::get(const std::string& name) const {
  TWIG_CHECK(has(name), AttributeError, "'", type_name_, "' object has no attribute '", name, "'");
  return get_or_undefined(name);
}

bool Module::has(const std::string& name) const {
  if (parameters_.contains(name) || buffers_.contains(name) || attributes_.contains(name)) return true;
  if (const ModulePtr* p = children_.find("parametrizations")) return (*p)->is_child(name);
  return false;
}

void Module::set_object(const std::string& name, Object value) {
  if (Object* o = objects_.find(name)) {
    *o = std::move(value);
    return;
  }
  check_free_name(name, "attribute");
  objects_.insert(name, std::move(value));
}

const Object& Module::object(const std::string& name) const {
  const Object* o = objects_.find(name);
  TWIG_CHECK(o != nullptr, AttributeError, "'", type_name_, "' object has no attribute '", name, "'");
  return *o;
}

Tensor Module::remove_parameter(const std::string& name) { return parameters_.pop(name); }
Tensor Module::remove_attribute(const std::string& name) { return attributes_.pop(name); }
ModulePtr Module::remove_child(const std::string& name) { return children_.pop(name); }

Tensor Module::remove_buffer(const std::string& name) {
  Tensor t = buffers_.pop(name);
  non_persistent_buffers_.erase(std::remove(non_persistent_buffers_.begin(), non_persistent_buffers_.end(), name),
                                non_persistent_buffers_.end());
  return t;
}

void Module::delete_name(const std::string& name) {
  if (parameters_.contains(name)) {
    parameters_.pop(name);
  } else if (buffers_.contains(name)) {
    remove_buffer(name);
  } else if (attributes_.contains(name)) {
    attributes_.pop(name);
  } else if (children_.contains(name)) {
    children_.pop(name);
  } else if (objects_.contains(name)) {
    objects_.pop(name);
  } else {
    TWIG_THROW(AttributeError, "'", type_name_, "' object has no attribute '", name, "'");
  }
}

bool Module::buffer_is_persistent(const std::string& name) const {
  return std::find(non_persistent_buffers_.begin(), non_persistent_buffers_.end(), name) ==
         non_persistent_buffers_.end();
}

ModulePtr Module::child(const std::string& name) const {
  const ModulePtr* c = children_.find(name);
  return c ? *c : nullptr;
}

ModulePtr Module::find_module(const std::string& path) {
  ModulePtr current = shared_from_this();
  if (path.empty()) return current;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    current = current->child(part);
    if (!current) return nullptr;
  }
  return current;
}

// ---- traversal --------------------------------------------------------------------------------

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace

void Module::walk(const std::string& prefix, const std::function<void(const std::string&, const Module&)>& fn) const {
  // Pre-order, children in insertion order; an explicit stack (pushed in reverse), no recursion.
  std::vector<std::pair<std::string, const Module*>> stack{{prefix, this}};
  while (!stack.empty()) {
    auto [p, m] = stack.back();
    stack.pop_back();
    fn(p, *m);
    const auto& kids = m->children_.items();
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.emplace_back(join(p, it->first), it->second.get());
  }
}

NamedTensors Module::persistent_state(const std::string& prefix) const {
  NamedTensors out;
  walk(prefix, [&](const std::string& p, const Module& m) {
    for (const auto& [name, t] : m.parameters_) {
      if (t.defined()) out.emplace_back(join(p, name), t);
    }
    for (const auto& [name, t] : m.buffers_) {
      if (t.defined() && m.buffer_is_persistent(name)) out.emplace_back(join(p, name), t);
    }
  });
  return out;
}

NamedTensors Module::named_parameters(const std::string& prefix, bool recurse) const {
  NamedTensors out;
  std::set<const TensorImpl*> seen;
  auto collect = [&](const std::string& p, const Module& m) {
    for (const auto& [name, t] : m.parameters_) {
      if (t.defined() && seen.insert(t.impl()).second) out.emplace_back(join(p, name), t);
    }
  };
  if (recurse) {
    walk(prefix, collect);
  } else {
    collect(prefix, *this);
  }
  return out;
}

TensorList Module::parameters(bool recurse) const {
  TensorList out;
  for (auto& [name, t] : named_parameters("", recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(const std::string& prefix, bool recurse) const {
  NamedTensors out;
  auto collect = [&](const std::string& p, const Module& m) {
    for (const auto& [name, t] : m.buffers_) {
      if (t.defined()) out.emplace_back(join(p, name), t);
    }
  };
  if (recurse) {
    walk(prefix, collect);
  } else {
    collect(prefix, *this);
  }
  return out;
}

TensorList Module::buffers(bool recurse) const {
  TensorList out;
  for (auto& [name, t] : named_buffers("", recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_children() const { return children_.items(); }

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& [name, c] : children_) out.push_back(c);
  return out;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_modules(const std::string& prefix) {
  std::vector<std::pair<std::string, ModulePtr>> out;
  std::set<const Module*> seen;
  std::vector<std::pair<std::string, ModulePtr>> stack{{prefix, shared_from_this()}};
  while (!stack.empty()) {
    auto [p, m] = stack.back();
    stack.pop_back();
    if (!seen.insert(m.get()).second) continue;
    out.emplace_back(p, m);
    const auto& kids = m->children_.items();
    for (auto it = kids.rbegin(); it != kids.rend(); ++it) stack.emplace_back(join(p, it->first), it->second);
  }
  return out;
}

std::vector<ModulePtr> Module::modules() {
  std::vector<ModulePtr> out;
  for (auto& [name, m] : named_modules()) out.push_back(m);
  return out;
}

// ---- state ------------------------------------------------------------------------------------

StateDict Module::state_dict(const std::string& prefix) const {
  StateDict sd;
  for (const auto& [key, t] : persistent_state(prefix)) sd.insert(key, t.detach());
  return sd;
}

IncompatibleKeys Module::load_state_dict(const StateDict& state, bool strict) {
  NamedTensors slots = persistent_state("");
  IncompatibleKeys result;
  std::vector<std::string> errors;
  std::set<std::string> known;
  for (const auto& [key, t] : slots) {
    known.insert(key);
    const Tensor* src = state.find(key);
    if (!src) {
      result.missing_keys.push_back(key);
      continue;
    }
    if (src->sizes() != t.sizes()) {
      errors.push_back(detail::str_cat("size mismatch for ", key, ": copying a param with shape torch.Size(",
                                       src->sizes(), ") from checkpoint, the shape in current model is torch.Size(",
                                       t.sizes(), ")."));
    }
  }
  for (const auto& [key, t] : state) {
    if (!known.count(key)) result.unexpected_keys.push_back(key);
  }
  if (strict) {
    auto quoted = [](const std::vector<std::string>& keys) {
      std::string s;
      for (size_t i = 0; i < keys.size(); ++i) s += (i ? ", \"" : "\"") + keys[i] + "\"";
      return s;
    };
    if (!result.unexpected_keys.empty()) {
      errors.insert(errors.begin(), "Unexpected key(s) in state_dict: " + quoted(result.unexpected_keys) + ".");
    }
    if (!result.missing_keys.empty()) {
      errors.insert(errors.begin(), "Missing key(s) in state_dict: " + quoted(result.missing_keys) + ".");
    }
  }
  if (!errors.empty()) {
    std::string msg = "Error(s) in loading state_dict for " + type_name_ + ":";
    for (const auto& e : errors) msg += "\n\t" + e;
    throw RuntimeError(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [key, t] : slots) {
    if (const Tensor* src = state.find(key)) t.copy_(*src);
  }
  return result;
}

// ---- hooks ------------------------------------------------------------------------------------

namespace {
class LambdaPreHook : public ForwardPreHook {
 public:
  explicit LambdaPreHook(ForwardPreHookFn fn) : fn_(std::move(fn)) {}
  std::optional<Values> operator()(Module& m, const Values& in) override { return fn_(m, in); }

 private:
  ForwardPreHookFn fn_;
};
class LambdaHook : public ForwardHook {
 public:
  explicit LambdaHook(ForwardHookFn fn) : fn_(std::move(fn)) {}
  std::optional<Value> operator()(Module& m, const Values& in, const Value& out) override { return fn_(m, in, out); }

 private:
  ForwardHookFn fn_;
};
}  // namespace

RemovableHandle Module::register_forward_pre_hook(std::shared_ptr<ForwardPreHook> hook) {
  TWIG_CHECK(hook != nullptr, ValueError, "register_forward_pre_hook: null hook");
  return pre_hooks_.add(std::move(hook));
}
RemovableHandle Module::register_forward_pre_hook(ForwardPreHookFn fn) {
  return register_forward_pre_hook(std::make_shared<LambdaPreHook>(std::move(fn)));
}
RemovableHandle Module::register_forward_hook(std::shared_ptr<ForwardHook> hook) {
  TWIG_CHECK(hook != nullptr, ValueError, "register_forward_hook: null hook");
  return hooks_.add(std::move(hook));
}
RemovableHandle Module::register_forward_hook(ForwardHookFn fn) {
  return register_forward_hook(std::make_shared<LambdaHook>(std::move(fn)));
}

// ---- modes and utilities ----------------------------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, c] : children_) c->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      NoGradGuard no_grad;
      g.zero_();
    }
  }
}

void Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& [name, c] : children_) c->apply(fn);
  fn(*this);
}

namespace {
void convert_all(Module& root, const std::function<Tensor(const Tensor&)>& convert) {
  NoGradGuard no_grad;
  root.apply([&](Module& m) {
    for (auto* dict : {&m.parameters_dict(), &m.buffers_dict(), &m.attributes_dict()}) {
      for (const auto& [name, t] : *dict) {
        if (t.defined()) t.set_data(convert(t));
      }
    }
  });
}
}  // namespace

void Module::to(Dtype dtype) {
  convert_all(*this, [dtype](const Tensor& t) { return is_floating(t.dtype()) ? t.detach().to(dtype) : t.detach(); });
}

void Module::to(Device device) {
  convert_all(*this, [device](const Tensor& t) { return t.detach().to(device); });
}

ModulePtr Module::clone() const {
  CloneMemo memo;
  return clone_with(memo);
}

namespace {

struct Factory {
  const std::type_info* type;
  std::function<ModulePtr()> make;
};

struct Factories {
  std::mutex mu;
  std::map<std::string, Factory> by_name;
};

Factories& factories() {
  static Factories f;
  return f;
}

// The registered factory of m's type name, when it makes m's own C++ class.
std::function<ModulePtr()> factory_for(const Module& m) {
  auto& f = factories();
  std::lock_guard<std::mutex> lock(f.mu);
  auto it = f.by_name.find(m.type_name());
  if (it == f.by_name.end() || *it->second.type != typeid(m)) return nullptr;
  return it->second.make;
}

}  // namespace

void register_module_factory(const std::string& type_name, const std::type_info& type,
                             std::function<ModulePtr()> make) {
  TWIG_CHECK(!type_name.empty() && make, ValueError, "register_module_factory('", type_name,
             "'): a type name and a factory are needed");
  auto& f = factories();
  std::lock_guard<std::mutex> lock(f.mu);
  f.by_name[type_name] = Factory{&type, std::move(make)};
}

ModulePtr Module::clone_with(CloneMemo& memo) const {
  ModulePtr copy;
  {
    init::SkipRandomInitGuard no_random_init;
    if (auto make = factory_for(*this)) {
      copy = make();
      TWIG_CHECK(copy != nullptr && typeid(*copy) == typeid(*this), TypeError, "the factory registered for '",
                 type_name(), "' made another class");
    } else {
      copy = clone_instance();
    }
  }
  copy_state_into(*copy, memo);
  return copy;
}

void Module::copy_state_into(Module& dst, CloneMemo& memo) const {
  NoGradGuard no_grad;
  auto deep = [&memo](const Tensor& t) {
    if (!t.defined()) return t;
    auto it = memo.find(t.impl());
    if (it != memo.end()) return it->second;
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.requires_grad_(true);
    return memo[t.impl()] = c;
  };
  auto copy_tensors = [&deep](const OrderedDict<Tensor>& from) {
    OrderedDict<Tensor> to;
    for (const auto& [name, t] : from.items()) to.insert(name, deep(t));
    return to;
  };
  dst.type_name_ = type_name_;
  dst.training_ = training_;
  dst.parameters_ = copy_tensors(parameters_);
  dst.buffers_ = copy_tensors(buffers_);
  dst.non_persistent_buffers_ = non_persistent_buffers_;
  dst.attributes_ = copy_tensors(attributes_);
  dst.objects_ = OrderedDict<Object>();
  for (const auto& [name, value] : objects_.items()) dst.objects_.insert(name, value.deepcopy());
  OrderedDict<ModulePtr> children;
  for (const auto& [name, child] : children_.items()) {
    if (!child) {
      children.insert(name, nullptr);
      continue;
    }
    const ModulePtr* built = dst.children_.find(name);
    // A child the fresh instance built itself, of the same kind: keep it, so the members that
    // point at it stay right. (A copied instance shares the original's children: never those.)
    if (built && *built && *built != child && (*built)->type_name() == child->type_name() &&
        (*built)->extra_repr() == child->extra_repr()) {
      child->copy_state_into(**built, memo);
      children.insert(name, *built);
    } else {
      children.insert(name, child->clone_with(memo));
    }
  }
  dst.children_ = std::move(children);
  dst.pre_hooks_ = HookDict<std::shared_ptr<ForwardPreHook>>();
  for (const auto& [id, h] : pre_hooks_.items()) {
    auto c = h->clone_hook();
    dst.pre_hooks_.add(c ? c : h);
  }
  dst.hooks_ = HookDict<std::shared_ptr<ForwardHook>>();
  for (const auto& [id, h] : hooks_.items()) {
    auto c = h->clone_hook();
    dst.hooks_.add(c ? c : h);
  }
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const Tensor& p : parameters()) n += p.numel();
  return n;
}

std::string Module::repr() const {
  std::string extra = extra_repr();
  if (children_.empty()) return type_name_ + "(" + extra + ")";
  std::string s = type_name_ + "(";
  if (!extra.empty()) s += "\n  " + extra;
  for (const auto& [name, c] : children_) {
    std::string child = c->repr();
    std::string indented;
    for (char ch : child) {
      indented += ch;
      if (ch == '\n') indented += "  ";
    }
    s += "\n  (" + name + "): " + indented;
  }
  return s + "\n)";
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.repr(); }

}  // namespace twig::nn
