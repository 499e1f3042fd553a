// Loading tests/fixtures/nn_conv.json (PyTorch 1.13 golden values for conv and pooling).
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "fixture_file.h"
#include "testing.h"

namespace twig::testing {

inline const nlohmann::json& nn_conv_fixture() { return load_fixture("nn_conv.json", "gen_nn_conv_fixtures.py"); }

// {"shape": [...], "data": [...]} as a float32 tensor.
inline Tensor fixture_tensor(const nlohmann::json& e) {
  const std::vector<float> data = e["data"];
  const Shape shape = e["shape"];
  return from_vector(data, shape);
}

// float32 results against the float64-computed reference: 1e-5 relative, a small absolute
// tolerance for values near zero (sums of cancelling float32 products).
inline void expect_fixture_close(const Tensor& got, const nlohmann::json& ref) {
  ASSERT_TRUE(got.defined());
  const Shape shape = ref["shape"];
  ASSERT_EQ(got.sizes(), shape);
  const std::vector<double> want = ref["data"];
  const std::vector<double> have = got.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i) {
    const double tol = 1e-5 * std::abs(want[i]) + 2e-6;
    if (std::abs(have[i] - want[i]) > tol) {
      ADD_FAILURE() << "element " << i << ": twig " << have[i] << " vs PyTorch " << want[i];
      ++bad;
    }
  }
}

}  // namespace twig::testing
