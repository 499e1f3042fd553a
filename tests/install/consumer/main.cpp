#include <twig/twig.h>

#include <cstdio>

int main() {
  twig::Tensor x = twig::tensor({1.0, 2.0, 3.0}).requires_grad_();
  twig::Tensor y = (x * x).sum();
  y.backward();
  // d/dx sum(x^2) = 2x
  std::vector<float> g = x.grad().to_vector<float>();
  bool ok = g == std::vector<float>{2, 4, 6};
  std::printf("consumer: grad %s\n", ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
