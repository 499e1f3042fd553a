// Equal values in topk, sort and kthvalue: twig returns the indices PyTorch 1.13 returns on CPU
// (tools/gen_ties_fixtures.py -> tests/fixtures/ties.json), in float32 and float64, for k in both
// of topk's regimes (partial sort when k * 64 <= n, else nth_element), largest and sorted both
// ways, selection along either dim, zeros of both signs, infinities and NaNs; and topk_mask, topk's set.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/fixture_file.h"
#include "tests/testing.h"
#include "twig/autograd/ops/ops.h"
#include "twig/autograd/ops/topk_mask.h"

namespace twig {
namespace {

using json = nlohmann::json;

const json& fixture() { return testing::load_fixture("ties.json", "gen_ties_fixtures.py"); }

// The fixture's character -> value table.
const std::map<char, double>& alphabet() {
  static const std::map<char, double> table = [] {
    std::map<char, double> out;
    for (const auto& [ch, v] : fixture().at("alphabet").items()) {
      double x = 0;
      if (v.is_string()) {
        const std::string s = v.get<std::string>();
        x = s == "nan" ? NAN : s == "inf" ? INFINITY : s == "-inf" ? -INFINITY : s == "-0" ? -0.0 : std::stod(s);
      } else {
        x = v.get<double>();
      }
      out[ch.at(0)] = x;
    }
    return out;
  }();
  return table;
}

std::vector<double> decode(const std::string& s) {
  std::vector<double> out;
  for (char c : s) out.push_back(alphabet().at(c));
  return out;
}

Tensor decode_tensor(const json& values, const Shape& shape, Dtype dtype) {
  return from_vector(decode(values.get<std::string>()), shape).to(dtype);
}

Dtype dtype_of(const std::string& name) {
  if (name == "float32") return kFloat32;
  if (name == "float64") return kFloat64;
  throw std::runtime_error("unknown dtype " + name);
}

// Same values bit for bit as far as PyTorch shows them: NaN matches NaN, and -0 only -0.
bool same_values(const std::vector<double>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      if (!std::isnan(got[i])) return false;
    } else if (got[i] != want[i] || std::signbit(got[i]) != std::signbit(want[i])) {
      return false;
    }
  }
  return true;
}

std::string describe(const json& c, Dtype dtype) {
  json brief = c;
  brief.erase("indices");
  brief.erase("out");
  return std::string(dtype_name(dtype)) + " " + brief.dump();
}

// Runs check(case, dtype) for every case of a section and dtype it holds for; returns the count.
// A (values, indices) pair against the case: dtypes, shapes, PyTorch's indices and values.
void expect_selection(const Tensor& values, const Tensor& indices, Dtype dtype, const Shape& out_shape, const json& c) {
  EXPECT_EQ(values.dtype(), dtype);
  EXPECT_EQ(indices.dtype(), kInt64);
  EXPECT_EQ(values.sizes(), out_shape);
  EXPECT_EQ(indices.sizes(), out_shape);
  EXPECT_EQ(indices.to_vector<int64_t>(), c.at("indices").get<std::vector<int64_t>>());
  EXPECT_TRUE(same_values(values.to_vector<double>(), decode(c.at("out").get<std::string>()))) << testing::str(values);
}

template <typename Check>
int for_each_case(const char* section, Check check) {
  int n = 0;
  for (const json& c : fixture().at(section)) {
    for (const json& d : c.at("dtypes")) {
      const Dtype dtype = dtype_of(d.get<std::string>());
      SCOPED_TRACE(describe(c, dtype));
      check(c, dtype);
      ++n;
    }
  }
  return n;
}

TEST(TiesFixture, TopkPicksWhatPyTorchPicks) {
  int partial = 0, nth = 0;
  const int n = for_each_case("topk", [&](const json& c, Dtype dtype) {
    const Shape shape = c.at("shape").get<Shape>();
    const int64_t dim = c.at("dim").get<int64_t>(), k = c.at("k").get<int64_t>();
    Tensor x = decode_tensor(c.at("values"), shape, dtype);
    auto [values, indices] = x.topk(k, dim, c.at("largest").get<bool>(), c.at("sorted").get<bool>());
    Shape out_shape = shape;
    out_shape[dim] = k;
    expect_selection(values, indices, dtype, out_shape, c);
    if (k > 0) ++(k * 64 <= shape[dim] ? partial : nth);
  });
  EXPECT_GE(n, 200);
  // Both of PyTorch's algorithms are exercised.
  EXPECT_GE(partial, 20);
  EXPECT_GE(nth, 100);
}

TEST(TiesFixture, SortPicksWhatPyTorchPicks) {
  const int n = for_each_case("sort", [&](const json& c, Dtype dtype) {
    const Shape shape = c.at("shape").get<Shape>();
    Tensor x = decode_tensor(c.at("values"), shape, dtype);
    const int64_t dim = c.at("dim").get<int64_t>();
    const bool descending = c.at("descending").get<bool>(), stable = c.at("stable").get<bool>();
    auto [values, indices] = x.sort(dim, descending, stable);
    const auto want = c.at("indices").get<std::vector<int64_t>>();
    EXPECT_EQ(values.dtype(), dtype);
    EXPECT_EQ(indices.dtype(), kInt64);
    EXPECT_EQ(indices.sizes(), shape);
    EXPECT_EQ(indices.to_vector<int64_t>(), want);
    EXPECT_TRUE(same_values(values.to_vector<double>(), x.index_select(dim, from_vector(want)).to_vector<double>()));
    EXPECT_EQ(x.argsort(dim, descending, stable).to_vector<int64_t>(), want);
  });
  EXPECT_GE(n, 30);
}

TEST(TiesFixture, KthvaluePicksWhatPyTorchPicks) {
  const int n = for_each_case("kthvalue", [&](const json& c, Dtype dtype) {
    const Shape shape = c.at("shape").get<Shape>();
    Tensor x = decode_tensor(c.at("values"), shape, dtype);
    auto [values, indices] =
        x.kthvalue(c.at("k").get<int64_t>(), c.at("dim").get<int64_t>(), c.at("keepdim").get<bool>());
    const Shape out_shape = c.at("out_shape").get<Shape>();
    expect_selection(values, indices, dtype, out_shape, c);
  });
  EXPECT_GE(n, 40);
}

// topk_mask is topk's set: along a 1-D case, exactly the positions PyTorch's topk returns.
TEST(TiesFixture, TopkMaskMarksWhatPyTorchPicks) {
  int n = 0;
  for_each_case("topk", [&](const json& c, Dtype dtype) {
    const Shape shape = c.at("shape").get<Shape>();
    if (shape.size() != 1) return;
    const int64_t k = c.at("k").get<int64_t>();
    Tensor x = decode_tensor(c.at("values"), shape, dtype);
    std::vector<uint8_t> want(static_cast<size_t>(shape[0]), 0);
    for (int64_t i : c.at("indices").get<std::vector<int64_t>>()) want[static_cast<size_t>(i)] = 1;
    Tensor mask = topk_mask(x, k, c.at("largest").get<bool>());
    EXPECT_EQ(mask.dtype(), kBool);
    EXPECT_EQ(mask.to(kUInt8).to_vector<uint8_t>(), want);
    ++n;
  });
  EXPECT_GE(n, 50);
}

// The same set as topk's on larger lines, in both of the CPU kernel's paths (no equal values
// straddling the k-th: radix selection; straddling: topk's own selection), every dtype it serves
// differently, few distinct values (many ties), NaNs and zeros of both signs, shapes of any rank.
TEST(TopkMask, MatchesTopkIndices) {
  Generator gen(7);
  const std::vector<double> specials = {NAN, -0.0, 0.0, INFINITY, -INFINITY};
  for (Dtype dtype : {kFloat32, kFloat64, kInt64, kInt32}) {
    for (int distinct : {3, 50, 100000}) {
      for (bool largest : {false, true}) {
        for (int64_t k :
             {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{100}, int64_t{2500}, int64_t{4999}, int64_t{5000}}) {
          SCOPED_TRACE(std::string(dtype_name(dtype)) + " distinct " + std::to_string(distinct) + " k " +
                       std::to_string(k) + (largest ? " largest" : " smallest"));
          Tensor x = randint(-distinct, distinct, {50, 100}, TensorOptions(kFloat64), &gen);
          if (is_floating(dtype)) {
            for (int64_t i = 0; i < 40; ++i) x.view({-1})[i * 97 % 5000].fill_(specials[i % specials.size()]);
          }
          x = x.to(dtype);
          auto [values, indices] = x.reshape({-1}).topk(k, 0, largest, /*sorted=*/false);
          Tensor want = zeros({5000}, TensorOptions(kBool));
          want.index_fill_(0, indices, true);
          Tensor got = topk_mask(x, k, largest);
          EXPECT_EQ(got.sizes(), x.sizes());
          EXPECT_TRUE(equal(got.reshape({-1}), want));
        }
      }
    }
  }
}

TEST(TopkMask, RejectsAnOutOfRangeK) {
  EXPECT_ERROR(topk_mask(zeros({2, 3}), 7), RuntimeError, "k = 7");
  EXPECT_ERROR(topk_mask(zeros({2, 3}), -1), RuntimeError, "k = -1");
}

}  // namespace
}  // namespace twig
