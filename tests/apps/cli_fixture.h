// What the tests of the twig command share: running the real binary (TWIG_CLI_PATH) with its
// output captured, a temporary folder per test, a tiny synthetic Fashion-MNIST written there, and
// the checks that a command left pre-existing files byte-identical and no temporaries behind.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/data.h"
#include "twig/tensor/random.h"
#include "twig/tensor/tensor.h"

namespace twig {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct RunResult {
  int status = -1;  // the exit status; -1 when the command died of a signal
  std::string out, err;
  double seconds = 0;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
}

// Runs `PREFIX twig ARGS` through /bin/sh with stdout and stderr captured in files in dir (the
// prefix sets the environment or limits, e.g. "TWIG_NUM_THREADS=x" or "ulimit -f 40;").
inline RunResult run_twig(const std::string& args, const fs::path& dir, const std::string& prefix = "") {
  fs::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::string cmd = prefix + " " + std::string(TWIG_CLI_PATH) + " " + args + " >" + out.string() + " 2>" + err.string();
  auto start = std::chrono::steady_clock::now();
  int raw = std::system(cmd.c_str());
  RunResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

// Names in `folder` that a twig command leaves only while it runs: its staging folders and the
// serializer's temporaries.
inline std::vector<std::string> temporaries(const fs::path& folder) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    std::string name = e.path().filename().string();
    if (name.find(".twig-tmp") != std::string::npos || name.find(".tmp.") != std::string::npos) out.push_back(name);
  }
  return out;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("twig_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
  }
  void TearDown() override {
    if (!std::getenv("KEEP")) fs::remove_all(dir_);
  }

  // A learnable toy problem in Fashion-MNIST's format: the class is the brightest of ten bands.
  void write_dataset(int64_t n_train, int64_t n_test, const std::string& sub = "data") {
    manual_seed(7);
    fs::create_directories(dir_ / sub);
    auto make = [&](int64_t n, const std::string& images, const std::string& labels) {
      Tensor y = randint(0, 10, {n});
      Tensor x = rand({n, 28, 28}).mul(60.0);
      auto xa = x.contiguous();
      float* px = xa.data_ptr<float>();
      const int64_t* py = y.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t r = 0; r < 2; ++r)
          for (int64_t c = 0; c < 28; ++c) px[i * 784 + (py[i] * 2 + r + 4) * 28 + c] += 190.0f;
      data::write_idx((dir_ / sub / images).string(), xa.to(Dtype::UInt8), true);
      data::write_idx((dir_ / sub / labels).string(), y.to(Dtype::UInt8), true);
    };
    if (n_train > 0) make(n_train, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    make(n_test, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
  }
  std::string data() const { return (dir_ / "data").string(); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }
  RunResult run(const std::string& args, const std::string& prefix = "") { return run_twig(args, dir_, prefix); }

  // A snapshot of every file under the test folder (but the captured stdout/stderr): path -> bytes.
  std::map<std::string, std::string> snapshot() const {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      std::string rel = fs::relative(e.path(), dir_).string();
      if (rel == "stdout.txt" || rel == "stderr.txt") continue;
      out[rel] = e.is_directory() ? std::string("<folder>") : slurp(e.path());
    }
    return out;
  }

  // Asserts that the test folder holds exactly `before` again: every old file byte-identical,
  // nothing new (no temporaries), nothing gone.
  void expect_unchanged(const std::map<std::string, std::string>& before) const {
    auto after = snapshot();
    for (const auto& [path, bytes] : before) {
      auto it = after.find(path);
      if (it == after.end()) {
        ADD_FAILURE() << path << " is gone";
      } else {
        EXPECT_TRUE(it->second == bytes) << path << " changed";
      }
    }
    for (const auto& [path, bytes] : after)
      if (!before.contains(path)) ADD_FAILURE() << path << " is new";
  }

  // Runs each (arguments, message) case and asserts a usage error: status 2, stderr naming the
  // message, and the test folder exactly as `before` (expect_unchanged).
  void expect_usage_errors(const std::vector<std::pair<std::string, std::string>>& cases,
                           const std::map<std::string, std::string>& before) {
    for (const auto& [args, says] : cases) {
      SCOPED_TRACE(args);
      RunResult r = run(args);
      EXPECT_EQ(r.status, 2) << r.err;
      EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
      expect_unchanged(before);
    }
  }

  fs::path dir_;
};

}  // namespace twig
