// Reading tests/fixtures/nn_train.json (written by tools/gen_nn_train_fixtures.py).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fixture_file.h"
#include "twig/core.h"

namespace twig::testing {

inline const nlohmann::json& nn_train_fixtures() { return load_fixture("nn_train.json", "gen_nn_train_fixtures.py"); }

// {"shape": [...], "data": [...]} -> a float64 (or int64) tensor.
template <typename T = double>
Tensor json_tensor(const nlohmann::json& j) {
  Shape shape = j.at("shape").get<Shape>();
  return from_vector(j.at("data").get<std::vector<T>>(), shape);
}

}  // namespace twig::testing
