// README "Saving your own models": a model class with no codec and no clone_instance, saved,
// loaded before and after its one-line registration. It checks what it claims; exit 1 if not.
#include <twig/twig.h>

#include <iostream>
using namespace twig;

struct MyNet : nn::UnaryModule {
  MyNet() : nn::UnaryModule("MyNet") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 8));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(8, 2));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(nn::F::relu((*fc1)(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

int main() {
  manual_seed(0);
  auto net = std::make_shared<MyNet>();
  prune::l1_unstructured(*net->fc1, "weight", 0.5);
  serialize::save_module(*net, "mynet.twig");  // no registration needed to save

  // Not registered: a holder with the same children, tensors and pruning hooks.
  nn::ModulePtr holder = serialize::load_module("mynet.twig");
  bool ok = dynamic_cast<serialize::UnregisteredModule*>(holder.get()) != nullptr &&
            equal(holder->child("fc1")->get("weight_mask"), net->fc1->get("weight_mask"));

  serialize::register_module<MyNet>();  // the type name comes from MyNet().type_name()
  auto back = serialize::load_module<MyNet>("mynet.twig");
  auto copy = std::dynamic_pointer_cast<MyNet>(back->clone());  // no clone_instance needed
  Tensor x = randn({3, 4});
  ok = ok && copy && equal((*back)(x), (*net)(x)) && equal((*copy)(x), (*net)(x)) && copy->fc1 != back->fc1 &&
       copy->fc1->is_buffer("weight_mask");
  std::cout << (ok ? "ok\n" : "WRONG\n");
  return ok ? 0 : 1;
}
