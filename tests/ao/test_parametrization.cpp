// PyTorch's test/ao/sparsity/test_parametrization.py (TestFakeSparsity). test_jit_trace is left
// out: it checks torch.jit.trace_module, which twig does not have (the traced graph of ao/graph.h
// is tested with the tracer).
#include <gtest/gtest.h>

#include "testing.h"
#include "twig/ao/utils.h"
#include "twig/nn/container.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"

namespace twig::ao {
namespace {

// ModelUnderTest(bias=False): linear, seq(Linear, Linear), all 16x16 with constant weights 1, 2, 3.
// (Python's bias=True branch replaces modules by Parameters and is never used.)
class ModelUnderTest : public nn::UnaryModule {
 public:
  ModelUnderTest() : UnaryModule("ModelUnderTest") {
    register_module("linear", std::make_shared<nn::Linear>(16, 16, false));
    register_module("seq",
                    std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
                        std::make_shared<nn::Linear>(16, 16, false), std::make_shared<nn::Linear>(16, 16, false)}));
    set_weight("linear", 1.0);
    set_weight("seq.0", 2.0);
    set_weight("seq.1", 3.0);
  }
  Tensor forward(const Tensor& x) override { return (*child("seq"))((*child("linear"))(x)); }
  nn::ModulePtr at(const std::string& path) { return find_module(path); }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<ModelUnderTest>(*this); }

 private:
  // self.<path>.weight = nn.Parameter(torch.zeros_like(weight) + value)
  void set_weight(const std::string& path, double value) {
    nn::ModulePtr m = path == "linear" ? child("linear") : child("seq")->child(path.substr(4));
    Tensor w = zeros_like(m->get("weight")) + value;
    m->remove_parameter("weight");
    m->register_parameter("weight", w);
  }
};

bool has_parametrizations(const nn::ModulePtr& m) { return m->is_child("parametrizations"); }

Tensor mask_of(const nn::ModulePtr& m) {
  return std::dynamic_pointer_cast<FakeSparsity>(nn::parametrizations_of(*m, "weight")->at(0))->mask();
}

TEST(TestFakeSparsity, test_masking_logic) {
  nn::Linear model(16, 16, false);
  model.remove_parameter("weight");
  model.register_parameter("weight", eye(16));
  Tensor x = randn({3, 16});
  EXPECT_TRUE(allclose(x.mm(eye(16)), model(x)));

  Tensor mask = zeros({16, 16});
  auto sparsity = std::make_shared<FakeSparsity>(mask);
  nn::register_parametrization(model, "weight", sparsity);

  x = randn({3, 16});
  Tensor y = model(x);
  EXPECT_EQ(y.dtype(), kFloat32);
  EXPECT_TRUE(equal(zeros({3, 16}), y));
  // The buffer is the very tensor passed in: changing it changes the parametrized weight.
  EXPECT_EQ(sparsity->mask().impl(), mask.impl());
  mask.fill_(1);
  EXPECT_TRUE(allclose(model(x), x));
  // The mask must have the tensor's shape (Python asserts).
  FakeSparsity wrong(ones({4}));
  EXPECT_ERROR(wrong.forward(ones({2, 2})), AssertionError, "FakeSparsity");
}

TEST(TestFakeSparsity, test_weights_parametrized) {
  auto model_ptr = std::make_shared<ModelUnderTest>();
  ModelUnderTest& model = *model_ptr;
  EXPECT_FALSE(has_parametrizations(model.at("linear")));
  EXPECT_FALSE(has_parametrizations(model.at("seq.0")));
  EXPECT_FALSE(has_parametrizations(model.at("seq.1")));
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    nn::register_parametrization(*model.at(path), "weight", std::make_shared<FakeSparsity>(eye(16)));
  }
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    EXPECT_TRUE(has_parametrizations(model.at(path))) << path;
    EXPECT_TRUE(nn::is_parametrized(*model.at(path), "weight")) << path;
  }
  // The masked weights: the diagonal of 1, 2, 3.
  EXPECT_TRUE(equal(model.at("seq.1")->get("weight"), eye(16) * 3.0));
}

TEST(TestFakeSparsity, test_state_dict_preserved) {
  auto save_ptr = std::make_shared<ModelUnderTest>();
  ModelUnderTest& model_save = *save_ptr;
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    nn::register_parametrization(*model_save.at(path), "weight", std::make_shared<FakeSparsity>(eye(16)));
  }
  nn::StateDict state_dict = model_save.state_dict();
  // The masks are not in the module's state_dict (FakeSparsity's own state_dict is empty).
  EXPECT_EQ(state_dict.keys(), (std::vector<std::string>{"linear.parametrizations.weight.original",
                                                         "seq.0.parametrizations.weight.original",
                                                         "seq.1.parametrizations.weight.original"}));
  EXPECT_TRUE(FakeSparsity(eye(2)).state_dict().empty());

  auto load_ptr = std::make_shared<ModelUnderTest>();
  ModelUnderTest& model_load = *load_ptr;
  // Different weights to load over.
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    model_load.at(path)->get("weight").detach().fill_(7.0);
    nn::register_parametrization(*model_load.at(path), "weight",
                                 std::make_shared<FakeSparsity>(zeros(model_load.at(path)->get("weight").sizes())));
  }
  // Keep this strict, as we are not loading the 'mask'
  model_load.load_state_dict(state_dict, /*strict=*/false);

  // Check the parametrizations are preserved
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    EXPECT_TRUE(has_parametrizations(model_load.at(path)));
    EXPECT_TRUE(nn::is_parametrized(*model_load.at(path), "weight"));
    // Check the weights are preserved
    EXPECT_TRUE(equal(nn::parametrizations_of(*model_save.at(path), "weight")->original(),
                      nn::parametrizations_of(*model_load.at(path), "weight")->original()))
        << path;
    // Check the masks are not preserved in the state_dict
    EXPECT_FALSE(equal(mask_of(model_save.at(path)), mask_of(model_load.at(path)))) << path;
    EXPECT_TRUE(equal(mask_of(model_load.at(path)), zeros({16, 16}))) << path;
  }
  // strict works too, since nothing expects a mask.
  auto strict_ptr = std::make_shared<ModelUnderTest>();
  ModelUnderTest& strict_load = *strict_ptr;
  for (const char* path : {"linear", "seq.0", "seq.1"}) {
    nn::register_parametrization(*strict_load.at(path), "weight", std::make_shared<FakeSparsity>(eye(16)));
  }
  auto missing = strict_load.load_state_dict(state_dict, /*strict=*/true);
  EXPECT_TRUE(missing.missing_keys.empty());
  EXPECT_TRUE(missing.unexpected_keys.empty());
}

TEST(TestFakeSparsity, clone_keeps_the_mask_with_the_weight) {
  auto model_ptr = std::make_shared<ModelUnderTest>();
  ModelUnderTest& model = *model_ptr;
  Tensor mask = eye(16);
  nn::register_parametrization(*model.at("linear"), "weight", std::make_shared<FakeSparsity>(mask));
  nn::ModulePtr copy = model.clone();
  Tensor copied_mask = mask_of(std::static_pointer_cast<nn::Module>(copy)->find_module("linear"));
  EXPECT_NE(copied_mask.impl(), mask.impl());
  EXPECT_TRUE(equal(copied_mask, mask));
  Tensor x = randn({2, 16});
  EXPECT_TRUE(equal((*std::static_pointer_cast<nn::UnaryModule>(copy))(x), model(x)));
}

}  // namespace
}  // namespace twig::ao
