// Pruning under ties masks what PyTorch 1.13 masks (tools/gen_ties_fixtures.py ->
// tests/fixtures/ties.json): equal magnitudes of many sizes and amounts (both regimes of torch.topk),
// every n over channels with equal norms and all-zero channels, repeated pruning with n=-inf,
// pruning again after remove(), and global_unstructured across parameters with shared values; in
// float32 and float64, the mask after every step.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
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

const json& fixture() { return testing::load_fixture("ties.json", "gen_ties_fixtures.py"); }

double value_of(const json& v) {
  if (!v.is_string()) return v.get<double>();
  const std::string s = v.get<std::string>();
  if (s == "nan") return NAN;
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  if (s == "-0") return -0.0;
  return std::stod(s);
}

Tensor decode_tensor(const std::string& s, const Shape& shape, Dtype dtype) {
  std::vector<double> v;
  for (char c : s) v.push_back(value_of(fixture().at("alphabet").at(std::string(1, c))));
  return from_vector(v, shape).to(dtype);
}

Tensor mask_of(const std::string& bits, const Shape& shape, Dtype dtype) {
  std::vector<double> v;
  for (char c : bits) v.push_back(c == '1' ? 1.0 : 0.0);
  return from_vector(v, shape).to(dtype);
}

Dtype dtype_of(const std::string& name) { return name == "float64" ? kFloat64 : kFloat32; }

void apply_step(nn::Module& m, const json& st) {
  const std::string fn = st.at("fn").get<std::string>();
  if (fn == "l1") {
    prune::l1_unstructured(m, "weight", amount_of(st.at("amount")));
  } else if (fn == "ln") {
    prune::ln_structured(m, "weight", amount_of(st.at("amount")), norm_of(st.at("n")), st.at("dim").get<int64_t>());
  } else if (fn == "remove") {
    prune::remove(m, "weight");
  } else {
    FAIL() << "unknown step " << fn;
  }
}

// The module's mask is PyTorch's (same dtype as the weight, same 0/1 pattern), or absent where
// PyTorch's is (after remove()); the weight is the original times the mask.
void expect_mask(const nn::Module& m, const json& want, const Shape& shape, Dtype dtype) {
  if (want.is_null()) {
    EXPECT_FALSE(m.has("weight_mask"));
    EXPECT_TRUE(m.is_parameter("weight"));
    return;
  }
  ASSERT_TRUE(m.has("weight_mask"));
  Tensor mask = m.get("weight_mask");
  Tensor expected = mask_of(want.get<std::string>(), shape, dtype);
  EXPECT_EQ(mask.dtype(), dtype);
  EXPECT_TRUE(equal(mask, expected)) << testing::str(mask) << "\nvs PyTorch\n" << testing::str(expected);
  EXPECT_TRUE(equal(m.get("weight"), m.get("weight_orig") * expected));
}

std::string describe(const json& c, Dtype dtype) {
  json brief = c;
  brief.erase("masks");
  return std::string(dtype_name(dtype)) + " " + brief.dump();
}

TEST(PruneTiesFixture, MasksMatchPyTorchStepByStep) {
  int cases = 0, l1 = 0, ln_neg_inf = 0, removes = 0;
  for (const json& c : fixture().at("prune")) {
    for (const json& d : c.at("dtypes")) {
      const Dtype dtype = dtype_of(d.get<std::string>());
      SCOPED_TRACE(describe(c, dtype));
      const Shape shape = c.at("shape").get<Shape>();
      auto m = std::make_shared<Holder>(decode_tensor(c.at("values").get<std::string>(), shape, dtype));
      for (size_t s = 0; s < c.at("steps").size(); ++s) {
        SCOPED_TRACE("step " + std::to_string(s));
        const json& st = c.at("steps")[s];
        apply_step(*m, st);
        expect_mask(*m, c.at("masks")[s], shape, dtype);
        l1 += st.at("fn") == "l1";
        ln_neg_inf += st.at("fn") == "ln" && st.at("n") == "-inf";
        removes += st.at("fn") == "remove";
      }
      ++cases;
    }
  }
  EXPECT_GE(cases, 150);
  EXPECT_GE(l1, 100);
  EXPECT_GE(ln_neg_inf, 10);
  EXPECT_GE(removes, 2);
}

TEST(PruneTiesFixture, GlobalMasksMatchPyTorch) {
  int cases = 0;
  for (const json& c : fixture().at("global")) {
    for (const json& d : c.at("dtypes")) {
      const Dtype dtype = dtype_of(d.get<std::string>());
      SCOPED_TRACE(describe(c, dtype));
      std::vector<std::shared_ptr<Holder>> mods;
      std::vector<prune::TensorRef> params;
      std::vector<Shape> shapes;
      for (size_t i = 0; i < c.at("shapes").size(); ++i) {
        shapes.push_back(c.at("shapes")[i].get<Shape>());
        mods.push_back(std::make_shared<Holder>(decode_tensor(c.at("values")[i].get<std::string>(), shapes[i], dtype)));
        params.emplace_back(mods.back(), "weight");
      }
      for (size_t s = 0; s < c.at("steps").size(); ++s) {
        SCOPED_TRACE("step " + std::to_string(s));
        const json& st = c.at("steps")[s];
        if (st.at("fn") == "global") {
          prune::global_unstructured<prune::L1Unstructured>(params, amount_of(st.at("amount")));
        } else {
          apply_step(*mods[st.at("param").get<size_t>()], st);
        }
        for (size_t i = 0; i < mods.size(); ++i) {
          SCOPED_TRACE("parameter " + std::to_string(i));
          expect_mask(*mods[i], c.at("masks")[s][i], shapes[i], dtype);
        }
      }
      ++cases;
    }
  }
  EXPECT_GE(cases, 15);
}

}  // namespace
}  // namespace twig
