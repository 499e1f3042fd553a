// Selection ops (sort/topk/kthvalue, index_*, masks, nonzero) and joining ops (cat, stack, split,
// chunk, unbind, repeat, repeat_interleave, broadcast_tensors).
#include <gtest/gtest.h>

#include "testing.h"
#include "twig/core.h"

using namespace twig;
using twig::testing::expect_error;
using twig::testing::gradcheck_both;
using twig::testing::leaf;
using twig::testing::noncontiguous;
using TL = TensorList;

namespace {

using D = std::vector<double>;
using F = std::vector<float>;
using L = std::vector<int64_t>;

// Gradchecks fn on a contiguous leaf and on a non-contiguous view of the same shape.
}  // namespace

// ---- sort / argsort -------------------------------------------------------------------------

TEST(SelectSort, ValuesIndicesAndDtypes) {
  Tensor x = tensor({{3.0, 1.0, 2.0}, {0.5, 4.0, -1.0}});
  auto [v, i] = x.sort();
  EXPECT_EQ(v.dtype(), kFloat32);
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_EQ(v.sizes(), (Shape{2, 3}));
  EXPECT_EQ(v.to_vector<float>(), (F{1, 2, 3, -1, 0.5, 4}));
  EXPECT_EQ(i.to_vector<int64_t>(), (L{1, 2, 0, 2, 0, 1}));
  auto [vd, id] = x.sort(0, /*descending=*/true);
  EXPECT_EQ(vd.to_vector<float>(), (F{3, 4, 2, 0.5, 1, -1}));
  EXPECT_EQ(id.to_vector<int64_t>(), (L{0, 1, 0, 1, 0, 1}));
  EXPECT_EQ(x.argsort(-2).to_vector<int64_t>(), (L{1, 0, 1, 0, 1, 0}));
  EXPECT_EQ(argsort(x, 1, true).to_vector<int64_t>(), (L{0, 2, 1, 1, 0, 2}));
}

TEST(SelectSort, StableKeepsOrderOfEqualValues) {
  Tensor x = tensor({2, 1, 2, 1});
  auto [v, i] = x.sort(0, false, /*stable=*/true);
  EXPECT_EQ(v.to_vector<int64_t>(), (L{1, 1, 2, 2}));
  EXPECT_EQ(i.to_vector<int64_t>(), (L{1, 3, 0, 2}));
}

TEST(SelectSort, ZeroDimAndErrors) {
  auto [v, i] = scalar_tensor(5.0).sort();
  EXPECT_EQ(v.dim(), 0);
  EXPECT_EQ(i.item<int64_t>(), 0);
  expect_error<IndexError>([] { tensor({1.0, 2.0}).sort(2); }, "2");
}

TEST(SelectSort, Gradcheck) {
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].sort(1))}; }, {3, 4});
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].sort(0, true))}; }, {3, 4});
}

// ---- topk / kthvalue -----------------------------------------------------------------------

TEST(SelectTopk, ValuesIndices) {
  Tensor x = tensor({{1.0, 5.0, 3.0, 4.0}, {9.0, 2.0, 8.0, 0.0}});
  auto [v, i] = x.topk(2);
  EXPECT_EQ(v.sizes(), (Shape{2, 2}));
  EXPECT_EQ(v.to_vector<float>(), (F{5, 4, 9, 8}));
  EXPECT_EQ(i.to_vector<int64_t>(), (L{1, 3, 0, 2}));
  EXPECT_EQ(i.dtype(), kInt64);
  auto [vs, is] = x.topk(1, 0, /*largest=*/false);
  EXPECT_EQ(vs.sizes(), (Shape{1, 4}));
  EXPECT_EQ(vs.to_vector<float>(), (F{1, 2, 3, 0}));
  EXPECT_EQ(is.to_vector<int64_t>(), (L{0, 1, 0, 1}));
  auto [v0, i0] = x.topk(0, -1);
  EXPECT_EQ(v0.sizes(), (Shape{2, 0}));
}

// Equal values: the indices PyTorch 1.13 returns on CPU (whatever its nth_element leaves in
// front), not the lowest ones. Many more cases in test_ties.cpp.
TEST(SelectTopk, TiesPickWhatPyTorchPicks) {
  auto [v, i] = tensor({1, 3, 3, 2}).topk(2);
  EXPECT_EQ(v.to_vector<int64_t>(), (L{3, 3}));
  EXPECT_EQ(i.to_vector<int64_t>(), (L{1, 2}));
  EXPECT_EQ(std::get<1>(ones({4}).topk(2)).to_vector<int64_t>(), (L{2, 3}));
  EXPECT_EQ(std::get<1>(ones({5}).topk(2, 0, /*largest=*/false)).to_vector<int64_t>(), (L{2, 4}));
  EXPECT_EQ(std::get<1>(ones({5}).topk(3, 0, true, /*sorted=*/false)).to_vector<int64_t>(), (L{2, 4, 3}));
}

TEST(SelectTopk, KOutOfRange) {
  Tensor x = zeros({2, 3});
  expect_error<RuntimeError>([&] { x.topk(4); }, "selected index k out of range (k = 4");
  expect_error<RuntimeError>([&] { x.topk(-1, 0); }, "k = -1");
  expect_error<IndexError>([&] { x.topk(1, 2); }, "2");
}

TEST(SelectTopk, Gradcheck) {
  Tensor x = tensor({1.0, 5.0, 3.0, 4.0}, kFloat64).requires_grad_();
  auto [v, i] = x.topk(2);
  (v * tensor({10.0, 20.0}, kFloat64)).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (D{0, 10, 0, 20}));
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].topk(2, 1))}; }, {3, 4});
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].topk(2, 0, false))}; }, {3, 4});
}

TEST(SelectKthvalue, ValuesIndicesKeepdim) {
  Tensor x = tensor({{3.0, 1.0, 2.0}, {6.0, 5.0, 4.0}});
  auto [v, i] = x.kthvalue(2);
  EXPECT_EQ(v.sizes(), (Shape{2}));
  EXPECT_EQ(v.to_vector<float>(), (F{2, 5}));
  EXPECT_EQ(i.to_vector<int64_t>(), (L{2, 1}));
  auto [vk, ik] = x.kthvalue(1, 0, /*keepdim=*/true);
  EXPECT_EQ(vk.sizes(), (Shape{1, 3}));
  EXPECT_EQ(vk.to_vector<float>(), (F{3, 1, 2}));
  EXPECT_EQ(ik.to_vector<int64_t>(), (L{0, 0, 0}));
  auto [v3, i3] = kthvalue(x, 3, -1);
  EXPECT_EQ(v3.to_vector<float>(), (F{3, 6}));
}

TEST(SelectKthvalue, Errors) {
  Tensor x = zeros({2, 3});
  expect_error<RuntimeError>([&] { x.kthvalue(0); }, "selected number k out of range for dimension 1 (k = 0");
  expect_error<RuntimeError>([&] { x.kthvalue(3, 0); }, "k = 3, size 2");
}

TEST(SelectKthvalue, Gradcheck) {
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].kthvalue(2, 1))}; }, {3, 4});
  gradcheck_both([](const TL& x) { return TL{std::get<0>(x[0].kthvalue(3, 0, true))}; }, {3, 4});
}

// ---- index_select / gather / scatter_add / index_add_ / index_copy_ / index_fill_ -------------

TEST(SelectIndexSelect, ValuesAndGradcheck) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(x.index_select(1, tensor({2, 0, 2})).to_vector<int64_t>(), (L{3, 1, 3, 6, 4, 6}));
  EXPECT_EQ(x.index_select(-2, tensor({-1})).to_vector<int64_t>(), (L{4, 5, 6}));
  expect_error<IndexError>([&] { x.index_select(0, tensor({2})); }, "index 2 is out of bounds");
  Tensor idx = tensor({2, 0, 2});
  gradcheck_both([idx](const TL& x) { return TL{x[0].index_select(1, idx)}; }, {2, 3});
}

TEST(SelectGather, ValuesAndGradcheck) {
  Tensor x = tensor({{1, 2}, {3, 4}});
  EXPECT_EQ(x.gather(1, tensor({{0, 0}, {1, 0}})).to_vector<int64_t>(), (L{1, 1, 4, 3}));
  Tensor idx = tensor({{0, 1}, {1, 1}, {0, 0}});
  gradcheck_both([idx](const TL& x) { return TL{x[0].gather(0, idx)}; }, {2, 2});
}

TEST(SelectScatterAdd, ValuesAndGradcheck) {
  Tensor z = zeros({2, 3}, kFloat64);
  Tensor src = tensor({{1.0, 2.0, 3.0}}, kFloat64);
  Tensor out = z.scatter_add(1, tensor({{0, 0, 2}}), src);
  EXPECT_EQ(out.to_vector<double>(), (D{3, 0, 3, 0, 0, 0}));
  Tensor idx = tensor({{0, 1, 0}, {1, 0, 1}});
  gradcheck_both([idx](const TL& x) { return TL{x[0].scatter_add(0, idx, x[0] * 2.0)}; }, {2, 3});
}

TEST(SelectIndexAdd, InPlaceValuesVersionAndGradcheck) {
  Tensor x = zeros({3, 2}, kFloat64);
  uint32_t v0 = x.version();
  x.index_add_(0, tensor({0, 2, 0}), tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, kFloat64));
  EXPECT_EQ(x.to_vector<double>(), (D{6, 8, 0, 0, 3, 4}));
  EXPECT_GT(x.version(), v0);
  Tensor idx = tensor({2, 0});
  gradcheck_both([idx](const TL& x) { return TL{(x[0] * 1.0).index_add_(1, idx, x[0].narrow(1, 0, 2) * 3.0)}; },
                 {2, 3});
}

TEST(SelectIndexCopy, ValuesErrorsAndGradcheck) {
  Tensor x = zeros({3, 2});
  uint32_t v0 = x.version();
  x.index_copy_(0, tensor({2, 0}), tensor({{1.0, 2.0}, {3.0, 4.0}}));
  EXPECT_EQ(x.to_vector<float>(), (F{3, 4, 0, 0, 1, 2}));
  EXPECT_GT(x.version(), v0);
  x.index_copy_(-1, tensor({1}), tensor({{7.0}, {8.0}, {9.0}}));
  EXPECT_EQ(x.to_vector<float>(), (F{3, 7, 0, 8, 1, 9}));
  expect_error<RuntimeError>([&] { x.index_copy_(0, tensor({0}), zeros({2, 2})); }, "[2, 2]");
  expect_error<IndexError>([&] { x.index_copy_(0, tensor({3}), zeros({1, 2})); }, "index 3 is out of bounds");
  // Gradients: self keeps its gradient outside the copied columns; source gets the copied ones.
  Tensor idx = tensor({0, 2});
  Tensor src = leaf({2, 2}, 7);
  gradcheck_both([idx, src](const TL& x) { return TL{(x[0] * 1.0).index_copy_(1, idx, src)}; }, {2, 3});
  EXPECT_GRADCHECK([idx](const TL& x) { return TL{(x[0] * 1.0).index_copy_(1, idx, x[1])}; },
                   (TL{leaf({2, 3}, 3), leaf({2, 2}, 4)}));
}

TEST(SelectIndexFill, ValuesAndGradcheck) {
  Tensor x = ones({2, 3}, kInt64);
  uint32_t v0 = x.version();
  x.index_fill_(1, tensor({0, -1}), 5);
  EXPECT_EQ(x.to_vector<int64_t>(), (L{5, 1, 5, 5, 1, 5}));
  EXPECT_GT(x.version(), v0);
  expect_error<IndexError>([&] { x.index_fill_(1, tensor({3}), 0); }, "index 3 is out of bounds");
  expect_error<IndexError>([&] { x.index_fill_(1, tensor({0.5}), 0); }, "got float32");
  Tensor idx = tensor({1});
  gradcheck_both([idx](const TL& x) { return TL{(x[0] * 1.0).index_fill_(0, idx, 2.5)}; }, {3, 2});
}

// ---- masks and nonzero -------------------------------------------------------------------------

TEST(SelectMaskedFill, BroadcastValuesAndDtype) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor m = tensor({true, false, true});
  Tensor y = x.masked_fill(m, -1);
  EXPECT_EQ(y.dtype(), kInt64);
  EXPECT_EQ(y.to_vector<int64_t>(), (L{-1, 2, -1, -1, 5, -1}));
  EXPECT_EQ(x.to_vector<int64_t>(), (L{1, 2, 3, 4, 5, 6}));
  uint32_t v0 = x.version();
  x.masked_fill_(m.view({1, 3}), 0);
  EXPECT_EQ(x.to_vector<int64_t>(), (L{0, 2, 0, 0, 5, 0}));
  EXPECT_GT(x.version(), v0);
  expect_error<RuntimeError>([&] { x.masked_fill(tensor({1, 0, 1}), 0); }, "got mask with dtype");
  expect_error<RuntimeError>([&] { x.masked_fill_(tensor({{true}, {false}, {true}}), 0); }, "[3, 1]");
}

TEST(SelectMaskedFill, Gradcheck) {
  Tensor m = tensor({{true, false, false}, {false, true, false}});
  gradcheck_both([m](const TL& x) { return TL{x[0].masked_fill(m, 3.0)}; }, {2, 3});
  gradcheck_both([m](const TL& x) { return TL{(x[0] * 1.0).masked_fill_(m.narrow(0, 0, 1), 3.0)}; }, {2, 3});
  Tensor x = leaf({2, 3});
  x.masked_fill(m, 0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (D{0, 1, 1, 1, 0, 1}));
}

TEST(SelectMaskedSelect, ValuesBroadcastAndGradcheck) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  Tensor y = x.masked_select(tensor({{true, false, true}, {false, false, true}}));
  EXPECT_EQ(y.sizes(), (Shape{3}));
  EXPECT_EQ(y.to_vector<int64_t>(), (L{1, 3, 6}));
  EXPECT_EQ(masked_select(x, tensor({false, true, false})).to_vector<int64_t>(), (L{2, 5}));
  EXPECT_EQ(x.masked_select(zeros({2, 3}, kBool)).sizes(), (Shape{0}));
  expect_error<RuntimeError>([&] { x.masked_select(tensor({true, false})); }, "[2, 3]");
  Tensor m = tensor({{true, false, true}, {false, true, true}});
  gradcheck_both([m](const TL& x) { return TL{x[0].masked_select(m)}; }, {2, 3});
  gradcheck_both([m](const TL& x) { return TL{x[0].masked_select(m.narrow(0, 1, 1))}; }, {2, 3});
}

TEST(SelectNonzero, Coordinates) {
  Tensor nz = tensor({{0, 3}, {2, 0}, {0, 0}}).nonzero();
  EXPECT_EQ(nz.dtype(), kInt64);
  EXPECT_EQ(nz.sizes(), (Shape{2, 2}));
  EXPECT_EQ(nz.to_vector<int64_t>(), (L{0, 1, 1, 0}));
  EXPECT_EQ(nonzero(zeros({4})).sizes(), (Shape{0, 1}));
  Tensor t = tensor({{1.0, 0.0}, {0.0, 2.0}}).t();  // non-contiguous input
  EXPECT_EQ(t.nonzero().to_vector<int64_t>(), (L{0, 0, 1, 1}));
}

// ---- cat / stack ---------------------------------------------------------------------------------

TEST(JoinCat, ValuesPromotionAndNegativeDim) {
  Tensor a = tensor({{1, 2}, {3, 4}});
  Tensor b = tensor({{5.5}, {6.5}});
  Tensor c = cat({a, b}, -1);
  EXPECT_EQ(c.dtype(), kFloat32);
  EXPECT_EQ(c.sizes(), (Shape{2, 3}));
  EXPECT_EQ(c.to_vector<float>(), (F{1, 2, 5.5, 3, 4, 6.5}));
  Tensor r = cat({a, a.narrow(0, 1, 1)});
  EXPECT_EQ(r.to_vector<int64_t>(), (L{1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(cat({a.t(), a}, 1).to_vector<int64_t>(), (L{1, 3, 1, 2, 2, 4, 3, 4}));
}

TEST(JoinCat, LegacySkipsOneDimEmpty) {
  Tensor a = tensor({{1.0, 2.0}});
  Tensor c = cat({zeros({0}, kFloat64), a, zeros({0})});
  EXPECT_EQ(c.sizes(), (Shape{1, 2}));
  EXPECT_EQ(c.dtype(), kFloat64);  // skipped tensors still take part in promotion
  EXPECT_EQ(cat({zeros({0}), zeros({0})}).sizes(), (Shape{0}));
}

TEST(JoinCat, Errors) {
  expect_error<RuntimeError>([] { cat({}); }, "non-empty list");
  expect_error<RuntimeError>(
      [] {
        cat({zeros({2, 3}), zeros({2, 4})});
      },
      "Expected size 3 but got size 4 for tensor number 1 in the list (shapes [2, 3] and [2, 4])");
  expect_error<RuntimeError>([] { cat({zeros({2, 3}), zeros({3})}); }, "got 2 and 1");
  expect_error<RuntimeError>([] { cat({zeros({2}), scalar_tensor(1.0)}); }, "zero-dimensional tensor (at position 1)");
  expect_error<IndexError>([] { cat({zeros({2}), zeros({2})}, 1); }, "1");
}

TEST(JoinCat, Gradcheck) {
  auto fn = [](const TL& x) { return TL{cat({x[0], x[1] * 2.0, x[0].narrow(1, 1, 1)}, 1)}; };
  EXPECT_GRADCHECK(fn, (TL{leaf({2, 3}, 1), leaf({2, 2}, 2)}));
  EXPECT_GRADCHECK(fn, (TL{noncontiguous({2, 3}, 3).first, noncontiguous({2, 2}, 4).first}));
  // A float32 input gets a float32 gradient even though the output is float64.
  Tensor f = ones({2}, TensorOptions(kFloat32).requires_grad());
  Tensor d = ones({1}, TensorOptions(kFloat64).requires_grad());
  (cat({f, d}) * tensor({1.0, 2.0, 3.0}, kFloat64)).sum().backward();
  EXPECT_EQ(f.grad().dtype(), kFloat32);
  EXPECT_EQ(f.grad().to_vector<float>(), (F{1, 2}));
  EXPECT_EQ(d.grad().to_vector<double>(), (D{3}));
}

TEST(JoinStack, ValuesErrorsGradcheck) {
  Tensor a = tensor({1, 2}), b = tensor({3, 4});
  Tensor s0 = stack({a, b});
  EXPECT_EQ(s0.sizes(), (Shape{2, 2}));
  EXPECT_EQ(s0.to_vector<int64_t>(), (L{1, 2, 3, 4}));
  Tensor s1 = stack({a, b}, -1);
  EXPECT_EQ(s1.to_vector<int64_t>(), (L{1, 3, 2, 4}));
  expect_error<RuntimeError>(
      [&] {
        stack({a, tensor({1, 2, 3})});
      },
      "stack expects each tensor to be equal size, but got [2] at entry 0 and [3] at entry 1");
  expect_error<RuntimeError>([] { stack({}); }, "non-empty");
  auto fn = [](const TL& x) { return TL{stack({x[0], x[0] * x[0]}, 1)}; };
  gradcheck_both(fn, {2, 3});
}

TEST(JoinBroadcastTensors, ShapesViewsGradcheck) {
  Tensor a = tensor({{1}, {2}}), b = tensor({10, 20, 30});
  TL r = broadcast_tensors({a, b});
  EXPECT_EQ(r[0].sizes(), (Shape{2, 3}));
  EXPECT_EQ(r[1].sizes(), (Shape{2, 3}));
  EXPECT_EQ(r[0].to_vector<int64_t>(), (L{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(r[1].to_vector<int64_t>(), (L{10, 20, 30, 10, 20, 30}));
  EXPECT_THROW(broadcast_tensors({zeros({2}), zeros({3})}), RuntimeError);
  EXPECT_GRADCHECK(
      [](const TL& x) {
        return broadcast_tensors({x[0], x[1]});
      },
      (TL{leaf({3, 1}, 1), noncontiguous({2, 1, 4}, 2).first}));
}

// ---- split / chunk / unbind -------------------------------------------------------------------

TEST(JoinSplit, SizesViewsAndErrors) {
  Tensor x = arange(10).view({5, 2});
  TL parts = x.split(2);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].to_vector<int64_t>(), (L{0, 1, 2, 3}));
  EXPECT_EQ(parts[2].sizes(), (Shape{1, 2}));
  EXPECT_EQ(parts[2].to_vector<int64_t>(), (L{8, 9}));
  parts[1].fill_(-1);  // views: writes reach x
  EXPECT_EQ(x.to_vector<int64_t>()[4], -1);
  TL cols = split(x, 1, -1);
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[1].to_vector<int64_t>(), (L{1, 3, -1, -1, 9}));
  TL ws = x.split_with_sizes({1, 4});
  EXPECT_EQ(ws[1].sizes(), (Shape{4, 2}));
  expect_error<RuntimeError>([&] { x.split_with_sizes({2, 2}); }, "sum exactly to 5");
  expect_error<RuntimeError>([&] { x.split_with_sizes({6, -1}); }, "[6, -1]");
  expect_error<RuntimeError>([&] { x.split(-1); }, "split_size=-1");
  expect_error<RuntimeError>([&] { x.split(0); }, "dimension size of 5");
  expect_error<RuntimeError>([] { scalar_tensor(1.0).split(1); }, "1-dimensional");
}

TEST(JoinChunk, PyTorchSizes) {
  auto sizes = [](const TL& parts, int64_t d) {
    L s;
    for (const Tensor& p : parts) s.push_back(p.size(d));
    return s;
  };
  EXPECT_EQ(sizes(arange(10).chunk(3), 0), (L{4, 4, 2}));
  EXPECT_EQ(sizes(arange(6).chunk(4), 0), (L{2, 2, 2}));  // fewer chunks than asked, like PyTorch
  EXPECT_EQ(sizes(zeros({2, 5}).chunk(2, -1), 1), (L{3, 2}));
  EXPECT_EQ(sizes(zeros({0}).chunk(3), 0), (L{0, 0, 0}));
  expect_error<RuntimeError>([] { arange(4).chunk(0); }, "got: 0");
}

TEST(JoinUnbind, ValuesAndErrors) {
  Tensor x = tensor({{1, 2, 3}, {4, 5, 6}});
  TL rows = x.unbind();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].to_vector<int64_t>(), (L{4, 5, 6}));
  TL cols = x.unbind(-1);
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[2].sizes(), (Shape{2}));
  EXPECT_EQ(cols[2].to_vector<int64_t>(), (L{3, 6}));
  expect_error<IndexError>([] { scalar_tensor(1.0).unbind(); }, "no dimensions");
}

TEST(JoinSplit, Gradcheck) {
  gradcheck_both([](const TL& x) { return x[0].split(2, 1); }, {2, 5});
  gradcheck_both([](const TL& x) { return x[0].split_with_sizes({1, 0, 2}, 0); }, {3, 2});
  gradcheck_both([](const TL& x) { return x[0].chunk(2, -1); }, {2, 3});
  gradcheck_both([](const TL& x) { return x[0].unbind(1); }, {2, 3});
  // Only some pieces used: the others get no gradient.
  gradcheck_both([](const TL& x) { return TL{x[0].chunk(3, 0)[1] * 2.0}; }, {6, 2});
}

// ---- repeat / repeat_interleave -----------------------------------------------------------------

TEST(JoinRepeat, ValuesAndErrors) {
  Tensor x = tensor({{1, 2}, {3, 4}});
  Tensor r = x.repeat({2, 3});
  EXPECT_EQ(r.sizes(), (Shape{4, 6}));
  EXPECT_EQ(r.to_vector<int64_t>(), (L{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4, 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  Tensor lead = tensor({1, 2}).repeat({2, 1, 2});
  EXPECT_EQ(lead.sizes(), (Shape{2, 1, 4}));
  EXPECT_EQ(lead.to_vector<int64_t>(), (L{1, 2, 1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(x.repeat({0, 1}).sizes(), (Shape{0, 2}));
  expect_error<RuntimeError>([&] { x.repeat({2}); }, "repeats [2] for a tensor of shape [2, 2]");
  expect_error<RuntimeError>([&] { x.repeat({1, -2}); }, "negative dimension -2");
  gradcheck_both([](const TL& x) { return TL{x[0].repeat({2, 1, 3})}; }, {2, 3});
}

TEST(JoinRepeatInterleave, IntRepeats) {
  Tensor x = tensor({{1, 2}, {3, 4}});
  EXPECT_EQ(x.repeat_interleave(2).to_vector<int64_t>(), (L{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(x.repeat_interleave(2).sizes(), (Shape{8}));
  Tensor r = x.repeat_interleave(3, -1);
  EXPECT_EQ(r.sizes(), (Shape{2, 6}));
  EXPECT_EQ(r.to_vector<int64_t>(), (L{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
  EXPECT_EQ(repeat_interleave(x, 2, 0).to_vector<int64_t>(), (L{1, 2, 1, 2, 3, 4, 3, 4}));
  expect_error<RuntimeError>([&] { x.repeat_interleave(-1); }, "got -1");
  gradcheck_both([](const TL& x) { return TL{x[0].repeat_interleave(2, 1)}; }, {2, 3});
  gradcheck_both([](const TL& x) { return TL{x[0].repeat_interleave(3)}; }, {2, 2});
}

TEST(JoinRepeatInterleave, TensorRepeats) {
  Tensor x = tensor({{1, 2}, {3, 4}});
  Tensor r = x.repeat_interleave(tensor({1, 2}), 0);
  EXPECT_EQ(r.sizes(), (Shape{3, 2}));
  EXPECT_EQ(r.to_vector<int64_t>(), (L{1, 2, 3, 4, 3, 4}));
  EXPECT_EQ(x.repeat_interleave(tensor({0, 1, 2, 0})).to_vector<int64_t>(), (L{2, 3, 3}));
  EXPECT_EQ(x.repeat_interleave(tensor(2), 1).sizes(), (Shape{2, 4}));
  expect_error<RuntimeError>(
      [&] {
        x.repeat_interleave(tensor({1, 2, 3}), 1);
      },
      "repeats.size(0) = 3 and input.size(1) = 2");
  expect_error<RuntimeError>([&] { x.repeat_interleave(tensor({1, -2}), 0); }, "got -2 at position 1");
  expect_error<RuntimeError>([&] { x.repeat_interleave(tensor({1.0, 2.0}), 0); }, "got float32");
  Tensor reps = tensor({2, 0, 1});
  gradcheck_both([reps](const TL& x) { return TL{x[0].repeat_interleave(reps, 1)}; }, {2, 3});
}

// index_add_ / index_copy_ / index_fill_ along an inner dim (the CPU backend scatters in one pass
// there) against element loops over the same data: duplicate indices add in index order, and
// the last duplicate's value wins a copy.
TEST(IndexInnerDim, MatchesElementLoops) {
  const Tensor x = leaf({3, 4, 5}, 11).detach(), src = leaf({3, 5, 5}, 12).detach();
  const std::vector<int64_t> idx = {2, 0, 2, 3, 0};
  const Tensor index = tensor({2, 0, 2, 3, 0}, kInt64);
  const D xv = x.to_vector<double>(), sv = src.to_vector<double>();
  auto at = [](int64_t i, int64_t j, int64_t k, int64_t J) { return (i * J + j) * 5 + k; };
  D added = xv, copied = xv, filled = xv;
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t q = 0; q < 5; ++q) {
      for (int64_t k = 0; k < 5; ++k) {
        added[at(i, idx[q], k, 4)] += sv[at(i, q, k, 5)];
        copied[at(i, idx[q], k, 4)] = sv[at(i, q, k, 5)];
        filled[at(i, idx[q], k, 4)] = -1.5;
      }
    }
  }
  EXPECT_EQ(x.clone().index_add_(1, index, src).to_vector<double>(), added);
  EXPECT_EQ(x.clone().index_copy_(1, index, src).to_vector<double>(), copied);
  EXPECT_EQ(x.clone().index_fill_(1, index, -1.5).to_vector<double>(), filled);
  // The last dim too, on a transposed (non-contiguous) destination.
  Tensor xt = x.clone().transpose(1, 2);  // (3, 5, 4)
  xt.index_fill_(2, index, 7.0);
  D filled_t = xv;
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t q : idx) {
      for (int64_t k = 0; k < 5; ++k) filled_t[at(i, q, k, 4)] = 7.0;
    }
  }
  EXPECT_EQ(xt.transpose(1, 2).contiguous().to_vector<double>(), filled_t);
}
