// The libtorch 1.13 peer of bench_train: one Fashion-MNIST training epoch of the MLP 784-300-100-10
// or LeNet-5 with Adam(1e-3) at batch 64, timed the same way (data loaded before the clock
// starts; the epoch includes shuffling, batching, forward, backward and the optimizer step).
// Usage: train_libtorch {mlp|lenet} DATA_DIR INTRAOP_THREADS
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
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

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3]; }

std::pair<torch::Tensor, torch::Tensor> load(const std::string& dir) {
  auto img = read_gz(dir + "/train-images-idx3-ubyte.gz");
  auto lab = read_gz(dir + "/train-labels-idx1-ubyte.gz");
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s {mlp|lenet} DATA_DIR INTRAOP_THREADS\n", argv[0]);
    return 2;
  }
  std::string model = argv[1];
  torch::set_num_threads(std::stoi(argv[3]));
  torch::manual_seed(0);
  auto [x, y] = load(argv[2]);
  double s;
  if (model == "mlp") {
    MLP net;
    s = epoch(net, x, y);
  } else {
    LeNet net;
    s = epoch(net, x, y);
  }
  std::printf("%.3f\n", s);
  return 0;
}
