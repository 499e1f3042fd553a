// The common_pruning test models: layers, names and output shapes as in the spec (§1), and output
// values against PyTorch 1.13 (tests/fixtures/strict.json, tools/gen_strict_fixtures.py).
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "fixture_file.h"
#include "models/common_pruning.h"
#include "nn/layer_fixtures.h"
#include "testing.h"

using namespace twig;
using namespace twig::testing::models;

TEST(TestModels, LinearModelsShapesAndParameters) {
  SimpleLinear simple;
  EXPECT_EQ(simple(ones({128, 7})).sizes(), (Shape{128, 10}));
  EXPECT_EQ(simple.num_parameters(), 145);
  std::vector<std::string> names;
  for (auto& [n, p] : simple.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"seq.0.weight", "seq.1.weight", "seq.2.weight", "linear1.weight",
                                             "linear2.weight"}));
  EXPECT_EQ(LinearBias()(ones({128, 7})).sizes(), (Shape{128, 10}));
  EXPECT_EQ(LinearActivation()(ones({128, 7})).sizes(), (Shape{128, 10}));
  LinearActivationFunctional functional;
  EXPECT_EQ(functional(ones({128, 7})).sizes(), (Shape{128, 10}));
  EXPECT_TRUE(functional.is_child("act1"));  // registered, never used
  // Registration order of LinearActivation: seq, linear1, act1, linear2, act2.
  std::vector<std::string> children;
  for (auto& [n, m] : LinearActivation().named_children()) children.push_back(n);
  EXPECT_EQ(children, (std::vector<std::string>{"seq", "linear1", "act1", "linear2", "act2"}));
}

TEST(TestModels, ConvModelsShapes) {
  Tensor x = ones({1, 1, 28, 28});
  EXPECT_EQ(SimpleConv2d()(x).sizes(), (Shape{1, 52, 20, 20}));
  EXPECT_EQ(Conv2dBias()(x).sizes(), (Shape{1, 52, 18, 18}));
  EXPECT_EQ(Conv2dActivation()(x).sizes(), (Shape{1, 52, 18, 18}));
  EXPECT_EQ(Conv2dPadBias()(x).sizes(), (Shape{1, 52, 24, 24}));
  EXPECT_EQ(Conv2dPool()(x).sizes(), (Shape{1, 52, 3, 3}));
  EXPECT_EQ(Conv2dPoolFlattenFunctional()(x).sizes(), (Shape{1, 13}));
  EXPECT_EQ(Conv2dPoolFlatten()(x).sizes(), (Shape{1, 13}));
  // Conv2dActivation ends in hardtanh: outputs within [-1, 1].
  Tensor y = Conv2dActivation()(randn({1, 1, 28, 28}));
  EXPECT_LE(y.abs().max().item<double>(), 1.0);
}

TEST(TestModels, LSTMModels) {
  LSTMLinearModel m(8, 8, 8, 1);
  nn::Value out = m.call({ones({1, 8})});
  EXPECT_EQ(out[0].tensor().sizes(), (Shape{1, 8}));
  EXPECT_EQ(out[1].tensor().sizes(), (Shape{1, 8}));
  LSTMLayerNormLinearModel n(8, 8, 8, 2);
  nn::Value o2 = n.call({ones({1, 8})});
  EXPECT_EQ(o2[0].tensor().sizes(), (Shape{1, 8}));
  EXPECT_EQ(o2[1][0].tensor().sizes(), (Shape{2, 8}));  // h_n, unbatched: (num_layers, H)
  EXPECT_EQ(o2[1][1].tensor().sizes(), (Shape{2, 8}));
}

namespace {

const nlohmann::json& strict_fixtures() { return twig::testing::load_fixture("strict.json", "gen_strict_fixtures.py"); }

// {"shape", "formula": {a, m, scale, shift}}: x[i] = (((i * a) % m) / (m / 2) - 1) * scale + shift in float64,
// then float32 (the generator's arithmetic, operation for operation).
Tensor formula_tensor(const nlohmann::json& j) {
  const auto& f = j.at("formula");
  const int64_t a = f.at("a"), m = f.at("m");
  const double scale = f.at("scale"), shift = f.at("shift");
  Shape shape = j.at("shape").get<Shape>();
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = static_cast<double>((i * a) % m) / static_cast<double>(m / 2) - 1.0;
    v[static_cast<size_t>(i)] = static_cast<float>(x * scale + shift);
  }
  return from_vector(v, shape);
}

// Tensors of a (possibly nested) output, depth first: (decoded, output), (x, (h_n, c_n)).
void flatten_value(const nn::Value& v, TensorList& out) {
  if (v.is_tensor()) {
    out.push_back(v.tensor());
    return;
  }
  for (size_t i = 0; i < v.size(); ++i) flatten_value(v[i], out);
}

const std::map<std::string, std::function<nn::ModulePtr()>>& model_factories() {
  static const std::map<std::string, std::function<nn::ModulePtr()>> f = {
      {"SimpleLinear", [] { return std::make_shared<SimpleLinear>(); }},
      {"LinearBias", [] { return std::make_shared<LinearBias>(); }},
      {"LinearActivation", [] { return std::make_shared<LinearActivation>(); }},
      {"LinearActivationFunctional", [] { return std::make_shared<LinearActivationFunctional>(); }},
      {"SimpleConv2d", [] { return std::make_shared<SimpleConv2d>(); }},
      {"Conv2dBias", [] { return std::make_shared<Conv2dBias>(); }},
      {"Conv2dActivation", [] { return std::make_shared<Conv2dActivation>(); }},
      {"Conv2dPadBias", [] { return std::make_shared<Conv2dPadBias>(); }},
      {"Conv2dPool", [] { return std::make_shared<Conv2dPool>(); }},
      {"Conv2dPoolFlattenFunctional", [] { return std::make_shared<Conv2dPoolFlattenFunctional>(); }},
      {"Conv2dPoolFlatten", [] { return std::make_shared<Conv2dPoolFlatten>(); }},
      {"LSTMLinearModel", [] { return std::make_shared<LSTMLinearModel>(8, 8, 8, 1); }},
      {"LSTMLayerNormLinearModel", [] { return std::make_shared<LSTMLayerNormLinearModel>(8, 8, 8, 2); }},
  };
  return f;
}

// The model `name` with the fixture's weights, loaded through load_state_dict (strict: every key).
nn::ModulePtr model_with_torch_weights(const std::string& name) {
  nn::ModulePtr m = model_factories().at(name)();
  nn::StateDict sd;
  for (const auto& [pname, pj] : strict_fixtures().at("models").at(name).at("params").items()) {
    sd.insert(pname, formula_tensor(pj));
  }
  m->load_state_dict(sd);
  return m;
}

}  // namespace

// Every model's output values against PyTorch 1.13's with the same weights (generated in Python,
// loaded via the state dict), not only shapes.
TEST(TestModels, OutputsMatchPyTorch) {
  const auto& cases = strict_fixtures().at("models");
  EXPECT_EQ(cases.size(), model_factories().size());
  for (const auto& [name, c] : cases.items()) {
    SCOPED_TRACE(name);
    nn::ModulePtr m = model_with_torch_weights(name);
    EXPECT_EQ(m->state_dict().size(), c.at("params").size()) << "parameters the fixture does not set";
    Tensor x = twig::testing::json_tensor(c.at("input"));
    TensorList outs;
    flatten_value(m->call({x}), outs);
    const auto& expected = c.at("outputs");
    ASSERT_EQ(outs.size(), expected.size());
    for (size_t k = 0; k < outs.size(); ++k) {
      EXPECT_TENSOR_CLOSE(outs[k], twig::testing::json_tensor(expected[k]), 1e-4, 1e-6);
    }
  }
}

TEST(TestModels, RowsAreSubset) {
  Tensor sup = tensor({{1, 2}, {3, 4}, {5, 6}});
  EXPECT_TRUE(rows_are_subset(tensor({{1, 2}, {5, 6}}), sup));
  EXPECT_TRUE(rows_are_subset(tensor({{3, 4}, {3, 4}}), sup));   // a matched row may match again
  EXPECT_FALSE(rows_are_subset(tensor({{5, 6}, {1, 2}}), sup));  // order matters
  EXPECT_FALSE(rows_are_subset(tensor({{7, 8}}), sup));
  EXPECT_TRUE(rows_are_subset(tensor({2, 3}), tensor({1, 2, 3})));
}

TEST(TestModels, CloneIsDeep) {
  nn::ModulePtr m = model_with_torch_weights("Conv2dPoolFlatten");
  nn::ModulePtr c = m->clone();
  const auto& fixture = strict_fixtures().at("models").at("Conv2dPoolFlatten");
  Tensor x = twig::testing::json_tensor(fixture.at("input"));
  // The clone computes what PyTorch computes (independent), and what the original computes.
  EXPECT_TENSOR_CLOSE(c->call({x}).tensor(), twig::testing::json_tensor(fixture.at("outputs")[0]), 1e-4, 1e-6);
  EXPECT_TENSOR_CLOSE(c->call({x}).tensor(), m->call({x}).tensor(), 1e-6, 1e-6);
  EXPECT_FALSE(c->parameters()[0].is_same(m->parameters()[0]));
  // Deep: changing the clone's weights leaves the original's output as PyTorch's.
  {
    autograd::NoGradGuard no_grad;
    c->child("fc")->get("bias").add_(1.0);
  }
  EXPECT_TENSOR_CLOSE(m->call({x}).tensor(), twig::testing::json_tensor(fixture.at("outputs")[0]), 1e-4, 1e-6);
}
