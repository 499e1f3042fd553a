// Beyond the seeds: whole-module files keep every pruning method's state (amount as int or
// float, n including ±inf and "fro", negative dims, CustomFromMask's mask, containers), so a
// loaded model prunes further exactly like the original and can be `remove`d.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "nn/container.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "prune/prune.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tests/testing.h"

#if defined(TWIG_HAS_SERIALIZE) && __has_include("serialize/module_io.h")
#include "serialize/module_io.h"

namespace twig {
namespace {

using nn::ModulePtr;

ModulePtr round_trip(const nn::Module& m) {
  std::string path = (std::filesystem::temp_directory_path() / ("twig_prune_ser_" + std::to_string(::getpid()))).string();
  serialize::save_module(m, path);
  ModulePtr out = serialize::load_module(path);
  std::remove(path.c_str());
  return out;
}

std::shared_ptr<prune::PruningContainer> container_of(const nn::Module& m) {
  return std::dynamic_pointer_cast<prune::PruningContainer>(m.forward_pre_hooks().items().begin()->second);
}

TEST(PruneSerialize, MethodsAndContainersRoundTrip) {
  manual_seed(11);
  auto conv = std::make_shared<nn::Conv2d>(3, 6, 3);
  prune::l1_unstructured(*conv, "weight", 5);                 // int amount
  prune::ln_structured(*conv, "weight", 0.25, INFINITY, -4);  // float amount, inf, negative dim
  prune::ln_structured(*conv, "weight", 1, "fro", 1);
  prune::random_structured(*conv, "weight", 1, -1);
  prune::custom_from_mask(*conv, "bias", tensor({1, 0, 1, 1, 0, 1}));
  ModulePtr loaded = round_trip(*conv);

  auto c = container_of(*loaded);
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->size(), 4u);
  auto l1 = std::dynamic_pointer_cast<prune::L1Unstructured>((*c)[0]);
  ASSERT_NE(l1, nullptr);
  EXPECT_TRUE(l1->amount.is_count());
  EXPECT_EQ(l1->amount.count(), 5);
  auto ln = std::dynamic_pointer_cast<prune::LnStructured>((*c)[1]);
  ASSERT_NE(ln, nullptr);
  EXPECT_TRUE(ln->amount.is_fraction());
  EXPECT_EQ(ln->amount.fraction(), 0.25);
  EXPECT_EQ(ln->n.p, INFINITY);
  EXPECT_EQ(ln->dim, -4);
  auto fro = std::dynamic_pointer_cast<prune::LnStructured>((*c)[2]);
  ASSERT_NE(fro, nullptr);
  EXPECT_TRUE(fro->n.fro);
  auto rs = std::dynamic_pointer_cast<prune::RandomStructured>((*c)[3]);
  ASSERT_NE(rs, nullptr);
  EXPECT_EQ(rs->dim, -1);
  for (const auto& m : *c) EXPECT_EQ(m->tensor_name, "weight");
  auto bias_hook = prune::pruning_hook(*loaded, "bias");
  auto custom = std::dynamic_pointer_cast<prune::CustomFromMask>(bias_hook);
  ASSERT_NE(custom, nullptr);
  EXPECT_TENSOR_EQ(custom->mask, tensor({1, 0, 1, 1, 0, 1}));

  // Same forward, same further pruning, same removal.
  Tensor x = randn({1, 3, 5, 5});
  EXPECT_TENSOR_EQ((*loaded)(x), (*conv)(x));
  prune::l1_unstructured(*loaded, "weight", 0.5);
  prune::l1_unstructured(*conv, "weight", 0.5);
  EXPECT_TENSOR_EQ(loaded->get("weight_mask"), conv->get("weight_mask"));
  prune::remove(*loaded, "weight");
  prune::remove(*loaded, "bias");
  EXPECT_FALSE(prune::is_pruned(*loaded));
  EXPECT_TENSOR_EQ(loaded->get("weight"), conv->get("weight"));
}

TEST(PruneSerialize, GlobalPruningSurvivesSaving) {
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Linear>(6, 5), std::make_shared<nn::Linear>(5, 2)});
  prune::global_unstructured({{(*model)[0], "weight"}, {(*model)[1], "weight"}},
                             std::make_shared<prune::L1Unstructured>(0.5));
  ModulePtr loaded = round_trip(*model);
  auto seq = std::dynamic_pointer_cast<nn::Sequential>(loaded);
  ASSERT_NE(seq, nullptr);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TENSOR_EQ((*seq)[i]->get("weight_mask"), (*model)[i]->get("weight_mask"));
    EXPECT_NE(std::dynamic_pointer_cast<prune::CustomFromMask>(prune::pruning_hook(*(*seq)[i], "weight")), nullptr);
  }
  Tensor x = randn({3, 6});
  EXPECT_TENSOR_EQ((*seq)(x), (*model)(x));
}

}  // namespace
}  // namespace twig
#endif
