// README "Sparsifiers": torch.ao.pruning's WeightNormSparsifier driven by the CubicSL schedule
// (AGP), its state saved to a file and loaded into a fresh sparsifier on a fresh model. It checks
// what it claims; exit 1 if not.
#include <twig/twig.h>

#include <iostream>
using namespace twig;

nn::ModulePtr make_model() {
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(16, 32));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(32, 4));
  return model;
}

int main() {
  manual_seed(0);
  nn::ModulePtr model = make_model();
  // Python's WeightNormSparsifier(sparsity_level=0.8, sparse_block_shape=(1, 4)).
  ao::WeightNormSparsifier sparsifier(0.8, {1, 4});
  // A config is a list of dicts, as in Python; config None would pick every Linear.
  sparsifier.prepare(model, std::vector<ao::Dict>{{{"tensor_fqn", "0.weight"}},
                                                  {{"tensor_fqn", "2.weight"}, {"sparsity_level", 0.5}}});
  // Zhu & Gupta's schedule: the level rises from 0 to each group's own over 10 steps.
  ao::CubicSL scheduler(sparsifier, /*init_sl=*/0.0, /*init_t=*/0, /*delta_t=*/1, /*total_t=*/10);
  optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));
  for (int step = 0; step < 12; ++step) {
    Tensor x = randn({8, 16});
    Tensor loss = (*model)(x).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    sparsifier.step();  // new masks at the scheduled level, then the next level
    scheduler.step();
  }
  Tensor mask = sparsifier.state.at("0.weight").to_dict().at("mask").to_tensor();
  double zeros = 1.0 - mask.to(kFloat32).mean().item<double>();
  std::cout << "layer 0: " << zeros * 100 << "% of its weights masked, in whole 1x4 blocks\n";

  ao::save_sparsifier_state(sparsifier.state_dict(), "sparsifier.safetensors");
  nn::ModulePtr fresh = make_model();
  ao::WeightNormSparsifier restored(0.8, {1, 4});
  restored.prepare(fresh, std::nullopt);
  restored.load_state_dict(ao::load_sparsifier_state("sparsifier.safetensors"));
  bool ok = zeros > 0.79 && zeros < 0.81 &&
            equal(nn::parametrizations_of(*fresh->child("0"), "weight")->at(0)->get("mask"), mask) &&
            restored.groups[1].at("sparsity_level").to_double() == 0.5;
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
