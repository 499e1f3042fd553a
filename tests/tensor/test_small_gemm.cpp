// The small-gemm kernels (tensor/cpu/cpu_small_gemm.h) against their reference loop, for every
// instruction set this CPU has: both layouts, every tile edge (M, N, K around the tile and vector
// widths), summed batches, alpha and beta, and C's neighbours left alone. Then the same kernels
// reached through matmul, a conv's weight gradient (gemm_sum) and their BLAS fallbacks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "testing.h"
#include "twig/autograd/ops/internal.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/cpu/cpu_small_gemm.h"

using namespace twig;
using cpu::SimdLevel;
using cpu::SmallGemm;

namespace {

std::vector<SimdLevel> levels_here() {
  std::vector<SimdLevel> levels;
  if (cpu::best_simd_level() >= SimdLevel::kAvx2) levels.push_back(SimdLevel::kAvx2);
  if (cpu::best_simd_level() >= SimdLevel::kAvx512) levels.push_back(SimdLevel::kAvx512);
  return levels;
}

enum class Layout { kNn, kNnTransposedA, kDot };

// One product with its operands in fresh buffers laid out as `layout` asks, C with two spare
// columns on each row (ldc = N + 2) that must come back untouched.
struct Case {
  SmallGemm g;
  std::vector<float> a, b, c;
};

Case make_case(Layout layout, int64_t M, int64_t N, int64_t K, int64_t batch, float alpha, float beta,
               std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Case t;
  SmallGemm& g = t.g;
  g.M = M, g.N = N, g.K = K, g.batch = batch, g.alpha = alpha, g.beta = beta;
  t.a.resize(batch * M * K);
  t.b.resize(batch * K * N);
  for (float& x : t.a) x = u(rng);
  for (float& x : t.b) x = u(rng);
  g.a_bs = M * K, g.b_bs = K * N;
  if (layout == Layout::kNnTransposedA) {
    g.a_m = 1, g.a_k = M;  // A stored as (K, M): Wᵀ @ grad
  } else {
    g.a_m = K, g.a_k = 1;
  }
  if (layout == Layout::kDot) {
    g.b_k = 1, g.b_n = K;  // B stored as (N, K): x @ Wᵀ
  } else {
    g.b_k = N, g.b_n = 1;
  }
  g.ldc = N + 2;
  t.c.resize(M * g.ldc);
  for (float& x : t.c) x = u(rng);
  if (beta == 0.0f) {
    // C must not be read: NaN there would show up in the result.
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) t.c[m * g.ldc + n] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  g.a = t.a.data(), g.b = t.b.data(), g.c = t.c.data();
  return t;
}

// With row_bias, every row of C also gets its own bias (a conv's, added as results are stored).
void expect_matches_reference(Layout layout, SimdLevel level, int64_t M, int64_t N, int64_t K, int64_t batch,
                              float alpha, float beta, std::mt19937& rng, bool row_bias = false) {
  Case got = make_case(layout, M, N, K, batch, alpha, beta, rng);
  std::vector<float> bias(M);
  for (float& x : bias) x = std::uniform_real_distribution<float>(-4.0f, 4.0f)(rng);
  if (row_bias) got.g.row_bias = bias.data();
  Case want = got;
  want.g.a = want.a.data(), want.g.b = want.b.data(), want.g.c = want.c.data();
  ASSERT_TRUE(cpu::small_gemm(got.g, level));
  cpu::reference_gemm(want.g);
  const float tol = 1e-6f * static_cast<float>(K * batch) + 1e-6f;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N + 2; ++n) {
      const float x = got.c[m * got.g.ldc + n], y = want.c[m * want.g.ldc + n];
      if (n >= N) {
        ASSERT_EQ(x, y) << "column " << n << " lies outside C (N=" << N << ") and was written";
      } else {
        ASSERT_NEAR(x, y, tol) << "layout " << static_cast<int>(layout) << " level " << static_cast<int>(level)
                               << " M=" << M << " N=" << N << " K=" << K << " batch=" << batch << " alpha=" << alpha
                               << " beta=" << beta << " at (" << m << ", " << n << ")";
      }
    }
  }
}

TEST(SmallGemm, EveryTileEdgeMatchesTheReference) {
  const std::vector<SimdLevel> levels = levels_here();
  if (levels.empty()) GTEST_SKIP() << "neither AVX2 + FMA nor AVX-512 on this CPU (or allowed by TWIG_CPU_CAPABILITY)";
  std::mt19937 rng(7);
  for (SimdLevel level : levels) {
    for (Layout layout : {Layout::kNn, Layout::kNnTransposedA, Layout::kDot}) {
      for (int64_t M : {1, 2, 3, 4, 5, 6, 7, 13}) {
        for (int64_t N : {1, 2, 3, 7, 8, 9, 16, 17, 31, 32, 33, 50}) {
          for (int64_t K : {1, 7, 8, 16, 17, 40}) {
            expect_matches_reference(layout, level, M, N, K, 1, 1.0f, 0.0f, rng);
          }
        }
      }
    }
  }
}

TEST(SmallGemm, AddsTheRowBiasAsItStores) {
  const std::vector<SimdLevel> levels = levels_here();
  if (levels.empty()) GTEST_SKIP() << "neither AVX2 + FMA nor AVX-512 on this CPU (or allowed by TWIG_CPU_CAPABILITY)";
  std::mt19937 rng(19);
  for (SimdLevel level : levels) {
    for (Layout layout : {Layout::kNn, Layout::kNnTransposedA, Layout::kDot}) {
      for (int64_t M : {1, 5, 6, 7, 16}) {
        for (int64_t N : {1, 9, 17, 33, 100}) {
          for (float beta : {0.0f, 1.0f}) {
            expect_matches_reference(layout, level, M, N, 25, 1, 1.0f, beta, rng, true);
            expect_matches_reference(layout, level, M, N, 150, 2, -0.5f, beta, rng, true);
          }
        }
      }
    }
  }
}

TEST(SmallGemm, SumsBatchesAndScalesByAlphaAndBeta) {
  const std::vector<SimdLevel> levels = levels_here();
  if (levels.empty()) GTEST_SKIP() << "neither AVX2 + FMA nor AVX-512 on this CPU (or allowed by TWIG_CPU_CAPABILITY)";
  std::mt19937 rng(11);
  for (SimdLevel level : levels) {
    for (Layout layout : {Layout::kNn, Layout::kNnTransposedA, Layout::kDot}) {
      for (int64_t batch : {1, 2, 4}) {
        for (float alpha : {1.0f, -0.5f}) {
          for (float beta : {0.0f, 1.0f, 2.5f}) {
            // LeNet-5's shapes: conv2 forward, its input gradient, conv1 and conv2 weight gradients.
            expect_matches_reference(layout, level, 16, 100, 150, batch, alpha, beta, rng);
            expect_matches_reference(layout, level, 150, 100, 16, batch, alpha, beta, rng);
            expect_matches_reference(layout, level, 6, 25, 784, batch, alpha, beta, rng);
            expect_matches_reference(layout, level, 16, 150, 100, batch, alpha, beta, rng);
          }
        }
      }
    }
  }
}

// B rows found through an offset table (a conv's windows read in place): rows out of order and
// overlapping, as a conv's are.
TEST(SmallGemm, RowOffsetTableMatchesTheReference) {
  const std::vector<SimdLevel> levels = levels_here();
  if (levels.empty()) GTEST_SKIP() << "neither AVX2 + FMA nor AVX-512 on this CPU (or allowed by TWIG_CPU_CAPABILITY)";
  std::mt19937 rng(13);
  for (SimdLevel level : levels) {
    for (int64_t M : {1, 6, 7}) {
      for (int64_t N : {10, 28, 33}) {
        for (int64_t K : {5, 25}) {
          Case got = make_case(Layout::kNn, M, N, K, 1, 1.0f, 1.0f, rng);
          std::vector<float> wide(K * N + 7 * K + N);  // room for rows that start anywhere
          for (float& x : wide) x = std::uniform_real_distribution<float>(-1, 1)(rng);
          std::vector<int64_t> koff(K);
          for (int64_t k = 0; k < K; ++k) koff[k] = (K - 1 - k) * N + 7 * (k % 3);  // reversed, shifted
          got.b = wide;
          got.g.b = got.b.data(), got.g.b_koff = koff.data(), got.g.b_k = 0;
          Case want = got;
          want.g.a = want.a.data(), want.g.b = want.b.data(), want.g.c = want.c.data();
          ASSERT_TRUE(cpu::small_gemm(got.g, level));
          cpu::reference_gemm(want.g);
          for (size_t i = 0; i < got.c.size(); ++i) {
            ASSERT_NEAR(got.c[i], want.c[i], 1e-5f * K) << "M=" << M << " N=" << N << " K=" << K << " at " << i;
          }
        }
      }
    }
  }
}

// Dot layout with B's columns found through an offset table (a conv's weight gradient reading the
// input windows in place): columns out of order and overlapping, a batch stepping through rows,
// lengths with and without a vector tail.
TEST(SmallGemm, ColumnOffsetTableMatchesTheReference) {
  const std::vector<SimdLevel> levels = levels_here();
  if (levels.empty()) GTEST_SKIP() << "neither AVX2 + FMA nor AVX-512 on this CPU (or allowed by TWIG_CPU_CAPABILITY)";
  std::mt19937 rng(17);
  for (SimdLevel level : levels) {
    for (int64_t M : {1, 6, 7}) {
      for (int64_t N : {1, 4, 25, 27}) {
        for (int64_t K : {10, 16, 28, 33}) {
          for (int64_t batch : {1, 5}) {
            for (float beta : {0.0f, 1.0f}) {
              Case got = make_case(Layout::kDot, M, N, K, batch, 1.0f, beta, rng);
              const int64_t row = K + 9;  // one batch step in B
              std::vector<float> wide(batch * row + N * 3 + K + 8);
              for (float& x : wide) x = std::uniform_real_distribution<float>(-1, 1)(rng);
              std::vector<int64_t> noff(N);
              for (int64_t n = 0; n < N; ++n) noff[n] = (N - 1 - n) * 3 % (N + 2) + (n % 2);  // reversed, overlapping
              got.b = wide;
              got.g.b = got.b.data(), got.g.b_noff = noff.data(), got.g.b_bs = row, got.g.b_n = 0;
              Case want = got;
              want.g.a = want.a.data(), want.g.b = want.b.data(), want.g.c = want.c.data();
              ASSERT_TRUE(cpu::small_gemm(got.g, level));
              cpu::reference_gemm(want.g);
              for (size_t i = 0; i < got.c.size(); ++i) {
                ASSERT_NEAR(got.c[i], want.c[i], 1e-5f * K * batch)
                    << "M=" << M << " N=" << N << " K=" << K << " batch=" << batch << " at " << i;
              }
            }
          }
        }
      }
    }
  }
}

TEST(SmallGemm, DeclinesWhatItDoesNotCover) {
  std::mt19937 rng(3);
  Case t = make_case(Layout::kNn, 4, 5, 6, 1, 1.0f, 1.0f, rng);
  const std::vector<float> before = t.c;
  EXPECT_FALSE(cpu::small_gemm(t.g, SimdLevel::kNone));
  // B strided along n and A strided along k: neither layout.
  SmallGemm g = t.g;
  g.b_k = 1, g.b_n = 6, g.a_k = 4, g.a_m = 1;
  EXPECT_FALSE(cpu::small_gemm(g, SimdLevel::kAvx2));
  // Too deep for kernels that do not pack.
  g = t.g;
  g.K = 4096;
  EXPECT_FALSE(cpu::small_gemm(g, SimdLevel::kAvx2));
  // alpha 0: BLAS's rule that A and B are not read (a NaN there must not reach C).
  g = t.g;
  g.alpha = 0.0f;
  EXPECT_FALSE(cpu::small_gemm(g, SimdLevel::kAvx2));
  EXPECT_EQ(t.c, before);
}

// Through the tensor API: products the kernels take and products they leave to BLAS agree with
// float64 BLAS, so both paths (and the switch between them) are right.
TEST(SmallGemm, MatmulOnEitherSideOfTheSizeLimit) {
  Generator gen(5);
  for (int64_t n : {3, 40, 120, 600}) {
    const Tensor x = randn({64, n}, kFloat32, &gen), w = randn({n + 5, n}, kFloat32, &gen);
    const Tensor got = x.matmul(w.t()), got_nn = x.matmul(w.t().contiguous());
    const Tensor want = x.to(kFloat64).matmul(w.to(kFloat64).t());
    EXPECT_TRUE(allclose(got.to(kFloat64), want, 1e-4, 1e-4)) << "x @ wᵀ with n=" << n;
    EXPECT_TRUE(allclose(got_nn.to(kFloat64), want, 1e-4, 1e-4)) << "x @ contiguous wᵀ with n=" << n;
  }
}

TEST(SmallGemm, GemmSumAddsEveryEntryOnce) {
  Generator gen(9);
  Backend& be = backend_for(Device::cpu());
  for (Dtype dt : {kFloat32, kFloat64}) {
    // A conv weight gradient: Σ_s grad_out[s] (O, L) @ cols[s]ᵀ (L, CK), cols stored (S, CK, L).
    const int64_t S = 3, O = 16, L = 100, CK = 150;
    const Tensor go = randn({S, O, L}, dt, &gen), cols = randn({S, CK, L}, dt, &gen);
    const Tensor start = randn({1, O, CK}, dt, &gen);
    Tensor out = start.clone();
    be.gemm_sum(out, go, detail::make_alias(cols, {S, L, CK}, {CK * L, 1, L}, 0), 1, 0.5);
    const Tensor want =
        go.to(kFloat64).matmul(cols.to(kFloat64).transpose(1, 2)).sum({0}, true) + start.to(kFloat64) * 0.5;
    EXPECT_TRUE(allclose(out.to(kFloat64), want, 1e-4, 1e-4)) << dtype_name(dt);
  }
}

// TWIG_CPU_CAPABILITY caps the kernels (tests/CMakeLists.txt runs the kernel tests under none and
// avx2); a value that means nothing is a ValueError naming it, from the first product on.
TEST(CpuCapability, FollowsTheEnvironment) {
  const char* env = std::getenv("TWIG_CPU_CAPABILITY");
  const std::string cap = env == nullptr ? "" : env;
  const Tensor a = ones({8, 8}), b = ones({8, 8});
  if (cap == "avx1024") {
    twig::testing::expect_error<ValueError>([] { cpu::best_simd_level(); }, "TWIG_CPU_CAPABILITY=avx1024");
    twig::testing::expect_error<ValueError>([&] { a.matmul(b); }, "expected none, avx2 or avx512");
    return;
  }
  const SimdLevel level = cpu::best_simd_level();
  if (cap == "none") {
    EXPECT_EQ(level, SimdLevel::kNone);
  }
  if (cap == "avx2") {
    EXPECT_LE(level, SimdLevel::kAvx2);
  }
  EXPECT_TRUE(allclose(a.matmul(b), full({8, 8}, 8.0)));
}

}  // namespace
