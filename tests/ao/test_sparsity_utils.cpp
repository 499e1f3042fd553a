// PyTorch's test/ao/sparsity/test_sparsity_utils.py (TestSparsityUtilFunctions), over the same
// seven models of common_quantization.py, built here with their modules and tensors (the tests
// look only at the module tree, never run a forward). ManualEmbeddingBagLinear's EmbeddingBag is an
// Embedding of the same shape (twig has no EmbeddingBag; the tree and the parameter are what
// count), its QuantStub / DeQuantStub bare modules.
#include <gtest/gtest.h>

#include <functional>

#include "testing.h"
#include "twig/ao/utils.h"
#include "twig/nn/activation.h"
#include "twig/nn/conv.h"
#include "twig/nn/embedding.h"
#include "twig/nn/linear.h"
#include "twig/nn/normalization.h"
#include "twig/nn/parametrize.h"

namespace twig::ao {
namespace {

using Maker = std::function<nn::ModulePtr()>;

nn::ModulePtr holder(const std::string& type, std::vector<std::pair<std::string, nn::ModulePtr>> children) {
  auto m = std::make_shared<nn::Module>(type);
  for (auto& [name, child] : children) m->register_child(name, child);
  return m;
}

nn::ModulePtr conv_model() {
  return holder("ConvModel", {{"conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 5, 3).bias(false))}});
}
nn::ModulePtr single_layer_linear_model() {
  return holder("SingleLayerLinearModel", {{"fc1", std::make_shared<nn::Linear>(5, 5)}});
}
nn::ModulePtr two_layer_linear_model() {
  return holder("TwoLayerLinearModel",
                {{"fc1", std::make_shared<nn::Linear>(5, 8)}, {"fc2", std::make_shared<nn::Linear>(8, 5)}});
}
nn::ModulePtr linear_add_model() {
  return holder("LinearAddModel",
                {{"fc1", std::make_shared<nn::Linear>(5, 8)}, {"fc2", std::make_shared<nn::Linear>(8, 5)}});
}
nn::ModulePtr conv_bn_relu_model() {
  return holder("ConvBnReLUModel", {{"conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 5, 3).bias(false))},
                                    {"bn", std::make_shared<nn::BatchNorm2d>(5)},
                                    {"relu", std::make_shared<nn::ReLU>()}});
}
nn::ModulePtr manual_embedding_bag_linear() {
  return holder("ManualEmbeddingBagLinear", {{"emb", std::make_shared<nn::Embedding>(10, 12)},
                                             {"quant", std::make_shared<nn::Module>("QuantStub")},
                                             {"dequant", std::make_shared<nn::Module>("DeQuantStub")},
                                             {"linear", std::make_shared<nn::Linear>(12, 1)}});
}
nn::ModulePtr functional_linear() {
  // Plain tensor attributes, not parameters (Python: self.weight = torch.rand((5, 5))).
  auto m = std::make_shared<nn::Module>("FunctionalLinear");
  m->set_attribute("weight", rand({5, 5}));
  m->set_attribute("bias", zeros({5}));
  return m;
}

const std::vector<Maker>& model_list() {
  static const std::vector<Maker> models = {conv_model,       single_layer_linear_model, two_layer_linear_model,
                                            linear_add_model, conv_bn_relu_model,        manual_embedding_bag_linear,
                                            functional_linear};
  return models;
}

// [m for _, m in model.named_modules()] + [model]
std::vector<nn::ModulePtr> list_of_modules(const nn::ModulePtr& model) {
  std::vector<nn::ModulePtr> out;
  for (const auto& [name, m] : model->named_modules()) out.push_back(m);
  out.push_back(model);
  return out;
}

// Every module's own parameters in model_list()'s models, with their fqns (the loops of PyTorch's
// test_fqn_to_module_for_tensors and test_get_arg_info_from_tensor_fqn).
struct ParameterFqn {
  nn::ModulePtr model;
  nn::ModulePtr module;
  std::string module_fqn;
  std::string tensor_name;
  Tensor tensor;
  std::string tensor_fqn;
};
std::vector<ParameterFqn> parameter_fqns() {
  std::vector<ParameterFqn> out;
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    for (const auto& module : list_of_modules(model)) {
      std::string module_fqn = *module_to_fqn(*model, *module);
      for (const auto& [tensor_name, tensor] : module->named_parameters("", /*recurse=*/false)) {
        std::string tensor_fqn = module_fqn + (module_fqn.empty() ? "" : ".") + tensor_name;
        out.push_back({model, module, module_fqn, tensor_name, tensor, tensor_fqn});
      }
    }
  }
  return out;
}

TEST(TestSparsityUtilFunctions, test_module_to_fqn) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    for (const auto& module : list_of_modules(model)) {
      auto fqn = module_to_fqn(*model, *module);
      ASSERT_TRUE(fqn.has_value()) << model->type_name();
      // model.get_submodule(fqn)
      EXPECT_EQ(model->find_module(*fqn), module) << *fqn;
    }
  }
  // Names are dotted and the prefix goes in front.
  nn::ModulePtr model = two_layer_linear_model();
  EXPECT_EQ(module_to_fqn(*model, *model->child("fc2")), "fc2");
  EXPECT_EQ(module_to_fqn(*model, *model->child("fc2"), "p."), "p.fc2");
}

TEST(TestSparsityUtilFunctions, test_module_to_fqn_fail) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    nn::Linear outside(3, 3);
    EXPECT_EQ(module_to_fqn(*model, outside), std::nullopt);
  }
}

TEST(TestSparsityUtilFunctions, test_module_to_fqn_root) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    EXPECT_EQ(module_to_fqn(*model, *model), "");
  }
}

TEST(TestSparsityUtilFunctions, test_fqn_to_module) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    for (const auto& module : list_of_modules(model)) {
      auto fqn = module_to_fqn(*model, *module);
      ASSERT_TRUE(fqn.has_value());
      Object check_module = fqn_to_module(model, *fqn);
      ASSERT_TRUE(check_module.is_module()) << *fqn;
      EXPECT_EQ(check_module.to_module(), module) << *fqn;
      EXPECT_EQ(fqn_to_submodule(model, *fqn), module) << *fqn;
    }
  }
}

TEST(TestSparsityUtilFunctions, test_fqn_to_module_fail) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    EXPECT_TRUE(fqn_to_module(model, "foo.bar.baz").is_none());
    EXPECT_EQ(fqn_to_submodule(model, "foo.bar.baz"), nullptr);
  }
  // A path through a tensor, or with an empty part, is None too (getattr(..., None) chains).
  nn::ModulePtr model = two_layer_linear_model();
  EXPECT_TRUE(fqn_to_module(model, "fc1.weight.data").is_none());
  EXPECT_TRUE(fqn_to_module(model, "fc1..weight").is_none());
  EXPECT_TRUE(fqn_to_module(model, ".fc1").is_none());
  EXPECT_EQ(fqn_to_submodule(model, "fc1.weight"), nullptr);  // a tensor, not a module
}

TEST(TestSparsityUtilFunctions, test_fqn_to_module_for_tensors) {
  int checked = 0;
  for (const ParameterFqn& p : parameter_fqns()) {
    Object check_tensor = fqn_to_module(p.model, p.tensor_fqn);
    ASSERT_TRUE(check_tensor.is_tensor()) << p.tensor_fqn;
    EXPECT_EQ(check_tensor.to_tensor().impl(), p.tensor.impl()) << p.tensor_fqn;
    ++checked;
  }
  EXPECT_GT(checked, 10);
  // Buffers and plain tensor attributes are reached too (getattr finds them).
  nn::ModulePtr bn = conv_bn_relu_model();
  EXPECT_EQ(fqn_to_module(bn, "bn.running_mean").to_tensor().impl(), bn->child("bn")->get("running_mean").impl());
  nn::ModulePtr fl = functional_linear();
  EXPECT_EQ(fqn_to_module(fl, "weight").to_tensor().impl(), fl->get("weight").impl());
}

TEST(TestSparsityUtilFunctions, test_get_arg_info_from_tensor_fqn) {
  for (const ParameterFqn& p : parameter_fqns()) {
    Dict arg_info = get_arg_info_from_tensor_fqn(p.model, p.tensor_fqn);
    EXPECT_EQ(arg_info.at("module").to_module(), p.module);
    EXPECT_EQ(arg_info.at("module_fqn"), Object(p.module_fqn));
    EXPECT_EQ(arg_info.at("tensor_name"), Object(p.tensor_name));
    EXPECT_EQ(arg_info.at("tensor_fqn"), Object(p.tensor_fqn));
    EXPECT_EQ(arg_info.keys(), (std::vector<std::string>{"module_fqn", "module", "tensor_name", "tensor_fqn"}));
  }
}

TEST(TestSparsityUtilFunctions, test_get_arg_info_from_tensor_fqn_fail) {
  for (const auto& make : model_list()) {
    nn::ModulePtr model = make();
    Dict arg_info = get_arg_info_from_tensor_fqn(model, "foo.bar.baz");
    EXPECT_TRUE(arg_info.at("module").is_none());
    EXPECT_EQ(arg_info.at("module_fqn"), Object("foo.bar"));
    EXPECT_EQ(arg_info.at("tensor_name"), Object("baz"));
    EXPECT_EQ(arg_info.at("tensor_fqn"), Object("foo.bar.baz"));
  }
  // No dot: the root module and the whole string as the name.
  nn::ModulePtr model = functional_linear();
  Dict info = get_arg_info_from_tensor_fqn(model, "weight");
  EXPECT_EQ(info.at("module_fqn"), Object(""));
  EXPECT_EQ(info.at("module").to_module(), model);
  EXPECT_EQ(info.at("tensor_name"), Object("weight"));
}

// ---- swap_module and module_contains_param (sparsifier/utils.py, no Python test of their own) -------

class SwappedLinear : public nn::Linear {
 public:
  using nn::Linear::Linear;
  static nn::ModulePtr from_dense(const nn::Module& m) {
    const auto& l = dynamic_cast<const nn::Linear&>(m);
    return std::make_shared<SwappedLinear>(l.options.in_features_, l.options.out_features_);
  }
};

TEST(TestSparsityUtilFunctions, swap_module_copies_hooks_and_matches_exact_type) {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  int pre = 0, post = 0;
  lin->register_forward_pre_hook([&](nn::Module&, const nn::Values&) -> std::optional<nn::Values> {
    ++pre;
    return std::nullopt;
  });
  lin->register_forward_hook([&](nn::Module&, const nn::Values&, const nn::Value&) -> std::optional<nn::Value> {
    ++post;
    return std::nullopt;
  });
  Mapping mapping{{typeid(nn::Linear), SwappedLinear::from_dense}};
  EXPECT_TRUE(mapping.contains(typeid(nn::Linear)));
  EXPECT_FALSE(mapping.contains(typeid(SwappedLinear)));
  nn::ModulePtr swapped = swap_module(lin, mapping);
  ASSERT_NE(std::dynamic_pointer_cast<SwappedLinear>(swapped), nullptr);
  EXPECT_EQ(swapped->forward_pre_hooks().size(), 1u);
  EXPECT_EQ(swapped->forward_hooks().size(), 1u);
  (*swapped)(randn({1, 3}));
  EXPECT_EQ(pre, 1);
  EXPECT_EQ(post, 1);
  // A subclass is not its base for the mapping (type(m) in mapping): returned as is.
  EXPECT_EQ(swap_module(swapped, mapping), swapped);
  // An unmapped type: the module itself.
  auto relu = std::make_shared<nn::ReLU>();
  EXPECT_EQ(swap_module(relu, mapping), relu);
}

TEST(TestSparsityUtilFunctions, module_contains_param) {
  auto lin = std::make_shared<nn::Linear>(3, 2);
  EXPECT_FALSE(module_contains_param<FakeSparsity>(*lin));
  nn::register_parametrization(*lin, "bias", std::make_shared<nn::ReLU>());
  EXPECT_FALSE(module_contains_param<FakeSparsity>(*lin));
  EXPECT_TRUE(module_contains_param<nn::ReLU>(*lin));
  nn::register_parametrization(*lin, "weight", std::make_shared<FakeSparsity>(ones({2, 3})));
  EXPECT_TRUE(module_contains_param<FakeSparsity>(*lin));
  EXPECT_TRUE(module_contains_param(*lin, is_a<FakeSparsity>));
}

}  // namespace
}  // namespace twig::ao
