// A small training loop on raw twig tensors: a 2-64-3 MLP learns three interleaved spirals with
// full-batch SGD and autograd. (The nn/ layer and the Fashion-MNIST main job come later.)
#include <cmath>
#include <cstdio>

#include "twig/core.h"

using namespace twig;

namespace {

// points_per_class 2-D points per class along three noisy spiral arms; labels are int64.
std::pair<Tensor, Tensor> make_spirals(int64_t points_per_class, Generator& gen) {
  const int64_t classes = 3, n = points_per_class * classes;
  std::vector<float> xy(static_cast<size_t>(n * 2));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < points_per_class; ++i) {
      double r = static_cast<double>(i) / static_cast<double>(points_per_class);
      double theta = 4.0 * static_cast<double>(c) + 4.0 * r + 0.2 * gen.normal();
      int64_t k = c * points_per_class + i;
      xy[static_cast<size_t>(2 * k)] = static_cast<float>(r * std::sin(theta));
      xy[static_cast<size_t>(2 * k + 1)] = static_cast<float>(r * std::cos(theta));
      labels[static_cast<size_t>(k)] = c;
    }
  }
  return {from_vector(xy, {n, 2}), from_vector(labels)};
}

// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for Linear.
Tensor init(const Shape& shape, int64_t fan_in, Generator& gen) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return (rand(shape, {}, &gen) * (2 * bound) - bound).detach().requires_grad_();
}

}  // namespace

int main() {
  Generator gen(0);
  auto [x, y] = make_spirals(100, gen);
  const int64_t hidden = 64;
  Tensor w1 = init({2, hidden}, 2, gen), b1 = init({hidden}, 2, gen);
  Tensor w2 = init({hidden, 3}, hidden, gen), b2 = init({3}, hidden, gen);
  TensorList params = {w1, b1, w2, b2};
  const double lr = 1.0;

  auto forward = [&](const Tensor& input) { return (input.matmul(w1) + b1).relu().matmul(w2) + b2; };
  for (int step = 0; step <= 2000; ++step) {
    Tensor logits = forward(x);
    // Cross-entropy: mean of -log p(label).
    Tensor loss = -logits.log_softmax(1).gather(1, y.unsqueeze(1)).mean();
    loss.backward();
    {
      NoGradGuard no_grad;
      for (const Tensor& p : params) {
        p.sub_(p.grad(), lr);
        p.set_grad(Tensor());
      }
    }
    if (step % 400 == 0) std::printf("step %4d  loss %.4f\n", step, loss.item<double>());
  }
  NoGradGuard no_grad;
  double accuracy = (forward(x).argmax(1) == y).to(kFloat32).mean().item<double>();
  std::printf("train accuracy %.1f%%\n", 100.0 * accuracy);
  return accuracy > 0.9 ? 0 : 1;
}
