// What the prune fixture tests (PyTorch 1.13 goldens) share: the generators' one-parameter Holder
// module and the decoding of amounts and norms from the fixture JSON.
#pragma once

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "twig/nn/module.h"
#include "twig/prune/prune.h"

namespace twig::testing {

// A module holding one parameter, `weight` (Python's Holder in the generators).
class Holder : public nn::Module {
 public:
  explicit Holder(const Tensor& w) : Module("Holder") { register_parameter("weight", w); }
  nn::Value forward_values(const nn::Values& inputs) override { return inputs.at(0); }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<Holder>(*this); }
};

// The fixture's amount: a JSON integer is a count, a float a fraction (Python's int / float).
inline prune::Amount amount_of(const nlohmann::json& v) {
  if (v.is_number_integer()) return prune::Amount(v.get<int64_t>());
  return prune::Amount(v.get<double>());
}

// The fixture's n: a number, or "inf", "-inf", "fro", "nuc".
inline NormP norm_of(const nlohmann::json& n) {
  if (n.is_string()) {
    const std::string s = n.get<std::string>();
    if (s == "inf") return NormP(INFINITY);
    if (s == "-inf") return NormP(-INFINITY);
    return NormP(s.c_str());
  }
  return NormP(n.get<double>());
}

}  // namespace twig::testing
