// Python-style indexing: Tensor::index (t[...]) and Tensor::index_put_ (t[...] = v).
#include <gtest/gtest.h>

#include "testing.h"
#include "twig/core.h"

using namespace twig;
using namespace twig::indexing;
using twig::testing::expect_error;
using twig::testing::gradcheck_both;
using twig::testing::leaf;
using twig::testing::noncontiguous;
using TL = TensorList;

namespace {

using D = std::vector<double>;
using L = std::vector<int64_t>;

bool shares_storage(const Tensor& a, const Tensor& b) { return a.storage().get() == b.storage().get(); }

// 0..11 as (3, 4) int64.
Tensor grid() { return arange(12).view({3, 4}); }

}  // namespace

// ---- basic indexing: views ------------------------------------------------------------------------

TEST(IndexBasic, IntegersAndNegative) {
  Tensor x = grid();
  EXPECT_EQ(x.index({1}).to_vector<int64_t>(), (L{4, 5, 6, 7}));
  EXPECT_EQ(x.index({-1, -2}).item<int64_t>(), 10);
  EXPECT_EQ(x.index({-1, -2}).dim(), 0);
  EXPECT_EQ(x.index({Slice(), 2}).to_vector<int64_t>(), (L{2, 6, 10}));
}

TEST(IndexBasic, SlicesClampLikePython) {
  Tensor x = grid();
  EXPECT_EQ(x.index({Slice(1, std::nullopt)}).sizes(), (Shape{2, 4}));
  EXPECT_EQ(x.index({Slice(), Slice(1, 3)}).to_vector<int64_t>(), (L{1, 2, 5, 6, 9, 10}));
  EXPECT_EQ(x.index({Slice(), Slice(std::nullopt, std::nullopt, 2)}).to_vector<int64_t>(), (L{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(x.index({Slice(-2, 100)}).to_vector<int64_t>(), (L{4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(x.index({Slice(-100, 1)}).sizes(), (Shape{1, 4}));
  EXPECT_EQ(x.index({Slice(2, 1)}).sizes(), (Shape{0, 4}));
  EXPECT_EQ(x.index({Slice(1, std::nullopt, 5), Slice(3, std::nullopt)}).to_vector<int64_t>(), (L{7}));
}

TEST(IndexBasic, EllipsisAndNone) {
  Tensor x = arange(24).view({2, 3, 4});
  Tensor e = x.index({Ellipsis, 1});
  EXPECT_EQ(e.sizes(), (Shape{2, 3}));
  EXPECT_EQ(e.to_vector<int64_t>(), (L{1, 5, 9, 13, 17, 21}));
  EXPECT_EQ(x.index({1, Ellipsis, 2}).to_vector<int64_t>(), (L{14, 18, 22}));
  EXPECT_EQ(x.index({Ellipsis}).sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(x.index({None}).sizes(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(x.index({Slice(), None, 0, None}).sizes(), (Shape{2, 1, 1, 4}));
  EXPECT_EQ(x.index({Ellipsis, None}).sizes(), (Shape{2, 3, 4, 1}));
  EXPECT_EQ(x.index({0, Ellipsis, None, 1}).sizes(), (Shape{3, 1}));
  EXPECT_EQ(scalar_tensor(3.0).index({None}).sizes(), (Shape{1}));
}

TEST(IndexBasic, ResultIsAViewSharingStorage) {
  Tensor x = zeros({3, 4});
  Tensor v = x.index({Slice(1, std::nullopt), 2});
  EXPECT_TRUE(shares_storage(v, x));
  v.fill_(7.0);
  EXPECT_EQ(x.to_vector<float>()[6], 7.0f);
  EXPECT_EQ(x.to_vector<float>()[10], 7.0f);
  EXPECT_EQ(x.sum().item<double>(), 14.0);
  Tensor all = x.index({});
  EXPECT_FALSE(all.is_same(x));
  EXPECT_TRUE(shares_storage(all, x));
}

TEST(IndexBasic, Errors) {
  Tensor x = grid();
  expect_error<IndexError>([&] { x.index({5}); }, "index 5 is out of bounds for dimension 0 with size 3");
  expect_error<IndexError>([&] { x.index({Slice(), -5}); }, "index -5 is out of bounds for dimension 1 with size 4");
  expect_error<IndexError>([&] { x.index({0, 0, 0}); }, "too many indices for tensor of dimension 2");
  expect_error<IndexError>([&] { x.index({Ellipsis, 0, Ellipsis}); }, "single ellipsis");
  expect_error<ValueError>([&] { x.index({Slice(std::nullopt, std::nullopt, 0)}); },
                           "step must be greater than zero, got 0");
  expect_error<IndexError>([] { scalar_tensor(1.0).index({0}); }, "dimension 0");
}

TEST(IndexBasic, Gradcheck) {
  gradcheck_both(
      [](const TL& x) {
        return TL{x[0].index({Slice(1, std::nullopt), Slice(std::nullopt, std::nullopt, 2)})};
      },
      {3, 4});
  gradcheck_both([](const TL& x) { return TL{x[0].index({-1, Ellipsis, None})}; }, {3, 4});
  gradcheck_both([](const TL& x) { return TL{x[0].index({Ellipsis, 1})}; }, {2, 3, 2});
}

// ---- advanced indexing: copies ------------------------------------------------------------------

TEST(IndexMask, FullMaskSelectsLikeMaskedSelect) {
  Tensor x = grid();
  Tensor m = x.gt(8) | x.lt(2);
  Tensor y = x.index({m});
  EXPECT_EQ(y.sizes(), (Shape{5}));
  EXPECT_EQ(y.to_vector<int64_t>(), (L{0, 1, 9, 10, 11}));
  EXPECT_FALSE(shares_storage(y, x));
  y.fill_(-1);  // a copy: the base is untouched
  EXPECT_EQ(x.to_vector<int64_t>()[0], 0);
}

TEST(IndexMask, PartialMasksAndCombinations) {
  Tensor x = arange(24).view({2, 3, 4});
  Tensor rows = tensor({true, false, true});
  Tensor r = x.index({Slice(), rows});
  EXPECT_EQ(r.sizes(), (Shape{2, 2, 4}));
  EXPECT_EQ(r.to_vector<int64_t>(), (L{0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23}));
  Tensor m01 = tensor({{true, false, false}, {false, false, true}});
  Tensor s = x.index({m01});  // a 2-D mask over dims 0 and 1
  EXPECT_EQ(s.sizes(), (Shape{2, 4}));
  EXPECT_EQ(s.to_vector<int64_t>(), (L{0, 1, 2, 3, 20, 21, 22, 23}));
  Tensor last = x.index({Ellipsis, tensor({false, true, false, true})});
  EXPECT_EQ(last.sizes(), (Shape{2, 3, 2}));
  EXPECT_EQ(last.to_vector<int64_t>()[1], 3);
  Tensor mixed = x.index({1, rows, Slice(1, 3)});
  EXPECT_EQ(mixed.sizes(), (Shape{2, 2}));
  EXPECT_EQ(mixed.to_vector<int64_t>(), (L{13, 14, 21, 22}));
  EXPECT_EQ(x.index({scalar_tensor(true)}).sizes(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(x.index({scalar_tensor(false)}).sizes(), (Shape{0, 2, 3, 4}));
  EXPECT_EQ(x.index({zeros({2, 3}, kBool)}).sizes(), (Shape{0, 4}));
}

TEST(IndexMask, ShapeMismatch) {
  Tensor x = grid();
  expect_error<IndexError>(
      [&] {
        x.index({tensor({true, false})});
      },
      "The shape of the mask [2] at index 0 does not match the shape of the indexed tensor [3, 4] at index 0");
  expect_error<IndexError>([&] { x.index({Slice(), tensor({true})}); }, "at index 1");
  expect_error<IndexError>([&] { x.index({zeros({3, 4, 1}, kBool)}); }, "too many indices");
}

TEST(IndexInt, SelectsAlongOneDim) {
  Tensor x = grid();
  Tensor r = x.index({tensor({2, 0, -1})});
  EXPECT_EQ(r.sizes(), (Shape{3, 4}));
  EXPECT_EQ(r.to_vector<int64_t>(), (L{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_FALSE(shares_storage(r, x));
  Tensor c = x.index({Slice(1, std::nullopt), tensor({{3, 0}, {1, 1}})});
  EXPECT_EQ(c.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(c.to_vector<int64_t>(), (L{7, 4, 5, 5, 11, 8, 9, 9}));
  Tensor s = x.index({Ellipsis, tensor(1)});  // 0-d index removes the dim, like an integer
  EXPECT_EQ(s.sizes(), (Shape{3}));
  EXPECT_EQ(s.to_vector<int64_t>(), (L{1, 5, 9}));
  EXPECT_EQ(x.index({tensor({1, 2}, kInt32), 0}).to_vector<int64_t>(), (L{4, 8}));
  EXPECT_EQ(x.index({zeros({0}, kInt64)}).sizes(), (Shape{0, 4}));
}

TEST(IndexInt, Errors) {
  Tensor x = grid();
  expect_error<IndexError>(
      [&] {
        x.index({Slice(), tensor({1, 4})});
      },
      "index 4 is out of bounds for dimension 1 with size 4");
  expect_error<IndexError>([&] { x.index({tensor({-4})}); }, "index -4 is out of bounds for dimension 0 with size 3");
  expect_error<IndexError>([&] { x.index({tensor({1.0})}); }, "must be long, int, byte or bool tensors, got float32");
  // Several tensor indices: PyTorch 1.13's messages.
  expect_error<IndexError>(
      [&] {
        x.index({tensor({0, 1}), tensor({1, 2, 0})});
      },
      "shape mismatch: indexing tensors could not be broadcast together with shapes [2], [3]");
  expect_error<IndexError>(
      [&] {
        x.index({tensor({0, 1}), tensor({1, 4})});
      },
      "index 4 is out of bounds for dimension 1 with size 4");
  expect_error<IndexError>(
      [&] {
        x.index({tensor({true, false, true}), tensor({0, 1, 2})});
      },
      "shape mismatch: indexing tensors could not be broadcast together with shapes [2], [3]");
}

// Two or more tensor indices, by hand on grid() (x[i][j] = 4 * i + j); the PyTorch fixtures
// (selection/index/*) check the same against torch.
TEST(IndexInt, SeveralTensors) {
  Tensor x = grid();
  // pairs (0, 1), (2, 3), (2, 0)
  Tensor pairs = x.index({tensor({0, 2, 2}), tensor({1, 3, 0})});
  EXPECT_EQ(pairs.dtype(), kInt64);
  EXPECT_EQ(pairs.sizes(), (Shape{3}));
  EXPECT_EQ(pairs.to_vector<int64_t>(), (L{1, 11, 8}));
  // (2, 1) with (2,) broadcast to (2, 2)
  Tensor outer = x.index({tensor({{0}, {2}}), tensor({-1, 1})});
  EXPECT_EQ(outer.sizes(), (Shape{2, 2}));
  EXPECT_EQ(outer.to_vector<int64_t>(), (L{3, 1, 11, 9}));
  // a mask and an index: rows 0 and 2, columns 3 and 0
  EXPECT_EQ(x.index({tensor({true, false, true}), tensor({3, 0})}).to_vector<int64_t>(), (L{3, 8}));
  // a 0-d True adds a dim of size 1 that broadcasts away
  EXPECT_EQ(x.index({tensor(true), tensor({1, 0})}).sizes(), (Shape{2, 4}));
  // adjacent tensor indices keep their place, separated ones go to the front
  Tensor y = arange(2 * 3 * 4).view({2, 3, 4});
  Tensor kept = y.index({Slice(), tensor({0, 2}), tensor({3, 1})});
  EXPECT_EQ(kept.sizes(), (Shape{2, 2}));
  EXPECT_EQ(kept.to_vector<int64_t>(), (L{3, 9, 15, 21}));
  Tensor front = y.index({tensor({1, 0}), Slice(), tensor({2, 2})});
  EXPECT_EQ(front.sizes(), (Shape{2, 3}));
  EXPECT_EQ(front.to_vector<int64_t>(), (L{14, 18, 22, 2, 6, 10}));
  Tensor split = y.index({tensor({1}), None, tensor({0})});  // None separates them too
  EXPECT_EQ(split.sizes(), (Shape{1, 1, 4}));                // y[1, 0, :]: 12..15
  EXPECT_EQ(split.to_vector<int64_t>(), (L{12, 13, 14, 15}));
}

TEST(IndexAdvanced, GradcheckSeveralTensors) {
  // duplicates accumulate; adjacent and separated tensor indices
  Tensor i = tensor({0, 2, 2, 1}), j = tensor({3, 0, 0, 1});
  gradcheck_both([i, j](const TL& x) { return TL{x[0].index({i, j})}; }, {3, 4});
  gradcheck_both([i, j](const TL& x) { return TL{x[0].index({i, Slice(), j})}; }, {3, 2, 4});
  gradcheck_both([i, j](const TL& x) { return TL{x[0].index({Slice(), i, j})}; }, {2, 3, 4});
  Tensor rows = tensor({true, false, true});
  gradcheck_both([rows](const TL& x) { return TL{x[0].index({rows, tensor({{1}, {3}})})}; }, {3, 4});
}

TEST(IndexAdvanced, Gradcheck) {
  Tensor m = tensor({{true, false, true, false}, {false, false, true, true}, {true, true, false, false}});
  gradcheck_both([m](const TL& x) { return TL{x[0].index({m})}; }, {3, 4});
  Tensor rows = tensor({false, true, true});
  gradcheck_both([rows](const TL& x) { return TL{x[0].index({rows, Slice(std::nullopt, std::nullopt, 2)})}; }, {3, 4});
  Tensor idx = tensor({{2, 0}, {2, 3}});
  gradcheck_both([idx](const TL& x) { return TL{x[0].index({Slice(1, std::nullopt), idx})}; }, {3, 4});
  Tensor back = tensor({1, -1});
  gradcheck_both([back](const TL& x) { return TL{x[0].index({Ellipsis, back, None})}; }, {2, 3, 2});
  // Repeated indices accumulate their gradients.
  Tensor x = leaf({3});
  x.index({tensor({0, 0, 2})}).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (D{2, 0, 1}));
}

// ---- index_put_ -----------------------------------------------------------------------------------

TEST(IndexPut, MaskAssignmentForPruning) {
  Tensor mask = ones({2, 3}, kBool);
  uint32_t v0 = mask.version();
  mask.index_put_({Slice(), 1}, 0);
  EXPECT_EQ(mask.to_vector<bool>(), (std::vector<bool>{true, false, true, true, false, true}));
  EXPECT_GT(mask.version(), v0);
  Tensor w = tensor({{1.0, -2.0, 3.0}, {-4.0, 5.0, -6.0}});
  uint32_t w0 = w.version();
  w.index_put_({w.lt(0)}, 0);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 0, 3, 0, 5, 0}));
  EXPECT_GT(w.version(), w0);
  w.index_put_({mask.logical_not()}, 9.5);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 9.5, 3, 0, 9.5, 0}));
}

TEST(IndexPut, TensorValuesBroadcast) {
  Tensor x = zeros({3, 4}, kInt64);
  x.index_put_({tensor({2, 0})}, tensor({{1, 2, 3, 4}, {5, 6, 7, 8}}));
  EXPECT_EQ(x.to_vector<int64_t>(), (L{5, 6, 7, 8, 0, 0, 0, 0, 1, 2, 3, 4}));
  x.index_put_({Slice(), Slice(1, 3)}, tensor({10, 20}));  // (2,) broadcast over (3, 2)
  EXPECT_EQ(x.to_vector<int64_t>(), (L{5, 10, 20, 8, 0, 10, 20, 0, 1, 10, 20, 4}));
  x.index_put_({1}, tensor({{-1}}).view({1}));
  EXPECT_EQ(x.index({1}).to_vector<int64_t>(), (L{-1, -1, -1, -1}));
  x.index_put_({x.gt(9)}, tensor({100, 101, 102, 103}));  // masked values in row-major order
  EXPECT_EQ(x.to_vector<int64_t>(), (L{5, 100, 101, 8, -1, -1, -1, -1, 1, 102, 103, 4}));
  x.index_put_({Ellipsis, None, -1}, scalar_tensor(7));
  EXPECT_EQ(x.index({Slice(), 3}).to_vector<int64_t>(), (L{7, 7, 7}));
  Tensor f = zeros({2}, kFloat64);
  f.index_put_({0}, tensor({2.5f}).view({}));  // value converted to the destination dtype
  EXPECT_EQ(f.to_vector<double>(), (D{2.5, 0}));
}

TEST(IndexPut, WritesThroughNonContiguousViewsAndOverlaps) {
  Tensor base = arange(6).view({2, 3});
  Tensor t = base.t();  // (3, 2) non-contiguous
  t.index_put_({tensor({true, false, true}), 1}, tensor({-3, -5}));
  EXPECT_EQ(base.to_vector<int64_t>(), (L{0, 1, 2, -3, 4, -5}));
  Tensor v = base.index({Slice(), Slice(1, std::nullopt)});
  v.index_put_({Slice(), 0}, 9);
  EXPECT_EQ(base.to_vector<int64_t>(), (L{0, 9, 2, -3, 9, -5}));
  Tensor full = base.t();  // a mask over the whole tensor with a scalar: the masked_fill_ path
  uint32_t v0 = base.version();
  full.index_put_({full.lt(0)}, 0);
  EXPECT_EQ(base.to_vector<int64_t>(), (L{0, 9, 2, 0, 9, 0}));
  EXPECT_GT(base.version(), v0);
  Tensor r = arange(4);
  r.index_put_({Slice(1, std::nullopt)}, r.index({Slice(std::nullopt, 3)}));  // source overlaps the destination
  EXPECT_EQ(r.to_vector<int64_t>(), (L{0, 0, 1, 2}));
}

TEST(IndexPut, Errors) {
  Tensor x = zeros({3, 4});
  expect_error<RuntimeError>(
      [&] {
        x.index_put_({Slice(), 0}, zeros({2}));
      },
      "shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result of shape [3]");
  expect_error<IndexError>([&] { x.index_put_({3}, 1.0); }, "index 3 is out of bounds for dimension 0 with size 3");
  expect_error<IndexError>([&] { x.index_put_({tensor({true, true})}, 1.0); }, "The shape of the mask [2]");
  expect_error<IndexError>(
      [&] {
        x.index_put_({tensor({0, 1}), tensor({0, 1, 2})}, 1.0);
      },
      "could not be broadcast together with shapes [2], [3]");
  Tensor l = leaf({2});
  expect_error<RuntimeError>([&] { l.index_put_({0}, 1.0); }, "index_put_");
  EXPECT_EQ(x.sum().item<double>(), 0.0);  // nothing written by the failed calls
}

TEST(IndexPut, AutogradSelfAndValue) {
  Tensor a = leaf({2, 3}, 1), v = leaf({2}, 2);
  Tensor y = a * 1.0;
  y.index_put_({Slice(), 1}, v);
  EXPECT_NE(y.grad_fn(), nullptr);
  (y * tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, kFloat64)).sum().backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (D{1, 0, 3, 4, 0, 6}));
  EXPECT_EQ(v.grad().to_vector<double>(), (D{2, 5}));
  // A value that does not need grad into a tensor that does; and a value that needs grad into a
  // plain tensor (which starts requiring grad).
  Tensor p = zeros({3}, kFloat64);
  Tensor s = leaf({1}, 3);
  p.index_put_({tensor({0, 2})}, s);
  EXPECT_TRUE(p.requires_grad());
  p.sum().backward();
  EXPECT_EQ(s.grad().to_vector<double>(), (D{2}));
}

TEST(IndexPut, Gradcheck) {
  Tensor m = tensor({{true, false, true}, {false, true, false}});
  auto masked = [m](const TL& x) {
    Tensor y = x[0] * 1.0;
    y.index_put_({m}, x[1]);
    return TL{y};
  };
  EXPECT_GRADCHECK(masked, (TL{leaf({2, 3}, 1), leaf({3}, 2)}));
  EXPECT_GRADCHECK(masked, (TL{noncontiguous({2, 3}, 3).first, leaf({1}, 4)}));
  auto rows = [](const TL& x) {
    Tensor y = x[0] * 1.0;
    y.index_put_({tensor({2, 0}), Slice(1, std::nullopt)}, x[1]);
    return TL{y};
  };
  EXPECT_GRADCHECK(rows, (TL{leaf({3, 3}, 5), leaf({2, 2}, 6)}));
  EXPECT_GRADCHECK(rows, (TL{noncontiguous({3, 3}, 7).first, noncontiguous({2, 2}, 8).first}));
  gradcheck_both(
      [m](const TL& x) {
        Tensor y = x[0] * 2.0;
        y.index_put_({m}, 0);
        return TL{y};
      },
      {2, 3});
  gradcheck_both(
      [](const TL& x) {
        Tensor y = x[0] * 2.0;
        y.index_put_({Ellipsis, 0}, 1.5);
        return TL{y};
      },
      {2, 3});
}
