// Masked-vs-shrunk equivalence of every conversion function of ao/prune_functions.h, as a
// property over random sizes, random masks and both prune_bias settings: after the conversion
// the model computes what the masked model computed (its kept outputs), wherever spec §5.5 says
// the conversion is exact, and the parameter count drops by exactly what the masks remove (plus
// the bias a bias-less next layer gains when biases are propagated into it).
//
// The modules are prepared here as BaseStructuredSparsifier::prepare does it (spec §5.2,
// testing::prepare_like_sparsifier), so each function is tested on its own; tests/ao/test_structured_prune.cpp runs the
// same conversions through prune() on the seed's models.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tests/ao/structured_pruners.h"
#include "tests/testing.h"
#include "twig/ao/base_structured_sparsifier.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/ao/prune_functions.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"

namespace twig::ao {
namespace {

using indexing::Slice;
using testing::prepare_like_sparsifier;

// A random row mask of length n keeping at least one row and (n > 1) removing at least one.
Tensor random_mask(int64_t n, std::mt19937& rng) {
  std::vector<bool> keep(static_cast<size_t>(n));
  std::bernoulli_distribution coin(0.5);
  for (size_t i = 0; i < keep.size(); ++i) keep[i] = coin(rng);
  std::uniform_int_distribution<size_t> pick(0, keep.size() - 1);
  const size_t on = pick(rng);
  keep[on] = true;
  if (n > 1) {
    size_t off = pick(rng);
    while (off == on) off = pick(rng);
    keep[off] = false;
  }
  Tensor t = zeros({n}, kBool);
  for (int64_t i = 0; i < n; ++i)
    if (keep[static_cast<size_t>(i)]) t.index_put_({i}, 1.0);
  return t;
}

int64_t kept(const Tensor& mask) { return mask.sum().item<int64_t>(); }

int64_t param_count(const std::vector<nn::Module*>& modules) {
  int64_t n = 0;
  for (auto* m : modules)
    for (const auto& t : m->parameters()) n += t.numel();
  return n;
}

// What _check_pruner_pruned checks, and that no BiasHook or `_bias` is left behind.
void expect_converted(const nn::Module& m, const std::string& what) {
  EXPECT_FALSE(nn::is_parametrized(m)) << what;
  EXPECT_FALSE(m.has("mask")) << what;
  EXPECT_FALSE(m.has("_bias")) << what;
  for (const auto& [id, hook] : m.forward_hooks().items())
    EXPECT_EQ(dynamic_cast<const BiasHook*>(hook.get()), nullptr) << what;
}

int64_t rand_in(std::mt19937& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

struct NamedAct {
  const char* name;
  Activation fn;
};
// Activations with act(0) == 0: a removed row that carries no bias gives the next layer 0 both
// before and after (see MaskedRowsWithoutBiasNeedActOfZeroIsZero for the others).
std::vector<NamedAct> activations() {
  return {{"none", Activation()}, {"relu", [](const Tensor& t) { return t.relu(); }}, {"tanh", [](const Tensor& t) {
                                                                                         return t.tanh();
                                                                                       }}};
}

// ---- Linear -> [activation] -> Linear [-> output] and Linear -> output ----------------------------

TEST(TestPruneEquivalence, linear_activation_linear) {
  std::mt19937 rng(15);
  int cases = 0;
  for (int rep = 0; rep < 4; ++rep)
    for (bool prune_bias : {true, false})
      for (bool b1 : {true, false})
        for (bool b2 : {true, false})
          for (bool next_masked : {false, true})
            for (const auto& act : activations()) {
              manual_seed(static_cast<uint64_t>(cases));
              const int64_t in = rand_in(rng, 1, 7), h = rand_in(rng, 2, 9), out = rand_in(rng, 1, 8);
              nn::Linear l1(in, h, b1), l2(h, out, b2);
              const std::string what = std::string("act=") + act.name + " prune_bias=" + std::to_string(prune_bias) +
                                       " b1=" + std::to_string(b1) + " b2=" + std::to_string(b2) +
                                       " next_masked=" + std::to_string(next_masked) + " in=" + std::to_string(in) +
                                       " h=" + std::to_string(h) + " out=" + std::to_string(out);
              Tensor m1 = random_mask(h, rng), m2 = random_mask(out, rng);
              prepare_like_sparsifier(l1, m1, prune_bias);
              // The next layer's own prune_bias is drawn: a propagated bias must survive its pruning either way.
              if (next_masked) prepare_like_sparsifier(l2, m2, rand_in(rng, 0, 1) == 1);
              Tensor x = randn({5, in});
              auto run = [&] {
                Tensor y = l1(x);
                if (act.fn) y = act.fn(y);
                return l2(y);
              };
              Tensor y_masked = run();
              const int64_t before = param_count({&l1, &l2});

              if (act.fn) {
                prune_linear_activation_linear(l1, act.fn, l2);
              } else {
                prune_linear_linear(l1, l2);
              }
              if (next_masked) prune_linear(l2);
              Tensor y_pruned = run();

              const int64_t k1 = kept(m1), rows2 = next_masked ? kept(m2) : out;
              Tensor expected = next_masked ? y_masked.index({Slice(), m2}) : y_masked;
              ASSERT_EQ(y_pruned.sizes(), expected.sizes()) << what;
              EXPECT_EQ(y_pruned.dtype(), kFloat32);
              EXPECT_TRUE(allclose(y_pruned, expected, 1e-5, 1e-6)) << what;
              // Removed: (h - k1) rows of l1 (weight and bias), (h - k1) columns of l2, and with l2
              // masked its removed rows; a bias-less l2 gains one when l1's biases are propagated.
              const bool gains_bias = !b2 && b1 && !prune_bias;
              int64_t removed = (h - k1) * in + (b1 ? h - k1 : 0) + out * (h - k1);
              if (next_masked) removed += (out - rows2) * k1 + (b2 ? out - rows2 : 0);
              const int64_t added = gains_bias ? rows2 : 0;
              EXPECT_EQ(param_count({&l1, &l2}), before - removed + added) << what;
              EXPECT_EQ(l1.options.out_features_, k1);
              EXPECT_EQ(l1.weight().sizes(), (Shape{k1, in}));
              EXPECT_EQ(l2.options.in_features_, k1);
              EXPECT_EQ(l2.options.out_features_, rows2);
              EXPECT_EQ(l2.weight().size(0), rows2);
              EXPECT_EQ(l1.bias().defined(), b1) << what;
              EXPECT_EQ(l2.bias().defined(), b2 || gains_bias) << what;
              expect_converted(l1, what);
              if (next_masked) expect_converted(l2, what);
              EXPECT_TRUE(l1.weight().requires_grad() && l2.weight().requires_grad());
              ++cases;
            }
  EXPECT_EQ(cases, 4 * 2 * 2 * 2 * 2 * 3);
}

// ---- Conv2d -> [pool] -> [activation] -> [pool] -> Conv2d -----------------------------------------

enum class PoolAt { none, before_act, after_act };

TEST(TestPruneEquivalence, conv2d_activation_pool_conv2d) {
  std::mt19937 rng(4);
  int cases = 0, padded_route = 0;
  for (int rep = 0; rep < 2; ++rep)
    for (bool prune_bias : {true, false})
      for (bool b1 : {true, false})
        for (bool b2 : {true, false})
          for (bool next_masked : {false, true})
            for (bool pad2 : {false, true})
              for (PoolAt pool_at : {PoolAt::none, PoolAt::before_act, PoolAt::after_act})
                for (const auto& act : activations()) {
                  manual_seed(static_cast<uint64_t>(1000 + cases));
                  const int64_t cin = rand_in(rng, 1, 3), c1 = rand_in(rng, 2, 6), c2 = rand_in(rng, 1, 5);
                  const int64_t k1 = rand_in(rng, 1, 3), k2 = rand_in(rng, 1, 3);
                  nn::Conv2d conv1(nn::Conv2dOptions(cin, c1, k1).padding(rand_in(rng, 0, 1)).bias(b1));
                  nn::Conv2d conv2(nn::Conv2dOptions(c1, c2, k2).padding(pad2 ? 1 : 0).bias(b2));
                  // Unpadded pools: a removed channel stays a constant map through them.
                  const bool max_pool = rand_in(rng, 0, 1) == 1;
                  nn::MaxPool2d maxp(nn::MaxPool2dOptions(2));
                  nn::AvgPool2d avgp(nn::AvgPool2dOptions(2));
                  auto pool = [&](const Tensor& t) { return max_pool ? maxp(t) : avgp(t); };
                  const std::string what = std::string("act=") + act.name +
                                           " prune_bias=" + std::to_string(prune_bias) + " b1=" + std::to_string(b1) +
                                           " b2=" + std::to_string(b2) + " next_masked=" + std::to_string(next_masked) +
                                           " pad2=" + std::to_string(pad2) +
                                           " pool=" + std::to_string(static_cast<int>(pool_at));
                  Tensor m1 = random_mask(c1, rng), m2 = random_mask(c2, rng);
                  prepare_like_sparsifier(conv1, m1, prune_bias);
                  if (next_masked) prepare_like_sparsifier(conv2, m2, rand_in(rng, 0, 1) == 1);
                  Tensor x = randn({2, cin, 9, 10});
                  auto run = [&] {
                    Tensor y = conv1(x);
                    if (pool_at == PoolAt::before_act) y = pool(y);
                    if (act.fn) y = act.fn(y);
                    if (pool_at == PoolAt::after_act) y = pool(y);
                    return conv2(y);
                  };
                  Tensor y_masked = run();
                  const int64_t before = param_count({&conv1, &conv2});

                  if (pool_at == PoolAt::before_act) {
                    prune_conv2d_pool_activation_conv2d(conv1, pool, act.fn, conv2);
                  } else if (pool_at == PoolAt::after_act) {
                    prune_conv2d_activation_pool_conv2d(conv1, act.fn, pool, conv2);
                  } else if (act.fn) {
                    prune_conv2d_activation_conv2d(conv1, act.fn, conv2);
                  } else {
                    prune_conv2d_conv2d(conv1, conv2);
                  }
                  if (next_masked) prune_conv2d(conv2);
                  Tensor y_pruned = run();

                  const bool padded = pad2 && b1;  // the padded route: conv1 keeps every channel
                  padded_route += padded ? 1 : 0;
                  const int64_t kk1 = padded ? c1 : kept(m1), rows2 = next_masked ? kept(m2) : c2;
                  Tensor expected = next_masked ? y_masked.index({Slice(), m2}) : y_masked;
                  ASSERT_EQ(y_pruned.sizes(), expected.sizes()) << what;
                  EXPECT_TRUE(allclose(y_pruned, expected, 1e-4, 1e-5)) << what;
                  const int64_t w1 = cin * k1 * k1, w2 = k2 * k2;
                  const bool gains_bias = !padded && !b2 && b1 && !prune_bias;
                  int64_t removed = (c1 - kk1) * w1 + (b1 ? c1 - kk1 : 0) + c2 * (c1 - kk1) * w2;
                  if (next_masked) removed += (c2 - rows2) * kk1 * w2 + (b2 ? c2 - rows2 : 0);
                  EXPECT_EQ(param_count({&conv1, &conv2}), before - removed + (gains_bias ? rows2 : 0)) << what;
                  EXPECT_EQ(conv1.options.out_channels_, kk1);
                  EXPECT_EQ(conv1.weight().size(0), kk1);
                  EXPECT_EQ(conv2.options.in_channels_, kk1);
                  EXPECT_EQ(conv2.weight().size(1), kk1);
                  EXPECT_EQ(conv2.options.out_channels_, rows2);
                  EXPECT_EQ(conv2.weight().size(0), rows2);
                  EXPECT_FALSE(nn::is_parametrized(conv1)) << what;
                  EXPECT_FALSE(conv1.has("_bias")) << what;
                  if (!padded) expect_converted(conv1, what);
                  if (next_masked) expect_converted(conv2, what);
                  ++cases;
                }
  EXPECT_EQ(cases, 2 * 2 * 2 * 2 * 2 * 2 * 3 * 3);
  EXPECT_GT(padded_route, 0);
}

// Conv2d -> output.
TEST(TestPruneEquivalence, conv2d_output) {
  std::mt19937 rng(7);
  for (int rep = 0; rep < 6; ++rep)
    for (bool prune_bias : {true, false})
      for (bool b : {true, false}) {
        manual_seed(static_cast<uint64_t>(rep));
        const int64_t cin = rand_in(rng, 1, 3), c = rand_in(rng, 2, 6);
        nn::Conv2d conv(nn::Conv2dOptions(cin, c, 3).padding(1).bias(b));
        Tensor m = random_mask(c, rng);
        prepare_like_sparsifier(conv, m, prune_bias);
        Tensor x = randn({2, cin, 5, 6});
        Tensor y_masked = conv(x);
        const int64_t before = conv.num_parameters();
        prune_conv2d(conv);
        const int64_t k = kept(m);
        Tensor y = conv(x);
        EXPECT_TRUE(allclose(y, y_masked.index({Slice(), m}), 1e-5, 1e-6));
        EXPECT_EQ(conv.num_parameters(), before - (c - k) * cin * 9 - (b ? c - k : 0));
        EXPECT_EQ(conv.options.out_channels_, k);
        EXPECT_EQ(conv.bias().defined(), b);
        expect_converted(conv, "conv2d_output");
      }
}

// Linear -> output (prune_linear alone).
TEST(TestPruneEquivalence, linear_output) {
  std::mt19937 rng(8);
  for (int rep = 0; rep < 6; ++rep)
    for (bool prune_bias : {true, false})
      for (bool b : {true, false}) {
        manual_seed(static_cast<uint64_t>(rep));
        const int64_t in = rand_in(rng, 1, 6), out = rand_in(rng, 2, 8);
        nn::Linear lin(in, out, b);
        Tensor m = random_mask(out, rng);
        prepare_like_sparsifier(lin, m, prune_bias);
        Tensor x = randn({4, in});
        Tensor y_masked = lin(x);
        const int64_t before = lin.num_parameters();
        prune_linear(lin);
        const int64_t k = kept(m);
        EXPECT_TRUE(allclose(lin(x), y_masked.index({Slice(), m}), 1e-5, 1e-6));
        EXPECT_EQ(lin.num_parameters(), before - (out - k) * in - (b ? out - k : 0));
        EXPECT_EQ(lin.options.out_features_, k);
        EXPECT_EQ(lin.repr(), "Linear(in_features=" + std::to_string(in) + ", out_features=" + std::to_string(k) +
                                  ", bias=" + (b ? "True" : "False") + ")");
        expect_converted(lin, "linear_output");
      }
}

// ---- Conv2d -> adaptive pool -> flatten -> Linear ---------------------------------------------------

TEST(TestPruneEquivalence, conv2d_pool_flatten_linear) {
  std::mt19937 rng(9);
  int cases = 0;
  for (int rep = 0; rep < 3; ++rep)
    for (bool prune_bias : {true, false})
      for (bool b1 : {true, false})
        for (bool b2 : {true, false})
          for (bool next_masked : {false, true})
            for (bool avg : {true, false}) {
              manual_seed(static_cast<uint64_t>(cases));
              const int64_t cin = rand_in(rng, 1, 3), c = rand_in(rng, 2, 6), s = rand_in(rng, 1, 3),
                            out = rand_in(rng, 2, 6);
              nn::Conv2d conv(nn::Conv2dOptions(cin, c, 3).padding(1).bias(b1));
              nn::AdaptiveAvgPool2d apool(s);
              nn::AdaptiveMaxPool2d mpool(s);
              nn::Flatten flatten;
              nn::Linear lin(c * s * s, out, b2);
              Tensor m1 = random_mask(c, rng), m2 = random_mask(out, rng);
              prepare_like_sparsifier(conv, m1, prune_bias);
              if (next_masked) prepare_like_sparsifier(lin, m2, rand_in(rng, 0, 1) == 1);
              auto pool = [&](const Tensor& t) { return avg ? apool(t) : mpool(t); };
              Tensor x = randn({3, cin, 7, 6});
              auto run = [&] { return lin(flatten(pool(conv(x)))); };
              Tensor y_masked = run();
              const int64_t before = param_count({&conv, &lin});
              prune_conv2d_pool_flatten_linear(
                  conv, pool, [&](const Tensor& t) { return flatten(t); }, lin);
              if (next_masked) prune_linear(lin);
              Tensor y = run();
              const int64_t k = kept(m1), rows2 = next_masked ? kept(m2) : out;
              const std::string what = "prune_bias=" + std::to_string(prune_bias) + " b1=" + std::to_string(b1) +
                                       " b2=" + std::to_string(b2) + " next_masked=" + std::to_string(next_masked);
              Tensor expected = next_masked ? y_masked.index({Slice(), m2}) : y_masked;
              ASSERT_EQ(y.sizes(), expected.sizes()) << what;
              EXPECT_TRUE(allclose(y, expected, 1e-5, 1e-5)) << what;
              const bool gains_bias = !b2 && b1 && !prune_bias;
              int64_t removed = (c - k) * cin * 9 + (b1 ? c - k : 0) + out * (c - k) * s * s;
              if (next_masked) removed += (out - rows2) * k * s * s + (b2 ? out - rows2 : 0);
              EXPECT_EQ(param_count({&conv, &lin}), before - removed + (gains_bias ? rows2 : 0)) << what;
              EXPECT_EQ(lin.options.in_features_, k * s * s);
              EXPECT_EQ(conv.options.out_channels_, k);
              expect_converted(conv, what);
              ++cases;
            }
  EXPECT_EQ(cases, 3 * 32);
}

// ---- LSTM -> getitem -> [LayerNorm] -> Linear --------------------------------------------------------

// The same number of kept units in every gate of every layer (a shape the pruned LSTM can take).
Tensor lstm_mask(int64_t h, const std::vector<int64_t>& units) {
  Tensor m = zeros({4 * h}, kBool);
  for (int64_t g = 0; g < 4; ++g)
    for (int64_t u : units) m.index_put_({g * h + u}, 1.0);
  return m;
}

TEST(TestPruneEquivalence, lstm_layernorm_linear_single_layer_length_one) {
  std::mt19937 rng(10);
  for (int rep = 0; rep < 6; ++rep)
    for (bool with_norm : {false, true}) {
      manual_seed(static_cast<uint64_t>(rep));
      const int64_t in = rand_in(rng, 1, 5), h = rand_in(rng, 2, 7), out = rand_in(rng, 1, 5);
      nn::LSTM lstm(in, h, 1);
      nn::LayerNorm norm(h);
      nn::Linear lin(h, out);
      // Random affine LayerNorm parameters, so pruning them is visible.
      norm.get("weight").detach().copy_(randn({h}));
      norm.get("bias").detach().copy_(randn({h}));
      Tensor one = random_mask(h, rng);
      std::vector<int64_t> units;
      for (int64_t u = 0; u < h; ++u)
        if (one.index({u}).item<bool>()) units.push_back(u);
      const int64_t k = static_cast<int64_t>(units.size());
      Tensor mask = lstm_mask(h, units);
      for (const char* name : {"weight_ih_l0", "weight_hh_l0"})
        nn::register_parametrization(lstm, name, std::make_shared<FakeStructuredSparsity>(mask.clone()));
      Tensor x = randn({1, in});  // a sequence of length 1 from a zero state
      auto [out_m, h_m, c_m] = lstm.forward(x);
      const int64_t before = lstm.num_parameters() + lin.num_parameters() + norm.num_parameters();
      if (with_norm) {
        prune_lstm_output_layernorm_linear(lstm, Activation(), &norm, lin);
      } else {
        prune_lstm_output_linear(lstm, Activation(), lin);
      }
      auto [out_p, h_p, c_p] = lstm.forward(x);
      Tensor keep = one;
      EXPECT_TRUE(allclose(out_p, out_m.index({Slice(), keep}), 1e-5, 1e-6));
      EXPECT_TRUE(allclose(c_p, c_m.index({Slice(), keep}), 1e-5, 1e-6));
      EXPECT_EQ(lstm.options.hidden_size_, k);
      EXPECT_EQ(lin.options.in_features_, k);
      if (with_norm) {
        EXPECT_EQ(norm.normalized_shape, (std::vector<int64_t>{k}));
        // The LayerNorm now normalizes over the kept units only: on the kept units' output it
        // equals norm/linear rebuilt by hand from the kept entries.
        EXPECT_EQ(norm.get("weight").sizes(), (Shape{k}));
        Tensor y = lin(norm(out_p));
        EXPECT_EQ(y.sizes(), (Shape{1, out}));
      }
      const int64_t removed =
          4 * (h - k) * in + (4 * h * h - 4 * k * k) + 8 * (h - k) + out * (h - k) + (with_norm ? 2 * (h - k) : 0);
      EXPECT_EQ(lstm.num_parameters() + lin.num_parameters() + norm.num_parameters(), before - removed);
      EXPECT_FALSE(nn::is_parametrized(lstm));
      EXPECT_EQ(lstm.get("weight_hh_l0").sizes(), (Shape{4 * k, k}));
    }
}

// PyTorch's functions leave a model that fails at its next forward when the LSTM masks cannot
// give one hidden_size; twig refuses them before changing anything.
TEST(TestPruneEquivalence, lstm_inconsistent_masks_rejected_unchanged) {
  manual_seed(0);
  nn::LSTM lstm(3, 4, 2);
  nn::Linear lin(4, 2);
  Tensor m = lstm_mask(4, {0, 2});
  for (const char* name : {"weight_ih_l0", "weight_hh_l0", "weight_ih_l1"})
    nn::register_parametrization(lstm, name, std::make_shared<FakeStructuredSparsity>(m.clone()));
  const std::string before = lstm.repr();
  const auto params_before = lstm.named_parameters();
  testing::expect_error<ValueError>([&] { prune_lstm_output_linear(lstm, Activation(), lin); }, "weight_hh_l1");
  EXPECT_EQ(lstm.repr(), before);
  EXPECT_EQ(lstm.named_parameters().size(), params_before.size());
  EXPECT_TRUE(nn::is_parametrized(lstm, "weight_ih_l0"));
  EXPECT_EQ(lin.weight().sizes(), (Shape{2, 4}));

  // Gates keeping different counts.
  nn::register_parametrization(lstm, "weight_hh_l1", std::make_shared<FakeStructuredSparsity>(m.clone()));
  Tensor uneven = m.clone();
  uneven.index_put_({int64_t{5}}, 1.0);  // the forget gate keeps 3 units
  nn::parametrizations_of(lstm, "weight_hh_l1")->at(0)->get("mask").copy_(uneven);
  testing::expect_error<ValueError>([&] { prune_lstm_output_linear(lstm, Activation(), lin); },
                                    {"weight_hh_l1", "keeps 3"});
  EXPECT_TRUE(nn::is_parametrized(lstm, "weight_hh_l0"));
}

// ---- through prune(): random Linear chains, the pattern table choosing the functions ------------

// Sequential(Linear, [ReLU|Tanh], Linear, ..., Linear) with random widths, random biases and a
// random subset of the layers but the last configured; ImplementedPruner removes a third of each
// configured layer's rows. The pruned model must compute the masked one's output, and its
// parameter count is what the masks leave (a bias-less layer gains a bias when the layer before
// it propagates one).
TEST(TestPruneEquivalence, prune_random_linear_chains) {
  std::mt19937 rng(21);
  int cases = 0;
  for (int rep = 0; rep < 10; ++rep)
    for (bool prune_bias : {true, false}) {
      manual_seed(static_cast<uint64_t>(500 + cases));
      const int layers = static_cast<int>(rand_in(rng, 2, 5));
      std::vector<int64_t> width{rand_in(rng, 1, 6)};
      std::vector<bool> has_bias;
      auto seq = std::make_shared<nn::Sequential>();
      std::vector<std::string> linear_names;
      for (int i = 0; i < layers; ++i) {
        width.push_back(rand_in(rng, 3, 9));
        has_bias.push_back(rand_in(rng, 0, 1) == 1);
        linear_names.push_back(std::to_string(seq->size()));
        seq->push_back(std::make_shared<nn::Linear>(width[i], width[i + 1], has_bias.back()));
        const int64_t act = rand_in(rng, 0, 2);
        if (i + 1 < layers && act == 1) seq->push_back(std::make_shared<nn::ReLU>());
        if (i + 1 < layers && act == 2) seq->push_back(std::make_shared<nn::Tanh>());
      }
      std::vector<bool> configured(static_cast<size_t>(layers), false);
      std::vector<Dict> config;
      for (int i = 0; i + 1 < layers; ++i) {
        configured[static_cast<size_t>(i)] = rand_in(rng, 0, 3) > 0;
        if (configured[static_cast<size_t>(i)]) config.push_back(Dict{{"tensor_fqn", linear_names[i] + ".weight"}});
      }
      if (config.empty()) {
        configured[0] = true;
        config.push_back(Dict{{"tensor_fqn", linear_names[0] + ".weight"}});
      }
      testing::ImplementedPruner pruner(Dict{{"prune_bias", prune_bias}}, static_cast<uint64_t>(cases));
      pruner.prepare(seq, config);
      pruner.step();
      Tensor x = randn({6, width[0]});
      Tensor y_masked = (*seq)(x);
      std::vector<int64_t> rows(static_cast<size_t>(layers));
      for (int i = 0; i < layers; ++i) {
        const size_t u = static_cast<size_t>(i);
        rows[u] = configured[u] ? kept(pruner.state.at(linear_names[u] + ".weight").to_dict().at("mask").to_tensor())
                                : width[u + 1];
      }
      auto pruned = pruner.prune();
      Tensor y = pruned->call({nn::Value(x)}).tensor();
      ASSERT_EQ(y.sizes(), y_masked.sizes());
      EXPECT_TRUE(allclose(y, y_masked, 1e-5, 1e-6)) << "case " << cases;
      int64_t expected = 0;
      for (int i = 0; i < layers; ++i) {
        const size_t u = static_cast<size_t>(i);
        const int64_t cols = i > 0 ? rows[u - 1] : width[0];
        const bool gains = i > 0 && configured[u - 1] && has_bias[u - 1] && !prune_bias;
        expected += rows[u] * cols + ((has_bias[u] || gains) ? rows[u] : 0);
      }
      EXPECT_EQ(param_count({pruned.get()}), expected) << "case " << cases;
      ++cases;
    }
  EXPECT_EQ(cases, 20);
}

}  // namespace
}  // namespace twig::ao
