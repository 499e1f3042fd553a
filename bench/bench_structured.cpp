// Structured pruning benchmark: what a physically shrunk model saves, and what prune() costs.
//
// models: LeNet-5 and the MLP 784-300-100-10 of the twig command (examples/fashion_models.h), the
// rows / channels of every layer but the last halved by SaliencyPruner (sparsity_level 0.5), then
// prune() (PyTorch's table plus ao::extended_patterns() for LeNet-5's conv -> pool -> flatten ->
// linear). The dense model and the shrunk one are timed in the same run, rounds alternating
// (dense, shrunk, dense, ...), each measurement a loop of calls of about 50 ms; the medians
// are compared with the multiply-adds of the conv / linear layers, counted analytically (bias,
// ReLU, pooling and the loss left out):
//   infer64 / infer1  eval mode, no grad, a batch of 64 / 1 random images (1, 28, 28)
//   train64           forward + cross-entropy + backward + SGD step (lr 0.01), batch 64; its
//                     multiply-adds are 3 x forward (output, weight gradient, input gradient) less
//                     the first layer's input gradient, which autograd does not compute
// prune100: 100 x Linear(64, 64) with ReLU between, every layer configured (level 0.5): the times of
//   prepare, step, prune() and, apart, ao::trace of the same model (the part of prune() that runs
//   the model once); prune() less trace is the pattern matching and the conversions.
//
// Usage: bench_structured [THREADS [ROUNDS [WHAT]]]   WHAT: all (default), models, prune100,
//        or "one MODEL CASE VARIANT ITERS" (runs one case ITERS times between callgrind toggles, for
//        instruction counts: MODEL mlp|lenet, CASE infer64|infer1|train64, VARIANT dense|shrunk)
// bench/run_structured.sh builds and runs it.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_TOGGLE_COLLECT
#endif

#include "../examples/fashion_models.h"
#include "bench/bench_timer.h"
#include "twig/ao/ao.h"
#include "twig/core.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"

using namespace twig;

namespace {

// ---- the models ---------------------------------------------------------------------------------

// Multiply-adds of one image through the conv / linear layers of `model` (its current shapes).
// LeNet-5: conv1 at 28x28 (padding 2), conv2 at 10x10; linear: in * out. Also returns the first
// layer's share (the input gradient the training step does not compute).
struct Macs {
  double forward = 0, first = 0;
};
Macs count_macs(const std::string& name, nn::Module& model) {
  Macs m;
  auto lin = [](nn::Module& l) {
    auto s = l.get("weight").sizes();
    return double(s[0] * s[1]);
  };
  auto conv = [](nn::Module& c, int64_t out_hw) {
    auto s = c.get("weight").sizes();  // (out, in, kh, kw)
    return double(s[0] * s[1] * s[2] * s[3] * out_hw * out_hw);
  };
  if (name == "mlp") {
    auto& mlp = dynamic_cast<examples::Mlp&>(model);
    m.first = lin(*mlp.fc1);
    m.forward = m.first + lin(*mlp.fc2) + lin(*mlp.fc3);
  } else {
    auto& le = dynamic_cast<examples::LeNet5&>(model);
    m.first = conv(*le.conv1, 28);
    m.forward = m.first + conv(*le.conv2, 10) + lin(*le.fc1) + lin(*le.fc2) + lin(*le.fc3);
  }
  return m;
}

// The MLP shrinks with PyTorch's table; LeNet-5 needs twig's extended one (its conv -> relu ->
// pool -> flatten -> linear).
ao::PatternTable table_for(const std::string& name) {
  return name == "lenet" ? ao::extended_patterns() : ao::default_patterns();
}

std::string shapes(nn::Module& model) {
  std::string s;
  for (const auto& [n, p] : model.named_parameters()) {
    if (n.find("weight") == std::string::npos) continue;
    if (!s.empty()) s.push_back(' ');
    s.append(n).push_back('[');
    for (size_t i = 0; i < p.sizes().size(); ++i) {
      if (i) s.push_back(',');
      s.append(std::to_string(p.sizes()[i]));
    }
    s.push_back(']');
  }
  return s;
}

struct Pair {
  std::shared_ptr<nn::UnaryModule> dense, shrunk;
};

// The dense model and its shrunk copy (SaliencyPruner, level 0.5, every layer but the last). Checks
// that the shrunk model computes what the masked one did.
Pair build_pair(const std::string& name, bool verbose) {
  manual_seed(0);
  Pair p;
  p.dense = examples::make_model(name);
  p.shrunk = std::dynamic_pointer_cast<nn::UnaryModule>(p.dense->clone());
  std::vector<std::string> layers =
      name == "mlp" ? std::vector<std::string>{"fc1", "fc2"} : std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"};
  std::vector<ao::Dict> config;
  for (const auto& l : layers) config.push_back(ao::Dict{{"tensor_fqn", l + ".weight"}});
  ao::SaliencyPruner pruner(ao::Dict{{"sparsity_level", 0.5}}, table_for(name));
  pruner.prepare(p.shrunk, config);
  Tensor x = randn({8, 1, 28, 28});
  pruner.step();
  Tensor masked = (*p.shrunk)(x);
  pruner.prune(nn::Values{x});
  Tensor out = (*p.shrunk)(x);
  double diff = (out - masked).abs().max().item<double>();
  if (verbose) {
    std::printf("%s dense:  %s\n%s shrunk: %s  (max |shrunk - masked| on 8 images: %.2g)\n", name.c_str(),
                shapes(*p.dense).c_str(), name.c_str(), shapes(*p.shrunk).c_str(), diff);
  }
  if (!(diff < 1e-4)) {
    std::fprintf(stderr, "the shrunk %s differs from the masked one by %g\n", name.c_str(), diff);
    std::exit(1);
  }
  return p;
}

// ---- the cases ------------------------------------------------------------------------------------

// One callable per (case, variant), set up outside the timing.
std::function<void()> make_case(const std::string& kase, const std::shared_ptr<nn::UnaryModule>& model) {
  if (kase == "infer64" || kase == "infer1") {
    Tensor x = randn({kase == "infer64" ? 64 : 1, 1, 28, 28});
    return [model, x] {
      NoGradGuard no_grad;
      model->eval();
      Tensor y = (*model)(x);
      if (y.numel() == 0) std::abort();  // keeps the work observable
    };
  }
  Tensor x = randn({64, 1, 28, 28});
  Tensor target = randint(0, 10, {64});
  auto opt = std::make_shared<optim::SGD>(model->parameters(), optim::SGDOptions(0.01));
  return [model, x, target, opt] {
    model->train();
    opt->zero_grad();
    Tensor loss = nn::F::cross_entropy((*model)(x), target);
    loss.backward();
    opt->step();
  };
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void bench_models(int rounds) {
  std::printf("\n%-6s %-8s %12s %12s %8s %8s %8s %6s\n", "model", "case", "dense us", "shrunk us", "t ratio", "MAC rat",
              "saved/", "iters");
  std::printf("%-6s %-8s %12s %12s %8s %8s %8s %6s\n", "", "", "(median)", "(median)", "", "", "MACsav", "");
  for (std::string name : {"mlp", "lenet"}) {
    Pair p;
    try {
      p = build_pair(name, true);
    } catch (const Error& e) {
      std::printf("%s: not shrunk: %s\n", name.c_str(), e.what());
      continue;
    }
    Macs md = count_macs(name, *p.dense), ms = count_macs(name, *p.shrunk);
    for (std::string kase : {"infer64", "infer1", "train64"}) {
      auto fd = make_case(kase, p.dense), fs = make_case(kase, p.shrunk);
      // Warm-up, and a loop long enough (~50 ms for the dense model) to dwarf the clock.
      fd();
      fs();
      double once = bench::time_once(fd);
      int iters = std::max(1, std::min(100000, int(0.05 / std::max(once, 1e-7))));
      std::vector<double> td, ts;
      for (int r = 0; r < rounds; ++r) {
        td.push_back(bench::time_once([&] {
                       for (int i = 0; i < iters; ++i) fd();
                     }) /
                     iters);
        ts.push_back(bench::time_once([&] {
                       for (int i = 0; i < iters; ++i) fs();
                     }) /
                     iters);
      }
      double d = median(td), s = median(ts);
      bool train = kase == "train64";
      double macs_d = train ? 3 * md.forward - md.first : md.forward;
      double macs_s = train ? 3 * ms.forward - ms.first : ms.forward;
      double mac_ratio = macs_s / macs_d, t_ratio = s / d;
      std::printf("%-6s %-8s %12.1f %12.1f %8.3f %8.3f %8.2f %6d\n", name.c_str(), kase.c_str(), d * 1e6, s * 1e6,
                  t_ratio, mac_ratio, (1 - t_ratio) / (1 - mac_ratio), iters);
    }
  }
  std::printf(
      "(t ratio = shrunk / dense time; MAC rat = shrunk / dense multiply-adds; saved/MACsav = time saved "
      "over MACs saved, goal >= 0.9)\n");
  std::fflush(stdout);
}

// ---- prune() on 100 Linear layers ---------------------------------------------------------------

void bench_prune100(int rounds) {
  const int layers = 100;
  auto make = [&] {
    auto seq = std::make_shared<nn::Sequential>();
    for (int i = 0; i < layers; ++i) {
      seq->push_back(std::make_shared<nn::Linear>(64, 64));
      if (i + 1 < layers) seq->push_back(std::make_shared<nn::ReLU>());
    }
    return seq;
  };
  std::vector<double> t_prep, t_step, t_prune, t_trace, t_total;
  for (int r = 0; r < rounds; ++r) {
    manual_seed(r);
    auto model = make();
    Tensor x = randn({1, 64});
    ao::SaliencyPruner pruner(ao::Dict{{"sparsity_level", 0.5}});
    double t0 = bench::now_seconds();
    pruner.prepare(model, std::nullopt);  // make_config_from_model: all 100 Linear layers
    double t1 = bench::now_seconds();
    pruner.step();
    double t2 = bench::now_seconds();
    auto small = pruner.prune(nn::Values{x});
    double t3 = bench::now_seconds();
    t_prep.push_back(t1 - t0);
    t_step.push_back(t2 - t1);
    t_prune.push_back(t3 - t2);
    t_total.push_back(t3 - t0);
    int64_t rows0 = -1, cols_last = -1;
    for (const auto& [n, t] : model->named_parameters()) {
      if (n == "0.weight") rows0 = t.size(0);
      if (n == "198.weight") cols_last = t.size(1);
    }
    if (rows0 != 32 || cols_last != 32) {
      std::fprintf(stderr, "prune100: the model was not shrunk\n");
      std::exit(1);
    }
    // The trace alone, on a fresh prepared model (what prune() runs first).
    auto model2 = make();
    ao::SaliencyPruner pruner2(ao::Dict{{"sparsity_level", 0.5}});
    pruner2.prepare(model2, std::nullopt);
    pruner2.step();
    t_trace.push_back(bench::time_once([&] { ao::trace(model2, nn::Values{x}); }));
  }
  double pr = median(t_prune), tr = median(t_trace);
  std::printf("\nprune100 (100 x Linear(64,64) + ReLU, all configured, SaliencyPruner 0.5), medians of %d, ms:\n",
              rounds);
  std::printf("  prepare %.2f  step %.2f  prune() %.2f (trace %.2f, matching + conversions %.2f)  total %.2f\n",
              median(t_prep) * 1e3, median(t_step) * 1e3, pr * 1e3, tr * 1e3, (pr - tr) * 1e3, median(t_total) * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
    const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
    const std::string what = argc > 3 ? argv[3] : "all";
    set_num_threads(threads);
    if (what == "one") {
      if (argc != 8) {
        std::fprintf(stderr, "usage: %s THREADS ROUNDS one MODEL CASE VARIANT ITERS\n", argv[0]);
        return 2;
      }
      Pair p = build_pair(argv[4], false);
      auto f = make_case(argv[5], std::string(argv[6]) == "dense" ? p.dense : p.shrunk);
      const int iters = std::atoi(argv[7]);
      f();  // warm-up
      CALLGRIND_ZERO_STATS;
      CALLGRIND_TOGGLE_COLLECT;
      for (int i = 0; i < iters; ++i) f();
      CALLGRIND_TOGGLE_COLLECT;
      return 0;
    }
    std::printf("threads %d, rounds %d\n", threads, rounds);
    if (what == "all" || what == "models") bench_models(rounds);
    if (what == "all" || what == "prune100") bench_prune100(rounds);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
