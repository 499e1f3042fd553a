#include <gtest/gtest.h>

#include <cmath>

#include "testing.h"
#include "twig/nn/container.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"

using namespace twig;
using namespace twig::nn;

namespace {

// Two linears inside a Sequential, plus one outside: dotted names, insertion order.
std::shared_ptr<Sequential> make_net() {
  auto inner = std::make_shared<Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<Linear>(3, 4), std::make_shared<Linear>(4, 2, false)});
  return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{inner, std::make_shared<Linear>(2, 1)});
}

std::vector<std::string> names_of(const NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

}  // namespace

TEST(ModuleRegistry, DottedNamesInInsertionOrder) {
  auto net = make_net();
  EXPECT_EQ(names_of(net->named_parameters()),
            (std::vector<std::string>{"0.0.weight", "0.0.bias", "0.1.weight", "1.weight", "1.bias"}));
  std::vector<std::string> mods;
  for (auto& [n, m] : net->named_modules()) mods.push_back(n);
  EXPECT_EQ(mods, (std::vector<std::string>{"", "0", "0.0", "0.1", "1"}));
  EXPECT_EQ(net->find_module("0.1")->type_name(), "Linear");
  EXPECT_EQ(net->find_module("0.7"), nullptr);
  EXPECT_EQ(net->num_parameters(), 3 * 4 + 4 + 4 * 2 + 2 + 1);
}

TEST(ModuleRegistry, ParametersKeepIdentity) {
  Linear m(5, 3);
  Tensor w = m.get("weight");
  EXPECT_TRUE(m.parameters()[0].is_same(w));
  EXPECT_TRUE(m.parameters()[0].is_same(m.parameters()[0]));
  // Re-register the same object under another name: identity preserved (pruning's weight_orig).
  Tensor removed = m.remove_parameter("weight");
  m.register_parameter("weight_orig", removed);
  EXPECT_TRUE(m.get("weight_orig").is_same(w));
  EXPECT_FALSE(m.has("weight"));
  EXPECT_THROW(m.get("weight"), AttributeError);
  m.set_attribute("weight", w * 2);
  EXPECT_TRUE(m.is_attribute("weight"));
  EXPECT_FALSE(m.is_parameter("weight"));
  EXPECT_EQ(names_of(m.named_parameters()), (std::vector<std::string>{"bias", "weight_orig"}));
}

TEST(ModuleRegistry, NameClashesAndBadNames) {
  Linear m(2, 2);
  EXPECT_THROW(m.register_buffer("weight", zeros({2})), KeyError);
  EXPECT_THROW(m.register_parameter("a.b", zeros({2})), KeyError);
  try {
    m.get("nope");
    FAIL();
  } catch (const AttributeError& e) {
    EXPECT_NE(std::string(e.what()).find("'Linear' object has no attribute 'nope'"), std::string::npos);
  }
}

TEST(ModuleRegistry, BiasNoneIsRegisteredButSkipped) {
  Linear m(2, 3, false);
  EXPECT_TRUE(m.is_parameter("bias"));
  EXPECT_FALSE(m.bias().defined());
  EXPECT_EQ(names_of(m.named_parameters()), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(m.state_dict().keys(), (std::vector<std::string>{"weight"}));
}

TEST(ModuleState, StateDictRoundTripAndErrors) {
  auto a = make_net(), b = make_net();
  StateDict sd = a->state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"0.0.weight", "0.0.bias", "0.1.weight", "1.weight", "1.bias"}));
  b->load_state_dict(sd);
  for (auto& [name, t] : b->state_dict()) EXPECT_TENSOR_EQ(t, sd.at(name));

  // A wrong shape, a missing key and an unexpected key: RuntimeError naming all, nothing changed.
  StateDict bad = a->state_dict();
  bad.insert("0.0.weight", zeros({5, 5}));
  bad.pop("1.bias");
  bad.insert("extra", zeros({1}));
  Tensor before = b->find_module("1")->get("weight").clone();
  try {
    b->load_state_dict(bad);
    FAIL();
  } catch (const RuntimeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Missing key(s) in state_dict: \"1.bias\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("Unexpected key(s) in state_dict: \"extra\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("size mismatch for 0.0.weight"), std::string::npos) << msg;
  }
  EXPECT_TENSOR_EQ(b->find_module("1")->get("weight"), before);

  StateDict partial;
  partial.insert("1.weight", zeros({1, 2}));
  IncompatibleKeys keys = b->load_state_dict(partial, /*strict=*/false);
  EXPECT_EQ(keys.missing_keys.size(), 4u);
  EXPECT_TRUE(keys.unexpected_keys.empty());
  EXPECT_TENSOR_EQ(b->find_module("1")->get("weight"), zeros({1, 2}));
}

TEST(ModuleHooks, PreHookReplacesInputHookReplacesOutputInOrder) {
  Linear m(2, 2);
  {
    NoGradGuard g;
    m.get("weight").copy_(eye(2));
    m.get("bias").zero_();
  }
  std::vector<int> order;
  auto h1 = m.register_forward_pre_hook([&](Module&, const Values& in) -> std::optional<Values> {
    order.push_back(1);
    return Values{in[0].tensor() * 2};
  });
  auto h2 = m.register_forward_pre_hook([&](Module&, const Values&) -> std::optional<Values> {
    order.push_back(2);
    return std::nullopt;
  });
  auto h3 = m.register_forward_hook([&](Module&, const Values&, const Value& out) -> std::optional<Value> {
    order.push_back(3);
    return Value(out.tensor() + 1);
  });
  Tensor y = m(tensor({{1.0f, 2.0f}}));
  EXPECT_TENSOR_EQ(y, tensor({{3.0f, 5.0f}}));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  h1.remove();
  h3.remove();
  h1.remove();  // twice is harmless
  EXPECT_TENSOR_EQ(m(tensor({{1.0f, 2.0f}})), tensor({{1.0f, 2.0f}}));
  EXPECT_EQ(m.forward_pre_hooks().size(), 1u);
}

TEST(ModuleModes, TrainEvalZeroGradCloneTo) {
  auto net = make_net();
  net->eval();
  for (auto& m : net->modules()) EXPECT_FALSE(m->is_training());
  net->train();
  Tensor y = (*net)(ones({2, 3}));
  y.sum().backward();
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad();
  for (const Tensor& p : net->parameters()) EXPECT_FALSE(p.grad().defined());

  ModulePtr copy = net->clone();
  auto orig_params = net->parameters(), copy_params = copy->parameters();
  ASSERT_EQ(orig_params.size(), copy_params.size());
  for (size_t i = 0; i < orig_params.size(); ++i) {
    EXPECT_FALSE(orig_params[i].is_same(copy_params[i]));
    EXPECT_TENSOR_EQ(orig_params[i], copy_params[i]);
    EXPECT_TRUE(copy_params[i].requires_grad());
  }
  Tensor w0 = net->parameters()[0];
  net->to(kFloat64);
  EXPECT_TRUE(net->parameters()[0].is_same(w0));
  EXPECT_EQ(w0.dtype(), kFloat64);
  EXPECT_EQ(copy->parameters()[0].dtype(), kFloat32);
}

namespace {
// A user model whose forward uses C++ members, built fresh by clone_instance.
class Twin : public UnaryModule {
 public:
  Twin() : UnaryModule("Twin") {
    fc1 = register_module("fc1", std::make_shared<Linear>(3, 4));
    fc2 = register_module("fc2", std::make_shared<Linear>(4, 2));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x).relu()); }
  std::shared_ptr<Linear> fc1, fc2;

 protected:
  ModulePtr clone_instance() const override { return std::make_shared<Twin>(); }
};
}  // namespace

// The clone's members point at its own children, which hold copies of the original's values and
// registration order; building it drew no random numbers; aliasing across modules survives.
TEST(ModuleClone, MembersPointIntoTheCopy) {
  manual_seed(3);
  Twin net;
  net.fc1->register_buffer("shared", net.fc2->get("bias"));  // aliases fc2's bias across modules
  net.fc2->register_module("extra", std::make_shared<Linear>(1, 1));
  net.fc1->register_parameter("scale", ones({4}).requires_grad_());  // added after construction
  net.eval();
  manual_seed(7);
  Tensor next_random = rand({4});
  manual_seed(7);
  auto copy = std::dynamic_pointer_cast<Twin>(net.clone());
  EXPECT_TENSOR_EQ(rand({4}), next_random);  // clone() drew nothing from the generator
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->fc1, copy->child("fc1"));
  EXPECT_EQ(copy->fc2, copy->child("fc2"));
  EXPECT_NE(copy->fc1, net.fc1);
  EXPECT_FALSE(copy->is_training());
  EXPECT_FALSE(copy->fc1->get("weight").is_same(net.fc1->get("weight")));
  EXPECT_TENSOR_EQ(copy->fc1->get("weight"), net.fc1->get("weight"));
  ASSERT_TRUE(copy->fc1->is_parameter("scale"));
  EXPECT_TRUE(copy->fc1->get("scale").requires_grad());
  EXPECT_EQ(names_of(copy->named_parameters()), names_of(net.named_parameters()));
  EXPECT_TRUE(copy->fc1->get("shared").is_same(copy->fc2->get("bias")));
  ASSERT_TRUE(copy->fc2->is_child("extra"));
  EXPECT_NE(copy->fc2->child("extra"), net.fc2->child("extra"));
  Tensor x = tensor({{0.5f, -1.0f, 2.0f}});
  EXPECT_TENSOR_EQ((*copy)(x), net(x));
  // Training the copy leaves the original alone.
  copy->fc1->get("weight").detach().fill_(0.0f);
  EXPECT_NE(net.fc1->get("weight").abs().sum().item<float>(), 0.0f);
}

TEST(ModuleRepr, LikePyTorch) {
  auto net = make_net();
  EXPECT_EQ(net->repr(),
            "Sequential(\n"
            "  (0): Sequential(\n"
            "    (0): Linear(in_features=3, out_features=4, bias=True)\n"
            "    (1): Linear(in_features=4, out_features=2, bias=False)\n"
            "  )\n"
            "  (1): Linear(in_features=2, out_features=1, bias=True)\n"
            ")");
}

TEST(ModuleInit, LinearDefaultInitBounds) {
  manual_seed(0);
  Linear m(100, 50);
  double bound = 1.0 / std::sqrt(100.0);  // kaiming_uniform(a=√5) gives the same bound
  EXPECT_LE(m.weight().abs().max().item<double>(), bound);
  EXPECT_GT(m.weight().abs().max().item<double>(), 0.9 * bound);
  EXPECT_LE(m.bias().abs().max().item<double>(), bound);
}

namespace {
// Multiplies by a fixed mask (like pruning's FakeSparsity).
class MaskParam : public UnaryModule {
 public:
  explicit MaskParam(Tensor mask) : UnaryModule("MaskParam") { register_buffer("mask", mask); }
  Tensor forward(const Tensor& x) override { return x * get("mask"); }

 protected:
  ModulePtr clone_instance() const override { return std::make_shared<MaskParam>(*this); }
};
}  // namespace

TEST(Parametrize, RegisterEvaluateRemove) {
  Linear m(3, 2);
  Tensor w = m.get("weight");
  Tensor mask = tensor({{1.0f, 0.0f, 1.0f}, {0.0f, 1.0f, 1.0f}});
  register_parametrization(m, "weight", std::make_shared<MaskParam>(mask));
  EXPECT_TRUE(is_parametrized(m));
  EXPECT_TRUE(is_parametrized(m, "weight"));
  EXPECT_FALSE(is_parametrized(m, "bias"));
  EXPECT_TRUE(parametrizations_of(m, "weight")->original().is_same(w));
  EXPECT_EQ(names_of(m.named_parameters()), (std::vector<std::string>{"bias", "parametrizations.weight.original"}));
  // Fresh value on each access; the mask buffer aliases the caller's tensor.
  EXPECT_TENSOR_EQ(m.get("weight"), w * mask);
  mask.index_put_({0, 2}, 0.0f);
  EXPECT_TENSOR_EQ(m.get("weight"), w * mask);
  EXPECT_THROW(m.set_attribute("weight", zeros({2, 3})), RuntimeError);
  // Gradient flows to the original through the mask.
  m(ones({1, 3})).sum().backward();
  EXPECT_TENSOR_EQ(w.grad(), mask);

  remove_parametrizations(m, "weight", /*leave_parametrized=*/true);
  EXPECT_FALSE(is_parametrized(m));
  EXPECT_FALSE(m.is_child("parametrizations"));
  EXPECT_TRUE(m.get("weight").is_same(w));
  EXPECT_EQ(w.to_vector<float>()[2], 0.0f);
  EXPECT_THROW(remove_parametrizations(m, "weight"), ValueError);
}

TEST(Parametrize, ShapeChangeRejectedAndNothingChanged) {
  class Shrink : public UnaryModule {
   public:
    Shrink() : UnaryModule("Shrink") {}
    Tensor forward(const Tensor& x) override { return x.narrow(0, 0, 1); }

   protected:
    ModulePtr clone_instance() const override { return std::make_shared<Shrink>(*this); }
  };
  Linear m(3, 2);
  Tensor w = m.get("weight");
  EXPECT_THROW(register_parametrization(m, "weight", std::make_shared<Shrink>()), ValueError);
  EXPECT_TRUE(m.is_parameter("weight"));
  EXPECT_TRUE(m.get("weight").is_same(w));
  EXPECT_FALSE(m.is_child("parametrizations"));
  EXPECT_THROW(register_parametrization(m, "nope", std::make_shared<Shrink>()), ValueError);
  // unsafe skips the check.
  register_parametrization(m, "weight", std::make_shared<Shrink>(), /*unsafe=*/true);
  EXPECT_EQ(m.get("weight").sizes(), (Shape{1, 3}));
}

TEST(Parametrize, OriginalMayChangeShape) {
  Linear m(3, 2);
  register_parametrization(m, "weight", std::make_shared<MaskParam>(tensor({{1.0f}, {0.0f}})));
  auto list = parametrizations_of(m, "weight");
  Tensor narrower = list->original().detach().narrow(1, 0, 2).clone().requires_grad_();
  list->set_original(narrower);
  EXPECT_EQ(m.get("weight").sizes(), (Shape{2, 2}));
  EXPECT_EQ(m.get("weight").to_vector<float>()[2], 0.0f);
}
