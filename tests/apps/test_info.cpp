// `twig info` on whole-module files: bit-packed masks listed as the masks they stand for, and a
// file whose module or hook types the twig command does not know still lists all its tensors
// and names those types.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/prune/prune.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/registry.h"
#include "twig/tensor/random.h"

namespace twig {
namespace {

struct Output {
  int status;
  std::string out;
};

Output twig_cli(const std::string& args) {
  std::string cmd = std::string(TWIG_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = ::pclose(p);
  return {WEXITSTATUS(status), out};
}

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("twig_info_" + std::to_string(::getpid()) + "_" + name)).string();
}

const nlohmann::json* find_tensor(const nlohmann::json& info, const std::string& name) {
  for (const auto& t : info["tensors"]) {
    if (t["name"] == name) return &t;
  }
  return nullptr;
}

TEST(CliInfo, PackedMasksAreListedAsTheMasks) {
  manual_seed(1);
  auto conv = std::make_shared<nn::Conv2d>(1, 6, 5);
  prune::l1_unstructured(*conv, "weight", 0.5);
  const std::string path = temp_file("pruned.twig");
  serialize::save_module(*conv, path);
  Output r = twig_cli("info " + path + " --json");
  std::remove(path.c_str());
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json info = nlohmann::json::parse(r.out);
  const nlohmann::json* mask = find_tensor(info, "weight_mask");
  ASSERT_NE(mask, nullptr) << r.out;
  EXPECT_EQ((*mask)["dtype"], "F32");
  EXPECT_EQ((*mask)["shape"], nlohmann::json({6, 1, 5, 5}));
  EXPECT_EQ((*mask)["stored"], "bit-packed U8");
  EXPECT_NEAR((*mask)["sparsity"].get<double>(), 0.5, 1e-12);
  EXPECT_EQ(find_tensor(info, "weight"), nullptr) << "the recomputed weight is not stored";
  EXPECT_NE(find_tensor(info, "weight_orig"), nullptr);
  EXPECT_EQ(info["unknown_types"], nlohmann::json::array());
  ASSERT_EQ(info["pruning_hooks"].size(), 1u);
  EXPECT_EQ(info["pruning_hooks"][0]["hook"], "L1Unstructured");
}

// A hook type only this test process knows.
class InfoTestHook : public nn::ForwardPreHook {
 public:
  std::optional<nn::Values> operator()(nn::Module&, const nn::Values&) override { return std::nullopt; }
  std::string type_name() const override { return "InfoTestHook"; }
};

TEST(CliInfo, UnknownTypesAreNamedAndTheTensorsListed) {
  serialize::register_forward_pre_hook_type(
      "InfoTestHook", {[](const nn::ForwardPreHook&, serialize::TensorWriter&) { return serialize::json::object(); },
                       [](const serialize::json&, serialize::TensorReader&) -> std::shared_ptr<nn::ForwardPreHook> {
                         return std::make_shared<InfoTestHook>();
                       }});
  auto net = std::make_shared<nn::Module>("InfoUserNet");
  net->register_module("fc", std::make_shared<nn::Linear>(3, 2));
  const std::string plain = temp_file("user.twig");
  serialize::save_module(*net, plain);
  Output r = twig_cli("info " + plain + " --json");
  ASSERT_EQ(r.status, 0) << r.out;
  nlohmann::json info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["unknown_types"], nlohmann::json({"InfoUserNet"}));
  EXPECT_NE(find_tensor(info, "fc.weight"), nullptr);
  EXPECT_NE(info["module"].get<std::string>().find("Linear(in_features=3"), std::string::npos) << r.out;

  net->child("fc")->register_forward_pre_hook(std::make_shared<InfoTestHook>());
  const std::string hooked = temp_file("hooked.twig");
  serialize::save_module(*net, hooked);
  r = twig_cli("info " + hooked);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("fc.weight"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fc.bias"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("does not know: InfoUserNet, InfoTestHook (hook)"), std::string::npos) << r.out;
  std::remove(plain.c_str());
  std::remove(hooked.c_str());
}

}  // namespace
}  // namespace twig
