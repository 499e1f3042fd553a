// ao::trace against torch.fx: the graph of every common_pruning model (and of a residual add and a
// cat) equals the one torch.fx.symbolic_trace recorded in PyTorch 1.13
// (tools/gen_ao_graph_fixtures.py -> tests/fixtures/ao_graph.json), node by node: opcode, order,
// name, target (call_function targets through the table below), the input nodes of each node and
// its users, both by position, and getitem's index.
//
// Where twig and fx differ, and why:
// - Placeholder names: fx takes the forward's parameter name ("input" gives "input_1", LSTMLinearModel);
//   C++ cannot know it, so twig names every input "x", "x_1", ... Only placeholders' names and
//   targets are not compared.
// - Constant arguments are not compared: fx keeps Python's call as written (F.max_pool2d(x, 2,
//   stride=2, ...) has 2 positional), twig records every op in one canonical form (all constants
//   as kwargs by name). The edges between nodes, what the pruners match on, are compared.
// - call_function targets are twig's own names (twig records x.flatten(1) and flatten(x, 1) alike
//   as "flatten"; fx has call_method for the first, call_function for the second).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "models/common_pruning.h"
#include "tests/fixture_file.h"
#include "tests/testing.h"
#include "twig/ao/graph.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/tensor/random.h"

namespace twig {
namespace {

using namespace twig::testing::models;
using ao::Node;
using json = nlohmann::json;
namespace F = nn::functional;

const json& fixture() { return testing::load_fixture("ao_graph.json", "gen_ao_graph_fixtures.py"); }

// fx's call_function target (qualified name) -> twig's.
const std::map<std::string, std::string>& function_names() {
  static const std::map<std::string, std::string> names = {
      {"torch.nn.functional.relu", "relu"},
      {"torch.nn.functional.hardtanh", "hardtanh"},
      {"torch.nn.functional.max_pool2d", "max_pool2d"},
      {"torch._C._nn.avg_pool2d", "avg_pool2d"},
      {"torch.flatten", "flatten"},
      {"_operator.getitem", "getitem"},
      {"_operator.add", "add"},
      {"torch.cat", "cat"},
  };
  return names;
}

// h = fc1(x); fc2(relu(h)) + h: fc1 has two users.
class ResidualAdd : public nn::UnaryModule {
 public:
  ResidualAdd() : UnaryModule("ResidualAdd") {
    register_module("fc1", std::make_shared<nn::Linear>(4, 4));
    register_module("fc2", std::make_shared<nn::Linear>(4, 4));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = (*child("fc1"))(x);
    return (*child("fc2"))(F::relu(h)) + h;
  }
};

// fc(relu(cat([a(x), b(x)], 1))).
class CatBranches : public nn::UnaryModule {
 public:
  CatBranches() : UnaryModule("CatBranches") {
    register_module("a", std::make_shared<nn::Linear>(3, 2));
    register_module("b", std::make_shared<nn::Linear>(3, 4));
    register_module("fc", std::make_shared<nn::Linear>(6, 5));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = cat({(*child("a"))(x), (*child("b"))(x)}, 1);
    return (*child("fc"))(F::relu(y));
  }
};

nn::ModulePtr make(const std::string& name) {
  if (name == "SimpleLinear") return std::make_shared<SimpleLinear>();
  if (name == "LinearBias") return std::make_shared<LinearBias>();
  if (name == "LinearActivation") return std::make_shared<LinearActivation>();
  if (name == "LinearActivationFunctional") return std::make_shared<LinearActivationFunctional>();
  if (name == "SimpleConv2d") return std::make_shared<SimpleConv2d>();
  if (name == "Conv2dBias") return std::make_shared<Conv2dBias>();
  if (name == "Conv2dActivation") return std::make_shared<Conv2dActivation>();
  if (name == "Conv2dPadBias") return std::make_shared<Conv2dPadBias>();
  if (name == "Conv2dPool") return std::make_shared<Conv2dPool>();
  if (name == "Conv2dPoolFlattenFunctional") return std::make_shared<Conv2dPoolFlattenFunctional>();
  if (name == "Conv2dPoolFlatten") return std::make_shared<Conv2dPoolFlatten>();
  if (name == "LSTMLinearModel") return std::make_shared<LSTMLinearModel>(8, 8, 8, 1);
  if (name == "LSTMLayerNormLinearModel") return std::make_shared<LSTMLayerNormLinearModel>(8, 8, 8, 1);
  if (name == "ResidualAdd") return std::make_shared<ResidualAdd>();
  if (name == "CatBranches") return std::make_shared<CatBranches>();
  return nullptr;
}

// The node names an fx argument refers to, in order, each once (fx's all_input_nodes).
void fx_input_names(const json& arg, std::vector<std::string>& out) {
  if (arg.contains("node")) {
    std::string n = arg.at("node");
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  } else if (arg.contains("list") || arg.contains("tuple")) {
    for (const json& item : arg.contains("list") ? arg.at("list") : arg.at("tuple")) fx_input_names(item, out);
  }
}

TEST(TraceFxTest, EveryGraphMatchesTorchFx) {
  const json& models = fixture().at("models");
  ASSERT_EQ(models.size(), 15u);
  for (const json& m : models) {
    const std::string model_name = m.at("model");
    SCOPED_TRACE(model_name);
    nn::ModulePtr model = make(model_name);
    ASSERT_NE(model, nullptr);
    manual_seed(0);
    Tensor x = randn(m.at("input_shape").get<Shape>());
    auto gm = ao::trace(model, {x});
    std::vector<Node*> nodes = gm->graph().nodes();
    const json& want = m.at("nodes");
    ASSERT_EQ(nodes.size(), want.size()) << gm->graph().print_tabular();

    // Position of each node: twig's by pointer, fx's by name.
    std::map<const Node*, size_t> twig_pos;
    std::map<std::string, size_t> fx_pos;
    for (size_t i = 0; i < nodes.size(); ++i) {
      twig_pos[nodes[i]] = i;
      fx_pos[want[i].at("name")] = i;
    }
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node* n = nodes[i];
      const json& w = want[i];
      const std::string op = w.at("op");
      SCOPED_TRACE("node " + std::to_string(i) + " (fx: " + std::string(w.at("name")) + ")");
      EXPECT_EQ(ao::opcode_name(n->op()), op);
      if (op == "call_function") {
        auto it = function_names().find(w.at("target"));
        ASSERT_NE(it, function_names().end()) << "no twig name for " << w.at("target");
        EXPECT_EQ(n->target(), it->second);
      } else if (op != "placeholder") {
        EXPECT_EQ(n->target(), w.at("target"));
      }
      if (op != "placeholder") {
        EXPECT_EQ(n->name(), w.at("name"));
      }
      if (n->target() == "getitem") {
        EXPECT_EQ(std::to_string(n->index()), w.at("args").at(1).at("const"));
      }
      if (op == "call_module") {
        EXPECT_EQ(n->module().get(), model->find_module(n->target()).get());
      }

      std::vector<size_t> twig_inputs, fx_inputs, twig_users, fx_users;
      for (const Node* in : n->input_nodes()) twig_inputs.push_back(twig_pos.at(in));
      std::vector<std::string> names;
      for (const json& a : w.at("args")) fx_input_names(a, names);
      for (const auto& [k, a] : w.at("kwargs").items()) fx_input_names(a, names);
      for (const std::string& name : names) fx_inputs.push_back(fx_pos.at(name));
      EXPECT_EQ(twig_inputs, fx_inputs);
      for (const Node* u : n->users()) twig_users.push_back(twig_pos.at(u));
      for (const json& u : w.at("users")) fx_users.push_back(fx_pos.at(u));
      EXPECT_EQ(twig_users, fx_users);
    }
  }
}

}  // namespace
}  // namespace twig
