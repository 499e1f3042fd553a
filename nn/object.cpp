#include "twig/nn/object.h"

#include <algorithm>
#include <sstream>

#include "twig/nn/module.h"
#include "twig/nn/py_format.h"
#include "twig/tensor/error.h"

namespace twig::nn {

// ---- Dict -------------------------------------------------------------------------------------

struct Dict::Impl {
  std::vector<Item> items;
  Item* find(const std::string& key) {
    for (auto& item : items)
      if (item.first == key) return &item;
    return nullptr;
  }
};

Dict::Dict() : impl_(std::make_shared<Impl>()) {}

Dict::Dict(std::initializer_list<Item> items) : Dict() {
  for (const auto& [key, value] : items) set(key, value);
}

size_t Dict::size() const { return impl_->items.size(); }

bool Dict::contains(const std::string& key) const { return impl_->find(key) != nullptr; }

const Object& Dict::at(const std::string& key) const {
  const Item* item = impl_->find(key);
  TWIG_CHECK(item != nullptr, KeyError, "'", key, "'");
  return item->second;
}

Object& Dict::at(const std::string& key) {
  Item* item = impl_->find(key);
  TWIG_CHECK(item != nullptr, KeyError, "'", key, "'");
  return item->second;
}

Object Dict::get(const std::string& key, const Object& fallback) const {
  const Item* item = impl_->find(key);
  return item ? item->second : fallback;
}

void Dict::set(const std::string& key, Object value) {
  if (Item* item = impl_->find(key))
    item->second = std::move(value);
  else
    impl_->items.emplace_back(key, std::move(value));
}

Object& Dict::setdefault(const std::string& key, Object value) {
  if (Item* item = impl_->find(key)) return item->second;
  impl_->items.emplace_back(key, std::move(value));
  return impl_->items.back().second;
}

Object Dict::pop(const std::string& key) {
  auto& items = impl_->items;
  auto it = std::find_if(items.begin(), items.end(), [&](const Item& item) { return item.first == key; });
  TWIG_CHECK(it != items.end(), KeyError, "'", key, "'");
  Object value = std::move(it->second);
  items.erase(it);
  return value;
}

bool Dict::erase(const std::string& key) {
  auto& items = impl_->items;
  auto it = std::find_if(items.begin(), items.end(), [&](const Item& item) { return item.first == key; });
  if (it == items.end()) return false;
  items.erase(it);
  return true;
}

void Dict::update(const Dict& other) {
  if (other.is(*this)) return;
  for (const auto& [key, value] : other.items()) set(key, value);
}

void Dict::clear() { impl_->items.clear(); }

std::vector<std::string> Dict::keys() const {
  std::vector<std::string> out;
  out.reserve(size());
  for (const auto& item : impl_->items) out.push_back(item.first);
  return out;
}

const std::vector<Dict::Item>& Dict::items() const { return impl_->items; }

Dict Dict::copy() const {
  Dict out;
  out.impl_->items = impl_->items;
  return out;
}

Dict Dict::deepcopy() const {
  Dict out;
  out.impl_->items.reserve(size());
  for (const auto& [key, value] : impl_->items) out.impl_->items.emplace_back(key, value.deepcopy());
  return out;
}

bool Dict::operator==(const Dict& other) const {
  if (is(other)) return true;
  if (size() != other.size()) return false;
  for (const auto& [key, value] : impl_->items) {
    const Item* theirs = other.impl_->find(key);
    if (theirs == nullptr || !(value == theirs->second)) return false;
  }
  return true;
}

std::string Dict::repr() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : impl_->items) {
    if (!first) out += ", ";
    first = false;
    out += Object(key).repr() + ": " + value.repr();
  }
  return out + "}";
}

// ---- Object -----------------------------------------------------------------------------------

Object::Object(Tensor v) : v_(std::move(v)) {}
Object::Object(std::initializer_list<Object> items) : v_(std::make_shared<const Tuple>(items)) {}
Object::Object(Tuple items) : v_(std::make_shared<const Tuple>(std::move(items))) {}
Object::Object(const std::vector<int64_t>& items) : Object(Tuple(items.begin(), items.end())) {}
Object::Object(Dict d) : v_(std::move(d)) {}
Object::Object(std::shared_ptr<Module> m) : v_(std::move(m)) {}

Object Object::function(Function f) {
  TWIG_CHECK(static_cast<bool>(f), ValueError, "Object::function: the function is empty");
  Object o;
  o.v_ = std::make_shared<const Function>(std::move(f));
  return o;
}

Object Object::handle(RemovableHandle h) {
  Object o;
  o.v_ = std::make_shared<RemovableHandle>(std::move(h));
  return o;
}

const char* Object::type_name() const {
  switch (kind()) {
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::Str:
      return "str";
    case Kind::Tensor:
      return "Tensor";
    case Kind::Tuple:
      return "tuple";
    case Kind::Dict:
      return "dict";
    case Kind::Module:
      return "Module";
    case Kind::Function:
      return "function";
    case Kind::Handle:
      return "RemovableHandle";
  }
  return "object";
}

namespace {
[[noreturn]] void wrong_type(const char* expected, const Object& o) {
  TWIG_THROW(TypeError, "expected ", expected, " but got ", o.type_name(), " ", o.repr());
}
}  // namespace

bool Object::to_bool() const {
  if (!is_bool()) wrong_type("bool", *this);
  return std::get<bool>(v_);
}

int64_t Object::to_int() const {
  if (is_bool()) return std::get<bool>(v_) ? 1 : 0;
  if (!is_int()) wrong_type("int", *this);
  return std::get<int64_t>(v_);
}

double Object::to_double() const {
  if (is_float()) return std::get<double>(v_);
  if (is_int()) return static_cast<double>(std::get<int64_t>(v_));
  if (is_bool()) return std::get<bool>(v_) ? 1.0 : 0.0;
  wrong_type("float", *this);
}

const std::string& Object::to_string() const {
  if (!is_string()) wrong_type("str", *this);
  return std::get<std::string>(v_);
}

const Tensor& Object::to_tensor() const {
  if (!is_tensor()) wrong_type("Tensor", *this);
  return std::get<Tensor>(v_);
}

const Tuple& Object::to_tuple() const {
  if (!is_tuple()) wrong_type("tuple", *this);
  return *std::get<std::shared_ptr<const Tuple>>(v_);
}

std::vector<int64_t> Object::to_int_vector() const {
  if (!is_tuple()) wrong_type("tuple of int", *this);
  std::vector<int64_t> out;
  for (const Object& item : to_tuple()) {
    if (!item.is_int()) wrong_type("tuple of int", *this);
    out.push_back(item.to_int());
  }
  return out;
}

Dict Object::to_dict() const {
  if (!is_dict()) wrong_type("dict", *this);
  return std::get<Dict>(v_);
}

const std::shared_ptr<Module>& Object::to_module() const {
  if (!is_module()) wrong_type("Module", *this);
  return std::get<std::shared_ptr<Module>>(v_);
}

const Function& Object::to_function() const {
  if (!is_function()) wrong_type("function", *this);
  return *std::get<std::shared_ptr<const Function>>(v_);
}

RemovableHandle& Object::to_handle() const {
  if (!is_handle()) wrong_type("RemovableHandle", *this);
  return *std::get<std::shared_ptr<RemovableHandle>>(v_);
}

Object Object::operator()(const std::vector<Object>& args) const { return to_function()(args); }

bool Object::operator==(const Object& other) const {
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return to_double() == other.to_double();
    return to_int() == other.to_int();
  }
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::None:
      return true;
    case Kind::Str:
      return to_string() == other.to_string();
    case Kind::Tuple:
      return to_tuple() == other.to_tuple();
    case Kind::Dict:
      return std::get<Dict>(v_) == std::get<Dict>(other.v_);
    default:
      return is(other);
  }
}

bool Object::is(const Object& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::Tensor:
      return to_tensor().impl() == other.to_tensor().impl();
    case Kind::Tuple:
      return std::get<std::shared_ptr<const Tuple>>(v_) == std::get<std::shared_ptr<const Tuple>>(other.v_);
    case Kind::Dict:
      return std::get<Dict>(v_).is(std::get<Dict>(other.v_));
    case Kind::Module:
      return to_module() == other.to_module();
    case Kind::Function:
      return std::get<std::shared_ptr<const Function>>(v_) == std::get<std::shared_ptr<const Function>>(other.v_);
    case Kind::Handle:
      return &to_handle() == &other.to_handle();
    default:
      return *this == other;
  }
}

namespace {
std::string py_string_repr(const std::string& s) {
  // Python picks single quotes unless the text holds a single quote and no double quote.
  char quote = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == quote || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + quote;
}
}  // namespace

std::string Object::repr() const {
  switch (kind()) {
    case Kind::None:
      return "None";
    case Kind::Bool:
      return to_bool() ? "True" : "False";
    case Kind::Int:
      return std::to_string(to_int());
    case Kind::Float:
      return pyfmt::py_float(to_double());
    case Kind::Str:
      return py_string_repr(to_string());
    case Kind::Tensor: {
      std::ostringstream os;
      os << to_tensor();
      return os.str();
    }
    case Kind::Tuple: {
      const Tuple& t = to_tuple();
      std::string out = "(";
      for (size_t i = 0; i < t.size(); ++i) out += (i ? ", " : "") + t[i].repr();
      return out + (t.size() == 1 ? ",)" : ")");
    }
    case Kind::Dict:
      return std::get<Dict>(v_).repr();
    case Kind::Module:
      return to_module()->repr();
    case Kind::Function:
      return "<function>";
    case Kind::Handle:
      return "<RemovableHandle>";
  }
  return "";
}

Object Object::deepcopy() const {
  switch (kind()) {
    case Kind::Tensor:
      return Object(to_tensor().detach().clone().requires_grad_(to_tensor().requires_grad()));
    case Kind::Tuple: {
      Tuple copy;
      for (const Object& item : to_tuple()) copy.push_back(item.deepcopy());
      return Object(std::move(copy));
    }
    case Kind::Dict:
      return Object(std::get<Dict>(v_).deepcopy());
    default:
      return *this;
  }
}

std::ostream& operator<<(std::ostream& os, const Object& o) { return os << o.repr(); }
std::ostream& operator<<(std::ostream& os, const Dict& d) { return os << d.repr(); }

}  // namespace twig::nn
