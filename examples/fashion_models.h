// The two Fashion-MNIST models of the examples and benchmarks: MLP 784-300-100-10 with ReLU, and
// LeNet-5 (conv 1-6 k5 pad 2, max pool 2, conv 6-16 k5, max pool 2, fc 400-120-84-10, ReLU).
//
// The forwards call the registered children by name, not the members: loading a model whose layers
// have other shapes than these (one that structured pruning shrank) builds new children in their
// place, and the members then still point at the modules the constructor made. Use child("fc1")
// on a loaded model; the members are the constructor's modules.
#pragma once

#include <memory>
#include <string>

#include "twig/nn/conv.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/pooling.h"

namespace twig::examples {

// The registered child `name` of m as a one-tensor module.
inline nn::UnaryModule& layer(nn::Module& m, const std::string& name) {
  auto* c = dynamic_cast<nn::UnaryModule*>(m.child(name).get());
  TWIG_CHECK(c != nullptr, TypeError, m.type_name(), ": child '", name, "' is not a one-tensor module");
  return *c;
}

class Mlp : public nn::UnaryModule {
 public:
  Mlp() : nn::UnaryModule("Mlp") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 300));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(300, 100));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(100, 10));
  }
  // x (B, 1, 28, 28) -> logits (B, 10)
  Tensor forward(const Tensor& x) override {
    Tensor h = nn::F::relu(layer(*this, "fc1")(x.flatten(1)));
    h = nn::F::relu(layer(*this, "fc2")(h));
    return layer(*this, "fc3")(h);
  }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;

 protected:
  // Freshly built, so a clone's fc1..fc3 are its own (Module::clone fills in the values).
  nn::ModulePtr clone_instance() const override { return std::make_shared<Mlp>(); }
};

class LeNet5 : public nn::UnaryModule {
 public:
  LeNet5() : nn::UnaryModule("LeNet5") {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 6, 5).padding(2)));
    pool1 = register_module("pool1", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2)));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(6, 16, 5)));
    pool2 = register_module("pool2", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2)));
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(400, 120));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(120, 84));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(84, 10));
  }
  // x (B, 1, 28, 28) -> (B, 6, 28, 28) -> (B, 6, 14, 14) -> (B, 16, 10, 10) -> (B, 16, 5, 5) -> logits (B, 10)
  Tensor forward(const Tensor& x) override {
    Tensor h = layer(*this, "pool1")(nn::F::relu(layer(*this, "conv1")(x)));
    h = layer(*this, "pool2")(nn::F::relu(layer(*this, "conv2")(h)));
    h = nn::F::relu(layer(*this, "fc1")(h.flatten(1)));
    h = nn::F::relu(layer(*this, "fc2")(h));
    return layer(*this, "fc3")(h);
  }
  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::MaxPool2d> pool1, pool2;
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<LeNet5>(); }
};

// "mlp" or "lenet"; ValueError otherwise.
inline std::shared_ptr<nn::UnaryModule> make_model(const std::string& name) {
  if (name == "mlp") return std::make_shared<Mlp>();
  if (name == "lenet") return std::make_shared<LeNet5>();
  TWIG_THROW(ValueError, "unknown model '", name, "' (expected mlp or lenet)");
}

}  // namespace twig::examples
