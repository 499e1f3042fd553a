// The twig command end to end, as a user runs it: a tiny synthetic Fashion-MNIST in a temporary
// folder, then train -> prune -> eval -> info, and the error paths (usage errors exit 2, other
// errors exit 1 with one line naming the problem, no output file left behind).
#include "apps/cli_fixture.h"

namespace twig {
namespace {

TEST_F(CliTest, NoArgumentsIsAUsageError) {
  RunResult r = run("");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("usage: twig"), std::string::npos);
}

TEST_F(CliTest, UnknownCommandAndOptionAreUsageErrors) {
  RunResult r = run("fly");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown command 'fly'"), std::string::npos) << r.err;
  r = run("train --model lenet --out x.twig --bogus 3");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;
  r = run("train --model resnet --out x.twig");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'resnet'"), std::string::npos) << r.err;
  r = run("train --model mlp --out x.twig --epochs two");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'two'"), std::string::npos) << r.err;
}

TEST_F(CliTest, MissingDatasetNamesThePackageAndWritesNothing) {
  RunResult r = run("train --model mlp --epochs 1 --data " + file("nowhere") + " --out " + file("m.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("dataset-fashion-mnist"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(file("m.twig")));
}

TEST_F(CliTest, CorruptModelFileIsAOneLineError) {
  {
    std::ofstream f(file("bad.twig"), std::ios::binary);
    f << "\x10\x00\x00\x00\x00\x00\x00\x00{not json at all";
  }
  for (const std::string& cmd :
       {"eval --in " + file("bad.twig"), "info " + file("bad.twig"),
        "prune --in " + file("bad.twig") + " --method l1_unstructured --amount 0.5 --out " + file("o.twig")}) {
    SCOPED_TRACE(cmd);
    RunResult r = run(cmd);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("bad.twig"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_FALSE(fs::exists(file("o.twig")));
  RunResult r = run("eval --in " + file("absent.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("absent.twig"), std::string::npos) << r.err;
}

TEST_F(CliTest, TrainPruneEvalInfoEndToEnd) {
  write_dataset(512, 256);
  RunResult r = run("train --model mlp --epochs 2 --batch-size 32 --data " + data() + " --out " + file("mlp.twig") +
                    " --state-dict " + file("mlp.safetensors") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json train = json::parse(r.out);
  EXPECT_EQ(train["command"], "train");
  EXPECT_GT(train["accuracy"].get<double>(), 0.5);  // the toy problem is easy; chance is 0.1
  EXPECT_GT(train["epoch_s"].get<double>(), 0.0);
  ASSERT_TRUE(fs::exists(file("mlp.twig")));
  ASSERT_TRUE(fs::exists(file("mlp.safetensors")));

  // Invalid amounts are usage errors: text, and a fraction over 1.
  r = run("prune --in " + file("mlp.twig") + " --method l1_unstructured --amount lots --out " + file("p.twig"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'lots'"), std::string::npos) << r.err;
  r = run("prune --in " + file("mlp.twig") + " --method l1_unstructured --amount 1.5 --out " + file("p.twig"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("1.5"), std::string::npos) << r.err;
  r = run("prune --in " + file("mlp.twig") + " --method ln_structured --global --amount 0.5 --out " + file("p.twig"));
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(fs::exists(file("p.twig")));

  r = run("prune --in " + file("mlp.twig") +
          " --method l1_unstructured --global --amount 0.8 --finetune-epochs 1 --batch-size 32 --data " + data() +
          " --out " + file("p.twig") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json pruned = json::parse(r.out);
  EXPECT_NEAR(pruned["sparsity"].get<double>(), 0.8, 1e-4);
  EXPECT_GT(pruned["accuracy"].get<double>(), 0.3);

  r = run("eval --in " + file("p.twig") + " --data " + data() + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json eval = json::parse(r.out);
  EXPECT_NEAR(eval["sparsity"].get<double>(), 0.8, 1e-4);
  EXPECT_NEAR(eval["accuracy"].get<double>(), pruned["accuracy"].get<double>(), 1e-12);  // the same model

  r = run("info " + file("p.twig"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("fc1.weight_orig"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fc1.weight_mask"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fc1.weight: CustomFromMask"), std::string::npos) << r.out;  // global pruning hooks
  r = run("info " + file("mlp.safetensors") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json info = json::parse(r.out);
  ASSERT_TRUE(info.contains("tensors"));
  EXPECT_EQ(info["tensors"].size(), 6u);  // three Linear layers, weight and bias each

  // --remove makes the masks permanent: plain weights, same sparsity, same accuracy.
  r = run("prune --in " + file("p.twig") + " --method l1_unstructured --amount 0 --remove --data " + data() +
          " --out " + file("r.twig") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json removed = json::parse(r.out);
  EXPECT_NEAR(removed["sparsity"].get<double>(), 0.8, 1e-4);
  EXPECT_NEAR(removed["accuracy"].get<double>(), eval["accuracy"].get<double>(), 1e-12);
  r = run("info " + file("r.twig"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("weight_orig"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace twig
