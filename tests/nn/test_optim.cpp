#include <gtest/gtest.h>

#include <memory>

#include "nn/fixtures_json.h"
#include "testing.h"
#include "twig/nn/linear.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"

using namespace twig;
using twig::testing::json_tensor;

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(const std::string& name, const nlohmann::json& o, const Tensor& p) {
  auto get = [&](const char* k, double dflt) { return o.contains(k) ? o.at(k).get<double>() : dflt; };
  if (name == "SGD") {
    return std::make_unique<optim::SGD>(TensorList{p}, optim::SGDOptions(get("lr", 0))
                                                           .momentum(get("momentum", 0))
                                                           .dampening(get("dampening", 0))
                                                           .weight_decay(get("weight_decay", 0))
                                                           .nesterov(get("nesterov", 0) != 0)
                                                           .maximize(get("maximize", 0) != 0));
  }
  if (name == "Adam") {
    return std::make_unique<optim::Adam>(TensorList{p}, optim::AdamOptions()
                                                            .lr(get("lr", 1e-3))
                                                            .betas(get("beta1", 0.9), get("beta2", 0.999))
                                                            .eps(get("eps", 1e-8))
                                                            .weight_decay(get("weight_decay", 0))
                                                            .amsgrad(get("amsgrad", 0) != 0));
  }
  optim::AdamWOptions opts;
  opts.lr(get("lr", 1e-3)).betas(get("beta1", 0.9), get("beta2", 0.999)).eps(get("eps", 1e-8));
  opts.weight_decay(get("weight_decay", 1e-2)).amsgrad(get("amsgrad", 0) != 0);
  return std::make_unique<optim::AdamW>(TensorList{p}, opts);
}

}  // namespace

// Five steps of each configuration from the same parameter and gradients as PyTorch 1.13.
TEST(OptimGolden, TrajectoriesMatchPyTorch) {
  const auto& fx = twig::testing::nn_train_fixtures().at("optim");
  Tensor p0 = json_tensor(fx.at("param"));
  ASSERT_EQ(fx.at("cases").size(), 11u);
  for (const auto& c : fx.at("cases")) {
    SCOPED_TRACE(c.at("optimizer").get<std::string>() + " " + c.at("options").dump());
    Tensor p = p0.clone().requires_grad_();
    auto opt = make_optimizer(c.at("optimizer"), c.at("options"), p);
    for (size_t s = 0; s < c.at("trajectory").size(); ++s) {
      p.set_grad(json_tensor(fx.at("grads")[s]));
      opt->step();
      Tensor expected = from_vector(c.at("trajectory")[s].get<std::vector<double>>(), p.sizes());
      EXPECT_TENSOR_CLOSE(p.detach(), expected, 1e-6, 1e-12);
    }
  }
}

TEST(OptimSGD, Validation) {
  Tensor p = zeros({2}, kFloat64).requires_grad_();
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(-1)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).momentum(-0.5)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).weight_decay(-1)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).nesterov(true)), ValueError);
  EXPECT_THROW(optim::SGD({p}, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)), ValueError);
  EXPECT_NO_THROW(optim::SGD({p}, optim::SGDOptions(0.1).momentum(0.9).nesterov(true)));
  EXPECT_THROW(optim::SGD(TensorList{}, optim::SGDOptions(0.1)), ValueError);
  EXPECT_THROW(optim::SGD({p, p}, optim::SGDOptions(0.1)), ValueError);
  EXPECT_THROW(optim::SGD({p * 2}, optim::SGDOptions(0.1)), ValueError);  // non-leaf
  EXPECT_THROW(optim::Adam({p}, optim::AdamOptions().betas(1.0, 0.999)), ValueError);
  EXPECT_THROW(optim::Adam({p}, optim::AdamOptions().eps(-1)), ValueError);
}

TEST(OptimBase, ParamsAreTheModulesTensorsAndSkipUndefinedGrads) {
  nn::Linear lin(3, 2);
  optim::SGD opt(lin.parameters(), optim::SGDOptions(0.5));
  EXPECT_TRUE(opt.param_groups()[0].params[0].is_same(lin.weight()));
  Tensor w_before = lin.weight().detach().clone(), b_before = lin.bias().detach().clone();
  // Only the weight gets a gradient: the bias must stay untouched.
  lin.weight().set_grad(ones({2, 3}));
  opt.step();
  EXPECT_TENSOR_CLOSE(lin.weight().detach(), w_before - 0.5, 1e-6, 1e-7);
  EXPECT_TENSOR_EQ(lin.bias().detach(), b_before);
  // Still the same object, and it still requires grad.
  EXPECT_TRUE(lin.weight().requires_grad());
  EXPECT_TRUE(lin.weight().is_leaf());

  opt.zero_grad(false);
  EXPECT_TENSOR_EQ(lin.weight().grad(), zeros({2, 3}));
  opt.zero_grad();
  EXPECT_FALSE(lin.weight().grad().defined());
}

TEST(OptimBase, ParamGroupsAndLrChanges) {
  Tensor a = zeros({2}, kFloat64).requires_grad_(), b = zeros({2}, kFloat64).requires_grad_();
  optim::SGD opt(std::vector<optim::ParamGroup>{optim::ParamGroup({a}), optim::ParamGroup({b}, {{"lr", 1.0}})},
                 optim::SGDOptions(0.1));
  EXPECT_EQ(opt.param_groups()[0].get("lr"), 0.1);
  EXPECT_EQ(opt.param_groups()[1].get("lr"), 1.0);
  EXPECT_EQ(opt.param_groups()[1].get("momentum"), 0.0);  // filled from defaults
  EXPECT_THROW(opt.param_groups()[0].get("betas"), KeyError);
  EXPECT_THROW(opt.add_param_group(optim::ParamGroup({a})), ValueError);  // already in group 0
  a.set_grad(ones({2}, kFloat64));
  b.set_grad(ones({2}, kFloat64));
  opt.step();
  EXPECT_DOUBLE_EQ(a.detach()[0].item<double>(), -0.1);
  EXPECT_DOUBLE_EQ(b.detach()[0].item<double>(), -1.0);
  opt.param_groups()[0].options["lr"] = 0.01;
  opt.step();
  EXPECT_DOUBLE_EQ(a.detach()[0].item<double>(), -0.11);
}

TEST(OptimStateDict, RoundTripContinuesTheSameTrajectory) {
  Generator g(3);
  Tensor p0 = randn({4}, kFloat64, &g);
  TensorList grads;
  for (int i = 0; i < 6; ++i) grads.push_back(randn({4}, kFloat64, &g));

  Tensor p = p0.clone().requires_grad_();
  optim::Adam ref(TensorList{p}, optim::AdamOptions().lr(0.1).amsgrad(true));
  for (int i = 0; i < 6; ++i) {
    p.set_grad(grads[i]);
    ref.step();
  }

  Tensor q = p0.clone().requires_grad_();
  optim::Adam first(TensorList{q}, optim::AdamOptions().lr(0.1).amsgrad(true));
  for (int i = 0; i < 3; ++i) {
    q.set_grad(grads[i]);
    first.step();
  }
  optim::OptimizerStateDict sd = first.state_dict();
  Tensor after3 = q.detach().clone();
  ASSERT_EQ(sd.state.size(), 1u);
  EXPECT_EQ(sd.state.at(0).size(), 4u);  // step, exp_avg, exp_avg_sq, max_exp_avg_sq
  EXPECT_EQ(sd.state.at(0).at("step").item<double>(), 3.0);
  EXPECT_EQ(sd.param_groups[0].params, (std::vector<int64_t>{0}));
  // The saved state is a copy: later steps do not change it.
  q.set_grad(grads[3]);
  first.step();
  EXPECT_EQ(sd.state.at(0).at("step").item<double>(), 3.0);

  // A fresh optimizer (other lr) on a fresh tensor with the same value continues identically.
  Tensor s = after3.clone().requires_grad_();
  optim::Adam second(TensorList{s}, optim::AdamOptions().lr(0.5).amsgrad(true));
  second.load_state_dict(sd);
  EXPECT_EQ(second.param_groups()[0].get("lr"), 0.1);  // options come from the state dict
  for (int i = 3; i < 6; ++i) {
    s.set_grad(grads[i]);
    second.step();
  }
  EXPECT_TENSOR_CLOSE(s.detach(), p.detach(), 1e-12, 1e-14);
}

TEST(OptimStateDict, MismatchedLoadRaisesAndChangesNothing) {
  Tensor a = zeros({2}, kFloat64).requires_grad_(), b = zeros({3}, kFloat64).requires_grad_();
  optim::SGD opt(TensorList{a, b}, optim::SGDOptions(0.1).momentum(0.9));
  a.set_grad(ones({2}, kFloat64));
  b.set_grad(ones({3}, kFloat64));
  opt.step();
  optim::OptimizerStateDict good = opt.state_dict();
  ASSERT_EQ(good.state.size(), 2u);
  EXPECT_TRUE(good.state.at(1).at("momentum_buffer").sizes() == (Shape{3}));

  auto expect_rejected = [&](const optim::OptimizerStateDict& bad, const std::string& needle) {
    try {
      opt.load_state_dict(bad);
      ADD_FAILURE() << "no throw for " << needle;
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(opt.param_groups()[0].get("lr"), 0.1);
    EXPECT_TENSOR_EQ(opt.state(b).at("momentum_buffer"), ones({3}, kFloat64));
  };
  optim::OptimizerStateDict bad = good;
  bad.param_groups.push_back(bad.param_groups[0]);
  expect_rejected(bad, "number of parameter groups");
  bad = good;
  bad.param_groups[0].params.pop_back();
  bad.param_groups[0].options["lr"] = 5;
  expect_rejected(bad, "doesn't match the size");
  bad = good;
  bad.state[1]["momentum_buffer"] = zeros({4}, kFloat64);
  bad.param_groups[0].options["lr"] = 5;
  expect_rejected(bad, "has shape [4]");
  bad = good;
  bad.state[7] = bad.state[0];
  expect_rejected(bad, "index 7");
  bad = good;
  bad.state[0]["exp_avg"] = zeros({2}, kFloat64);
  expect_rejected(bad, "unknown entry 'exp_avg'");
  EXPECT_NO_THROW(opt.load_state_dict(good));
}

// An end-to-end check: a small regression fit by each optimizer drives the loss down.
TEST(OptimTraining, FitsALinearModel) {
  Generator g(11);
  Tensor x = randn({64, 3}, {}, &g);
  Tensor y = x.matmul(tensor({{1.0f}, {-2.0f}, {0.5f}})) + 0.3f;
  for (int which = 0; which < 3; ++which) {
    manual_seed(0);
    nn::Linear lin(3, 1);
    std::unique_ptr<optim::Optimizer> opt;
    if (which == 0) opt = std::make_unique<optim::SGD>(lin.parameters(), optim::SGDOptions(0.1).momentum(0.9));
    if (which == 1) opt = std::make_unique<optim::Adam>(lin.parameters(), optim::AdamOptions().lr(0.05));
    if (which == 2) opt = std::make_unique<optim::AdamW>(lin.parameters(), optim::AdamWOptions().lr(0.05));
    double first = 0, last = 0;
    for (int step = 0; step < 200; ++step) {
      opt->zero_grad();
      Tensor loss = nn::F::mse_loss(lin(x), y);
      loss.backward();
      opt->step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, first * 1e-2) << "optimizer " << which;
  }
}
