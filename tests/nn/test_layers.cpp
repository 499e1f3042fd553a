#include <gtest/gtest.h>

#include "layer_fixtures.h"
#include "testing.h"
#include "twig/autograd/node.h"
#include "twig/nn/activation.h"
#include "twig/nn/dropout.h"
#include "twig/nn/embedding.h"
#include "twig/nn/functional.h"
#include "twig/nn/normalization.h"

using namespace twig;
using namespace twig::nn;
using twig::testing::json_int_tensor;
using twig::testing::json_tensor;

namespace {

ModulePtr make_activation(const nlohmann::json& cfg) {
  const std::string t = cfg["type"];
  auto num = [&](const char* key, double def) { return cfg.contains(key) ? cfg[key].get<double>() : def; };
  if (t == "ReLU") return std::make_shared<ReLU>();
  if (t == "RReLU") return std::make_shared<RReLU>(num("lower", 1.0 / 8), num("upper", 1.0 / 3));
  if (t == "Hardtanh") return std::make_shared<Hardtanh>(num("min_val", -1), num("max_val", 1));
  if (t == "ReLU6") return std::make_shared<ReLU6>();
  if (t == "Sigmoid") return std::make_shared<Sigmoid>();
  if (t == "Hardsigmoid") return std::make_shared<Hardsigmoid>();
  if (t == "Tanh") return std::make_shared<Tanh>();
  if (t == "SiLU") return std::make_shared<SiLU>();
  if (t == "Mish") return std::make_shared<Mish>();
  if (t == "Hardswish") return std::make_shared<Hardswish>();
  if (t == "ELU") return std::make_shared<ELU>(num("alpha", 1));
  if (t == "CELU") return std::make_shared<CELU>(num("alpha", 1));
  if (t == "SELU") return std::make_shared<SELU>();
  if (t == "Hardshrink") return std::make_shared<Hardshrink>(num("lambd", 0.5));
  if (t == "LeakyReLU") return std::make_shared<LeakyReLU>(num("negative_slope", 0.01));
  if (t == "LogSigmoid") return std::make_shared<LogSigmoid>();
  if (t == "Softplus") return std::make_shared<Softplus>(num("beta", 1), num("threshold", 20));
  if (t == "PReLU") return std::make_shared<PReLU>(cfg["num_parameters"].get<int64_t>());
  if (t == "Softsign") return std::make_shared<Softsign>();
  if (t == "Tanhshrink") return std::make_shared<Tanhshrink>();
  if (t == "GELU") return std::make_shared<GELU>(cfg["approximate"].get<std::string>());
  if (t == "Softmax") return std::make_shared<Softmax>(cfg["dim"].get<int64_t>());
  if (t == "LogSoftmax") return std::make_shared<LogSoftmax>(cfg["dim"].get<int64_t>());
  throw std::runtime_error("unknown activation " + t);
}

// Runs a fixture case through m: forward, (out * w).sum().backward(), compare with PyTorch.
void check_module_case(Module& m, const nlohmann::json& c, bool int_input = false) {
  SCOPED_TRACE(c["name"].get<std::string>());
  twig::testing::load_params(m, c);
  m.train(c["train"].get<bool>());
  Tensor x = int_input ? json_int_tensor(c["inputs"]["x"]) : json_tensor(c["inputs"]["x"]).requires_grad_();
  Tensor y = m(x);
  EXPECT_MATCHES_TORCH(y, c["outputs"][0], "output");
  (y * json_tensor(c["out_weights"][0])).sum().backward();
  if (!int_input) EXPECT_MATCHES_TORCH(x.grad(), c["grads"]["x"], "grad x");
  for (const auto& [name, p] : m.named_parameters()) EXPECT_MATCHES_TORCH(p.grad(), c["grads"][name], name);
  EXPECT_EQ(m.repr(), c["repr"].get<std::string>());
}

void expect_error_containing(const std::function<void()>& f, const std::string& msg) {
  try {
    f();
    ADD_FAILURE() << "no exception, expected: " << msg;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
  }
}

// A float64 leaf whose values stay at least 0.05 away from the kinks the activations have
// (0, ±0.5, ±1, ±3, 6): finite differences across a kink are meaningless.
Tensor smooth_leaf(const Shape& shape, uint64_t seed) {
  Tensor x = twig::testing::leaf(shape, seed, 2.5).detach();
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) {
    for (double k : {0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, -2.0, 1.5}) {
      if (std::abs(e - k) < 0.05) e = k + 0.07;
    }
  }
  return from_vector(v, shape, kFloat64).requires_grad_();
}

}  // namespace

// ---- activations ------------------------------------------------------------------------------

TEST(ActivationFixture, EveryActivationMatchesTorch) {
  int n = 0;
  for (const auto& c : twig::testing::nn_layer_fixtures()["cases"]) {
    if (c["kind"] != "activation") continue;
    ModulePtr m = make_activation(c["config"]);
    check_module_case(*m, c);
    ++n;
  }
  EXPECT_EQ(n, 25);
}

TEST(ActivationGradcheck, EveryFunctional) {
  using Fn = std::function<Tensor(const Tensor&)>;
  std::vector<std::pair<std::string, Fn>> fns = {
      {"relu", [](const Tensor& x) { return F::relu(x); }},
      {"relu6", [](const Tensor& x) { return F::relu6(x); }},
      {"rrelu_eval", [](const Tensor& x) { return F::rrelu(x, 0.1, 0.3, false); }},
      {"hardtanh", [](const Tensor& x) { return F::hardtanh(x, -2.0, 1.5); }},
      {"sigmoid", [](const Tensor& x) { return F::sigmoid(x); }},
      {"hardsigmoid", [](const Tensor& x) { return F::hardsigmoid(x); }},
      {"tanh", [](const Tensor& x) { return F::tanh(x); }},
      {"silu", [](const Tensor& x) { return F::silu(x); }},
      {"mish", [](const Tensor& x) { return F::mish(x); }},
      {"hardswish", [](const Tensor& x) { return F::hardswish(x); }},
      {"elu", [](const Tensor& x) { return F::elu(x, 0.7); }},
      {"celu", [](const Tensor& x) { return F::celu(x, 1.3); }},
      {"selu", [](const Tensor& x) { return F::selu(x); }},
      {"hardshrink", [](const Tensor& x) { return F::hardshrink(x, 0.5); }},
      {"leaky_relu", [](const Tensor& x) { return F::leaky_relu(x, 0.05); }},
      {"logsigmoid", [](const Tensor& x) { return F::logsigmoid(x); }},
      {"softplus", [](const Tensor& x) { return F::softplus(x, 2.0, 6.0); }},
      {"softsign", [](const Tensor& x) { return F::softsign(x); }},
      {"tanhshrink", [](const Tensor& x) { return F::tanhshrink(x); }},
      {"gelu", [](const Tensor& x) { return F::gelu(x); }},
      {"gelu_tanh", [](const Tensor& x) { return F::gelu(x, "tanh"); }},
      {"softmax", [](const Tensor& x) { return F::softmax(x, 1); }},
      {"log_softmax", [](const Tensor& x) { return F::log_softmax(x, 0); }},
  };
  Tensor x = smooth_leaf({3, 7}, 11);
  for (const auto& [name, fn] : fns) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{fn(in[0])}; }, TensorList{x});
  }
  // Non-contiguous input through the fused kernels.
  auto [xt, base] = twig::testing::noncontiguous({4, 5}, 12);
  auto two_fused = [](const TensorList& in) { return TensorList{F::gelu(in[0].t()), F::silu(in[0].t())}; };
  EXPECT_GRADCHECK(two_fused, TensorList{base});
  // prelu: both the input and the per-channel weight.
  Tensor w = twig::testing::leaf({3}, 13, 0.3);
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{F::prelu(in[0], in[1])}; },
                   (TensorList{smooth_leaf({2, 3, 4}, 14), w}));
  Tensor w1 = twig::testing::leaf({1}, 15, 0.3);
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{F::prelu(in[0], in[1])}; },
                   (TensorList{smooth_leaf({5}, 16), w1}));
}

TEST(ActivationGraph, HotActivationsAreOneNode) {
  Tensor x = randn({4, 4}).requires_grad_();
  EXPECT_EQ(F::gelu(x).grad_fn()->name(), "GeluBackward0");
  EXPECT_EQ(F::silu(x).grad_fn()->name(), "SiluBackward0");
  EXPECT_EQ(F::leaky_relu(x).grad_fn()->name(), "LeakyReluBackward0");
  EXPECT_EQ(F::elu(x).grad_fn()->name(), "EluBackward0");
  EXPECT_EQ(F::softplus(x).grad_fn()->name(), "SoftplusBackward0");
  EXPECT_EQ(F::hardtanh(x).grad_fn()->name(), "HardtanhBackward0");
  EXPECT_EQ(F::relu(x).grad_fn()->name(), "ReluBackward0");
  EXPECT_EQ(F::sigmoid(x).grad_fn()->name(), "SigmoidBackward0");
  EXPECT_EQ(F::tanh(x).grad_fn()->name(), "TanhBackward0");
  // Only the node's own edge: the input is a leaf.
  EXPECT_EQ(F::gelu(x).grad_fn()->next_edges().size(), 1u);
  // No graph when nothing requires grad, and the dtype is kept.
  Tensor y = F::gelu(randn({3}, kFloat64));
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.dtype(), kFloat64);
}

TEST(ActivationRReLU, TrainingSamplesSlopesEvalUsesMean) {
  manual_seed(3);
  Tensor x = full({2000}, -2.0).requires_grad_();
  Tensor y = F::rrelu(x, 0.1, 0.3, true);
  Tensor slope = y.detach() / -2.0;
  EXPECT_GE(slope.min().item<double>(), 0.1);
  EXPECT_LE(slope.max().item<double>(), 0.3);
  EXPECT_NEAR(slope.mean().item<double>(), 0.2, 0.01);
  EXPECT_GT(slope.std({0}).item<double>(), 0.04);  // U(0.1, 0.3) has std 0.058
  y.sum().backward();
  EXPECT_TENSOR_CLOSE(x.grad(), slope, 1e-6, 1e-7);
  Tensor pos = full({10}, 2.0);
  EXPECT_TENSOR_EQ(F::rrelu(pos, 0.1, 0.3, true), pos);
  EXPECT_TENSOR_CLOSE(F::rrelu(full({3}, -2.0), 0.1, 0.3, false), full({3}, -0.4), 1e-6, 1e-7);
  RReLU m(0.1, 0.3);
  m.eval();
  EXPECT_TENSOR_CLOSE(m(full({3}, -2.0)), full({3}, -0.4), 1e-6, 1e-7);
}

TEST(ActivationModules, TypeNamesAndReprsLikePyTorch) {
  const auto& reprs = twig::testing::nn_layer_fixtures()["reprs"];
  std::vector<ModulePtr> mods = {
      std::make_shared<ReLU>(),       std::make_shared<RReLU>(),      std::make_shared<Hardtanh>(),
      std::make_shared<ReLU6>(),      std::make_shared<Sigmoid>(),    std::make_shared<Hardsigmoid>(),
      std::make_shared<Tanh>(),       std::make_shared<SiLU>(),       std::make_shared<Mish>(),
      std::make_shared<Hardswish>(),  std::make_shared<ELU>(),        std::make_shared<CELU>(),
      std::make_shared<SELU>(),       std::make_shared<Hardshrink>(), std::make_shared<LeakyReLU>(),
      std::make_shared<LogSigmoid>(), std::make_shared<Softplus>(),   std::make_shared<PReLU>(),
      std::make_shared<Softsign>(),   std::make_shared<Tanhshrink>(), std::make_shared<GELU>(),
      std::make_shared<Softmax>(1),   std::make_shared<LogSoftmax>(1)};
  ASSERT_EQ(mods.size(), 23u);
  for (const auto& m : mods) {
    ASSERT_TRUE(reprs.contains(m->type_name())) << m->type_name();
    EXPECT_EQ(m->repr(), reprs[m->type_name()].get<std::string>());
    // Clones keep the concrete type and settings.
    ModulePtr c = m->clone();
    EXPECT_EQ(c->type_name(), m->type_name());
    EXPECT_EQ(c->repr(), m->repr());
  }
  PReLU p;
  EXPECT_TRUE(p.is_parameter("weight"));
  EXPECT_NEAR(p.get("weight").item<double>(), 0.25, 1e-7);
  EXPECT_TRUE(std::dynamic_pointer_cast<Hardtanh>(std::make_shared<ReLU6>()) != nullptr);
}

TEST(ActivationErrors, TypedAndNamed) {
  expect_error_containing([] { F::gelu(randn({2}), "x"); }, "approximate argument must be either none or tanh");
  EXPECT_THROW(GELU("fast"), ValueError);
  EXPECT_THROW(F::silu(ones({2}, kInt64)), RuntimeError);
  expect_error_containing(
      [] {
        F::prelu(randn({2, 3}), full({4}, 0.25));
      },
      "Found parameter numbers = 4 and channel size = 3");
  EXPECT_THROW(Hardtanh(1.0, -1.0), ValueError);
  EXPECT_THROW(F::rrelu(randn({2}), 0.5, 0.1, true), ValueError);
}

// ---- normalization ----------------------------------------------------------------------------

TEST(NormFixture, LayerNormMatchesTorch) {
  for (const char* name : {"layernorm_8", "layernorm_3x4", "layernorm_noaffine"}) {
    const auto& c = twig::testing::nn_layer_case(name);
    const auto& cfg = c["config"];
    LayerNorm m(cfg["normalized_shape"].get<std::vector<int64_t>>(), cfg.value("eps", 1e-5),
                cfg.value("elementwise_affine", true));
    check_module_case(m, c);
  }
}

TEST(NormFixture, BatchNorm2dTrainStepAndEvalMatchTorch) {
  for (const char* name : {"batchnorm2d_train", "batchnorm2d_eval"}) {
    const auto& c = twig::testing::nn_layer_case(name);
    BatchNorm2d m(3, 1e-5, c["config"]["momentum"].get<double>());
    {
      autograd::NoGradGuard no_grad;
      m.get("running_mean").copy_(json_tensor(c["buffers_before"]["running_mean"]));
      m.get("running_var").copy_(json_tensor(c["buffers_before"]["running_var"]));
      m.get("num_batches_tracked").copy_(json_int_tensor(c["buffers_before"]["num_batches_tracked"]).reshape({}));
    }
    check_module_case(m, c);
    SCOPED_TRACE(name);
    EXPECT_MATCHES_TORCH(m.get("running_mean"), c["buffers_after"]["running_mean"], "running_mean");
    EXPECT_MATCHES_TORCH(m.get("running_var"), c["buffers_after"]["running_var"], "running_var");
    EXPECT_EQ(m.get("num_batches_tracked").item<int64_t>(),
              c["buffers_after"]["num_batches_tracked"]["data"][0].get<int64_t>());
  }
}

TEST(NormGradcheck, LayerNorm) {
  Tensor x = twig::testing::leaf({2, 3, 4}, 21, 2.0);
  Tensor w = twig::testing::leaf({3, 4}, 22), b = twig::testing::leaf({3, 4}, 23);
  EXPECT_GRADCHECK(
      [](const TensorList& in) {
        return TensorList{F::layer_norm(in[0], {3, 4}, in[1], in[2])};
      },
      (TensorList{x, w, b}));
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{F::layer_norm(in[0], {4}, Tensor(), Tensor(), 1e-3)}; },
                   TensorList{x});
  auto [xt, base] = twig::testing::noncontiguous({5, 3}, 24);
  Tensor w3 = twig::testing::leaf({3}, 25);
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{F::layer_norm(in[0].t(), {3}, in[1])}; },
                   (TensorList{base, w3}));
}

TEST(NormGradcheck, BatchNormTrainingAndEval) {
  Tensor x = twig::testing::leaf({3, 2, 2, 2}, 31, 1.5);
  Tensor w = twig::testing::leaf({2}, 32), b = twig::testing::leaf({2}, 33);
  EXPECT_GRADCHECK(
      [](const TensorList& in) {
        return TensorList{F::batch_norm(in[0], Tensor(), Tensor(), in[1], in[2], true, 0.1, 1e-5)};
      },
      (TensorList{x, w, b}));
  Tensor rm = tensor({0.3, -0.2}, kFloat64), rv = tensor({1.5, 0.7}, kFloat64);
  EXPECT_GRADCHECK(
      [&](const TensorList& in) { return TensorList{F::batch_norm(in[0], rm, rv, in[1], in[2], false, 0.1, 1e-5)}; },
      (TensorList{x, w, b}));
}

TEST(NormBatchNorm, BuffersMomentumNoneAndNoTracking) {
  BatchNorm2d m(4);
  std::vector<std::string> names;
  for (const auto& [n, t] : m.named_buffers()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"}));
  EXPECT_EQ(m.get("num_batches_tracked").dtype(), kInt64);
  EXPECT_EQ(m.get("num_batches_tracked").dim(), 0);
  EXPECT_EQ(m.state_dict().keys(),
            (std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}));
  // momentum=None: a cumulative average of the batch statistics.
  BatchNorm2d cum(2, 1e-5, std::nullopt);
  Tensor x1 = randn({4, 2, 3, 3}), x2 = randn({4, 2, 3, 3}) + 1.0;
  cum(x1);
  cum(x2);
  Tensor expect_mean = (x1.mean({0, 2, 3}) + x2.mean({0, 2, 3})) / 2.0;
  EXPECT_TENSOR_CLOSE(cum.get("running_mean"), expect_mean, 1e-5, 1e-6);
  EXPECT_EQ(cum.get("num_batches_tracked").item<int64_t>(), 2);
  EXPECT_EQ(cum.repr(), "BatchNorm2d(2, eps=1e-05, momentum=None, affine=True, track_running_stats=True)");
  // Without running stats, eval mode normalizes with the batch's own statistics.
  BatchNorm2d nt(2, 1e-5, 0.1, false, false);
  EXPECT_TRUE(nt.named_buffers().empty());
  EXPECT_TRUE(nt.named_parameters().empty());
  nt.eval();
  Tensor y = nt(x2);
  EXPECT_NEAR(y.mean().item<double>(), 0.0, 1e-5);
  // Eval with running stats does not touch them.
  m.eval();
  Tensor before = m.get("running_mean").clone();
  m(randn({2, 4, 2, 2}));
  EXPECT_TENSOR_EQ(m.get("running_mean"), before);
  EXPECT_EQ(m.get("num_batches_tracked").item<int64_t>(), 0);
}

TEST(NormErrors, TypedMessages) {
  LayerNorm ln(8);
  expect_error_containing(
      [&] {
        ln(zeros({2, 7}));
      },
      "Given normalized_shape=[8], expected input with shape [*, 8], but got input of size[2, 7]");
  BatchNorm2d bn(3);
  expect_error_containing([&] { bn(zeros({2, 3, 4})); }, "expected 4D input (got 3D input)");
  EXPECT_THROW(bn(zeros({2, 3, 4})), ValueError);
  expect_error_containing([&] { bn(zeros({1, 3, 1, 1})); }, "Expected more than 1 value per channel when training");
  EXPECT_THROW(bn(zeros({2, 4, 2, 2})), RuntimeError);
}

TEST(NormRepr, LikePyTorch) {
  const auto& reprs = twig::testing::nn_layer_fixtures()["reprs"];
  EXPECT_EQ(LayerNorm(8).repr(), "LayerNorm((8,), eps=1e-05, elementwise_affine=True)");
  EXPECT_EQ(LayerNorm(8).repr(), reprs["LayerNorm"].get<std::string>());
  EXPECT_EQ(BatchNorm2d(8).repr(), reprs["BatchNorm2d"].get<std::string>());
  EXPECT_EQ(LayerNorm(std::vector<int64_t>{4, 8}, 1e-3, false).repr(),
            "LayerNorm((4, 8), eps=0.001, elementwise_affine=False)");
}

TEST(NormLayerNorm, ReadsWeightThroughGet) {
  LayerNorm ln(4);
  Tensor w = ln.remove_parameter("weight");
  ln.register_parameter("weight_orig", w);
  ln.set_attribute("weight", full({4}, 2.0));
  Tensor x = randn({3, 4});
  EXPECT_TENSOR_CLOSE(ln(x), F::layer_norm(x, {4}) * 2.0, 1e-5, 1e-6);
}

// ---- embedding --------------------------------------------------------------------------------

TEST(EmbeddingFixture, MatchesTorch) {
  for (const char* name : {"embedding_pad", "embedding"}) {
    const auto& c = twig::testing::nn_layer_case(name);
    const auto& cfg = c["config"];
    std::optional<int64_t> pad;
    if (cfg.contains("padding_idx")) pad = cfg["padding_idx"].get<int64_t>();
    Embedding m(cfg["num_embeddings"], cfg["embedding_dim"], pad);
    check_module_case(m, c, /*int_input=*/true);
  }
}

TEST(EmbeddingPadding, RowZeroedAndGetsNoGradient) {
  manual_seed(5);
  Embedding m(6, 3, -1);  // counts from the end: row 5
  ASSERT_EQ(m.padding_idx, 5);
  EXPECT_TENSOR_EQ(m.get("weight").select(0, 5), zeros({3}));
  EXPECT_GT(m.get("weight").std({}).item<double>(), 0.3);  // N(0, 1) elsewhere
  Tensor idx = tensor({{5, 1}, {1, 0}});
  Tensor y = m(idx);
  EXPECT_EQ(y.sizes(), (Shape{2, 2, 3}));
  y.sum().backward();
  Tensor g = m.get("weight").grad();
  EXPECT_TENSOR_EQ(g.select(0, 5), zeros({3}));
  EXPECT_TENSOR_EQ(g.select(0, 1), full({3}, 2.0f));  // repeated index accumulates
  EXPECT_TENSOR_EQ(g.select(0, 2), zeros({3}));
}

TEST(EmbeddingGradcheck, Weight) {
  Tensor w = twig::testing::leaf({5, 3}, 41);
  Tensor idx = tensor({{0, 4, 4}, {2, 0, 1}});
  EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{F::embedding(idx, in[0])}; }, TensorList{w});
  // (With a padding_idx the padding row's gradient is zero by definition, not by calculus, so it
  // is checked in EmbeddingPadding instead.)
}

TEST(EmbeddingErrors, TypedMessages) {
  Embedding m(3, 2);
  expect_error_containing([&] { m(tensor({3})); }, "index out of range in self");
  EXPECT_THROW(m(tensor({-1})), IndexError);
  EXPECT_THROW(m(tensor({1.0})), RuntimeError);
  EXPECT_THROW(Embedding(3, 2, 5), AssertionError);
  EXPECT_EQ(Embedding(10, 3, 0).repr(), twig::testing::nn_layer_fixtures()["reprs"]["Embedding"].get<std::string>());
  EXPECT_EQ(Embedding(10, 3).repr(), "Embedding(10, 3)");
}

// ---- dropout ----------------------------------------------------------------------------------

TEST(DropoutStats, InvertedScalingAndMaskedGradient) {
  manual_seed(7);
  Tensor x = ones({20000}).requires_grad_();
  Tensor y = F::dropout(x, 0.3, true);
  double zero_frac = (y == 0.0).to(kFloat64).mean().item<double>();
  EXPECT_NEAR(zero_frac, 0.3, 0.015);
  Tensor kept = y.detach().masked_select(y.detach() != 0.0);
  EXPECT_TENSOR_CLOSE(kept, full_like(kept, 1.0 / 0.7), 1e-6, 1e-6);
  y.sum().backward();
  EXPECT_TENSOR_EQ(x.grad(), y.detach());  // d(x·m)/dx = m, and x is ones
  // Reproducible with the default generator.
  manual_seed(7);
  EXPECT_TENSOR_EQ(F::dropout(ones({20000}), 0.3, true), y.detach());
}

TEST(DropoutModes, EvalIdentityEdgeProbabilitiesAndErrors) {
  Dropout d(0.5);
  d.eval();
  Tensor x = randn({4, 4});
  EXPECT_TRUE(d(x).is_same(x));
  d.train();
  EXPECT_FALSE(equal(d(x), x));
  EXPECT_TRUE(F::dropout(x, 0.0, true).is_same(x));
  EXPECT_TENSOR_EQ(F::dropout(x, 1.0, true), zeros({4, 4}));
  expect_error_containing([] { Dropout(1.5); }, "dropout probability has to be between 0 and 1, but got 1.5");
  EXPECT_THROW(F::dropout(x, -0.1), ValueError);
  EXPECT_EQ(Dropout().repr(), twig::testing::nn_layer_fixtures()["reprs"]["Dropout"].get<std::string>());
}
