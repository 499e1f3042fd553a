// The libtorch 1.13 peer of bench_train, the same three tasks timed the same way:
//   train  one Fashion-MNIST epoch of the MLP 784-300-100-10 or LeNet-5 with Adam(1e-3) at batch 64
//          (data loaded before the clock starts; shuffling, batching, forward, backward, step);
//   infer  the 10000 test images in eval mode under NoGradGuard, batches of 1000, argmax and the
//          count of correct answers (best of 5 passes);
//   prune  global L1 unstructured pruning of every conv/linear weight to 90%, as
//          torch.nn.utils.prune does it (topk of |w| over all weights, masks, weight_orig * mask),
//          the best of 5 fresh models. libtorch has no prune module, so the steps are spelled out.
// Usage: train_libtorch {train|infer|prune} {mlp|lenet} DATA_DIR INTRAOP_THREADS
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<uint8_t> read_gz(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> data;
  uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) data.insert(data.end(), buf, buf + n);
  gzclose(f);
  return data;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

std::pair<torch::Tensor, torch::Tensor> load(const std::string& dir, const std::string& split) {
  auto img = read_gz(dir + "/" + split + "-images-idx3-ubyte.gz");
  auto lab = read_gz(dir + "/" + split + "-labels-idx1-ubyte.gz");
  int64_t n = be32(img.data() + 4);
  auto x = torch::from_blob(img.data() + 16, {n, 1, 28, 28}, torch::kUInt8).to(torch::kFloat32).div(255.0);
  auto y = torch::from_blob(lab.data() + 8, {n}, torch::kUInt8).to(torch::kInt64);
  return {x.clone(), y.clone()};
}

struct MLP : torch::nn::Module {
  torch::nn::Linear l1{784, 300}, l2{300, 100}, l3{100, 10};
  MLP() {
    register_module("l1", l1);
    register_module("l2", l2);
    register_module("l3", l3);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x.flatten(1);
    return l3(torch::relu(l2(torch::relu(l1(x)))));
  }
};

struct LeNet : torch::nn::Module {
  torch::nn::Conv2d c1{torch::nn::Conv2dOptions(1, 6, 5).padding(2)}, c2{torch::nn::Conv2dOptions(6, 16, 5)};
  torch::nn::Linear f1{400, 120}, f2{120, 84}, f3{84, 10};
  LeNet() {
    register_module("c1", c1);
    register_module("c2", c2);
    register_module("f1", f1);
    register_module("f2", f2);
    register_module("f3", f3);
  }
  torch::Tensor forward(torch::Tensor x) {
    x = torch::max_pool2d(torch::relu(c1(x)), 2);
    x = torch::max_pool2d(torch::relu(c2(x)), 2).flatten(1);
    return f3(torch::relu(f2(torch::relu(f1(x)))));
  }
};

template <typename Net>
double epoch(Net& net, const torch::Tensor& x, const torch::Tensor& y) {
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(1e-3));
  auto start = std::chrono::steady_clock::now();
  auto perm = torch::randperm(x.size(0));
  for (int64_t b = 0; b < x.size(0); b += 64) {
    auto idx = perm.slice(0, b, std::min<int64_t>(b + 64, x.size(0)));
    auto xb = x.index_select(0, idx), yb = y.index_select(0, idx);
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(net.forward(xb), yb);
    loss.backward();
    opt.step();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

template <typename Net>
double infer(Net& net, const torch::Tensor& x, const torch::Tensor& y) {
  net.eval();
  torch::NoGradGuard no_grad;
  double best = 1e30;
  int64_t correct = 0;
  for (int pass = 0; pass < 5; ++pass) {
    auto start = std::chrono::steady_clock::now();
    correct = 0;
    for (int64_t b = 0; b < x.size(0); b += 1000) {
      auto xb = x.slice(0, b, std::min<int64_t>(b + 1000, x.size(0)));
      auto yb = y.slice(0, b, std::min<int64_t>(b + 1000, x.size(0)));
      correct += net.forward(xb).argmax(1).eq(yb).sum().template item<int64_t>();
    }
    best = std::min(best, seconds_since(start));
  }
  if (correct < 0) std::fprintf(stderr, "impossible\n");
  return best;
}

// prune.global_unstructured(params, L1Unstructured, amount=0.9) in libtorch's C++ API.
template <typename Net>
double prune_global(Net& net) {
  torch::NoGradGuard no_grad;
  std::vector<std::shared_ptr<torch::nn::Module>> layers;
  for (auto& m : net.modules(/*include_self=*/false)) {
    if (m->template as<torch::nn::Linear>() || m->template as<torch::nn::Conv2d>()) layers.push_back(m);
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<torch::Tensor> flat;
  for (auto& m : layers) flat.push_back(m->named_parameters(false)["weight"].abs().flatten());
  auto scores = torch::cat(flat);
  const int64_t k = std::llround(0.9 * double(scores.numel()));
  auto mask = torch::ones_like(scores);
  mask.index_fill_(0, std::get<1>(torch::topk(scores, k, /*dim=*/0, /*largest=*/false)), 0);
  int64_t offset = 0;
  for (auto& m : layers) {
    auto w = m->named_parameters(false)["weight"];
    auto layer_mask = mask.slice(0, offset, offset + w.numel()).view_as(w).clone();
    offset += w.numel();
    auto orig = m->register_parameter("weight_orig", w.detach().clone());
    m->register_buffer("weight_mask", layer_mask);
    w.copy_(orig * layer_mask);
  }
  return seconds_since(start);
}

template <typename Net>
double run(const std::string& task, const std::string& dir) {
  if (task == "train") {
    auto [x, y] = load(dir, "train");
    Net net;
    return epoch(net, x, y);
  }
  if (task == "infer") {
    auto [x, y] = load(dir, "t10k");
    Net net;
    return infer(net, x, y);
  }
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    Net net;
    best = std::min(best, prune_global(net));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s {train|infer|prune} {mlp|lenet} DATA_DIR INTRAOP_THREADS\n", argv[0]);
    return 2;
  }
  const std::string task = argv[1], model = argv[2], dir = argv[3];
  if (task != "train" && task != "infer" && task != "prune") {
    std::fprintf(stderr, "unknown task '%s'\n", task.c_str());
    return 2;
  }
  torch::set_num_threads(std::stoi(argv[4]));
  torch::manual_seed(0);
  const double s = model == "mlp" ? run<MLP>(task, dir) : run<LeNet>(task, dir);
  std::printf("%.4f\n", s);
  return 0;
}
