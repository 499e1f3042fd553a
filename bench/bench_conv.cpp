// LeNet-5's convolution and pooling layers at batch 64: forward + backward, ms per iteration.
//   convs+pools: conv(1,6,5,pad 2) -> relu -> maxpool 2 -> conv(6,16,5) -> relu -> maxpool 2
//   full step:   the same + flatten -> fc 400-120-84-10, backward, and an SGD update; times 938
//                (one Fashion-MNIST epoch at batch 64) for the per-epoch estimate
//                (libtorch 1.13 on this 2-core machine: ~5.1 s per epoch).
// Also prints each layer's share of a convs+pools iteration.
#include <cstdio>
#include <cstdlib>

#include "bench_timer.h"
#include "twig/core.h"
#include "twig/nn/conv.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/pooling.h"

using namespace twig;
namespace F = twig::nn::functional;

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 100;
  const int64_t N = 64;
  Generator gen(0);
  Tensor x = randn({N, 1, 28, 28}, kFloat32, &gen);
  nn::Conv2d conv1(nn::Conv2dOptions(1, 6, 5).padding(2));
  nn::Conv2d conv2(nn::Conv2dOptions(6, 16, 5));
  nn::Linear fc1(400, 120), fc2(120, 84), fc3(84, 10);

  auto features = [&] {
    Tensor h = F::max_pool2d(conv1(x).relu(), {2});
    return F::max_pool2d(conv2(h).relu(), {2});
  };
  auto convs_step = [&] {
    Tensor y = features();
    y.backward(ones_like(y));
    conv1.zero_grad();
    conv2.zero_grad();
  };
  std::vector<nn::Module*> mods{&conv1, &conv2, &fc1, &fc2, &fc3};
  auto full_step = [&] {
    Tensor logits = fc3(fc2(fc1(features().flatten(1)).relu()).relu());
    logits.log_softmax(1).mean().neg().backward();
    NoGradGuard ng;
    for (nn::Module* m : mods) {
      for (const Tensor& p : m->parameters()) p.sub_(p.grad() * 0.01);
      m->zero_grad();
    }
  };

  auto time_it = [&](auto&& fn) {
    for (int i = 0; i < 5; ++i) fn();
    const double t0 = bench::now_seconds();
    for (int i = 0; i < iters; ++i) fn();
    return (bench::now_seconds() - t0) / iters * 1e3;
  };

  std::printf("threads: %d, batch %lld, %d iterations\n", get_num_threads(), static_cast<long long>(N), iters);
  const double convs = time_it(convs_step);
  std::printf("convs+pools fwd+bwd:        %7.3f ms/iter\n", convs);

  // Per-layer breakdown (forward+backward of each layer alone on its real input).
  Tensor h1, p1, h2;
  {
    NoGradGuard ng;
    h1 = conv1(x).relu();
    p1 = F::max_pool2d(h1, {2});
    h2 = conv2(p1).relu();
  }
  Tensor h1g = h1.detach().requires_grad_(), p1g = p1.detach().requires_grad_(), h2g = h2.detach().requires_grad_();
  auto layer = [&](const char* name, auto&& fn) {
    const double ms = time_it([&] {
      Tensor y = fn();
      y.backward(ones_like(y));
    });
    std::printf("  %-24s %7.3f ms/iter\n", name, ms);
  };
  layer("conv1 (input no grad)", [&] { return conv1(x); });
  layer("maxpool1", [&] { return F::max_pool2d(h1g, {2}); });
  layer("conv2 (input grad)", [&] { return conv2(p1g); });
  layer("maxpool2", [&] { return F::max_pool2d(h2g, {2}); });
  {
    NoGradGuard ng;
    const double fwd = time_it([&] { features(); });
    std::printf("convs+pools forward only:   %7.3f ms/iter\n", fwd);
  }

  const double full = time_it(full_step);
  std::printf("full LeNet step (+fc, SGD): %7.3f ms/iter  -> %.2f s per 938-step epoch (libtorch 1.13: ~5.1 s)\n", full,
              full * 938 / 1e3);
  return 0;
}
