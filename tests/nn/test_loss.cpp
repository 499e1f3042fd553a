#include <gtest/gtest.h>

#include <cmath>

#include "fixture_file.h"
#include "nn/fixtures_json.h"
#include "testing.h"
#include "twig/autograd/node.h"
#include "twig/nn/loss.h"

using namespace twig;
using namespace twig::nn;
using twig::testing::json_tensor;
using twig::testing::leaf;

namespace {

Tensor run_loss(const nlohmann::json& c, const Tensor& x, const Tensor& target) {
  const std::string fn = c.at("fn");
  const std::string red = c.at("reduction");
  Tensor w = c.contains("weight") ? json_tensor(c.at("weight")) : Tensor();
  const int64_t ignore = c.at("ignore_index");
  if (fn == "mse_loss") return F::mse_loss(x, target, red);
  if (fn == "nll_loss") return F::nll_loss(x, target, w, red, ignore);
  return F::cross_entropy(x, target, w, red, ignore, c.at("label_smoothing").get<double>());
}

// tests/fixtures/strict.json (tools/gen_strict_fixtures.py, PyTorch 1.13).
const nlohmann::json& strict_losses() {
  return twig::testing::load_fixture("strict.json", "gen_strict_fixtures.py").at("losses");
}

// {"shape", "data"} as a tensor of dtype.
Tensor strict_tensor(const nlohmann::json& j, Dtype dtype) {
  return from_vector(j.at("data").get<std::vector<double>>(), j.at("shape").get<Shape>()).to(dtype);
}

}  // namespace

// Values and input gradients against PyTorch 1.13 for every case of the fixture file.
TEST(LossGolden, MatchesPyTorch) {
  const auto& cases = twig::testing::nn_train_fixtures().at("losses");
  ASSERT_GE(cases.size(), 60u);
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    SCOPED_TRACE(::testing::Message() << "case " << i << ": " << c.at("fn").get<std::string>()
                                      << " reduction=" << c.at("reduction").get<std::string>()
                                      << " smoothing=" << c.at("label_smoothing") << " weight=" << c.contains("weight")
                                      << " ignore=" << c.at("ignore_index"));
    Tensor x = json_tensor(c.at("input")).requires_grad_();
    Tensor target = c.at("fn") == "mse_loss" ? json_tensor(c.at("target")) : json_tensor<int64_t>(c.at("target"));
    Tensor out = run_loss(c, x, target);
    Tensor expected = json_tensor(c.at("out"));
    ASSERT_EQ(out.sizes(), expected.sizes());
    EXPECT_TENSOR_CLOSE(out, expected, 1e-10, 1e-12);
    out.backward(ones_like(out));
    EXPECT_TENSOR_CLOSE(x.grad(), json_tensor(c.at("grad")), 1e-10, 1e-12);
  }
}

TEST(LossGradcheck, CrossEntropyAllOptions) {
  Tensor target = tensor({0, 4, -100, 2, 1, 3});
  Tensor w = tensor({0.5, 1.0, 2.0, 0.25, 1.5}, kFloat64);
  for (const char* red : {"mean", "sum", "none"}) {
    for (double ls : {0.0, 0.2}) {
      for (bool weighted : {false, true}) {
        SCOPED_TRACE(::testing::Message() << red << " ls=" << ls << " weighted=" << weighted);
        Tensor x = leaf({6, 5}, 1);
        EXPECT_GRADCHECK(
            [&](const TensorList& in) {
              return TensorList{F::cross_entropy(in[0], target, weighted ? w : Tensor(), red, -100, ls)};
            },
            TensorList{x});
      }
    }
  }
}

TEST(LossGradcheck, SpatialAndUnbatched) {
  Tensor x4 = leaf({2, 3, 2, 2}, 2);
  Tensor t4 = tensor({{{0, 2}, {1, 1}}, {{2, 0}, {-100, 1}}});
  EXPECT_GRADCHECK(
      [&](const TensorList& in) { return TensorList{F::cross_entropy(in[0], t4, Tensor(), "mean", -100, 0.1)}; },
      TensorList{x4});
  EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{F::nll_loss(in[0], t4, Tensor(), "none")}; },
                   TensorList{x4});
  Tensor x1 = leaf({4}, 3);
  EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{F::cross_entropy(in[0], tensor(int64_t{2}))}; },
                   TensorList{x1});
}

TEST(LossGradcheck, NllAndMse) {
  Tensor target = tensor({1, 0, 3, 3});
  Tensor w = tensor({2.0, 1.0, 0.5, 3.0}, kFloat64);
  for (const char* red : {"mean", "sum", "none"}) {
    Tensor x = leaf({4, 4}, 4);
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{F::nll_loss(in[0], target, w, red, 0)}; },
                     TensorList{x});
    Tensor a = leaf({3, 2}, 5), b = leaf({3, 2}, 6);
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{F::mse_loss(in[0], in[1], red)}; },
                     (TensorList{a, b}));
  }
}

TEST(LossCrossEntropy, OneNodeOverLogitsAndStable) {
  Tensor x = tensor({{1000.0, 0.0, -1000.0}, {0.0, 0.0, 0.0}}).requires_grad_();
  Tensor loss = F::cross_entropy(x, tensor({0, 2}));
  EXPECT_EQ(loss.grad_fn()->name(), "CrossEntropyLossBackward0");
  EXPECT_EQ(loss.grad_fn()->next_edges().size(), 1u);
  EXPECT_NEAR(loss.item<double>(), std::log(3.0) / 2, 1e-6);  // row 0 contributes 0, no overflow
  loss.backward();
  EXPECT_TRUE(x.grad().isfinite().all().item<bool>());
}

TEST(LossCrossEntropy, AllIgnoredMeanIsNan) {
  Tensor x = leaf({2, 3});
  EXPECT_TRUE(std::isnan(F::cross_entropy(x, tensor({-100, -100})).item<double>()));
  EXPECT_EQ(F::cross_entropy(x, tensor({-100, -100}), Tensor(), "sum").item<double>(), 0.0);
}

TEST(LossCrossEntropy, Float32CloseToFloat64) {
  const auto& c = strict_losses().at("cross_entropy_f32");
  Tensor x64 = strict_tensor(c.at("x"), kFloat64);
  Tensor t = from_vector(c.at("target").get<std::vector<int64_t>>(), {8});
  Tensor l64 = F::cross_entropy(x64, t, Tensor(), "mean", -100, 0.1);
  Tensor l32 = F::cross_entropy(x64.to(kFloat32), t, Tensor(), "mean", -100, 0.1);
  // Each against PyTorch's value in its own dtype, then the two against each other.
  EXPECT_TENSOR_CLOSE(l64, strict_tensor(c.at("f64"), kFloat64), 1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(l32, strict_tensor(c.at("f32"), kFloat32), 1e-6, 1e-6);
  EXPECT_NEAR(l32.item<double>(), l64.item<double>(), 1e-5);
}

TEST(LossErrors, TypedAndNamed) {
  Tensor x = leaf({3, 5});
  try {
    F::nll_loss(x, tensor({1, 10, 2}));
    FAIL() << "no throw";
  } catch (const IndexError& e) {
    EXPECT_STREQ(e.what(), "Target 10 is out of bounds.");
  }
  EXPECT_THROW(F::cross_entropy(x, tensor({-1, 0, 0})), IndexError);
  EXPECT_NO_THROW(F::cross_entropy(x, tensor({-1, 0, 0}), Tensor(), "mean", -1));
  try {
    F::cross_entropy(x, tensor({1, 1}));
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "Expected input batch_size (3) to match target batch_size (2).");
  }
  try {
    F::cross_entropy(x, tensor({1, 1, 1}), Tensor(), "avg");
    FAIL() << "no throw";
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "avg is not a valid value for reduction");
  }
  EXPECT_THROW(F::mse_loss(x, x, "bogus"), ValueError);
  EXPECT_THROW(MSELoss("bogus"), ValueError);
  EXPECT_THROW(F::cross_entropy(x, tensor({1, 1, 1}).to(kInt32)), RuntimeError);
  EXPECT_THROW(F::cross_entropy(x, tensor({1, 1, 1}), ones({4}, kFloat64)), RuntimeError);
  EXPECT_THROW(F::cross_entropy(x, tensor({{1, 1, 1}})), ValueError);
  EXPECT_THROW(F::cross_entropy(leaf({2, 3, 4}), tensor({{1, 1, 1}, {0, 0, 0}})), ValueError);
  EXPECT_THROW(F::cross_entropy(x, zeros({3, 5}, kFloat64)), NotImplementedError);
  EXPECT_THROW(F::cross_entropy(x, tensor({1, 1, 1}), Tensor(), "mean", -100, 1.5), ValueError);
  EXPECT_THROW(F::mse_loss(leaf({3}), leaf({4})), RuntimeError);
}

TEST(LossModules, CallWithTwoInputs) {
  const auto& c = strict_losses().at("modules");
  Tensor x = strict_tensor(c.at("x"), kFloat64).requires_grad_();
  Tensor t = from_vector(c.at("target").get<std::vector<int64_t>>(), {4});
  Tensor w = strict_tensor(c.at("weight"), kFloat64);
  CrossEntropyLoss ce(CrossEntropyLossOptions().weight(w).label_smoothing(0.1).reduction("sum"));
  // The modules against PyTorch's modules, then against twig's functional forms.
  EXPECT_TENSOR_CLOSE(ce(x, t), strict_tensor(c.at("cross_entropy_sum"), kFloat64), 1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(ce(x, t), F::cross_entropy(x, t, w, "sum", -100, 0.1), 1e-12, 0);
  EXPECT_TENSOR_CLOSE(ce.call({Value(x), Value(t)}).tensor(), ce(x, t), 0, 0);
  EXPECT_TRUE(ce.get("weight").is_same(w));
  EXPECT_EQ(ce.state_dict().size(), 1u);
  EXPECT_THROW(ce.call({Value(x)}), TypeError);

  NLLLoss nll(NLLLossOptions().ignore_index(1));
  EXPECT_TENSOR_CLOSE(nll(x.log_softmax(1), t), strict_tensor(c.at("nll_ignore_1"), kFloat64), 1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(nll(x.log_softmax(1), t), F::nll_loss(x.log_softmax(1), t, Tensor(), "mean", 1), 0, 0);
  EXPECT_EQ(nll.state_dict().size(), 0u);  // weight registered as None

  MSELoss mse("none");
  EXPECT_EQ(mse(x, x.detach() * 0).sizes(), (Shape{4, 3}));
  EXPECT_TENSOR_CLOSE(mse(x, x.detach() * 0.5), strict_tensor(c.at("mse_none_half"), kFloat64), 1e-12, 1e-15);
  EXPECT_EQ(mse.repr(), "MSELoss()");
  // Gradients flow through the module call.
  ce(x, t).backward();
  EXPECT_TRUE(x.grad().defined());
}
