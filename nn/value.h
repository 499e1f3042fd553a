// What flows into and out of a module: a tensor, a tuple of values, or nothing. LSTM returns
// (output, (h_n, c_n)); the pruning test models return pairs. One type keeps hooks, Sequential
// and the tracer generic.
#pragma once

#include <memory>
#include <variant>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig::nn {

class Value {
 public:
  Value() = default;
  Value(Tensor t) : v_(std::move(t)) {}
  Value(std::vector<Value> items) : v_(std::move(items)) {}
  static Value tuple(std::vector<Value> items) { return Value(std::move(items)); }

  bool is_none() const { return std::holds_alternative<std::monostate>(v_); }
  bool is_tensor() const { return std::holds_alternative<Tensor>(v_); }
  bool is_tuple() const { return std::holds_alternative<std::vector<Value>>(v_); }

  // TypeError naming what the value holds when it is not a tensor / tuple.
  const Tensor& tensor() const;
  const std::vector<Value>& items() const;
  const Value& operator[](size_t i) const;
  size_t size() const { return is_tuple() ? items().size() : 0; }
  const char* kind() const { return is_none() ? "None" : is_tensor() ? "Tensor" : "tuple"; }

 private:
  std::variant<std::monostate, Tensor, std::vector<Value>> v_;
};

using Values = std::vector<Value>;

}  // namespace twig::nn
