// Beyond the seeds: whole-module files keep every pruning method's state (amount as int or
// float, n including ±inf and "fro", negative dims, CustomFromMask's mask, containers), so a
// loaded model prunes further exactly like the original and can be `remove`d.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/testing.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/prune/prune.h"
#include "twig/tensor/random.h"

#if defined(TWIG_HAS_SERIALIZE) && __has_include("twig/serialize/module_io.h")
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

namespace twig {
namespace {

using nn::ModulePtr;

ModulePtr round_trip(const nn::Module& m) {
  std::string path =
      (std::filesystem::temp_directory_path() / ("twig_prune_ser_" + std::to_string(::getpid()))).string();
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
  auto model = std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<nn::Linear>(6, 5), std::make_shared<nn::Linear>(5, 2)});
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

// ---- file size and exactness of pruned files --------------------------------------------------------------

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("twig_prune_ser_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

int64_t file_size(const std::string& path) { return static_cast<int64_t>(std::filesystem::file_size(path)); }

// Bytes of the data section: the file less its 8-byte length and its header.
int64_t data_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  return file_size(path) - 8 - static_cast<int64_t>(n);
}

std::shared_ptr<nn::Sequential> lenet() {
  return std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<nn::Conv2d>(1, 6, 5), std::make_shared<nn::Conv2d>(6, 16, 5),
                                       std::make_shared<nn::Linear>(256, 120), std::make_shared<nn::Linear>(120, 84),
                                       std::make_shared<nn::Linear>(84, 10)});
}

// Same dtype, shape and values.
void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_TRUE(a.defined() && b.defined()) << what;
  EXPECT_EQ(a.dtype(), b.dtype()) << what;
  EXPECT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_TRUE(equal(a, b)) << what;
}

TEST(PruneSerialize, APrunedFileIsTheDenseFilePlusOneBitPerWeight) {
  manual_seed(3);
  auto model = lenet();
  const std::string dense = temp_file("dense"), pruned = temp_file("pruned");
  serialize::save_module(*model, dense);
  int64_t bits_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    prune::l1_unstructured(*(*model)[i], "weight", 0.5);
    bits_bytes += ((*model)[i]->get("weight_orig").numel() + 7) / 8;
  }
  serialize::save_module(*model, pruned);
  // The tensors: weight_orig as it was, the mask bit-packed, no recomputed weight.
  auto file = serialize::load_safetensors(pruned);
  for (int i = 0; i < 5; ++i) {
    const std::string p = std::to_string(i) + ".";
    EXPECT_FALSE(file.tensors.contains(p + "weight")) << "the recomputed weight is stored";
    expect_identical(file.tensors.at(p + "weight_orig"), (*model)[i]->get("weight_orig"), p + "weight_orig");
    const Tensor& mask = file.tensors.at(p + "weight_mask");
    EXPECT_EQ(mask.dtype(), kUInt8);
    EXPECT_EQ(mask.sizes(), Shape{((*model)[i]->get("weight_orig").numel() + 7) / 8});
  }
  EXPECT_EQ(data_bytes(pruned), data_bytes(dense) + bits_bytes);
  EXPECT_LE(file_size(pruned), file_size(dense) + bits_bytes + 4096) << "more than one bit per weight + metadata";

  // Back exactly: the state dict (PyTorch's keys, dtypes, values), the recomputed weight, hooks.
  ModulePtr back = serialize::load_module(pruned);
  auto want = model->state_dict(), got = back->state_dict();
  ASSERT_EQ(got.keys(), want.keys());
  for (const auto& [name, t] : want) expect_identical(got.at(name), t, name);
  for (int i = 0; i < 5; ++i) {
    auto layer = back->child(std::to_string(i));
    EXPECT_TRUE(layer->is_attribute("weight"));
    expect_identical(layer->get("weight"), (*model)[i]->get("weight"), "weight");
    EXPECT_TRUE(layer->get("weight").requires_grad());
    EXPECT_NE(std::dynamic_pointer_cast<prune::L1Unstructured>(prune::pruning_hook(*layer, "weight")), nullptr);
  }
  const std::vector<Shape> inputs{{2, 1, 28, 28}, {2, 6, 12, 12}, {2, 256}, {2, 120}, {2, 84}};
  for (int i = 0; i < 5; ++i) {
    Tensor x = randn(inputs[i]);
    EXPECT_TENSOR_EQ((*back->child(std::to_string(i)))(x), (*(*model)[i])(x));
  }
  // Pruning further and removing act as on the original.
  for (int i = 0; i < 5; ++i) {
    prune::l1_unstructured(*back->child(std::to_string(i)), "weight", 3);
    prune::l1_unstructured(*(*model)[i], "weight", 3);
    expect_identical(back->child(std::to_string(i))->get("weight_mask"), (*model)[i]->get("weight_mask"), "mask");
    prune::remove(*back->child(std::to_string(i)), "weight");
    prune::remove(*(*model)[i], "weight");
    expect_identical(back->child(std::to_string(i))->get("weight"), (*model)[i]->get("weight"), "removed");
  }
  std::remove(dense.c_str());
  std::remove(pruned.c_str());
}

// Three rounds of global pruning: each round's CustomFromMask keeps its own (cumulative) mask;
// the last equals the module's mask and is stored once, the earlier two bit-packed.
TEST(PruneSerialize, MasksOfEveryRoundAreKeptOnceAndBitPacked) {
  manual_seed(5);
  auto model = std::make_shared<nn::Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<nn::Linear>(40, 30), std::make_shared<nn::Linear>(30, 20)});
  for (int round = 0; round < 3; ++round) {
    prune::global_unstructured({{(*model)[0], "weight"}, {(*model)[1], "weight"}},
                               std::make_shared<prune::L1Unstructured>(0.3));
  }
  const std::string path = temp_file("rounds");
  serialize::save_module(*model, path);
  auto file = serialize::load_safetensors(path);
  int64_t u8_bytes = 0, expected_bytes = 0;
  for (const auto& [name, t] : file.tensors) {
    EXPECT_NE(t.dtype(), kBool) << name;
    if (t.dtype() == kUInt8) u8_bytes += t.numel();
    if (name.find("mask") != std::string::npos) {
      EXPECT_EQ(t.dtype(), kUInt8) << name << " is not bit-packed";
    }
  }
  for (int i = 0; i < 2; ++i) expected_bytes += 3 * (((*model)[i]->get("weight_orig").numel() + 7) / 8);
  EXPECT_EQ(u8_bytes, expected_bytes) << "one packed mask per distinct round";

  ModulePtr back = serialize::load_module(path);
  for (int i = 0; i < 2; ++i) {
    auto want = std::dynamic_pointer_cast<prune::PruningContainer>(prune::pruning_hook(*(*model)[i], "weight"));
    auto got = std::dynamic_pointer_cast<prune::PruningContainer>(
        prune::pruning_hook(*back->child(std::to_string(i)), "weight"));
    ASSERT_NE(got, nullptr);
    ASSERT_EQ(got->size(), 3u);
    for (int64_t r = 0; r < 3; ++r) {
      auto w = std::dynamic_pointer_cast<prune::CustomFromMask>((*want)[r]);
      auto g = std::dynamic_pointer_cast<prune::CustomFromMask>((*got)[r]);
      ASSERT_NE(g, nullptr);
      expect_identical(g->mask, w->mask, "round " + std::to_string(r));
    }
    expect_identical(back->child(std::to_string(i))->get("weight_mask"), (*model)[i]->get("weight_mask"), "mask");
  }
  std::remove(path.c_str());
}

// NumPy alone reads a pruned file: unpacking the masks with the tree's table gives the state dict.
TEST(PruneSerialize, NumpyReadsAPrunedFile) {
  std::string py;
  for (const char* cand : {"/usr/bin/python3", "python3"}) {
    if (std::system((std::string(cand) + " -c 'import numpy' >/dev/null 2>&1").c_str()) == 0) {
      py = cand;
      break;
    }
  }
  if (py.empty()) GTEST_SKIP() << "no python3 with NumPy";
  manual_seed(7);
  auto model = lenet();
  prune::l1_unstructured(*(*model)[0], "weight", 0.4);
  prune::ln_structured(*(*model)[2], "weight", 0.5, 2.0, 0);
  const std::string mod = temp_file("np.twig"), sd = temp_file("np.safetensors");
  serialize::save_module(*model, mod);
  serialize::save_state_dict(*model, sd);
  const std::string cmd = py + " " + TWIG_FIXTURE_DIR + "/../serialize/numpy_safetensors.py pruned " + mod + " " + sd;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::remove(mod.c_str());
  std::remove(sd.c_str());
}

// The tree and tensors as written before masks were packed (version 1): every tensor as it is,
// the recomputed weight included.
std::string as_version_1(const std::string& bytes) {
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  auto tree = nlohmann::json::parse(f.metadata.at("twig.module"));
  nn::StateDict tensors = f.tensors;
  for (const auto& [key, row] : tree["packed"].items()) {
    const Tensor bits = f.tensors.at(row["data"].get<std::string>());
    const int64_t n = row["shape"].empty() ? 1 : [&] {
      int64_t p = 1;
      for (const auto& d : row["shape"]) p *= d.get<int64_t>();
      return p;
    }();
    Tensor flat = empty({n}, kUInt8);
    for (int64_t k = 0; k < n; ++k) flat.data_ptr<uint8_t>()[k] = (bits.data_ptr<uint8_t>()[k / 8] >> (k % 8)) & 1;
    Tensor t = flat.to(serialize::dtype_from_safetensors_name(row["dtype"].get<std::string>()))
                   .reshape(row["shape"].get<std::vector<int64_t>>());
    if (tensors.contains(key)) tensors.pop(key);
    tensors.insert(key, t);
  }
  tree.erase("packed");
  tree["version"] = 1;
  f.metadata["twig.module"] = tree.dump();
  return serialize::to_safetensors_bytes(tensors, f.metadata);
}

TEST(PruneSerialize, VersionOneFilesStillLoad) {
  manual_seed(9);
  auto lin = std::make_shared<nn::Linear>(20, 10);
  prune::l1_unstructured(*lin, "weight", 0.5);
  prune::custom_from_mask(*lin, "weight", (arange(200).remainder(3) != 0).reshape({10, 20}));
  std::string v1 = as_version_1(serialize::module_to_bytes(*lin));
  ModulePtr back = serialize::module_from_bytes(v1.data(), v1.size());
  for (const auto& [name, t] : lin->state_dict()) expect_identical(back->state_dict().at(name), t, name);
  expect_identical(back->get("weight"), lin->get("weight"), "weight");
  auto c = std::dynamic_pointer_cast<prune::PruningContainer>(prune::pruning_hook(*back, "weight"));
  ASSERT_NE(c, nullptr);
  expect_identical(std::dynamic_pointer_cast<prune::CustomFromMask>((*c)[1])->mask,
                   std::dynamic_pointer_cast<prune::CustomFromMask>(
                       (*std::dynamic_pointer_cast<prune::PruningContainer>(prune::pruning_hook(*lin, "weight")))[1])
                       ->mask,
                   "custom mask");
}

// Amounts in a file keep Python's int / float distinction; any other JSON kind is a TypeError.
TEST(PruneSerialize, AmountsInFilesAreIntOrFloat) {
  auto lin = std::make_shared<nn::Linear>(5, 3);
  prune::l1_unstructured(*lin, "weight", 1);
  std::string bytes = serialize::module_to_bytes(*lin);
  auto f = serialize::from_safetensors_bytes(bytes.data(), bytes.size());
  auto tree = nlohmann::json::parse(f.metadata.at("twig.module"));
  auto with_amount = [&](const nlohmann::json& amount) {
    auto t = tree;
    t["modules"][0]["forward_pre_hooks"][0]["state"]["amount"] = amount;
    auto meta = f.metadata;
    meta["twig.module"] = t.dump();
    std::string b = serialize::to_safetensors_bytes(f.tensors, meta);
    return serialize::module_from_bytes(b.data(), b.size());
  };
  auto amount_of = [](const ModulePtr& m) {
    return std::dynamic_pointer_cast<prune::L1Unstructured>(prune::pruning_hook(*m, "weight"))->amount;
  };
  EXPECT_EQ(prune::compute_nparams_toprune(amount_of(with_amount(nlohmann::json::parse("1"))), 15), 1);
  EXPECT_EQ(prune::compute_nparams_toprune(amount_of(with_amount(nlohmann::json::parse("1.0"))), 15), 15);
  EXPECT_TRUE(amount_of(with_amount(nlohmann::json::parse("2"))).is_count());
  for (const char* bad : {"\"0.5\"", "true", "null", "[1]"}) {
    EXPECT_ERROR(with_amount(nlohmann::json::parse(bad)), TypeError, "Invalid type for amount");
  }
}

}  // namespace
}  // namespace twig
#endif
