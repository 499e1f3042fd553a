// Reductions: values, dtypes, shapes, errors and float64 gradchecks (contiguous and strided).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "testing.h"
#include "twig/autograd/node.h"
#include "twig/core.h"

using namespace twig;
using twig::testing::gradcheck_both;
using twig::testing::leaf;
using twig::testing::noncontiguous;

namespace {

using Fn = std::function<TensorList(const TensorList&)>;

// stmt throws ErrorType and its message contains needle.

std::vector<double> vals(const Tensor& t) { return t.to_vector<double>(); }

void expect_near(const Tensor& t, const std::vector<double>& want, double tol = 1e-6) {
  std::vector<double> got = vals(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

void expect_same(const Tensor& a, const Tensor& b, double tol = 1e-9) {
  EXPECT_EQ(a.sizes(), b.sizes());
  expect_near(a, vals(b), tol);
}

// Gradchecks fn on a contiguous leaf and on a transposed (non-contiguous) view of the same shape.
Tensor d64(const NestedList& v) { return tensor(v, kFloat64); }

}  // namespace

// ---- prod ----------------------------------------------------------------------------------------

TEST(ReduceProd, ValuesDtypesAndShapes) {
  Tensor x = d64({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  EXPECT_DOUBLE_EQ(x.prod().item<double>(), 720.0);
  EXPECT_EQ(x.prod().dim(), 0);
  expect_near(x.prod(0), {4, 10, 18});
  expect_near(x.prod(-1), {6, 120});
  EXPECT_EQ(x.prod(1, true).sizes(), (Shape{2, 1}));
  EXPECT_EQ(x.prod(0).dtype(), kFloat64);
  EXPECT_EQ(tensor({1.0f, 2.0f}).prod().dtype(), kFloat32);
  Tensor i = tensor({{1, 2}, {3, 4}}, kInt32);
  EXPECT_EQ(i.prod().dtype(), kInt64);
  EXPECT_EQ(i.prod().item<int64_t>(), 24);
  EXPECT_EQ(tensor({true, true, false}).prod().dtype(), kInt64);
  EXPECT_EQ(tensor({true, true, false}).prod().item<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(zeros({0}, kFloat64).prod().item<double>(), 1.0);  // empty product
  EXPECT_DOUBLE_EQ(scalar_tensor(3.0, kFloat64).prod(0).item<double>(), 3.0);
  EXPECT_ERROR(x.prod(2), IndexError, "got 2");
}

TEST(ReduceProd, GradientWithZeros) {
  // One zero: only the zero gets a gradient (the product of the others).
  Tensor x = d64({2.0, 0.0, 3.0}).requires_grad_();
  x.prod().backward();
  expect_near(x.grad(), {0, 6, 0});
  // Two zeros: every gradient is zero; no NaN from 0/0.
  Tensor y = d64({{0.0, 2.0, 0.0}, {1.0, 2.0, 3.0}}).requires_grad_();
  y.prod(1).sum().backward();
  expect_near(y.grad(), {0, 0, 0, 6, 3, 2});
  // A zero in one column only affects that column.
  Tensor z = d64({{0.0, 2.0}, {5.0, 3.0}}).requires_grad_();
  z.prod(0).sum().backward();
  expect_near(z.grad(), {5, 3, 0, 2});
}

TEST(ReduceProd, Gradcheck) {
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].prod()}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].prod(0)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].prod(-1, true)}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].prod(1)}; }, {2, 3, 4});
  // An exact zero in the input (prod is smooth there, the zero rule must match).
  Tensor x = d64({{1.5, 0.0, -2.0}, {0.5, 3.0, 0.7}}).requires_grad_();
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{in[0].prod(1)}; }, TensorList{x});
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{in[0].prod()}; }, TensorList{x});
}

// ---- var / std -----------------------------------------------------------------------------------

TEST(ReduceVar, Values) {
  Tensor x = d64({1.0, 2.0, 3.0, 4.0});
  EXPECT_NEAR(x.var().item<double>(), 5.0 / 3.0, 1e-12);
  EXPECT_NEAR(x.var(Dims{}, false).item<double>(), 1.25, 1e-12);
  EXPECT_NEAR(x.std(Dims{0}).item<double>(), std::sqrt(5.0 / 3.0), 1e-12);
  Tensor m = d64({{1.0, 3.0}, {2.0, 6.0}});
  expect_near(m.var(Dims{0}), {0.5, 4.5});
  expect_near(m.var(Dims{-1}, false), {1.0, 4.0});
  EXPECT_EQ(m.var(Dims{1}, true, true).sizes(), (Shape{2, 1}));
  expect_near(m.std(Dims{1}, false, true), {1.0, 2.0});
  EXPECT_EQ(tensor({1.0f, 2.0f}).var().dtype(), kFloat32);
  // var == mean of squared deviations * N / (N - 1)
  Tensor r = leaf({3, 5}, 7).detach();
  Tensor dev = r - r.mean({1}, true);
  expect_same(r.var(Dims{1}), (dev * dev).sum({1}) / 4.0);
  expect_same(r.std(Dims{0, 1}, false), (r - r.mean()).pow(2).mean().sqrt());
}

TEST(ReduceVar, EdgeCasesAndErrors) {
  EXPECT_TRUE(std::isnan(d64({3.0}).var().item<double>()));  // N - 1 == 0
  EXPECT_DOUBLE_EQ(d64({3.0}).var(Dims{}, false).item<double>(), 0.0);
  EXPECT_ERROR(tensor({1, 2, 3}).var(), RuntimeError, "Long");
  EXPECT_ERROR(tensor({1, 2, 3}).std(Dims{0}), RuntimeError, "floating point");
  EXPECT_ERROR(d64({{1.0}}).var(Dims{2}), IndexError, "got 2");
  EXPECT_ERROR(d64({{1.0}}).var(Dims{0, -2}), RuntimeError, "dim 0 appears multiple times");
}

TEST(ReduceVar, Gradcheck) {
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].var()}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].var(Dims{}, false)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].var(Dims{0})}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].var(Dims{-1, 0}, false, true)}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].std(Dims{1})}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].std(Dims{0, 2}, false, true)}; }, {2, 3, 4});
}

// ---- max / min / argmax / argmin -----------------------------------------------------------------

TEST(ReduceMax, AllElements) {
  Tensor x = d64({{1.0, 5.0, -2.0}, {4.0, -7.0, 3.0}});
  EXPECT_DOUBLE_EQ(x.max().item<double>(), 5.0);
  EXPECT_DOUBLE_EQ(x.min().item<double>(), -7.0);
  EXPECT_EQ(x.max().dim(), 0);
  EXPECT_EQ(tensor({3, 9, 2}, kInt32).max().dtype(), kInt32);
  EXPECT_EQ(tensor({3, 9, 2}, kInt32).max().item<int64_t>(), 9);
  EXPECT_EQ(tensor({false, true}).max().dtype(), kBool);
  EXPECT_TRUE(tensor({false, true}).max().item<bool>());
  EXPECT_FALSE(tensor({false, true}).min().item<bool>());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(d64({1.0, nan, 3.0}).max().item<double>()));
  EXPECT_TRUE(std::isnan(d64({1.0, nan, 3.0}).min().item<double>()));
  EXPECT_TRUE(std::isnan(d64({1.0, nan, 3.0}).amax({0}).item<double>()));
}

TEST(ReduceMax, AlongDim) {
  Tensor x = d64({{1.0, 5.0, -2.0}, {4.0, -7.0, 3.0}});
  auto [v, i] = x.max(1);
  expect_near(v, {5, 4});
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(v.dtype(), kFloat64);
  auto [v0, i0] = x.min(0, true);
  EXPECT_EQ(v0.sizes(), (Shape{1, 3}));
  EXPECT_EQ(i0.sizes(), (Shape{1, 3}));
  expect_near(v0, {1, -7, -2});
  EXPECT_EQ(i0.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  auto [vn, in] = x.max(-2);
  expect_near(vn, {4, 5, 3});
  EXPECT_EQ(in.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  // Ties: the first index, like PyTorch on CPU.
  auto [vt, it] = d64({2.0, 7.0, 7.0, 1.0}).max(0);
  EXPECT_DOUBLE_EQ(vt.item<double>(), 7.0);
  EXPECT_EQ(it.item<int64_t>(), 1);
  // NaN wins and its index is reported.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto [vnan, inan] = d64({1.0, nan, 3.0}).min(0);
  EXPECT_TRUE(std::isnan(vnan.item<double>()));
  EXPECT_EQ(inan.item<int64_t>(), 1);
  // 0-d: its own extreme at index 0.
  auto [vs, is] = scalar_tensor(2.5, kFloat64).max(0);
  EXPECT_EQ(vs.dim(), 0);
  EXPECT_EQ(is.item<int64_t>(), 0);
  // Non-contiguous input.
  Tensor t = x.t();  // (3, 2)
  auto [vc, ic] = t.max(1);
  expect_near(vc, {4, 5, 3});
  EXPECT_EQ(ic.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
}

TEST(ReduceMax, Argmax) {
  Tensor x = d64({{1.0, 5.0, -2.0}, {4.0, -7.0, 9.0}});
  EXPECT_EQ(x.argmax().item<int64_t>(), 5);  // index into the flattened tensor
  EXPECT_EQ(x.argmin().item<int64_t>(), 4);
  EXPECT_EQ(x.argmax().dtype(), kInt64);
  EXPECT_EQ(x.argmax().dim(), 0);
  EXPECT_EQ(x.argmax(std::nullopt, true).sizes(), (Shape{1, 1}));
  EXPECT_EQ(x.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(x.argmin(-2, true).sizes(), (Shape{1, 3}));
  EXPECT_EQ(x.argmin(-2, true).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 0}));
  EXPECT_EQ(x.t().argmax().item<int64_t>(), 5);  // flattened in logical (row-major) order of the view
  EXPECT_EQ(tensor({3, 1, 3}).argmax().item<int64_t>(), 0);
  Tensor g = d64({1.0, 2.0}).requires_grad_();
  EXPECT_FALSE(g.argmax().requires_grad());
}

TEST(ReduceMax, EmptyAndBadDims) {
  Tensor e = zeros({0, 3}, kFloat64);
  EXPECT_ERROR(e.max(), RuntimeError, "Specify the reduction dim");
  EXPECT_ERROR(e.min(), RuntimeError, "min()");
  EXPECT_ERROR(e.max(0), IndexError, "dim 0 to have non-zero size");
  EXPECT_ERROR(e.argmax(), IndexError, "argmax()");
  EXPECT_ERROR(e.argmin(0), IndexError, "dim 0 to have non-zero size");
  EXPECT_ERROR(e.amax({}), RuntimeError, "Specify the reduction dim");
  EXPECT_ERROR(e.amin({-2}), IndexError, "dim 0 to have non-zero size");
  // Reducing the non-empty dim of an empty tensor is fine.
  auto [v, i] = e.max(1);
  EXPECT_EQ(v.sizes(), (Shape{0}));
  EXPECT_EQ(i.sizes(), (Shape{0}));
  EXPECT_EQ(e.argmax(1).sizes(), (Shape{0}));
  Tensor x = d64({{1.0, 2.0}});
  EXPECT_ERROR(x.max(2), IndexError, "got 2");
  EXPECT_ERROR(x.argmin(-3), IndexError, "got -3");
  EXPECT_ERROR(tensor({true, false}).argmax(), RuntimeError, "Bool");
}

TEST(ReduceMax, BackwardTiesAndIndices) {
  // All-element max: ties share the gradient evenly.
  Tensor x = d64({{1.0, 3.0}, {3.0, 2.0}}).requires_grad_();
  x.max().backward();
  expect_near(x.grad(), {0, 0.5, 0.5, 0});
  Tensor y = d64({4.0, 1.0, 1.0, 1.0}).requires_grad_();
  (y.min() * 6.0).backward();
  expect_near(y.grad(), {0, 2, 2, 2});
  // max(dim): the gradient goes to the reported index only.
  Tensor z = d64({{1.0, 3.0, 3.0}, {5.0, 2.0, 0.0}}).requires_grad_();
  auto [v, i] = z.max(1);
  (v * d64({10.0, 20.0})).sum().backward();
  expect_near(z.grad(), {0, 10, 0, 20, 0, 0});
  Tensor w = d64({{1.0, 3.0}, {5.0, 2.0}}).requires_grad_();
  std::get<0>(w.min(0, true)).sum().backward();
  expect_near(w.grad(), {1, 0, 0, 1});
}

TEST(ReduceMax, Gradcheck) {
  // Random normal inputs have no ties.
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].max()}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].min()}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{std::get<0>(in[0].max(1))}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{std::get<0>(in[0].max(0, true))}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{std::get<0>(in[0].min(-1))}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{std::get<0>(in[0].min(1, true))}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].amax({0, 2})}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].amin({-1}, true)}; }, {2, 3, 4});
}

// ---- norm ----------------------------------------------------------------------------------------

TEST(ReduceNorm, Values) {
  Tensor x = d64({{3.0, -4.0}, {0.0, 12.0}});
  EXPECT_NEAR(x.norm().item<double>(), 13.0, 1e-12);
  EXPECT_NEAR(x.norm("fro").item<double>(), 13.0, 1e-12);
  EXPECT_NEAR(x.norm(1).item<double>(), 19.0, 1e-12);
  EXPECT_NEAR(x.norm(0).item<double>(), 3.0, 1e-12);
  EXPECT_NEAR(x.norm(INFINITY).item<double>(), 12.0, 1e-12);
  EXPECT_NEAR(x.norm("inf").item<double>(), 12.0, 1e-12);
  EXPECT_NEAR(x.norm(-INFINITY).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(x.norm(3).item<double>(), std::cbrt(27.0 + 64.0 + 1728.0), 1e-9);
  expect_near(x.norm(2, {1}), {5.0, 12.0});
  expect_near(x.norm(1, {0}, true), {3.0, 16.0});
  EXPECT_EQ(x.norm(1, {0}, true).sizes(), (Shape{1, 2}));
  expect_near(x.norm("-inf", {-1}), {3.0, 0.0});
  expect_near(x.norm(0, {1}), {2.0, 1.0});
  EXPECT_EQ(tensor({3.0f, 4.0f}).norm().dtype(), kFloat32);
  // Negative p: (sum |x|^p)^(1/p).
  Tensor y = d64({1.0, 2.0, 4.0});
  EXPECT_NEAR(y.norm(-1).item<double>(), 1.0 / (1.0 + 0.5 + 0.25), 1e-12);
  EXPECT_NEAR(y.norm(0.5).item<double>(), std::pow(1.0 + std::sqrt(2.0) + 2.0, 2.0), 1e-12);
}

TEST(ReduceNorm, CrossChecks) {
  Tensor x = leaf({3, 4, 5}, 3).detach();
  expect_same(x.norm(2), (x * x).sum().sqrt());
  expect_same(x.norm(2, {0, 2}), (x * x).sum({0, 2}).sqrt());
  expect_same(x.norm("fro", {1, 2}, true), (x * x).sum({1, 2}, true).sqrt());
  expect_same(x.norm(1, {1}), x.abs().sum({1}));
  expect_same(x.norm(INFINITY, {2}), x.abs().amax({2}));
  expect_same(x.norm(-INFINITY, {0}), x.abs().amin({0}));
  expect_same(x.norm(3.5, {1}), x.abs().pow(3.5).sum({1}).pow(1.0 / 3.5));
  expect_same(x.norm(0, {2}), x.ne(0.0).sum({2}).to(kFloat64));
  auto [view, base] = noncontiguous({3, 4, 5}, 9);
  expect_same(view.detach().norm(2, {1}), view.detach().contiguous().norm(2, {1}));
}

TEST(ReduceNorm, Errors) {
  EXPECT_ERROR(tensor({1, 2}).norm(), RuntimeError, "norm(): input dtype should be either floating point or complex");
  EXPECT_ERROR(tensor({1, 2}).norm(1, {0}), RuntimeError, "Got Long");
  EXPECT_ERROR(tensor({true}).norm(), RuntimeError, "Got Bool");
  EXPECT_ERROR(d64({1.0}).norm(2, {1}), IndexError, "got 1");
  EXPECT_ERROR(d64({1.0}).norm("nuc"), ValueError, "nuc");
  EXPECT_ERROR(zeros({0}, kFloat64).norm(INFINITY), RuntimeError, "inf norm on an empty tensor");
  EXPECT_ERROR(zeros({2, 0}, kFloat64).norm(-1, {1}), RuntimeError, "-1 norm");
  EXPECT_DOUBLE_EQ(zeros({0}, kFloat64).norm().item<double>(), 0.0);
  EXPECT_EQ(zeros({0, 2}, kFloat64).norm(INFINITY, {1}).sizes(), (Shape{0}));
}

TEST(ReduceNorm, BackwardSpecialCases) {
  // p = 2 at zero: gradient 0, not NaN.
  Tensor z = zeros({3}, kFloat64).requires_grad_();
  z.norm().backward();
  expect_near(z.grad(), {0, 0, 0});
  // p = 1: sign(x).
  Tensor a = d64({-2.0, 0.5, 3.0}).requires_grad_();
  a.norm(1).backward();
  expect_near(a.grad(), {-1, 1, 1});
  // p = inf: shared by the elements attaining max |x|, with their sign.
  Tensor b = d64({-3.0, 1.0, 3.0}).requires_grad_();
  b.norm(INFINITY).backward();
  expect_near(b.grad(), {-0.5, 0, 0.5});
  Tensor c = d64({{-1.0, 2.0}, {4.0, -1.0}}).requires_grad_();
  c.norm(-INFINITY, {1}).sum().backward();
  expect_near(c.grad(), {-1, 0, 0, -1});
  // p = 0: zero gradient.
  Tensor d = d64({1.0, -2.0}).requires_grad_();
  d.norm(0).backward();
  expect_near(d.grad(), {0, 0});
  // p = 2: x / ||x||.
  Tensor e = d64({3.0, -4.0}).requires_grad_();
  e.norm().backward();
  expect_near(e.grad(), {0.6, -0.8});
}

TEST(ReduceNorm, Gradcheck) {
  for (NormP p : {NormP(2.0), NormP(1.0), NormP(3.0), NormP(1.5), NormP(0.5), NormP(-1.5), NormP(INFINITY),
                  NormP(-INFINITY), NormP("fro"), NormP(0.0)}) {
    SCOPED_TRACE(p.str());
    gradcheck_both([p](const TensorList& in) { return TensorList{in[0].norm(p)}; }, {3, 4});
    gradcheck_both([p](const TensorList& in) { return TensorList{in[0].norm(p, {1})}; }, {3, 4});
    gradcheck_both([p](const TensorList& in) { return TensorList{in[0].norm(p, {0, -1}, true)}; }, {2, 3, 4});
  }
}

// ---- count_nonzero / all / any -------------------------------------------------------------------

TEST(ReduceCountNonzero, Values) {
  Tensor x = d64({{0.0, 1.5, 0.0}, {2.0, -1.0, 0.0}});
  EXPECT_EQ(x.count_nonzero().item<int64_t>(), 3);
  EXPECT_EQ(x.count_nonzero().dtype(), kInt64);
  EXPECT_EQ(x.count_nonzero({0}).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(x.count_nonzero({-1}).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(x.count_nonzero({0, 1}).dim(), 0);
  EXPECT_EQ(x.t().count_nonzero({0}).to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(count_nonzero(tensor({true, false, true})).item<int64_t>(), 2);
  EXPECT_EQ(tensor({0, 3, 0}).count_nonzero().item<int64_t>(), 1);
  EXPECT_ERROR(x.count_nonzero({1, -1}), RuntimeError, "dim 1 appears multiple times");
  EXPECT_ERROR(x.count_nonzero({5}), IndexError, "got 5");
}

TEST(ReduceAllAny, Values) {
  Tensor x = d64({{1.0, 0.0}, {2.0, 3.0}});
  EXPECT_FALSE(x.all().item<bool>());
  EXPECT_TRUE(x.any().item<bool>());
  EXPECT_EQ(x.all().dtype(), kBool);
  EXPECT_EQ(x.any(0).dtype(), kBool);
  EXPECT_EQ(tensor({1, 2}).all().dtype(), kBool);
  EXPECT_EQ(x.all(1).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(x.all(0, true).sizes(), (Shape{1, 2}));
  EXPECT_EQ(x.all(-2).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(zeros({2, 2}).any(1).to_vector<bool>(), (std::vector<bool>{false, false}));
  EXPECT_TRUE(zeros({0}).all().item<bool>());  // empty: identity
  EXPECT_FALSE(zeros({0}).any().item<bool>());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(d64({nan}).all().item<bool>());  // NaN is nonzero
  // uint8 keeps uint8 (torch.all/any compatibility rule).
  Tensor u = tensor({0, 7}, kUInt8);
  EXPECT_EQ(u.any().dtype(), kUInt8);
  EXPECT_EQ(u.any().item<int64_t>(), 1);
  EXPECT_EQ(u.all().item<int64_t>(), 0);
  EXPECT_ERROR(x.any(2), IndexError, "got 2");
}

// ---- cumsum --------------------------------------------------------------------------------------

TEST(ReduceCumsum, ValuesAndDtypes) {
  Tensor x = d64({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  expect_near(x.cumsum(1), {1, 3, 6, 4, 9, 15});
  expect_near(x.cumsum(0), {1, 2, 3, 5, 7, 9});
  expect_near(x.cumsum(-1), {1, 3, 6, 4, 9, 15});
  expect_near(x.t().cumsum(1), {1, 5, 2, 7, 3, 9});
  EXPECT_EQ(x.cumsum(0).sizes(), x.sizes());
  EXPECT_EQ(x.cumsum(0).dtype(), kFloat64);
  EXPECT_EQ(tensor({1, 2}, kInt32).cumsum(0).dtype(), kInt64);
  EXPECT_EQ(tensor({{1, 2}, {3, -4}}, kInt32).cumsum(0).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 4, -2}));
  Tensor b = tensor({true, false, true}).cumsum(0);
  EXPECT_EQ(b.dtype(), kInt64);
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{1, 1, 2}));
  EXPECT_DOUBLE_EQ(scalar_tensor(4.0, kFloat64).cumsum(0).item<double>(), 4.0);
  EXPECT_EQ(zeros({0, 2}).cumsum(0).sizes(), (Shape{0, 2}));
  EXPECT_ERROR(x.cumsum(2), IndexError, "got 2");
  EXPECT_ERROR(x.cumsum(-3), IndexError, "got -3");
}

TEST(ReduceCumsum, Backward) {
  Tensor x = d64({1.0, 2.0, 3.0}).requires_grad_();
  (x.cumsum(0) * d64({1.0, 10.0, 100.0})).sum().backward();
  expect_near(x.grad(), {111, 110, 100});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].cumsum(0)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].cumsum(-1)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].cumsum(1)}; }, {2, 3, 4});
}

// ---- softmax / log_softmax -----------------------------------------------------------------------

TEST(ReduceSoftmax, Values) {
  Tensor x = d64({{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}});
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  expect_near(x.softmax(1), {std::exp(1.0) / z, std::exp(2.0) / z, std::exp(3.0) / z, 1 / 3.0, 1 / 3.0, 1 / 3.0},
              1e-12);
  expect_near(x.log_softmax(-1),
              {1 - std::log(z), 2 - std::log(z), 3 - std::log(z), -std::log(3.0), -std::log(3.0), -std::log(3.0)},
              1e-12);
  expect_near(x.softmax(0).sum({0}), {1, 1, 1}, 1e-12);
  expect_same(x.log_softmax(0), x.softmax(0).log(), 1e-12);
  // Large inputs do not overflow.
  Tensor big = d64({1000.0, 1001.0});
  expect_near(big.softmax(0), {1 / (1 + std::exp(1.0)), std::exp(1.0) / (1 + std::exp(1.0))}, 1e-12);
  expect_near(big.log_softmax(0), {-std::log1p(std::exp(1.0)), 1 - std::log1p(std::exp(1.0))}, 1e-12);
  // Integer input is rejected as in PyTorch 1.13; float32 stays float32.
  Tensor i = tensor({1, 2});
  EXPECT_ERROR(i.softmax(0), RuntimeError, "not implemented for 'Long'");
  EXPECT_EQ(tensor({1.0f, 2.0f}).log_softmax(0).dtype(), kFloat32);
  EXPECT_EQ(x.softmax(1).dtype(), kFloat64);
  EXPECT_DOUBLE_EQ(scalar_tensor(3.0, kFloat64).softmax(0).item<double>(), 1.0);
  EXPECT_EQ(zeros({0, 3}).softmax(0).sizes(), (Shape{0, 3}));
  EXPECT_ERROR(x.softmax(2), IndexError, "got 2");
  EXPECT_ERROR(x.log_softmax(-3), IndexError, "got -3");
}

TEST(ReduceSoftmax, BackwardValues) {
  // softmax of two equal logits is (1/2, 1/2); d y0 / d x = (1/4, -1/4).
  Tensor x = d64({0.0, 0.0}).requires_grad_();
  x.softmax(0).select(0, 0).backward();
  expect_near(x.grad(), {0.25, -0.25});
  // log_softmax: d/dx sum(g * y) = g - softmax * sum(g).
  Tensor z = d64({0.0, 0.0}).requires_grad_();
  (z.log_softmax(0) * d64({1.0, 3.0})).sum().backward();
  expect_near(z.grad(), {1.0 - 2.0, 3.0 - 2.0});
}

TEST(ReduceSoftmax, SingleNodeAndGradcheck) {
  Tensor x = leaf({2, 3}, 4);
  Tensor y = x.softmax(1);
  ASSERT_TRUE(y.grad_fn());
  EXPECT_EQ(y.grad_fn()->name(), "SoftmaxBackward0");
  ASSERT_EQ(y.grad_fn()->next_edges().size(), 1u);
  // Straight to the leaf's accumulator: no intermediate exp/sum/div nodes.
  EXPECT_NE(dynamic_cast<autograd::AccumulateGrad*>(y.grad_fn()->next_edges()[0].node.get()), nullptr);
  EXPECT_EQ(x.log_softmax(0).grad_fn()->name(), "LogSoftmaxBackward0");
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].softmax(1)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].softmax(0)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].softmax(-2)}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].log_softmax(1)}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].log_softmax(0)}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].log_softmax(-1)}; }, {2, 3, 4});
}

// ---- sum / mean (already there; gradchecks on strided inputs) ------------------------------------

TEST(ReduceSumMean, Gradcheck) {
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].sum({1})}; }, {3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].mean({0, 2}, true)}; }, {2, 3, 4});
  gradcheck_both([](const TensorList& in) { return TensorList{in[0].mean()}; }, {2, 3});
}
