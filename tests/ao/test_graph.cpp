// ao::trace: the graphs of common_pruning's models (spec §5.3), replay, sharing, leaves, errors.
#include <gtest/gtest.h>

#include "models/common_pruning.h"
#include "tests/testing.h"
#include "twig/ao/graph.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/random.h"

namespace twig {
namespace {

using namespace twig::testing::models;
using ao::Node;
using ao::Opcode;
namespace F = nn::functional;

// "op:target" of every node, in order.
std::vector<std::string> summary(const ao::Graph& g) {
  std::vector<std::string> out;
  for (Node* n : g.nodes()) out.push_back(std::string(ao::opcode_name(n->op())) + ":" + n->target());
  return out;
}

// The chain from the first placeholder following first users, as "target" strings.
std::vector<std::string> first_user_chain(const ao::Graph& g) {
  std::vector<std::string> out;
  Node* n = g.placeholders().at(0);
  while (!n->users().empty()) {
    n = n->users()[0];
    out.push_back(n->target());
  }
  return out;
}

void expect_replay_equal(const nn::ModulePtr& model, const std::shared_ptr<ao::GraphModule>& gm, const Tensor& x) {
  nn::Value a = model->call({x}), b = gm->call({x});
  if (a.is_tensor()) {
    EXPECT_TENSOR_EQ(b.tensor(), a.tensor());
  } else {
    ASSERT_TRUE(b.is_tuple());
    EXPECT_TENSOR_EQ(b[0].tensor(), a[0].tensor());
  }
}

TEST(TraceTest, SimpleLinearIsAChainOfModules) {
  manual_seed(0);
  auto model = std::make_shared<SimpleLinear>();
  auto gm = ao::trace(model, {randn({3, 7})});
  EXPECT_EQ(summary(gm->graph()),
            (std::vector<std::string>{"placeholder:x", "call_module:seq.0", "call_module:seq.1", "call_module:seq.2",
                                      "call_module:linear1", "call_module:linear2", "output:output"}));
  EXPECT_EQ(gm->graph().find("seq_0")->users()[0]->name(), "seq_1");
  EXPECT_TRUE(gm->graph().find("seq_0")->is_module<nn::Linear>());
  EXPECT_EQ(gm->graph().find("seq_0")->module().get(), model->find_module("seq.0").get());
  expect_replay_equal(model, gm, randn({5, 7}));
}

TEST(TraceTest, NamesAreFxsForASequentialRoot) {
  // fx names the call of a Sequential root's child "0" `_0` (a name cannot start with a digit);
  // the target stays "0".
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Linear>(4, 3));
  model->push_back(std::make_shared<nn::ReLU>());
  auto gm = ao::trace(model, {randn({2, 4})});
  std::vector<std::string> names;
  for (const Node* node : gm->graph().nodes()) names.push_back(node->name() + ":" + node->target());
  EXPECT_EQ(names, (std::vector<std::string>{"x:x", "_0:0", "_1:1", "output:output"}));
}

TEST(TraceTest, FunctionalReluBetweenLinears) {
  manual_seed(0);
  auto model = std::make_shared<LinearActivationFunctional>();
  auto gm = ao::trace(model, {randn({2, 7})});
  EXPECT_EQ(first_user_chain(gm->graph()),
            (std::vector<std::string>{"seq.0", "seq.1", "seq.2", "seq.3", "seq.4", "linear1", "relu", "linear2", "relu",
                                      "linear3", "relu", "output"}));
  Node* relu = gm->graph().find("relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->op(), Opcode::call_function);
  EXPECT_EQ(relu->input_nodes().at(0)->target(), "linear1");
  EXPECT_NE(gm->graph().find("relu_2"), nullptr);
  EXPECT_EQ(gm->graph().find("act1"), nullptr);  // registered, never called
  expect_replay_equal(model, gm, randn({4, 7}));
}

TEST(TraceTest, EveryModelOfCommonPruningReplays) {
  manual_seed(0);
  Tensor lin_x = randn({3, 7}), img = randn({1, 1, 28, 28});
  std::vector<std::pair<nn::ModulePtr, Tensor>> cases = {
      {std::make_shared<SimpleLinear>(), lin_x},
      {std::make_shared<LinearBias>(), lin_x},
      {std::make_shared<LinearActivation>(), lin_x},
      {std::make_shared<LinearActivationFunctional>(), lin_x},
      {std::make_shared<SimpleConv2d>(), img},
      {std::make_shared<Conv2dBias>(), img},
      {std::make_shared<Conv2dActivation>(), img},
      {std::make_shared<Conv2dPadBias>(), img},
      {std::make_shared<Conv2dPool>(), img},
      {std::make_shared<Conv2dPoolFlattenFunctional>(), img},
      {std::make_shared<Conv2dPoolFlatten>(), img},
      {std::make_shared<LSTMLinearModel>(8, 8, 8, 1), ones({1, 8})},
      {std::make_shared<LSTMLayerNormLinearModel>(8, 8, 8, 1), ones({1, 8})}};
  for (auto& [model, x] : cases) {
    SCOPED_TRACE(model->type_name());
    auto gm = ao::trace(model, {x});
    EXPECT_EQ(gm->graph().output()->op(), Opcode::output);
    Tensor fresh = x.dim() == 4 ? randn(x.sizes()) : randn(x.sizes());
    expect_replay_equal(model, gm, fresh);
  }
}

TEST(TraceTest, Conv2dActivationEndsInReluConvHardtanh) {
  auto model = std::make_shared<Conv2dActivation>();
  auto gm = ao::trace(model, {randn({1, 1, 28, 28})});
  EXPECT_EQ(first_user_chain(gm->graph()),
            (std::vector<std::string>{"seq.0", "seq.1", "seq.2", "seq.3", "seq.4", "seq.5", "conv2d1", "relu",
                                      "conv2d2", "hardtanh", "output"}));
}

TEST(TraceTest, Conv2dPoolHasFunctionalAvgPool) {
  auto model = std::make_shared<Conv2dPool>();
  auto gm = ao::trace(model, {randn({1, 1, 28, 28})});
  EXPECT_EQ(first_user_chain(gm->graph()),
            (std::vector<std::string>{"seq.0", "seq.1", "seq.2", "seq.3", "seq.4", "seq.5", "conv2d1", "maxpool", "af1",
                                      "conv2d2", "avg_pool2d", "relu", "conv2d3", "output"}));
  Node* pool = gm->graph().find("avg_pool2d");
  EXPECT_EQ(pool->kwargs().at(0), (std::pair<std::string, std::string>{"kernel_size", "[2]"}));
  EXPECT_TRUE(gm->graph().find("maxpool")->is_module<nn::MaxPool2d>());
}

TEST(TraceTest, AdaptivePoolFlattenLinear) {
  auto functional = std::make_shared<Conv2dPoolFlattenFunctional>();
  auto gm = ao::trace(functional, {randn({1, 1, 28, 28})});
  auto chain = first_user_chain(gm->graph());
  EXPECT_EQ(std::vector<std::string>(chain.end() - 5, chain.end()),
            (std::vector<std::string>{"conv2d2", "avg_pool", "flatten", "fc", "output"}));
  Node* flatten = gm->graph().find("flatten");
  EXPECT_EQ(flatten->op(), Opcode::call_function);
  EXPECT_EQ(flatten->kwargs().at(0).second, "1");  // start_dim
  EXPECT_TRUE(gm->graph().find("avg_pool")->is_module<nn::AdaptiveAvgPool2d>());

  auto modular = std::make_shared<Conv2dPoolFlatten>();
  auto gm2 = ao::trace(modular, {randn({1, 1, 28, 28})});
  Node* flat_mod = gm2->graph().find("flatten");
  EXPECT_EQ(flat_mod->op(), Opcode::call_module);
  EXPECT_TRUE(flat_mod->is_module<nn::Flatten>());
  EXPECT_EQ(flat_mod->users()[0]->target(), "fc");
}

TEST(TraceTest, LstmGetitemZeroFeedsLinear) {
  auto model = std::make_shared<LSTMLinearModel>(8, 8, 8, 1);
  auto gm = ao::trace(model, {ones({1, 8})});
  EXPECT_EQ(summary(gm->graph()),
            (std::vector<std::string>{"placeholder:x", "call_module:lstm", "call_function:getitem",
                                      "call_function:getitem", "call_module:linear", "output:output"}));
  Node* lstm = gm->graph().find("lstm");
  ASSERT_EQ(lstm->users().size(), 2u);
  Node* get0 = lstm->users()[0];
  EXPECT_EQ(get0->name(), "getitem");
  EXPECT_EQ(get0->index(), 0);
  EXPECT_EQ(get0->users()[0]->target(), "linear");
  EXPECT_EQ(lstm->users()[1]->index(), 1);
  // The output is (linear, getitem): the raw LSTM output is its second element.
  EXPECT_EQ(gm->graph().output()->args()[0].str(), "(linear, getitem)");
}

TEST(TraceTest, LstmLayerNormLinearOutputsTheStateTuple) {
  auto model = std::make_shared<LSTMLayerNormLinearModel>(8, 8, 8, 1);
  auto gm = ao::trace(model, {ones({1, 8})});
  EXPECT_EQ(first_user_chain(gm->graph()), (std::vector<std::string>{"lstm", "getitem", "norm", "linear", "output"}));
  EXPECT_EQ(gm->graph().output()->args()[0].str(), "(linear, getitem_1)");
  nn::Value a = model->call({ones({1, 8})}), b = gm->call({ones({1, 8})});
  EXPECT_TENSOR_EQ(b[1][0].tensor(), a[1][0].tensor());
  EXPECT_TENSOR_EQ(b[1][1].tensor(), a[1][1].tensor());
}

// y = fc2(relu(fc1(x))) + fc1(x): fc1 has two users.
class Residual : public nn::UnaryModule {
 public:
  Residual() : UnaryModule("Residual") {
    register_module("fc1", std::make_shared<nn::Linear>(4, 4));
    register_module("fc2", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*child("fc1"))(x);
    return (*child("fc2"))(F::relu(h)) + h;
  }
};

TEST(TraceTest, ResidualAddHasTwoUsers) {
  auto model = std::make_shared<Residual>();
  auto gm = ao::trace(model, {randn({2, 4})});
  Node* fc1 = gm->graph().find("fc1");
  ASSERT_EQ(fc1->users().size(), 2u);
  EXPECT_EQ(fc1->users()[0]->target(), "relu");
  EXPECT_EQ(fc1->users()[1]->target(), "add");
  Node* add = gm->graph().find("add");
  EXPECT_EQ(add->input_nodes().size(), 2u);
  EXPECT_EQ(add->input_nodes()[0]->name(), "fc2");
  expect_replay_equal(model, gm, randn({3, 4}));
}

// cat of two branches, then a split whose pieces are summed.
class CatSplit : public nn::UnaryModule {
 public:
  CatSplit() : UnaryModule("CatSplit") {
    register_module("a", std::make_shared<nn::Linear>(3, 2));
    register_module("b", std::make_shared<nn::Linear>(3, 4));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = cat({(*child("a"))(x), (*child("b"))(x)}, 1);
    TensorList parts = y.chunk(2, 1);
    return parts[0] * 2.0 - parts[1];
  }
};

TEST(TraceTest, CatTakesAListAndChunkGivesGetitems) {
  auto model = std::make_shared<CatSplit>();
  auto gm = ao::trace(model, {randn({2, 3})});
  Node* c = gm->graph().find("cat");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->args()[0].str(), "[a, b]");
  EXPECT_EQ(c->kwargs().at(0).second, "1");
  Node* chunk = gm->graph().find("chunk");
  ASSERT_EQ(chunk->users().size(), 2u);
  EXPECT_EQ(chunk->users()[0]->index(), 0);
  EXPECT_EQ(gm->graph().find("mul")->args()[1].str(), "2.0");
  expect_replay_equal(model, gm, randn({5, 3}));
  EXPECT_NE(gm->graph().print_tabular().find("call_function  cat"), std::string::npos) << gm->graph().print_tabular();
}

TEST(TraceTest, MutatingTheOriginalChangesTheTracedModule) {
  auto model = std::make_shared<SimpleLinear>();
  auto gm = ao::trace(model, {randn({2, 7})});
  Tensor x = randn({2, 7});
  Tensor before = gm->call({x}).tensor();
  {
    NoGradGuard no_grad;
    model->find_module("linear1")->get("weight").zero_();
  }
  Tensor after = gm->call({x}).tensor();
  EXPECT_TENSOR_EQ(after, zeros({2, 10}));
  EXPECT_FALSE(equal(before, after));
  EXPECT_EQ(gm->child("seq").get(), model->child("seq").get());
}

// A parametrization that zeroes row 0.
class ZeroRow : public nn::UnaryModule {
 public:
  ZeroRow() : UnaryModule("ZeroRow") {}
  Tensor forward(const Tensor& w) override {
    Tensor mask = ones_like(w);
    mask.index_put_({0}, 0.0);
    return w * mask;
  }
};

TEST(TraceTest, ParametrizedLinearIsOneNode) {
  auto model = std::make_shared<SimpleLinear>();
  nn::register_parametrization(*model->find_module("seq.1"), "weight", std::make_shared<ZeroRow>());
  auto gm = ao::trace(model, {randn({2, 7})});
  EXPECT_EQ(summary(gm->graph()).size(), 7u);
  EXPECT_TRUE(gm->graph().find("seq_1")->is_module<nn::Linear>());
  expect_replay_equal(model, gm, randn({3, 7}));
}

class MyLinear : public nn::Linear {
 public:
  MyLinear() : nn::Linear(4, 3) {}
};

class UsesMyLinear : public nn::UnaryModule {
 public:
  UsesMyLinear() : UnaryModule("UsesMyLinear") { register_module("fc", std::make_shared<MyLinear>()); }
  Tensor forward(const Tensor& x) override { return (*child("fc"))(x); }
};

TEST(TraceTest, SubclassOfLinearIsTracedThroughUnlessMarked) {
  auto model = std::make_shared<UsesMyLinear>();
  auto gm = ao::trace(model, {randn({2, 4})});
  EXPECT_EQ(summary(gm->graph()), (std::vector<std::string>{"placeholder:x", "get_attr:fc.weight", "get_attr:fc.bias",
                                                            "call_function:linear", "output:output"}));
  EXPECT_EQ(gm->graph().find("linear")->args()[1].str(), "fc_weight");
  expect_replay_equal(model, gm, randn({3, 4}));

  ao::mark_leaf<MyLinear>();
  auto marked = ao::trace(model, {randn({2, 4})});
  EXPECT_EQ(summary(marked->graph()), (std::vector<std::string>{"placeholder:x", "call_module:fc", "output:output"}));
  EXPECT_FALSE(marked->graph().find("fc")->is_module<nn::Linear>());
  EXPECT_TRUE(marked->graph().find("fc")->is_module<MyLinear>());
}

class Raises : public nn::UnaryModule {
 public:
  Raises() : UnaryModule("Raises") { register_module("fc", std::make_shared<nn::Linear>(4, 3)); }
  Tensor forward(const Tensor& x) override { return (*child("fc"))(x).view({7}); }
};

TEST(TraceTest, AnExceptionLeavesNoRecorderActive) {
  auto model = std::make_shared<Raises>();
  EXPECT_THROW(ao::trace(model, {randn({2, 4})}), RuntimeError);
  EXPECT_EQ(trace::active(), nullptr);
  EXPECT_EQ(trace::depth(), 0);
}

TEST(TraceTest, NodeOfTellsWhereATensorCameFrom) {
  auto model = std::make_shared<SimpleLinear>();
  Tensor x = randn({2, 7});
  auto gm = ao::trace(model, {x});
  EXPECT_EQ(gm->graph().node_of(x)->op(), Opcode::placeholder);
  Tensor out = gm->graph().output()->example().tensor();
  EXPECT_EQ(gm->graph().node_of(out)->name(), "linear2");
  EXPECT_EQ(gm->graph().node_of(randn({2})), nullptr);
}

// ---- in-place ops, and ops the tracer does not record -------------------------------------------

// out = fc2(relu(fc1(x))); out.add_(x); out += 1; out.relu_(): recorded in-place ops, whose node
// replaces the tensor's producer.
class InPlaceResidual : public nn::UnaryModule {
 public:
  InPlaceResidual() : UnaryModule("InPlaceResidual") {
    register_module("fc1", std::make_shared<nn::Linear>(4, 4));
    register_module("fc2", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = (*child("fc2"))(F::relu((*child("fc1"))(x)));
    out.add_(x);
    out += 1.0;
    out.relu_();
    return out.mul_(x);
  }
};

TEST(TraceTest, InPlaceOpsAreNodesAndReplay) {
  manual_seed(0);
  auto model = std::make_shared<InPlaceResidual>();
  auto gm = ao::trace(model, {randn({2, 4})});
  EXPECT_EQ(summary(gm->graph()),
            (std::vector<std::string>{"placeholder:x", "call_module:fc1", "call_function:relu", "call_module:fc2",
                                      "call_function:add_", "call_function:add_", "call_function:relu_",
                                      "call_function:mul_", "output:output"}));
  Node* add = gm->graph().find("add_");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->args()[0].str(), "fc2");
  EXPECT_EQ(add->args()[1].str(), "x");
  EXPECT_EQ(gm->graph().find("fc2")->users().size(), 1u);
  EXPECT_EQ(gm->graph().find("add__1")->args()[0].str(), "add_");
  EXPECT_EQ(gm->graph().find("add__1")->args()[1].str(), "1.0");
  EXPECT_EQ(gm->graph().find("relu_")->args()[0].str(), "add__1");
  EXPECT_EQ(gm->graph().find("mul_")->args()[0].str(), "relu_");
  EXPECT_EQ(gm->graph().output()->args()[0].str(), "mul_");
  // A replay on another input runs the in-place ops on it (a captured constant would not).
  Tensor x = randn({3, 4});
  Tensor want = model->call({x}).tensor();
  Tensor got = gm->call({x}).tensor();
  EXPECT_EQ(got.dtype(), kFloat32);
  EXPECT_TENSOR_EQ(got, want);
}

// The forward changes its input in place; the caller's example tensor stays as it was.
class ScalesInput : public nn::UnaryModule {
 public:
  ScalesInput() : UnaryModule("ScalesInput") { register_module("fc", std::make_shared<nn::Linear>(3, 2)); }
  Tensor forward(const Tensor& x) override {
    x.mul_(2.0);
    return (*child("fc"))(x);
  }
};

TEST(TraceTest, InPlaceOnTheInputLeavesTheExampleUnchanged) {
  auto model = std::make_shared<ScalesInput>();
  Tensor x = randn({2, 3});
  Tensor copy = x.clone();
  auto gm = ao::trace(model, {x});
  EXPECT_TENSOR_EQ(x, copy);
  EXPECT_FALSE(x.requires_grad());
  EXPECT_EQ(gm->graph().node_of(x)->op(), Opcode::placeholder);
  EXPECT_EQ(gm->graph().find("fc")->args()[0].str(), "mul_");
  Tensor a = randn({4, 3});
  Tensor b = a.clone();
  EXPECT_TENSOR_EQ(gm->call({a}).tensor(), model->call({b}).tensor());
}

// sin is not among the recorded ops (twig/tensor/trace.h): its result would become a constant.
class UsesSin : public nn::UnaryModule {
 public:
  UsesSin() : UnaryModule("UsesSin") {
    register_module("fc1", std::make_shared<nn::Linear>(4, 3));
    register_module("fc2", std::make_shared<nn::Linear>(3, 2));
  }
  Tensor forward(const Tensor& x) override { return (*child("fc2"))((*child("fc1"))(x).sin()); }
};

// masked_fill_ is an in-place op the tracer does not record.
class UsesMaskedFill : public nn::UnaryModule {
 public:
  UsesMaskedFill() : UnaryModule("UsesMaskedFill") { register_module("fc", std::make_shared<nn::Linear>(4, 3)); }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*child("fc"))(x);
    h.masked_fill_(h.lt(0), 0.0);
    return h * 2.0;
  }
};

TEST(TraceTest, AnUnrecordedOpIsAnErrorNotAConstant) {
  auto model = std::make_shared<UsesSin>();
  Tensor before = model->find_module("fc1")->get("weight").clone();
  try {
    ao::trace(model, {randn({5, 4})});
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("the input of fc2 (a tensor of shape [5, 3]) was computed by an op the tracer does not record"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(trace::active(), nullptr);
  EXPECT_EQ(trace::depth(), 0);
  EXPECT_TENSOR_EQ(model->find_module("fc1")->get("weight"), before);
  EXPECT_FALSE(model->find_module("fc1")->get("weight").grad().defined());

  auto filled = std::make_shared<UsesMaskedFill>();
  try {
    ao::trace(filled, {randn({2, 4})});
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("the input of mul (a tensor of shape [2, 3]) was modified in place by an op the tracer does "
                       "not record"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(trace::active(), nullptr);
}

// A tensor created in the forward that depends on neither input nor parameters is a constant.
class AddsZeros : public nn::UnaryModule {
 public:
  AddsZeros() : UnaryModule("AddsZeros") { register_module("fc", std::make_shared<nn::Linear>(3, 2)); }
  Tensor forward(const Tensor& x) override {
    Tensor bias = zeros({2});
    bias.fill_(0.5);  // changing a constant in place is fine too
    return (*child("fc"))(x) + bias;
  }
};

TEST(TraceTest, AConstantCreatedInTheForwardIsFine) {
  auto model = std::make_shared<AddsZeros>();
  auto gm = ao::trace(model, {randn({2, 3})});
  EXPECT_EQ(summary(gm->graph()),
            (std::vector<std::string>{"placeholder:x", "call_module:fc", "call_function:add", "output:output"}));
  Node* add = gm->graph().find("add");
  EXPECT_EQ(add->input_nodes().size(), 1u);
  EXPECT_EQ(add->args()[1].str(), "tensor(shape=[2], dtype=float32)");
  Tensor x = randn({4, 3});
  EXPECT_TENSOR_EQ(gm->call({x}).tensor(), model->call({x}).tensor());
}

}  // namespace
}  // namespace twig
