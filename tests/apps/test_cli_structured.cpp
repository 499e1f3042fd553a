// `twig prune --method {saliency,fpgm} --amount A --structured` (issue 15, the main job) end to end
// on small models and a tiny data set: the saved model is physically smaller (the removed rows and
// the next layers' columns gone), computes what the masked model computed, loads with eval and
// info (new shapes), fine-tunes; usage errors come first and a failed command changes no file.
#include "apps/cli_fixture.h"
#include "examples/fashion_models.h"
#include "twig/ao/extended_patterns.h"
#include "twig/ao/pruners.h"
#include "twig/nn/parametrize.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/registry.h"

namespace twig {
namespace {

class StructuredCliTest : public CliTest {
 protected:
  void train(const std::string& model, const std::string& name) {
    RunResult r = run("train --model " + model + " --epochs 1 --threads 1 --batch-size 32 --data " + data() +
                      " --out " + file(name));
    ASSERT_EQ(r.status, 0) << r.err;
  }
  json prune(const std::string& in, const std::string& out, const std::string& args) {
    RunResult r = run("prune --in " + file(in) + " --out " + file(out) + " --threads 1 --batch-size 32 --json " + args);
    EXPECT_EQ(r.status, 0) << args << ": " << r.err;
    return r.status == 0 ? json::parse(r.out) : json();
  }
  // The loaded models run their forwards: their types registered, as the twig command does.
  nn::ModulePtr load(const std::string& name) {
    static const bool registered = [] {
      serialize::register_module_type<examples::Mlp>("Mlp");
      serialize::register_module_type<examples::LeNet5>("LeNet5");
      return true;
    }();
    (void)registered;
    return serialize::load_module(file(name));
  }
};

int64_t param_count(const nn::Module& m) {
  int64_t n = 0;
  for (const Tensor& t : m.parameters()) n += t.numel();
  return n;
}

// The same pruning of LeNet-5 in-process with the library: the masked model's output, for comparison.
Tensor masked_output(const nn::ModulePtr& model, const std::string& method, const Tensor& x) {
  std::vector<ao::Dict> config;
  for (const char* name : {"conv1", "conv2", "fc1", "fc2"})
    config.push_back(ao::Dict{{"tensor_fqn", std::string(name) + ".weight"}});
  std::unique_ptr<ao::BaseStructuredSparsifier> pruner;
  if (method == "saliency")
    pruner = std::make_unique<ao::SaliencyPruner>(ao::Dict{{"sparsity_level", 0.5}});
  else
    pruner = std::make_unique<ao::FPGMPruner>(0.5);
  pruner->prepare(model, config);
  pruner->step();
  return model->call({nn::Value(x)}).tensor();
}

TEST_F(StructuredCliTest, LeNetShrinksAndComputesWhatTheMaskedModelComputed) {
  write_dataset(64, 32);
  train("lenet", "m.twig");
  for (const std::string method : {"saliency", "fpgm"}) {
    SCOPED_TRACE(method);
    json res = prune("m.twig", "s.twig", "--method " + method + " --amount 0.5 --structured");
    ASSERT_FALSE(res.is_null());
    EXPECT_EQ(res["method"], method);
    EXPECT_EQ(res["structured"], true);
    EXPECT_EQ(res["layers"], json({"conv1", "conv2", "fc1", "fc2"}));
    EXPECT_EQ(res["params_before"], 61706);
    const int64_t small = 3 * 25 + 3 + 8 * 3 * 25 + 8 + 60 * 200 + 60 + 42 * 60 + 42 + 10 * 42 + 10;
    EXPECT_EQ(res["params_after"], small);
    EXPECT_EQ(res["shapes_before"]["conv2"], json({16, 6, 5, 5}));
    EXPECT_EQ(res["shapes"]["conv1"], json({3, 1, 5, 5}));
    EXPECT_EQ(res["shapes"]["conv2"], json({8, 3, 5, 5}));
    EXPECT_EQ(res["shapes"]["fc1"], json({60, 200}));
    EXPECT_EQ(res["shapes"]["fc2"], json({42, 60}));
    EXPECT_EQ(res["shapes"]["fc3"], json({10, 42}));

    nn::ModulePtr dense = load("m.twig"), shrunk = load("s.twig");
    EXPECT_EQ(param_count(*shrunk), small);
    for (const auto& m : shrunk->modules()) {
      EXPECT_FALSE(nn::is_parametrized(*m));
      EXPECT_FALSE(m->has("_bias"));
      EXPECT_TRUE(m->forward_hooks().items().empty());
      EXPECT_TRUE(m->forward_pre_hooks().items().empty());
    }
    manual_seed(1);
    Tensor x = randn({5, 1, 28, 28});
    Tensor y_masked = masked_output(dense, method, x);
    Tensor y = shrunk->call({nn::Value(x)}).tensor();
    ASSERT_EQ(y.sizes(), (Shape{5, 10}));
    EXPECT_TRUE(allclose(y, y_masked, 1e-4, 1e-5));

    // eval and info take it; info shows the new shapes.
    RunResult ev = run("eval --in " + file("s.twig") + " --threads 1 --data " + data());
    EXPECT_EQ(ev.status, 0) << ev.err;
    RunResult info = run("info " + file("s.twig"));
    ASSERT_EQ(info.status, 0) << info.err;
    EXPECT_NE(info.out.find("[8, 3, 5, 5]"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("[42, 60]"), std::string::npos) << info.out;
  }
}

TEST_F(StructuredCliTest, MlpShrinksAndFineTunes) {
  write_dataset(64, 32);
  train("mlp", "m.twig");
  json res = prune("m.twig", "s.twig", "--method fpgm --amount 0.5 --structured --finetune-epochs 1 --data " + data());
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res["layers"], json({"fc1", "fc2"}));
  EXPECT_EQ(res["shapes"]["fc1"], json({150, 784}));
  EXPECT_EQ(res["shapes"]["fc2"], json({50, 150}));
  EXPECT_EQ(res["shapes"]["fc3"], json({10, 50}));
  EXPECT_EQ(res["params_after"], 150 * 784 + 150 + 50 * 150 + 50 + 10 * 50 + 10);
  EXPECT_TRUE(res.contains("accuracy"));
  EXPECT_TRUE(res.contains("epoch_s"));
  // Fine-tuned: the saved weights are not the pruned dense ones; the model is the small one.
  nn::ModulePtr shrunk = load("s.twig");
  EXPECT_EQ(shrunk->child("fc2")->get("weight").sizes(), (Shape{50, 150}));
  RunResult ev = run("eval --in " + file("s.twig") + " --threads 1 --data " + data() + " --json");
  ASSERT_EQ(ev.status, 0) << ev.err;
  EXPECT_EQ(json::parse(ev.out)["accuracy"], res["accuracy"]);
}

TEST_F(StructuredCliTest, UsageErrorsComeFirstAndLeaveEveryFileAsItWas) {
  write_dataset(64, 32);
  train("mlp", "m.twig");
  RunResult p =
      run("prune --in " + file("m.twig") + " --out " + file("l1.twig") + " --method l1_unstructured --amount 0.5");
  ASSERT_EQ(p.status, 0) << p.err;
  write_bytes(file("out.twig"), "an older output");
  const std::string in = "prune --in " + file("m.twig") + " --out " + file("out.twig") + " ";
  auto before = snapshot();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {in + "--method saliency --amount 0.5", "needs --structured"},
      {in + "--method l1_unstructured --amount 0.5 --structured", "--structured is for --method saliency or fpgm"},
      {in + "--method fpgm --amount 1 --structured", "'1'"},
      {in + "--method fpgm --amount 1.5 --structured", "'1.5'"},
      {in + "--method fpgm --amount x --structured", "'x'"},
      {in + "--method saliency --amount 0.5 --structured --remove", "--remove is not used by --structured"},
      {in + "--method saliency --amount 0.5 --structured --dim 1", "--dim"},
      {in + "--method saliency --amount 0.5 --structured --global", "--global"},
      {in + "--method saliency --amount 0.5 --structured --n 1", "--n"},
      {in + "--remove --structured", "--method"},
      {"prune --in " + file("l1.twig") + " --out " + file("out.twig") + " --method saliency --amount 0.5 --structured",
       "fc1.weight is already pruned"},
  };
  expect_usage_errors(cases, before);
  // A failure after the pruning (no data set for the fine-tuning) leaves the files as they were too.
  RunResult r = run(in + "--method saliency --amount 0.5 --structured --finetune-epochs 1 --data " + file("nowhere"));
  EXPECT_NE(r.status, 0);
  expect_unchanged(before);
}

}  // namespace
}  // namespace twig
