// `twig prune --method weight_norm` (issue 14 §4) end to end on the MLP and a tiny data set:
// one-shot and with the cubic schedule (AGP), the masks it saves (block structure, the number of
// zeroed blocks PyTorch's WeightNormSparsifier picks, masks fixed between steps), loading and
// evaluating them, --remove, and usage errors that leave every file as it was.
#include <cmath>

#include "apps/cli_fixture.h"
#include "twig/ao/utils.h"
#include "twig/ao/weight_norm_sparsifier.h"
#include "twig/nn/parametrize.h"
#include "twig/serialize/module_io.h"

namespace twig {
namespace {

const std::vector<std::string> kLayers = {"fc1", "fc2", "fc3"};  // the MLP's Linear layers

// The number of blocks PyTorch 1.13 zeroes: round-half-even(level * blocks), within [0, blocks - 1].
int64_t zeroed_blocks(double level, int64_t blocks) {
  auto k = static_cast<int64_t>(std::nearbyint(level * static_cast<double>(blocks)));
  return std::max<int64_t>(0, std::min<int64_t>(blocks - 1, k));
}

// The FakeSparsity mask of `layer`'s weight in a loaded model (fails the test if there is none).
Tensor mask_of(const nn::ModulePtr& model, const std::string& layer) {
  nn::ModulePtr m = model->child(layer);
  EXPECT_TRUE(nn::is_parametrized(*m, "weight")) << layer;
  auto list = nn::parametrizations_of(*m, "weight");
  EXPECT_EQ(list->size(), 1u) << layer;
  auto fake = std::dynamic_pointer_cast<ao::FakeSparsity>(list->at(0));
  EXPECT_TRUE(fake != nullptr) << layer;
  return fake ? fake->mask() : Tensor();
}

// Zeros in each 1x4 block of a (h, w) mask, as a (h, w / 4) tensor.
Tensor zeros_per_1x4_block(const Tensor& mask) {
  return mask.to(kFloat32).eq(0).to(kInt64).reshape({mask.size(0), mask.size(1) / 4, 4}).sum({2});
}

class WeightNormCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    write_dataset(128, 64);
    RunResult r = run("train --model mlp --epochs 1 --threads 1 --data " + data() + " --out " + file("m.twig"));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  // prune m.twig into `out` with `args` (fine-tuning in batches of 16: 8 batches an epoch); the
  // --json result.
  json prune(const std::string& args, const std::string& out) {
    RunResult r = run("prune --in " + file("m.twig") + " --out " + file(out) + " --threads 1 --batch-size 16 --data " +
                      data() + " --json " + args);
    EXPECT_EQ(r.status, 0) << args << ": " << r.err;
    return r.status == 0 ? json::parse(r.out) : json();
  }
  json eval(const std::string& name) {
    RunResult r = run("eval --in " + file(name) + " --threads 1 --data " + data() + " --json");
    EXPECT_EQ(r.status, 0) << r.err;
    return r.status == 0 ? json::parse(r.out) : json();
  }
  nn::ModulePtr load(const std::string& name) { return serialize::load_module(file(name)); }
};

TEST_F(WeightNormCliTest, OneShotZeroesWholeBlocksBeforeFineTuningAndSavesTheMasks) {
  json res = prune("--method weight_norm --amount 0.8 --block 1x4 --finetune-epochs 1", "p.twig");
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res["method"], "weight_norm");
  EXPECT_EQ(res["layers"], json(kLayers));
  EXPECT_EQ(res["block"], "1x4");
  EXPECT_EQ(res["zeros_per_block"], 4);
  EXPECT_TRUE(res["schedule"].is_null());
  EXPECT_EQ(res["levels"], json({0.8}));  // one step, at the target
  // Every Linear weight of the MLP is sparsified: 80% of the blocks exactly (no ties in random floats).
  EXPECT_NEAR(res["sparsity"].get<double>(), 0.8, 1e-12);

  nn::ModulePtr dense = load("m.twig"), pruned = load("p.twig");
  for (const std::string& layer : kLayers) {
    SCOPED_TRACE(layer);
    Tensor mask = mask_of(pruned, layer);
    ASSERT_TRUE(mask.defined());
    EXPECT_EQ(mask.dtype(), kFloat32);  // 1.13: a float mask when whole blocks are zeroed
    Tensor w0 = dense->child(layer)->get("weight");
    ASSERT_EQ(mask.sizes(), w0.sizes());
    // Whole 1x4 blocks: all zero or all kept, and as many zeroed as PyTorch picks.
    Tensor zeros = zeros_per_1x4_block(mask);
    EXPECT_TRUE(zeros.eq(0).logical_or(zeros.eq(4)).all().item<bool>());
    EXPECT_EQ(zeros.eq(4).sum().item<int64_t>(), zeroed_blocks(0.8, zeros.numel()));
    // The one step came before fine-tuning and the mask stayed: it is the mask of the input weights.
    Tensor expected = ao::weight_norm_tensor_mask(w0 * w0, 0.8, {1, 4});
    EXPECT_TRUE(equal(mask, expected));
    // The forward uses original * mask; the kept weights were fine-tuned.
    Tensor w = pruned->child(layer)->get("weight");
    Tensor original = nn::parametrizations_of(*pruned->child(layer), "weight")->original();
    EXPECT_TRUE(equal(w, original * mask));
    EXPECT_FALSE(equal(original * mask, w0 * mask));
  }
  // It loads back and evaluates the same; `info` shows the masks.
  EXPECT_EQ(eval("p.twig")["accuracy"], res["accuracy"]);
  EXPECT_NEAR(eval("p.twig")["sparsity"].get<double>(), 0.8, 1e-12);
  RunResult r = run("info " + file("p.twig"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("fc1.parametrizations.weight.0.mask"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parametrizations (sparsifier masks):\n  fc1.weight: FakeSparsity\n"), std::string::npos)
      << r.out;

  // --remove squashes the masks into plain weights of the same values (the same seed, the same run).
  json removed = prune("--method weight_norm --amount 0.8 --block 1x4 --finetune-epochs 1 --remove", "r.twig");
  EXPECT_EQ(removed["accuracy"], res["accuracy"]);
  // And --remove alone does it to a saved model.
  RunResult rr = run("prune --in " + file("p.twig") + " --out " + file("r2.twig") + " --remove");
  ASSERT_EQ(rr.status, 0) << rr.err;
  nn::ModulePtr plain = load("r.twig"), plain2 = load("r2.twig");
  for (const std::string& layer : kLayers) {
    SCOPED_TRACE(layer);
    for (const nn::ModulePtr& m : {plain, plain2}) {
      EXPECT_FALSE(nn::is_parametrized(*m->child(layer)));
      EXPECT_TRUE(m->child(layer)->is_parameter("weight"));
      EXPECT_TRUE(equal(m->child(layer)->get("weight"), pruned->child(layer)->get("weight")));
    }
  }
  EXPECT_EQ(eval("r.twig")["accuracy"], res["accuracy"]);
  EXPECT_EQ(eval("r2.twig")["accuracy"], res["accuracy"]);
  r = run("info " + file("r2.twig"));
  EXPECT_EQ(r.out.find("parametrizations"), std::string::npos) << r.out;
}

TEST_F(WeightNormCliTest, CubicScheduleRaisesTheSparsityToTheTargetDuringFineTuning) {
  // 2 epochs of 8 batches, 4 steps: before batches 0, 4, 8 and 12.
  json res =
      prune("--method weight_norm --amount 0.8 --block 1x4 --schedule cubic --steps 4 --finetune-epochs 2", "agp.twig");
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res["schedule"], "cubic");
  EXPECT_EQ(res["steps"], 4);
  // Zhu & Gupta: step k at s_f (1 - (1 - k/N)^3), the last at the target.
  ASSERT_EQ(res["levels"].size(), 4u);
  for (int k = 1; k <= 4; ++k)
    EXPECT_NEAR(res["levels"][k - 1].get<double>(), 0.8 * (1 - std::pow(1 - k / 4.0, 3)), 1e-12) << k;
  EXPECT_EQ(res["levels"][3].get<double>(), 0.8);
  EXPECT_NEAR(res["sparsity"].get<double>(), 0.8, 1e-12);

  nn::ModulePtr dense = load("m.twig"), agp = load("agp.twig");
  bool any_differs_from_one_shot = false;
  for (const std::string& layer : kLayers) {
    SCOPED_TRACE(layer);
    Tensor mask = mask_of(agp, layer);
    ASSERT_TRUE(mask.defined());
    Tensor zeros = zeros_per_1x4_block(mask);
    EXPECT_TRUE(zeros.eq(0).logical_or(zeros.eq(4)).all().item<bool>());
    EXPECT_EQ(zeros.eq(4).sum().item<int64_t>(), zeroed_blocks(0.8, zeros.numel()));
    Tensor w0 = dense->child(layer)->get("weight");
    any_differs_from_one_shot |= !equal(mask, ao::weight_norm_tensor_mask(w0 * w0, 0.8, {1, 4}));
  }
  // The blocks were chosen on weights trained between steps, not all at once on the input's.
  EXPECT_TRUE(any_differs_from_one_shot);
  EXPECT_EQ(eval("agp.twig")["accuracy"], res["accuracy"]);

  // One step is one-shot at the start of fine-tuning: the same masks as without a schedule.
  json one = prune("--method weight_norm --amount 0.8 --schedule cubic --steps 1 --finetune-epochs 1", "one.twig");
  json shot = prune("--method weight_norm --amount 0.8 --finetune-epochs 1", "shot.twig");
  EXPECT_EQ(one["levels"], json({0.8}));
  EXPECT_EQ(one["accuracy"], shot["accuracy"]);
  nn::ModulePtr a = load("one.twig"), b = load("shot.twig");
  for (const std::string& layer : kLayers) EXPECT_TRUE(equal(mask_of(a, layer), mask_of(b, layer))) << layer;
}

TEST_F(WeightNormCliTest, ZerosPerBlockGivesPyTorchsBoolMask) {
  json res = prune("--method weight_norm --amount 0.5 --block 1x4 --zeros-per-block 2", "nm.twig");
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res["zeros_per_block"], 2);
  nn::ModulePtr m = load("nm.twig");
  for (const std::string& layer : kLayers) {
    SCOPED_TRACE(layer);
    Tensor mask = mask_of(m, layer);
    ASSERT_TRUE(mask.defined());
    EXPECT_EQ(mask.dtype(), kBool);  // 1.13 ORs the tensor and block masks: bool
    Tensor zeros = zeros_per_1x4_block(mask);
    // The chosen half of the blocks lose their 2 smallest values, the others none.
    EXPECT_TRUE(zeros.eq(0).logical_or(zeros.eq(2)).all().item<bool>());
    EXPECT_EQ(zeros.eq(2).sum().item<int64_t>(), zeroed_blocks(0.5, zeros.numel()));
  }
  EXPECT_NEAR(res["sparsity"].get<double>(), 0.25, 1e-12);
}

TEST_F(WeightNormCliTest, UsageErrorsComeFirstAndLeaveEveryFileAsItWas) {
  ASSERT_FALSE(prune("--method weight_norm --amount 0.5", "p.twig").is_null());
  write_bytes(file("out.twig"), "an older output");
  const std::string in = "prune --in " + file("m.twig") + " --out " + file("out.twig") + " --data " + data() + " ";
  const std::string wn = in + "--method weight_norm ";
  auto before = snapshot();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {wn + "--amount 0.8 --block 1-4", "'1-4'"},
      {wn + "--amount 0.8 --block 0x4", "'0x4'"},
      {wn + "--amount 0.8 --block 1x", "'1x'"},
      {wn + "--amount 1.5", "1.5"},
      {wn + "--amount -0.1", "-0.1"},
      {wn + "--amount 2", "'2'"},
      {wn + "--amount x", "'x'"},
      {wn + "--amount 0.8 --steps 4 --finetune-epochs 1", "--steps needs --schedule"},
      {wn + "--amount 0.8 --schedule linear --steps 4 --finetune-epochs 1", "'linear'"},
      {wn + "--amount 0.8 --schedule cubic --finetune-epochs 1", "--steps"},
      {wn + "--amount 0.8 --schedule cubic --steps 4", "--finetune-epochs"},
      {wn + "--amount 0.8 --schedule cubic --steps 0 --finetune-epochs 1", "--steps"},
      {wn + "--amount 0.8 --schedule cubic --steps 9 --finetune-epochs 1 --batch-size 16",
       "--steps 9 is more than the 8 fine-tuning batches"},
      {wn + "--amount 0.8 --zeros-per-block 5", "--zeros-per-block"},
      {wn + "--amount 0.8 --block 3x4", "fc2.weight of shape (100, 300)"},  // 100 rows: not whole 3x4 blocks
      {wn + "--amount 0.8 --global", "--global"},
      {wn + "--amount 0.8 --n 1", "--n"},
      {in + "--method l1_unstructured --amount 0.5 --block 1x4", "--block"},
      {in + "--method l1_unstructured --amount 0.5 --schedule cubic --steps 2", "--schedule"},
      {in + "--remove --steps 2", "--steps"},
      // A model sparsified already: its masks first have to be made permanent.
      {"prune --in " + file("p.twig") + " --out " + file("out.twig") + " --method weight_norm --amount 0.9",
       "fc1.weight already has a mask"},
      {"prune --in " + file("p.twig") + " --out " + file("out.twig") + " --method l1_unstructured --amount 0.9",
       "fc1.weight has a weight_norm mask"},
  };
  expect_usage_errors(cases, before);
}

}  // namespace
}  // namespace twig
