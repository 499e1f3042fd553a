// PyTorch's test/ao/sparsity/test_sparsifier.py, class TestBaseSparsifier, plus the error cases
// (bad config, unknown tensors: PyTorch's error, model unchanged) and the semantics of spec §4
// that the Python tests leave implicit (groups accumulate, every group key reaches update_mask,
// step without grad, state_dict's live state, load_state_dict popping the masks).
#include <gtest/gtest.h>

#include <type_traits>

#include "models/common_pruning.h"
#include "testing.h"
#include "twig/ao/base_sparsifier.h"
#include "twig/autograd/grad_mode.h"
#include "twig/nn/parametrize.h"

namespace twig::ao {
namespace {

using testing::models::ImplementedSparsifier;
using testing::models::MockSparseLinear;
using testing::models::SimpleLinear;

nn::ModulePtr sub(const nn::ModulePtr& model, const std::string& path) {
  nn::ModulePtr m = model->find_module(path);
  EXPECT_NE(m, nullptr) << path;
  return m;
}

// hasattr(module, "parametrizations")
bool has_parametrizations(const nn::ModulePtr& m) { return m->is_child("parametrizations"); }

std::shared_ptr<FakeSparsity> fake_sparsity(const nn::Module& m, const std::string& name = "weight", size_t i = 0) {
  return std::dynamic_pointer_cast<FakeSparsity>(nn::parametrizations_of(m, name)->at(i));
}

// No module of the model is parametrized and its state_dict keys are the plain ones.
void expect_untouched(const nn::ModulePtr& model) {
  for (const auto& [name, m] : model->named_modules()) {
    EXPECT_FALSE(nn::is_parametrized(*m)) << name;
    EXPECT_FALSE(has_parametrizations(m)) << name;
  }
  EXPECT_EQ(model->state_dict().keys(), (std::vector<std::string>{"seq.0.weight", "seq.1.weight", "seq.2.weight",
                                                                  "linear1.weight", "linear2.weight"}));
}

// A sparsifier recording what update_mask receives.
class RecordingSparsifier : public BaseSparsifier {
 public:
  using BaseSparsifier::BaseSparsifier;
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override {
    calls.push_back({&module, tensor_name, args, autograd::GradMode::is_enabled()});
  }
  struct Call {
    nn::Module* module;
    std::string tensor_name;
    Dict args;
    bool grad_enabled;
  };
  std::vector<Call> calls;
};

TEST(TestBaseSparsifier, test_constructor) {
  // Cannot instantiate the abstract base (Python: TypeError naming update_mask).
  static_assert(std::is_abstract_v<BaseSparsifier>, "BaseSparsifier must be abstract: update_mask is pure");
  static_assert(!std::is_abstract_v<ImplementedSparsifier>);
  // Can instantiate the model with no configs
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  sparsifier.prepare(model, std::nullopt);
  ASSERT_EQ(sparsifier.groups.size(), 5u);
  // make_config_from_model's DFS order (spec §4.3).
  std::vector<std::string> fqns;
  for (const auto& g : sparsifier.groups) fqns.push_back(g.at("tensor_fqn").to_string());
  EXPECT_EQ(fqns, (std::vector<std::string>{"linear1.weight", "linear2.weight", "seq.0.weight", "seq.1.weight",
                                            "seq.2.weight"}));
  sparsifier.step();
  // Can instantiate the model with configs
  ImplementedSparsifier sparsifier2({{"test", 3}});
  sparsifier2.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  ASSERT_EQ(sparsifier2.groups.size(), 1u);
  EXPECT_EQ(sparsifier2.groups[0].at("tensor_fqn"), Object("linear1.weight"));
  ASSERT_TRUE(sparsifier2.groups[0].contains("test"));
  EXPECT_EQ(sparsifier2.groups[0].at("test"), Object(3));
  EXPECT_TRUE(sparsifier2.groups[0].at("test").is_int());
}

TEST(TestBaseSparsifier, test_prepare_config) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  // Make sure there are no parametrizations before `prepare`
  EXPECT_FALSE(has_parametrizations(sub(model, "seq.0")));
  EXPECT_FALSE(has_parametrizations(sub(model, "linear1")));
  EXPECT_FALSE(has_parametrizations(sub(model, "linear2")));
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "seq.0.weight"}, {"test", 42}},
                                              // No 'linear1' to make sure it will be skipped in the sparsification
                                              {{"tensor_fqn", "linear2.weight"}}});
  ASSERT_EQ(sparsifier.groups.size(), 2u);
  // Check if default argument is not assigned if explicit
  EXPECT_EQ(sparsifier.groups[0].at("tensor_fqn"), Object("seq.0.weight"));
  EXPECT_EQ(sparsifier.groups[0].at("test"), Object(42));
  // Check if FQN and module are pointing to the same location
  EXPECT_EQ(sparsifier.groups[1].at("tensor_fqn"), Object("linear2.weight"));
  EXPECT_EQ(sparsifier.groups[1].at("module").to_module(), sub(model, "linear2"));
  EXPECT_EQ(sparsifier.groups[1].at("test"), Object(3));
  // Check if parameterizations are attached
  EXPECT_TRUE(has_parametrizations(sub(model, "seq.0")));
  EXPECT_FALSE(has_parametrizations(sub(model, "linear1")));
  EXPECT_TRUE(has_parametrizations(sub(model, "linear2")));
  // Each group: defaults, then the entry, then the arg info (PyTorch's key order).
  EXPECT_EQ(sparsifier.groups[0].keys(),
            (std::vector<std::string>{"test", "tensor_fqn", "module_fqn", "module", "tensor_name"}));
  EXPECT_EQ(sparsifier.groups[0].at("module_fqn"), Object("seq.0"));
  EXPECT_EQ(sparsifier.groups[0].at("tensor_name"), Object("weight"));
  // The state's mask is the parametrization's buffer itself (ones_like the weight).
  Tensor mask = sparsifier.state.at("seq.0.weight").to_dict().at("mask").to_tensor();
  EXPECT_EQ(mask.impl(), fake_sparsity(*sub(model, "seq.0"))->mask().impl());
  EXPECT_EQ(mask.dtype(), kFloat32);
  EXPECT_TRUE(equal(mask, ones({5, 7})));
  EXPECT_FALSE(mask.requires_grad());
  // The model's state_dict holds the original, not the mask.
  auto keys = model->state_dict().keys();
  EXPECT_NE(std::find(keys.begin(), keys.end(), "seq.0.parametrizations.weight.original"), keys.end());
  for (const auto& k : keys) EXPECT_EQ(k.find("mask"), std::string::npos) << k;
}

TEST(TestBaseSparsifier, test_step) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  sparsifier.enable_mask_update = true;
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  sparsifier.step();
  Tensor mask = fake_sparsity(*sub(model, "linear1"))->mask();
  EXPECT_TRUE(mask.select(0, 0).eq(0).all().item<bool>());
  EXPECT_TRUE(mask.narrow(0, 1, 3).eq(1).all().item<bool>());
  // The masked weight follows the mask.
  Tensor w = sub(model, "linear1")->get("weight");
  EXPECT_TRUE(w.select(0, 0).eq(0).all().item<bool>());
  EXPECT_TRUE(
      equal(w.narrow(0, 1, 3), nn::parametrizations_of(*sub(model, "linear1"), "weight")->original().narrow(0, 1, 3)));
  EXPECT_EQ(sparsifier.state.at("linear1.weight").to_dict().at("step_count"), Object(1));
}

TEST(TestBaseSparsifier, test_state_dict) {
  const int step_count = 3;
  auto model0 = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier0({{"test", 3}});
  sparsifier0.prepare(model0, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  Tensor mask = fake_sparsity(*sub(model0, "linear1"))->mask();
  mask.set_data(arange(mask.size(0) * mask.size(1)).reshape(mask.sizes()));
  for (int i = 0; i < step_count; ++i) sparsifier0.step();
  Dict state_dict = sparsifier0.state_dict();

  // Check the expected keys in the state_dict
  ASSERT_TRUE(state_dict.contains("state"));
  Dict linear_state = state_dict.at("state").to_dict().at("linear1.weight").to_dict();
  ASSERT_TRUE(linear_state.contains("step_count"));
  EXPECT_EQ(linear_state.at("step_count"), Object(3));
  ASSERT_TRUE(state_dict.contains("groups"));
  Dict group0 = state_dict.at("groups").to_tuple().at(0).to_dict();
  EXPECT_TRUE(group0.contains("test"));
  ASSERT_TRUE(group0.contains("tensor_fqn"));
  EXPECT_EQ(group0.at("tensor_fqn"), Object("linear1.weight"));
  // state is the live state, not a copy; groups lose module, module_fqn and tensor_name.
  EXPECT_TRUE(state_dict.at("state").to_dict().is(sparsifier0.state));
  EXPECT_EQ(group0.keys(), (std::vector<std::string>{"test", "tensor_fqn"}));

  // Check loading static_dict creates an equivalent model
  auto model1 = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier1;
  sparsifier1.prepare(model1, std::nullopt);
  EXPECT_FALSE(sparsifier0.state == sparsifier1.state);

  // Make sure the masks are different in the beginning
  Tensor mask0, mask1;
  for (const auto& mg : sparsifier0.groups) {
    if (mg.at("tensor_fqn") == Object("linear1.weight")) mask0 = fake_sparsity(*mg.at("module").to_module())->mask();
  }
  for (const auto& mg : sparsifier1.groups) {
    if (mg.at("tensor_fqn") == Object("linear1.weight")) mask1 = fake_sparsity(*mg.at("module").to_module())->mask();
  }
  ASSERT_TRUE(mask0.defined() && mask1.defined());
  EXPECT_FALSE(equal(mask0, mask1.to(mask0.dtype())));

  sparsifier1.load_state_dict(state_dict);

  // Make sure the states are loaded, and are correct
  EXPECT_TRUE(sparsifier0.state == sparsifier1.state);
  // (Python: the loaded state is the very dict sparsifier0 holds, its masks popped from it.)
  EXPECT_TRUE(sparsifier1.state.is(sparsifier0.state));
  EXPECT_FALSE(sparsifier0.state.at("linear1.weight").to_dict().contains("mask"));

  // Make sure the masks (and all dicts) are the same after loading
  ASSERT_EQ(sparsifier0.groups.size(), sparsifier1.groups.size());
  for (size_t idx = 0; idx < sparsifier0.groups.size(); ++idx) {
    const Dict& mg0 = sparsifier0.groups[idx];
    const Dict& mg1 = sparsifier1.groups[idx];
    for (const auto& [key, value] : mg0) {
      ASSERT_TRUE(mg1.contains(key)) << key;
      if (key == "module") {
        // We cannot compare modules as they are different
        auto param0 = fake_sparsity(*value.to_module());
        auto param1 = fake_sparsity(*mg1.at(key).to_module());
        ASSERT_TRUE(param0 && param1);
        EXPECT_TRUE(param0->has("mask") && param1->has("mask"));
        // param0.__dict__ == param1.__dict__: the same mask object, the same training flag.
        EXPECT_EQ(param0->mask().impl(), param1->mask().impl());
        EXPECT_EQ(param0->is_training(), param1->is_training());
      } else {
        EXPECT_EQ(value, mg1.at(key)) << key;
      }
    }
  }
  // The loaded mask acts on model1's weight: row 0 zeroed, the rest 1..15 times the original.
  Tensor w1 = sub(model1, "linear1")->get("weight");
  Tensor orig1 = nn::parametrizations_of(*sub(model1, "linear1"), "weight")->original();
  EXPECT_TRUE(allclose(w1, orig1 * mask0));
  EXPECT_TRUE(w1.select(0, 0).eq(0).all().item<bool>());
}

TEST(TestBaseSparsifier, test_convert) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  Mapping mapping{{typeid(nn::Linear), MockSparseLinear::from_dense}};
  nn::ModulePtr new_model = sparsifier.convert(model, mapping, /*inplace=*/false);

  EXPECT_NE(std::dynamic_pointer_cast<MockSparseLinear>(sub(new_model, "linear1")), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<nn::Linear>(sub(new_model, "seq.0")), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<nn::Linear>(sub(new_model, "linear2")), nullptr);
  // Only the sparsified child is swapped; its place among the children is kept; the original
  // model (inplace=False) is untouched.
  EXPECT_EQ(typeid(*sub(new_model, "seq.0")), typeid(nn::Linear));
  EXPECT_EQ(typeid(*sub(new_model, "linear2")), typeid(nn::Linear));
  std::vector<std::string> names;
  for (const auto& [name, c] : new_model->named_children()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"seq", "linear1", "linear2"}));
  EXPECT_NE(new_model, model);
  EXPECT_EQ(typeid(*sub(model, "linear1")), typeid(nn::Linear));
  EXPECT_TRUE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  // The swapped module is MockSparseLinear.from_dense: same features, fresh (unparametrized).
  auto swapped = std::dynamic_pointer_cast<MockSparseLinear>(sub(new_model, "linear1"));
  EXPECT_EQ(swapped->options.in_features_, 4);
  EXPECT_EQ(swapped->options.out_features_, 4);
  EXPECT_FALSE(nn::is_parametrized(*swapped));
  // The converted model still runs.
  EXPECT_EQ(new_model->call({nn::Value(randn({2, 7}))}).tensor().sizes(), (Shape{2, 10}));
}

TEST(TestBaseSparsifier, test_mask_squash) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  EXPECT_TRUE(fake_sparsity(*sub(model, "linear1"))->has("mask"));
  EXPECT_TRUE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));

  sparsifier.step();  // so the squash has something to bake in
  Tensor original = nn::parametrizations_of(*sub(model, "linear1"), "weight")->original();
  Tensor expected = sub(model, "linear1")->get("weight").detach().clone();
  sparsifier.squash_mask();
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  // The mask is baked into the same parameter object; no sparse_params without params to keep.
  EXPECT_TRUE(sub(model, "linear1")->is_parameter("weight"));
  EXPECT_EQ(sub(model, "linear1")->get("weight").impl(), original.impl());
  EXPECT_TRUE(equal(sub(model, "linear1")->get("weight"), expected));
  EXPECT_TRUE(sub(model, "linear1")->get("weight").select(0, 0).eq(0).all().item<bool>());
  EXPECT_FALSE(sub(model, "linear1")->has_object("sparse_params"));
}

// model.<m>.sparse_params.get(key, None)
Object sparse_param(const nn::ModulePtr& model, const std::string& m, const std::string& key) {
  return sub(model, m)->object("sparse_params").to_dict().get(key, Object());
}

void prepare_two(const nn::ModulePtr& model, ImplementedSparsifier& sparsifier) {
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}, {{"tensor_fqn", "seq.0.weight"}}});
}

TEST(TestBaseSparsifier, test_mask_squash_with_params1) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"foo", 3}, {"bar", 2}, {"baz", 1}});
  prepare_two(model, sparsifier);
  sparsifier.squash_mask(
      std::nullopt, std::map<std::string, std::vector<std::string>>{{"linear1", {"foo", "bar"}}, {"seq.0", {"baz"}}});
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  ASSERT_TRUE(sub(model, "seq.0")->has_object("sparse_params"));
  ASSERT_TRUE(sub(model, "linear1")->has_object("sparse_params"));
  EXPECT_TRUE(sparse_param(model, "seq.0", "foo").is_none());
  EXPECT_TRUE(sparse_param(model, "seq.0", "bar").is_none());
  EXPECT_EQ(sparse_param(model, "seq.0", "baz"), Object(1));
  EXPECT_EQ(sparse_param(model, "linear1", "foo"), Object(3));
  EXPECT_EQ(sparse_param(model, "linear1", "bar"), Object(2));
  EXPECT_TRUE(sparse_param(model, "linear1", "baz").is_none());
  EXPECT_FALSE(sub(model, "linear2")->has_object("sparse_params"));
}

TEST(TestBaseSparsifier, test_mask_squash_with_params2) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"foo", 3}, {"bar", 2}, {"baz", 1}});
  prepare_two(model, sparsifier);
  sparsifier.squash_mask(std::vector<std::string>{"foo", "bar"});
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  ASSERT_TRUE(sub(model, "seq.0")->has_object("sparse_params"));
  ASSERT_TRUE(sub(model, "linear1")->has_object("sparse_params"));
  EXPECT_EQ(sparse_param(model, "seq.0", "foo"), Object(3));
  EXPECT_EQ(sparse_param(model, "seq.0", "bar"), Object(2));
  EXPECT_TRUE(sparse_param(model, "seq.0", "baz").is_none());
  EXPECT_EQ(sparse_param(model, "linear1", "foo"), Object(3));
  EXPECT_EQ(sparse_param(model, "linear1", "bar"), Object(2));
  EXPECT_TRUE(sparse_param(model, "linear1", "baz").is_none());
}

TEST(TestBaseSparsifier, test_mask_squash_with_params3) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"foo", 3}, {"bar", 2}, {"baz", 1}});
  prepare_two(model, sparsifier);
  sparsifier.squash_mask(std::vector<std::string>{"foo", "bar"},
                         std::map<std::string, std::vector<std::string>>{{"seq.0", {"baz"}}});
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  ASSERT_TRUE(sub(model, "seq.0")->has_object("sparse_params"));
  ASSERT_TRUE(sub(model, "linear1")->has_object("sparse_params"));
  EXPECT_EQ(sparse_param(model, "seq.0", "foo"), Object(3));
  EXPECT_EQ(sparse_param(model, "seq.0", "bar"), Object(2));
  EXPECT_EQ(sparse_param(model, "seq.0", "baz"), Object(1));
  EXPECT_EQ(sparse_param(model, "linear1", "foo"), Object(3));
  EXPECT_EQ(sparse_param(model, "linear1", "bar"), Object(2));
  EXPECT_TRUE(sparse_param(model, "linear1", "baz").is_none());
  // Insertion order: the global keys, then the layer's.
  EXPECT_EQ(sub(model, "seq.0")->object("sparse_params").to_dict().keys(),
            (std::vector<std::string>{"foo", "bar", "baz"}));
}

// ---- semantics beyond the Python tests (spec §4) ---------------------------------------------------

TEST(TestBaseSparsifierSemantics, EveryGroupKeyReachesUpdateMaskWithoutGrad) {
  auto model = std::make_shared<SimpleLinear>();
  RecordingSparsifier sparsifier({{"sparsity_level", 0.5}, {"sparse_block_shape", {1, 4}}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "seq.1.weight"}, {"test", 3}, {"name", "x"}}});
  sparsifier.step();
  ASSERT_EQ(sparsifier.calls.size(), 1u);
  const auto& call = sparsifier.calls[0];
  EXPECT_EQ(call.module, sub(model, "seq.1").get());
  EXPECT_EQ(call.tensor_name, "weight");
  EXPECT_FALSE(call.grad_enabled);
  EXPECT_TRUE(autograd::GradMode::is_enabled());
  EXPECT_EQ(call.args.keys(), (std::vector<std::string>{"sparsity_level", "sparse_block_shape", "tensor_fqn", "test",
                                                        "name", "module_fqn", "module", "tensor_name"}));
  EXPECT_EQ(call.args.at("sparsity_level"), Object(0.5));
  EXPECT_EQ(call.args.at("sparse_block_shape").to_int_vector(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(call.args.at("test"), Object(3));
  EXPECT_EQ(call.args.at("name"), Object("x"));
  EXPECT_EQ(call.args.at("module_fqn"), Object("seq.1"));
  // enable_mask_update = false: step does nothing.
  sparsifier.enable_mask_update = false;
  sparsifier.step();
  EXPECT_EQ(sparsifier.calls.size(), 1u);
}

TEST(TestBaseSparsifierSemantics, DefaultsAreDeepCopiedPerGroup) {
  auto model = std::make_shared<SimpleLinear>();
  Tensor t = zeros({2});
  RecordingSparsifier sparsifier({{"t", t}, {"nested", Dict{{"a", 1}}}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}, {{"tensor_fqn", "linear2.weight"}}});
  Dict n0 = sparsifier.groups[0].at("nested").to_dict();
  Dict n1 = sparsifier.groups[1].at("nested").to_dict();
  EXPECT_FALSE(n0.is(n1));
  EXPECT_FALSE(n0.is(sparsifier.defaults.at("nested").to_dict()));
  n0.set("a", 2);
  EXPECT_EQ(n1.at("a"), Object(1));
  EXPECT_NE(sparsifier.groups[0].at("t").to_tensor().impl(), t.impl());
}

TEST(TestBaseSparsifierSemantics, GroupsAccumulateOverPrepareCalls) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier;
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear2.weight"}}});
  ASSERT_EQ(sparsifier.groups.size(), 2u);
  EXPECT_EQ(sparsifier.groups[1].at("tensor_fqn"), Object("linear2.weight"));
  // PyTorch's _prepare runs over every group again: linear1 now holds two FakeSparsity.
  EXPECT_EQ(nn::parametrizations_of(*sub(model, "linear1"), "weight")->size(), 2u);
  EXPECT_EQ(nn::parametrizations_of(*sub(model, "linear2"), "weight")->size(), 1u);
}

TEST(TestBaseSparsifierSemantics, ConfigMaskAndParametrizationKeys) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier;
  Tensor mask = zeros({4, 4});
  int made = 0;
  Object factory = Object::function([&](const std::vector<Object>& args) -> Object {
    ++made;
    return Object(std::make_shared<FakeSparsity>(args.at(0).to_tensor()));
  });
  sparsifier.prepare(
      model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"mask", mask}, {"parametrization", factory}}});
  EXPECT_GE(made, 1);
  EXPECT_EQ(fake_sparsity(*sub(model, "linear1"))->mask().impl(), mask.impl());
  EXPECT_EQ(sparsifier.state.at("linear1.weight").to_dict().at("mask").to_tensor().impl(), mask.impl());
  EXPECT_TRUE(sub(model, "linear1")->get("weight").eq(0).all().item<bool>());
}

TEST(TestBaseSparsifierSemantics, TensorFqnWithLeadingDotMayAgree) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier;
  // module_fqn given and agreeing is fine; disagreeing is PyTorch's AssertionError.
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"module_fqn", "linear1"}}});
  EXPECT_EQ(sparsifier.groups.size(), 1u);
}

TEST(TestBaseSparsifierSemantics, Repr) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"test", 3}});
  EXPECT_EQ(sparsifier.repr(), "ImplementedSparsifier ()");
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  std::string r = sparsifier.repr();
  std::string module_repr = sub(model, "linear1")->repr();
  EXPECT_EQ(r, "ImplementedSparsifier (\n\tGroup 0\n\t    module: " + module_repr +
                   "\n\t    module_fqn: linear1\n\t    tensor_fqn: linear1.weight\n\t    tensor_name: weight\n\t    "
                   "test: 3\n)");
}

// ---- bad input: PyTorch's error, nothing changed ----------------------------------------------------

TEST(TestBaseSparsifierErrors, UnknownTensorFqnLeavesModelUnchanged) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier;
  // The good entry comes first: it must not be registered either.
  EXPECT_ERROR(sparsifier.prepare(
                   model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}, {{"tensor_fqn", "foo.bar.weight"}}}),
               AttributeError, "foo.bar.weight");
  expect_untouched(model);
  EXPECT_TRUE(sparsifier.groups.empty());
  EXPECT_TRUE(sparsifier.state.empty());
  EXPECT_EQ(sparsifier.model, nullptr);
  // A module that exists, a tensor that does not.
  EXPECT_ERROR(sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight2"}}}), AttributeError,
               "weight2");
  expect_untouched(model);
  // A child module named as if it were a tensor.
  EXPECT_ERROR(sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "seq.0"}}}), AttributeError, "'0'");
  expect_untouched(model);
}

TEST(TestBaseSparsifierErrors, BadConfigLeavesModelUnchanged) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier;
  // No tensor_fqn: AssertionError, as Python asserts.
  EXPECT_ERROR(sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}, {{"test", 3}}}),
               AssertionError, "tensor_fqn is a required argument");
  expect_untouched(model);
  // A module_fqn that disagrees with tensor_fqn.
  EXPECT_ERROR(
      sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"module_fqn", "linear2"}}}),
      AssertionError, "Given both `module_fqn` and `tensor_fqn`");
  expect_untouched(model);
  // tensor_name disagreeing.
  EXPECT_ERROR(
      sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"tensor_name", "bias"}}}),
      AssertionError, "Given both `tensor_name` and `tensor_fqn`");
  expect_untouched(model);
  // A mask of another shape: FakeSparsity's assertion, before anything is registered.
  EXPECT_ERROR(sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}},
                                                           {{"tensor_fqn", "linear2.weight"}, {"mask", ones({3, 3})}}}),
               AssertionError, "FakeSparsity");
  expect_untouched(model);
  // tensor_fqn not a string.
  EXPECT_ERROR(sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", 3}}}), TypeError, "tensor_fqn");
  expect_untouched(model);
  EXPECT_TRUE(sparsifier.groups.empty());
  EXPECT_TRUE(sparsifier.state.empty());
}

TEST(TestBaseSparsifierErrors, LoadStateDictUnknownTensor) {
  auto model0 = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier0;
  sparsifier0.prepare(model0, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}});
  Dict sd = sparsifier0.state_dict();
  sd.at("state").to_dict().set("foo.weight", Dict{{"mask", ones({2, 2})}});

  auto model1 = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier1;
  sparsifier1.prepare(model1, std::vector<Dict>{{{"tensor_fqn", "linear2.weight"}}});
  Tensor before = fake_sparsity(*sub(model1, "linear2"))->mask();
  EXPECT_ERROR(sparsifier1.load_state_dict(sd), RuntimeError, "Error loading foo.weight into the model");
  // Nothing changed: not the sparsifier, not the model, not the caller's dict.
  EXPECT_EQ(sparsifier1.groups.size(), 1u);
  EXPECT_EQ(sparsifier1.groups[0].at("tensor_fqn"), Object("linear2.weight"));
  EXPECT_FALSE(nn::is_parametrized(*sub(model1, "linear1")));
  EXPECT_EQ(fake_sparsity(*sub(model1, "linear2"))->mask().impl(), before.impl());
  EXPECT_TRUE(sd.at("state").to_dict().at("linear1.weight").to_dict().contains("mask"));
  // A mask of the wrong shape is a ValueError naming the tensor, before any change.
  sd.at("state").to_dict().erase("foo.weight");
  sd.at("state").to_dict().at("linear1.weight").to_dict().set("mask", ones({3, 3}));
  EXPECT_ERROR(sparsifier1.load_state_dict(sd), ValueError, "linear1.weight");
  EXPECT_FALSE(nn::is_parametrized(*sub(model1, "linear1")));
  // Not strict: the unknown entry is left out, the rest loads.
  sd.at("state").to_dict().at("linear1.weight").to_dict().set("mask", zeros({4, 4}));
  sd.at("state").to_dict().set("foo.weight", Dict{{"mask", ones({2, 2})}});
  sparsifier1.load_state_dict(sd, /*strict=*/false);
  EXPECT_TRUE(equal(fake_sparsity(*sub(model1, "linear1"))->mask(), zeros({4, 4})));
}

TEST(TestBaseSparsifierErrors, ConvertWithoutMappingAndSquashWithUnknownKey) {
  auto model = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier({{"foo", 1}});
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}}, {{"tensor_fqn", "seq.0.weight"}}});
  EXPECT_ERROR(sparsifier.convert(model), NotImplementedError, "Need to auto generate mapping");
  // KeyError naming the key; no layer squashed.
  EXPECT_ERROR(sparsifier.squash_mask(std::vector<std::string>{"foo", "nope"}), KeyError, "nope");
  EXPECT_TRUE(nn::is_parametrized(*sub(model, "linear1"), "weight"));
  EXPECT_TRUE(nn::is_parametrized(*sub(model, "seq.0"), "weight"));
  EXPECT_FALSE(sub(model, "linear1")->has_object("sparse_params"));
}

}  // namespace
}  // namespace twig::ao
