// What the tensor core promises: views alias storage and the version counter, copies do not,
// factories and their dtype inference, type promotion, broadcasting, elementwise values and
// gradients, in-place ops, and typed errors that name the offending value.
#include <cmath>
#include <functional>

#include "testing.h"

using namespace twig;
using twig::testing::expect_error;
using twig::testing::leaf;
using twig::testing::noncontiguous;

namespace {

// A view shares storage and the version counter with its base, and writes go through.
void expect_aliases(const Tensor& base, const Tensor& view) {
  EXPECT_EQ(view.storage().get(), base.storage().get());
  uint32_t v = base.version();
  view.fill_(-7);  // a write through the view is visible in the base and bumps the shared counter
  EXPECT_EQ(base.version(), v + 1);
  EXPECT_EQ(view.version(), base.version());
  std::vector<double> vals = base.to_vector<double>();
  EXPECT_NE(std::find(vals.begin(), vals.end(), -7.0), vals.end());
}

}  // namespace

// ---- views -----------------------------------------------------------------------------------

TEST(CoreViews, EveryViewOpAliases) {
  auto fresh = [] { return arange(24.0).reshape({2, 3, 4}); };
  std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> views = {
      {"view",
       [](const Tensor& t) {
         return t.view({6, 4});
       }},
      {"reshape",
       [](const Tensor& t) {
         return t.reshape({4, -1});
       }},
      {"transpose", [](const Tensor& t) { return t.transpose(0, 2); }},
      {"permute",
       [](const Tensor& t) {
         return t.permute({2, 0, 1});
       }},
      {"expand",
       [](const Tensor& t) {
         return t.select(2, 0).unsqueeze(0).expand({5, 2, 3});
       }},
      {"squeeze", [](const Tensor& t) { return t.narrow(0, 1, 1).squeeze(); }},
      {"squeeze_dim", [](const Tensor& t) { return t.narrow(0, 1, 1).squeeze(0); }},
      {"unsqueeze", [](const Tensor& t) { return t.unsqueeze(1); }},
      {"flatten", [](const Tensor& t) { return t.flatten(); }},
      {"narrow", [](const Tensor& t) { return t.narrow(2, 1, 2); }},
      {"select", [](const Tensor& t) { return t.select(1, 2); }},
      {"slice", [](const Tensor& t) { return t.slice(2, 0, std::nullopt, 2); }},
      {"as_strided",
       [](const Tensor& t) {
         return t.as_strided({3, 3}, {1, 1}, 2);
       }},
      {"unfold", [](const Tensor& t) { return t.unfold(2, 2, 1); }},
      {"operator[]", [](const Tensor& t) { return t[1]; }},
      {"detach", [](const Tensor& t) { return t.detach(); }},
  };
  for (auto& [name, make] : views) {
    SCOPED_TRACE(name);
    Tensor t = fresh();
    expect_aliases(t, make(t));
  }
}

TEST(CoreViews, ViewGeometry) {
  Tensor t = arange(24.0).reshape({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.sizes(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.strides(), (Shape{1, 12, 4}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(t.select(1, -1).to_vector<float>(), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(t.narrow(2, 1, 2).storage_offset(), 1);
  EXPECT_EQ(t.unfold(2, 2, 2).sizes(), (Shape{2, 3, 2, 2}));
  EXPECT_EQ(arange(5).unfold(0, 2, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 1, 2, 2, 3, 3, 4}));
  EXPECT_EQ(t.expand({3, 2, 3, 4}).strides(), (Shape{0, 12, 4, 1}));
  EXPECT_EQ(t.slice(1, -2, std::nullopt).sizes(), (Shape{2, 2, 4}));
  EXPECT_EQ(t.flatten(1).sizes(), (Shape{2, 12}));
  EXPECT_EQ(t.unsqueeze(-1).sizes(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(zeros({1, 3, 1}).squeeze().sizes(), (Shape{3}));
  EXPECT_EQ(zeros({2, 3}).squeeze(0).sizes(), (Shape{2, 3}));
}

TEST(CoreViews, ViewOfNonContiguousThrowsButReshapeCopies) {
  Tensor t = arange(6.0).reshape({2, 3}).t();
  expect_error<RuntimeError>([&] { t.view({6}); }, {"view size", "[6]", "[3, 2]"});
  Tensor r = t.reshape({6});
  EXPECT_NE(r.storage().get(), t.storage().get());
  EXPECT_EQ(r.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(CoreViews, ContiguousCopiesOnlyWhenNeeded) {
  Tensor t = arange(6.0).reshape({2, 3});
  EXPECT_TRUE(t.contiguous().is_same(t));
  Tensor tt = t.t();
  Tensor c = tt.contiguous();
  EXPECT_FALSE(c.is_same(tt));
  EXPECT_NE(c.storage().get(), t.storage().get());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_TENSOR_EQ(c, tt);
  // Size-1 dims do not break contiguity.
  Tensor s = t.narrow(0, 0, 1);
  EXPECT_TRUE(s.contiguous().is_same(s));
}

TEST(CoreViews, CloneCopies) {
  Tensor t = arange(4.0);
  Tensor c = t.clone();
  EXPECT_NE(c.storage().get(), t.storage().get());
  c.fill_(1);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 1, 2, 3}));
  EXPECT_EQ(t.version(), 0u);
}

TEST(CoreViews, DataSharesStorageWithoutAutogradOrVersion) {
  Tensor w = tensor({1., 2.}).requires_grad_();
  Tensor d = w.data();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage().get(), w.storage().get());
  d.mul_(10);  // allowed: .data writes are invisible to autograd
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{10, 20}));
  EXPECT_EQ(w.version(), 0u);
}

TEST(CoreViews, DetachSharesVersionCounter) {
  Tensor w = tensor({1., 2.}).requires_grad_();
  Tensor d = w.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  d.add_(1);
  EXPECT_EQ(w.version(), 1u);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{2, 3}));
}

TEST(CoreViews, SetDataKeepsIdentityAndGrad) {
  Tensor w = tensor({1., 2.}).requires_grad_();
  (w * 3).sum().backward();
  Tensor alias = w;
  TensorImpl* impl = w.impl();
  w.set_data(tensor({{5., 6., 7.}}));
  EXPECT_TRUE(alias.is_same(w));
  EXPECT_EQ(w.impl(), impl);
  EXPECT_EQ(w.sizes(), (Shape{1, 3}));
  EXPECT_TRUE(w.requires_grad());
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{3, 3}));
  EXPECT_EQ(alias.to_vector<float>(), (std::vector<float>{5, 6, 7}));
  expect_error<RuntimeError>([&] { w.set_data(tensor({1, 2})); }, {"int64"});
}

// ---- factories -------------------------------------------------------------------------------

TEST(CoreFactory, FillsAndDtypes) {
  EXPECT_EQ(zeros({2, 2}).dtype(), kFloat32);
  EXPECT_EQ(ones({3}, kInt32).to_vector<int32_t>(), (std::vector<int32_t>{1, 1, 1}));
  EXPECT_EQ(full({2}, 7).dtype(), kInt64);
  EXPECT_EQ(full({2}, 2.5).dtype(), kFloat32);
  EXPECT_EQ(full({2}, true).dtype(), kBool);
  EXPECT_EQ(full({2}, 2.5, kFloat64).to_vector<double>(), (std::vector<double>{2.5, 2.5}));
  EXPECT_TRUE(ones({2}, TensorOptions().requires_grad()).requires_grad());
  EXPECT_EQ(zeros({0, 4}).numel(), 0);
}

TEST(CoreFactory, Arange) {
  Tensor i = arange(5);
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(arange(1, 10, 3).to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 7}));
  EXPECT_EQ(arange(5, 0, -2).to_vector<int64_t>(), (std::vector<int64_t>{5, 3, 1}));
  Tensor f = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(f.dtype(), kFloat32);
  EXPECT_EQ(f.to_vector<float>(), (std::vector<float>{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(arange(0, 1, 0.3).numel(), 4);  // ceil((1 - 0) / 0.3)
  EXPECT_EQ(arange(3, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(arange(0).numel(), 0);
  expect_error<RuntimeError>([] { arange(0, 5, 0); }, {"step"});
  expect_error<RuntimeError>([] { arange(5, 0, 1); }, {"start=5", "end=0"});
}

TEST(CoreFactory, LinspaceAndEye) {
  EXPECT_EQ(linspace(0, 1, 5).to_vector<float>(), (std::vector<float>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(linspace(2, 3, 1).to_vector<float>(), (std::vector<float>{2}));
  EXPECT_EQ(linspace(0, 1, 0).numel(), 0);
  Tensor l = linspace(-1, 1, 7, kFloat64);
  EXPECT_EQ(l.to_vector<double>().back(), 1.0);
  EXPECT_EQ(eye(3).to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(eye(2, 3, kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(eye(3, 2).sizes(), (Shape{3, 2}));
}

TEST(CoreFactory, LikeFactories) {
  Tensor t = arange(6, kInt32).reshape({2, 3});
  EXPECT_EQ(zeros_like(t).dtype(), kInt32);
  EXPECT_EQ(zeros_like(t).sizes(), (Shape{2, 3}));
  EXPECT_EQ(ones_like(t, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(full_like(t, 4).to_vector<int32_t>(), (std::vector<int32_t>(6, 4)));
  EXPECT_EQ(empty_like(t.t()).sizes(), (Shape{3, 2}));
  Tensor w = ones({2}).requires_grad_();
  EXPECT_FALSE(zeros_like(w).requires_grad());
}

TEST(CoreFactory, NestedListInference) {
  EXPECT_EQ(tensor({{1, 2}, {3, 4}}).dtype(), kInt64);
  EXPECT_EQ(tensor({{1, 2}, {3, 4}}).sizes(), (Shape{2, 2}));
  EXPECT_EQ(tensor({1, 2.5}).dtype(), kFloat32);
  EXPECT_EQ(tensor({1, 2.5}).to_vector<float>(), (std::vector<float>{1, 2.5}));
  EXPECT_EQ(tensor({true, false}).dtype(), kBool);
  EXPECT_EQ(tensor({true, 2}).dtype(), kInt64);
  EXPECT_EQ(tensor({1, 2}, kFloat64).dtype(), kFloat64);
  EXPECT_EQ(tensor(5).dim(), 0);
  EXPECT_EQ(tensor({{{1}, {2}}}).sizes(), (Shape{1, 2, 1}));
  // Large int64 values survive (no round trip through double).
  int64_t big = (int64_t{1} << 53) + 1;
  EXPECT_EQ(tensor({big}).item<int64_t>(), big);
}

TEST(CoreFactory, RaggedListIsValueError) {
  expect_error<ValueError>([] { tensor({{1, 2}, {3}}); }, {"2", "1"});
  expect_error<ValueError>([] { tensor({{1, 2}, 3}); }, {"ragged"});
  expect_error<ValueError>([] { tensor({1, {2, 3}}); }, {});
}

TEST(CoreFactory, FromVector) {
  Tensor t = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_EQ(t.to_vector<float>()[5], 6);
  EXPECT_EQ(from_vector(std::vector<int64_t>{1, 2}).dtype(), kInt64);
  EXPECT_EQ(from_vector(std::vector<bool>{true, false}).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(from_vector(std::vector<float>{1, 2}, {2}, kFloat64).dtype(), kFloat64);
  expect_error<ValueError>([] { from_vector(std::vector<float>{1, 2, 3}, {2, 2}); }, {"3", "[2, 2]"});
}

TEST(CoreFactory, RandomIsReproducible) {
  Generator g1(42), g2(42), g3(43);
  EXPECT_TENSOR_EQ(rand({100}, {}, &g1), rand({100}, {}, &g2));
  EXPECT_FALSE(equal(rand({100}, {}, &g1), rand({100}, {}, &g3)));
  g1.manual_seed(7);
  g2.manual_seed(7);
  EXPECT_TENSOR_EQ(randn({3, 4}, kFloat64, &g1), randn({3, 4}, kFloat64, &g2));
  EXPECT_TENSOR_EQ(randint(0, 10, {50}, {}, &g1), randint(0, 10, {50}, {}, &g2));
  EXPECT_TENSOR_EQ(randperm(20, {}, &g1), randperm(20, {}, &g2));
  EXPECT_TENSOR_EQ(bernoulli({30}, 0.3, {}, &g1), bernoulli({30}, 0.3, {}, &g2));
  manual_seed(3);
  Tensor a = rand({10});
  manual_seed(3);
  EXPECT_TENSOR_EQ(a, rand({10}));
}

TEST(CoreFactory, RandomRanges) {
  Generator g(1);
  std::vector<float> u = rand({2000}, {}, &g).to_vector<float>();
  for (float v : u) ASSERT_TRUE(v >= 0 && v < 1) << v;
  std::vector<int64_t> r = randint(-3, 4, {2000}, {}, &g).to_vector<int64_t>();
  for (int64_t v : r) ASSERT_TRUE(v >= -3 && v < 4) << v;
  EXPECT_EQ(randint(0, 5, {2}, {}, &g).dtype(), kInt64);
  std::vector<int64_t> p = randperm(50, {}, &g).to_vector<int64_t>();
  std::sort(p.begin(), p.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(p[static_cast<size_t>(i)], i);
  std::vector<float> b = bernoulli({2000}, 0.25, {}, &g).to_vector<float>();
  double ones_count = 0;
  for (float v : b) {
    ASSERT_TRUE(v == 0 || v == 1);
    ones_count += v;
  }
  EXPECT_NEAR(ones_count / 2000, 0.25, 0.05);
  Tensor probs = tensor({0., 1., 0., 1.}, kFloat64);
  EXPECT_EQ(bernoulli(probs, &g).to_vector<double>(), (std::vector<double>{0, 1, 0, 1}));
  Tensor n = randn({4000}, kFloat64, &g);
  EXPECT_NEAR(n.mean().item<double>(), 0.0, 0.1);
  expect_error<ValueError>([&] { randint(5, 5, {2}, {}, &g); }, {"low=5", "high=5"});
}

// ---- type promotion and broadcasting ----------------------------------------------------------

TEST(CorePromotion, ResultTypes) {
  Tensor f = tensor({1., 2.});
  Tensor i = tensor({1, 2});
  Tensor b = tensor({true, false});
  EXPECT_EQ((b * f).dtype(), kFloat32);
  EXPECT_EQ((i + f).dtype(), kFloat32);
  EXPECT_EQ((i + 2.5).dtype(), kFloat32);
  EXPECT_EQ((i + 2).dtype(), kInt64);
  EXPECT_EQ((tensor({1, 2}, kInt32) + 2).dtype(), kInt32);
  EXPECT_EQ((f + tensor(2.0, kFloat64)).dtype(), kFloat32);
  EXPECT_EQ((i + tensor(2.0, kFloat64)).dtype(), kFloat64);
  EXPECT_EQ((tensor({1, 2}, kUInt8) + tensor(300)).dtype(), kUInt8);
  EXPECT_EQ((f + tensor({1.}, kFloat64)).dtype(), kFloat64);
  EXPECT_EQ((b + b).dtype(), kBool);
  EXPECT_EQ((i / i).dtype(), kFloat32);
  EXPECT_EQ((i == f).dtype(), kBool);
  EXPECT_EQ((f < 1).dtype(), kBool);
  EXPECT_EQ(i.exp().dtype(), kFloat32);
  EXPECT_EQ((i + 2.5).to_vector<float>(), (std::vector<float>{3.5, 4.5}));
  EXPECT_EQ(result_type(i, Scalar(2.5)), kFloat32);
}

TEST(CorePromotion, InplaceUpcastIsRuntimeError) {
  Tensor i = tensor({1, 2});
  expect_error<RuntimeError>([&] { i.add_(tensor({0.5, 0.5})); }, {"Float", "Long"});
  expect_error<RuntimeError>([&] { i.mul_(1.5); }, {"Float", "Long"});
  expect_error<RuntimeError>([&] { i.div_(2); }, {"Long"});
  expect_error<RuntimeError>([&] { tensor({true}).add_(tensor({1})); }, {"Long", "Bool"});
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  // A downcast-free in-place op is fine, float into float64 too.
  Tensor d = tensor({1., 2.}, kFloat64);
  d.add_(tensor({1., 1.}));
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{2, 3}));
  i.add_(tensor({1, 1}, kInt32));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{2, 3}));
}

TEST(CoreBroadcast, ShapesAndValues) {
  Tensor a = arange(3.0).reshape({3, 1});
  Tensor b = arange(4.0);
  Tensor c = a + b;
  EXPECT_EQ(c.sizes(), (Shape{3, 4}));
  EXPECT_EQ(c.to_vector<float>()[11], 5);
  EXPECT_EQ((tensor(2.0) * ones({2, 2})).sizes(), (Shape{2, 2}));
  EXPECT_EQ(broadcast_shapes({2, 1, 3}, {4, 1}), (Shape{2, 4, 3}));
  EXPECT_EQ((zeros({0, 3}) + zeros({3})).sizes(), (Shape{0, 3}));
}

TEST(CoreBroadcast, MismatchNamesBothShapes) {
  expect_error<RuntimeError>([] { ones({2, 3}) + ones({4}); }, {"[2, 3]", "[4]"});
  expect_error<RuntimeError>([] { ones({2, 3}).mul_(ones({2, 1, 3})); }, {"[2, 3]"});
  expect_error<RuntimeError>([] { ones({3}).expand({2, 4}); }, {"3", "4"});
}

// ---- elementwise values ----------------------------------------------------------------------

namespace {
struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  double lo, hi;  // domain for value and gradient checks
  bool differentiable = true;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& t) { return -t; }, [](double x) { return -x; }, -3, 3},
      {"abs", [](const Tensor& t) { return t.abs(); }, [](double x) { return std::fabs(x); }, -3, 3},
      {"exp", [](const Tensor& t) { return t.exp(); }, [](double x) { return std::exp(x); }, -3, 3},
      {"log", [](const Tensor& t) { return t.log(); }, [](double x) { return std::log(x); }, 0.1, 5},
      {"log1p", [](const Tensor& t) { return t.log1p(); }, [](double x) { return std::log1p(x); }, -0.9, 5},
      {"expm1", [](const Tensor& t) { return t.expm1(); }, [](double x) { return std::expm1(x); }, -3, 3},
      {"sqrt", [](const Tensor& t) { return t.sqrt(); }, [](double x) { return std::sqrt(x); }, 0.1, 5},
      {"rsqrt", [](const Tensor& t) { return t.rsqrt(); }, [](double x) { return 1 / std::sqrt(x); }, 0.1, 5},
      {"reciprocal", [](const Tensor& t) { return t.reciprocal(); }, [](double x) { return 1 / x; }, 0.2, 5},
      {"square", [](const Tensor& t) { return t.square(); }, [](double x) { return x * x; }, -3, 3},
      {"sin", [](const Tensor& t) { return t.sin(); }, [](double x) { return std::sin(x); }, -3, 3},
      {"cos", [](const Tensor& t) { return t.cos(); }, [](double x) { return std::cos(x); }, -3, 3},
      {"tanh", [](const Tensor& t) { return t.tanh(); }, [](double x) { return std::tanh(x); }, -3, 3},
      {"sigmoid", [](const Tensor& t) { return t.sigmoid(); }, [](double x) { return 1 / (1 + std::exp(-x)); }, -5, 5},
      {"relu", [](const Tensor& t) { return t.relu(); }, [](double x) { return x > 0 ? x : 0; }, -3, 3},
      {"erf", [](const Tensor& t) { return t.erf(); }, [](double x) { return std::erf(x); }, -2, 2},
      {"pow_scalar", [](const Tensor& t) { return t.pow(3); }, [](double x) { return x * x * x; }, -2, 2},
      {"pow_half", [](const Tensor& t) { return t.pow(0.5); }, [](double x) { return std::sqrt(x); }, 0.1, 4},
      {"clamp", [](const Tensor& t) { return t.clamp(-1, 1.5); }, [](double x) { return std::clamp(x, -1.0, 1.5); }, -3,
       3},
      {"clamp_min", [](const Tensor& t) { return t.clamp_min(0.5); }, [](double x) { return std::max(x, 0.5); }, -3, 3},
      {"sign", [](const Tensor& t) { return t.sign(); }, [](double x) { return x > 0   ? 1.0
                                                                               : x < 0 ? -1.0
                                                                                       : 0.0; }, -3,
       3},
      {"floor", [](const Tensor& t) { return t.floor(); }, [](double x) { return std::floor(x); }, -3, 3},
      {"ceil", [](const Tensor& t) { return t.ceil(); }, [](double x) { return std::ceil(x); }, -3, 3},
      {"trunc", [](const Tensor& t) { return t.trunc(); }, [](double x) { return std::trunc(x); }, -3, 3},
      {"round", [](const Tensor& t) { return t.round(); }, [](double x) { return std::nearbyint(x); }, -3, 3},
      {"add_scalar", [](const Tensor& t) { return t + 2; }, [](double x) { return x + 2; }, -3, 3},
      {"rsub_scalar", [](const Tensor& t) { return 2 - t; }, [](double x) { return 2 - x; }, -3, 3},
      {"rdiv_scalar", [](const Tensor& t) { return 2 / t; }, [](double x) { return 2 / x; }, 0.5, 3},
      {"mul_scalar", [](const Tensor& t) { return t * -1.5; }, [](double x) { return x * -1.5; }, -3, 3},
      {"remainder", [](const Tensor& t) { return t.remainder(1.5); },
       [](double x) {
         double r = std::fmod(x, 1.5);
         return r < 0 ? r + 1.5 : r;
       },
       -3, 3},
  };
}

// Points strictly inside [lo, hi], off the kinks of relu/abs/clamp, integers and multiples of 1.5.
Tensor sample(double lo, double hi, int64_t n, Dtype dtype) {
  return linspace(lo + 0.0123, hi - 0.0311, n, kFloat64).to(dtype);
}
}  // namespace

TEST(CoreElementwise, UnaryValuesMatchStd) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    for (Dtype dt : {kFloat32, kFloat64}) {
      Tensor x = sample(c.lo, c.hi, 37, dt);
      Tensor y = c.op(x);
      EXPECT_EQ(y.dtype(), dt);
      std::vector<double> xs = x.to_vector<double>(), ys = y.to_vector<double>();
      for (size_t i = 0; i < xs.size(); ++i) {
        double want = c.ref(xs[i]);
        double tol = dt == kFloat64 ? 1e-12 : 1e-5;
        EXPECT_NEAR(ys[i], want, tol * std::max(1.0, std::fabs(want))) << "x=" << xs[i];
      }
    }
  }
}

TEST(CoreElementwise, UnaryGradcheck) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    Tensor x = sample(c.lo, c.hi, 12, kFloat64).reshape({3, 4}).detach().requires_grad_();
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{c.op(in[0])}; }, {x});
    // Non-contiguous input (a transposed view of a leaf).
    Tensor base = sample(c.lo, c.hi, 12, kFloat64).reshape({4, 3}).detach().requires_grad_();
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{c.op(in[0].t())}; }, {base});
  }
}

TEST(CoreElementwise, RoundIsHalfToEven) {
  EXPECT_EQ(tensor({0.5, 1.5, 2.5, -0.5, -1.5}).round().to_vector<float>(), (std::vector<float>{0, 2, 2, -0., -2}));
}

TEST(CoreElementwise, SpecialValues) {
  Tensor x = tensor({0., -1., INFINITY, NAN});
  std::vector<float> l = x.log().to_vector<float>();
  EXPECT_TRUE(std::isinf(l[0]) && l[0] < 0);
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_TRUE(std::isinf(l[2]));
  EXPECT_TRUE(std::isnan(l[3]));
  EXPECT_EQ(x.isnan().to_vector<bool>(), (std::vector<bool>{false, false, false, true}));
  EXPECT_EQ(x.isinf().to_vector<bool>(), (std::vector<bool>{false, false, true, false}));
  EXPECT_EQ(x.isfinite().to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ((tensor({1., -1., 0.}) / 0.).isinf().to_vector<bool>(), (std::vector<bool>{true, true, false}));
  // NaN propagates through relu and clamp, as in torch.
  EXPECT_TRUE(std::isnan(tensor({NAN}).relu().item<float>()));
  EXPECT_TRUE(std::isnan(tensor({NAN}, kFloat64).relu().item<double>()));
  EXPECT_TRUE(std::isnan(tensor({NAN}).clamp(0, 1).item<float>()));
  EXPECT_TRUE(std::isnan(maximum(tensor({NAN}), tensor({0.})).item<float>()));
  Tensor r = tensor({NAN, -1.});
  r.relu_();
  EXPECT_TRUE(std::isnan(r.to_vector<float>()[0]));
}

TEST(CoreElementwise, IntegerOps) {
  Tensor i = tensor({-3, 0, 7});
  EXPECT_EQ((-i).to_vector<int64_t>(), (std::vector<int64_t>{3, 0, -7}));
  EXPECT_EQ(i.abs().to_vector<int64_t>(), (std::vector<int64_t>{3, 0, 7}));
  EXPECT_EQ(i.abs().dtype(), kInt64);
  EXPECT_EQ((i * 2).to_vector<int64_t>(), (std::vector<int64_t>{-6, 0, 14}));
  EXPECT_EQ(i.remainder(2).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(i.pow(2).to_vector<int64_t>(), (std::vector<int64_t>{9, 0, 49}));
  EXPECT_EQ(i.clamp(-1, 5).to_vector<int64_t>(), (std::vector<int64_t>{-1, 0, 5}));
  EXPECT_EQ((i / 2).to_vector<float>(), (std::vector<float>{-1.5, 0, 3.5}));
  EXPECT_EQ(i.sqrt().dtype(), kFloat32);
  EXPECT_EQ((~tensor({0, 5}, kUInt8)).to_vector<uint8_t>(), (std::vector<uint8_t>{255, 250}));
  EXPECT_EQ((~tensor({true, false})).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ((tensor({6}) & tensor({3})).item<int64_t>(), 2);
  expect_error<RuntimeError>([&] { i.remainder(0); }, {"zero"});
  expect_error<RuntimeError>([&] { i.pow(-1); }, {"negative integer powers", "-1"});
  EXPECT_EQ(i.pow(-1.0).dtype(), kFloat32);  // a float exponent promotes instead
  expect_error<RuntimeError>([] { -tensor({true}); }, {"bool"});
  expect_error<TypeError>([] { ~tensor({1.0}); }, {"float32"});
}

namespace {
struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
  double lo, hi;
};
std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }, -3, 3},
      {"add_alpha", [](const Tensor& a, const Tensor& b) { return a.add(b, 2.5); },
       [](double a, double b) { return a + 2.5 * b; }, -3, 3},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }, -3, 3},
      {"sub_alpha", [](const Tensor& a, const Tensor& b) { return a.sub(b, 0.5); },
       [](double a, double b) { return a - 0.5 * b; }, -3, 3},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }, -3, 3},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }, 0.5, 3},
      {"pow", [](const Tensor& a, const Tensor& b) { return a.pow(b); },
       [](double a, double b) { return std::pow(a, b); }, 0.5, 2},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }, -3, 3},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }, -3, 3},
      {"where", [](const Tensor& a, const Tensor& b) { return where(a > b, a, b * 2); },
       [](double a, double b) { return a > b ? a : 2 * b; }, -3, 3},
  };
}
}  // namespace

namespace {
// b values over the same domain as a but in reverse order, so pairs differ.
Tensor reversed_sample(double lo, double hi, int64_t n) {
  return (sample(lo, hi, n, kFloat64) * -1.0 + (lo + hi)) * 0.97;
}
}  // namespace

TEST(CoreElementwise, BinaryValuesMatchStdWithBroadcasting) {
  for (const auto& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    Tensor a = sample(c.lo, c.hi, 20, kFloat64).reshape({4, 5});
    Tensor b = reversed_sample(c.lo, c.hi, 5).clamp(c.lo, c.hi);
    Tensor y = c.op(a, b);
    ASSERT_EQ(y.sizes(), (Shape{4, 5}));
    std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>(), yv = y.to_vector<double>();
    for (size_t i = 0; i < yv.size(); ++i) {
      double want = c.ref(av[i], bv[i % 5]);
      EXPECT_NEAR(yv[i], want, 1e-12 * std::max(1.0, std::fabs(want))) << av[i] << ", " << bv[i % 5];
    }
    // float32: against std on the float32-rounded operands (independent), then against float64.
    Tensor a32 = a.to(kFloat32), b32 = b.to(kFloat32);
    Tensor y32 = c.op(a32, b32);
    EXPECT_EQ(y32.dtype(), kFloat32);
    ASSERT_EQ(y32.sizes(), (Shape{4, 5}));
    std::vector<double> a32v = a32.to_vector<double>(), b32v = b32.to_vector<double>(), y32v = y32.to_vector<double>();
    for (size_t i = 0; i < y32v.size(); ++i) {
      double want = c.ref(a32v[i], b32v[i % 5]);
      EXPECT_NEAR(y32v[i], want, 1e-6 * std::max(1.0, std::fabs(want))) << "float32 " << a32v[i] << ", " << b32v[i % 5];
    }
    EXPECT_TENSOR_CLOSE(y32.to(kFloat64), y, 1e-5, 1e-5);
  }
}

TEST(CoreElementwise, BinaryGradcheck) {
  for (const auto& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    auto fn = [&](const TensorList& in) { return TensorList{c.op(in[0], in[1])}; };
    Tensor a = sample(c.lo, c.hi, 12, kFloat64).reshape({3, 4}).detach().requires_grad_();
    Tensor b = reversed_sample(c.lo, c.hi, 12).clamp(c.lo, c.hi).reshape({3, 4}).detach().requires_grad_();
    EXPECT_GRADCHECK(fn, (TensorList{a, b}));
    // Broadcasting both ways: (3, 1) with (4,).
    Tensor col = sample(c.lo, c.hi, 3, kFloat64).reshape({3, 1}).detach().requires_grad_();
    Tensor row = reversed_sample(c.lo, c.hi, 4).clamp(c.lo, c.hi).detach().requires_grad_();
    EXPECT_GRADCHECK(fn, (TensorList{col, row}));
    EXPECT_GRADCHECK(fn, (TensorList{row, col}));
    // Non-contiguous operands (transposed views of leaves).
    Tensor at = sample(c.lo, c.hi, 12, kFloat64).reshape({4, 3}).detach().requires_grad_();
    Tensor bt = reversed_sample(c.lo, c.hi, 12).clamp(c.lo, c.hi).reshape({4, 3}).detach().requires_grad_();
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{c.op(in[0].t(), in[1].t())}; },
                     (TensorList{at, bt}));
    // Only one operand requires grad.
    Tensor constant = reversed_sample(c.lo, c.hi, 12).clamp(c.lo, c.hi).reshape({3, 4});
    EXPECT_GRADCHECK(fn, (TensorList{a, constant}));
  }
}

TEST(CoreElementwise, GradcheckWithTestingHelpers) {
  auto [v, base] = noncontiguous({3, 4}, 5);
  EXPECT_FALSE(v.is_contiguous());
  Tensor w = leaf({4}, 6);
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{(in[0] * in[1]).tanh() + in[0].square()}; },
                   (TensorList{v, w}));
  Tensor s = leaf({2, 1, 3}, 7);
  EXPECT_GRADCHECK([](const TensorList& in) { return TensorList{in[0].expand({2, 4, 3}).sum({1})}; }, {s});
}

TEST(CoreElementwise, ViewGradcheck) {
  Tensor x = leaf({2, 3, 4}, 11);
  std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops = {
      {"view",
       [](const Tensor& t) {
         return t.view({6, 4});
       }},
      {"transpose", [](const Tensor& t) { return t.transpose(0, 2); }},
      {"permute",
       [](const Tensor& t) {
         return t.permute({1, 2, 0});
       }},
      {"expand",
       [](const Tensor& t) {
         return t.unsqueeze(0).expand({2, 2, 3, 4});
       }},
      {"squeeze", [](const Tensor& t) { return t.narrow(0, 1, 1).squeeze(); }},
      {"flatten", [](const Tensor& t) { return t.flatten(1); }},
      {"narrow", [](const Tensor& t) { return t.narrow(2, 1, 2); }},
      {"select", [](const Tensor& t) { return t.select(1, -1); }},
      {"slice", [](const Tensor& t) { return t.slice(2, 0, std::nullopt, 3); }},
      {"contiguous", [](const Tensor& t) { return t.transpose(0, 1).contiguous(); }},
      {"clone", [](const Tensor& t) { return t.clone(); }},
      {"to_copy", [](const Tensor& t) { return t.to(kFloat64, /*copy=*/true); }},
  };
  for (auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK([&](const TensorList& in) { return TensorList{op(in[0])}; }, {x});
  }
}

// ---- comparisons ----------------------------------------------------------------------------

TEST(CoreElementwise, ComparisonsAndLogic) {
  Tensor a = tensor({1., 2., 3.});
  Tensor b = tensor({3, 2, 1});
  EXPECT_EQ((a == b).to_vector<bool>(), (std::vector<bool>{false, true, false}));
  EXPECT_EQ((a != b).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ((a < b).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ((a <= b).to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ((a > 1.5).to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ((a >= 2).to_vector<bool>(), (std::vector<bool>{false, true, true}));
  EXPECT_EQ((a > 2.5).dtype(), kBool);
  Tensor t = tensor({true, false, true}), f = tensor({false, false, true});
  EXPECT_EQ(t.logical_and(f).to_vector<bool>(), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(t.logical_or(f).to_vector<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(t.logical_xor(f).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ((!a.gt(1)).to_vector<bool>(), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(tensor({0., 2.}).logical_not().to_vector<bool>(), (std::vector<bool>{true, false}));
  Tensor g = a.clone().requires_grad_();
  EXPECT_FALSE((g > 1).requires_grad());
}

// ---- in-place ops ------------------------------------------------------------------------------

TEST(CoreInplace, ArithmeticAndVersion) {
  Tensor t = tensor({1., 2., 3.});
  EXPECT_TRUE(t.add_(tensor({1., 1., 1.})).is_same(t));
  EXPECT_EQ(t.version(), 1u);
  t.add_(1, 2);  // t += 2 * 1
  t.mul_(tensor({2.}));
  t.sub_(tensor({1., 1., 1.}), 0.5);
  t.div_(2);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{3.75, 4.75, 5.75}));
  EXPECT_EQ(t.version(), 5u);
  t += 1;
  t -= tensor({0.75});
  t *= 2;
  t /= tensor({2., 1., 2.});
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{4, 10, 6}));
  Tensor i = tensor({1, 2});
  i.add_(3);
  i.mul_(tensor({2}, kInt32));
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{8, 10}));
}

TEST(CoreInplace, ClampReluFillZero) {
  Tensor t = tensor({-2., 0.5, 3.});
  t.clamp_(-1, 1);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{-1, 0.5, 1}));
  t.relu_();
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0.5, 1}));
  t.clamp_(std::nullopt, 0.25);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0.25, 0.25}));
  Tensor i = tensor({-5, 5});
  i.clamp_(-2, 2);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{-2, 2}));
  expect_error<RuntimeError>([&] { i.clamp_(0.5, 1); }, {"Long"});
  i.relu_();
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 2}));
  t.fill_(2.5);
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{2.5, 2.5, 2.5}));
  t.zero_();
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 0, 0}));
  Tensor v = arange(6.0).reshape({2, 3});
  v.select(1, 1).fill_(9);
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{0, 9, 2, 3, 9, 5}));
  v.t().zero_();
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>(6, 0)));
}

TEST(CoreInplace, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3});
  dst.copy_(tensor({1, 2, 3}));  // int64 -> float32, broadcast over rows
  EXPECT_EQ(dst.to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  Tensor idst = zeros({2}, kInt32);
  idst.copy_(tensor({1.7, -2.7}));  // truncation like PyTorch
  EXPECT_EQ(idst.to_vector<int32_t>(), (std::vector<int32_t>{1, -2}));
  Tensor bdst = zeros({3}, kBool);
  bdst.copy_(tensor({0., 0.5, -1.}));
  EXPECT_EQ(bdst.to_vector<bool>(), (std::vector<bool>{false, true, true}));
  // Into a non-contiguous view.
  Tensor m = zeros({3, 2});
  m.t().copy_(tensor({{1., 2., 3.}, {4., 5., 6.}}));
  EXPECT_EQ(m.to_vector<float>(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  expect_error<RuntimeError>([&] { dst.copy_(ones({4})); }, {"[4]", "[2, 3]"});
  // copy_ records autograd into a non-leaf.
  Tensor src = tensor({1., 2., 3.}).requires_grad_();
  Tensor buf = zeros({2, 3});
  buf.copy_(src);
  EXPECT_TRUE(buf.requires_grad());
  buf.sum().backward();
  EXPECT_EQ(src.grad().to_vector<float>(), (std::vector<float>{2, 2, 2}));
}

// ---- errors ----------------------------------------------------------------------------------

TEST(CoreErrors, TypedAndNamed) {
  Tensor t = zeros({2, 3});
  expect_error<IndexError>([&] { t.select(1, 3); }, {"index 3", "size 3"});
  expect_error<IndexError>([&] { t.transpose(0, 2); }, {"got 2"});
  expect_error<IndexError>([&] { t.size(-3); }, {"-3"});
  expect_error<RuntimeError>([&] { t.view({4, 2}); }, {"[4, 2]", "6"});
  expect_error<RuntimeError>([&] { t.reshape({-1, -1}); }, {"only one dimension"});
  expect_error<RuntimeError>([&] { t.item(); }, {"6 elements"});
  expect_error<RuntimeError>([&] { t.narrow(1, 2, 2); }, {"start (2)", "length (2)"});
  expect_error<RuntimeError>([&] { t.permute({0, 0}); }, {"duplicate"});
  expect_error<TypeError>([&] { t.data_ptr<double>(); }, {"float64", "float32"});
  expect_error<RuntimeError>([] { Tensor().dim(); }, {"undefined"});
  expect_error<RuntimeError>([&] { t + Tensor(); }, {"undefined"});
  expect_error<ValueError>([] { zeros({2, -1}); }, {"-1"});
  expect_error<TypeError>([] { tensor({1, 2}).add(tensor({1, 2}), 0.5); }, {"alpha", "0.5"});
  expect_error<RuntimeError>([] { tensor({true}) - tensor({false}); }, {"bool"});
  expect_error<RuntimeError>([] { tensor({1, 2}).requires_grad_(); }, {"int64"});
  expect_error<ValueError>([] { dtype_from_name("float16"); }, {"float16"});
  // Every twig error is a twig::Error (and a std::runtime_error).
  EXPECT_THROW(t.select(0, 5), Error);
  EXPECT_THROW(t.select(0, 5), std::runtime_error);
}

TEST(CoreErrors, ItemAndScalars) {
  EXPECT_EQ(tensor({{2.5}}).item<double>(), 2.5);
  EXPECT_EQ(tensor(3).item<int64_t>(), 3);
  EXPECT_TRUE(tensor(true).item<bool>());
  EXPECT_EQ(tensor({1., 2.}).to(kInt64).dtype(), kInt64);
  Tensor t = tensor({1., 2.});
  EXPECT_TRUE(t.to(kFloat32).is_same(t));
  EXPECT_FALSE(t.to(kFloat32, /*copy=*/true).is_same(t));
}

TEST(CoreInplace, FusedAddcmulAddcdivAndAlphaMatchComposedOps) {
  Generator g(3);
  Tensor base = randn({4, 5}, kFloat64, &g), t1 = randn({4, 5}, kFloat64, &g);
  Tensor t2 = randn({5}, kFloat64, &g).abs() + 0.5;  // broadcast over rows
  Tensor tt = randn({5, 4}, kFloat64, &g).t();       // non-contiguous operand
  // Element by element in plain double (independent of twig's ops): (row, col) of a (4, 5) tensor.
  auto expected = [](const std::function<double(int64_t, int64_t)>& f) {
    std::vector<double> v;
    for (int64_t r = 0; r < 4; ++r) {
      for (int64_t c = 0; c < 5; ++c) v.push_back(f(r, c));
    }
    return from_vector(v, {4, 5});
  };
  auto at = [](const Tensor& t, int64_t r, int64_t c) { return t.index({r, c}).item<double>(); };
  Tensor a = base.clone();
  a.addcmul_(t1, t2, 0.25);
  EXPECT_TENSOR_CLOSE(
      a, expected([&](int64_t r, int64_t c) { return at(base, r, c) + 0.25 * at(t1, r, c) * t2[c].item<double>(); }),
      1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(a, base + t1 * t2 * 0.25, 1e-12, 1e-12);
  Tensor b = base.clone();
  b.addcdiv_(tt, t2, -2);
  EXPECT_TENSOR_CLOSE(
      b, expected([&](int64_t r, int64_t c) { return at(base, r, c) - 2.0 * at(tt, r, c) / t2[c].item<double>(); }),
      1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(b, base + tt / t2 * -2.0, 1e-12, 1e-12);
  Tensor c = base.clone();
  uint32_t v = c.version();
  c.add_(tt, 3.5);
  EXPECT_TENSOR_CLOSE(c, expected([&](int64_t r, int64_t col) { return at(base, r, col) + 3.5 * at(tt, r, col); }),
                      1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(c, base + tt * 3.5, 1e-12, 1e-12);
  EXPECT_GT(c.version(), v);
  // Mixed dtypes take the composed path and still agree.
  Tensor d = base.clone();
  Tensor t1_32 = t1.to(kFloat32);
  d.addcmul_(t1_32, t2, 2);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_TENSOR_CLOSE(
      d, expected([&](int64_t r, int64_t c) { return at(base, r, c) + 2.0 * at(t1_32, r, c) * t2[c].item<double>(); }),
      1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(d, base + t1.to(kFloat32).to(kFloat64) * t2 * 2, 1e-6, 1e-6);
}
