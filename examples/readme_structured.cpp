// README "Structured pruning": SaliencyPruner masks half the rows of two Linear layers, prune()
// rewrites the model into a physically smaller one whose output equals the masked model's. It
// checks what it claims; exit 1 if not.
#include <twig/twig.h>

#include <iostream>
using namespace twig;

int main() {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(16, 32));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(32, 32));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(32, 4));
  int64_t dense_params = model->num_parameters();

  ao::SaliencyPruner pruner({{"sparsity_level", 0.5}});  // the half of the rows of least L1 norm
  pruner.prepare(model, std::vector<ao::Dict>{{{"tensor_fqn", "0.weight"}}, {{"tensor_fqn", "2.weight"}}});
  pruner.step();
  Tensor x = randn({8, 16});
  Tensor masked = (*model)(x);  // pruned rows give exactly 0 (prune_bias zeroes their bias too)
  // Python's prune() traces symbolically; twig's runs the model once, on the last forward's input.
  std::shared_ptr<ao::GraphModule> small = pruner.prune();

  auto fc1 = std::static_pointer_cast<nn::Linear>(model->child("0"));
  std::cout << "after prune(): " << fc1->repr() << ", " << model->num_parameters() << " of " << dense_params
            << " parameters\n";
  std::cout << small->graph().print_tabular();
  bool ok = fc1->weight().sizes() == Shape{16, 16} && !nn::is_parametrized(*fc1) &&
            allclose((*small)(x), masked, 1e-5, 1e-6) && allclose((*model)(x), masked, 1e-5, 1e-6) &&
            model->num_parameters() == 16 * 16 + 16 + 16 * 16 + 16 + 4 * 16 + 4;
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
