// Whole modules: every nn layer, the common_pruning models, LSTM, a pruned module (pre-hook,
// weight_orig/weight_mask, recomputed weight), parametrizations, shared modules and tensors, the
// registry, and the catalogue of malformed module trees.
#include <nlohmann/json.hpp>

#include "models/common_pruning.h"
#include "serialize/serialize_testing.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/dropout.h"
#include "twig/nn/embedding.h"
#include "twig/nn/linear.h"
#include "twig/nn/loss.h"
#include "twig/nn/normalization.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"
#include "twig/serialize/module_io.h"

namespace twig::testing {
namespace {

using nn::ModulePtr;
using serialize::json;
using serialize::load_module;
using serialize::save_module;

ModulePtr round_trip(const nn::Module& m) {
  TempDir dir;
  save_module(m, dir.file("m.twig"));
  return load_module(dir.file("m.twig"));
}

Tensor input(const Shape& shape, uint64_t seed = 11) {
  Generator g(seed);
  return randn(shape, kFloat32, &g);
}

// Same type, repr, registries (names, kinds, values bitwise, requires_grad) and training flags.
void expect_same_module(const nn::Module& a, const nn::Module& b, const std::string& path = "") {
  SCOPED_TRACE("module '" + path + "'");
  EXPECT_EQ(a.type_name(), b.type_name());
  EXPECT_EQ(a.repr(), b.repr());
  EXPECT_EQ(a.is_training(), b.is_training());
  EXPECT_EQ(a.parameters_dict().keys(), b.parameters_dict().keys());
  EXPECT_EQ(a.buffers_dict().keys(), b.buffers_dict().keys());
  EXPECT_EQ(a.attributes_dict().keys(), b.attributes_dict().keys());
  EXPECT_EQ(a.children_dict().keys(), b.children_dict().keys());
  for (const auto* dict : {&a.parameters_dict(), &a.buffers_dict(), &a.attributes_dict()}) {
    for (const auto& [name, t] : *dict) {
      Tensor u = b.get_or_undefined(name);
      if (dict == &a.buffers_dict()) u = b.buffers_dict().at(name);
      ASSERT_EQ(t.defined(), u.defined()) << name;
      if (!t.defined()) continue;
      EXPECT_TRUE(bitwise_equal(t, u)) << name;
      EXPECT_EQ(t.requires_grad(), u.requires_grad()) << name;
    }
  }
  for (const auto& [name, t] : a.buffers_dict()) EXPECT_EQ(a.buffer_is_persistent(name), b.buffer_is_persistent(name));
  EXPECT_EQ(a.forward_pre_hooks().size(), b.forward_pre_hooks().size());
  for (const auto& [name, c] : a.children_dict()) expect_same_module(*c, *b.child(name), path + "." + name);
}

void expect_same_output(nn::Module& a, nn::Module& b, const Tensor& x) { EXPECT_TRUE(bitwise_equal(a(x), b(x))); }

// ---- every nn layer ------------------------------------------------------------------------------------

TEST(ModuleRoundTrip, EveryLayerWithATensorInput) {
  std::vector<std::pair<ModulePtr, Shape>> cases = {
      {std::make_shared<nn::Linear>(5, 3), {2, 5}},
      {std::make_shared<nn::Linear>(5, 3, false), {2, 5}},
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 4, {3, 2}).stride(2).padding({1, 0}).dilation(1)),
       {1, 2, 7, 6}},
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(4, 4, 3).groups(2).bias(false)), {1, 4, 5, 5}},
      {std::make_shared<nn::Conv3d>(nn::Conv3dOptions(1, 2, 2)), {1, 1, 3, 3, 3}},
      // padding="same" with an even kernel (the extra pad goes right / below) and padding modes.
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, {4, 2}).padding("same").dilation({1, 2})), {1, 2, 6, 7}},
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding("same").padding_mode("reflect")), {1, 2, 5, 6}},
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(2).padding_mode("circular")), {1, 2, 5, 6}},
      {std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 2).padding("valid").padding_mode("replicate")),
       {1, 2, 5, 6}},
      {std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2).stride(1).padding(1).ceil_mode(true)), {1, 2, 5, 5}},
      {std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions({2, 3})), {1, 2, 6, 6}},
      {std::make_shared<nn::AvgPool2d>(
           nn::AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(false).divisor_override(4)),
       {1, 2, 6, 6}},
      {std::make_shared<nn::AdaptiveAvgPool2d>(nn::SpatialInts{2, 3}), {1, 2, 7, 7}},
      {std::make_shared<nn::AdaptiveMaxPool2d>(2), {1, 2, 7, 7}},
      {std::make_shared<nn::Flatten>(0, 1), {2, 3, 4}},
      {std::make_shared<nn::Identity>(), {3}},
      {std::make_shared<nn::LayerNorm>(std::vector<int64_t>{3, 4}, 1e-3, true), {2, 3, 4}},
      {std::make_shared<nn::LayerNorm>(4, 1e-5, false), {2, 4}},
      {std::make_shared<nn::BatchNorm2d>(3, 1e-4, std::nullopt), {2, 3, 4, 4}},
      {std::make_shared<nn::BatchNorm2d>(3, 1e-5, 0.2, false, false), {2, 3, 4, 4}},
      {std::make_shared<nn::ReLU>(), {7}},
      {std::make_shared<nn::RReLU>(0.1, 0.2), {7}},
      {std::make_shared<nn::Hardtanh>(-2.0, 0.5), {7}},
      {std::make_shared<nn::ReLU6>(), {7}},
      {std::make_shared<nn::Sigmoid>(), {7}},
      {std::make_shared<nn::Hardsigmoid>(), {7}},
      {std::make_shared<nn::Tanh>(), {7}},
      {std::make_shared<nn::SiLU>(), {7}},
      {std::make_shared<nn::Mish>(), {7}},
      {std::make_shared<nn::Hardswish>(), {7}},
      {std::make_shared<nn::ELU>(0.7), {7}},
      {std::make_shared<nn::CELU>(1.3), {7}},
      {std::make_shared<nn::SELU>(), {7}},
      {std::make_shared<nn::Hardshrink>(0.3), {7}},
      {std::make_shared<nn::LeakyReLU>(0.2), {7}},
      {std::make_shared<nn::LogSigmoid>(), {7}},
      {std::make_shared<nn::Softplus>(2.0, 10.0), {7}},
      {std::make_shared<nn::PReLU>(3, 0.1), {2, 3}},
      {std::make_shared<nn::Softsign>(), {7}},
      {std::make_shared<nn::Tanhshrink>(), {7}},
      {std::make_shared<nn::GELU>("tanh"), {7}},
      {std::make_shared<nn::Softmax>(1), {2, 3}},
      {std::make_shared<nn::LogSoftmax>(-1), {2, 3}},
      {std::make_shared<nn::Dropout>(0.25), {4, 4}},
  };
  for (auto& [m, shape] : cases) {
    SCOPED_TRACE(m->repr());
    m->eval();  // Dropout and RReLU are deterministic in eval
    if (m->type_name() == "BatchNorm2d") {
      m->train();
      (*m)(input(shape, 5));  // running stats move away from their initial values
      m->eval();
    }
    ModulePtr back = round_trip(*m);
    expect_same_module(*m, *back);
    expect_same_output(*m, *back, input(shape));
  }
}

TEST(ModuleRoundTrip, EmbeddingContainersAndLosses) {
  auto emb = std::make_shared<nn::Embedding>(10, 3, -1);
  auto back = round_trip(*emb);
  expect_same_module(*emb, *back);
  Tensor idx = tensor({1, 9, 4}, kInt64);
  EXPECT_TRUE(bitwise_equal((*emb)(idx), (*back)(idx)));
  EXPECT_EQ(std::static_pointer_cast<nn::Embedding>(back)->padding_idx, 9);

  auto list = std::make_shared<nn::ModuleList>(std::initializer_list<ModulePtr>{std::make_shared<nn::Linear>(2, 2)});
  auto dict = std::make_shared<nn::ModuleDict>();
  dict->insert("b", std::make_shared<nn::Tanh>());
  dict->insert("a", list);
  expect_same_module(*dict, *round_trip(*dict));

  auto ce = std::make_shared<nn::CrossEntropyLoss>(
      nn::CrossEntropyLossOptions().weight(tensor({1.0f, 2.0f, 0.5f})).ignore_index(2).label_smoothing(0.1));
  auto ce_back = round_trip(*ce);
  expect_same_module(*ce, *ce_back);
  Tensor logits = input({4, 3}), labels = tensor({0, 1, 2, 1}, kInt64);
  EXPECT_TRUE(bitwise_equal(ce->call({logits, labels}).tensor(), ce_back->call({logits, labels}).tensor()));
  expect_same_module(nn::MSELoss("sum"), *round_trip(nn::MSELoss("sum")));
  expect_same_module(nn::NLLLoss(nn::NLLLossOptions().reduction("none")),
                     *round_trip(nn::NLLLoss(nn::NLLLossOptions().reduction("none"))));
}

TEST(ModuleRoundTrip, EveryBuiltInTypeIsRegistered) {
  auto types = serialize::registered_module_types();
  for (const char* t : {"Linear",
                        "Conv2d",
                        "Conv3d",
                        "MaxPool2d",
                        "AvgPool2d",
                        "AdaptiveAvgPool2d",
                        "AdaptiveMaxPool2d",
                        "Flatten",
                        "Identity",
                        "Dropout",
                        "LayerNorm",
                        "BatchNorm2d",
                        "Embedding",
                        "ReLU",
                        "Softmax",
                        "LogSoftmax",
                        "GELU",
                        "PReLU",
                        "Sequential",
                        "ModuleList",
                        "ModuleDict",
                        "LSTM",
                        "ParametrizationList",
                        "CrossEntropyLoss"}) {
    EXPECT_TRUE(serialize::has_module_type(t)) << t;
    EXPECT_NE(std::find(types.begin(), types.end(), t), types.end()) << t;
  }
}

// Python's nn.Module() as a holder comes back as a bare nn::Module, not as a generic holder.
TEST(ModuleRoundTrip, ABareModuleHolder) {
  auto holder = std::make_shared<nn::Module>();
  holder->register_module("fc", std::make_shared<nn::Linear>(3, 2));
  holder->register_buffer("step", tensor(int64_t{4}));
  ModulePtr back = round_trip(*holder);
  EXPECT_EQ(typeid(*back), typeid(nn::Module));
  EXPECT_EQ(back->type_name(), "Module");
  expect_same_module(*holder, *back);
}

TEST(ModuleRoundTrip, LstmWithTheSameOutputsAndState) {
  auto lstm = std::make_shared<nn::LSTM>(nn::LSTMOptions(3, 4).num_layers(2).batch_first(true));
  auto back = std::static_pointer_cast<nn::LSTM>(round_trip(*lstm));
  expect_same_module(*lstm, *back);
  EXPECT_TRUE(back->options.batch_first_);
  Tensor x = input({2, 5, 3});
  auto [y1, h1, c1] = lstm->forward(x);
  auto [y2, h2, c2] = back->forward(x);
  EXPECT_TRUE(bitwise_equal(y1, y2));
  EXPECT_TRUE(bitwise_equal(h1, h2));
  EXPECT_TRUE(bitwise_equal(c1, c2));
}

TEST(ModuleRoundTrip, EveryCommonPruningModel) {
  models::register_test_models();
  using namespace models;
  std::vector<std::pair<ModulePtr, Shape>> cases = {
      {std::make_shared<SimpleLinear>(), {2, 7}},
      {std::make_shared<LinearBias>(), {2, 7}},
      {std::make_shared<LinearActivation>(), {2, 7}},
      {std::make_shared<LinearActivationFunctional>(), {2, 7}},
      {std::make_shared<SimpleConv2d>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dBias>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dActivation>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dPadBias>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dPool>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dPoolFlattenFunctional>(), {1, 1, 28, 28}},
      {std::make_shared<Conv2dPoolFlatten>(), {1, 1, 28, 28}},
  };
  for (auto& [m, shape] : cases) {
    SCOPED_TRACE(m->type_name());
    ModulePtr back = round_trip(*m);
    expect_same_module(*m, *back);
    expect_same_output(*m, *back, input(shape));
  }
  auto lstm_model = std::make_shared<LSTMLayerNormLinearModel>(4, 6, 3, 2);
  ModulePtr back = round_trip(*lstm_model);
  expect_same_module(*lstm_model, *back);
  Tensor x = input({5, 4});
  EXPECT_TRUE(bitwise_equal(lstm_model->call({x})[0].tensor(), back->call({x})[0].tensor()));
  auto typed = load_module<LSTMLinearModel>([&] {
    static TempDir dir;
    save_module(LSTMLinearModel(2, 3, 1, 1), dir.file("l"));
    return dir.file("l");
  }());
  EXPECT_EQ(typed->type_name(), "LSTMLinearModel");
}

// ---- a pruned module: what prune/ builds, with a test hook standing in for its methods --------------------

// weight = weight_orig * weight_mask before every forward (torch.nn.utils.prune's pattern).
class MaskHook : public nn::ForwardPreHook {
 public:
  explicit MaskHook(std::string name) : name(std::move(name)) {}
  std::optional<nn::Values> operator()(nn::Module& m, const nn::Values&) override {
    m.set_attribute(name, m.get(name + "_orig") * m.get(name + "_mask"));
    return std::nullopt;
  }
  std::string type_name() const override { return "TestMaskHook"; }
  std::string name;
  Tensor extra;  // a tensor the codec stores through TensorWriter (aliasing the mask)
};

void register_mask_hook() {
  serialize::register_forward_pre_hook_type(
      "TestMaskHook", {[](const nn::ForwardPreHook& h, serialize::TensorWriter& w) {
                         const auto& hook = dynamic_cast<const MaskHook&>(h);
                         json state{{"name", hook.name}};
                         if (hook.extra.defined()) state["extra"] = w.put("extra", hook.extra);
                         return state;
                       },
                       [](const json& state, serialize::TensorReader& r) -> std::shared_ptr<nn::ForwardPreHook> {
                         auto hook = std::make_shared<MaskHook>(state.at("name").get<std::string>());
                         if (state.contains("extra")) hook->extra = r.get(state["extra"].get<std::string>());
                         return hook;
                       }});
}

void prune_weight(nn::Module& m, const Tensor& mask) {
  Tensor w = m.remove_parameter("weight");
  m.register_parameter("weight_orig", w);
  m.register_buffer("weight_mask", mask);
  auto hook = std::make_shared<MaskHook>("weight");
  hook->extra = mask;
  m.set_attribute("weight", w * mask);
  m.register_forward_pre_hook(hook);
}

// A model whose forward uses C++ members (as most user models do): the loaded children must be
// the very objects those members point at, or the loaded model would compute with fresh weights.
class MemberModel : public nn::UnaryModule {
 public:
  MemberModel() : nn::UnaryModule("TestMemberModel") {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 5));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(5, 3));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x).relu()); }
  std::shared_ptr<nn::Linear> fc1, fc2;

 protected:
  ModulePtr clone_instance() const override { return std::make_shared<MemberModel>(*this); }
};

TEST(ModuleRoundTrip, ChildrenMadeByTheConstructorAreTheOnesLoaded) {
  serialize::register_module_type<MemberModel>("TestMemberModel");
  auto m = std::make_shared<MemberModel>();
  auto back = std::dynamic_pointer_cast<MemberModel>(round_trip(*m));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->fc1, back->child("fc1"));
  EXPECT_EQ(back->fc2, back->child("fc2"));
  expect_same_module(*m, *back);
  expect_same_output(*m, *back, input({3, 4}));
}

TEST(ModuleRoundTrip, CopyModuleGivesMembersTheirOwnChildren) {
  serialize::register_module_type<MemberModel>("TestMemberModel");
  auto m = std::make_shared<MemberModel>();
  auto copy = std::dynamic_pointer_cast<MemberModel>(serialize::copy_module(*m));
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy->fc1, m->fc1);
  EXPECT_EQ(copy->fc1, copy->child("fc1"));
  // Changing the copy leaves the original alone, and the copy computes with its own weights.
  Tensor x = input({3, 4});
  Tensor before = (*m)(x);
  {
    NoGradGuard no_grad;
    copy->fc1->get("weight").zero_();
  }
  EXPECT_TRUE(bitwise_equal((*m)(x), before));
  EXPECT_FALSE(bitwise_equal((*copy)(x), before));
}

TEST(ModulePruned, ComesBackPrunedComputesTheSameAndCanBeRemoved) {
  register_mask_hook();
  models::register_test_models();
  auto model = std::make_shared<models::LinearBias>();
  auto seq = std::static_pointer_cast<nn::Sequential>(model->child("seq"));
  prune_weight(*(*seq)[0], (arange(35).remainder(3) != 0).reshape({5, 7}));
  prune_weight(*(*seq)[2], (arange(18).remainder(2) == 0).reshape({3, 6}));
  Tensor x = input({4, 7});
  Tensor expected = (*model)(x);

  TempDir dir;
  save_module(*model, dir.file("pruned"));
  auto back = load_module<models::LinearBias>(dir.file("pruned"));
  expect_same_module(*model, *back);
  ModulePtr first = back->child("seq")->child("0");
  EXPECT_TRUE(first->is_parameter("weight_orig"));
  EXPECT_TRUE(first->is_buffer("weight_mask"));
  EXPECT_TRUE(first->is_attribute("weight"));
  EXPECT_TRUE(first->get("weight_orig").requires_grad());
  ASSERT_EQ(first->forward_pre_hooks().size(), 1u);
  auto hook = std::dynamic_pointer_cast<MaskHook>(first->forward_pre_hooks().items().begin()->second);
  ASSERT_NE(hook, nullptr);
  EXPECT_EQ(hook->name, "weight");
  EXPECT_TRUE(hook->extra.is_same(first->get("weight_mask"))) << "a tensor stored twice must come back as one";
  EXPECT_TRUE(bitwise_equal((*back)(x), expected));

  // The weights are plain safetensors entries named like the state dict.
  auto raw = serialize::load_state_dict_file(dir.file("pruned"));
  EXPECT_TRUE(raw.contains("seq.0.weight_orig"));
  EXPECT_TRUE(raw.contains("seq.0.weight_mask"));
  EXPECT_TRUE(raw.contains("seq.1.bias") || raw.contains("seq.2.bias"));

  // Further training changes weight_orig and the output follows; "remove" makes it permanent.
  first->get("weight_orig").detach().mul_(2.0);
  Tensor w = first->get("weight_orig") * first->get("weight_mask");
  first->forward_pre_hooks().clear();
  first->delete_name("weight");
  first->delete_name("weight_orig");
  first->delete_name("weight_mask");
  first->register_parameter("weight", w.detach());
  EXPECT_TRUE(first->is_parameter("weight"));
  EXPECT_EQ((*back)(x).sizes(), expected.sizes());
}

// ---- parametrizations -----------------------------------------------------------------------------------

class MaskParam : public nn::UnaryModule {
 public:
  explicit MaskParam(const Tensor& mask) : nn::UnaryModule("TestMaskParam") { register_buffer("mask", mask); }
  Tensor forward(const Tensor& x) override { return x * get("mask"); }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<MaskParam>(*this); }
};

void register_mask_param() {
  serialize::register_module_type("TestMaskParam",
                                  {[](const nn::Module&) { return json::object(); },
                                   [](const json&) -> ModulePtr { return std::make_shared<MaskParam>(ones({1})); }});
}

TEST(ModuleParametrized, ComesBackParametrizedAndRemovable) {
  register_mask_param();
  auto lin = std::make_shared<nn::Linear>(4, 3);
  Tensor mask = (arange(12).remainder(4) != 1).reshape({3, 4}).to(kFloat32);
  nn::register_parametrization(*lin, "weight", std::make_shared<MaskParam>(mask));
  nn::register_parametrization(*lin, "bias", std::make_shared<MaskParam>(tensor({1.0f, 0.0f, 1.0f})));
  Tensor x = input({2, 4});
  ModulePtr back = round_trip(*lin);
  expect_same_module(*lin, *back);
  EXPECT_TRUE(nn::is_parametrized(*back, "weight"));
  EXPECT_FALSE(back->is_parameter("weight"));
  auto list = nn::parametrizations_of(*back, "weight");
  EXPECT_FALSE(list->original_is_buffer());
  EXPECT_TRUE(list->original().requires_grad());
  EXPECT_TRUE(bitwise_equal((*lin)(x), (*back)(x)));
  nn::remove_parametrizations(*back, "weight");
  nn::remove_parametrizations(*lin, "weight");
  EXPECT_TRUE(back->is_parameter("weight"));
  EXPECT_TRUE(bitwise_equal(back->get("weight"), lin->get("weight")));
}

// ---- registries, flags, sharing ----------------------------------------------------------------------------

TEST(ModuleRegistries, FlagsNonPersistentBuffersAttributesAndTrainingModes) {
  auto seq = std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::Dropout>(0.5)});
  auto lin = (*seq)[0];
  lin->get("bias").requires_grad_(false);
  lin->register_buffer("scratch", arange(3, kInt64), /*persistent=*/false);
  lin->register_parameter("none_param", Tensor());
  lin->set_attribute("note", tensor({4.0, 5.0}, kFloat64));
  (*seq)[1]->eval();
  ModulePtr back = round_trip(*seq);
  expect_same_module(*seq, *back);
  auto blin = back->child("0");
  EXPECT_FALSE(blin->get("bias").requires_grad());
  EXPECT_FALSE(blin->buffer_is_persistent("scratch"));
  EXPECT_TRUE(blin->is_parameter("none_param"));
  EXPECT_FALSE(blin->get_or_undefined("none_param").defined());
  EXPECT_TRUE(back->is_training());
  EXPECT_FALSE(back->child("1")->is_training());
}

TEST(ModuleRegistries, SharedModulesAndTiedWeightsStayShared) {
  auto shared = std::make_shared<nn::Linear>(3, 3);
  auto other = std::make_shared<nn::Linear>(3, 3);
  other->set_attribute("weight", Tensor());  // replaced below by the tied parameter
  other->remove_parameter("weight");
  other->register_parameter("weight", shared->get("weight"));
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{shared, other, shared});
  ModulePtr back = round_trip(*seq);
  EXPECT_EQ(back->child("0").get(), back->child("2").get());
  EXPECT_TRUE(back->child("0")->get("weight").is_same(back->child("1")->get("weight")));
  EXPECT_EQ(back->parameters().size(), seq->parameters().size());
}

TEST(ModuleRegistries, TypedLoadNamesBothTypesOnMismatch) {
  TempDir dir;
  save_module(nn::Linear(2, 2), dir.file("lin"));
  EXPECT_NE(load_module<nn::Linear>(dir.file("lin")), nullptr);
  expect_error<TypeError>(
      [&] { load_module<nn::LSTM>(dir.file("lin")); },
      std::vector<std::string>{"load_module<twig::nn::LSTM>", "holds a Linear", "twig::nn::Linear"});
}

TEST(ModuleRegistries, RegisteringTwiceReplaces) {
  register_mask_param();  // each test runs alone under ctest
  int made = 0;
  for (int round = 0; round < 2; ++round) {
    serialize::register_module_type("TestTwice", {[](const nn::Module&) { return json::object(); },
                                                  [&made, round](const json&) -> ModulePtr {
                                                    made = round + 1;
                                                    return std::make_shared<MaskParam>(ones({1}));
                                                  }});
  }
  MaskParam p(ones({1}));
  // MaskParam's type name is TestMaskParam; build a file naming TestTwice by hand below.
  std::string bytes = serialize::module_to_bytes(p);
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  auto tree = nlohmann::json::parse(f.metadata.at("twig.module"));
  tree["modules"][0]["type"] = "TestTwice";
  f.metadata["twig.module"] = tree.dump();
  EXPECT_ERROR(serialize::module_from_file_contents(f), TypeError, "made a 'TestMaskParam'");
  EXPECT_EQ(made, 2);
}

// ---- errors on save ------------------------------------------------------------------------------------------

class Unregistered : public nn::UnaryModule {
 public:
  Unregistered() : nn::UnaryModule("Unregistered") {}
  Tensor forward(const Tensor& x) override { return x; }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<Unregistered>(*this); }
};

TEST(ModuleSaveErrors, FunctionHooksAndCycles) {
  TempDir dir;
  nn::Linear lin(2, 2);
  lin.register_forward_pre_hook([](nn::Module&, const nn::Values&) { return std::nullopt; });
  expect_error<TypeError>([&] { save_module(lin, dir.file("x")); },
                          std::vector<std::string>{"forward pre-hook of type 'ForwardPreHook'", "plain-function"});
  serialize::ModuleSaveOptions skip;
  skip.skip_function_hooks = true;
  save_module(lin, dir.file("x"), skip);
  EXPECT_EQ(load_module(dir.file("x"))->forward_pre_hooks().size(), 0u);

  auto a = std::make_shared<nn::Sequential>();
  auto b = std::make_shared<nn::Sequential>();
  a->push_back(b);
  b->push_back(a);
  EXPECT_ERROR(save_module(*a, dir.file("cycle")), ValueError, "cycle");
  b->remove_child("0");  // break the cycle so both can be freed
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"x"});
}

TEST(ModuleSaveErrors, AFailedSaveLeavesThePreviousModuleFile) {
  TempDir dir;
  save_module(nn::Linear(2, 2), dir.file("m"));
  const std::string before = read_bytes(dir.file("m"));
  serialize::detail::fail_writes_after(64);
  EXPECT_ERROR(save_module(nn::Linear(30, 30), dir.file("m")), RuntimeError, "No space left");
  serialize::detail::fail_writes_after(-1);
  EXPECT_EQ(read_bytes(dir.file("m")), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m"});
}

// ---- user models without clone_instance or registration -----------------------------------------------------

// A model made of registered children: no clone_instance, no codec.
class NoCodecNet : public nn::UnaryModule {
 public:
  explicit NoCodecNet(const std::string& name = "NoCodecNet") : nn::UnaryModule(name) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 5));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(5, 3));
    register_buffer("scale", full({3}, 2.0));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*fc1)(x).relu()) * get("scale"); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

// The same, registered with one line.
class OneLineNet : public NoCodecNet {
 public:
  OneLineNet() : NoCodecNet("OneLineNet") {}
};

TEST(ModuleUnregistered, SavedWithItsTreeAndLoadedAsAHolder) {
  TempDir dir;
  auto net = std::make_shared<NoCodecNet>();
  net->fc1->eval();
  save_module(*net, dir.file("net"));
  ModulePtr back = load_module(dir.file("net"));
  ASSERT_NE(dynamic_cast<serialize::UnregisteredModule*>(back.get()), nullptr);
  EXPECT_EQ(back->type_name(), "NoCodecNet");
  expect_same_module(*net, *back);
  EXPECT_FALSE(back->child("fc1")->is_training());
  ASSERT_NE(std::dynamic_pointer_cast<nn::Linear>(back->child("fc2")), nullptr);
  // Its children work; it has no forward, and says how to get the class back.
  Tensor x = input({2, 4});
  EXPECT_TRUE(bitwise_equal((*back->child("fc1"))(x), (*net->fc1)(x)));
  expect_error<NotImplementedError>([&] { (*back)(x); }, std::vector<std::string>{"NoCodecNet", "register_module<"});
  expect_error<TypeError>([&] { serialize::load_module<NoCodecNet>(dir.file("net")); },
                          std::vector<std::string>{"holds a NoCodecNet", "generic holder", "register_module<"});
  // The holder clones and round-trips like any module.
  ModulePtr copy = back->clone();
  EXPECT_EQ(copy->type_name(), "NoCodecNet");
  expect_same_module(*net, *copy);
  ModulePtr again = round_trip(*back);
  expect_same_module(*net, *again);
}

TEST(ModuleUnregistered, OneLineRegistrationGivesTheClassBackAndClone) {
  auto net = std::make_shared<OneLineNet>();
  // Not registered yet: clone() needs clone_instance and says so.
  EXPECT_ERROR(net->clone(), NotImplementedError, "OneLineNet");
  EXPECT_EQ(serialize::register_module<OneLineNet>(), "OneLineNet");  // the name is the module's own
  auto back = std::dynamic_pointer_cast<OneLineNet>(round_trip(*net));
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->fc1, back->child("fc1"));
  expect_same_module(*net, *back);
  expect_same_output(*net, *back, input({3, 4}));
  auto copy = std::dynamic_pointer_cast<OneLineNet>(net->clone());
  ASSERT_NE(copy, nullptr);
  EXPECT_NE(copy->fc1, net->fc1);
  EXPECT_EQ(copy->fc1, copy->child("fc1"));
  expect_same_output(*net, *copy, input({3, 4}));
  // A factory serves only its own class: a NoCodecNet named "OneLineNet" is not cloned by it.
  EXPECT_ERROR(NoCodecNet("OneLineNet").clone(), NotImplementedError, "OneLineNet");
}

// ---- the catalogue of malformed module trees -----------------------------------------------------------------

// A valid module file, its tree edited by `edit`, written back; loading must raise E naming needle.
template <typename E>
void expect_bad_tree(const nn::Module& m, const std::function<void(nlohmann::json&, nn::StateDict&)>& edit,
                     const std::string& needle) {
  std::string bytes = serialize::module_to_bytes(m);
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  auto tree = nlohmann::json::parse(f.metadata.at("twig.module"));
  edit(tree, f.tensors);
  f.metadata["twig.module"] = tree.dump();
  TempDir dir;
  serialize::save_state_dict(f.tensors, dir.file("bad"), f.metadata);
  expect_error<E>([&] { load_module(dir.file("bad")); }, std::vector<std::string>{needle, dir.file("bad")});
}

nn::Sequential two_linears() {
  return nn::Sequential({std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::Linear>(2, 1)});
}

TEST(ModuleMalformed, AStateDictIsNotAModuleFile) {
  TempDir dir;
  serialize::save_state_dict(nn::Linear(2, 2), dir.file("sd"));
  EXPECT_ERROR(load_module(dir.file("sd")), ValueError, "this is a state dict, not a whole-module file");
}

TEST(ModuleMalformed, TreeNotJson) {
  std::string bytes = serialize::module_to_bytes(nn::ReLU());
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  f.metadata["twig.module"] = "{\"version\": 1,";
  std::string bad = serialize::to_safetensors_bytes(f.tensors, f.metadata);
  EXPECT_ERROR(serialize::module_from_bytes(bad.data(), bad.size()), ValueError, "module tree is not valid JSON");
}

TEST(ModuleMalformed, MissingTensor) {
  expect_bad_tree<KeyError>(
      two_linears(), [](nlohmann::json&, nn::StateDict& t) { t.pop("1.weight"); }, "references tensor '1.weight'");
}

// A type with no codec here comes back as a holder that keeps the options it was saved with.
TEST(ModuleMalformed, UnknownModuleTypeIsAHolderKeepingItsOptions) {
  nn::Sequential seq = two_linears();
  std::string bytes = serialize::module_to_bytes(seq);
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  auto tree = nlohmann::json::parse(f.metadata.at("twig.module"));
  tree["modules"][1]["type"] = "MyBlock";
  f.metadata["twig.module"] = tree.dump();
  std::string edited = serialize::to_safetensors_bytes(f.tensors, f.metadata);
  ModulePtr back = serialize::module_from_bytes(edited.data(), edited.size());
  auto holder = std::dynamic_pointer_cast<serialize::UnregisteredModule>(back->child("0"));
  ASSERT_NE(holder, nullptr);
  EXPECT_EQ(holder->type_name(), "MyBlock");
  EXPECT_EQ(nlohmann::json::parse(holder->saved_options()), tree["modules"][1]["options"]);
  EXPECT_TRUE(bitwise_equal(holder->get("weight"), seq[0]->get("weight")));
  EXPECT_ERROR((*holder)(input({1, 3})), NotImplementedError, "register_module");
  // Saved again, the holder writes the same tree.
  std::string again = serialize::module_to_bytes(*back);
  auto g = serialize::from_safetensors_bytes(again.data(), again.size());
  EXPECT_EQ(nlohmann::json::parse(g.metadata.at("twig.module")), tree);
}

TEST(ModuleMalformed, UnknownHookType) {
  expect_bad_tree<KeyError>(
      two_linears(),
      [](nlohmann::json& j, nn::StateDict&) {
        j["modules"][2]["forward_pre_hooks"] = {{{"type", "NoSuchHook"}, {"state", nullptr}}};
      },
      "unknown forward pre-hook type 'NoSuchHook'");
}

TEST(ModuleMalformed, Cycle) {
  expect_bad_tree<ValueError>(
      two_linears(),
      [](nlohmann::json& j, nn::StateDict&) {
        j["modules"][1]["children"] = {{{"name", "back"}, {"module", 0}}};
      },
      "cycle");
}

TEST(ModuleMalformed, SelfLoop) {
  expect_bad_tree<ValueError>(
      nn::ReLU(),
      [](nlohmann::json& j, nn::StateDict&) {
        j["modules"][0]["children"] = {{{"name", "me"}, {"module", 0}}};
      },
      "cycle");
}

TEST(ModuleMalformed, ChildIndexOutOfRange) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][0]["children"][0]["module"] = 7; },
      "must be a module index in [0, 3)");
}

TEST(ModuleMalformed, UnreachableEntry) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][0]["children"].erase(1); },
      "module entry 2 is not reachable");
}

TEST(ModuleMalformed, WrongShapeForItsOptions) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1]["options"]["in_features"] = 4; },
      "'weight' has shape [2, 3] in the file but a Linear built from the saved options has [2, 4]");
}

TEST(ModuleMalformed, OptionsAskingForMoreThanTheFileHolds) {
  expect_bad_tree<ValueError>(
      two_linears(),
      [](nlohmann::json& j, nn::StateDict&) {
        j["modules"][1]["options"]["in_features"] = 2000000000;
        j["modules"][1]["options"]["out_features"] = 2000000000;
      },
      "the options do not match the file");
}

TEST(ModuleMalformed, BadOptionValue) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1]["options"]["in_features"] = -3; },
      "option 'in_features' = -3 is not a valid size");
}

TEST(ModuleMalformed, MissingOption) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1]["options"].erase("bias"); },
      "missing option 'bias'");
}

TEST(ModuleMalformed, MissingField) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1].erase("training"); },
      "module entry 1 has no 'training'");
}

TEST(ModuleMalformed, ExtraField) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1]["code"] = "rm -rf /"; },
      "module entry 1 has an unexpected field 'code'");
}

TEST(ModuleMalformed, WrongFieldKind) {
  expect_bad_tree<ValueError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][1]["parameters"] = "weight"; },
      "'parameters' must be a list");
}

TEST(ModuleMalformed, DuplicateChildName) {
  expect_bad_tree<KeyError>(
      two_linears(), [](nlohmann::json& j, nn::StateDict&) { j["modules"][0]["children"][1]["name"] = "0"; },
      "already exists");
}

TEST(ModuleMalformed, UnsupportedVersion) {
  expect_bad_tree<ValueError>(
      nn::ReLU(), [](nlohmann::json& j, nn::StateDict&) { j["version"] = 99; }, "version 99 is not supported");
}

TEST(ModuleMalformed, IntegerParameterRequiringGrad) {
  expect_bad_tree<ValueError>(
      nn::Linear(2, 2),
      [](nlohmann::json&, nn::StateDict& t) {
        t.insert("weight", zeros({2, 2}, kInt64));
      },
      "cannot require grad");
}

}  // namespace
}  // namespace twig::testing
