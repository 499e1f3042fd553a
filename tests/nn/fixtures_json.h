// Reading tests/fixtures/nn_train.json (written by tools/gen_nn_train_fixtures.py).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "twig.h"

namespace twig::testing {

inline const nlohmann::json& nn_train_fixtures() {
  static const nlohmann::json j = [] {
    std::ifstream in(std::string(TWIG_FIXTURE_DIR) + "/nn_train.json");
    if (!in) throw RuntimeError("missing " TWIG_FIXTURE_DIR "/nn_train.json; run /usr/bin/python3 tools/gen_nn_train_fixtures.py");
    return nlohmann::json::parse(in);
  }();
  return j;
}

// {"shape": [...], "data": [...]} -> a float64 (or int64) tensor.
template <typename T = double>
Tensor json_tensor(const nlohmann::json& j) {
  Shape shape = j.at("shape").get<Shape>();
  return from_vector(j.at("data").get<std::vector<T>>(), shape);
}

}  // namespace twig::testing
