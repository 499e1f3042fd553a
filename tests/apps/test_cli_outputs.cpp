// Never lose a user's file (issue 12 §1): a failed or interrupted twig command leaves every
// pre-existing path byte-identical and creates nothing. Each case runs the real binary: a full
// disk (RLIMIT_FSIZE through the shell's ulimit, with SIGXFSZ ignored so writes fail with EFBIG),
// targets that cannot be written even as root (a path under a regular file, /proc), folders as
// targets, --out equal to --in, and SIGINT in the middle of `twig demo`.
#include "apps/cli_fixture.h"

namespace twig {
namespace {

// File-size limit for the child: 200 blocks (100 KB for dash, 200 KB for bash) is far below a
// saved MLP (about 1 MB) and far above what the command prints.
const char* kFullDisk = "trap '' XFSZ; ulimit -f 200;";

class CliOutputsTest : public CliTest {
 protected:
  // A trained MLP at `name` (one epoch on the toy data).
  void train_mlp(const std::string& name) {
    RunResult r = run("train --model mlp --epochs 1 --data " + data() + " --out " + file(name));
    ASSERT_EQ(r.status, 0) << r.err;
  }
};

TEST_F(CliOutputsTest, FullDiskDuringTrainKeepsTheOldFiles) {
  write_dataset(256, 64);
  write_bytes(file("keep.twig"), "the only copy of an old model");
  write_bytes(file("keep.safetensors"), "old weights");
  auto before = snapshot();
  RunResult r = run("train --model mlp --epochs 1 --data " + data() + " --out " + file("keep.twig") + " --state-dict " +
                        file("keep.safetensors"),
                    kFullDisk);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("keep.twig"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  expect_unchanged(before);
}

TEST_F(CliOutputsTest, FullDiskWhenPruningInPlaceKeepsTheModel) {
  write_dataset(256, 64);
  train_mlp("m.twig");
  auto before = snapshot();
  RunResult r =
      run("prune --in " + file("m.twig") + " --method l1_unstructured --amount 0.5 --out " + file("m.twig"), kFullDisk);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("m.twig"), std::string::npos) << r.err;
  expect_unchanged(before);

  // With room, --out equal to --in replaces the model with the pruned one.
  r = run("prune --in " + file("m.twig") + " --method l1_unstructured --amount 0.5 --out " + file("m.twig") +
          " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NEAR(json::parse(r.out)["sparsity"].get<double>(), 0.5, 1e-3);
  r = run("info " + file("m.twig"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("fc1.weight_mask"), std::string::npos) << r.out;
  EXPECT_TRUE(temporaries(dir_).empty());
}

TEST_F(CliOutputsTest, UnwritableTargetFailsBeforeTrainingAndKeepsTheOldFiles) {
  write_dataset(256, 64);
  write_bytes(file("keep.twig"), "old model");
  write_bytes(file("plain_file"), "a regular file, so nothing can be created under it, not even by root");
  auto before = snapshot();
  for (const std::string& bad :
       {file("plain_file") + "/sd.safetensors", std::string("/proc/twig_cli_test.safetensors")}) {
    SCOPED_TRACE(bad);
    RunResult r = run("train --model lenet --epochs 50 --data " + data() + " --out " + file("keep.twig") +
                      " --state-dict " + bad);
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find(bad), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "trained before failing: " << r.out;
    EXPECT_LT(r.seconds, 10.0);  // 50 LeNet epochs would take minutes
    expect_unchanged(before);
  }
  // The same for --out.
  RunResult r =
      run("train --model mlp --data " + data() + " --out /proc/twig_cli_test.twig --state-dict " + file("keep.twig"));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("/proc/twig_cli_test.twig"), std::string::npos) << r.err;
  expect_unchanged(before);
}

TEST_F(CliOutputsTest, FolderAsTargetIsRefusedAndKeptWithTheOldFiles) {
  write_dataset(256, 64);
  write_bytes(file("keep.twig"), "old model");
  fs::create_directories(dir_ / "empty_dir");
  fs::create_directories(dir_ / "full_dir");
  write_bytes(dir_ / "full_dir" / "notes.txt", "user notes");
  auto before = snapshot();
  for (const std::string& args :
       {"--out " + file("keep.twig") + " --state-dict " + file("empty_dir"), "--out " + file("empty_dir"),
        "--out " + file("full_dir") + "/", "--out " + file("keep.twig") + " --state-dict " + file("keep.twig")}) {
    SCOPED_TRACE(args);
    RunResult r = run("train --model mlp --epochs 1 --data " + data() + " " + args);
    EXPECT_NE(r.status, 0) << r.err;
    EXPECT_EQ(r.out.find("epoch"), std::string::npos) << r.out;
    expect_unchanged(before);
  }
  // prune and demo too.
  train_mlp("m.twig");
  before = snapshot();
  RunResult r =
      run("prune --in " + file("m.twig") + " --method l1_unstructured --amount 0.5 --out " + file("full_dir"));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("is a folder"), std::string::npos) << r.err;
  expect_unchanged(before);
  r = run("demo --epochs 1 --data " + data() + " --out " + file("keep.twig"));
  EXPECT_EQ(r.status, 1) << r.err;
  expect_unchanged(before);
}

// `twig demo` as a child we can signal; stdout and stderr go to files in dir.
pid_t spawn_demo(const std::vector<std::string>& args, const fs::path& dir) {
  std::vector<std::string> argv = {TWIG_CLI_PATH, "demo"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, (dir / "stdout.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, (dir / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, TWIG_CLI_PATH, &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Starts a long demo writing to `out`, waits until it trains (its header line is printed after
// the checks and the data loading, and its staging folder exists), sends SIGINT, and returns the
// wait status.
int interrupt_demo(const fs::path& dir, const std::string& data, const fs::path& out, const fs::path& staging_in) {
  pid_t pid = spawn_demo({"--epochs", "1000", "--data", data, "--out", out.string()}, dir);
  EXPECT_GT(pid, 0);
  if (pid <= 0) return -1;
  bool training = false;
  for (int i = 0; i < 600 && !training; ++i) {  // up to a minute on a busy machine
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    training = slurp(dir / "stdout.txt").find("twig demo:") != std::string::npos;
  }
  EXPECT_TRUE(training) << slurp(dir / "stderr.txt");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // into the first epochs
  EXPECT_FALSE(temporaries(staging_in).empty()) << "no staging folder while the demo runs";
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST_F(CliOutputsTest, SigintDuringDemoLeavesNothingBehind) {
  write_dataset(2048, 64);
  auto before = snapshot();
  int status = interrupt_demo(dir_, data(), dir_ / "demo_out", dir_);
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;  // the exit status says SIGINT
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  EXPECT_FALSE(fs::exists(dir_ / "demo_out"));
  expect_unchanged(before);
}

TEST_F(CliOutputsTest, SigintDuringDemoKeepsAnExistingFolderAsItWas) {
  write_dataset(2048, 64);
  fs::create_directories(dir_ / "demo_out");
  write_bytes(dir_ / "demo_out" / "results.json", "{\"an\": \"older run\"}");
  write_bytes(dir_ / "demo_out" / "my_notes.txt", "the user's own file");
  auto before = snapshot();
  int status = interrupt_demo(dir_, data(), dir_ / "demo_out", dir_ / "demo_out");
  ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  expect_unchanged(before);
}

TEST_F(CliOutputsTest, DemoIntoAnExistingFolderReplacesOnlyItsOwnFiles) {
  write_dataset(256, 64);
  fs::create_directories(dir_ / "demo_out");
  write_bytes(dir_ / "demo_out" / "results.json", "{\"an\": \"older run\"}");
  write_bytes(dir_ / "demo_out" / "my_notes.txt", "the user's own file");
  RunResult r = run("demo --epochs 1 --data " + data() + " --out " + file("demo_out"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(slurp(dir_ / "demo_out" / "my_notes.txt"), "the user's own file");
  EXPECT_EQ(json::parse(slurp(dir_ / "demo_out" / "results.json"))["command"], "demo");
  // Every file the demo names, the AGP and shrunk rows' included.
  for (const char* stem : {"lenet_dense", "lenet_global_l1_50", "lenet_global_l1_80", "lenet_global_l1_90",
                           "lenet_ln_structured_50", "lenet_weight_norm_agp_80", "lenet_saliency_shrunk_50"}) {
    EXPECT_TRUE(fs::exists(dir_ / "demo_out" / (std::string(stem) + ".twig"))) << stem;
    EXPECT_TRUE(fs::exists(dir_ / "demo_out" / (std::string(stem) + ".safetensors"))) << stem;
  }
  EXPECT_TRUE(temporaries(dir_ / "demo_out").empty());
  EXPECT_TRUE(temporaries(dir_).empty());
}

}  // namespace
}  // namespace twig
