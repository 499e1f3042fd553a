// The common_pruning test models: layers, names and output shapes as in the spec (§1).
#include <gtest/gtest.h>

#include "models/common_pruning.h"
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

TEST(TestModels, RowsAreSubset) {
  Tensor sup = tensor({{1, 2}, {3, 4}, {5, 6}});
  EXPECT_TRUE(rows_are_subset(tensor({{1, 2}, {5, 6}}), sup));
  EXPECT_TRUE(rows_are_subset(tensor({{3, 4}, {3, 4}}), sup));  // a matched row may match again
  EXPECT_FALSE(rows_are_subset(tensor({{5, 6}, {1, 2}}), sup));  // order matters
  EXPECT_FALSE(rows_are_subset(tensor({{7, 8}}), sup));
  EXPECT_TRUE(rows_are_subset(tensor({2, 3}), tensor({1, 2, 3})));
}

TEST(TestModels, CloneIsDeep) {
  Conv2dPoolFlatten m;
  nn::ModulePtr c = m.clone();
  Tensor x = randn({1, 1, 28, 28});
  EXPECT_TENSOR_CLOSE(c->call({x}).tensor(), m(x), 1e-6, 1e-6);
  EXPECT_FALSE(c->parameters()[0].is_same(m.parameters()[0]));
}
