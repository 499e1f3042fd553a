// ActivationSparsifier piece by piece (issue 16; spec §8): the constructor's defaults, register_layer's
// merge and checks, the aggregate and sparsify pre-hooks, get_mask / step / squash_mask, their errors
// (the types and messages Python raises), state_dict / load_state_dict, the Handle kind of
// nn::Object, and files: the sparsifier state through save/load_sparsifier_state and a model saved
// whole with its sparsify hooks. PyTorch's own test (spec §9) is test_activation_sparsifier.cpp.
//
// The model is Sequential(Linear(4, 6), Identity, ReLU, Linear(6, 3)): layer "1" (Identity) sees
// Linear(4, 6)'s output (N, 6), and layer "3" sees relu of it.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "serialize/serialize_testing.h"
#include "testing.h"
#include "twig/ao/activation_sparsifier.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/linear.h"
#include "twig/serialize/module_io.h"
#include "twig/tensor/warning.h"

namespace twig::ao {
namespace {

using nn::Dict;
using nn::Object;
using nn::Tuple;
using testing::TempDir;

std::shared_ptr<nn::Sequential> make_model(uint64_t seed = 3) {
  manual_seed(seed);
  return std::make_shared<nn::Sequential>(
      std::initializer_list<nn::ModulePtr>{std::make_shared<nn::Linear>(4, 6), std::make_shared<nn::Identity>(),
                                           std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(6, 3)});
}

// The test's functions: sum, mean over the batch, and "keep what is above sparse_config['level']".
struct Fns {
  Object agg = aggregate_function([](const Tensor& a, const Tensor& x) { return a + x; });
  Object reduce = reduce_function([](const Tensor& d) { return d.mean({0}); });
  Object mask =
      mask_function([](const Tensor& d, const Dict& c) { return d.gt(c.at("level").to_double()).to(kFloat32); });
};

const Fns& fns() {
  static Fns f;
  return f;
}

ActivationArgs default_args() {
  ActivationArgs a;
  a.aggregate_fn = fns().agg;
  a.reduce_fn = fns().reduce;
  a.sparse_config = Dict{{"level", 0.0}, {"other", 7}};
  return a;
}

ActivationArgs with_mask(Dict sparse_config = {}) {
  ActivationArgs a;
  a.mask_fn = fns().mask;
  a.sparse_config = std::move(sparse_config);
  return a;
}

ActivationArgs with_features(std::vector<int64_t> features, int64_t dim, Dict sparse_config = {}) {
  ActivationArgs a = with_mask(std::move(sparse_config));
  a.features = std::move(features);
  a.feature_dim = dim;
  return a;
}

// The input layer "1" sees: the first Linear's output.
Tensor hidden(const std::shared_ptr<nn::Sequential>& model, const Tensor& x) {
  NoGradGuard g;
  return (*(*model)[0])(x);
}

size_t pre_hooks(const nn::ModulePtr& m) { return m->forward_pre_hooks().size(); }

TEST(ActivationSparsifierUnit, ConstructorDefaultsHavePyTorchsKeysOrderAndNones) {
  auto model = make_model();
  ActivationArgs args = default_args();
  ActivationSparsifier sp(model, args);
  EXPECT_EQ(sp.defaults().keys(), (std::vector<std::string>{"sparse_config", "aggregate_fn", "reduce_fn", "mask_fn",
                                                            "features", "feature_dim"}));
  EXPECT_TRUE(sp.defaults().at("aggregate_fn").is(fns().agg));
  EXPECT_TRUE(sp.defaults().at("reduce_fn").is(fns().reduce));
  EXPECT_TRUE(sp.defaults().at("mask_fn").is_none());
  EXPECT_TRUE(sp.defaults().at("features").is_none());
  EXPECT_TRUE(sp.defaults().at("feature_dim").is_none());
  Dict sc = sp.defaults().at("sparse_config").to_dict();
  EXPECT_EQ(sc, (Dict{{"level", 0.0}, {"other", 7}}));
  EXPECT_FALSE(sc.is(args.sparse_config));  // **sparse_config is a new dict
  EXPECT_TRUE(sp.data_groups().empty());
  EXPECT_TRUE(sp.state().empty());
  EXPECT_EQ(sp.model(), model);

  ActivationArgs f;
  f.features = std::vector<int64_t>{1, 2};
  f.feature_dim = 1;
  ActivationSparsifier sp2(model, f);
  EXPECT_EQ(sp2.defaults().at("features"), Object(Tuple{1, 2}));
  EXPECT_EQ(sp2.defaults().at("feature_dim"), Object(1));
  EXPECT_ERROR(ActivationSparsifier(nullptr), ValueError, "model is null");
}

TEST(ActivationSparsifierUnit, RegisterLayerMergesDefaultsAndLayerArguments) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask({{"level", 0.25}, {"extra", "x"}}));
  ASSERT_EQ(sp.data_groups().size(), 1u);
  Dict cfg = sp.data_groups().at("1").to_dict();
  EXPECT_EQ(cfg.keys(), (std::vector<std::string>{"sparse_config", "aggregate_fn", "reduce_fn", "mask_fn", "features",
                                                  "feature_dim", "layer", "hook", "hook_state"}));
  // Per-layer keys override the defaults; the defaults' own dict is not touched.
  EXPECT_EQ(cfg.at("sparse_config"), Object(Dict{{"level", 0.25}, {"other", 7}, {"extra", "x"}}));
  EXPECT_EQ(sp.defaults().at("sparse_config"), Object(Dict{{"level", 0.0}, {"other", 7}}));
  EXPECT_TRUE(cfg.at("aggregate_fn").is(fns().agg));  // functions are shared by the deep copy
  EXPECT_TRUE(cfg.at("mask_fn").is(fns().mask));
  EXPECT_TRUE(cfg.at("features").is_none());
  EXPECT_TRUE(cfg.at("layer").to_module() == (*model)[1]);
  EXPECT_STREQ(cfg.at("hook").type_name(), "RemovableHandle");
  EXPECT_EQ(cfg.at("hook_state"), Object("aggregate"));
  EXPECT_EQ(sp.state().at("1"), Object(Dict{{"mask", Object()}}));
  EXPECT_EQ(pre_hooks((*model)[1]), 1u);

  sp.register_layer((*model)[3], with_features({0, 2}, 1));
  Dict cfg3 = sp.data_groups().at("3").to_dict();
  EXPECT_EQ(cfg3.at("features"), Object(Tuple{0, 2}));
  EXPECT_EQ(cfg3.at("feature_dim"), Object(1));
  EXPECT_EQ(cfg3.at("sparse_config"), Object(Dict{{"level", 0.0}, {"other", 7}}));
  EXPECT_FALSE(cfg3.at("sparse_config").to_dict().is(cfg.at("sparse_config").to_dict()));
}

TEST(ActivationSparsifierUnit, RegisterLayerErrorsChangeNothing) {
  auto model = make_model();
  auto stranger = std::make_shared<nn::Identity>();
  ActivationSparsifier sp(model, default_args());
  EXPECT_ERROR(sp.register_layer(stranger, with_mask()), AssertionError, "layer not found in the model");
  EXPECT_ERROR(sp.register_layer(nullptr, with_mask()), AssertionError, "layer not found in the model");
  // features without feature_dim.
  ActivationArgs no_dim = with_mask();
  no_dim.features = std::vector<int64_t>{0};
  testing::expect_error<AssertionError>([&] { sp.register_layer((*model)[1], no_dim); },
                                        {"need feature dim to select features", "'1'"});
  // mask_fn unset: neither default nor given.
  testing::expect_error<AssertionError>([&] { sp.register_layer((*model)[1]); },
                                        {"function should be callable", "mask_fn", "None"});
  ActivationSparsifier bare(model);
  testing::expect_error<AssertionError>([&] { bare.register_layer((*model)[1], with_mask()); },
                                        {"function should be callable", "aggregate_fn"});
  EXPECT_TRUE(sp.data_groups().empty());
  EXPECT_TRUE(sp.state().empty());
  EXPECT_EQ(pre_hooks((*model)[1]), 0u);

  // A failing re-registration keeps the layer registered as it was.
  sp.register_layer((*model)[1], with_mask());
  Dict before = sp.data_groups().at("1").to_dict();
  EXPECT_ERROR(sp.register_layer((*model)[1], no_dim), AssertionError, "need feature dim");
  EXPECT_TRUE(sp.data_groups().at("1").to_dict().is(before));
  EXPECT_EQ(pre_hooks((*model)[1]), 1u);
}

TEST(ActivationSparsifierUnit, ReRegistrationWarnsAndReplacesTheLayer) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  sp.register_layer((*model)[3], with_mask());
  Object old_hook = sp.data_groups().at("1").to_dict().at("hook");
  WarningRecorder recorder;
  sp.register_layer((*model)[1], with_mask({{"level", 0.5}}));
  EXPECT_EQ(recorder.count("layer already attached to the sparsifier, deregistering the layer and registering with "
                           "new config"),
            1u);
  EXPECT_EQ(sp.data_groups().keys(), (std::vector<std::string>{"3", "1"}));  // unregistered, then appended
  EXPECT_EQ(sp.data_groups().at("1").to_dict().at("sparse_config").to_dict().at("level"), Object(0.5));
  EXPECT_FALSE(sp.data_groups().at("1").to_dict().at("hook").is(old_hook));
  EXPECT_EQ(pre_hooks((*model)[1]), 1u);  // the old aggregate hook is gone
}

TEST(ActivationSparsifierUnit, GetMaskErrorsAreWhatPythonRaises) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  testing::expect_error<ValueError>([&] { sp.get_mask("1"); },
                                    {"Error: shape unknown, call layer() routine at least once to infer mask", "'1'"});
  testing::expect_error<ValueError>([&] { sp.get_mask("conv9"); },
                                    {"Error: layer with the given name not found", "'conv9'"});
  EXPECT_ERROR(sp.get_mask_of(nullptr), AssertionError, "Need at least name or layer obj to retrieve mask");
  EXPECT_ERROR(sp.get_mask_of(std::make_shared<nn::Identity>()), AssertionError,
               "layer not found in the specified model");
  EXPECT_ERROR(sp.get_mask_of((*model)[1]), ValueError, "Error: shape unknown");
}

TEST(ActivationSparsifierUnit, AggregateHookSumsInputsAndCreatesOnesMasksWithTheInputShape) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  sp.register_layer((*model)[3], with_features({0, 4}, 1));
  Tensor x0 = randn({5, 4}), x1 = randn({5, 4});
  (*model)(x0);
  (*model)(x1);
  Tensor h0 = hidden(model, x0), h1 = hidden(model, x1);
  Tensor r0 = h0.relu(), r1 = h1.relu();

  Object data = sp.data_groups().at("1").to_dict().at("data");
  EXPECT_TRUE(equal(data.to_tensor(), h0 + h1));  // 0 + h0 + h1, exactly
  Tensor mask = sp.get_mask("1").to_tensor();
  EXPECT_EQ(mask.sizes(), (Shape{5, 6}));  // the input's full shape, batch included
  EXPECT_EQ(mask.dtype(), kFloat32);
  EXPECT_TRUE(equal(mask, ones({5, 6})));

  const Tuple& fdata = sp.data_groups().at("3").to_dict().at("data").to_tuple();
  ASSERT_EQ(fdata.size(), 2u);
  EXPECT_TRUE(
      equal(fdata[0].to_tensor(), r0.index_select(1, tensor({0}, kInt64)) + r1.index_select(1, tensor({0}, kInt64))));
  EXPECT_TRUE(
      equal(fdata[1].to_tensor(), r0.index_select(1, tensor({4}, kInt64)) + r1.index_select(1, tensor({4}, kInt64))));
  const Tuple& fmask = sp.get_mask("3").to_tuple();
  ASSERT_EQ(fmask.size(), 2u);
  for (const Object& m : fmask) {
    EXPECT_EQ(m.to_tensor().sizes(), (Shape{5, 1}));
    EXPECT_TRUE(equal(m.to_tensor(), ones({5, 1})));
  }
}

TEST(ActivationSparsifierUnit, StepReplacesTheMaskDataKeepingTheObjectAndRemovesData) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask({{"level", 0.1}}));
  sp.register_layer((*model)[3], with_features({0, 4}, 1, {{"level", 0.2}}));
  Tensor x0 = randn({5, 4}), x1 = randn({5, 4});
  (*model)(x0);
  (*model)(x1);
  Tensor mask_before = sp.get_mask("1").to_tensor();
  Tuple fmask_before = sp.get_mask("3").to_tuple();
  sp.step();

  Tensor h = hidden(model, x0) + hidden(model, x1);
  Tensor mask = sp.get_mask("1").to_tensor();
  EXPECT_EQ(mask.impl(), mask_before.impl());  // same tensor object, new data and shape
  EXPECT_EQ(mask.sizes(), (Shape{6}));
  EXPECT_TRUE(equal(mask, h.mean({0}).gt(0.1).to(kFloat32)));
  EXPECT_GT(mask.sum().item<double>(), 0.0);
  EXPECT_LT(mask.sum().item<double>(), 6.0);  // the fixture is not trivial

  Tensor r = hidden(model, x0).relu() + hidden(model, x1).relu();
  const Tuple& fmask = sp.get_mask("3").to_tuple();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(fmask[i].to_tensor().impl(), fmask_before[i].to_tensor().impl());
    int64_t f = i == 0 ? 0 : 4;
    EXPECT_TRUE(equal(fmask[i].to_tensor(), r.index_select(1, tensor({f}, kInt64)).mean({0}).gt(0.2).to(kFloat32)));
    EXPECT_EQ(fmask[i].to_tensor().sizes(), (Shape{1}));
  }
  for (const auto& [name, cfg] : sp.data_groups()) EXPECT_FALSE(cfg.to_dict().contains("data")) << name;

  // PyTorch's trap: a forward after step starts a new aggregate and a new all-ones mask.
  (*model)(x0);
  EXPECT_TRUE(equal(sp.get_mask("1").to_tensor(), ones({5, 6})));
  EXPECT_NE(sp.get_mask("1").to_tensor().impl(), mask_before.impl());
}

TEST(ActivationSparsifierUnit, StepBeforeAnyForwardIsKeyErrorDataAndChangesNothing) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  EXPECT_ERROR(sp.step(), KeyError, "'data'");
  sp.register_layer((*model)[3], with_mask());
  (*model)(randn({2, 4}));
  sp.unregister_layer("3");
  sp.register_layer((*model)[3], with_mask());  // no forward since: no data
  Tensor mask = sp.get_mask("1").to_tensor();
  testing::expect_error<KeyError>([&] { sp.step(); }, {"'data'", "'3'"});
  EXPECT_TRUE(equal(sp.get_mask("1").to_tensor(), ones({2, 6})));  // layer "1" was not stepped
  EXPECT_EQ(sp.get_mask("1").to_tensor().sizes(), (Shape{2, 6}));
  EXPECT_TRUE(sp.data_groups().at("1").to_dict().contains("data"));
}

TEST(ActivationSparsifierUnit, UnregisterLayerRemovesHookStateAndConfig) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  sp.register_layer((*model)[3], with_mask());
  sp.unregister_layer("1");
  EXPECT_EQ(sp.data_groups().keys(), (std::vector<std::string>{"3"}));
  EXPECT_EQ(sp.state().keys(), (std::vector<std::string>{"3"}));
  EXPECT_EQ(pre_hooks((*model)[1]), 0u);
  (*model)(randn({2, 4}));
  EXPECT_FALSE(sp.state().contains("1"));
  EXPECT_ERROR(sp.unregister_layer("1"), KeyError, "'1'");
}

TEST(ActivationSparsifierUnit, SquashMaskAttachesAHookThatMultipliesTheInput) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask({{"level", 0.1}}));
  Tensor x = randn({5, 4});
  (*model)(x);
  sp.step();
  sp.squash_mask();
  Dict cfg = sp.data_groups().at("1").to_dict();
  EXPECT_EQ(cfg.at("hook_state"), Object("sparsify"));
  EXPECT_TRUE(cfg.at("hook").is_handle());
  ASSERT_EQ(pre_hooks((*model)[1]), 1u);
  EXPECT_EQ((*model)[1]->forward_pre_hooks().items().begin()->second->type_name(), "ActivationSparsifyHook");

  Tensor mask = sp.get_mask("1").to_tensor();
  ASSERT_GT(mask.eq(0).sum().item<int64_t>(), 0);
  Tensor y = randn({3, 4});
  Tensor got = (*model)(y);
  NoGradGuard g;
  auto& m = *model;
  Tensor expected = (*m[3])((hidden(model, y) * mask).relu());
  EXPECT_TRUE(allclose(got, expected));
  EXPECT_FALSE(allclose(got, (*m[3])(hidden(model, y).relu())));  // the hook does something
}

TEST(ActivationSparsifierUnit, SparsifyHookWithFeaturesWritesTheSlicesInPlace) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_features({1, 3}, 1, {{"level", 1e9}}));  // masks of zeros
  (*model)(randn({4, 4}));
  sp.step();
  sp.squash_mask();
  for (const Object& m : sp.get_mask("1").to_tuple()) EXPECT_TRUE(equal(m.to_tensor(), zeros({1})));
  Tensor in = randn({2, 6});
  Tensor original = in.clone();
  Tensor out = (*(*model)[1])(in);
  Tensor expected = original.clone();
  expected.index_fill_(1, tensor({1, 3}, kInt64), 0.0);
  EXPECT_TRUE(equal(out, expected));
  EXPECT_TRUE(equal(in, expected));  // in place, as PyTorch's index_copy_
}

TEST(ActivationSparsifierUnit, SquashWithoutHookStillSaysSparsify) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask());
  sp.squash_mask(/*attach_sparsify_hook=*/false);  // no forward needed: no mask is read
  Dict cfg = sp.data_groups().at("1").to_dict();
  EXPECT_EQ(cfg.at("hook_state"), Object("sparsify"));
  EXPECT_FALSE(cfg.contains("hook"));
  EXPECT_EQ(pre_hooks((*model)[1]), 0u);
  Tensor y = randn({2, 4});
  EXPECT_TRUE(equal((*model)(y), (*(*model)[3])(hidden(model, y).relu())));

  // Attaching needs masks: ValueError before any hook changes.
  ActivationSparsifier sp2(model, default_args());
  sp2.register_layer((*model)[3], with_mask());
  EXPECT_ERROR(sp2.squash_mask(), ValueError, "Error: shape unknown");
  EXPECT_EQ(sp2.data_groups().at("3").to_dict().at("hook_state"), Object("aggregate"));
  EXPECT_EQ(pre_hooks((*model)[3]), 1u);
}

// A sparsifier with a plain layer stepped and squashed, a feature layer aggregating, and a layer
// that never saw a forward.
struct Prepared {
  std::shared_ptr<nn::Sequential> model = make_model();
  ActivationSparsifier sp{model, default_args()};
  Prepared() {
    sp.register_layer((*model)[1], with_mask({{"level", 0.1}}));
    sp.register_layer((*model)[3], with_features({0, 4}, 1));
    (*model)(randn({5, 4}));
    sp.step();
    (*model)(randn({5, 4}));  // layer "3" aggregates again; "1" gets a fresh ones mask
  }
};

TEST(ActivationSparsifierUnit, StateDictHasSparseMasksAndLoadGivesThemBackDense) {
  Prepared p;
  ActivationSparsifier& sp = p.sp;
  Dict sd = sp.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"state", "data_groups", "defaults"}));
  EXPECT_TRUE(sd.at("defaults").to_dict().is(sp.defaults()));
  Dict st = sd.at("state").to_dict();
  Tensor m1 = st.at("1").to_dict().at("mask").to_tensor();
  EXPECT_TRUE(m1.is_sparse());
  EXPECT_TRUE(equal(m1.to_dense(), sp.get_mask("1").to_tensor()));
  for (size_t i = 0; i < 2; ++i) {
    Tensor m = st.at("3").to_dict().at("mask").to_tuple()[i].to_tensor();
    EXPECT_TRUE(m.is_sparse());
    EXPECT_TRUE(equal(m.to_dense(), sp.get_mask("3").to_tuple()[i].to_tensor()));
  }
  for (const auto& [name, cfg] : sd.at("data_groups").to_dict()) {
    EXPECT_FALSE(cfg.to_dict().contains("hook")) << name;
    EXPECT_FALSE(cfg.to_dict().contains("layer")) << name;
    EXPECT_TRUE(cfg.to_dict().at("data").is(sp.data_groups().at(name).to_dict().at("data")));  // shared
  }

  auto model2 = make_model(9);
  ActivationSparsifier sp2(model2);
  sp2.load_state_dict(sd);
  EXPECT_TRUE(sp2.defaults().is(sp.defaults()));
  EXPECT_TRUE(sp2.data_groups().is(sd.at("data_groups").to_dict()));
  Tensor d1 = sp2.get_mask("1").to_tensor();
  EXPECT_FALSE(d1.is_sparse());
  EXPECT_EQ(d1.dtype(), kFloat32);
  EXPECT_TRUE(equal(d1, sp.get_mask("1").to_tensor()));
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(equal(sp2.get_mask("3").to_tuple()[i].to_tensor(), sp.get_mask("3").to_tuple()[i].to_tensor()));
  for (const char* name : {"1", "3"}) {
    Dict cfg = sp2.data_groups().at(name).to_dict();
    EXPECT_TRUE(cfg.at("layer").to_module() == (*model2)[std::stoi(name)]) << name;
    EXPECT_TRUE(cfg.at("hook").is_handle()) << name;
    EXPECT_EQ(pre_hooks((*model2)[std::stoi(name)]), 1u) << name;
  }
  // The aggregate hooks work on the loaded configs: another forward adds to the loaded data.
  Tensor before = sp2.data_groups().at("3").to_dict().at("data").to_tuple()[0].to_tensor();
  Tensor x = randn({5, 4});
  (*model2)(x);
  Tensor r = hidden(model2, x).relu().index_select(1, tensor({0}, kInt64));
  EXPECT_TRUE(equal(sp2.data_groups().at("3").to_dict().at("data").to_tuple()[0].to_tensor(), before + r));
}

TEST(ActivationSparsifierUnit, NoneMasksStayNoneAndSparsifyStateReattachesSparsifyHooks) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask({{"level", 0.1}}));
  sp.register_layer((*model)[3], with_mask());
  EXPECT_TRUE(sp.state_dict().at("state").to_dict().at("1").to_dict().at("mask").is_none());
  (*model)(randn({5, 4}));
  sp.step();
  sp.squash_mask();

  auto model2 = make_model();  // same weights
  ActivationSparsifier sp2(model2);
  sp2.load_state_dict(sp.state_dict());
  ASSERT_EQ(pre_hooks((*model2)[1]), 1u);
  Tensor y = randn({3, 4});
  EXPECT_TRUE(equal((*model2)(y), (*model)(y)));
  EXPECT_FALSE(allclose((*model2)(y), (*(*model2)[3])(hidden(model2, y).relu())));
}

TEST(ActivationSparsifierUnit, AFailedLoadChangesNothing) {
  Prepared p;
  Dict good = p.sp.state_dict();
  auto model2 = make_model();
  ActivationSparsifier sp2(model2, default_args());
  sp2.register_layer((*model2)[1], with_mask());
  Dict groups = sp2.data_groups(), state = sp2.state(), defaults = sp2.defaults();
  auto expect_unchanged = [&] {
    EXPECT_TRUE(sp2.data_groups().is(groups));
    EXPECT_TRUE(sp2.state().is(state));
    EXPECT_TRUE(sp2.defaults().is(defaults));
    EXPECT_EQ(sp2.data_groups().keys(), (std::vector<std::string>{"1"}));
    EXPECT_EQ(pre_hooks((*model2)[1]), 1u);
    EXPECT_EQ(pre_hooks((*model2)[3]), 0u);
  };

  // A layer the model does not have (after a good one).
  Dict bad_layer = good.copy();
  Dict g = good.at("data_groups").to_dict().copy();
  g.set("9", g.at("3"));
  bad_layer.set("data_groups", Object(g));
  EXPECT_ERROR(sp2.load_state_dict(bad_layer), AssertionError, "'9'");
  expect_unchanged();

  // hook_state "sparsify" with no mask yet.
  Dict bad_mask = good.copy();
  Dict st = good.at("state").to_dict().copy();
  st.set("3", Object(Dict{{"mask", Object()}}));
  Dict g2 = good.at("data_groups").to_dict().copy();
  Dict c3 = g2.at("3").to_dict().copy();
  c3.set("hook_state", "sparsify");
  g2.set("3", Object(c3));
  bad_mask.set("state", Object(st));
  bad_mask.set("data_groups", Object(g2));
  EXPECT_ERROR(sp2.load_state_dict(bad_mask), ValueError, "Error: shape unknown");
  expect_unchanged();

  Dict missing = good.copy();
  missing.erase("defaults");
  EXPECT_ERROR(sp2.load_state_dict(missing), KeyError, "'defaults'");
  expect_unchanged();

  // And the good one replaces the registered layer's hook.
  sp2.load_state_dict(good);
  EXPECT_EQ(pre_hooks((*model2)[1]), 1u);
  EXPECT_EQ(pre_hooks((*model2)[3]), 1u);
}

TEST(ActivationSparsifierUnit, HandleObjectsAreSharedAndComparedByIdentity) {
  auto id = std::make_shared<nn::Identity>();
  Object h = Object::handle(
      id->register_forward_pre_hook([](nn::Module&, const nn::Values&) { return std::optional<nn::Values>(); }));
  Object same = h, other = Object::handle(RemovableHandle());
  EXPECT_STREQ(h.type_name(), "RemovableHandle");
  EXPECT_TRUE(h.is_handle());
  EXPECT_EQ(h.repr(), "<RemovableHandle>");
  EXPECT_TRUE(h == same);
  EXPECT_FALSE(h == other);
  Object copy = h.deepcopy();
  EXPECT_TRUE(copy.is(h));
  EXPECT_ERROR(Object(3).to_handle(), TypeError, "RemovableHandle");
  copy.to_handle().remove();  // through any holder
  EXPECT_EQ(pre_hooks(id), 0u);
}

TEST(ActivationSparsifierUnit, StateFileRoundTripGivesTheSameMasksAndFunctions) {
  register_function("act_unit.agg", fns().agg);
  register_function("act_unit.reduce", fns().reduce);
  register_function("act_unit.mask", fns().mask);
  EXPECT_EQ(registered_function_name(fns().mask), std::optional<std::string>("act_unit.mask"));
  EXPECT_ERROR(register_function("", fns().agg), ValueError, "empty");
  EXPECT_ERROR(register_function("act_unit.x", Object(3)), TypeError, "'act_unit.x'");

  Prepared p;
  TempDir dir;
  const std::string path = dir.file("act.twig");
  save_sparsifier_state(p.sp.state_dict(), path);
  Dict loaded = load_sparsifier_state(path);
  Tensor m1 = loaded.at("state").to_dict().at("1").to_dict().at("mask").to_tensor();
  EXPECT_TRUE(m1.is_sparse());
  EXPECT_TRUE(equal(m1.to_dense(), p.sp.get_mask("1").to_tensor()));

  auto model2 = make_model();
  ActivationSparsifier sp2(model2);
  sp2.load_state_dict(loaded);
  EXPECT_TRUE(sp2.defaults().at("aggregate_fn").is(fns().agg));
  EXPECT_TRUE(sp2.defaults().at("reduce_fn").is(fns().reduce));
  EXPECT_EQ(sp2.defaults(), p.sp.defaults());
  for (const char* name : {"1", "3"}) {
    Dict a = sp2.data_groups().at(name).to_dict().copy(), b = p.sp.data_groups().at(name).to_dict().copy();
    for (Dict* d : {&a, &b})
      for (const char* k : {"hook", "layer", "data"}) d->erase(k);
    EXPECT_EQ(a, b) << name;
    EXPECT_TRUE(sp2.data_groups().at(name).to_dict().at("mask_fn").is(fns().mask)) << name;
  }
  EXPECT_TRUE(equal(sp2.get_mask("1").to_tensor(), p.sp.get_mask("1").to_tensor()));
  for (size_t i = 0; i < 2; ++i) {
    Tensor data = sp2.data_groups().at("3").to_dict().at("data").to_tuple()[i].to_tensor();
    EXPECT_TRUE(equal(data, p.sp.data_groups().at("3").to_dict().at("data").to_tuple()[i].to_tensor()));
    EXPECT_TRUE(equal(sp2.get_mask("3").to_tuple()[i].to_tensor(), p.sp.get_mask("3").to_tuple()[i].to_tensor()));
  }
  sp2.step();  // the loaded functions run
  p.sp.step();
  EXPECT_TRUE(equal(sp2.get_mask("3").to_tuple()[1].to_tensor(), p.sp.get_mask("3").to_tuple()[1].to_tensor()));
}

TEST(ActivationSparsifierUnit, StateFileErrorsNameTheKeyAndTheFunction) {
  TempDir dir;
  const std::string path = dir.file("act.twig");
  auto model = make_model();
  ActivationArgs a = default_args();
  a.aggregate_fn = aggregate_function([](const Tensor& x, const Tensor& y) { return x + y; });  // unregistered
  ActivationSparsifier sp(model, a);
  EXPECT_ERROR(save_sparsifier_state(sp.state_dict(), path), TypeError, "['aggregate_fn']");
  EXPECT_TRUE(dir.entries().empty());
  Dict with_handle{{"h", Object::handle(RemovableHandle())}};
  EXPECT_ERROR(save_sparsifier_state(with_handle, path), TypeError, "['h']: a RemovableHandle");

  // A file naming a function this program did not register: ValueError naming it.
  register_function("act_unit.fnAAA", fns().agg);
  save_sparsifier_state(Dict{{"f", fns().agg}}, path);
  std::string bytes = testing::read_bytes(path);
  size_t at = bytes.find("act_unit.fnAAA");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 14, "act_unit.fnZZZ");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  EXPECT_ERROR(load_sparsifier_state(path), ValueError, "'act_unit.fnZZZ'");
}

TEST(ActivationSparsifierUnit, ModelSavedWholeKeepsWorkingSparsifyHooks) {
  auto model = make_model();
  ActivationSparsifier sp(model, default_args());
  sp.register_layer((*model)[1], with_mask({{"level", 0.1}}));
  sp.register_layer((*model)[3], with_features({0, 4}, 1, {{"level", 1e9}}));
  (*model)(randn({5, 4}));
  sp.step();
  sp.squash_mask();
  TempDir dir;
  const std::string path = dir.file("model.twig");
  serialize::save_module(*model, path);
  nn::ModulePtr loaded = serialize::load_module(path);
  auto seq = std::dynamic_pointer_cast<nn::Sequential>(loaded);
  ASSERT_NE(seq, nullptr);
  ASSERT_EQ(pre_hooks((*seq)[1]), 1u);
  ASSERT_EQ(pre_hooks((*seq)[3]), 1u);
  Tensor y = randn({3, 4});
  Tensor expected = (*model)(y);
  EXPECT_TRUE(equal((*loaded)(y), expected));
  // Not the hook-free output: masks and features both act.
  auto last = std::dynamic_pointer_cast<nn::Linear>((*model)[3]);
  NoGradGuard g;
  Tensor r = (hidden(model, y) * sp.get_mask("1").to_tensor()).relu();
  Tensor plain = last->forward(r);  // Linear's forward: no hooks
  r.index_fill_(1, tensor({0, 4}, kInt64), 0.0);
  EXPECT_TRUE(allclose(expected, last->forward(r)));
  EXPECT_FALSE(allclose(expected, plain));
}

}  // namespace
}  // namespace twig::ao
