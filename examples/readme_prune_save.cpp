// README "Pruning and saving": torch.nn.utils.prune on a Linear layer, saved and loaded with its
// pruning state. It checks what it claims; exit 1 if not.
#include <twig/twig.h>

#include <iostream>
using namespace twig;

int main() {
  auto fc = std::make_shared<nn::Linear>(784, 300);
  prune::l1_unstructured(*fc, "weight", 0.5);              // a fraction; `2` would prune two weights
  prune::ln_structured(*fc, "weight", 10, NormP(2.0), 0);  // combines into a PruningContainer
  // fc now has the parameter weight_orig (the same tensor object), the buffer weight_mask, and a
  // pre-hook recomputing weight = weight_orig * weight_mask; gradients of pruned entries are zero.
  serialize::save_module(*fc, "fc.twig");                     // safetensors, module tree in __metadata__
  auto back = serialize::load_module<nn::Linear>("fc.twig");  // still pruned; can be pruned further
  Tensor pruned = back->weight();
  prune::remove(*back, "weight");  // make it permanent: weight is a plain parameter again

  Tensor mask = fc->get("weight_mask");
  int64_t zeros = mask.eq(0).sum().item<int64_t>();
  int64_t zero_rows = mask.eq(0).all(1).sum().item<int64_t>();
  std::cout << "zeros in the mask: " << zeros << " of " << mask.numel() << ", all-zero rows: " << zero_rows << "\n";
  // L1 took 117600 of the 235200 weights (half); L2 over rows then zeroes 10 whole rows.
  bool ok = fc->is_parameter("weight_orig") && fc->is_buffer("weight_mask") && zeros > 117600 && zero_rows == 10 &&
            equal(pruned, fc->weight()) && back->is_parameter("weight") && !back->has("weight_orig") &&
            !back->has("weight_mask") && equal(back->weight(), pruned);
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
