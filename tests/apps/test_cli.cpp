// The twig command end to end, as a user runs it: a tiny synthetic Fashion-MNIST in a temporary
// folder, then train -> prune -> eval -> info, and the error paths (usage errors exit 2, other
// errors exit 1 with one line naming the problem, no output file left behind).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "nn/data.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace twig {
namespace {

struct RunResult {
  int status = -1;
  std::string out, err;
};

// Runs `twig ARGS` with stdout and stderr captured in files.
RunResult run_twig(const std::string& args, const fs::path& dir) {
  fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::string cmd = std::string(TWIG_CLI_PATH) + " " + args + " >" + out.string() + " 2>" + err.string();
  int raw = std::system(cmd.c_str());
  RunResult r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  auto slurp = [](const fs::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("twig_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override { if (!std::getenv("KEEP")) fs::remove_all(dir_); }

  // A learnable toy problem in Fashion-MNIST's format: the class is the brightest of ten bands.
  void write_dataset(int64_t n_train, int64_t n_test) {
    manual_seed(7);
    auto make = [&](int64_t n, const std::string& images, const std::string& labels) {
      Tensor y = randint(0, 10, {n});
      Tensor x = rand({n, 28, 28}).mul(60.0);
      auto xa = x.contiguous();
      float* px = xa.data_ptr<float>();
      const int64_t* py = y.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < 2; ++r)
          for (int64_t c = 0; c < 28; ++c) px[i * 784 + (py[i] * 2 + r + 4) * 28 + c] += 190.0f;
      data::write_idx((dir_ / "data" / images).string(), xa.to(Dtype::UInt8), true);
      data::write_idx((dir_ / "data" / labels).string(), y.to(Dtype::UInt8), true);
    };
    make(n_train, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    make(n_test, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
  }
  std::string data() const { return (dir_ / "data").string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  RunResult run(const std::string& args) { return run_twig(args, dir_); }

  fs::path dir_;
};

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
  for (const std::string& cmd : {"eval --in " + file("bad.twig"), "info " + file("bad.twig"),
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

  // Invalid amounts: text is a usage error; a fraction over 1 is the library's ValueError.
  r = run("prune --in " + file("mlp.twig") + " --method l1_unstructured --amount lots --out " + file("p.twig"));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("'lots'"), std::string::npos) << r.err;
  r = run("prune --in " + file("mlp.twig") + " --method l1_unstructured --amount 1.5 --out " + file("p.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("1.5"), std::string::npos) << r.err;
  r = run("prune --in " + file("mlp.twig") + " --method ln_structured --global --amount 0.5 --out " + file("p.twig"));
  EXPECT_EQ(r.status, 2);
  EXPECT_FALSE(fs::exists(file("p.twig")));

  r = run("prune --in " + file("mlp.twig") + " --method l1_unstructured --global --amount 0.8 --finetune-epochs 1 --batch-size 32 --data " +
          data() + " --out " + file("p.twig") + " --json");
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
  r = run("prune --in " + file("p.twig") + " --method l1_unstructured --amount 0 --remove --data " + data() + " --out " +
          file("r.twig") + " --json");
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
