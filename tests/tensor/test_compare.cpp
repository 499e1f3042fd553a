// equal / isclose / allclose against PyTorch 1.13's answers for the same inputs.
#include <cmath>

#include "testing.h"

using namespace twig;

namespace {
std::vector<bool> bools(const Tensor& t) {
  EXPECT_EQ(t.dtype(), kBool);
  return t.to_vector<bool>();
}
}  // namespace

TEST(Compare, EqualSameValues) {
  EXPECT_TRUE(equal(tensor({{1., 2.}, {3., 4.}}), tensor({{1., 2.}, {3., 4.}})));
  EXPECT_FALSE(equal(tensor({1., 2.}), tensor({1., 2.5})));
}

TEST(Compare, EqualPromotesDtypes) {
  EXPECT_TRUE(equal(tensor({1., 2.}), tensor({1, 2})));
  EXPECT_TRUE(equal(tensor({true}), tensor({1.})));
  EXPECT_TRUE(equal(tensor({1, 2}, kInt32), tensor({1., 2.}, kFloat64)));
}

TEST(Compare, EqualShapeMismatchIsFalseNotError) {
  EXPECT_FALSE(equal(tensor({1., 2.}), tensor({1., 2., 3.})));
  EXPECT_FALSE(equal(tensor({{1., 2.}}), tensor({1., 2.})));
  EXPECT_FALSE(equal(tensor(1.), tensor({1.})));
  EXPECT_TRUE(equal(zeros({0, 3}), zeros({0, 3})));
  EXPECT_FALSE(equal(zeros({0, 3}), zeros({3, 0})));
}

TEST(Compare, EqualNanIsNeverEqual) { EXPECT_FALSE(equal(tensor({NAN}), tensor({NAN}))); }

TEST(Compare, EqualNonContiguous) {
  Tensor a = arange(6).reshape({2, 3});
  EXPECT_TRUE(equal(a.t(), a.t().contiguous()));
  EXPECT_FALSE(equal(a.t(), a.reshape({3, 2})));
}

TEST(Compare, IscloseTolerances) {
  EXPECT_EQ(bools(isclose(tensor({1., 2.}), tensor({1., 2. + 1e-6}))), (std::vector<bool>{true, true}));
  EXPECT_EQ(bools(isclose(tensor({1.}), tensor({1.00001}), 0, 0)), (std::vector<bool>{false}));
  EXPECT_EQ(bools(isclose(tensor({-0.}), tensor({0.}), 0, 0)), (std::vector<bool>{true}));
  // |a - b| <= atol + rtol * |b|: asymmetric in b.
  EXPECT_EQ(bools(isclose(tensor({100.}, kFloat64), tensor({110.}, kFloat64), 0.1, 0)), (std::vector<bool>{true}));
  EXPECT_EQ(bools(isclose(tensor({110.}, kFloat64), tensor({100.}, kFloat64), 0.095, 0)), (std::vector<bool>{false}));
}

TEST(Compare, IscloseInfAndNan) {
  Tensor a = tensor({INFINITY, -INFINITY, INFINITY, NAN, 1.0});
  Tensor b = tensor({INFINITY, INFINITY, 1e38, NAN, INFINITY});
  EXPECT_EQ(bools(isclose(a, b)), (std::vector<bool>{true, false, false, false, false}));
  EXPECT_EQ(bools(isclose(a, b, 1e-5, 1e-8, /*equal_nan=*/true)), (std::vector<bool>{true, false, false, true, false}));
}

TEST(Compare, IscloseIntegersAndBools) {
  EXPECT_EQ(bools(isclose(tensor({1, 2}, kInt32), tensor({1, 4}, kInt32), 0, 1.5)), (std::vector<bool>{true, false}));
  EXPECT_EQ(bools(isclose(tensor({10, 2}), tensor({11, 4}), 0.1, 0)), (std::vector<bool>{true, false}));
  // torch: uint8 differences do not wrap around (1 - 3 is 2 away, not 254).
  EXPECT_EQ(bools(isclose(tensor({1, 5}, kUInt8), tensor({3, 1}, kUInt8), 0, 2)), (std::vector<bool>{true, false}));
  EXPECT_EQ(bools(isclose(tensor({true, false}), tensor({false, false}), 0, 1)), (std::vector<bool>{true, true}));
}

TEST(Compare, IscloseBroadcasts) {
  Tensor r = isclose(zeros({2, 1}), zeros({3}));
  EXPECT_EQ(r.sizes(), (Shape{2, 3}));
  try {
    isclose(tensor({1., 2.}), tensor({1., 2., 3.}));
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("[2]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[3]"), std::string::npos) << e.what();
  }
}

TEST(Compare, IscloseDtypeMismatchIsRuntimeError) {
  // torch 1.13: RuntimeError "Float did not match Double".
  try {
    isclose(tensor({1.}), tensor({1.}, kFloat64));
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "Float did not match Double");
  }
  EXPECT_THROW(isclose(tensor({1}), tensor({1.})), RuntimeError);
  EXPECT_THROW(allclose(tensor({1.}), tensor({1.}, kFloat64)), RuntimeError);
}

TEST(Compare, IscloseNegativeTolerances) {
  try {
    isclose(tensor({1.}), tensor({1.}), -1);
    FAIL() << "expected RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_STREQ(e.what(), "rtol must be greater than or equal to zero, but got -1");
  }
  EXPECT_THROW(isclose(tensor({1.}), tensor({1.}), 1e-5, -0.5), RuntimeError);
}

TEST(Compare, IscloseIgnoresAutograd) {
  Tensor a = tensor({1., 2.}).requires_grad_();
  Tensor r = isclose(a, tensor({1., 3.}));
  EXPECT_FALSE(r.requires_grad());
  EXPECT_EQ(bools(r), (std::vector<bool>{true, false}));
}

TEST(Compare, Allclose) {
  EXPECT_TRUE(allclose(tensor({1., 2.}), tensor({1., 2. + 1e-6})));
  EXPECT_FALSE(allclose(tensor({1., 2.}), tensor({1., 2.1})));
  EXPECT_TRUE(allclose(tensor({1., 2.}), tensor({1., 2.1}), 0.1));
  EXPECT_FALSE(allclose(tensor({1., 2.}), tensor({1.})));  // broadcast: 2 vs 1
  EXPECT_THROW(allclose(tensor({1., 2.}), tensor({1., 2., 3.})), RuntimeError);
  EXPECT_TRUE(allclose(tensor({NAN}), tensor({NAN}), 1e-5, 1e-8, true));
  EXPECT_FALSE(allclose(tensor({NAN}), tensor({NAN})));
  EXPECT_TRUE(allclose(zeros({0}), zeros({0})));
}
