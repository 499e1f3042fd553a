// README "Activation sparsity": ActivationSparsifier zeroes the half of a Linear layer's input
// features that were smallest on average over a calibration pass; from then on its sparsify hook
// multiplies the layer's input by that mask. It checks what it claims; exit 1 if not.
#include <twig/twig.h>

#include <cmath>
#include <iostream>
using namespace twig;

// PyTorch's test's vanilla norm sparsifier: zero the round(sparsity_level * n) smallest |data|.
Tensor vanilla_mask(const Tensor& data, const nn::Dict& sparse_config) {
  Tensor v = data.abs().flatten();
  auto t = static_cast<int64_t>(std::nearbyint(sparse_config.at("sparsity_level").to_double() * v.numel()));
  Tensor mask = ones_like(v);
  mask.index_fill_(0, v.argsort(-1, false, /*stable=*/true).slice(0, 0, t), 0.0);
  return mask.reshape(data.sizes());
}

int main() {
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(16, 32));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::Linear>(32, 4));

  // Python's ActivationSparsifier(model, aggregate_fn=..., reduce_fn=..., mask_fn=..., sparsity_level=0.5).
  ao::ActivationArgs args;
  args.aggregate_fn = ao::aggregate_function([](const Tensor& agg, const Tensor& x) { return agg + x.abs(); });
  args.reduce_fn = ao::reduce_function([](const Tensor& data) { return data.mean({0}); });
  args.mask_fn = ao::mask_function(vanilla_mask);
  args.sparse_config = {{"sparsity_level", 0.5}};
  ao::ActivationSparsifier sparsifier(model, args);
  sparsifier.register_layer(model->child("2"));  // its input: the ReLU's 32 features
  Tensor seen = zeros({8, 32});                  // the same sum by hand, to check
  for (int batch = 0; batch < 5; ++batch) {
    Tensor x = randn({8, 16});
    (void)(*model)(x);  // the aggregate pre-hook adds |input| up
    seen = seen + (*model->child("1"))((*model->child("0"))(x)).abs().detach();
  }
  sparsifier.step();         // mask = mask_fn(reduce_fn(sum)): (32,), half of it zero
  sparsifier.squash_mask();  // the sparsify pre-hook: input * mask from now on
  Tensor mask = sparsifier.get_mask("2").to_tensor();
  std::cout << "mask of layer 2's input: " << mask << "\n";

  Tensor x = randn({3, 16});
  Tensor h = (*model->child("1"))((*model->child("0"))(x));
  auto fc = std::static_pointer_cast<nn::Linear>(model->child("2"));  // forward(): without the hooks
  bool ok = mask.sizes() == Shape{32} && mask.eq(0).sum().item<int64_t>() == 16 &&
            equal(mask, vanilla_mask(seen.mean({0}), {{"sparsity_level", 0.5}})) &&
            allclose((*model)(x), fc->forward(h * mask), 1e-6, 1e-6) && !allclose((*model)(x), fc->forward(h));
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
