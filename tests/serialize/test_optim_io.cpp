// Optimizer state files (serialize/optim_io.h): resuming from a file is bit-identical to never
// stopping; bad files are typed errors that leave the optimizer as it was.
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "serialize_testing.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/linear.h"
#include "twig/nn/loss.h"
#include "twig/nn/lr_scheduler.h"
#include "twig/nn/optim.h"
#include "twig/serialize/optim_io.h"
#include "twig/serialize/safetensors.h"

using namespace twig;
using twig::testing::TempDir;

namespace {

// A small MLP whose initial weights depend only on `seed`.
std::shared_ptr<nn::Sequential> make_model(uint64_t seed = 5) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(8, 3)});
}

// Step k of a fixed data stream (the same for every run).
void train_step(nn::Module& model, optim::Optimizer& opt, int k) {
  Generator g(1000 + static_cast<uint64_t>(k));
  Tensor x = randn({6, 4}, {}, &g);
  Tensor y = randint(0, 3, {6}, {}, &g);
  opt.zero_grad();
  Tensor loss = nn::functional::cross_entropy(model(x), y);
  loss.backward();
  opt.step();
}

using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)>;

void check_resume_is_exact(const MakeOpt& make_opt, bool with_scheduler) {
  constexpr int kBefore = 5, kAfter = 7;
  // Uninterrupted.
  auto ref = make_model();
  auto ref_opt = make_opt(*ref);
  std::unique_ptr<optim::StepLR> ref_sched;
  if (with_scheduler) ref_sched = std::make_unique<optim::StepLR>(*ref_opt, 2, 0.5);
  for (int k = 0; k < kBefore + kAfter; ++k) {
    train_step(*ref, *ref_opt, k);
    if (ref_sched) ref_sched->step();
  }

  // Interrupted after kBefore steps: model weights and optimizer state to files.
  TempDir dir;
  optim::SchedulerState sched_state;
  {
    auto model = make_model();
    auto opt = make_opt(*model);
    std::unique_ptr<optim::StepLR> sched;
    if (with_scheduler) sched = std::make_unique<optim::StepLR>(*opt, 2, 0.5);
    for (int k = 0; k < kBefore; ++k) {
      train_step(*model, *opt, k);
      if (sched) sched->step();
    }
    serialize::save_state_dict(*model, dir.file("model.safetensors"));
    serialize::save_optimizer(*opt, *model, dir.file("opt.safetensors"));
    if (sched) sched_state = sched->state_dict();
  }
  // A fresh model (other initial weights) and a fresh optimizer, loaded from the files.
  auto model = make_model(99);
  serialize::load_state_dict_file(*model, dir.file("model.safetensors"));
  auto opt = make_opt(*model);
  std::unique_ptr<optim::StepLR> sched;
  if (with_scheduler) sched = std::make_unique<optim::StepLR>(*opt, 2, 0.5);
  serialize::load_optimizer(*opt, *model, dir.file("opt.safetensors"));
  if (sched) sched->load_state_dict(sched_state);
  for (int k = kBefore; k < kBefore + kAfter; ++k) {
    train_step(*model, *opt, k);
    if (sched) sched->step();
  }
  const auto want = ref->named_parameters(), got = model->named_parameters();
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].first, got[i].first);
    EXPECT_TRUE(equal(want[i].second, got[i].second)) << want[i].first << " differs after resuming";
  }
  EXPECT_EQ(ref_opt->param_groups()[0].get("lr"), opt->param_groups()[0].get("lr"));
}

}  // namespace

TEST(OptimIO, AdamResumesBitIdentically) {
  check_resume_is_exact(
      [](nn::Module& m) {
        return std::make_unique<optim::Adam>(m.parameters(), optim::AdamOptions().lr(1e-2).amsgrad(true));
      },
      false);
}

TEST(OptimIO, AdamWWithSchedulerResumesBitIdentically) {
  check_resume_is_exact(
      [](nn::Module& m) { return std::make_unique<optim::AdamW>(m.parameters(), optim::AdamWOptions().lr(3e-3)); },
      true);
}

TEST(OptimIO, SgdMomentumResumesBitIdentically) {
  check_resume_is_exact(
      [](nn::Module& m) {
        return std::make_unique<optim::SGD>(m.parameters(), optim::SGDOptions(0.05).momentum(0.9).nesterov(true));
      },
      true);
}

TEST(OptimIO, FileHoldsNamedStateAndHyperParameters) {
  auto model = make_model();
  optim::Adam opt(model->parameters(), optim::AdamOptions().lr(0.1 / 3));
  train_step(*model, opt, 0);
  TempDir dir;
  serialize::save_optimizer(opt, *model, dir.file("opt.safetensors"));
  serialize::SafetensorsFile f = serialize::load_safetensors(dir.file("opt.safetensors"));
  ASSERT_TRUE(f.tensors.contains("state.0.weight.exp_avg"));
  ASSERT_TRUE(f.tensors.contains("state.2.bias.exp_avg_sq"));
  EXPECT_EQ(f.tensors.at("state.0.weight.step").dtype(), kFloat32);
  EXPECT_EQ(f.tensors.at("state.0.weight.step").item<double>(), 1.0);
  EXPECT_TRUE(equal(f.tensors.at("state.0.weight.exp_avg"), opt.state(model->parameters()[0]).at("exp_avg")));
  const std::string meta = f.metadata.at("twig.optimizer");
  EXPECT_NE(meta.find("\"type\":\"Adam\""), std::string::npos) << meta;
  EXPECT_NE(meta.find("\"0.weight\""), std::string::npos) << meta;
  // lr = 0.1 / 3 comes back bit for bit.
  auto model2 = make_model();
  optim::Adam opt2(model2->parameters(), optim::AdamOptions().lr(1.0));
  serialize::load_optimizer(opt2, *model2, dir.file("opt.safetensors"));
  EXPECT_EQ(opt2.param_groups()[0].get("lr"), 0.1 / 3);
}

TEST(OptimIO, BadFilesLeaveTheOptimizerUnchanged) {
  TempDir dir;
  auto model = make_model();
  optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-2));
  train_step(*model, opt, 0);
  const optim::OptimizerStateDict before = opt.state_dict();
  auto unchanged = [&] {
    const optim::OptimizerStateDict now = opt.state_dict();
    EXPECT_EQ(now.param_groups[0].options, before.param_groups[0].options);
    ASSERT_EQ(now.state.size(), before.state.size());
    for (const auto& [i, st] : before.state) {
      for (const auto& [k, t] : st) EXPECT_TRUE(equal(now.state.at(i).at(k), t)) << k;
    }
  };

  EXPECT_ERROR(serialize::load_optimizer(opt, *model, dir.file("missing.safetensors")), RuntimeError,
               "missing.safetensors");
  unchanged();

  serialize::save_state_dict(*model, dir.file("weights.safetensors"));  // a valid safetensors, not an optimizer
  EXPECT_ERROR(serialize::load_optimizer(opt, *model, dir.file("weights.safetensors")), ValueError,
               "not an optimizer file");
  unchanged();

  {
    auto other = make_model();
    optim::SGD sgd(other->parameters(), optim::SGDOptions(0.1).momentum(0.5));
    train_step(*other, sgd, 0);
    serialize::save_optimizer(sgd, *other, dir.file("sgd.safetensors"));
  }
  EXPECT_ERROR(serialize::load_optimizer(opt, *model, dir.file("sgd.safetensors")), ValueError,
               "state of a SGD optimizer, not of a Adam");
  unchanged();

  {
    // Same type, different model: the names do not match.
    manual_seed(1);
    auto other = std::make_shared<nn::Sequential>(
        std::initializer_list<nn::ModulePtr>{std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::Linear>(8, 3)});
    optim::Adam o(other->parameters());
    serialize::save_optimizer(o, *other, dir.file("other.safetensors"));
  }
  EXPECT_ERROR(serialize::load_optimizer(opt, *model, dir.file("other.safetensors")), ValueError, "'1.weight'");
  unchanged();

  serialize::save_optimizer(opt, *model, dir.file("good.safetensors"));
  const std::string bytes = twig::testing::read_bytes(dir.file("good.safetensors"));
  twig::testing::write_bytes(dir.file("cut.safetensors"), bytes.substr(0, bytes.size() - 10));
  EXPECT_THROW(serialize::load_optimizer(opt, *model, dir.file("cut.safetensors")), ValueError);
  unchanged();

  // A parameter the module does not have cannot be named: no file is written.
  Tensor stray = zeros({2}).requires_grad_();
  optim::SGD with_stray(TensorList{model->parameters()[0], stray}, optim::SGDOptions(0.1));
  EXPECT_ERROR(serialize::save_optimizer(with_stray, *model, dir.file("stray.safetensors")), ValueError,
               "not a parameter of the module");
  EXPECT_FALSE(std::ifstream(dir.file("stray.safetensors")).good());
}
