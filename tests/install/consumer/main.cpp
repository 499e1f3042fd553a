// A user's program against an installed twig: only <twig/...> includes, one of each part.
#include <twig/twig.h>

#include <cstdio>
#include <vector>

int main() {
  using namespace twig;
  // tensor + autograd: d/dx sum(x^2) = 2x
  Tensor x = tensor({1.0, 2.0, 3.0}).requires_grad_();
  (x * x).sum().backward();
  bool grad_ok = x.grad().to_vector<float>() == std::vector<float>{2, 4, 6};

  // nn + prune + serialize: prune two of a Linear's six weights, save it and load it back.
  auto fc = std::make_shared<nn::Linear>(3, 2);
  prune::l1_unstructured(*fc, "weight", 2);
  serialize::save_module(*fc, "fc.twig");
  auto back = serialize::load_module<nn::Linear>("fc.twig");
  bool prune_ok = back->is_buffer("weight_mask") && back->weight().eq(0).sum().item<int64_t>() == 2;

  std::printf("consumer: grad %s, prune + save + load %s\n", grad_ok ? "ok" : "WRONG", prune_ok ? "ok" : "WRONG");
  return grad_ok && prune_ok ? 0 : 1;
}
