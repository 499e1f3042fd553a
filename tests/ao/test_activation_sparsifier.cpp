// PyTorch's test_activation_sparsifier.py (spec §9): the main test with every helper check of seed
// 003, in the Python order, on the test's own Model; then what the Python test leaves weak or out:
// a squash check that fails if the sparsify hook does nothing (spec §10.10), golden masks and
// outputs from PyTorch 1.13 (tools/gen_activation_fixtures.py), the error cases with 1.13's
// messages, and save/load of the sparsifier state and of a model carrying sparsify hooks.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fixture_file.h"
#include "serialize/serialize_testing.h"
#include "testing.h"
#include "twig/ao/activation_sparsifier.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/ao/utils.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/conv.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/pooling.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/registry.h"
#include "twig/tensor/layout.h"

namespace twig::ao {
namespace {

using nn::Dict;
using nn::Object;
using nn::Tuple;
using testing::expect_error;
using testing::TempDir;
using json = nlohmann::json;

const json& fixture() { return testing::load_fixture("ao_activation.json", "gen_activation_fixtures.py"); }

// ---- the test's Model (spec §9.1) ----------------------------------------------------------------

// (N,1,28,28) -> conv1 (N,32,26,26) -> conv2 (N,32,24,24) -> identity1 -> max_pool1 (N,32,12,12)
// -> reshape (N,4608) -> linear1 (N,128) -> identity2 -> relu -> linear2 (N,10). Children are called
// through Module::call so their hooks run.
class Model : public nn::UnaryModule {
 public:
  Model() : UnaryModule("ActivationSparsifierTestModel") {
    register_module("conv1", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(1, 32, 3)));
    register_module("conv2", std::make_shared<nn::Conv2d>(nn::Conv2dOptions(32, 32, 3)));
    register_module("identity1", std::make_shared<nn::Identity>());
    register_module("max_pool1", std::make_shared<nn::MaxPool2d>(nn::MaxPool2dOptions(2).stride(2)));
    register_module("linear1", std::make_shared<nn::Linear>(4608, 128));
    register_module("identity2", std::make_shared<nn::Identity>());
    register_module("linear2", std::make_shared<nn::Linear>(128, 10));
  }
  Tensor forward(const Tensor& x) override {
    Tensor out = run("conv1", x);
    out = run("conv2", out);
    out = run("identity1", out);
    out = run("max_pool1", out);
    out = out.reshape({x.size(0), -1});
    out = nn::functional::relu(run("identity2", run("linear1", out)));
    return run("linear2", out);
  }

 private:
  Tensor run(const std::string& name, const Tensor& x) { return child(name)->call({x}).tensor(); }
};

// ---- the functions of the test (spec §9.2) -------------------------------------------------------

Tensor agg_fn(const Tensor& x, const Tensor& y) { return x + y; }
Tensor reduce_fn(const Tensor& x) { return x.mean({0}); }
// |data| flattened, the round(sparsity_level * n) smallest (non-stable argsort) set to 0 in a float
// mask of ones, reshaped to data's shape.
Tensor vanilla_norm_sparsifier(const Tensor& data, const Dict& sparse_config) {
  double sparsity_level = sparse_config.at("sparsity_level").to_double();
  Tensor v = data.abs().flatten();
  Tensor order = v.argsort();
  int64_t t = scalar_tensor(sparsity_level * static_cast<double>(v.numel()), kFloat64).round().item<int64_t>();
  Tensor mask = ones_like(v);
  mask.index_fill_(0, order.narrow(0, 0, t), 0);
  return mask.reshape(data.shape());
}

// One Object per function, made once, so configs compare them by identity as Python does.
const Object& agg_obj() {
  static const Object f = aggregate_function(agg_fn);
  return f;
}
const Object& reduce_obj() {
  static const Object f = reduce_function(reduce_fn);
  return f;
}
const Object& vanilla_obj() {
  static const Object f = mask_function(vanilla_norm_sparsifier);
  return f;
}

// ---- fixed inputs and weights (the generator's formula, bit for bit) ------------------------------

uint32_t hash32(uint32_t seed, uint32_t i) {
  uint32_t x = i * 0x9E3779B1u + (seed * 0x85EBCA77u + 0x165667B1u);
  x ^= x >> 15;
  x *= 0x2C1B3C6Du;
  x ^= x >> 12;
  x *= 0x297A2D39u;
  x ^= x >> 15;
  return x;
}

Tensor hashed(uint32_t seed, const Shape& shape, uint32_t modulus, int64_t divisor) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    auto k = static_cast<int64_t>(hash32(seed, static_cast<uint32_t>(i)) % modulus) - (modulus - 1) / 2;
    v[static_cast<size_t>(i)] = static_cast<float>(k) / static_cast<float>(divisor);
  }
  return from_vector(v, shape);
}

Tensor hashed_input(int j) { return hashed(100 + j, {16, 1, 28, 28}, 200001, 131072); }

// A Model whose parameters (named_parameters order p, seed 1 + p) come from the formula.
std::shared_ptr<Model> hashed_model() {
  auto model = std::make_shared<Model>();
  NoGradGuard no_grad;
  uint32_t p = 0;
  for (const auto& [name, param] : model->named_parameters()) {
    int64_t divisor = fixture()["divisors"][name.substr(0, name.find('.'))].get<int64_t>();
    param.copy_(hashed(1 + p++, param.shape(), 2001, divisor));
  }
  return model;
}

// ---- registration (spec §9.3 steps 1-4) -----------------------------------------------------------

// Python's layer_args_list: (args but sparse_config, sparse_config) per registered layer.
struct LayerArgs {
  Dict args;  // "layer", "mask_fn", and "features" / "feature_dim" where given
  Dict sparse_config;
};

// (Assigned field by field: designated initializers that leave fields out warn under -Wextra.)
ActivationArgs constructor_args() {
  ActivationArgs a;
  a.aggregate_fn = agg_obj();
  a.reduce_fn = reduce_obj();
  a.sparse_config = {{"sparsity_level", 0.5}};
  return a;
}

// register_layer's mask_fn=_vanilla_norm_sparsifier (and sparsity_level when given).
ActivationArgs vanilla_args(std::optional<double> sparsity_level = std::nullopt) {
  ActivationArgs a;
  a.mask_fn = vanilla_obj();
  if (sparsity_level) a.sparse_config = {{"sparsity_level", *sparsity_level}};
  return a;
}

std::vector<LayerArgs> register_test_layers(ActivationSparsifier& sp, const nn::ModulePtr& model) {
  std::vector<LayerArgs> list{
      {{{"layer", model->child("conv1")}, {"mask_fn", vanilla_obj()}}, {{"sparsity_level", 0.3}}},
      {{{"layer", model->child("linear1")},
        {"features", std::vector<int64_t>{0, 10, 234}},
        {"feature_dim", 1},
        {"mask_fn", vanilla_obj()}},
       {{"sparsity_level", 0.1}}},
      {{{"layer", model->child("identity1")}, {"mask_fn", vanilla_obj()}}, {{"sparsity_level", 0.3}}},
      {{{"layer", model->child("identity2")},
        {"features", std::vector<int64_t>{0, 10, 20}},
        {"feature_dim", 1},
        {"mask_fn", vanilla_obj()}},
       {{"sparsity_level", 0.1}}},
  };
  for (const LayerArgs& la : list) {
    ActivationArgs a;
    a.mask_fn = la.args.at("mask_fn");
    a.sparse_config = la.sparse_config;
    if (la.args.contains("features")) {
      a.features = la.args.at("features").to_int_vector();
      a.feature_dim = la.args.at("feature_dim").to_int();
    }
    sp.register_layer(la.args.at("layer").to_module(), a);
  }
  return list;
}

const std::vector<std::string> kNames{"conv1", "linear1", "identity1", "identity2"};

// ---- the helpers of seed 003 -------------------------------------------------------------------------

void check_constructor(const ActivationSparsifier& sp, const Dict& defaults, const Dict& sparse_config) {
  Dict combined = defaults.copy();
  combined.set("sparse_config", sparse_config);
  EXPECT_LE(combined.size(), sp.defaults().size());
  for (const auto& [key, config] : sp.defaults()) {
    EXPECT_TRUE(config == combined.get(key, Object())) << key << ": " << config.repr();
  }
  // Spec §8.1: the six keys in Python's order.
  EXPECT_EQ(sp.defaults().keys(), (std::vector<std::string>{"sparse_config", "aggregate_fn", "reduce_fn", "mask_fn",
                                                            "features", "feature_dim"}));
}

void check_register_layer(const ActivationSparsifier& sp, const Dict& defaults, const Dict& sparse_config,
                          const std::vector<LayerArgs>& layer_args_list) {
  const Dict& data_groups = sp.data_groups();
  ASSERT_EQ(data_groups.size(), layer_args_list.size());
  for (const LayerArgs& la : layer_args_list) {
    Dict sparse_config_actual = sparse_config.deepcopy();
    sparse_config_actual.update(la.sparse_config);
    auto fqn = module_to_fqn(*sp.model(), *la.args.at("layer").to_module());
    ASSERT_TRUE(fqn.has_value());
    const std::string& name = *fqn;
    Dict config = data_groups.at(name).to_dict();
    EXPECT_TRUE(config.at("sparse_config") == Object(sparse_config_actual)) << name;

    Dict other_config_actual = defaults.deepcopy();
    other_config_actual.update(la.args);
    other_config_actual.pop("layer");
    for (const auto& [key, value] : other_config_actual) {
      ASSERT_TRUE(config.contains(key)) << name << " lacks " << key;
      EXPECT_TRUE(value == config.at(key)) << name << "." << key << ": " << config.at(key).repr();
    }
    expect_error<ValueError>([&] { sp.get_mask(name); }, "Error: shape unknown");

    // What PyTorch's registration leaves besides (spec §8.2): the key order, the layer, the hook.
    std::vector<std::string> keys{"sparse_config", "aggregate_fn", "reduce_fn", "mask_fn",   "features",
                                  "feature_dim",   "layer",        "hook",      "hook_state"};
    EXPECT_EQ(config.keys(), keys) << name;
    EXPECT_TRUE(config.at("layer").is(la.args.at("layer"))) << name;
    EXPECT_TRUE(config.at("hook").is_handle()) << name;
    EXPECT_EQ(config.at("hook_state").to_string(), "aggregate") << name;
    if (!la.args.contains("features")) {
      EXPECT_TRUE(config.at("features").is_none());
      EXPECT_TRUE(config.at("feature_dim").is_none());
    }
  }
}

// Returns the aggregate of data_list by the config's own aggregate_fn (0 + x0 + ... is x0 + ...).
Tensor check_pre_forward_hook(const ActivationSparsifier& sp, const std::vector<Tensor>& data_list) {
  Tensor data_agg_actual = data_list[0];
  auto name = module_to_fqn(*sp.model(), *sp.model()->child("conv1"));
  EXPECT_TRUE(name.has_value());
  Dict config = sp.data_groups().at(*name).to_dict();
  const Object& agg = config.at("aggregate_fn");
  for (size_t i = 1; i < data_list.size(); ++i) data_agg_actual = agg({data_agg_actual, data_list[i]}).to_tensor();
  EXPECT_TRUE(config.contains("data"));
  if (!config.contains("data")) return data_agg_actual;
  const Tensor& data = config.at("data").to_tensor();
  EXPECT_EQ(data.dtype(), kFloat32);
  EXPECT_EQ(data.shape(), (Shape{16, 1, 28, 28}));
  EXPECT_TRUE(equal(data, data_agg_actual));
  return data_agg_actual;
}

void check_step(const ActivationSparsifier& sp, const Tensor& data_agg_actual) {
  auto name = module_to_fqn(*sp.model(), *sp.model()->child("conv1"));
  ASSERT_TRUE(name.has_value());
  Dict config = sp.data_groups().at(*name).to_dict();
  Tensor data_reduce_actual = config.at("reduce_fn")({data_agg_actual}).to_tensor();
  Tensor mask_actual = config.at("mask_fn")({data_reduce_actual, config.at("sparse_config")}).to_tensor();
  Tensor mask_model = sp.get_mask(*name).to_tensor();
  EXPECT_EQ(mask_model.dtype(), kFloat32);
  EXPECT_TRUE(equal(mask_model, mask_actual));
  for (const auto& [layer, cfg] : sp.data_groups()) EXPECT_FALSE(cfg.to_dict().contains("data")) << layer;
}

// The identity layers' forward hooks: output == mask * input (per feature where features are
// given), each hook run once. Returns the handles (removed by the caller).
std::vector<RemovableHandle> check_squash_mask(ActivationSparsifier& sp, const Tensor& data, int& hook_runs) {
  std::vector<RemovableHandle> handles;
  for (const auto& [name, cfg_obj] : sp.data_groups()) {
    if (name.find("identity") == std::string::npos) continue;
    Dict cfg = cfg_obj.to_dict();
    Object mask = sp.get_mask(name);
    Object features = cfg.get("features", Object());
    Object feature_dim = cfg.get("feature_dim", Object());
    handles.push_back(cfg.at("layer").to_module()->register_forward_hook(
        [mask, features, feature_dim, name, &hook_runs](nn::Module&, const nn::Values& input,
                                                        const nn::Value& output) -> std::optional<nn::Value> {
          ++hook_runs;
          const Tensor& input_data = input[0].tensor();
          const Tensor& out = output.tensor();
          if (features.is_none()) {
            EXPECT_TRUE(equal(mask.to_tensor() * input_data, out)) << name;
          } else {
            std::vector<int64_t> f = features.to_int_vector();
            int64_t dim = feature_dim.to_int();
            for (size_t idx = 0; idx < f.size(); ++idx) {
              Tensor feature = tensor({f[idx]}, kInt64);
              Tensor inp_data_feature = input_data.index_select(dim, feature);
              Tensor out_data_feature = out.index_select(dim, feature);
              EXPECT_TRUE(equal(mask.to_tuple()[idx].to_tensor() * inp_data_feature, out_data_feature))
                  << name << " feature " << f[idx];
            }
          }
          return std::nullopt;
        }));
  }
  sp.model()->call({data});
  return handles;
}

bool is_sparse_mask(const Object& mask) {
  if (!mask.is_tensor()) return false;
  const Tensor& m = mask.to_tensor();
  return m.is_sparse() && m.layout() == Layout::SparseCoo;
}

// Dumps sp1's state_dict into a fresh sparsifier on a fresh Model and checks it reads back.
void check_state_dict(const ActivationSparsifier& sp1) {
  Dict state_dict = sp1.state_dict();
  auto new_model = std::make_shared<Model>();
  ActivationSparsifier sp2(new_model);
  EXPECT_FALSE(sp2.defaults() == sp1.defaults());
  EXPECT_NE(sp2.data_groups().size(), sp1.data_groups().size());

  sp2.load_state_dict(state_dict);
  EXPECT_TRUE(sp2.defaults() == sp1.defaults());
  EXPECT_EQ(sp2.state().size(), sp1.state().size());
  for (const auto& [name, state] : sp2.state()) {
    ASSERT_TRUE(sp1.state().contains(name)) << name;
    Object mask1 = sp1.state().at(name).to_dict().at("mask");
    Object mask2 = state.to_dict().at("mask");
    if (mask1.is_none()) {
      EXPECT_TRUE(mask2.is_none()) << name;
      continue;
    }
    ASSERT_EQ(mask1.kind(), mask2.kind()) << name;
    std::vector<Tensor> m1, m2;
    if (mask1.is_tuple()) {
      ASSERT_EQ(mask1.to_tuple().size(), mask2.to_tuple().size()) << name;
      for (const Object& m : mask1.to_tuple()) m1.push_back(m.to_tensor());
      for (const Object& m : mask2.to_tuple()) m2.push_back(m.to_tensor());
    } else {
      m1.push_back(mask1.to_tensor());
      m2.push_back(mask2.to_tensor());
    }
    for (size_t i = 0; i < m1.size(); ++i) {
      EXPECT_FALSE(m2[i].is_sparse()) << name;  // dense again after the load
      EXPECT_EQ(m2[i].dtype(), m1[i].dtype()) << name;
      EXPECT_TRUE(equal(m1[i], m2[i])) << name << " [" << i << "]";
    }
  }
  for (const auto& [name, state] : state_dict.at("state").to_dict()) {
    Object mask = state.to_dict().at("mask");
    if (mask.is_none()) continue;
    if (mask.is_tuple()) {
      for (const Object& m : mask.to_tuple()) EXPECT_TRUE(is_sparse_mask(m)) << name;
    } else {
      EXPECT_TRUE(is_sparse_mask(mask)) << name;
    }
  }
  const Dict& dg1 = sp1.data_groups();
  const Dict& dg2 = sp2.data_groups();
  for (const auto& [layer_name, config] : dg1) {
    ASSERT_TRUE(dg2.contains(layer_name)) << layer_name;
    Dict config1 = config.to_dict().copy(), config2 = dg2.at(layer_name).to_dict().copy();
    for (Dict* c : {&config1, &config2}) {
      c->erase("hook");
      c->erase("layer");
    }
    EXPECT_TRUE(config1 == config2) << layer_name << ": " << config1.repr() << " vs " << config2.repr();
    // The load put each layer of the new model and a new hook handle in the config.
    Dict loaded = dg2.at(layer_name).to_dict();
    EXPECT_TRUE(loaded.at("layer").to_module() == fqn_to_submodule(new_model, layer_name)) << layer_name;
    EXPECT_TRUE(loaded.at("hook").is_handle()) << layer_name;
  }
}

// Shapes, dtype and zero count of a layer's masks (a tuple of `count` masks when count > 0).
void expect_masks(const ActivationSparsifier& sp, const std::string& name, const Shape& shape, int64_t zeros,
                  size_t count = 0) {
  Object mask = sp.get_mask(name);
  std::vector<Tensor> masks;
  if (count == 0) {
    ASSERT_TRUE(mask.is_tensor()) << name;
    masks.push_back(mask.to_tensor());
  } else {
    ASSERT_TRUE(mask.is_tuple()) << name;
    ASSERT_EQ(mask.to_tuple().size(), count) << name;
    for (const Object& m : mask.to_tuple()) masks.push_back(m.to_tensor());
  }
  for (const Tensor& m : masks) {
    EXPECT_EQ(m.dtype(), kFloat32) << name;
    EXPECT_EQ(m.shape(), shape) << name;
    EXPECT_EQ(m.eq(0).sum().item<int64_t>(), zeros) << name;
    EXPECT_EQ(m.eq(1).sum().item<int64_t>(), m.numel() - zeros) << name;  // a 0/1 mask
  }
}

// ---- the main test (spec §9.3) -------------------------------------------------------------------------

TEST(TestActivationSparsifier, test_activation_sparsifier) {
  manual_seed(0);
  // 1-2
  Dict sparse_config{{"sparsity_level", 0.5}};
  Dict defaults{{"aggregate_fn", agg_obj()}, {"reduce_fn", reduce_obj()}};
  auto model = std::make_shared<Model>();
  ActivationSparsifier sp(model, constructor_args());
  EXPECT_TRUE(sp.model() == nn::ModulePtr(model));
  // 3
  check_constructor(sp, defaults, sparse_config);
  // 4-5
  std::vector<LayerArgs> layer_args_list = register_test_layers(sp, model);
  check_register_layer(sp, defaults, sparse_config, layer_args_list);
  // 6
  check_state_dict(sp);
  // 7
  std::vector<Tensor> data_list;
  for (int i = 0; i < 5; ++i) {
    data_list.push_back(randn({16, 1, 28, 28}));
    model->call({data_list.back()});
  }
  // 8
  Tensor data_agg_actual = check_pre_forward_hook(sp, data_list);
  // 9: every mask is ones of the input's shape, batch included (features: the selected slices).
  expect_masks(sp, "conv1", {16, 1, 28, 28}, 0);
  expect_masks(sp, "identity1", {16, 32, 24, 24}, 0);
  expect_masks(sp, "linear1", {16, 1}, 0, 3);
  expect_masks(sp, "identity2", {16, 1}, 0, 3);
  check_state_dict(sp);
  // 10-11: step() replaces the mask's data (the same tensor object, a new shape).
  Object conv1_mask_before = sp.get_mask("conv1");
  sp.step();
  EXPECT_TRUE(sp.get_mask("conv1").is(conv1_mask_before));
  EXPECT_EQ(conv1_mask_before.to_tensor().shape(), (Shape{1, 28, 28}));
  check_state_dict(sp);
  // 12
  check_step(sp, data_agg_actual);
  expect_masks(sp, "conv1", {1, 28, 28}, 235);        // round(0.3 * 784)
  expect_masks(sp, "identity1", {32, 24, 24}, 5530);  // round(0.3 * 18432)
  expect_masks(sp, "linear1", {1}, 0, 3);             // round(0.1 * 1) = 0
  expect_masks(sp, "identity2", {1}, 0, 3);
  // 13-14
  sp.squash_mask();
  for (const auto& [name, cfg] : sp.data_groups()) {
    EXPECT_EQ(cfg.to_dict().at("hook_state").to_string(), "sparsify") << name;
    EXPECT_EQ(cfg.to_dict().keys().back(), "hook") << name;  // popped and set again, as Python's dict
  }
  int hook_runs = 0;
  for (RemovableHandle& h : check_squash_mask(sp, data_list[0], hook_runs)) h.remove();
  EXPECT_EQ(hook_runs, 2);  // both identity checks ran
  // 15
  check_state_dict(sp);
}

// ---- beyond the Python test ---------------------------------------------------------------------------

// The sequence on the generator's model and inputs: registration, five forwards and step().
struct HashedRun {
  std::shared_ptr<Model> model = hashed_model();
  ActivationSparsifier sp{model, constructor_args()};
  std::vector<Tensor> inputs;
  explicit HashedRun(bool step = true) {
    register_test_layers(sp, model);
    for (int j = 0; j < 5; ++j) {
      inputs.push_back(hashed_input(j));
      model->call({inputs.back()});
    }
    if (step) sp.step();
  }
};

std::vector<Tensor> tensors_of(const Object& mask) {
  std::vector<Tensor> out;
  if (mask.is_tuple()) {
    for (const Object& m : mask.to_tuple()) out.push_back(m.to_tensor());
  } else {
    out.push_back(mask.to_tensor());
  }
  return out;
}

// The generator's hex bit string (4 entries a digit, high bit first) as a 0/1 float tensor.
Tensor mask_from_hex(const std::string& hex, const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int digit = std::stoi(hex.substr(static_cast<size_t>(i / 4), 1), nullptr, 16);
    v[static_cast<size_t>(i)] = static_cast<float>((digit >> (3 - i % 4)) & 1);
  }
  return from_vector(v, shape);
}

// The sparse masks of a state_dict() against the generator's summary of PyTorch's.
void expect_sparse_state(const Dict& sd, const ActivationSparsifier& sp, const json& golden) {
  Dict state = sd.at("state").to_dict();
  EXPECT_EQ(state.size(), golden.size());
  for (const auto& [name, masks] : golden.items()) {
    ASSERT_TRUE(state.contains(name)) << name;
    std::vector<Tensor> sparse = tensors_of(state.at(name).to_dict().at("mask"));
    std::vector<Tensor> dense = tensors_of(sp.get_mask(name));
    ASSERT_EQ(sparse.size(), masks.size()) << name;
    for (size_t i = 0; i < sparse.size(); ++i) {
      const Tensor& m = sparse[i];
      const json& g = masks[i];
      ASSERT_TRUE(m.is_sparse()) << name;
      std::ostringstream layout;
      layout << m.layout();
      EXPECT_EQ(layout.str(), g["layout"].get<std::string>()) << name;
      EXPECT_EQ(m.sparse_dim(), g["sparse_dim"].get<int64_t>()) << name;
      EXPECT_EQ(m.dense_dim(), 0) << name;
      EXPECT_EQ(m._nnz(), g["nnz"].get<int64_t>()) << name;
      EXPECT_EQ(m.shape(), g["shape"].get<Shape>()) << name;
      EXPECT_EQ(g["values_dtype"], "torch.float32");
      EXPECT_EQ(g["indices_dtype"], "torch.int64");
      EXPECT_EQ(m.values().dtype(), kFloat32) << name;
      EXPECT_EQ(m.indices().dtype(), kInt64) << name;
      EXPECT_EQ(m.indices().shape(), (Shape{m.sparse_dim(), m._nnz()})) << name;
      EXPECT_TRUE(equal(m.to_dense(), dense[i])) << name;
    }
  }
}

TEST(TestActivationSparsifier, GoldenMasksStateAndOutputMatchPytorch) {
  const json& fx = fixture();
  HashedRun run(/*step=*/false);
  ActivationSparsifier& sp = run.sp;
  // The aggregate of the dyadic inputs is exact, so its float64 sum is too.
  Tensor conv1_data = sp.data_groups().at("conv1").to_dict().at("data").to_tensor();
  EXPECT_EQ(conv1_data.to(kFloat64).sum().item<double>(), fx["conv1_data_sum"].get<double>());
  expect_sparse_state(sp.state_dict(), sp, fx["state_dict_after_forward"]);

  sp.step();
  expect_sparse_state(sp.state_dict(), sp, fx["state_dict_after_step"]);
  for (const auto& [name, golden] : fx["masks_after_step"].items()) {
    std::vector<Tensor> masks = tensors_of(sp.get_mask(name));
    std::vector<json> goldens = golden.is_array() ? golden.get<std::vector<json>>() : std::vector<json>{golden};
    ASSERT_EQ(masks.size(), goldens.size()) << name;
    for (size_t i = 0; i < masks.size(); ++i) {
      const json& g = goldens[i];
      Shape shape = g["shape"].get<Shape>();
      EXPECT_EQ(g["dtype"], "torch.float32");
      EXPECT_EQ(masks[i].dtype(), kFloat32) << name;
      ASSERT_EQ(masks[i].shape(), shape) << name;
      Tensor expected = mask_from_hex(g["hex"].get<std::string>(), shape);
      EXPECT_EQ(masks[i].ne(expected).sum().item<int64_t>(), 0) << name << " [" << i << "]: entries differ";
      if (g.contains("zeros")) {
        EXPECT_EQ(masks[i].eq(0).sum().item<int64_t>(), g["zeros"].get<int64_t>()) << name;
      }
    }
  }
  // conv1's sparse indices are its mask's nonzero positions in row-major order.
  Tensor conv1_sparse = sp.state_dict().at("state").to_dict().at("conv1").to_dict().at("mask").to_tensor();
  Tensor idx = conv1_sparse.indices();
  Tensor linear = idx.select(0, 0) * 784 + idx.select(0, 1) * 28 + idx.select(0, 2);
  Tensor nonzero = sp.get_mask("conv1").to_tensor().flatten().ne(0).nonzero().flatten();
  EXPECT_TRUE(equal(linear, nonzero));

  sp.squash_mask();
  NoGradGuard no_grad;
  Tensor out = run.model->call({run.inputs[0]}).tensor();
  const json& g = fx["squash_output"];
  EXPECT_EQ(g["dtype"], "torch.float32");
  EXPECT_EQ(out.dtype(), kFloat32);
  ASSERT_EQ(out.shape(), g["shape"].get<Shape>());
  Tensor expected = from_vector(g["values"].get<std::vector<double>>(), out.shape()).to(kFloat32);
  // Summation order differs from PyTorch's (measured: 4.5e-8 at most).
  EXPECT_TRUE(allclose(out, expected, 1e-5, 1e-6)) << (out - expected).abs().max().item<double>();
}

// A forward hook on `layer` keeping a copy of its first input and of its output.
struct Capture {
  Tensor input, output;
  RemovableHandle handle;
  explicit Capture(const nn::ModulePtr& layer) {
    handle = layer->register_forward_hook(
        [this](nn::Module&, const nn::Values& in, const nn::Value& out) -> std::optional<nn::Value> {
          input = in[0].tensor().clone();
          output = out.tensor().clone();
          return std::nullopt;
        });
  }
  ~Capture() { handle.remove(); }
};

// Ones of length n with the feature masks' values at the features (what the in-place sparsify
// hook does to columns of a (N, n) input).
Tensor column_mask(int64_t n, const std::vector<int64_t>& features, const Object& masks) {
  std::vector<float> v(static_cast<size_t>(n), 1.0F);
  for (size_t i = 0; i < features.size(); ++i) {
    v[static_cast<size_t>(features[i])] = masks.to_tuple()[i].to_tensor().item<float>();
  }
  return from_vector(v, {n});
}

// Spec §10.10: Python's squash check sees the already-masked input, so it holds whatever the hook
// does. Here the raw activations are captured upstream, and the hooked model must equal a forward
// written out with the masks and differ from the unhooked one.
TEST(TestActivationSparsifier, SquashedHooksMaskTheLayerInputs) {
  HashedRun run;
  ActivationSparsifier& sp = run.sp;
  auto twin = hashed_model();  // the same weights, no hooks
  Tensor x = run.inputs[0];
  sp.squash_mask();
  // The feature masks are all ones (round(0.1 * 1) = 0): zero one of each in place, as a user may;
  // the sparsify hooks hold these very tensors.
  sp.get_mask("linear1").to_tuple()[1].to_tensor().zero_();    // feature 10
  sp.get_mask("identity2").to_tuple()[0].to_tensor().zero_();  // feature 0
  Tensor m_conv1 = sp.get_mask("conv1").to_tensor(), m_id1 = sp.get_mask("identity1").to_tensor();
  Tensor col_linear1 = column_mask(4608, {0, 10, 234}, sp.get_mask("linear1"));
  Tensor col_id2 = column_mask(128, {0, 10, 20}, sp.get_mask("identity2"));

  NoGradGuard no_grad;
  Tensor hooked, raw_id1, out_id1, raw_id2, out_id2, in_conv1, in_linear1;
  {
    Capture conv1(run.model->child("conv1")), conv2(run.model->child("conv2")), id1(run.model->child("identity1")),
        lin1(run.model->child("linear1")), id2(run.model->child("identity2"));
    hooked = run.model->call({x}).tensor();
    in_conv1 = conv1.input;
    raw_id1 = conv2.output;
    out_id1 = id1.output;
    in_linear1 = lin1.input;
    raw_id2 = lin1.output;
    out_id2 = id2.output;
  }
  // Written out: each masked layer's input multiplied by its mask.
  auto layer = [&](const char* name, const Tensor& t) {
    return std::dynamic_pointer_cast<nn::UnaryModule>(twin->child(name))->forward(t);
  };
  Tensor a = layer("conv2", layer("conv1", x * m_conv1)) * m_id1;
  Tensor b = layer("max_pool1", a).reshape({16, -1}) * col_linear1;
  Tensor manual = layer("linear2", nn::functional::relu(layer("linear1", b) * col_id2));
  Tensor unhooked = twin->call({x}).tensor();

  // The same kernels on the same values: exactly equal.
  EXPECT_TRUE(equal(hooked, manual)) << (hooked - manual).abs().max().item<double>();
  EXPECT_GT((hooked - unhooked).abs().max().item<double>(), 1e-2);  // measured: 0.054
  EXPECT_TRUE(equal(in_conv1, x * m_conv1));
  EXPECT_FALSE(equal(in_conv1, x));
  EXPECT_TRUE(equal(in_linear1.select(1, 10), zeros({16})));
  // identity1: zeros where the mask is 0 and the raw activation was not (many such entries).
  EXPECT_TRUE(equal(out_id1, raw_id1 * m_id1));
  EXPECT_GT(raw_id1.ne(0).logical_and(m_id1.eq(0).expand(raw_id1.shape())).sum().item<int64_t>(), 10000);
  // identity2: column 0 zeroed, the raw one was not; the rest as it was.
  EXPECT_TRUE(equal(out_id2, raw_id2 * col_id2));
  EXPECT_TRUE(equal(out_id2.select(1, 0), zeros({16})));
  EXPECT_GT(raw_id2.select(1, 0).ne(0).sum().item<int64_t>(), 0);
  EXPECT_TRUE(equal(out_id2.select(1, 1), raw_id2.select(1, 1)));
}

// get_mask before any forward, an unknown layer and step before any forward raise what 1.13
// raises, with its messages; the other asserts of the class are AssertionErrors.
TEST(TestActivationSparsifier, ErrorsMatchPytorch) {
  const json& errors = fixture()["errors"];
  auto model = std::make_shared<Model>();
  ActivationSparsifier sp(model, constructor_args());
  sp.register_layer(model->child("conv1"), vanilla_args(0.3));
  auto message = [&](const char* key, const char* type) {
    EXPECT_EQ(errors[key]["type"], type) << key;
    return errors[key]["message"].get<std::string>();
  };
  expect_error<ValueError>([&] { sp.get_mask("conv1"); }, message("get_mask_before_forward", "ValueError"));
  expect_error<ValueError>([&] { sp.get_mask("conv3"); }, message("get_mask_unknown_layer", "ValueError"));
  expect_error<KeyError>([&] { sp.step(); }, message("step_before_forward", "KeyError"));
  expect_error<AssertionError>([&] { sp.get_mask_of(std::make_shared<nn::Identity>()); },
                               "layer not found in the specified model");
  expect_error<AssertionError>([&] { sp.register_layer(std::make_shared<nn::Identity>()); }, "layer not found");
  ActivationArgs no_feature_dim = vanilla_args();
  no_feature_dim.features = std::vector<int64_t>{0, 1};
  expect_error<AssertionError>([&] { sp.register_layer(model->child("linear1"), no_feature_dim); },
                               "need feature dim to select features");
  EXPECT_EQ(sp.data_groups().keys(), std::vector<std::string>{"conv1"});

  // A step that fails on a later layer leaves the earlier one as it was (not half stepped).
  model->call({randn({2, 1, 28, 28})});
  sp.register_layer(model->child("identity1"), vanilla_args());
  Object mask = sp.get_mask("conv1");
  expect_error<KeyError>([&] { sp.step(); }, "'data'");
  EXPECT_EQ(mask.to_tensor().shape(), (Shape{2, 1, 28, 28}));
  EXPECT_TRUE(equal(mask.to_tensor(), ones({2, 1, 28, 28})));
  EXPECT_TRUE(sp.data_groups().at("conv1").to_dict().contains("data"));
}

// Tensors by value, the rest as Python's ==.
bool same_value(const Object& a, const Object& b) {
  if (a.is_tensor() && b.is_tensor()) {
    const Tensor &x = a.to_tensor(), &y = b.to_tensor();
    return x.dtype() == y.dtype() && x.is_sparse() == y.is_sparse() &&
           equal(x.is_sparse() ? x.to_dense() : x, y.is_sparse() ? y.to_dense() : y);
  }
  if (a.is_tuple() && b.is_tuple()) {
    if (a.to_tuple().size() != b.to_tuple().size()) return false;
    for (size_t i = 0; i < a.to_tuple().size(); ++i) {
      if (!same_value(a.to_tuple()[i], b.to_tuple()[i])) return false;
    }
    return true;
  }
  if (a.is_dict() && b.is_dict()) {
    Dict x = a.to_dict(), y = b.to_dict();
    if (x.keys() != y.keys()) return false;
    for (const auto& [k, v] : x) {
      if (!same_value(v, y.at(k))) return false;
    }
    return true;
  }
  return a == b;
}

// A state_dict() through a file into a fresh sparsifier on a twin model: everything equal, the
// functions the very registered Objects, and (with `forward`: not while aggregate hooks would
// reset the masks) the twin computes what the original does.
void expect_file_round_trip(ActivationSparsifier& sp, const std::string& path, const Tensor& x, bool forward) {
  Dict sd = sp.state_dict();
  save_sparsifier_state(sd, path);
  Dict loaded = load_sparsifier_state(path);
  EXPECT_TRUE(same_value(Object(loaded), Object(sd))) << loaded.repr();
  auto twin = hashed_model();
  ActivationSparsifier sp2(twin);
  sp2.load_state_dict(loaded);
  EXPECT_TRUE(sp2.defaults().at("aggregate_fn").is(agg_obj()));
  EXPECT_TRUE(sp2.defaults() == sp.defaults());
  for (const std::string& name : kNames) {
    Dict c1 = sp.data_groups().at(name).to_dict().copy(), c2 = sp2.data_groups().at(name).to_dict().copy();
    for (Dict* c : {&c1, &c2}) {
      c->erase("hook");
      c->erase("layer");
    }
    EXPECT_TRUE(same_value(Object(c1), Object(c2))) << name;
    EXPECT_TRUE(same_value(sp.get_mask(name), sp2.get_mask(name))) << name;
    EXPECT_FALSE(sp2.get_mask(name).is(sp.get_mask(name))) << name;
  }
  if (!forward) return;
  NoGradGuard no_grad;
  EXPECT_TRUE(equal(sp.model()->call({x}).tensor(), twin->call({x}).tensor()));
}

TEST(TestActivationSparsifier, StateAndSparsifiedModelSurviveFiles) {
  register_function("test_activation_sparsifier.agg_fn", agg_obj());
  register_function("test_activation_sparsifier.reduce_fn", reduce_obj());
  register_function("test_activation_sparsifier._vanilla_norm_sparsifier", vanilla_obj());
  TempDir dir;
  HashedRun run;
  Tensor x = run.inputs[1];
  {
    SCOPED_TRACE("after step (aggregate hooks)");
    expect_file_round_trip(run.sp, dir.file("after_step.twig"), x, /*forward=*/false);
  }
  run.sp.squash_mask();
  {
    SCOPED_TRACE("after squash_mask (sparsify hooks)");
    expect_file_round_trip(run.sp, dir.file("after_squash.twig"), x, /*forward=*/true);
  }

  // The model itself with its sparsify pre-hooks, as one module file.
  serialize::register_module<Model>();
  serialize::save_module(*run.model, dir.file("model.twig"));
  auto back = serialize::load_module<Model>(dir.file("model.twig"));
  for (const std::string& name : kNames) {
    const auto& hooks = back->child(name)->forward_pre_hooks().items();
    ASSERT_EQ(hooks.size(), 1u) << name;
    EXPECT_EQ(hooks.begin()->second->type_name(), "ActivationSparsifyHook") << name;
  }
  NoGradGuard no_grad;
  Tensor out_id1, back_id1;
  Tensor expected, got;
  {
    Capture a(run.model->child("identity1")), b(back->child("identity1"));
    expected = run.model->call({x}).tensor();
    got = back->call({x}).tensor();
    out_id1 = a.output;
    back_id1 = b.output;
  }
  EXPECT_TRUE(equal(got, expected));
  EXPECT_TRUE(equal(back_id1, out_id1));  // identity1's mask came back: the same zeros
  EXPECT_GE(back_id1.eq(0).sum().item<int64_t>(), 5530 * 16);
}

// Saving a function that was never registered is a TypeError naming its key, and the existing
// file stays as it was.
TEST(TestActivationSparsifier, UnregisteredFunctionIsATypeErrorAndKeepsTheFile) {
  TempDir dir;
  std::string path = dir.file("state.twig");
  auto model = std::make_shared<Model>();
  ActivationArgs args = constructor_args();
  args.aggregate_fn = aggregate_function(agg_fn);  // a new function object, never registered
  ActivationSparsifier sp(model, args);
  save_sparsifier_state(Dict{{"x", 1}}, path);
  std::string before = testing::read_bytes(path);
  expect_error<TypeError>([&] { save_sparsifier_state(sp.state_dict(), path); }, "aggregate_fn");
  EXPECT_EQ(testing::read_bytes(path), before);
}

}  // namespace
}  // namespace twig::ao
