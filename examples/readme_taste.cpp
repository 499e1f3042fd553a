// README "A taste": gradient masking with a tensor hook. It checks what it claims; exit 1 if not.
#include <twig/twig.h>

#include <iostream>
using namespace twig;

int main() {
  manual_seed(2);
  Tensor w = randn({4, 3}).requires_grad_();
  Tensor x = tensor({{1.0, 2.0, 3.0, 4.0}});
  Tensor loss = x.matmul(w).relu().sum();

  Tensor mask = ones_like(w, kBool);
  mask.index_put_({indexing::Slice(), 1}, false);                            // mask[:, 1] = 0
  auto handle = w.register_hook([&](const Tensor& g) { return g * mask; });  // gradient masking
  loss.backward();
  handle.remove();
  std::cout << w.grad() << "\n";
  // tensor([[1., 0., 1.],
  //         [2., 0., 2.],
  //         [3., 0., 3.],
  //         [4., 0., 4.]])

  // With this seed every output of x.matmul(w) is positive, so relu passes d loss / d w = xᵀ to
  // every column, and the hook zeroes column 1.
  Tensor expected = tensor({{1.0, 0.0, 1.0}, {2.0, 0.0, 2.0}, {3.0, 0.0, 3.0}, {4.0, 0.0, 4.0}});
  bool ok = x.matmul(w).gt(0).all().item<bool>() && w.grad().dtype() == kFloat32 && equal(w.grad(), expected);
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
