// PyTorch's test_sparsifier.py, TestWeightNormSparsifier and TestNearlyDiagonalSparsifier (every
// assertion Python makes, and a few more: dtypes, the mask's identity), then masks checked against
// PyTorch 1.13 (tools/gen_ao_sparsifier_fixtures.py -> tests/fixtures/ao_weight_norm.json) and the
// errors of bad input, each leaving the model as it was.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/fixture_file.h"
#include "tests/models/common_pruning.h"
#include "tests/testing.h"
#include "twig/ao/nearly_diagonal_sparsifier.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/ao/utils.h"
#include "twig/ao/weight_norm_sparsifier.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/container.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/serialize/module_io.h"
#include "twig/tensor/error.h"

using namespace twig;
using ao::Dict;
using ao::Object;
using json = nlohmann::json;

namespace {

// module.parametrizations["weight"][0]
std::shared_ptr<nn::UnaryModule> weight_param(const nn::Module& module) {
  return nn::parametrizations_of(module, "weight")->at(0);
}
Tensor weight_mask(const nn::Module& module) { return weight_param(module)->get("mask"); }
double mean_of(const Tensor& t) { return t.to(kFloat64).mean().item<double>(); }
const nn::Module& module_of(const Dict& group) { return *group.at("module").to_module(); }

// The test_prepare checks on SimpleLinear: five groups, each module's weight parametrized with a
// FakeSparsity that holds a mask.
void expect_prepared_with_fake_sparsity(const ao::BaseSparsifier& sparsifier) {
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  for (const Dict& g : sparsifier.groups) {
    const nn::Module& module = module_of(g);
    EXPECT_TRUE(weight_param(module)->has("mask"));
    EXPECT_TRUE(nn::is_parametrized(module, "weight"));
    EXPECT_EQ(typeid(*weight_param(module)), typeid(ao::FakeSparsity));
  }
}

const std::set<std::string> kSimpleLinearFqns{"seq.0", "seq.1", "seq.2", "linear1", "linear2"};

// Python's re.sub(r"[-\.\s]", "_", name).
std::string layer_name(std::string name) {
  std::replace_if(
      name.begin(), name.end(), [](char c) { return c == '-' || c == '.' || c == ' '; }, '_');
  return name;
}

// Python's floor division a // b (b > 0).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

// ---- TestWeightNormSparsifier ------------------------------------------------------------------

TEST(TestWeightNormSparsifier, test_constructor) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::WeightNormSparsifier sparsifier;
  sparsifier.prepare(model, std::nullopt);
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  for (const Dict& g : sparsifier.groups) {
    EXPECT_NE(dynamic_cast<const nn::Linear*>(&module_of(g)), nullptr);
    // The groups are unordered
    EXPECT_TRUE(kSimpleLinearFqns.contains(g.at("module_fqn").to_string())) << g.at("module_fqn").repr();
  }
  // defaults in PyTorch's key order, zeros_per_block defaulting to the block's volume.
  EXPECT_EQ(sparsifier.defaults.keys(),
            (std::vector<std::string>{"sparsity_level", "sparse_block_shape", "zeros_per_block"}));
  EXPECT_EQ(sparsifier.defaults.repr(), "{'sparsity_level': 0.5, 'sparse_block_shape': (1, 4), 'zeros_per_block': 4}");
  ao::WeightNormSparsifier other(0.25, {2, 3}, 1, 1);
  EXPECT_EQ(other.defaults.repr(), "{'sparsity_level': 0.25, 'sparse_block_shape': (2, 3), 'zeros_per_block': 1}");
  EXPECT_EQ(ao::WeightNormSparsifier(0.5, {2, 3}).defaults.at("zeros_per_block").to_int(), 6);
  EXPECT_EQ(sparsifier.type_name(), "WeightNormSparsifier");
}

TEST(TestWeightNormSparsifier, test_step) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::WeightNormSparsifier sparsifier(0.5);
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  for (const Dict& g : sparsifier.groups) {
    // Before step
    EXPECT_EQ(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
  const nn::Module& linear1 = *model->child("linear1");
  const Tensor mask = weight_mask(linear1);
  sparsifier.enable_mask_update = true;
  sparsifier.step();
  EXPECT_NEAR(mean_of(weight_mask(linear1)), 0.5, 0.005);  // assertAlmostEqual(places=2)
  // The mask object is kept (its data replaced), and is still the state's mask.
  EXPECT_TRUE(weight_mask(linear1).is_same(mask));
  EXPECT_TRUE(sparsifier.state.at("linear1.weight").to_dict().at("mask").to_tensor().is_same(mask));
  EXPECT_EQ(mask.dtype(), kFloat32);
  for (const Dict& g : sparsifier.groups) {
    // After step
    EXPECT_GT(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
  // Test if the mask collapses to all zeros if the weights are randomized. (As in Python,
  // `linear1.weight.data = ...` sets the data of a freshly computed parametrized value, which the
  // next access computes again: the steps see the same original weight.)
  for (int i = 0; i < 1000; ++i) {
    linear1.get("weight").set_data(randn(linear1.get("weight").sizes()));
    sparsifier.step();
  }
  for (const Dict& g : sparsifier.groups) {
    EXPECT_GT(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
}

TEST(TestWeightNormSparsifier, test_step_2_of_4) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::WeightNormSparsifier sparsifier(1.0, {1, 4}, 2);
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  sparsifier.step();
  // make sure the sparsity level is approximately 50%
  const Tensor raw = weight_mask(*model->child("linear1"));
  EXPECT_EQ(raw.dtype(), kBool);  // 1.13's logical_or leaves a bool mask (hence Python's .to(float))
  EXPECT_NEAR(raw.to(kFloat32).mean().item<float>(), 0.5, 0.005);
  // Make sure each block has exactly 50% zeros
  const Tensor mask = weight_mask(module_of(sparsifier.groups[0]));
  for (int64_t r = 0; r < mask.size(0); ++r) {
    const Tensor row = mask.select(0, r);
    for (int64_t idx = 0; idx < row.size(0); idx += 4) {
      auto [block, order] = row.slice(0, idx, idx + 4).sort();
      EXPECT_TRUE(block.slice(0, 0, 2).eq(0).all().item<bool>());
      EXPECT_TRUE(block.slice(0, 2, 4).ne(0).all().item<bool>());
    }
  }
}

TEST(TestWeightNormSparsifier, test_prepare) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::WeightNormSparsifier sparsifier;
  sparsifier.prepare(model, std::nullopt);
  expect_prepared_with_fake_sparsity(sparsifier);
}

TEST(TestWeightNormSparsifier, test_mask_squash) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::WeightNormSparsifier sparsifier;
  sparsifier.prepare(model, std::nullopt);
  sparsifier.squash_mask();
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  for (const Dict& g : sparsifier.groups) {
    const nn::Module& module = module_of(g);
    EXPECT_FALSE(nn::is_parametrized(module, "weight"));
    EXPECT_FALSE(module.has("mask"));
  }
}

TEST(TestWeightNormSparsifier, test_sparsity_levels) {
  struct Case {
    double sl;
    const char* sl_str;  // Python's str(sl)
    std::vector<int64_t> sbs;
    int64_t zpb;
    std::string name;
  };
  const std::vector<std::pair<double, const char*>> sparsity_levels{
      {-1.0, "-1.0"}, {0.0, "0.0"}, {0.5, "0.5"}, {1.0, "1.0"}, {2.0, "2.0"}};
  const std::vector<std::vector<int64_t>> sparse_block_shapes{{1, 1}, {1, 4}, {2, 2}, {4, 1}};
  std::vector<Case> cases;
  for (const auto& [sl, sl_str] : sparsity_levels) {
    for (const auto& sbs : sparse_block_shapes) {
      for (int64_t zpb = 0; zpb <= 4; ++zpb) {
        // Make sure the number of zeros is not > values in a block
        if (zpb > sbs[0] * sbs[1]) continue;
        const std::string name = std::string(sl_str) + "_" + Object(sbs).repr() + "_" + std::to_string(zpb);
        cases.push_back({sl, sl_str, sbs, zpb, layer_name(name)});
      }
    }
  }
  ASSERT_EQ(cases.size(), 5u * (2 + 5 + 5 + 5));
  EXPECT_EQ(cases[0].name, "_1_0_(1,_1)_0");

  // Create a config and model with all the testcases
  auto model = std::make_shared<nn::Sequential>();
  ao::WeightNormSparsifier sparsifier;
  std::vector<Dict> config;
  for (const Case& c : cases) {
    auto layer = std::make_shared<nn::Linear>(12, 12, /*bias=*/false);
    {
      NoGradGuard no_grad;
      layer->get("weight").copy_(ones({12, 12}));
    }
    model->register_module(c.name, layer);
    config.push_back(Dict{{"tensor_fqn", c.name + ".weight"},
                          {"sparsity_level", c.sl},
                          {"sparse_block_shape", Object(c.sbs)},
                          {"zeros_per_block", c.zpb}});
  }
  sparsifier.prepare(model, config);
  sparsifier.step();
  sparsifier.squash_mask();
  model->eval();

  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const nn::Module& layer = *model->child(c.name);
    // Level of sparsity is achieved
    const Tensor sparse_mask = layer.get("weight").eq(0).to(kFloat32);
    const float mean = sparse_mask.mean().item<float>();
    if (c.zpb == 0) {
      EXPECT_EQ(mean, 0.0f);
    } else {
      // Ratio of individual zeros in the tensor
      double true_sl = std::min(std::max(c.sl, 0.0), 1.0);
      true_sl = true_sl * static_cast<double>(c.zpb) / static_cast<double>(c.sbs[0]) / static_cast<double>(c.sbs[1]);
      EXPECT_EQ(mean, static_cast<float>(true_sl));
    }
  }
}

// ---- TestNearlyDiagonalSparsifier ----------------------------------------------------------------

TEST(TestNearlyDiagonalSparsifier, test_constructor) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::NearlyDiagonalSparsifier sparsifier(1);
  sparsifier.prepare(model, std::nullopt);
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  for (const Dict& g : sparsifier.groups) {
    EXPECT_NE(dynamic_cast<const nn::Linear*>(&module_of(g)), nullptr);
    EXPECT_TRUE(kSimpleLinearFqns.contains(g.at("module_fqn").to_string())) << g.at("module_fqn").repr();
  }
  EXPECT_EQ(sparsifier.defaults.repr(), "{'nearliness': 1}");
  EXPECT_EQ(ao::NearlyDiagonalSparsifier().defaults.repr(), "{'nearliness': 1}");
  EXPECT_EQ(sparsifier.type_name(), "NearlyDiagonalSparsifier");
}

TEST(TestNearlyDiagonalSparsifier, test_step) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::NearlyDiagonalSparsifier sparsifier(1);
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  ASSERT_EQ(sparsifier.groups.size(), 1u);
  for (const Dict& g : sparsifier.groups) {
    EXPECT_EQ(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
  const nn::Module& module = module_of(sparsifier.groups[0]);
  const Tensor before = weight_mask(module);
  sparsifier.enable_mask_update = true;
  sparsifier.step();
  const Tensor mask = weight_mask(module);
  EXPECT_TRUE(mask.is_same(before));
  EXPECT_EQ(mask.dtype(), kFloat32);
  EXPECT_TRUE(mask.eq(eye(mask.size(0), mask.size(1))).all().item<bool>());
  for (const Dict& g : sparsifier.groups) {
    EXPECT_GT(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
  const nn::Module& linear1 = *model->child("linear1");
  for (int i = 0; i < 1000; ++i) {
    linear1.get("weight").set_data(randn(linear1.get("weight").sizes()));
    sparsifier.step();
  }
  for (const Dict& g : sparsifier.groups) {
    EXPECT_GT(1.0 - mean_of(weight_mask(module_of(g))), 0.0);
  }
}

TEST(TestNearlyDiagonalSparsifier, test_prepare) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::NearlyDiagonalSparsifier sparsifier(1);
  sparsifier.prepare(model, std::nullopt);
  expect_prepared_with_fake_sparsity(sparsifier);
}

TEST(TestNearlyDiagonalSparsifier, test_mask_squash) {
  auto model = std::make_shared<twig::testing::models::SimpleLinear>();
  ao::NearlyDiagonalSparsifier sparsifier(1);
  sparsifier.prepare(model, std::nullopt);
  sparsifier.step();
  sparsifier.squash_mask();
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  for (const Dict& g : sparsifier.groups) {
    const nn::Module& module = module_of(g);
    EXPECT_FALSE(nn::is_parametrized(module, "weight"));
    EXPECT_FALSE(module.has("mask"));
    const Tensor weights = module.get("weight");
    EXPECT_TRUE(weights.eq(eye(weights.size(0), weights.size(1)) * weights).all().item<bool>());
    // and the diagonal survived (the check above also holds for an all-zero weight)
    EXPECT_TRUE(eye(weights.size(0), weights.size(1), kBool).logical_and(weights.ne(0)).any().item<bool>());
  }
}

// Python's _verify_nearliness.
void verify_nearliness(const Tensor& mask, int64_t nearliness) {
  if (nearliness <= 0) {
    EXPECT_TRUE(mask.eq(zeros({mask.size(0), mask.size(1)})).all().item<bool>());
    return;
  }
  const int64_t dist_to_diagonal = nearliness / 2;
  const Tensor m = mask.to(kFloat64).contiguous();
  const double* p = m.data_ptr<double>();
  for (int64_t row = 0; row < mask.size(0); ++row) {
    for (int64_t col = 0; col < mask.size(1); ++col) {
      const double v = p[row * mask.size(1) + col];
      if (std::abs(row - col) <= dist_to_diagonal) {
        EXPECT_EQ(v, 1.0) << "near-diagonal mask[" << row << ", " << col << "]";
      } else {
        EXPECT_EQ(v, 0.0) << "off-diagonal mask[" << row << ", " << col << "]";
      }
    }
  }
}

TEST(TestNearlyDiagonalSparsifier, test_sparsity_levels) {
  auto model = std::make_shared<nn::Sequential>();
  int raised = 0;
  for (int64_t nearliness = -1; nearliness < 100; ++nearliness) {
    SCOPED_TRACE(nearliness);
    ao::NearlyDiagonalSparsifier sparsifier(1);
    const std::string name = layer_name(std::to_string(nearliness));
    auto layer = std::make_shared<nn::Linear>(32, 32, /*bias=*/false);
    {
      NoGradGuard no_grad;
      layer->get("weight").copy_(ones({32, 32}));
    }
    const int64_t width = layer->get("weight").size(0), height = layer->get("weight").size(1);
    model->register_module(name, layer);
    sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", name + ".weight"}, {"nearliness", nearliness}}});
    // should raise a ValueError when nearliness arg is illegal
    if ((nearliness > 0 && nearliness % 2 == 0) || floor_div(nearliness, 2) >= std::min(width, height)) {
      EXPECT_THROW(sparsifier.step(), ValueError);
      ++raised;
      // twig checks before it touches the mask (1.13 zeroes it first): still all ones.
      EXPECT_TRUE(weight_mask(*layer).eq(1).all().item<bool>());
    } else {
      sparsifier.step();
      sparsifier.squash_mask();
      model->eval();
      verify_nearliness(model->child(name)->get("weight"), nearliness);
    }
  }
  EXPECT_EQ(raised, 49 + 18);  // the 49 even ones in 2..98 and the 18 odd ones in 65..99
}

// ---- golden masks from PyTorch 1.13 ----------------------------------------------------------

namespace {

const json& fixture() { return twig::testing::load_fixture("ao_weight_norm.json", "gen_ao_sparsifier_fixtures.py"); }

Tensor tensor_of(const json& values, const json& shape) {
  return from_vector(values.get<std::vector<double>>(), shape.get<std::vector<int64_t>>()).to(kFloat32);
}

Tensor mask_of(const std::string& s, const json& shape) {
  std::vector<double> v;
  for (char c : s) v.push_back(c == '1' ? 1.0 : 0.0);
  return from_vector(v, shape.get<std::vector<int64_t>>());
}

Dtype dtype_of(const std::string& name) {
  if (name == "bool") return kBool;
  if (name == "float64") return kFloat64;
  return kFloat32;
}

ao::WeightNorm norm_of(const json& j) {
  if (j.is_null()) return {};
  if (j.is_string()) {
    EXPECT_EQ(j.get<std::string>(), "x4");
    return ao::WeightNorm([](const Tensor& t) {
      Tensor sq = t * t;
      return sq * sq;
    });
  }
  return ao::WeightNorm(j.get<int64_t>());
}

Object object_of(const json& j) {
  if (j.is_array()) return Object(j.get<std::vector<int64_t>>());
  if (j.is_number_integer()) return Object(j.get<int64_t>());
  return Object(j.get<double>());
}

// Prepares Sequential(Linear(w, h, bias=False)) with the case's weight and runs its steps,
// checking each mask (values, dtype, identity) or error (Python class; nothing changed).
void run_golden_case(ao::BaseSparsifier& sparsifier, const json& c) {
  const json& shape = c.at("shape");
  const int64_t h = shape[0].get<int64_t>(), w = shape[1].get<int64_t>();
  auto linear = std::make_shared<nn::Linear>(w, h, /*bias=*/false);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{linear});
  {
    NoGradGuard no_grad;
    linear->get("weight").copy_(tensor_of(c.at("weight"), shape));
  }
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "0.weight"}}});
  const Tensor mask = sparsifier.state.at("0.weight").to_dict().at("mask").to_tensor();
  const Tensor original = nn::parametrizations_of(*linear, "weight")->original();
  int step = 0;
  for (const json& st : c.at("steps")) {
    SCOPED_TRACE("step " + std::to_string(step++));
    for (const auto& [key, value] : st.at("set").items()) sparsifier.groups[0].set(key, object_of(value));
    if (st.contains("original")) {
      NoGradGuard no_grad;
      original.copy_(tensor_of(st.at("original"), shape));
    }
    const Tensor mask_before = mask.clone();
    const Tensor original_before = original.clone();
    if (st.contains("error")) {
      std::string raised = "nothing";
      try {
        sparsifier.step();
      } catch (const Error& e) {
        raised = e.python_name();
      }
      EXPECT_EQ(raised, st.at("error").get<std::string>()) << st.at("message").get<std::string>();
      EXPECT_EQ(mask.dtype(), mask_before.dtype());
      EXPECT_TRUE(equal(mask, mask_before));
      EXPECT_TRUE(equal(original, original_before));
    } else {
      sparsifier.step();
      EXPECT_EQ(mask.dtype(), dtype_of(st.at("dtype").get<std::string>()));
      EXPECT_TRUE(equal(mask.to(kFloat64), mask_of(st.at("mask").get<std::string>(), shape)))
          << "twig: " << mask << "\nPyTorch: " << mask_of(st.at("mask").get<std::string>(), shape);
    }
    // The parametrization's buffer and the state's mask remain one tensor.
    EXPECT_TRUE(weight_mask(*linear).is_same(mask));
    EXPECT_TRUE(sparsifier.state.at("0.weight").to_dict().at("mask").to_tensor().is_same(mask));
  }
}

}  // namespace

TEST(TestWeightNormSparsifierGolden, masks_match_pytorch) {
  int cases = 0;
  for (const json& c : fixture().at("weight_norm")) {
    SCOPED_TRACE("weight_norm case " + std::to_string(cases++) + ": " + c.at("ctor").dump());
    const json& ctor = c.at("ctor");
    std::optional<int64_t> zeros_per_block;
    if (!ctor.at("zeros_per_block").is_null()) zeros_per_block = ctor.at("zeros_per_block").get<int64_t>();
    ao::WeightNormSparsifier sparsifier(ctor.at("sparsity_level").get<double>(),
                                        ctor.at("sparse_block_shape").get<std::vector<int64_t>>(), zeros_per_block,
                                        norm_of(ctor.at("norm")));
    run_golden_case(sparsifier, c);
  }
  EXPECT_GE(cases, 100);
}

TEST(TestNearlyDiagonalSparsifierGolden, masks_match_pytorch) {
  int cases = 0;
  for (const json& c : fixture().at("nearly_diagonal")) {
    SCOPED_TRACE("nearly_diagonal case " + std::to_string(cases++) + ": " + c.at("ctor").dump());
    ao::NearlyDiagonalSparsifier sparsifier(c.at("ctor").at("nearliness").get<int64_t>());
    run_golden_case(sparsifier, c);
  }
  EXPECT_GE(cases, 60);
}

TEST(TestWeightNormSparsifierGolden, norms_pytorch_rejects) {
  for (const json& c : fixture().at("ctor_errors")) {
    SCOPED_TRACE(c.dump());
    ASSERT_FALSE(c.at("error").is_null());
    const json& p = c.at("norm");
    std::string raised = "nothing", message;
    try {
      if (p.is_number_integer()) {
        ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, p.get<int64_t>());
      } else {
        ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, p.get<double>());
      }
    } catch (const Error& e) {
      raised = e.python_name();
      message = e.what();
    }
    EXPECT_EQ(raised, c.at("error").get<std::string>());
    EXPECT_EQ(message, c.at("message").get<std::string>());
  }
  // 1, 2, None, 1.0 and true (Python's True == 1) are accepted.
  EXPECT_NO_THROW(ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, 1));
  EXPECT_NO_THROW(ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, 2));
  EXPECT_NO_THROW(ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, 1.0));
  EXPECT_NO_THROW(ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, true));
  EXPECT_NO_THROW(ao::WeightNormSparsifier(0.5, {1, 4}, std::nullopt, std::nullopt));
}

// ---- bad input --------------------------------------------------------------------------------

namespace {

struct Prepared {
  std::shared_ptr<nn::Linear> linear;
  nn::ModulePtr model;
  Tensor mask;
};

Prepared prepare_linear(ao::BaseSparsifier& sparsifier, int64_t out, int64_t in, Dict entry = {}) {
  Prepared p;
  p.linear = std::make_shared<nn::Linear>(in, out, /*bias=*/false);
  p.model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{p.linear});
  entry.set("tensor_fqn", "0.weight");
  sparsifier.prepare(p.model, std::vector<Dict>{entry});
  p.mask = sparsifier.state.at("0.weight").to_dict().at("mask").to_tensor();
  return p;
}

// step() raises E and leaves the model (mask values and dtype, original, its state dict) unchanged.
template <typename E>
void expect_step_error_keeps_model(ao::BaseSparsifier& sparsifier, const Prepared& p, const std::string& needle) {
  const Tensor mask_before = p.mask.clone();
  const Tensor original_before = nn::parametrizations_of(*p.linear, "weight")->original().clone();
  const auto state_before = p.model->state_dict();
  try {
    sparsifier.step();
    ADD_FAILURE() << "no error";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_EQ(p.mask.dtype(), mask_before.dtype());
  EXPECT_TRUE(equal(p.mask, mask_before));
  EXPECT_TRUE(equal(nn::parametrizations_of(*p.linear, "weight")->original(), original_before));
  const auto state_after = p.model->state_dict();
  EXPECT_EQ(state_after.keys(), state_before.keys());
  EXPECT_TRUE(weight_mask(*p.linear).is_same(p.mask));
}

}  // namespace

TEST(TestWeightNormSparsifierErrors, block_larger_than_the_tensor) {
  // 1.13: the (2, 2) mask cannot be reshaped to (1, 16, 1): RuntimeError (the message names it).
  ao::WeightNormSparsifier sparsifier(0.5, {4, 4});
  Prepared p = prepare_linear(sparsifier, 2, 2);
  expect_step_error_keeps_model<RuntimeError>(sparsifier, p, "shape '[1, 16, 1]' is invalid for input of size 4");
  // ... unless every block is zeroed (level >= 1 with zeros_per_block the volume) or none is.
  sparsifier.groups[0].set("sparsity_level", 1.0);
  sparsifier.step();
  EXPECT_TRUE(p.mask.eq(0).all().item<bool>());
  sparsifier.groups[0].set("sparsity_level", 0.0);
  sparsifier.step();
  EXPECT_TRUE(p.mask.eq(1).all().item<bool>());
}

TEST(TestWeightNormSparsifierErrors, shape_not_whole_blocks) {
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4}, 2);
  Prepared p = prepare_linear(sparsifier, 4, 10);
  expect_step_error_keeps_model<RuntimeError>(sparsifier, p, "shape '[1, 4, 12]' is invalid for input of size 40");
  sparsifier.groups[0].set("sparsity_level", 1.0);  // the block mask still runs: same error
  expect_step_error_keeps_model<RuntimeError>(sparsifier, p, "shape '[1, 4, 12]'");
}

TEST(TestWeightNormSparsifierErrors, a_failing_group_leaves_the_earlier_groups_masks) {
  // Group 0 (8 x 8) steps fine; group 1 (4 x 6) is not whole 1x4 blocks. PyTorch would keep group
  // 0's new mask; twig's step() restores it, and the state entries, so nothing is half-changed.
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(8, 8));
  model->push_back(std::make_shared<nn::Linear>(6, 4));
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4});
  sparsifier.prepare(model, std::nullopt);
  Tensor mask0 = sparsifier.state.at("0.weight").to_dict().at("mask").to_tensor();
  Tensor before = mask0.clone();
  sparsifier.state.at("0.weight").to_dict().set("note", 1);
  EXPECT_THROW(sparsifier.step(), RuntimeError);
  EXPECT_TENSOR_EQ(mask0, before);
  EXPECT_TRUE(sparsifier.state.at("0.weight").to_dict().at("mask").is(Object(mask0)));
  EXPECT_EQ(sparsifier.state.at("0.weight").to_dict().keys(), (std::vector<std::string>{"mask", "note"}));
  // With the bad group gone, the same step changes group 0.
  sparsifier.groups.pop_back();
  sparsifier.step();
  EXPECT_EQ(mask0.eq(0).sum().item<int64_t>(), 32);
}

TEST(TestWeightNormSparsifierErrors, zeros_per_block_out_of_range) {
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4}, 5);
  Prepared p = prepare_linear(sparsifier, 4, 8);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "cannot be more than the total number");
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "zeros_per_block=5");
  sparsifier.groups[0].set("zeros_per_block", -1);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "should be positive. (zeros_per_block=-1)");
  // A good step first, then a bad one: the earlier mask stays.
  sparsifier.groups[0].set("zeros_per_block", 2);
  sparsifier.step();
  EXPECT_EQ(p.mask.dtype(), kBool);
  sparsifier.groups[0].set("zeros_per_block", 9);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "zeros_per_block=9");
}

TEST(TestWeightNormSparsifierErrors, sparsity_level_out_of_range_is_clamped_like_pytorch) {
  // PyTorch 1.13 raises nothing: a level <= 0 keeps everything and a level >= 1 zeroes every block
  // (and with zeros_per_block < volume, every block keeps volume - zeros_per_block values).
  ao::WeightNormSparsifier sparsifier(1.5, {1, 4});
  Prepared p = prepare_linear(sparsifier, 4, 8);
  sparsifier.step();
  EXPECT_TRUE(p.mask.eq(0).all().item<bool>());
  EXPECT_EQ(p.mask.dtype(), kFloat32);
  sparsifier.groups[0].set("sparsity_level", -0.5);
  sparsifier.step();
  EXPECT_TRUE(p.mask.eq(1).all().item<bool>());
  sparsifier.groups[0].set("sparsity_level", 7.0);
  sparsifier.groups[0].set("zeros_per_block", 1);
  sparsifier.step();
  EXPECT_EQ(p.mask.dtype(), kBool);
  EXPECT_EQ(p.mask.logical_not().sum().item<int64_t>(), 8);  // one zero in each of the 8 blocks
}

TEST(TestWeightNormSparsifierErrors, bad_arguments) {
  // A block that is not a pair (ValueError, Python's unpacking), a missing group key (TypeError,
  // a missing argument), a 1-D tensor (ValueError).
  ao::WeightNormSparsifier sparsifier(0.5, {1, 2, 2});
  Prepared p = prepare_linear(sparsifier, 4, 8);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "too many values to unpack (expected 2)");
  sparsifier.groups[0].set("sparse_block_shape", Object(std::vector<int64_t>{1, 4}));
  sparsifier.groups[0].erase("zeros_per_block");
  expect_step_error_keeps_model<TypeError>(sparsifier, p, "'zeros_per_block'");
  EXPECT_THROW(ao::weight_norm_tensor_mask(ones({8}), 0.5, {1, 4}), ValueError);
  EXPECT_THROW(ao::weight_norm_block_mask(ones({8}), {1, 4}, 2), ValueError);
  EXPECT_THROW(ao::weight_norm_tensor_mask(ones({2, 4, 4}), 0.5, {1, 4}), RuntimeError);
  EXPECT_THROW(ao::weight_norm_tensor_mask(ones({4, 4}), 0.5, {-1, -4}), RuntimeError);
}

TEST(TestWeightNormSparsifierErrors, double_weights_get_a_float32_mask) {
  // PyTorch 1.13: the computed masks are made with the default dtype whatever the weight's.
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4});
  auto linear = std::make_shared<nn::Linear>(8, 4, /*bias=*/false);
  linear->to(kFloat64);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{linear});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "0.weight"}}});
  const Tensor mask = weight_mask(*linear);
  EXPECT_EQ(mask.dtype(), kFloat64);
  sparsifier.step();
  EXPECT_EQ(mask.dtype(), kFloat32);
  EXPECT_EQ(linear->get("weight").dtype(), kFloat64);
}

TEST(TestNearlyDiagonalSparsifierErrors, bad_nearliness_keeps_the_mask) {
  // ValueError as 1.13 (even, or too large for the tensor); 1.13 zeroes the mask first, twig keeps it.
  ao::NearlyDiagonalSparsifier sparsifier(2);
  Prepared p = prepare_linear(sparsifier, 4, 8);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "nearliness can only be an odd number (nearliness=2)");
  sparsifier.groups[0].set("nearliness", 9);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "cannot be larger than the dimensions of tensor");
  sparsifier.groups[0].set("nearliness", 7);
  sparsifier.step();
  EXPECT_EQ(p.mask.sum().item<double>(), 22.0);  // PyTorch 1.13 on a 4x8 weight
  sparsifier.groups[0].set("nearliness", 4);
  expect_step_error_keeps_model<ValueError>(sparsifier, p, "odd");
  EXPECT_EQ(p.mask.sum().item<double>(), 22.0);
}

TEST(TestNearlyDiagonalSparsifierErrors, keeps_the_mask_dtype) {
  ao::NearlyDiagonalSparsifier sparsifier(3);
  auto linear = std::make_shared<nn::Linear>(8, 4, /*bias=*/false);
  linear->to(kFloat64);
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{linear});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "0.weight"}}});
  sparsifier.step();
  EXPECT_EQ(weight_mask(*linear).dtype(), kFloat64);  // as 1.13
  EXPECT_EQ(weight_mask(*linear).sum().item<double>(), 11.0);
}

// ---- save / load ------------------------------------------------------------------------------

namespace {

// A fresh directory under the test temp dir, removed at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "twig_wn_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    const char* made = ::mkdtemp(buf.data());
    TWIG_CHECK(made != nullptr, RuntimeError, "mkdtemp failed for ", tmpl);
    path_ = made;
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Sequential(Linear(8, 4), Linear(4, 8)), no biases: weights (4, 8) and (8, 4).
std::shared_ptr<nn::Sequential> two_linears() {
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(8, 4, /*bias=*/false), std::make_shared<nn::Linear>(4, 8, /*bias=*/false)});
}

std::vector<Dict> two_linear_config() {
  return {Dict{{"tensor_fqn", "0.weight"}}, Dict{{"tensor_fqn", "1.weight"}, {"zeros_per_block", 4}}};
}

}  // namespace

TEST(TestWeightNormSparsifierSaveLoad, bool_and_float_masks_survive_state_files_and_module_files) {
  auto model = two_linears();
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4}, 2);  // "0.weight": 2 of 4, a bool mask
  sparsifier.prepare(model, two_linear_config());       // "1.weight": whole blocks, a float mask
  sparsifier.step();
  const Tensor mask0 = weight_mask(*model->child("0")), mask1 = weight_mask(*model->child("1"));
  ASSERT_EQ(mask0.dtype(), kBool);
  ASSERT_EQ(mask1.dtype(), kFloat32);

  // The sparsifier's state_dict through a file, into a fresh sparsifier on a fresh model.
  ScratchDir dir;
  ao::save_sparsifier_state(sparsifier.state_dict(), dir.file("wn.sparsifier"));
  auto model2 = two_linears();
  ao::WeightNormSparsifier sparsifier2;
  sparsifier2.prepare(model2, two_linear_config());
  sparsifier2.load_state_dict(ao::load_sparsifier_state(dir.file("wn.sparsifier")));
  for (const char* name : {"0", "1"}) {
    SCOPED_TRACE(name);
    const Tensor a = weight_mask(*model->child(name)), b = weight_mask(*model2->child(name));
    EXPECT_EQ(b.dtype(), a.dtype());
    EXPECT_TRUE(equal(a, b));
  }
  ASSERT_EQ(sparsifier2.groups.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    for (const char* key : {"sparsity_level", "sparse_block_shape", "zeros_per_block", "tensor_fqn"}) {
      EXPECT_EQ(sparsifier2.groups[i].at(key), sparsifier.groups[i].at(key)) << key;
    }
  }
  EXPECT_EQ(sparsifier2.groups[0].at("sparse_block_shape").repr(), "(1, 4)");

  // The prepared model as a whole module: masks (bool and float) and forward kept.
  nn::ModulePtr loaded = [&] {
    const std::string bytes = serialize::module_to_bytes(*model);
    return serialize::module_from_bytes(bytes.data(), bytes.size());
  }();
  for (const char* name : {"0", "1"}) {
    SCOPED_TRACE(name);
    const Tensor a = weight_mask(*model->child(name)), b = weight_mask(*loaded->child(name));
    EXPECT_EQ(b.dtype(), a.dtype());
    EXPECT_TRUE(equal(a, b));
  }
  const Tensor x = randn({3, 8});
  EXPECT_TRUE(equal((*loaded)(x), (*model)(x)));
}

TEST(TestWeightNormSparsifierSaveLoad, bool_mask_trains_with_masked_gradients) {
  // After a 2:4 step the mask is bool (as 1.13); mask * weight still promotes to float and the
  // pruned entries get no gradient.
  auto model = two_linears();
  ao::WeightNormSparsifier sparsifier(0.5, {1, 4}, 2);
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "0.weight"}}});
  sparsifier.step();
  const Tensor mask = weight_mask(*model->child("0"));
  ASSERT_EQ(mask.dtype(), kBool);
  const Tensor original = nn::parametrizations_of(*model->child("0"), "weight")->original();
  const Tensor out = (*model)(randn({5, 8}));
  EXPECT_EQ(out.dtype(), kFloat32);
  out.sum().backward();
  ASSERT_TRUE(original.grad().defined());
  EXPECT_TRUE(original.grad().masked_select(mask.logical_not()).eq(0).all().item<bool>());
  EXPECT_TRUE(original.grad().masked_select(mask).ne(0).any().item<bool>());
}
