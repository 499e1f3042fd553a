// PyTorch's test_structured_sparsifier.py, TestSaliencyPruner and TestFPGMPruner (every assertion
// Python makes, plus dtypes and the masks' identity), then the pruners' masks against golden values
// (tools/gen_ao_pruner_fixtures.py -> tests/fixtures/ao_pruners.json: PyTorch 1.13 has no pruner
// classes, so the script re-derives each rule of spec §6 with 1.13's norm / cdist / topk / split
// and Python's int() and round(): exact halves, ties, levels 0, 1 and out of range), and the
// errors of bad input, each leaving the mask as it was.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/fixture_file.h"
#include "tests/models/common_pruning.h"
#include "tests/testing.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/ao/pruners.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/conv.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/error.h"

using namespace twig;
using ao::Dict;
using ao::Object;
using json = nlohmann::json;
using twig::testing::models::LSTMLinearModel;
using twig::testing::models::SimpleLinear;

namespace {

// Python's DEVICES: the CPU, and CUDA when a backend serves it.
std::vector<Device> devices() {
  std::vector<Device> out{Device::cpu()};
  try {
    backend_for(Device::cuda());
    out.push_back(Device::cuda());
  } catch (const RuntimeError&) {
  }
  return out;
}

// module.parametrizations[name][0].mask
Tensor mask_of_param(const nn::Module& module, const std::string& name = "weight") {
  return nn::parametrizations_of(module, name)->at(0)->get("mask");
}

void set_values(const Tensor& param, const Tensor& values) {
  autograd::NoGradGuard no_grad;
  param.copy_(values);
}

bool close(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-7) {
  return a.sizes() == b.sizes() && isclose(a, b.to(a.device()), rtol, atol).all().item<bool>();
}

}  // namespace

// ---- TestSaliencyPruner -------------------------------------------------------------------------

TEST(TestSaliencyPruner, test_saliency_pruner_update_mask) {
  // Prunes the rows of least saliency (L1 norm): rows 0 and 1 of linear1.
  auto model = std::make_shared<SimpleLinear>();
  set_values(model->child("linear1")->get("weight"),
             tensor({{1.0, 1.0, 1.0, 1.0}, {2.0, 2.0, 2.0, 2.0}, {3.0, 3.0, 3.0, 3.0}, {4.0, 4.0, 4.0, 4.0}}));
  ao::SaliencyPruner pruner(Dict{});
  pruner.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"sparsity_level", 0.5}}});
  pruner.enable_mask_update = true;
  pruner.step();
  // The step's mask, beyond Python's checks: bool, rows 0 and 1 off, one tensor with the state's.
  const Tensor mask = mask_of_param(*model->child("linear1"));
  EXPECT_EQ(mask.dtype(), kBool);
  EXPECT_TRUE(equal(mask, tensor({false, false, true, true})));
  EXPECT_TRUE(pruner.state.at("linear1.weight").to_dict().at("mask").to_tensor().is_same(mask));

  auto pruned_model = pruner.prune(nn::Values{nn::Value(ones({128, 7}))});
  const Tensor expected = tensor({{3.0, 3.0, 3.0, 3.0}, {4.0, 4.0, 4.0, 4.0}});
  const Tensor pruned = pruned_model->child("linear1")->get("weight");
  EXPECT_EQ(expected.sizes(), pruned.sizes());
  EXPECT_TRUE(close(expected, pruned));
  EXPECT_EQ(pruned.dtype(), kFloat32);
  // linear1 -> linear2 matched (Linear, Linear): linear2 lost the same input columns.
  EXPECT_EQ(pruned_model->child("linear2")->get("weight").sizes(), (Shape{10, 2}));
}

TEST(TestSaliencyPruner, test_lstm_saliency_pruner_update_mask) {
  auto model = std::make_shared<LSTMLinearModel>(/*input_dim=*/2, /*hidden_dim=*/2, /*output_dim=*/2,
                                                 /*num_layers=*/1);
  const Tensor manual_weights =
      tensor({{1.0, 1.0}, {2.0, 2.0}, {2.0, 2.0}, {1.0, 1.0}, {-1.0, -1.0}, {-2.0, -2.0}, {-2.0, -2.0}, {-1.0, -1.0}});
  auto lstm = model->child("lstm");
  set_values(lstm->get("weight_ih_l0"), manual_weights);
  set_values(lstm->get("weight_hh_l0"), manual_weights);
  set_values(lstm->get("bias_ih_l0"), manual_weights.select(1, 0));
  set_values(lstm->get("bias_hh_l0"), manual_weights.select(1, 0));

  const std::vector<Dict> config{{{"tensor_fqn", "lstm.weight_ih_l0"}}, {{"tensor_fqn", "lstm.weight_hh_l0"}}};
  ao::LSTMSaliencyPruner fx_pruner(Dict{{"sparsity_level", 0.5}});
  fx_pruner.prepare(model, config);
  fx_pruner.enable_mask_update = true;
  fx_pruner.step();
  // Saliencies 2,4,4,2,2,4,4,2; one of each gate's two rows goes: rows 0, 3, 4 and 7.
  for (const char* name : {"weight_ih_l0", "weight_hh_l0"}) {
    const Tensor mask = mask_of_param(*lstm, name);
    EXPECT_EQ(mask.dtype(), kBool);
    EXPECT_TRUE(equal(mask, tensor({false, true, true, false, false, true, true, false}))) << name;
  }

  model->eval();
  const Tensor lstm_input = ones({1, 2});
  auto pruned_model = fx_pruner.prune(nn::Values{nn::Value(lstm_input)});
  pruned_model->eval();
  // Both models still run.
  model->call({nn::Value(lstm_input)});
  pruned_model->call({nn::Value(lstm_input)});

  // The rows of least saliency are gone (checked on model.lstm: the pruned model shares it).
  Tensor expected = tensor({{2.0, 2.0}, {2.0, 2.0}, {-2.0, -2.0}, {-2.0, -2.0}});
  Tensor pruned = lstm->get("weight_ih_l0");
  EXPECT_EQ(expected.sizes(), pruned.sizes());
  EXPECT_TRUE(close(expected, pruned));
  EXPECT_EQ(pruned.dtype(), kFloat32);

  expected = tensor({{2.0}, {2.0}, {-2.0}, {-2.0}});
  pruned = lstm->get("weight_hh_l0");
  EXPECT_EQ(expected.sizes(), pruned.sizes());
  EXPECT_TRUE(close(expected, pruned));
  EXPECT_EQ(pruned.dtype(), kFloat32);

  expected = tensor({2.0, 2.0, -2.0, -2.0});
  for (const char* name : {"bias_ih_l0", "bias_hh_l0"}) {
    pruned = lstm->get(name);
    EXPECT_EQ(expected.sizes(), pruned.sizes()) << name;
    EXPECT_TRUE(close(expected, pruned)) << name;
    EXPECT_EQ(pruned.dtype(), kFloat32) << name;
  }
}

// ---- TestFPGMPruner -----------------------------------------------------------------------------

namespace {

// TestFPGMPruner.SimpleConvFPGM: conv2d1 (1->3, 3x3, pad 1, no bias) with filters filled with 3.0,
// 2.0, 0.1; conv2d2 (3->4) with 6.0, 7.0, 0.4, 0.5. FPGM prunes the 2.0 filter of conv2d1 (the
// nearest to the others), where a norm-based rule would prune 0.1.
class SimpleConvFPGM : public nn::UnaryModule {
 public:
  SimpleConvFPGM() : UnaryModule("SimpleConvFPGM") {
    auto conv2d1 =
        register_module("conv2d1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 3, 3).padding(1).bias(false)));
    auto conv2d2 =
        register_module("conv2d2", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 4, 3).padding(1).bias(false)));
    fill_filters(conv2d1->get("weight"), {3.0, 2.0, 0.1});
    fill_filters(conv2d2->get("weight"), {6.0, 7.0, 0.4, 0.5});
  }
  Tensor forward(const Tensor& x) override {
    return child("conv2d2")->call({child("conv2d1")->call({nn::Value(x)})}).tensor();
  }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<SimpleConvFPGM>(*this); }

 private:
  static void fill_filters(const Tensor& weight, const std::vector<double>& values) {
    set_values(weight, ones(weight.sizes()) * from_vector(values).to(kFloat32).reshape({-1, 1, 1, 1}));
  }
};

void update_mask_on_single_layer(const Tensor& expected_conv1, Device device) {
  auto model = std::make_shared<SimpleConvFPGM>();
  model->to(device);
  const Tensor x = ones({1, 1, 32, 32}, TensorOptions().device(device));
  ao::FPGMPruner pruner(0.3);
  pruner.prepare(model, std::vector<Dict>{{{"tensor_fqn", "conv2d1.weight"}}});
  pruner.enable_mask_update = true;
  pruner.step();
  const Tensor mask = mask_of_param(*pruner.groups[0].at("module").to_module());
  EXPECT_TRUE(mask.select(0, -1).item<bool>()) << "do not prune the least-norm filter";
  // Beyond Python: exactly filter 1 (2.0) went, the mask is bool and on the device.
  EXPECT_EQ(mask.dtype(), kBool);
  EXPECT_EQ(mask.device(), device);
  EXPECT_TRUE(equal(mask.cpu(), tensor({true, false, true})));

  auto pruned_model = pruner.prune(nn::Values{nn::Value(x)});
  const Tensor pruned_y = pruned_model->call({nn::Value(x)}).tensor();
  const Tensor expected = expected_conv1.to(device);
  EXPECT_EQ(pruned_y.sizes(), (Shape{1, 4, 32, 32}));
  const Tensor w1 = pruned_model->child("conv2d1")->get("weight");
  const Tensor w2 = pruned_model->child("conv2d2")->get("weight");
  EXPECT_EQ(w1.sizes(), expected.sizes());
  EXPECT_EQ(w2.sizes(), (Shape{4, 2, 3, 3})) << "conv2d2 should have input channel pruned";
  EXPECT_TRUE(close(w1, expected));
  EXPECT_EQ(w1.dtype(), kFloat32);
}

void update_mask_on_multiple_layer(const Tensor& expected_conv1, const Tensor& expected_conv2, Device device) {
  auto model = std::make_shared<SimpleConvFPGM>();
  model->to(device);
  const Tensor x = ones({1, 1, 32, 32}, TensorOptions().device(device));
  ao::FPGMPruner pruner(0.3);
  pruner.prepare(model, std::vector<Dict>{{{"tensor_fqn", "conv2d1.weight"}},
                                          {{"tensor_fqn", "conv2d2.weight"}, {"sparsity_level", 0.5}}});
  pruner.enable_mask_update = true;
  pruner.step();
  const Tensor mask = mask_of_param(*pruner.groups[0].at("module").to_module());
  const bool mask1 = mask.select(0, -1).item<bool>(), mask2 = mask.select(0, -2).item<bool>();
  EXPECT_TRUE(mask1 || mask2) << "Do not prune all least-norm filters";
  // Beyond Python: conv2d2 keeps filters 1 (7.0) and 2 (0.4): 0 and 3 are nearest the others.
  EXPECT_TRUE(equal(mask_of_param(*model->child("conv2d2")).cpu(), tensor({false, true, true, false})));

  auto pruned_model = pruner.prune(nn::Values{nn::Value(x)});
  const Tensor pruned_y = pruned_model->call({nn::Value(x)}).tensor();
  const Tensor e1 = expected_conv1.to(device), e2 = expected_conv2.to(device);
  EXPECT_EQ(pruned_y.sizes(), (Shape{1, 2, 32, 32}));
  const Tensor w1 = pruned_model->child("conv2d1")->get("weight");
  const Tensor w2 = pruned_model->child("conv2d2")->get("weight");
  EXPECT_EQ(w1.sizes(), e1.sizes());
  EXPECT_EQ(w2.sizes(), e2.sizes());
  EXPECT_TRUE(close(w1, e1));
  EXPECT_TRUE(close(w2, e2));
  EXPECT_EQ(w1.dtype(), kFloat32);
  EXPECT_EQ(w2.dtype(), kFloat32);
}

}  // namespace

TEST(TestFPGMPruner, test_compute_distance) {
  for (Device device : devices()) {
    SCOPED_TRACE(device.str());
    auto model = std::make_shared<SimpleConvFPGM>();
    model->to(device);
    ao::FPGMPruner pruner(0.3);
    const Tensor dist_conv1 = pruner.compute_distance(model->child("conv2d1")->get("weight"));
    // The flattened filters, and their distances by torch.cdist (p=2): the matrix
    // [[0, 3, 8.7], [3, 0, 5.7], [8.7, 5.7, 0]], so the distances are [11.7, 8.7, 14.4].
    const Tensor flattened_filters = ones({3, 9}) * tensor({3.0, 2.0, 0.1}).reshape({3, 1});
    const Tensor expected_dist_matrix_conv1 = cdist(flattened_filters, flattened_filters, 2.0);
    const Tensor expected_dist_conv1 = expected_dist_matrix_conv1.abs().sum(Dims{1});
    EXPECT_TRUE(close(dist_conv1, expected_dist_conv1));
    // Independently of twig's cdist: the sums written out.
    EXPECT_TRUE(close(dist_conv1, tensor({11.7, 8.7, 14.4}), 1e-5, 1e-5));
    EXPECT_EQ(dist_conv1.dtype(), kFloat32);
    EXPECT_EQ(dist_conv1.device(), device);
  }
}

TEST(TestFPGMPruner, test_update_mask) {
  const Tensor expected_conv1 = ones({2, 1, 3, 3}) * tensor({3.0, 0.1}).reshape({-1, 1, 1, 1});
  const Tensor expected_conv2 = ones({2, 2, 3, 3}) * tensor({7.0, 0.4}).reshape({-1, 1, 1, 1});
  for (Device device : devices()) {
    SCOPED_TRACE(device.str());
    update_mask_on_single_layer(expected_conv1, device);
    update_mask_on_multiple_layer(expected_conv1, expected_conv2, device);
  }
}

// ---- golden masks (tools/gen_ao_pruner_fixtures.py) ----------------------------------------------

namespace {

const json& fixture() { return twig::testing::load_fixture("ao_pruners.json", "gen_ao_pruner_fixtures.py"); }

Dtype dtype_of(const std::string& name) { return name == "float64" ? kFloat64 : kFloat32; }

Tensor weight_of(const json& c) {
  return from_vector(c.at("weight").get<std::vector<double>>(), c.at("shape").get<std::vector<int64_t>>())
      .to(dtype_of(c.at("dtype").get<std::string>()));
}

Tensor bool_mask(const std::string& s) {
  std::vector<double> v;
  for (char ch : s) v.push_back(ch == '1' ? 1.0 : 0.0);
  return from_vector(v, {static_cast<int64_t>(v.size())}).to(kBool);
}

// A module holding one parameter `weight` of any shape (Python: any module with a weight).
class WeightHolder : public nn::UnaryModule {
 public:
  explicit WeightHolder(const Tensor& w) : UnaryModule("WeightHolder") { register_parameter("weight", w); }
  Tensor forward(const Tensor& x) override { return x; }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<WeightHolder>(*this); }
};

// Prepares a WeightHolder with the case's weight and starting mask (config "mask") and runs its
// steps through the pruner's step(), as a scheduler would (groups[0]["sparsity_level"] = level),
// checking each mask (values, bool, identity) or error (Python's class; the mask unchanged).
// For FPGM the distances of the masked weight are checked against cdist's too.
int run_golden_case(ao::BaseStructuredSparsifier& pruner, const json& c, const ao::FPGMPruner* fpgm = nullptr) {
  SCOPED_TRACE(c.at("name").get<std::string>());
  auto model = std::make_shared<WeightHolder>(weight_of(c));
  const Tensor mask = bool_mask(c.at("mask0").get<std::string>());
  pruner.prepare(model, std::vector<Dict>{{{"tensor_fqn", "weight"}, {"mask", mask}}});
  int checked = 0;
  for (const json& st : c.at("steps")) {
    const double level = st.at("sparsity_level").get<double>();
    SCOPED_TRACE("sparsity_level " + std::to_string(level));
    pruner.groups[0].set("sparsity_level", level);
    if (st.contains("distance")) {
      const Tensor d = fpgm->compute_distance(model->get("weight"));  // the masked weight
      const Tensor expected = from_vector(st.at("distance").get<std::vector<double>>(), {d.size(0)}).to(d.dtype());
      EXPECT_TRUE(close(d, expected, 1e-5, 1e-5)) << "twig: " << d << "\nPyTorch ops: " << expected;
    }
    const Tensor before = mask.clone();
    if (st.contains("error")) {
      std::string raised = "nothing";
      try {
        pruner.step();
      } catch (const Error& e) {
        raised = e.python_name();
      }
      EXPECT_EQ(raised, st.at("error").get<std::string>());
      EXPECT_TRUE(equal(mask, before));
    } else {
      pruner.step();
      const Tensor expected = bool_mask(st.at("mask").get<std::string>());
      EXPECT_TRUE(equal(mask, expected)) << "twig: " << mask << "\nPyTorch ops: " << expected;
    }
    EXPECT_EQ(mask.dtype(), kBool);
    // The parametrization's buffer and the state's mask remain the tensor the config gave.
    EXPECT_TRUE(mask_of_param(*model).is_same(mask));
    EXPECT_TRUE(pruner.state.at("weight").to_dict().at("mask").to_tensor().is_same(mask));
    ++checked;
  }
  return checked;
}

}  // namespace

TEST(TestPrunersGolden, saliency_masks_match_pytorch_ops) {
  int steps = 0;
  for (const json& c : fixture().at("saliency")) {
    ao::SaliencyPruner pruner(Dict{});
    steps += run_golden_case(pruner, c);
  }
  EXPECT_GE(steps, 40);
}

TEST(TestPrunersGolden, lstm_saliency_masks_match_pytorch_ops) {
  int steps = 0;
  for (const json& c : fixture().at("lstm_saliency")) {
    ao::LSTMSaliencyPruner pruner(Dict{});
    steps += run_golden_case(pruner, c);
  }
  EXPECT_GE(steps, 15);
}

TEST(TestPrunersGolden, fpgm_masks_match_pytorch_ops) {
  int steps = 0;
  for (const json& c : fixture().at("fpgm")) {
    ao::FPGMPruner pruner(0.5, c.at("dist").get<int64_t>());
    steps += run_golden_case(pruner, c, &pruner);
  }
  EXPECT_GE(steps, 18);
}

// The free functions give what the pruners give (they are the pruners' rules on plain tensors).
TEST(TestPrunersGolden, free_functions_match_pytorch_ops) {
  int steps = 0;
  for (const char* section : {"saliency", "lstm_saliency", "fpgm"}) {
    for (const json& c : fixture().at(section)) {
      SCOPED_TRACE(std::string(section) + ": " + c.at("name").get<std::string>());
      const Tensor weight = weight_of(c);
      const Tensor mask = bool_mask(c.at("mask0").get<std::string>());
      const auto dist = [p = c.value("dist", 2)](const Tensor& x) { return cdist(x, x, p); };
      for (const json& st : c.at("steps")) {
        const double level = st.at("sparsity_level").get<double>();
        Shape mask_shape(weight.dim(), 1);  // (rows, 1, ..., 1)
        mask_shape[0] = -1;
        const Tensor masked = weight * mask.reshape(mask_shape);
        const Tensor before = mask.clone();
        auto run = [&] {
          if (std::string(section) == "saliency") ao::saliency_update_mask(masked, mask, level);
          if (std::string(section) == "lstm_saliency") ao::lstm_saliency_update_mask(masked, mask, level);
          if (std::string(section) == "fpgm") ao::fpgm_update_mask(masked, mask, level, dist);
        };
        if (st.contains("error")) {
          std::string raised = "nothing";
          try {
            run();
          } catch (const Error& e) {
            raised = e.python_name();
          }
          EXPECT_EQ(raised, st.at("error").get<std::string>());
          EXPECT_TRUE(equal(mask, before));
        } else {
          run();
          EXPECT_TRUE(equal(mask, bool_mask(st.at("mask").get<std::string>()))) << "level " << level;
        }
        ++steps;
      }
    }
  }
  EXPECT_GE(steps, 73);
}

// ---- rounding and selection, worked by hand (independent of the fixture) -----------------------

TEST(TestPrunerRounding, saliency_truncates_fpgm_rounds_half_to_even) {
  // Five rows of distinct norms 1..5 (row r has norm r + 1), level 0.5: saliency prunes
  // int(2.5) = 2 rows, FPGM round(2.5) = 2; level 0.7: int(3.5) = 3, round(3.5) = 4.
  const Tensor w = tensor({1.0, 2.0, 3.0, 4.0, 5.0}).reshape({5, 1}) * ones({5, 3});
  Tensor m = ones({5}, kBool);
  ao::saliency_update_mask(w, m, 0.5);
  EXPECT_TRUE(equal(m, tensor({false, false, true, true, true})));
  m = ones({5}, kBool);
  ao::saliency_update_mask(w, m, 0.7);
  EXPECT_EQ(m.logical_not().sum().item<int64_t>(), 3);
  const auto l2 = [](const Tensor& x) { return cdist(x, x, 2.0); };
  m = ones({5}, kBool);
  ao::fpgm_update_mask(w, m, 0.5, l2);
  EXPECT_EQ(m.logical_not().sum().item<int64_t>(), 2);
  // The rows nearest the others: the middle ones (distances 10, 7, 6, 7, 10 times sqrt(3)).
  EXPECT_FALSE(m[2].item<bool>());
  m = ones({5}, kBool);
  ao::fpgm_update_mask(w, m, 0.7, l2);
  EXPECT_EQ(m.logical_not().sum().item<int64_t>(), 4);
  EXPECT_TRUE(equal(m, tensor({true, false, false, false, false})) ||
              equal(m, tensor({false, false, false, false, true})));
  // 0.1 * 5 = 0.5: saliency int(0.5) = 0, FPGM round(0.5) = 0 (half to even, not std::round's 1).
  m = ones({5}, kBool);
  ao::fpgm_update_mask(w, m, 0.1, l2);
  EXPECT_TRUE(m.all().item<bool>());
  ao::saliency_update_mask(w, m, 0.1);
  EXPECT_TRUE(m.all().item<bool>());
  // 0.3 * 5 = 1.5: round -> 2 (to even).
  ao::fpgm_update_mask(w, m, 0.3, l2);
  EXPECT_EQ(m.logical_not().sum().item<int64_t>(), 2);
}

TEST(TestPrunerRounding, sparsity_zero_and_one) {
  const Tensor w = tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}, {7.0, 8.0}});
  const auto l2 = [](const Tensor& x) { return cdist(x, x, 2.0); };
  Tensor m = tensor({true, false, true, true});
  ao::saliency_update_mask(w, m, 0.0);  // nothing more; row 1 stays pruned
  EXPECT_TRUE(equal(m, tensor({true, false, true, true})));
  ao::saliency_update_mask(w, m, 1.0);
  EXPECT_FALSE(m.any().item<bool>());
  m = tensor({true, false, true, true});
  ao::lstm_saliency_update_mask(w, m, 0.0);
  EXPECT_TRUE(equal(m, tensor({true, false, true, true})));
  ao::lstm_saliency_update_mask(w, m, 1.0);
  EXPECT_FALSE(m.any().item<bool>());
  // FPGM: 0 brings every row back, 1 prunes all; the tensor object is kept, bool.
  const Tensor handle = m;
  ao::fpgm_update_mask(w, m, 0.0, l2);
  EXPECT_TRUE(m.all().item<bool>());
  ao::fpgm_update_mask(w, m, 1.0, l2);
  EXPECT_FALSE(m.any().item<bool>());
  EXPECT_TRUE(handle.is_same(m));
  EXPECT_EQ(m.dtype(), kBool);
}

TEST(TestPrunerRounding, ties_follow_topk) {
  // All rows equal: the rows pruned are those topk names first among equals, which the fixture's
  // "all rows equal" cases pin; here: the choice is the one topk makes on the same scores.
  const Tensor w = ones({6, 4});
  Tensor m = ones({6}, kBool);
  ao::saliency_update_mask(w, m, 0.5);
  Tensor expected = ones({6}, kBool);
  expected.index_fill_(0, std::get<1>(w.abs().sum(Dims{1}).neg().topk(3)), false);
  EXPECT_TRUE(equal(m, expected));
  m = ones({6}, kBool);
  ao::fpgm_update_mask(w, m, 0.5, [](const Tensor& x) { return cdist(x, x, 2.0); });
  expected = ones({6}, kBool);
  expected.index_fill_(0, std::get<1>(zeros({6}).topk(3, 0, /*largest=*/false)), false);
  EXPECT_TRUE(equal(m, expected));
}

// ---- options and errors ---------------------------------------------------------------------------

TEST(TestPrunerErrors, saliency_needs_a_2d_weight) {
  auto model = std::make_shared<WeightHolder>(tensor({1.0, 2.0, 3.0, 4.0}));
  ao::SaliencyPruner pruner(Dict{{"sparsity_level", 0.5}});
  pruner.prepare(model, std::vector<Dict>{{{"tensor_fqn", "weight"}}});
  const Tensor mask = mask_of_param(*model);
  EXPECT_ERROR(pruner.step(), ValueError, "Structured pruning can only be applied to a 2+dim weight tensor!");
  EXPECT_TRUE(mask.all().item<bool>());
  EXPECT_ERROR(ao::lstm_saliency_update_mask(tensor({1.0, 2.0, 3.0, 4.0}), mask, 0.5), ValueError, "2+dim");
  EXPECT_TRUE(mask.all().item<bool>());
}

TEST(TestPrunerErrors, missing_sparsity_level) {
  auto model = std::make_shared<WeightHolder>(ones({4, 2}));
  ao::SaliencyPruner saliency(Dict{});
  saliency.prepare(model, std::vector<Dict>{{{"tensor_fqn", "weight"}}});
  EXPECT_ERROR(saliency.step(), KeyError, "sparsity_level");
  EXPECT_TRUE(mask_of_param(*model).all().item<bool>());

  auto model2 = std::make_shared<WeightHolder>(ones({4, 2}));
  ao::FPGMPruner fpgm(0.5);
  fpgm.prepare(model2, std::vector<Dict>{{{"tensor_fqn", "weight"}}});
  fpgm.groups[0].erase("sparsity_level");
  EXPECT_ERROR(fpgm.step(), TypeError, "sparsity_level");
  EXPECT_TRUE(mask_of_param(*model2).all().item<bool>());
}

TEST(TestPrunerErrors, lstm_mask_needs_four_rows) {
  Tensor m = ones({3}, kBool);
  EXPECT_ERROR(ao::lstm_saliency_update_mask(ones({3, 2}), m, 0.5), RuntimeError, "dimension size of 3");
  EXPECT_TRUE(m.all().item<bool>());
}

TEST(TestPrunerErrors, levels_out_of_range) {
  // Saliency: int(4 * 1.5) = 6 > 4 rows and int(4 * -0.5) = -2 are topk's RuntimeError.
  Tensor m = ones({4}, kBool);
  EXPECT_ERROR(ao::saliency_update_mask(ones({4, 2}), m, 1.5), RuntimeError, "k = 6");
  EXPECT_ERROR(ao::saliency_update_mask(ones({4, 2}), m, -0.5), RuntimeError, "k = -2");
  EXPECT_ERROR(ao::saliency_update_mask(ones({4, 2}), m, std::nan("")), ValueError, "nan");
  EXPECT_TRUE(m.all().item<bool>());
  // FPGM clamps: above 1 prunes all, below 0 none.
  const auto l2 = [](const Tensor& x) { return cdist(x, x, 2.0); };
  ao::fpgm_update_mask(ones({4, 2}), m, 2.0, l2);
  EXPECT_FALSE(m.any().item<bool>());
  ao::fpgm_update_mask(ones({4, 2}), m, -2.0, l2);
  EXPECT_TRUE(m.all().item<bool>());
}

TEST(TestPrunerErrors, fpgm_distance_options) {
  const Tensor w = tensor({{0.0, 0.0}, {3.0, 4.0}, {6.0, 8.0}});
  // None and 2: Euclidean; 1 (also 1.0 and true, as Python's dist == 1): L1.
  EXPECT_TRUE(close(ao::FPGMPruner(0.5).compute_distance(w), tensor({15.0, 10.0, 15.0})));
  EXPECT_TRUE(close(ao::FPGMPruner(0.5, 2).compute_distance(w), tensor({15.0, 10.0, 15.0})));
  EXPECT_TRUE(close(ao::FPGMPruner(0.5, 1).compute_distance(w), tensor({21.0, 14.0, 21.0})));
  EXPECT_TRUE(close(ao::FPGMPruner(0.5, 1.0).compute_distance(w), tensor({21.0, 14.0, 21.0})));
  EXPECT_TRUE(close(ao::FPGMPruner(0.5, true).compute_distance(w), tensor({21.0, 14.0, 21.0})));
  // A callable gets the flattened rows (rows, numel / rows); the sums of |D| are taken after.
  Shape seen;
  ao::FPGMPruner custom(0.5, [&seen](const Tensor& x) {
    seen = x.sizes();
    return cdist(x, x, 2.0).neg();
  });
  EXPECT_TRUE(close(custom.compute_distance(w.reshape({3, 1, 2})), tensor({15.0, 10.0, 15.0})));
  EXPECT_EQ(seen, (Shape{3, 2}));
  EXPECT_ERROR(ao::FPGMPruner(0.5, 3), NotImplementedError, "Distance function is not yet implemented.");
  EXPECT_ERROR(ao::FPGMPruner(0.5, 0), NotImplementedError, "dist=0");
  EXPECT_ERROR(ao::fpgm_distance(tensor(1.0), [](const Tensor& x) { return x; }), IndexError, "no dimensions");
  // The defaults hold the level only.
  ao::FPGMPruner p(0.25);
  EXPECT_EQ(p.defaults.size(), 1u);
  EXPECT_DOUBLE_EQ(p.defaults.at("sparsity_level").to_double(), 0.25);
  EXPECT_EQ(p.type_name(), "FPGMPruner");
}

TEST(TestPrunerErrors, lstm_pruner_updates_every_structured_mask_in_place) {
  // The chunks are views: the state's mask object is written, not replaced.
  auto lstm = std::make_shared<nn::LSTM>(2, 2);
  set_values(
      lstm->get("weight_ih_l0"),
      tensor({{1.0, 1.0}, {2.0, 2.0}, {2.0, 2.0}, {1.0, 1.0}, {-1.0, -1.0}, {-2.0, -2.0}, {-2.0, -2.0}, {-1.0, -1.0}}));
  ao::LSTMSaliencyPruner pruner(Dict{{"sparsity_level", 0.5}});
  pruner.prepare(lstm, std::vector<Dict>{{{"tensor_fqn", "weight_ih_l0"}}});
  const Tensor mask = pruner.state.at("weight_ih_l0").to_dict().at("mask").to_tensor();
  pruner.step();
  EXPECT_TRUE(mask.is_same(mask_of_param(*lstm, "weight_ih_l0")));
  EXPECT_TRUE(equal(mask, tensor({false, true, true, false, false, true, true, false})));
  EXPECT_EQ(pruner.type_name(), "LSTMSaliencyPruner");
  EXPECT_EQ(ao::SaliencyPruner().type_name(), "SaliencyPruner");
}

TEST(TestPrunerErrors, lstm_pruner_with_two_structured_masks) {
  // Python's loop over every FakeStructuredSparsity on the tensor: each mask gets its own chunked
  // rule on the same saliencies (those of the weight with both masks applied).
  auto lstm = std::make_shared<nn::LSTM>(2, 2);
  const Tensor w =
      tensor({{1.0, 1.0}, {2.0, 2.0}, {3.0, 3.0}, {4.0, 4.0}, {-1.0, -1.0}, {-2.0, -2.0}, {-3.0, -3.0}, {-4.0, -4.0}});
  set_values(lstm->get("weight_ih_l0"), w);
  ao::LSTMSaliencyPruner pruner(Dict{{"sparsity_level", 0.5}});
  pruner.prepare(lstm, std::vector<Dict>{{{"tensor_fqn", "weight_ih_l0"}}});
  const Tensor first = mask_of_param(*lstm, "weight_ih_l0");
  const Tensor second = tensor({true, true, false, true, true, true, true, true});
  nn::register_parametrization(*lstm, "weight_ih_l0", std::make_shared<ao::FakeStructuredSparsity>(second));
  pruner.step();
  // Saliencies of the doubly masked weight: 2, 4, 0, 8 | 2, 4, 6, 8; one of each 2-row chunk goes.
  const Tensor expected = tensor({false, true, false, true, false, true, false, true});
  EXPECT_TRUE(equal(first, expected)) << first;
  EXPECT_TRUE(equal(second, expected)) << second;
  EXPECT_TRUE(nn::parametrizations_of(*lstm, "weight_ih_l0")->at(1)->get("mask").is_same(second));
}

TEST(TestPrunerErrors, mask_writes_are_versioned_as_in_pytorch) {
  // Saliency pruners write through mask.data (the version stays), FPGM writes mask[idx] = False
  // (the version moves), as their Python code does; a backward through a graph that saved the
  // mask before an FPGM step therefore fails as in PyTorch.
  const Tensor w = tensor({{1.0, 1.0}, {2.0, 2.0}, {3.0, 3.0}, {4.0, 4.0}});
  Tensor m = ones({4}, kBool);
  uint32_t v = m.version();
  ao::saliency_update_mask(w, m, 0.25);
  EXPECT_EQ(m.version(), v);
  ao::lstm_saliency_update_mask(w, m, 1.0);
  EXPECT_EQ(m.version(), v);
  m = ones({4}, kBool);
  v = m.version();
  ao::fpgm_update_mask(w, m, 0.5, [](const Tensor& x) { return cdist(x, x, 2.0); });
  EXPECT_GT(m.version(), v);
  EXPECT_EQ(m.logical_not().sum().item<int64_t>(), 2);
}
