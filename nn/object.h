// A Python-like dynamic value for what PyTorch keeps in dicts: sparsifier configs, groups and
// state, hyper-parameters, and the plain (non-tensor) attributes of a module (`sparse_params`).
//
//   nn::Dict config{{"tensor_fqn", "linear1.weight"}, {"sparse_block_shape", {1, 4}}, {"test", 3}};
//   int64_t t = config.at("test").to_int();
//
// Object holds None, bool, int, float, str, a Tensor, a tuple, a Dict, a module, a function or a
// hook handle (a RemovableHandle, what an ActivationSparsifier keeps in its configs).
// Like Python's objects, a Dict is a reference: copying a Dict (or an Object holding one) shares
// it, and a change made through one copy is seen by all (a sparsifier's state_dict() returns its
// live state, as PyTorch's does). deepcopy() makes an independent one. Tuples are immutable.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "twig/tensor/hooks.h"
#include "twig/tensor/tensor.h"

namespace twig::nn {

class Module;
class Object;
class Dict;
using Tuple = std::vector<Object>;
// A callable taking and returning Objects; compared by identity, like Python functions.
using Function = std::function<Object(const std::vector<Object>&)>;

class Dict {
 public:
  using Item = std::pair<std::string, Object>;
  // An empty dict; `Dict{{"a", 1}, {"b", "x"}}` as a dict literal.
  Dict();
  Dict(std::initializer_list<Item> items);

  size_t size() const;
  bool empty() const { return size() == 0; }
  bool contains(const std::string& key) const;
  // d[key]: KeyError naming the key when absent.
  const Object& at(const std::string& key) const;
  Object& at(const std::string& key);
  // d.get(key, default).
  Object get(const std::string& key, const Object& fallback) const;
  // d[key] = value: replaces in place (keeping the key's position) or appends.
  void set(const std::string& key, Object value);
  // d.setdefault(key, value) returning a reference to the stored value.
  Object& setdefault(const std::string& key, Object value);
  // d.pop(key): KeyError when absent.
  Object pop(const std::string& key);
  // d.pop(key, None) that says whether it removed anything.
  bool erase(const std::string& key);
  // d.update(other): other's items in its order, replacing existing keys in place.
  void update(const Dict& other);
  void clear();
  std::vector<std::string> keys() const;
  const std::vector<Item>& items() const;
  std::vector<Item>::const_iterator begin() const;
  std::vector<Item>::const_iterator end() const;

  // A new dict with the same items (values shared), Python's dict(d) / d.copy().
  Dict copy() const;
  // copy.deepcopy: nested dicts and tuples copied, tensors cloned; modules and functions shared.
  Dict deepcopy() const;
  // Python's `is`.
  bool is(const Dict& other) const { return impl_ == other.impl_; }
  // Python's ==: same keys (any order) with equal values.
  bool operator==(const Dict& other) const;
  // {'tensor_fqn': 'linear1.weight', 'test': 3}
  std::string repr() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

class Object {
 public:
  enum class Kind { None, Bool, Int, Float, Str, Tensor, Tuple, Dict, Module, Function, Handle };

  Object() = default;  // None
  Object(std::nullptr_t) {}
  Object(bool v) : v_(v) {}
  template <typename T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) Object(T v) : v_(static_cast<int64_t>(v)) {}
  Object(double v) : v_(v) {}
  Object(float v) : v_(static_cast<double>(v)) {}
  Object(const char* v) : v_(std::string(v)) {}
  Object(std::string v) : v_(std::move(v)) {}
  Object(Tensor v);
  // A tuple: `{1, 4}`, or from a vector of Objects or of integers. (So `Object{x}` is a tuple of
  // one; copy an Object with `Object y = x`.)
  Object(std::initializer_list<Object> items);
  Object(Tuple items);
  Object(const std::vector<int64_t>& items);
  Object(Dict d);
  Object(std::shared_ptr<Module> m);
  template <typename M>
  requires(std::is_base_of_v<Module, M> && !std::is_same_v<M, Module>) Object(std::shared_ptr<M> m)
      : Object(std::shared_ptr<Module>(std::move(m))) {}
  static Object function(Function f);
  // A hook handle, shared by every copy (deepcopy too) and compared by identity.
  static Object handle(RemovableHandle h);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  // "NoneType", "bool", "int", "float", "str", "Tensor", "tuple", "dict", "Module", "function",
  // "RemovableHandle".
  const char* type_name() const;
  bool is_none() const { return kind() == Kind::None; }
  bool is_bool() const { return kind() == Kind::Bool; }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  // int or float (bool too, as in Python, where True == 1).
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return kind() == Kind::Str; }
  bool is_tensor() const { return kind() == Kind::Tensor; }
  bool is_tuple() const { return kind() == Kind::Tuple; }
  bool is_dict() const { return kind() == Kind::Dict; }
  bool is_module() const { return kind() == Kind::Module; }
  bool is_function() const { return kind() == Kind::Function; }
  bool is_handle() const { return kind() == Kind::Handle; }

  // Typed access; TypeError naming the expected and the actual type otherwise.
  bool to_bool() const;
  int64_t to_int() const;    // bool or int
  double to_double() const;  // bool, int or float
  const std::string& to_string() const;
  const Tensor& to_tensor() const;
  const Tuple& to_tuple() const;
  // A tuple of integers (sparse_block_shape).
  std::vector<int64_t> to_int_vector() const;
  // The held dict (the same dict: changes through it are seen by every holder).
  Dict to_dict() const;
  const std::shared_ptr<Module>& to_module() const;
  const Function& to_function() const;
  // The held handle itself (handle.remove() removes the hook for every holder).
  RemovableHandle& to_handle() const;
  // Calls the held function.
  Object operator()(const std::vector<Object>& args) const;

  // Python's ==: numbers by value across bool/int/float, strings and tuples by value, dicts by
  // items; tensors, modules, functions and handles by identity (what a dict comparison does first).
  bool operator==(const Object& other) const;
  // Python's `is` for reference kinds; equality for the rest.
  bool is(const Object& other) const;
  // Python's repr: None, True, 3, 0.5, 'a', (1, 4), {'a': 1}, tensor(...) for tensors,
  // <RemovableHandle> for handles.
  std::string repr() const;
  // copy.deepcopy (see Dict::deepcopy).
  Object deepcopy() const;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, Tensor, std::shared_ptr<const Tuple>, Dict,
               std::shared_ptr<Module>, std::shared_ptr<const Function>, std::shared_ptr<RemovableHandle>>
      v_;
};

inline std::vector<Dict::Item>::const_iterator Dict::begin() const { return items().begin(); }
inline std::vector<Dict::Item>::const_iterator Dict::end() const { return items().end(); }

std::ostream& operator<<(std::ostream& os, const Object& o);
std::ostream& operator<<(std::ostream& os, const Dict& d);

}  // namespace twig::nn
