// `twig eval --activation-sparsity LEVELS` (issue 16, the main job) end to end on LeNet-5 and a
// tiny data set: the masks come from the calibration batches (checked against mean |x| computed
// here from the same images), the table's accuracy and zero fractions are those of a forward with
// the masks applied by hand, level 0 is the plain model, the saved hooked model applies its masks
// when loaded, --layers picks the layers; usage errors come first and a failed command changes no
// file.
#include <cmath>

#include "apps/cli_fixture.h"
#include "examples/fashion_models.h"
#include "twig/autograd/grad_mode.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/registry.h"

namespace twig {
namespace {

const std::vector<std::string> kLayers = {"fc1", "fc2", "fc3"};  // LeNet-5's Linear layers
const std::vector<int64_t> kFeatures = {400, 120, 84};           // their in_features
constexpr int64_t kBatches = 4, kBatchSize = 16;                 // the calibration: 64 training images
const std::string kCalibration = " --calibration-batches 4 --batch-size 16";

class ActivationCliTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    write_dataset(128, 64);
    RunResult r =
        run("train --model lenet --epochs 1 --threads 1 --batch-size 32 --data " + data() + " --out " + file("m.twig"));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  json eval(const std::string& args) {
    RunResult r = run("eval --threads 1 --json --data " + data() + " " + args);
    EXPECT_EQ(r.status, 0) << args << ": " << r.err;
    return r.status == 0 ? json::parse(r.out) : json();
  }
  nn::ModulePtr load(const std::string& name) {
    static const bool registered = [] {
      serialize::register_module_type<examples::LeNet5>("LeNet5");
      return true;
    }();
    (void)registered;
    return serialize::load_module(file(name));
  }
};

// LeNet-5's forward by hand, the inputs of fc1, fc2, fc3 for images x, each multiplied by its mask
// when one is given; logits in `logits`.
std::vector<Tensor> linear_inputs(nn::Module& m, const Tensor& x, const std::vector<Tensor>& masks, Tensor* logits) {
  using examples::layer;
  NoGradGuard no_grad;
  auto masked = [&](Tensor t, size_t i) { return masks.empty() || !masks[i].defined() ? t : t * masks[i]; };
  std::vector<Tensor> in;
  Tensor h = layer(m, "pool1")(nn::F::relu(layer(m, "conv1")(x)));
  h = layer(m, "pool2")(nn::F::relu(layer(m, "conv2")(h)));
  in.push_back(masked(h.flatten(1), 0));
  in.push_back(masked(nn::F::relu(layer(m, "fc1")(in[0])), 1));
  in.push_back(masked(nn::F::relu(layer(m, "fc2")(in[1])), 2));
  if (logits) *logits = layer(m, "fc3")(in[2]);
  return in;
}

// The mask a hooked layer applies: what a pre-hook registered after its sparsify hook sees when
// the layer is called on ones. Undefined when the layer has no hook.
Tensor applied_mask(const nn::ModulePtr& model, const std::string& name, int64_t features) {
  nn::ModulePtr fc = model->child(name);
  if (fc->forward_pre_hooks().size() == 0) return Tensor();
  Tensor seen;
  auto h = fc->register_forward_pre_hook([&](nn::Module&, const nn::Values& in) {
    seen = in.at(0).tensor().clone();
    return std::optional<nn::Values>();
  });
  NoGradGuard no_grad;
  (void)examples::layer(*model, name)(ones({1, features}));
  h.remove();
  return seen.reshape({features});
}

int64_t zeros_in(const Tensor& t) { return t.numel() - t.count_nonzero().item<int64_t>(); }

// round-half-even(level * n): the features the vanilla norm sparsifier zeroes.
int64_t zeroed(double level, int64_t n) { return static_cast<int64_t>(std::nearbyint(level * static_cast<double>(n))); }

TEST_F(ActivationCliTest, MasksComeFromTheCalibrationBatchesAndTheTableIsTheirForward) {
  const json plain = eval("--in " + file("m.twig"));
  ASSERT_FALSE(plain.is_null());
  const std::vector<double> levels = {0.0, 0.5, 0.9};
  const json res = eval("--in " + file("m.twig") + " --activation-sparsity 0,0.5,0.9" + kCalibration);
  ASSERT_FALSE(res.is_null());
  const json& table = res["activation_sparsity"];
  EXPECT_EQ(table["layers"], json(kLayers));
  EXPECT_EQ(table["calibration_batches"], kBatches);
  EXPECT_EQ(table["batch_size"], kBatchSize);
  ASSERT_EQ(table["rows"].size(), levels.size());
  // The plain model's evaluation comes first, unchanged.
  EXPECT_EQ(res["accuracy"], plain["accuracy"]);
  for (size_t r = 0; r < levels.size(); ++r) {
    SCOPED_TRACE(levels[r]);
    EXPECT_EQ(table["rows"][r]["level"].get<double>(), levels[r]);
    for (size_t i = 0; i < kLayers.size(); ++i)
      EXPECT_EQ(table["rows"][r]["mask_zeros"][kLayers[i]].get<double>(),
                static_cast<double>(zeroed(levels[r], kFeatures[i])) / static_cast<double>(kFeatures[i]))
          << kLayers[i];
  }
  // Level 0 keeps every feature: the plain model's accuracy.
  EXPECT_EQ(table["rows"][0]["accuracy"], plain["accuracy"]);

  // The same calibration with one level, saved with its hooks: the same row.
  const json one = eval("--in " + file("m.twig") + " --activation-sparsity 0.5 --out " + file("h.twig") + kCalibration);
  ASSERT_FALSE(one.is_null());
  EXPECT_EQ(one["activation_sparsity"]["rows"][0], table["rows"][1]);
  EXPECT_EQ(one["activation_sparsity"]["out"], file("h.twig"));

  // Mean |x| of each layer's inputs over the 64 calibration images (the first ones, in file order),
  // computed here on the plain model: a zeroed feature never scores above a kept one.
  nn::ModulePtr dense = load("m.twig"), hooked = load("h.twig");
  data::FashionMNIST train(data(), true), test(data(), false);
  Tensor calib = train.inputs().slice(0, 0, kBatches * kBatchSize);
  std::vector<Tensor> calib_in = linear_inputs(*dense, calib, {}, nullptr);
  std::vector<Tensor> masks;
  for (size_t i = 0; i < kLayers.size(); ++i) {
    SCOPED_TRACE(kLayers[i]);
    Tensor mask = applied_mask(hooked, kLayers[i], kFeatures[i]);
    ASSERT_TRUE(mask.defined());
    EXPECT_TRUE(mask.eq(0).logical_or(mask.eq(1)).all().item<bool>());
    EXPECT_EQ(zeros_in(mask), zeroed(0.5, kFeatures[i]));
    Tensor score = calib_in[i].abs().mean({0});
    Tensor kept = score.masked_select(mask.eq(1)), dropped = score.masked_select(mask.eq(0));
    // (Sums in another order: a relative slack of 1e-5 for near-ties.)
    EXPECT_LE(dropped.max().item<double>(), kept.min().item<double>() * (1 + 1e-5));
    masks.push_back(mask);
  }

  // The row at 0.5 is the forward with those masks applied by hand on the test set.
  Tensor logits;
  std::vector<Tensor> test_in = linear_inputs(*dense, test.inputs(), masks, &logits);
  const double accuracy = logits.argmax(1).eq(test.targets()).to(kFloat64).mean().item<double>();
  const json& row = table["rows"][1];
  EXPECT_NEAR(row["accuracy"].get<double>(), accuracy, 1e-12);
  const std::vector<Tensor> plain_in = linear_inputs(*dense, test.inputs(), {}, nullptr);
  for (size_t i = 0; i < kLayers.size(); ++i) {
    const double frac = static_cast<double>(zeros_in(test_in[i])) / static_cast<double>(test_in[i].numel());
    EXPECT_NEAR(row["input_zeros"][kLayers[i]].get<double>(), frac, 1e-12) << kLayers[i];
    // Level 0: the ReLU's own zeros, without masks.
    EXPECT_NEAR(table["rows"][0]["input_zeros"][kLayers[i]].get<double>(),
                static_cast<double>(zeros_in(plain_in[i])) / static_cast<double>(plain_in[i].numel()), 1e-12);
    // A masked feature is always zero: at least the mask's fraction of the inputs.
    for (size_t r = 0; r < levels.size(); ++r)
      EXPECT_GE(table["rows"][r]["input_zeros"][kLayers[i]].get<double>(),
                table["rows"][r]["mask_zeros"][kLayers[i]].get<double>());
  }
  // fc1's inputs do not depend on any mask, and its masks nest (the same scores, smallest first):
  // its zeros only grow with the level. (fc2's need not: fc1's mask changes what fc2 gets.)
  EXPECT_LE(table["rows"][0]["input_zeros"]["fc1"], table["rows"][1]["input_zeros"]["fc1"]);
  EXPECT_LE(table["rows"][1]["input_zeros"]["fc1"], table["rows"][2]["input_zeros"]["fc1"]);
  // The hooked model's forward is that one, and `twig eval` of the saved file applies the hooks.
  EXPECT_TRUE(allclose(hooked->call({nn::Value(test.inputs())}).tensor(), logits, 1e-6, 1e-6));
  EXPECT_EQ(eval("--in " + file("h.twig"))["accuracy"], row["accuracy"]);
  // The weights were not changed.
  const nn::NamedTensors before = dense->named_parameters(), after = hooked->named_parameters();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].first, after[i].first);
    EXPECT_TRUE(equal(before[i].second, after[i].second)) << before[i].first;
  }
}

TEST_F(ActivationCliTest, LayersPicksTheLayersHooked) {
  const json res = eval("--in " + file("m.twig") + " --activation-sparsity 0.75 --layers fc2 --out " + file("h.twig") +
                        kCalibration);
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res["activation_sparsity"]["layers"], json({"fc2"}));
  EXPECT_EQ(res["activation_sparsity"]["rows"][0]["mask_zeros"], json({{"fc2", 90.0 / 120.0}}));
  nn::ModulePtr hooked = load("h.twig");
  EXPECT_FALSE(applied_mask(hooked, "fc1", 400).defined());
  EXPECT_FALSE(applied_mask(hooked, "fc3", 84).defined());
  Tensor mask = applied_mask(hooked, "fc2", 120);
  ASSERT_TRUE(mask.defined());
  EXPECT_EQ(zeros_in(mask), 90);
  // `twig info` lists the hook.
  RunResult info = run("info " + file("h.twig"));
  ASSERT_EQ(info.status, 0) << info.err;
  EXPECT_NE(
      info.out.find("activation sparsify hooks (the layer's input times a mask):\n  fc2: ActivationSparsifyHook\n"),
      std::string::npos)
      << info.out;
  // Only fc2's input is masked: the forward by hand with that one mask.
  nn::ModulePtr dense = load("m.twig");
  data::FashionMNIST test(data(), false);
  Tensor logits;
  (void)linear_inputs(*dense, test.inputs(), {Tensor(), mask, Tensor()}, &logits);
  EXPECT_TRUE(allclose(hooked->call({nn::Value(test.inputs())}).tensor(), logits, 1e-6, 1e-6));
}

TEST_F(ActivationCliTest, UsageErrorsComeFirstAndLeaveEveryFileAsItWas) {
  write_bytes(file("out.twig"), "an older output");
  // A model without a Linear layer.
  serialize::save_module(nn::Sequential({std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 2, 3))}), file("conv.twig"));
  const std::string in = "eval --in " + file("m.twig") + " --data " + data() + " ";
  const std::string act = in + "--activation-sparsity ";
  auto before = snapshot();
  expect_usage_errors(
      {
          {act + "1.5", "'1.5'"},
          {act + "-0.1", "'-0.1'"},
          {act + "x", "'x'"},
          {act + "0,,0.5", "'0,,0.5'"},
          {act + "0.5 --layers fc9", "'fc9': the model has no such layer (its Linear layers: fc1, fc2, fc3)"},
          {act + "0.5 --layers conv1", "'conv1' is a Conv2d"},
          {act + "0.5 --layers fc1,fc1", "'fc1' twice"},
          {act + "0.5 --layers fc1,", "'fc1,'"},
          {act + "0.5,0.9 --out " + file("out.twig"), "one level"},
          {act + "0.5 --calibration-batches 0", "--calibration-batches"},
          {act + "0.5 --calibration-batches 9 --batch-size 16 --out " + file("out.twig"),
           "--calibration-batches 9 is more than the 8 full batches of 16"},
          {in + "--layers fc1", "--layers needs --activation-sparsity"},
          {in + "--out " + file("out.twig"), "--out needs --activation-sparsity"},
          {"eval --in " + file("conv.twig") + " --data " + data() + " --activation-sparsity 0.5",
           "has no Linear layer"},
      },
      before);
  // Other errors: status 1, nothing written (an output folder that does not exist; no training files).
  RunResult r = run(act + "0.5 --out " + file("nowhere/h.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
  expect_unchanged(before);
  write_dataset(0, 16, "testonly");
  before = snapshot();
  r = run("eval --in " + file("m.twig") + " --data " + file("testonly") + " --activation-sparsity 0.5 --out " +
          file("out.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("train-images-idx3-ubyte.gz"), std::string::npos) << r.err;
  expect_unchanged(before);
  // Without --activation-sparsity the test files are enough, as before.
  EXPECT_EQ(run("eval --in " + file("m.twig") + " --data " + file("testonly")).status, 0);
}

}  // namespace
}  // namespace twig
