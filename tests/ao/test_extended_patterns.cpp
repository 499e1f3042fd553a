// ao::extended_patterns(): the patterns a LeNet- or VGG-style model needs that PyTorch's table
// lacks. Each through prune() on random masks, both prune_bias settings: the shrunk model computes
// what the masked model computed (its kept outputs), the parameter count drops by exactly what the
// masks remove, and the flatten -> Linear columns follow the pooled spatial size (channel c owns
// columns c*H*W .. (c+1)*H*W - 1). Where the conversion cannot be exact the test says by how much.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "examples/fashion_models.h"
#include "tests/ao/structured_pruners.h"
#include "tests/testing.h"
#include "twig/ao/extended_patterns.h"
#include "twig/ao/pruners.h"
#include "twig/nn/activation.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"

namespace twig::ao {
namespace {

using indexing::Slice;
using testing::SimplePruner;
using testing::structured_parametrization;

// Building the table once: prune() itself does not depend on how often it is built.
const PatternTable& table() {
  static const PatternTable t = extended_patterns();
  return t;
}

// A model whose forward is given as a function of its registered children.
class Net : public nn::UnaryModule {
 public:
  Net() : nn::UnaryModule("Net") {}
  std::function<Tensor(const Tensor&)> fwd;
  Tensor forward(const Tensor& x) override { return fwd(x); }
};

Tensor random_mask(int64_t n, std::mt19937& rng) {
  // At least one row kept and (n > 1) one removed.
  std::vector<int64_t> keep(static_cast<size_t>(n));
  for (auto& k : keep) k = std::bernoulli_distribution(0.5)(rng) ? 1 : 0;
  const size_t on = std::uniform_int_distribution<size_t>(0, keep.size() - 1)(rng);
  keep[on] = 1;
  if (n > 1) keep[(on + 1 + std::uniform_int_distribution<size_t>(0, keep.size() - 2)(rng)) % keep.size()] = 0;
  return from_vector(keep).to(kBool);
}

int64_t kept(const Tensor& mask) { return mask.sum().item<int64_t>(); }

int64_t param_count(const nn::Module& m) {
  int64_t n = 0;
  for (const auto& t : m.parameters()) n += t.numel();
  return n;
}

// Prepares every Linear / Conv2d of `model` (a SimplePruner, prune_bias as given), then sets each
// module's row mask to the one given.
std::unique_ptr<SimplePruner> prepare_with(const nn::ModulePtr& model, bool prune_bias,
                                           const std::vector<std::pair<nn::Module*, Tensor>>& masks) {
  auto pruner = std::make_unique<SimplePruner>(Dict{{"prune_bias", prune_bias}}, table());
  pruner->prepare(model, std::nullopt);
  for (const auto& [module, mask] : masks) structured_parametrization(*module, "weight")->mask().copy_(mask);
  return pruner;
}

void expect_converted(nn::Module& model) {
  for (const auto& m : model.modules()) {
    EXPECT_FALSE(nn::is_parametrized(*m)) << m->repr();
    EXPECT_FALSE(m->has("_bias")) << m->repr();
  }
}

// ---- the activations and pools the tests run -----------------------------------------------------

struct Stage {
  std::string name;
  nn::ModulePtr module;                        // a module stage, else
  std::function<Tensor(const Tensor&)> apply;  // a function stage
  bool zero_at_zero = true;                    // act(0) == 0
};

std::vector<Stage> activations() {
  return {{"none", nullptr, nullptr},
          {"relu", nullptr, [](const Tensor& t) { return nn::F::relu(t); }},
          {"ReLU", std::make_shared<nn::ReLU>(), nullptr},
          {"tanh", nullptr, [](const Tensor& t) { return nn::F::tanh(t); }},
          {"Tanh", std::make_shared<nn::Tanh>(), nullptr},
          {"sigmoid", nullptr, [](const Tensor& t) { return nn::F::sigmoid(t); }, false},
          {"GELU", std::make_shared<nn::GELU>(), nullptr}};
}

// Pools under which a constant map stays constant (no padding counted in an average).
std::vector<Stage> pools() {
  return {{"none", nullptr, nullptr},
          {"MaxPool2d", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2)), nullptr},
          {"max_pool2d", nullptr, [](const Tensor& t) { return nn::F::max_pool2d(t, {2}, {2}, {1}); }},
          {"AvgPool2d", std::make_shared<nn::AvgPool2d>(nn::AvgPool2dOptions(2)), nullptr},
          {"avg_pool2d", nullptr, [](const Tensor& t) { return nn::F::avg_pool2d(t, {3}, {2}); }},
          {"AdaptiveAvgPool2d", std::make_shared<nn::AdaptiveAvgPool2d>(nn::SpatialInts({3, 2})), nullptr},
          {"adaptive_max_pool2d", nullptr, [](const Tensor& t) {
             return nn::F::adaptive_max_pool2d(t, {2, 3});
           }}};
}

Tensor run_stage(const Stage& s, const Tensor& x) {
  if (s.module) return std::dynamic_pointer_cast<nn::UnaryModule>(s.module)->operator()(x);
  return s.apply ? s.apply(x) : x;
}

// conv -> (act, pool | pool, act) -> flatten -> fc: the pieces and the model.
struct ConvFlattenNet {
  std::shared_ptr<Net> net = std::make_shared<Net>();
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> fc;
  int64_t hw = 0;  // the pooled H*W that flatten multiplies the channels by
};

ConvFlattenNet make_conv_flatten_net(int64_t cin, int64_t c, bool bias, const Stage& act, const Stage& pool,
                                     bool pool_first, bool flatten_module, int64_t out, int64_t kernel = 3,
                                     int64_t padding = 1) {
  ConvFlattenNet n;
  n.conv = n.net->register_module(
      "conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(cin, c, kernel).padding(padding).bias(bias)));
  if (act.module) n.net->register_module("act", act.module);
  if (pool.module) n.net->register_module("pool", pool.module);
  auto flatten = std::make_shared<nn::Flatten>();
  if (flatten_module) n.net->register_module("flatten", flatten);
  // (Captures the conv, not `n`: n holds the net, whose fwd holds this body; a cycle would leak.)
  auto conv = n.conv;
  auto body = [conv, act, pool, pool_first](const Tensor& x) {
    Tensor h = (*conv)(x);
    h = pool_first ? run_stage(act, run_stage(pool, h)) : run_stage(pool, run_stage(act, h));
    return h;
  };
  {
    NoGradGuard g;
    Tensor h = body(zeros({1, cin, 8, 9}));
    n.hw = h.size(2) * h.size(3);
  }
  n.fc = n.net->register_module("fc", std::make_shared<nn::Linear>(c * n.hw, out));
  auto fc = n.fc;
  n.net->fwd = [=](const Tensor& x) {
    Tensor h = body(x);
    h = flatten_module ? (*flatten)(h) : h.flatten(1);
    return (*fc)(h);
  };
  return n;
}

// ---- Conv2d -> [activation] -> [pool] -> flatten -> Linear ----------------------------------------

TEST(TestExtendedPatterns, conv2d_activation_pool_flatten_linear) {
  std::mt19937 rng(15);
  int cases = 0, exact = 0;
  for (bool prune_bias : {true, false})
    for (bool bias : {true, false})
      for (const Stage& act : activations())
        for (const Stage& pool : pools())
          for (bool pool_first : {false, true})
            for (bool flatten_module : {false, true}) {
              if (pool_first && (act.name == "none" || pool.name == "none")) continue;  // the same pattern
              manual_seed(static_cast<uint64_t>(cases));
              const int64_t cin = 1 + cases % 2, c = 2 + cases % 4, out = 2 + cases % 3;
              ConvFlattenNet n = make_conv_flatten_net(cin, c, bias, act, pool, pool_first, flatten_module, out);
              const std::string what = "act=" + act.name + " pool=" + pool.name +
                                       " pool_first=" + std::to_string(pool_first) +
                                       " flatten_module=" + std::to_string(flatten_module) +
                                       " prune_bias=" + std::to_string(prune_bias) + " bias=" + std::to_string(bias);
              const int64_t params_dense = param_count(*n.net);
              const Tensor w_fc = n.fc->weight().detach().clone();
              Tensor mc = random_mask(c, rng), mf = random_mask(out, rng);
              auto pruner = prepare_with(n.net, prune_bias, {{n.conv.get(), mc}, {n.fc.get(), mf}});
              Tensor x = randn({3, cin, 8, 9});
              Tensor y_masked = n.net->call({nn::Value(x)}).tensor().index({Slice(), mf});

              auto traced = pruner->prune(nn::Values{nn::Value(x)});
              Tensor y = n.net->call({nn::Value(x)}).tensor();
              Tensor y_traced = traced->call({nn::Value(x)}).tensor();

              const int64_t kc = kept(mc), kf = kept(mf);
              ASSERT_EQ(y.sizes(), (Shape{3, kf})) << what;
              EXPECT_EQ(y.dtype(), kFloat32);
              EXPECT_TRUE(equal(y, y_traced)) << what;
              EXPECT_EQ(n.conv->options.out_channels_, kc) << what;
              EXPECT_EQ(n.conv->weight().sizes(), (Shape{kc, cin, 3, 3})) << what;
              EXPECT_EQ(n.fc->options.in_features_, kc * n.hw) << what;
              // Channel c owns the columns c*H*W .. (c+1)*H*W - 1 of the pooled map.
              Tensor columns = mc.repeat_interleave(n.hw);
              EXPECT_TRUE(equal(n.fc->weight(), w_fc.index({mf}).index({Slice(), columns}))) << what;
              EXPECT_EQ(param_count(*n.net), kc * cin * 9 + (bias ? kc : 0) + kf * kc * n.hw + kf) << what;
              EXPECT_EQ(
                  params_dense - param_count(*n.net),
                  (c - kc) * cin * 9 + (bias ? c - kc : 0) + (out - kf) * c * n.hw + (out - kf) + kf * (c - kc) * n.hw)
                  << what;
              expect_converted(*n.net);

              // Exact unless act(0) != 0 reaches the Linear from a removed channel: with prune_bias
              // (its bias was zeroed) or without a bias to propagate. Then the masked model had
              // fc.weight[:, removed columns] · act(0) more.
              if (act.zero_at_zero || (bias && !prune_bias)) {
                EXPECT_TRUE(allclose(y, y_masked, 1e-4, 1e-5)) << what << "\n" << y << "\n" << y_masked;
                ++exact;
              } else {
                const double act0 = 0.5;  // sigmoid(0)
                Tensor lost = w_fc.index({mf}).index({Slice(), ~columns}).sum({1}) * act0;
                EXPECT_FALSE(allclose(y, y_masked, 1e-4, 1e-5)) << what;
                EXPECT_TRUE(allclose(y_masked - y, lost.unsqueeze(0).expand({3, kf}), 1e-4, 1e-5)) << what;
              }
              ++cases;
            }
  // Per prune_bias, bias and flatten: 7 activations x 7 pools x 2 orders, less the 13 pool-first
  // cases without an activation or a pool.
  EXPECT_EQ(cases, 2 * 2 * 2 * (7 * 7 * 2 - 13));
  EXPECT_GT(exact, cases / 2);
}

// Without prune_bias, an AvgPool2d with padding counted in the divisor turns a removed channel's
// constant bias map into one whose border windows are smaller: the conversion, which propagates
// the constant, is not exact there. Not counting the padding, it is.
TEST(TestExtendedPatterns, padded_avg_pool_is_not_exact_without_prune_bias) {
  for (bool count_include_pad : {true, false}) {
    manual_seed(3);
    Stage pool{"AvgPool2d",
               std::make_shared<nn::AvgPool2d>(
                   nn::AvgPool2dOptions(3).stride(2).padding(1).count_include_pad(count_include_pad)),
               nullptr};
    Stage relu{"relu", nullptr, [](const Tensor& t) { return nn::F::relu(t); }};
    ConvFlattenNet n = make_conv_flatten_net(2, 4, true, relu, pool, false, false, 3);
    // Positive biases, so the relu passes them.
    {
      NoGradGuard g;
      n.conv->bias().copy_(tensor({0.5, 1.0, 1.5, 2.0}));
    }
    auto pruner = prepare_with(n.net, /*prune_bias=*/false,
                               {{n.conv.get(), tensor({true, false, true, false})}, {n.fc.get(), ones({3}, kBool)}});
    Tensor x = randn({2, 2, 8, 9});
    Tensor y_masked = n.net->call({nn::Value(x)}).tensor();
    pruner->prune(nn::Values{nn::Value(x)});
    Tensor y = n.net->call({nn::Value(x)}).tensor();
    EXPECT_EQ(n.conv->options.out_channels_, 2);
    if (count_include_pad) {
      EXPECT_FALSE(allclose(y, y_masked, 1e-4, 1e-5));
    } else {
      EXPECT_TRUE(allclose(y, y_masked, 1e-4, 1e-5));
    }
  }
}

// flatten(2) hands the Linear (N, C, H*W): not the (N, C*H*W) the column mapping needs. ValueError
// naming the shapes, before anything changes.
TEST(TestExtendedPatterns, flatten_of_other_dims_is_refused) {
  manual_seed(0);
  auto net = std::make_shared<Net>();
  auto conv = net->register_module("conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 4, 3)));
  auto fc = net->register_module("fc", std::make_shared<nn::Linear>(16, 2));
  net->fwd = [=](const Tensor& x) { return (*fc)((*conv)(x).flatten(2)); };  // (N, 4, 16) -> (N, 4, 2)
  auto pruner = std::make_unique<SimplePruner>(Dict{}, table());
  pruner->prepare(net, std::vector<Dict>{Dict{{"tensor_fqn", "conv.weight"}}});
  pruner->step();
  Tensor x = randn({1, 1, 6, 6});
  try {
    pruner->prune(nn::Values{nn::Value(x)});
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("flatten"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1, 4, 4, 4]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[1, 4, 16]"), std::string::npos) << msg;
  }
  EXPECT_TRUE(nn::is_parametrized(*conv, "weight"));
  EXPECT_EQ(conv->options.out_channels_, 4);
  EXPECT_EQ(fc->weight().sizes(), (Shape{2, 16}));
}

// ---- Linear -> activation -> output, Conv2d -> activation -> output --------------------------------

TEST(TestExtendedPatterns, linear_activation_output) {
  std::mt19937 rng(7);
  int cases = 0;
  for (bool prune_bias : {true, false})
    for (bool bias : {true, false})
      for (const Stage& act : activations()) {
        if (act.name == "none") continue;  // (Linear, output) is PyTorch's
        manual_seed(static_cast<uint64_t>(100 + cases));
        auto net = std::make_shared<Net>();
        auto fc = net->register_module("fc", std::make_shared<nn::Linear>(5, 6, bias));
        if (act.module) net->register_module("act", act.module);
        net->fwd = [=](const Tensor& x) { return run_stage(act, (*fc)(x)); };
        const std::string what =
            act.name + " prune_bias=" + std::to_string(prune_bias) + " bias=" + std::to_string(bias);
        Tensor mask = random_mask(6, rng);
        auto pruner = prepare_with(net, prune_bias, {{fc.get(), mask}});
        Tensor x = randn({4, 5});
        Tensor y_masked = net->call({nn::Value(x)}).tensor().index({Slice(), mask});
        const int64_t before = param_count(*net);
        pruner->prune(nn::Values{nn::Value(x)});
        Tensor y = net->call({nn::Value(x)}).tensor();
        const int64_t k = kept(mask);
        ASSERT_EQ(y.sizes(), (Shape{4, k})) << what;
        EXPECT_TRUE(allclose(y, y_masked, 1e-5, 1e-6)) << what;
        EXPECT_EQ(fc->options.out_features_, k);
        EXPECT_EQ(param_count(*net), k * 5 + (bias ? k : 0)) << what;
        EXPECT_EQ(before - param_count(*net), (6 - k) * 5 + (bias ? 6 - k : 0)) << what;
        expect_converted(*net);
        ++cases;
      }
  EXPECT_EQ(cases, 2 * 2 * 6);
}

TEST(TestExtendedPatterns, default_table_cannot_prune_linear_activation_output) {
  auto net = std::make_shared<Net>();
  auto fc = net->register_module("fc", std::make_shared<nn::Linear>(5, 6));
  net->fwd = [=](const Tensor& x) { return (*fc)(x).relu(); };
  SimplePruner plain;
  plain.prepare(net, std::nullopt);
  plain.step();
  EXPECT_THROW(plain.prune(nn::Values{nn::Value(randn({2, 5}))}), RuntimeError);
  SimplePruner extended(Dict{}, table());
  auto net2 = std::make_shared<Net>();
  auto fc2 = net2->register_module("fc", std::make_shared<nn::Linear>(5, 6));
  net2->fwd = [=](const Tensor& x) { return (*fc2)(x).relu(); };
  extended.prepare(net2, std::nullopt);
  extended.step();
  extended.prune(nn::Values{nn::Value(randn({2, 5}))});
  EXPECT_EQ(fc2->weight().sizes(), (Shape{5, 5}));
}

TEST(TestExtendedPatterns, conv2d_activation_output) {
  std::mt19937 rng(8);
  int cases = 0;
  for (bool prune_bias : {true, false})
    for (bool bias : {true, false})
      for (const Stage& act : activations()) {
        if (act.name == "none") continue;  // (Conv2d, output) is PyTorch's
        manual_seed(static_cast<uint64_t>(200 + cases));
        auto net = std::make_shared<Net>();
        auto conv = net->register_module(
            "conv", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 5, 3).padding(1).bias(bias)));
        if (act.module) net->register_module("act", act.module);
        net->fwd = [=](const Tensor& x) { return run_stage(act, (*conv)(x)); };
        const std::string what =
            act.name + " prune_bias=" + std::to_string(prune_bias) + " bias=" + std::to_string(bias);
        Tensor mask = random_mask(5, rng);
        auto pruner = prepare_with(net, prune_bias, {{conv.get(), mask}});
        Tensor x = randn({2, 2, 6, 7});
        Tensor y_masked = net->call({nn::Value(x)}).tensor().index({Slice(), mask});
        const int64_t before = param_count(*net);
        pruner->prune(nn::Values{nn::Value(x)});
        Tensor y = net->call({nn::Value(x)}).tensor();
        const int64_t k = kept(mask);
        ASSERT_EQ(y.sizes(), (Shape{2, k, 6, 7})) << what;
        EXPECT_TRUE(allclose(y, y_masked, 1e-5, 1e-6)) << what;
        EXPECT_EQ(conv->options.out_channels_, k);
        EXPECT_EQ(before - param_count(*net), (5 - k) * 18 + (bias ? 5 - k : 0)) << what;
        expect_converted(*net);
        ++cases;
      }
  EXPECT_EQ(cases, 2 * 2 * 6);
}

// ---- the models of apps/twig ---------------------------------------------------------------------

// LeNet-5 (conv1 -> relu -> MaxPool2d -> conv2 -> relu -> MaxPool2d -> flatten -> fc1 -> relu -> fc2 ->
// relu -> fc3) shrinks end to end with the extended table; with PyTorch's, conv2 stays masked.
TEST(TestExtendedPatterns, lenet5_shrinks_end_to_end) {
  for (bool prune_bias : {true, false}) {
    manual_seed(5);
    auto lenet = std::make_shared<examples::LeNet5>();
    const std::vector<Dict> config = {Dict{{"tensor_fqn", "conv1.weight"}}, Dict{{"tensor_fqn", "conv2.weight"}},
                                      Dict{{"tensor_fqn", "fc1.weight"}}, Dict{{"tensor_fqn", "fc2.weight"}}};
    SaliencyPruner pruner(Dict{{"sparsity_level", 0.5}, {"prune_bias", prune_bias}}, table());
    pruner.prepare(lenet, config);
    pruner.step();
    Tensor x = randn({4, 1, 28, 28});
    Tensor y_masked = lenet->call({nn::Value(x)}).tensor();
    pruner.prune(nn::Values{nn::Value(zeros({1, 1, 28, 28}))});
    Tensor y = lenet->call({nn::Value(x)}).tensor();
    ASSERT_EQ(y.sizes(), (Shape{4, 10}));
    EXPECT_TRUE(allclose(y, y_masked, 1e-4, 1e-5)) << "prune_bias=" << prune_bias;
    // Saliency at 0.5 removes half the rows of each layer.
    EXPECT_EQ(lenet->conv1->weight().sizes(), (Shape{3, 1, 5, 5}));
    EXPECT_EQ(lenet->conv2->weight().sizes(), (Shape{8, 3, 5, 5}));
    EXPECT_EQ(lenet->fc1->weight().sizes(), (Shape{60, 8 * 25}));
    EXPECT_EQ(lenet->fc2->weight().sizes(), (Shape{42, 60}));
    EXPECT_EQ(lenet->fc3->weight().sizes(), (Shape{10, 42}));
    EXPECT_EQ(lenet->fc3->bias().sizes(), (Shape{10}));
    EXPECT_EQ(param_count(*lenet), 3 * 25 + 3 + 8 * 75 + 8 + 60 * 200 + 60 + 42 * 60 + 42 + 10 * 42 + 10);
    expect_converted(*lenet);
  }
  auto lenet = std::make_shared<examples::LeNet5>();
  SaliencyPruner plain(Dict{{"sparsity_level", 0.5}});
  plain.prepare(lenet, std::vector<Dict>{Dict{{"tensor_fqn", "conv2.weight"}}});
  plain.step();
  EXPECT_THROW(plain.prune(nn::Values{nn::Value(zeros({1, 1, 28, 28}))}), RuntimeError);
  EXPECT_TRUE(nn::is_parametrized(*lenet->conv2, "weight"));
}

TEST(TestExtendedPatterns, mlp_shrinks_end_to_end) {
  manual_seed(6);
  auto mlp = std::make_shared<examples::Mlp>();
  FPGMPruner pruner(0.5, {}, table());
  pruner.prepare(mlp, std::vector<Dict>{Dict{{"tensor_fqn", "fc1.weight"}}, Dict{{"tensor_fqn", "fc2.weight"}}});
  pruner.step();
  Tensor x = randn({3, 1, 28, 28});
  Tensor y_masked = mlp->call({nn::Value(x)}).tensor();
  pruner.prune(nn::Values{nn::Value(zeros({1, 1, 28, 28}))});
  Tensor y = mlp->call({nn::Value(x)}).tensor();
  EXPECT_TRUE(allclose(y, y_masked, 1e-4, 1e-5));
  EXPECT_EQ(mlp->fc1->weight().sizes(), (Shape{150, 784}));
  EXPECT_EQ(mlp->fc2->weight().sizes(), (Shape{50, 150}));
  EXPECT_EQ(mlp->fc3->weight().sizes(), (Shape{10, 50}));
  expect_converted(*mlp);
}

TEST(TestExtendedPatterns, table_extends_pytorchs_in_its_order) {
  const PatternTable defaults = default_patterns();
  const PatternTable& ext = table();
  ASSERT_GT(ext.size(), defaults.size());
  for (size_t i = 0; i < defaults.size(); ++i) EXPECT_TRUE(ext.entries()[i].first == defaults.entries()[i].first);
  using E = PatternElement;
  EXPECT_TRUE(ext.contains(
      {E::module<nn::Conv2d>(), E::fn("relu"), E::module<nn::MaxPool2d>(), E::fn("flatten"), E::module<nn::Linear>()}));
  EXPECT_TRUE(ext.contains({E::module<nn::Linear>(), E::module<nn::ReLU>(), E::output()}));
  EXPECT_TRUE(ext.contains({E::module<nn::Conv2d>(), E::fn("gelu"), E::output()}));
  EXPECT_FALSE(defaults.contains({E::module<nn::Linear>(), E::fn("relu"), E::output()}));
}

}  // namespace
}  // namespace twig::ao
