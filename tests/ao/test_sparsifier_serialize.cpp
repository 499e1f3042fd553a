// Masks and sparsifier state survive save/load (issue 14 §2): a prepared model saves and loads as
// a whole module (its FakeSparsity masks with their values, forward equal, trains on), and a
// sparsifier's state_dict() saves to a file and loads into a fresh sparsifier on a fresh model.
#include <gtest/gtest.h>

#include <cmath>

#include "models/common_pruning.h"
#include "serialize/serialize_testing.h"
#include "testing.h"
#include "twig/ao/base_sparsifier.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/nn/loss.h"
#include "twig/nn/optim.h"
#include "twig/nn/parametrize.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

namespace twig::ao {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::models::ImplementedSparsifier;
using testing::models::SimpleLinear;

std::shared_ptr<FakeSparsity> fake_sparsity(const nn::ModulePtr& model, const std::string& path) {
  return std::dynamic_pointer_cast<FakeSparsity>(nn::parametrizations_of(*model->find_module(path), "weight")->at(0));
}

// SimpleLinear with linear1 and seq.0 sparsified, after two steps (row 0 of linear1's mask zeroed)
// and a hand-made pattern in seq.0's mask.
std::shared_ptr<SimpleLinear> prepared_model(ImplementedSparsifier& sparsifier) {
  manual_seed(4);
  auto model = std::make_shared<SimpleLinear>();
  sparsifier.prepare(model, std::vector<Dict>{{{"tensor_fqn", "linear1.weight"}, {"sparsity_level", 0.5}},
                                              {{"tensor_fqn", "seq.0.weight"}, {"name", "first"}}});
  sparsifier.step();
  sparsifier.step();
  Tensor m = fake_sparsity(model, "seq.0")->mask();
  m.copy_(arange(35).reshape({5, 7}).remainder(3).ne(0).to(kFloat32));
  return model;
}

TEST(SparsifierSerialize, PreparedModelSavesAndLoadsAsAWholeModule) {
  testing::models::register_test_models();
  TempDir dir;
  ImplementedSparsifier sparsifier({{"test", 3}});
  auto model = prepared_model(sparsifier);
  const std::string path = dir.file("prepared.twig");
  serialize::save_module(*model, path);

  auto loaded = serialize::load_module<SimpleLinear>(path);
  ASSERT_NE(loaded, nullptr);
  for (const char* p : {"linear1", "seq.0"}) {
    auto fs = fake_sparsity(loaded, p);
    ASSERT_NE(fs, nullptr) << p;
    EXPECT_TRUE(equal(fs->mask(), fake_sparsity(model, p)->mask())) << p;
    EXPECT_EQ(fs->mask().dtype(), kFloat32);
    EXPECT_FALSE(fs->buffer_is_persistent("mask"));
  }
  EXPECT_FALSE(nn::is_parametrized(*loaded->find_module("linear2")));
  EXPECT_EQ(loaded->state_dict().keys(), model->state_dict().keys());
  Tensor x = randn({3, 7});
  EXPECT_TRUE(equal((*loaded)(x), (*model)(x)));

  // It trains on: gradients of masked entries are zero, an SGD step keeps them at zero.
  Tensor original = nn::parametrizations_of(*loaded->find_module("linear1"), "weight")->original();
  optim::SGD opt(loaded->parameters(), optim::SGDOptions(0.1));
  Tensor before = original.detach().clone();
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    Tensor loss = (*loaded)(x).pow(2).mean();
    loss.backward();
    EXPECT_TRUE(original.grad().select(0, 0).eq(0).all().item<bool>());
    opt.step();
  }
  EXPECT_FALSE(equal(original, before));
  EXPECT_TRUE(equal(original.select(0, 0), before.select(0, 0)));
  EXPECT_TRUE(loaded->find_module("linear1")->get("weight").select(0, 0).eq(0).all().item<bool>());
  // The original model is untouched by all this.
  EXPECT_TRUE(equal((*model)(x), (*model)(x)));
}

TEST(SparsifierSerialize, StateDictFileLoadsIntoAFreshSparsifierOnAFreshModel) {
  TempDir dir;
  ImplementedSparsifier sparsifier0({{"test", 3}, {"sparse_block_shape", {1, 4}}, {"level", 3.0}, {"none", nullptr}});
  auto model0 = prepared_model(sparsifier0);
  Dict sd = sparsifier0.state_dict();
  const std::string path = dir.file("sparsifier.safetensors");
  save_sparsifier_state(sd, path);
  // The file is a safetensors file any reader can open: the masks are its tensors.
  serialize::SafetensorsFile raw = serialize::load_safetensors(path);
  EXPECT_EQ(raw.tensors.size(), 2u);
  EXPECT_TRUE(raw.metadata.count("twig.sparsifier_state"));

  Dict back = load_sparsifier_state(path);
  EXPECT_FALSE(back == sd);  // the masks are new tensor objects (dicts compare tensors by identity)
  Dict state_back = back.at("state").to_dict();
  EXPECT_EQ(state_back.keys(), sd.at("state").to_dict().keys());
  for (const auto& [fqn, s] : sd.at("state").to_dict()) {
    Tensor m0 = s.to_dict().at("mask").to_tensor();
    Tensor m1 = state_back.at(fqn).to_dict().at("mask").to_tensor();
    EXPECT_NE(m0.impl(), m1.impl());
    EXPECT_EQ(m1.dtype(), m0.dtype());
    EXPECT_TRUE(equal(m0, m1)) << fqn;
  }
  // ImplementedSparsifier counts every group's update on linear1's entry: 2 steps x 2 groups.
  EXPECT_EQ(state_back.at("linear1.weight").to_dict().at("step_count"), Object(4));
  EXPECT_TRUE(state_back.at("linear1.weight").to_dict().at("step_count").is_int());
  const nn::Tuple& groups_back = back.at("groups").to_tuple();
  ASSERT_EQ(groups_back.size(), 2u);
  Dict g0 = groups_back[0].to_dict();
  EXPECT_EQ(g0.keys(),
            (std::vector<std::string>{"test", "sparse_block_shape", "level", "none", "tensor_fqn", "sparsity_level"}));
  EXPECT_TRUE(g0.at("sparse_block_shape").is_tuple());
  EXPECT_TRUE(g0.at("level").is_float());
  EXPECT_EQ(g0.at("level"), Object(3.0));
  EXPECT_TRUE(g0.at("none").is_none());
  EXPECT_EQ(groups_back[1].to_dict().at("name"), Object("first"));

  // A fresh model (other weights) and a fresh sparsifier, prepared the default way.
  manual_seed(99);
  auto model1 = std::make_shared<SimpleLinear>();
  ImplementedSparsifier sparsifier1;
  sparsifier1.prepare(model1, std::nullopt);
  sparsifier1.load_state_dict(back);
  for (const char* p : {"linear1", "seq.0"}) {
    EXPECT_TRUE(equal(fake_sparsity(model1, p)->mask(), fake_sparsity(model0, p)->mask())) << p;
  }
  // Loaded masks act on model1's weights.
  Tensor w1 = model1->find_module("seq.0")->get("weight");
  EXPECT_TRUE(equal(w1, nn::parametrizations_of(*model1->find_module("seq.0"), "weight")->original() *
                            fake_sparsity(model0, "seq.0")->mask()));
  // Same groups (minus module references) and the same non-mask state as sparsifier0.
  ASSERT_EQ(sparsifier1.groups.size(), sparsifier0.groups.size());
  for (size_t i = 0; i < sparsifier0.groups.size(); ++i) {
    for (const auto& [key, value] : sparsifier0.groups[i]) {
      ASSERT_TRUE(sparsifier1.groups[i].contains(key)) << key;
      if (key == "module") {
        EXPECT_EQ(sparsifier1.groups[i].at(key).to_module(),
                  model1->find_module(sparsifier0.groups[i].at("module_fqn").to_string()));
      } else {
        EXPECT_EQ(sparsifier1.groups[i].at(key), value) << key;
      }
    }
  }
  EXPECT_EQ(sparsifier1.state.at("linear1.weight").to_dict().at("step_count"), Object(4));
  // And it steps on from there.
  sparsifier1.step();
  EXPECT_EQ(sparsifier1.state.at("linear1.weight").to_dict().at("step_count"), Object(6));
}

TEST(SparsifierSerialize, ValuesRoundTripWithTheirKinds) {
  TempDir dir;
  Tensor shared = arange(6).reshape({2, 3});
  Dict sd{{"state", Dict{{"a.weight", Dict{{"mask", shared}, {"alias", shared}, {"b", true}}}}},
          {"groups", Object(nn::Tuple{Dict{{"i", -7},
                                           {"f", 0.25},
                                           {"whole", 2.0},
                                           {"inf", INFINITY},
                                           {"nan", NAN},
                                           {"s", "x\"y"},
                                           {"t", {1, Object(2.5), "z"}},
                                           {"nested", Dict{{"k", nullptr}}}}})}};
  const std::string path = dir.file("values.safetensors");
  save_sparsifier_state(sd, path);
  Dict back = load_sparsifier_state(path);
  Dict s = back.at("state").to_dict().at("a.weight").to_dict();
  // One tensor held twice is stored once and comes back as one object; int64 stays int64.
  EXPECT_EQ(s.at("mask").to_tensor().impl(), s.at("alias").to_tensor().impl());
  EXPECT_EQ(s.at("mask").to_tensor().dtype(), kInt64);
  EXPECT_TRUE(equal(s.at("mask").to_tensor(), shared));
  EXPECT_TRUE(s.at("b").is_bool());
  Dict g = back.at("groups").to_tuple().at(0).to_dict();
  EXPECT_TRUE(g.at("i").is_int());
  EXPECT_EQ(g.at("i"), Object(-7));
  EXPECT_TRUE(g.at("whole").is_float());
  EXPECT_EQ(g.at("f"), Object(0.25));
  EXPECT_TRUE(std::isinf(g.at("inf").to_double()) && g.at("inf").to_double() > 0);
  EXPECT_TRUE(std::isnan(g.at("nan").to_double()));
  EXPECT_EQ(g.at("s"), Object("x\"y"));
  EXPECT_EQ(g.at("t").repr(), "(1, 2.5, 'z')");
  EXPECT_TRUE(g.at("nested").to_dict().at("k").is_none());
  EXPECT_EQ(g.keys(), (std::vector<std::string>{"i", "f", "whole", "inf", "nan", "s", "t", "nested"}));
}

TEST(SparsifierSerialize, FailedSaveLeavesTheExistingFileAndBadFilesAreTypedErrors) {
  TempDir dir;
  const std::string path = dir.file("state.safetensors");
  save_sparsifier_state(Dict{{"state", Dict()}, {"groups", Object(nn::Tuple{})}}, path);
  const std::string before = read_bytes(path);
  // A module in a group (an unfiltered group) cannot be stored: TypeError naming where.
  auto model = std::make_shared<SimpleLinear>();
  Dict bad{{"state", Dict()}, {"groups", Object(nn::Tuple{Dict{{"module", Object(model)}}})}};
  EXPECT_ERROR(save_sparsifier_state(bad, path), TypeError, "['module']");
  EXPECT_EQ(read_bytes(path), before);
  // A plain state dict file is not a sparsifier state file.
  const std::string other = dir.file("weights.safetensors");
  serialize::save_state_dict(*model, other);
  EXPECT_ERROR(load_sparsifier_state(other), ValueError, "not a sparsifier state file");
  EXPECT_ERROR(load_sparsifier_state(dir.file("missing.safetensors")), RuntimeError, "missing.safetensors");
}

}  // namespace
}  // namespace twig::ao
