// Loads tests/fixtures/nn_layers.json (tools/gen_nn_layer_fixtures.py, PyTorch 1.13).
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fixture_file.h"
#include "testing.h"
#include "twig/nn/module.h"

namespace twig::testing {

inline const nlohmann::json& nn_layer_fixtures() { return load_fixture("nn_layers.json", "gen_nn_layer_fixtures.py"); }

inline const nlohmann::json& nn_layer_case(const std::string& name) {
  for (const auto& c : nn_layer_fixtures()["cases"])
    if (c["name"] == name) return c;
  throw std::runtime_error("no fixture case " + name);
}

inline Shape json_shape(const nlohmann::json& j) { return j["shape"].get<std::vector<int64_t>>(); }

inline Tensor json_tensor(const nlohmann::json& j) {
  return from_vector(j["data"].get<std::vector<float>>(), json_shape(j));
}

inline Tensor json_int_tensor(const nlohmann::json& j) {
  return from_vector(j["data"].get<std::vector<int64_t>>(), json_shape(j));
}

// Copies the case's parameters into the module's same-named tensors (shapes must agree).
inline void load_params(nn::Module& m, const nlohmann::json& c) {
  autograd::NoGradGuard no_grad;
  for (const auto& [name, t] : c["params"].items()) {
    Tensor p = m.get(name);
    ASSERT_EQ(p.sizes(), json_shape(t)) << name;
    p.copy_(json_tensor(t));
  }
}

// Float32 agreement with PyTorch: 1e-5 relative, a small absolute floor for values near zero.
#define EXPECT_MATCHES_TORCH(actual, json_expected, what)                  \
  do {                                                                     \
    ::twig::Tensor _e = ::twig::testing::json_tensor(json_expected);       \
    ::twig::Tensor _a = (actual);                                          \
    ASSERT_TRUE(_a.defined()) << what;                                     \
    ASSERT_EQ(_a.sizes(), _e.sizes()) << what;                             \
    EXPECT_TRUE(::twig::allclose(_a.to(::twig::kFloat32), _e, 1e-5, 2e-6)) \
        << what << "\n"                                                    \
        << ::twig::testing::str(_a) << "\nvs torch\n"                      \
        << ::twig::testing::str(_e);                                       \
  } while (0)

}  // namespace twig::testing
