#include <gtest/gtest.h>

#include "layer_fixtures.h"
#include "testing.h"
#include "twig/nn/rnn.h"

using namespace twig;
using namespace twig::nn;
using twig::testing::json_shape;
using twig::testing::json_tensor;

namespace {

std::shared_ptr<LSTM> lstm_from_case(const nlohmann::json& c) {
  const auto& cfg = c["config"];
  auto m = std::make_shared<LSTM>(LSTMOptions(cfg["input_size"], cfg["hidden_size"])
                                      .num_layers(cfg["num_layers"])
                                      .batch_first(cfg["batch_first"])
                                      .bias(cfg["bias"]));
  twig::testing::load_params(*m, c);
  return m;
}

// Runs (x[, (h0, c0)]) through m via call(); returns {output, h_n, c_n}.
TensorList run(LSTM& m, const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor()) {
  Values in{Value(x)};
  if (h0.defined()) in.push_back(Value::tuple({Value(h0), Value(c0)}));
  Value out = m(in);
  return {out[0].tensor(), out[1][0].tensor(), out[1][1].tensor()};
}

const nlohmann::json& strict_fixtures() { return twig::testing::load_fixture("strict.json", "gen_strict_fixtures.py"); }

// An LSTM(config[0], config[1], num_layers=config[2]) holding a strict.json case's parameters.
std::shared_ptr<LSTM> lstm_from_strict_case(const nlohmann::json& c) {
  const auto& cfg = c["config"];
  auto m = std::make_shared<LSTM>(LSTMOptions(cfg[0].get<int64_t>(), cfg[1].get<int64_t>()).num_layers(cfg[2]));
  twig::testing::load_params(*m, c);
  return m;
}

void expect_torch_outputs(const TensorList& outs, const nlohmann::json& expected) {
  ASSERT_EQ(outs.size(), expected.size());
  for (size_t k = 0; k < outs.size(); ++k) EXPECT_MATCHES_TORCH(outs[k], expected[k], "output " << k);
}

}  // namespace

TEST(LSTMFixture, MatchesTorch) {
  int checked = 0;
  for (const auto& c : twig::testing::nn_layer_fixtures()["cases"]) {
    if (c["kind"] != "lstm") continue;
    SCOPED_TRACE(c["name"].get<std::string>());
    auto m = lstm_from_case(c);
    EXPECT_EQ(m->repr(), c["repr"].get<std::string>());
    const auto& in = c["inputs"];
    Tensor x = json_tensor(in["x"]).requires_grad_();
    Tensor h0, c0;
    if (in.contains("h0")) {
      h0 = json_tensor(in["h0"]).requires_grad_();
      c0 = json_tensor(in["c0"]).requires_grad_();
    }
    TensorList outs = run(*m, x, h0, c0);
    Tensor loss = zeros({});
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_MATCHES_TORCH(outs[k], c["outputs"][k], "output " << k);
      loss = loss + (outs[k] * json_tensor(c["out_weights"][k])).sum();
    }
    loss.backward();
    EXPECT_MATCHES_TORCH(x.grad(), c["grads"]["x"], "grad x");
    if (h0.defined()) {
      EXPECT_MATCHES_TORCH(h0.grad(), c["grads"]["h0"], "grad h0");
      EXPECT_MATCHES_TORCH(c0.grad(), c["grads"]["c0"], "grad c0");
    }
    for (const auto& [name, p] : m->named_parameters()) EXPECT_MATCHES_TORCH(p.grad(), c["grads"][name], name);
    ++checked;
  }
  EXPECT_EQ(checked, 10);
}

TEST(LSTMParams, NamesOrderAndShapesMatchTorch) {
  for (const char* name : {"lstm_2layer_state", "lstm_nobias", "lstm_1layer"}) {
    const auto& c = twig::testing::nn_layer_case(name);
    auto m = lstm_from_case(c);
    std::vector<std::string> names;
    for (const auto& [n, p] : m->named_parameters()) {
      names.push_back(n);
      EXPECT_EQ(p.sizes(), json_shape(c["params"][n])) << n;
      EXPECT_TRUE(p.requires_grad());
    }
    EXPECT_EQ(names, c["param_names"].get<std::vector<std::string>>()) << name;
    EXPECT_EQ(m->flat_weight_names(), names) << name;
  }
}

TEST(LSTMParams, InitIsUniformWithinOneOverSqrtH) {
  LSTM m(LSTMOptions(6, 16).num_layers(2));
  for (const auto& [n, p] : m.named_parameters()) {
    EXPECT_LE(p.abs().max().item<double>(), 0.25 + 1e-7) << n;
    EXPECT_GT(p.abs().max().item<double>(), 0.2) << n;  // spread over the range, not zeros
  }
}

TEST(LSTMPruning, PlainAttributeReplacesParameterInForward) {
  // prune.l1_unstructured(l, "weight_ih_l0") leaves weight_ih_l0 a plain tensor attribute.
  const auto& fixture = strict_fixtures()["lstm"]["masked_weight_ih_l0"];
  auto holder = lstm_from_strict_case(fixture);  // LSTM(4, 3, num_layers=2) with PyTorch's weights
  LSTM& m = *holder;
  Tensor x = twig::testing::json_tensor(fixture["x"]);
  Tensor orig = m.remove_parameter("weight_ih_l0");
  m.register_parameter("weight_ih_l0_orig", orig);
  Tensor masked = orig.detach() * (orig.detach().abs() > 0.2);
  m.set_attribute("weight_ih_l0", masked);
  EXPECT_TRUE(m.is_attribute("weight_ih_l0"));

  TensorList flat = m.flat_weights();
  ASSERT_EQ(flat.size(), 8u);
  int n_params = 0;
  for (const std::string& n : m.flat_weight_names()) n_params += m.is_parameter(n) ? 1 : 0;
  EXPECT_EQ(n_params, 7);
  EXPECT_TRUE(flat[0].is_same(masked));

  // The forward used the attribute: what PyTorch computes with the masked weight...
  expect_torch_outputs(run(m, x), fixture["outputs"]);
  // ... and the same result as an unpruned LSTM holding the masked weight.
  auto ref = std::dynamic_pointer_cast<LSTM>(m.clone());
  ref->remove_attribute("weight_ih_l0");
  ref->remove_parameter("weight_ih_l0_orig");
  ref->register_parameter("weight_ih_l0", masked.clone());
  TensorList a = run(m, x), b = run(*ref, x);
  for (size_t k = 0; k < 3; ++k) EXPECT_TENSOR_CLOSE(a[k], b[k], 1e-6, 1e-7);

  // And the attribute changes the output relative to the unmasked weight.
  m.set_attribute("weight_ih_l0", orig.detach());
  EXPECT_FALSE(allclose(run(m, x)[0], a[0]));
  // Gradients flow into weight_ih_l0_orig through the recomputed attribute.
  m.set_attribute("weight_ih_l0", orig * 1.0);
  run(m, x)[0].sum().backward();
  EXPECT_TRUE(orig.grad().defined());
}

TEST(LSTMPruning, ForwardPreHookSubstitutesWeight) {
  // A pruning-style pre-hook recomputes weight_hh_l0 (here: zeroed) before every forward.
  const auto& fixture = strict_fixtures()["lstm"]["zero_weight_hh_l0"];
  auto holder = lstm_from_strict_case(fixture);  // LSTM(3, 2) with PyTorch's weights
  LSTM& m = *holder;
  Tensor x = twig::testing::json_tensor(fixture["x"]);
  auto ref = std::dynamic_pointer_cast<LSTM>(m.clone());
  {
    autograd::NoGradGuard no_grad;
    ref->get("weight_hh_l0").zero_();
  }
  Tensor orig = m.remove_parameter("weight_hh_l0");
  m.register_parameter("weight_hh_l0_orig", orig);
  m.register_forward_pre_hook([orig](Module& mod, const Values&) -> std::optional<Values> {
    mod.set_attribute("weight_hh_l0", orig * 0.0);
    return std::nullopt;
  });
  TensorList out = run(m, x), expect = run(*ref, x);
  expect_torch_outputs(out, fixture["outputs"]);  // PyTorch with weight_hh_l0 zeroed
  for (size_t k = 0; k < 3; ++k) EXPECT_TENSOR_CLOSE(out[k], expect[k], 1e-6, 1e-7);
  EXPECT_EQ(m.flat_weights().size(), 4u);
}

TEST(LSTMGradcheck, TwoLayersWithState) {
  LSTM m(LSTMOptions(3, 2).num_layers(2));
  m.to(kFloat64);
  TensorList inputs{twig::testing::leaf({3, 2, 3}, 1), twig::testing::leaf({2, 2, 2}, 2),
                    twig::testing::leaf({2, 2, 2}, 3)};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  EXPECT_GRADCHECK([&](const TensorList& in) { return run(m, in[0], in[1], in[2]); }, inputs);
}

TEST(LSTMGradcheck, BatchFirstWithoutState) {
  LSTM m(LSTMOptions(3, 2).num_layers(2).batch_first(true));
  m.to(kFloat64);
  TensorList inputs{twig::testing::leaf({2, 3, 3}, 4)};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  EXPECT_GRADCHECK([&](const TensorList& in) { return run(m, in[0]); }, inputs);
}

TEST(LSTMGradcheck, UnbatchedWithAndWithoutState) {
  LSTM m(LSTMOptions(2, 3).num_layers(2));
  m.to(kFloat64);
  TensorList inputs{twig::testing::leaf({4, 2}, 5), twig::testing::leaf({2, 3}, 6), twig::testing::leaf({2, 3}, 7)};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  EXPECT_GRADCHECK([&](const TensorList& in) { return run(m, in[0], in[1], in[2]); }, inputs);
  EXPECT_GRADCHECK([&](const TensorList& in) { return run(m, in[0]); }, TensorList{inputs[0]});
}

TEST(LSTMGradcheck, NoBiasNonContiguousInput) {
  LSTM m(LSTMOptions(3, 2).bias(false));
  m.to(kFloat64);
  auto [x, base] = twig::testing::noncontiguous({3, 2, 3}, 8);
  TensorList inputs{base};
  for (const Tensor& p : m.parameters()) inputs.push_back(p);
  Dims order{2, 1, 0};
  EXPECT_GRADCHECK([&](const TensorList& in) { return run(m, in[0].permute(order)); }, inputs);
}

TEST(LSTMShapes, OutputsFollowPyTorch) {
  LSTM m(LSTMOptions(5, 4).num_layers(3));
  TensorList o = run(m, randn({7, 2, 5}));
  EXPECT_EQ(o[0].sizes(), (Shape{7, 2, 4}));
  EXPECT_EQ(o[1].sizes(), (Shape{3, 2, 4}));
  EXPECT_EQ(o[2].sizes(), (Shape{3, 2, 4}));
  // h_n of the last layer is the last output step.
  EXPECT_TENSOR_EQ(o[1].select(0, 2), o[0].select(0, 6));
  LSTM bf(LSTMOptions(5, 4).batch_first(true));
  o = run(bf, randn({2, 7, 5}));
  EXPECT_EQ(o[0].sizes(), (Shape{2, 7, 4}));
  EXPECT_EQ(o[1].sizes(), (Shape{1, 2, 4}));
  o = run(bf, randn({7, 5}));
  EXPECT_EQ(o[0].sizes(), (Shape{7, 4}));
  EXPECT_EQ(o[1].sizes(), (Shape{1, 4}));
  // The typed forward computes PyTorch's values, as call() does.
  const auto& c = twig::testing::nn_layer_case("lstm_2layer_state");
  auto fm = lstm_from_case(c);
  Tensor x = json_tensor(c["inputs"]["x"]);
  auto [out, hn, cn] = fm->forward(x, json_tensor(c["inputs"]["h0"]), json_tensor(c["inputs"]["c0"]));
  EXPECT_MATCHES_TORCH(out, c["outputs"][0], "typed forward output");
  EXPECT_MATCHES_TORCH(hn, c["outputs"][1], "typed forward h_n");
  EXPECT_MATCHES_TORCH(cn, c["outputs"][2], "typed forward c_n");
  EXPECT_TENSOR_EQ(out, run(*fm, x, json_tensor(c["inputs"]["h0"]), json_tensor(c["inputs"]["c0"]))[0]);
}

TEST(LSTMErrors, TypedMessagesNameShapes) {
  LSTM m(LSTMOptions(8, 8).num_layers(2));
  auto expect_msg = [](const std::function<void()>& f, const std::string& msg) {
    try {
      f();
      ADD_FAILURE() << "no exception, expected: " << msg;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  EXPECT_THROW(run(m, zeros({3, 2, 7})), RuntimeError);
  expect_msg([&] { run(m, zeros({3, 2, 7})); }, "input.size(-1) must be equal to input_size. Expected 8, got 7");
  expect_msg(
      [&] {
        run(m, zeros({3, 2, 8}), zeros({2, 3, 8}), zeros({2, 2, 8}));
      },
      "Expected hidden[0] size (2, 2, 8), got [2, 3, 8]");
  expect_msg(
      [&] {
        run(m, zeros({3, 2, 8}), zeros({2, 2, 8}), zeros({2, 2, 7}));
      },
      "Expected hidden[1] size (2, 2, 8), got [2, 2, 7]");
  expect_msg(
      [&] {
        run(m, zeros({3, 8}), zeros({2, 2, 8}), zeros({2, 2, 8}));
      },
      "For unbatched 2-D input, hx and cx should also be 2-D but got (3-D, 3-D) tensors");
  expect_msg(
      [&] {
        run(m, zeros({3, 2, 8}), zeros({2, 8}), zeros({2, 8}));
      },
      "For batched 3-D input, hx and cx should also be 3-D but got (2-D, 2-D) tensors");
  EXPECT_THROW(run(m, zeros({1, 3, 2, 8})), ValueError);
  EXPECT_THROW(run(m, zeros({0, 2, 8})), RuntimeError);
  EXPECT_THROW(run(m, zeros({3, 2, 8}, kFloat64)), RuntimeError);
  EXPECT_THROW(LSTM(LSTMOptions(8, 8).dropout(0.5)), NotImplementedError);
  EXPECT_THROW(LSTM(LSTMOptions(8, 8).dropout(2)), ValueError);
  EXPECT_THROW(LSTM(LSTMOptions(8, 8).bidirectional(true)), NotImplementedError);
  EXPECT_THROW(LSTM(LSTMOptions(8, 8).proj_size(4)), NotImplementedError);
  EXPECT_THROW(m(Values{Value(zeros({3, 2, 8})), Value(zeros({2, 2, 8}))}), TypeError);
}

TEST(LSTMRepr, LikePyTorch) {
  const auto& reprs = twig::testing::nn_layer_fixtures()["reprs"];
  EXPECT_EQ(LSTM(LSTMOptions(8, 8).num_layers(2)).repr(), reprs["LSTM"].get<std::string>());
  EXPECT_EQ(LSTM(LSTMOptions(3, 4).bias(false).batch_first(true)).repr(), reprs["LSTM_flags"].get<std::string>());
  EXPECT_EQ(LSTM(LSTMOptions(8, 8).num_layers(2)).repr(), "LSTM(8, 8, num_layers=2)");
}

TEST(LSTMClone, DeepCopyComputesTheSame) {
  const auto& fixture = twig::testing::nn_layer_case("lstm_1layer");
  auto m = lstm_from_case(fixture);
  auto c = std::dynamic_pointer_cast<LSTM>(m->clone());
  ASSERT_TRUE(c);
  Tensor x = json_tensor(fixture["inputs"]["x"]);
  // The clone computes PyTorch's output (independent of the original), and the original's.
  EXPECT_MATCHES_TORCH(run(*c, x)[0], fixture["outputs"][0], "clone output");
  EXPECT_TENSOR_EQ(run(*m, x)[0], run(*c, x)[0]);
  EXPECT_FALSE(c->get("weight_ih_l0").is_same(m->get("weight_ih_l0")));
  // Deep: zeroing the clone's weights leaves the original computing PyTorch's output.
  {
    autograd::NoGradGuard no_grad;
    c->get("weight_ih_l0").zero_();
  }
  EXPECT_MATCHES_TORCH(run(*m, x)[0], fixture["outputs"][0], "original after changing the clone");
}
