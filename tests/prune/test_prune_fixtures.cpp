// Differential fixtures from PyTorch 1.13 (tools/gen_prune_fixtures.py -> tests/fixtures/prune.json):
// twig's masks must equal PyTorch's, mask for mask, for l1_unstructured, ln_structured over n and
// dim, int and float amounts, importance scores, repeated pruning and global_unstructured; and
// where PyTorch refuses a step, twig raises the same error type.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/fixture_file.h"
#include "tests/prune/prune_fixture_helpers.h"
#include "tests/testing.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/module.h"
#include "twig/prune/prune.h"

namespace twig {
namespace {

using json = nlohmann::json;
using testing::amount_of;
using testing::Holder;
using testing::norm_of;

const json& fixture() { return testing::load_fixture("prune.json", "gen_prune_fixtures.py"); }

Shape shape_of(const json& j) { return j.get<Shape>(); }

Tensor float_tensor(const json& data, const Shape& shape) { return from_vector(data.get<std::vector<float>>(), shape); }

Tensor mask_tensor(const json& data, const Shape& shape) {
  std::vector<float> v;
  for (const auto& x : data) v.push_back(static_cast<float>(x.get<int>()));
  return from_vector(v, shape);
}

std::string masks_differ(const Tensor& got, const Tensor& want) {
  if (equal(got, want)) return "";
  return testing::str(got) + "\nvs PyTorch\n" + testing::str(want);
}

void run_single(const json& c) {
  const Shape shape = shape_of(c.at("shape"));
  auto m = std::make_shared<Holder>(float_tensor(c.at("weight"), shape));
  int step_no = 0;
  for (const json& st : c.at("steps")) {
    SCOPED_TRACE("step " + std::to_string(step_no++) + ": " + st.at("fn").get<std::string>());
    Tensor importance = st.at("importance").is_null() ? Tensor() : float_tensor(st.at("importance"), shape);
    const std::string fn = st.at("fn").get<std::string>();
    auto run = [&] {
      if (fn == "l1") {
        prune::l1_unstructured(*m, "weight", amount_of(st.at("amount")), importance);
      } else if (fn == "ln") {
        prune::ln_structured(*m, "weight", amount_of(st.at("amount")), norm_of(st.at("n")), st.at("dim").get<int64_t>(),
                             importance);
      } else if (fn == "custom") {
        prune::custom_from_mask(*m, "weight", mask_tensor(st.at("mask"), shape));
      } else {
        FAIL() << "unknown step " << fn;
      }
    };
    if (st.contains("error")) {
      const std::string err = st.at("error").get<std::string>();
      if (err == "ValueError") {
        EXPECT_THROW(run(), ValueError);
      } else if (err == "IndexError") {
        EXPECT_THROW(run(), IndexError);
      } else {
        FAIL() << "unexpected error kind " << err;
      }
      return;
    }
    run();
    Tensor want = mask_tensor(st.at("expected"), shape);
    EXPECT_EQ(masks_differ(m->get("weight_mask"), want), "");
    // The pruned weight is the original times the mask.
    EXPECT_TENSOR_EQ(m->get("weight"), m->get("weight_orig") * want);
  }
}

void run_global(const json& c) {
  std::vector<std::shared_ptr<Holder>> mods;
  std::vector<prune::TensorRef> params;
  prune::ImportanceScores scores;
  for (const json& t : c.at("tensors")) {
    const Shape shape = shape_of(t.at("shape"));
    auto m = std::make_shared<Holder>(float_tensor(t.at("weight"), shape));
    if (!t.at("pre_mask").is_null()) prune::custom_from_mask(*m, "weight", mask_tensor(t.at("pre_mask"), shape));
    if (!t.at("importance").is_null()) scores[{m, "weight"}] = float_tensor(t.at("importance"), shape);
    params.emplace_back(m, "weight");
    mods.push_back(m);
  }
  prune::global_unstructured(params, std::make_shared<prune::L1Unstructured>(amount_of(c.at("amount"))), scores);
  for (size_t i = 0; i < mods.size(); ++i) {
    SCOPED_TRACE("tensor " + std::to_string(i));
    const json& t = c.at("tensors")[i];
    Tensor want = mask_tensor(t.at("expected"), shape_of(t.at("shape")));
    EXPECT_EQ(masks_differ(mods[i]->get("weight_mask"), want), "");
  }
}

TEST(PruneFixtures, MatchPyTorchMaskForMask) {
  const json& cases = fixture().at("cases");
  EXPECT_GE(cases.size(), 200u);
  int singles = 0, globals = 0;
  for (const json& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    if (c.at("kind") == "single") {
      run_single(c);
      ++singles;
    } else {
      run_global(c);
      ++globals;
    }
  }
  EXPECT_GT(singles, 0);
  EXPECT_GT(globals, 0);
}

// Text is never an amount (the JSON forms are checked through module files in
// test_prune_serialize.cpp).
TEST(PruneFixtures, AmountFromText) {
  EXPECT_ERROR(prune::Amount(std::string("3")), TypeError, "Invalid type for amount");
}

}  // namespace
}  // namespace twig
