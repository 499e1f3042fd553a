// matmul / mm / bmm / mv / dot / addmm / cdist: values against naive loops written here, every
// error path, and float64 gradchecks on contiguous and non-contiguous inputs.
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "testing.h"

using namespace twig;
using twig::testing::expect_error;
using twig::testing::leaf;
using twig::testing::noncontiguous;

namespace {

// A dense row-major result of a reference computation.
struct Ref {
  Shape shape;
  std::vector<double> values;
};

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t v : s) n *= v;
  return n;
}

// Row-major flat index of `idx` (right-aligned) into shape s, with size-1 dims broadcast.
int64_t broadcast_index(const Shape& s, const Shape& idx) {
  int64_t flat = 0, lead = static_cast<int64_t>(idx.size() - s.size());
  for (size_t d = 0; d < s.size(); ++d) {
    int64_t i = s[d] == 1 ? 0 : idx[lead + d];
    flat = flat * s[d] + i;
  }
  return flat;
}

// torch.matmul by the definition: 1-D operands promoted and squeezed, batch dims broadcast, a
// triple loop per matrix.
Ref naive_matmul(const Tensor& a, const Tensor& b) {
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  Shape as = a.sizes(), bs = b.sizes();
  if (a.dim() == 1) as.insert(as.begin(), 1);
  if (b.dim() == 1) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  Shape batch = broadcast_shapes(ab, bb);
  const int64_t B = numel_of(batch);
  std::vector<double> out(static_cast<size_t>(B * M * N), 0.0);
  for (int64_t bi = 0; bi < B; ++bi) {
    Shape idx(batch.size());
    for (int64_t r = bi, d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      idx[d] = r % batch[d];
      r /= batch[d];
    }
    const int64_t ao = broadcast_index(ab, idx) * M * K, bo = broadcast_index(bb, idx) * K * N;
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < K; ++k) acc += av[ao + i * K + k] * bv[bo + k * N + j];
        out[(bi * M + i) * N + j] = acc;
      }
    }
  }
  Shape shape = batch;
  if (a.dim() != 1) shape.push_back(M);
  if (b.dim() != 1) shape.push_back(N);
  return {shape, out};
}

void expect_matches(const Tensor& got, const Ref& want, double tol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.shape) << what;
  std::vector<double> g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.values.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want.values[i], tol * (1.0 + std::abs(want.values[i]))) << what << " at flat index " << i;
  }
}

Tensor random_of(const Shape& shape, Dtype dtype, uint64_t seed) {
  Generator g(seed);
  if (is_floating(dtype)) return randn(shape, dtype, &g);
  return randint(-5, 6, shape, dtype, &g);
}

double tol_for(Dtype d) { return d == kFloat32 ? 1e-5 : d == kFloat64 ? 1e-12 : 0.0; }

std::string shape_str(const Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "] " + dtype_name(t.dtype());
}

std::string shapes_str(const Tensor& a, const Tensor& b) { return shape_str(a) + " @ " + shape_str(b); }

struct ShapePair {
  Shape a, b;
};

const std::vector<ShapePair>& matmul_shapes() {
  static const std::vector<ShapePair> pairs = {
      {{3}, {3}},
      {{2, 3}, {3}},
      {{3}, {3, 4}},
      {{2, 3}, {3, 4}},
      {{1, 1}, {1, 1}},
      {{1, 5}, {5, 1}},
      {{5, 1}, {1, 4}},
      {{4, 2, 3}, {4, 3, 5}},
      {{2, 1, 3, 4}, {5, 4, 6}},
      {{3, 4}, {2, 4, 5}},
      {{2, 3, 4}, {4, 5}},
      {{2, 3, 4}, {4}},
      {{4}, {2, 4, 5}},
      {{1, 3, 4}, {6, 4, 2}},
      {{2, 1, 2, 3}, {1, 3, 3, 2}},
      // K = 0 gives zeros; empty M, N or batch give empty results.
      {{2, 0}, {0, 3}},
      {{0}, {0}},
      {{2, 2, 0}, {0, 3}},
      {{0, 3}, {3, 4}},
      {{2, 3}, {3, 0}},
      {{0, 2, 3}, {3, 4}},
      {{2, 0, 3}, {2, 3, 4}},
  };
  return pairs;
}

}  // namespace

// ---- values ---------------------------------------------------------------------------------------

TEST(LinalgMatmul, MatchesNaiveLoopAllShapesAndDtypes) {
  uint64_t seed = 1;
  for (Dtype dt : {kFloat32, kFloat64, kInt64, kInt32}) {
    for (const ShapePair& sp : matmul_shapes()) {
      Tensor a = random_of(sp.a, dt, seed++), b = random_of(sp.b, dt, seed++);
      Tensor out = matmul(a, b);
      EXPECT_EQ(out.dtype(), dt);
      expect_matches(out, naive_matmul(a, b), tol_for(dt), shapes_str(a, b));
    }
  }
}

TEST(LinalgMatmul, ZeroSizedContractionGivesZeros) {
  Tensor out = matmul(ones({2, 0}), ones({0, 3}));
  EXPECT_EQ(out.sizes(), (Shape{2, 3}));
  EXPECT_EQ(out.to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(ones({0}).dot(ones({0})).item<double>(), 0.0);
}

TEST(LinalgMatmul, TransposedAndStridedOperands) {
  uint64_t seed = 100;
  for (Dtype dt : {kFloat32, kFloat64, kInt64}) {
    const double tol = tol_for(dt);
    Tensor x = random_of({5, 4}, dt, seed++), y = random_of({6, 5}, dt, seed++);
    // (4, 5) @ (5, 6) from transposed views on both sides.
    Tensor at = x.t(), bt = y.t();
    expect_matches(matmul(at, bt), naive_matmul(at, bt), tol, "both transposed");
    expect_matches(matmul(at, bt.contiguous()), naive_matmul(at, bt), tol, "a transposed");
    expect_matches(matmul(at.contiguous(), bt), naive_matmul(at, bt), tol, "b transposed");
    // Every other column: neither stride 1 (needs a copy), and every other row: stride 1, ld 2K.
    Tensor wide = random_of({4, 10}, dt, seed++), tall = random_of({10, 3}, dt, seed++);
    Tensor cols = wide.slice(1, 0, std::nullopt, 2), rows = tall.slice(0, 0, std::nullopt, 2);
    expect_matches(matmul(cols, rows), naive_matmul(cols, rows), tol, "step-2 slices");
    Tensor tall_rows = random_of({8, 5}, dt, seed++).slice(0, 0, std::nullopt, 2);  // (4, 5) ld 10
    expect_matches(matmul(tall_rows, bt), naive_matmul(tall_rows, bt), tol, "row stride 2");
    // Broadcast (stride-0) operands: expanded rows and an expanded vector.
    Tensor row = random_of({1, 5}, dt, seed++).expand({4, 5});
    expect_matches(matmul(row, bt), naive_matmul(row, bt), tol, "expanded rows");
    Tensor v = random_of({1}, dt, seed++).expand({5});
    expect_matches(matmul(at, v), naive_matmul(at, v), tol, "expanded vector");
    // 1-D operands with stride != 1.
    Tensor sv = random_of({10}, dt, seed++).slice(0, 0, std::nullopt, 2);
    expect_matches(matmul(at, sv), naive_matmul(at, sv), tol, "strided vector right");
    Tensor sv4 = random_of({8}, dt, seed++).slice(0, 1, std::nullopt, 2);
    expect_matches(matmul(sv4, at), naive_matmul(sv4, at), tol, "strided vector left");
    expect_matches(sv.dot(sv), naive_matmul(sv, sv), tol, "strided dot");
    // Batched: transposed matrices, permuted (non-collapsible) batch dims, broadcast batch.
    Tensor bx = random_of({3, 5, 4}, dt, seed++).transpose(1, 2);  // (3, 4, 5)
    Tensor by = random_of({3, 5, 6}, dt, seed++);
    expect_matches(matmul(bx, by), naive_matmul(bx, by), tol, "batched transposed");
    Tensor px = random_of({2, 3, 4, 5}, dt, seed++).permute({1, 0, 2, 3});  // (3, 2, 4, 5)
    Tensor py = random_of({3, 1, 5, 2}, dt, seed++).expand({3, 2, 5, 2});
    expect_matches(matmul(px, py), naive_matmul(px, py), tol, "permuted batch");
    Tensor ex = random_of({4, 5}, dt, seed++).expand({2, 3, 4, 5});
    expect_matches(matmul(ex, py.select(1, 0)), naive_matmul(ex, py.select(1, 0)), tol, "expanded batch");
    // Foldable batched left operand with a size-1 middle dim, and a non-foldable one.
    Tensor f = random_of({2, 1, 3, 5}, dt, seed++);
    expect_matches(matmul(f, bt), naive_matmul(f, bt), tol, "folded batch");
    Tensor nf = random_of({3, 2, 5}, dt, seed++).transpose(0, 1);  // (2, 3, 5), batch not collapsible
    expect_matches(matmul(nf, bt), naive_matmul(nf, bt), tol, "non-foldable batch");
  }
}

TEST(LinalgMatmul, NamedVariantsAgreeWithMatmul) {
  Tensor a = random_of({3, 4}, kFloat64, 1), b = random_of({4, 2}, kFloat64, 2);
  expect_matches(mm(a, b), naive_matmul(a, b), 1e-12, "mm");
  expect_matches(a.mm(b), naive_matmul(a, b), 1e-12, "Tensor::mm");
  Tensor ba = random_of({2, 3, 4}, kFloat64, 3), bb = random_of({2, 4, 5}, kFloat64, 4);
  expect_matches(bmm(ba, bb), naive_matmul(ba, bb), 1e-12, "bmm");
  expect_matches(ba.bmm(bb), naive_matmul(ba, bb), 1e-12, "Tensor::bmm");
  Tensor v = random_of({4}, kFloat64, 5);
  expect_matches(a.mv(v), naive_matmul(a, v), 1e-12, "mv");
  expect_matches(v.dot(v), naive_matmul(v, v), 1e-12, "dot");
  expect_matches(a.matmul(b), naive_matmul(a, b), 1e-12, "Tensor::matmul");
  EXPECT_EQ(v.dot(v).dim(), 0);
}

TEST(LinalgMatmul, Float32MatchesFloat64OnLargerShapes) {
  for (int64_t n : {17, 64, 129}) {
    Tensor a = random_of({n, n + 3}, kFloat64, static_cast<uint64_t>(n)), b = random_of({n + 3, n - 1}, kFloat64, 7);
    Ref want = naive_matmul(a, b);
    expect_matches(matmul(a.to(kFloat32), b.to(kFloat32)), want, 1e-4, "float32 n=" + std::to_string(n));
    expect_matches(matmul(a.t().contiguous().to(kFloat32).t(), b.to(kFloat32)), want, 1e-4, "float32 transposed");
  }
}

TEST(LinalgAddmm, MatchesDefinitionWithBroadcastSelf) {
  Tensor m1 = random_of({3, 4}, kFloat64, 1), m2 = random_of({4, 5}, kFloat64, 2);
  Ref prod = naive_matmul(m1, m2);
  for (const Shape& s : {Shape{3, 5}, Shape{5}, Shape{3, 1}, Shape{1, 5}, Shape{}}) {
    Tensor self = random_of(s, kFloat64, 3);
    Tensor out = addmm(self, m1, m2, 0.5, 2.0);
    std::vector<double> sv = self.expand({3, 5}).to_vector<double>();
    Ref want = prod;
    for (size_t i = 0; i < want.values.size(); ++i) want.values[i] = 0.5 * sv[i] + 2.0 * prod.values[i];
    expect_matches(out, want, 1e-12, "addmm self " + shape_str(self));
  }
  // beta = 0 ignores self, NaN included (PyTorch's rule).
  Tensor nan_self = full({3, 5}, std::numeric_limits<double>::quiet_NaN(), kFloat64);
  expect_matches(addmm(nan_self, m1, m2, 0, 1), prod, 1e-12, "beta 0");
  // Transposed operands and int64.
  Tensor t1 = random_of({4, 3}, kFloat64, 5).t(), t2 = random_of({5, 4}, kFloat64, 6).t();
  Ref tp = naive_matmul(t1, t2);
  for (double& v : tp.values) v += 1.0;
  expect_matches(addmm(ones({5}, kFloat64), t1, t2), tp, 1e-12, "transposed");
  Tensor i1 = random_of({2, 3}, kInt64, 7), i2 = random_of({3, 2}, kInt64, 8);
  Ref ip = naive_matmul(i1, i2);
  for (double& v : ip.values) v = 2 * v + 3;
  expect_matches(addmm(full({2, 2}, 1, kInt64), i1, i2, 3, 2), ip, 0.0, "int64");
  // K = 0: beta * self only.
  expect_matches(addmm(ones({2, 3}), ones({2, 0}), ones({0, 3}), 2), Ref{{2, 3}, std::vector<double>(6, 2.0)}, 0.0,
                 "K=0");
}

namespace {

Ref naive_cdist(const Tensor& x1, const Tensor& x2, double p) {
  // Batch dims are broadcast by expanding both to a common batch first.
  Shape b1(x1.sizes().begin(), x1.sizes().end() - 2), b2(x2.sizes().begin(), x2.sizes().end() - 2);
  Shape batch = broadcast_shapes(b1, b2);
  const int64_t P = x1.size(x1.dim() - 2), R = x2.size(x2.dim() - 2), M = x1.size(x1.dim() - 1);
  Shape s1 = batch, s2 = batch;
  s1.insert(s1.end(), {P, M});
  s2.insert(s2.end(), {R, M});
  std::vector<double> a = x1.expand(s1).to_vector<double>(), b = x2.expand(s2).to_vector<double>();
  const int64_t B = numel_of(batch);
  std::vector<double> out;
  for (int64_t bi = 0; bi < B; ++bi) {
    for (int64_t i = 0; i < P; ++i) {
      for (int64_t j = 0; j < R; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < M; ++k) {
          double d = std::abs(a[(bi * P + i) * M + k] - b[(bi * R + j) * M + k]);
          if (p == 0)
            acc += d != 0;
          else if (std::isinf(p))
            acc = std::max(acc, d);
          else
            acc += std::pow(d, p);
        }
        out.push_back(p == 0 || std::isinf(p) ? acc : std::pow(acc, 1.0 / p));
      }
    }
  }
  Shape shape = batch;
  shape.insert(shape.end(), {P, R});
  return {shape, out};
}

}  // namespace

TEST(LinalgCdist, MatchesNaiveLoop) {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    Shape a, b;
  };
  for (const Case& c : {Case{{4, 3}, {5, 3}}, Case{{2, 4, 3}, {2, 5, 3}}, Case{{2, 1, 4, 3}, {3, 5, 3}},
                        Case{{1, 2}, {1, 2}}, Case{{0, 3}, {2, 3}}, Case{{3, 0}, {2, 0}}}) {
    for (double p : {0.0, 0.5, 1.0, 2.0, 3.0, inf}) {
      for (Dtype dt : {kFloat32, kFloat64}) {
        Tensor x1 = random_of(c.a, dt, 1), x2 = random_of(c.b, dt, 2);
        expect_matches(cdist(x1, x2, p), naive_cdist(x1, x2, p), dt == kFloat32 ? 1e-5 : 1e-12,
                       "cdist p=" + std::to_string(p) + " " + shapes_str(x1, x2));
      }
    }
  }
  // Non-contiguous inputs.
  Tensor x1 = random_of({3, 4}, kFloat64, 3).t(), x2 = random_of({3, 6}, kFloat64, 4).t();
  expect_matches(cdist(x1, x2), naive_cdist(x1, x2, 2), 1e-12, "transposed");
}

TEST(LinalgCdist, NearDuplicatePointsKeepRelativeAccuracy) {
  // Large norms, tiny distances: the |a|^2 + |b|^2 - 2ab identity would lose everything here.
  Tensor x1 = tensor({{1000.0f, 1000.0f, 1000.0f}});
  Tensor x2 = tensor({{1000.0f, 1000.0f, 1000.0625f}});
  EXPECT_NEAR(cdist(x1, x2).item<double>(), 0.0625, 0.0625 * 1e-5);
  EXPECT_EQ(cdist(x1, x1).item<double>(), 0.0);
}

// ---- errors -------------------------------------------------------------------------------------

TEST(LinalgErrors, ShapeMismatchNamesBothShapes) {
  expect_error<RuntimeError>(
      [] {
        mm(ones({2, 3}), ones({4, 5}));
      },
      {"mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"});
  expect_error<RuntimeError>(
      [] {
        matmul(ones({2, 3}), ones({4, 5}));
      },
      {"mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"});
  expect_error<RuntimeError>([] { matmul(ones({2, 2, 3}), ones({4, 5})); }, {"2x2x3", "4x5"});
  expect_error<RuntimeError>([] { matmul(ones({2, 3, 4}), ones({3, 4, 5})); }, {"[2, 3, 4]", "[3, 4, 5]"});
  expect_error<RuntimeError>([] { matmul(ones({3}), ones({4})); }, {"inconsistent tensor size", "[3]", "[4]"});
  expect_error<RuntimeError>([] { matmul(ones({2, 3}), ones({4})); }, {"size mismatch", "2x3", "4"});
  expect_error<RuntimeError>([] { matmul(ones({3}), ones({4, 5})); }, {"3", "4x5"});
}

TEST(LinalgErrors, DtypeMismatch) {
  expect_error<RuntimeError>(
      [] {
        matmul(ones({2, 3}), ones({3, 2}, kFloat64));
      },
      {"expected m1 and m2 to have the same dtype, but got: float != double"});
  expect_error<RuntimeError>([] { mm(ones({2, 3}, kFloat64), ones({3, 2})); }, {"double != float"});
  expect_error<RuntimeError>([] { ones({3}).dot(ones({3}, kInt64)); }, {"same dtype", "Float", "Long"});
  expect_error<RuntimeError>(
      [] {
        addmm(ones({2, 2}, kFloat64), ones({2, 3}), ones({3, 2}));
      },
      {"same dtype", "double != float"});
  expect_error<RuntimeError>([] { matmul(ones({2, 2}, kBool), ones({2, 2}, kBool)); }, {"Bool", "[2, 2]"});
}

TEST(LinalgErrors, RankErrors) {
  expect_error<RuntimeError>([] { matmul(scalar_tensor(1.0), ones({2, 2})); }, {"at least 1D", "0D and 2D"});
  expect_error<RuntimeError>([] { matmul(ones({2}), scalar_tensor(1.0)); }, {"at least 1D", "1D and 0D"});
  expect_error<RuntimeError>([] { mm(ones({2}), ones({2, 2})); }, {"self must be a matrix", "[2]"});
  expect_error<RuntimeError>([] { mm(ones({2, 2}), ones({2, 2, 2})); }, {"mat2 must be a matrix", "[2, 2, 2]"});
  expect_error<RuntimeError>([] { bmm(ones({2, 2}), ones({2, 2, 2})); }, {"batch1 must be a 3D tensor", "[2, 2]"});
  expect_error<RuntimeError>([] { bmm(ones({2, 2, 2}), ones({2, 2})); }, {"batch2 must be a 3D tensor"});
  expect_error<RuntimeError>([] { bmm(ones({2, 2, 3}), ones({3, 3, 2})); }, {"[2, 3]", "[3, 3]", "[2, 2, 3]"});
  expect_error<RuntimeError>([] { bmm(ones({2, 2, 3}), ones({2, 4, 2})); }, {"[2, 3]", "[2, 4]"});
  expect_error<RuntimeError>([] { ones({2, 2}).mv(ones({2, 2})); }, {"matrix @ vector", "[2, 2]"});
  expect_error<RuntimeError>([] { ones({2, 3}).mv(ones({2})); }, {"size mismatch", "2x3", "2"});
  expect_error<RuntimeError>([] { ones({2, 2}).dot(ones({2})); }, {"1D tensors expected", "2D and 1D"});
  expect_error<RuntimeError>([] { ones({2}).dot(ones({3})); }, {"inconsistent tensor size", "[2]", "[3]"});
  expect_error<RuntimeError>([] { matmul(Tensor(), ones({2})); }, {"matmul"});
}

TEST(LinalgErrors, AddmmErrors) {
  expect_error<RuntimeError>([] { addmm(ones({2, 2}), ones({2, 3}), ones({4, 2})); }, {"2x3 and 4x2"});
  expect_error<RuntimeError>([] { addmm(ones({3}), ones({2, 3}), ones({3, 2})); }, {"[3]", "[2, 2]"});
  expect_error<RuntimeError>([] { addmm(ones({2, 2, 2}), ones({2, 3}), ones({3, 2})); }, {"[2, 2, 2]"});
  expect_error<RuntimeError>([] { addmm(ones({2}), ones({2}), ones({2, 2})); }, {"mat1 must be a matrix"});
  expect_error<RuntimeError>(
      [] {
        addmm(ones({2, 2}, kInt64), ones({2, 2}, kInt64), ones({2, 2}, kInt64), 0.5);
      },
      {"integral"});
}

TEST(LinalgErrors, CdistErrors) {
  expect_error<RuntimeError>([] { cdist(ones({3}), ones({2, 3})); }, {"at least 2D", "X1", "1D"});
  expect_error<RuntimeError>([] { cdist(ones({2, 3}), ones({3})); }, {"at least 2D", "X2"});
  expect_error<RuntimeError>([] { cdist(ones({2, 3}), ones({2, 4})); }, {"same number of columns", "X1: 3", "X2: 4"});
  expect_error<RuntimeError>([] { cdist(ones({2, 3}, kInt64), ones({2, 3}, kInt64)); }, {"floating", "Long"});
  expect_error<RuntimeError>([] { cdist(ones({2, 3}), ones({2, 3}, kFloat64)); }, {"same dtype"});
  expect_error<RuntimeError>([] { cdist(ones({2, 3}), ones({2, 3}), -1.0); }, {"non-negative", "-1"});
  expect_error<RuntimeError>([] { cdist(ones({2, 2, 3}), ones({3, 2, 3})); }, {"[2, 2, 3]", "[3, 2, 3]"});
}

// ---- gradients ----------------------------------------------------------------------------------

TEST(LinalgGrad, MatmulAllShapesContiguousAndNoncontiguous) {
  uint64_t seed = 10;
  for (const ShapePair& sp : matmul_shapes()) {
    auto fn = [](const TensorList& x) { return TensorList{matmul(x[0], x[1])}; };
    EXPECT_GRADCHECK(fn, (TensorList{leaf(sp.a, seed), leaf(sp.b, seed + 1)}));
    auto [va, la] = noncontiguous(sp.a, seed + 2);
    auto [vb, lb] = noncontiguous(sp.b, seed + 3);
    EXPECT_GRADCHECK(fn, (TensorList{va, vb}));
    seed += 4;
  }
}

TEST(LinalgGrad, MatmulOnlyOneInputRequiresGrad) {
  Tensor a = leaf({2, 3, 4}, 1), b = leaf({4, 5}, 2).detach();
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{matmul(x[0], x[1])}; }, (TensorList{a, b}));
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{matmul(x[1], x[0])}; },
                   (TensorList{leaf({5, 2}, 3), leaf({2, 3, 5}, 4).detach()}));
}

TEST(LinalgGrad, NamedVariants) {
  auto [a, la] = noncontiguous({3, 4}, 1);
  auto [b, lb] = noncontiguous({4, 2}, 2);
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{mm(x[0], x[1])}; }, (TensorList{a, b}));
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{mm(x[0], x[1])}; },
                   (TensorList{leaf({3, 4}, 3), leaf({4, 2}, 4)}));
  auto [ba, lba] = noncontiguous({2, 3, 4}, 5);
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{bmm(x[0], x[1])}; },
                   (TensorList{ba, leaf({2, 4, 5}, 6)}));
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{x[0].mv(x[1])}; }, (TensorList{a, leaf({4}, 7)}));
  Tensor strided = leaf({8}, 8).slice(0, 0, std::nullopt, 2);
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{x[0].dot(x[1])}; }, (TensorList{strided, leaf({4}, 9)}));
  EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{x[0].mv(x[1])}; },
                   (TensorList{leaf({3, 4}, 10), strided}));
}

TEST(LinalgGrad, Addmm) {
  auto [m1, l1] = noncontiguous({3, 4}, 1);
  auto [m2, l2] = noncontiguous({4, 5}, 2);
  for (const Shape& s : {Shape{3, 5}, Shape{5}, Shape{3, 1}, Shape{}}) {
    EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{addmm(x[0], x[1], x[2], 0.5, -2.0)}; },
                     (TensorList{leaf(s, 3), m1, m2}));
    EXPECT_GRADCHECK([](const TensorList& x) { return TensorList{addmm(x[0], x[1], x[2])}; },
                     (TensorList{leaf(s, 4), leaf({3, 4}, 5), leaf({4, 5}, 6)}));
  }
}

TEST(LinalgGrad, Cdist) {
  const double inf = std::numeric_limits<double>::infinity();
  for (double p : {1.0, 2.0, 3.0, 1.5, 0.5, inf}) {
    auto fn = [p](const TensorList& x) { return TensorList{cdist(x[0], x[1], p)}; };
    EXPECT_GRADCHECK(fn, (TensorList{leaf({4, 3}, 1), leaf({5, 3}, 2)}));
    EXPECT_GRADCHECK(fn, (TensorList{leaf({2, 1, 4, 3}, 3), leaf({3, 2, 3}, 4)}));
    auto [a, la] = noncontiguous({4, 3}, 5);
    auto [b, lb] = noncontiguous({2, 5, 3}, 6);
    EXPECT_GRADCHECK(fn, (TensorList{a, b}));
  }
}

TEST(LinalgGrad, CdistZeroDistanceHasFiniteGradient) {
  for (double p : {1.0, 2.0, 3.0, 0.5, std::numeric_limits<double>::infinity()}) {
    Tensor x1 = tensor({{1.0, 2.0}, {3.0, 5.0}}, kFloat64).requires_grad_();
    Tensor x2 = tensor({{1.0, 2.0}}, kFloat64).requires_grad_();  // row 0 of x1: distance 0
    cdist(x1, x2, p).sum().backward();
    for (double v : x1.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(v)) << "p=" << p;
    for (double v : x2.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(v)) << "p=" << p;
    if (p == 2.0) {
      // Only the (1, 0) pair contributes: d/dx1[1] = (x1[1] - x2[0]) / |.| = (2, 3) / sqrt(13).
      std::vector<double> g = x1.grad().to_vector<double>();
      EXPECT_DOUBLE_EQ(g[0], 0.0);
      EXPECT_DOUBLE_EQ(g[1], 0.0);
      EXPECT_NEAR(g[2], 2.0 / std::sqrt(13.0), 1e-12);
      EXPECT_NEAR(g[3], 3.0 / std::sqrt(13.0), 1e-12);
    }
  }
}

TEST(LinalgGrad, RecordsOnlyWhenNeeded) {
  Tensor a = leaf({2, 3}, 1), b = leaf({3, 2}, 2);
  Tensor out = matmul(a, b);
  EXPECT_TRUE(out.requires_grad());
  ASSERT_NE(out.grad_fn(), nullptr);
  EXPECT_FALSE(matmul(a.detach(), b.detach()).requires_grad());
  {
    autograd::NoGradGuard no_grad;
    EXPECT_FALSE(matmul(a, b).requires_grad());
    EXPECT_FALSE(addmm(zeros({2, 2}, kFloat64), a, b).requires_grad());
    EXPECT_FALSE(cdist(a, b.t()).requires_grad());
  }
  // Integer matmul never records.
  EXPECT_FALSE(matmul(ones({2, 2}, kInt64), ones({2, 2}, kInt64)).requires_grad());
}
