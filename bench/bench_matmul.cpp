// twig::matmul against raw cblas_sgemm on the same float32 buffers and thread count.
// Square N x N sizes; best-of-N wall time after a warm-up; GFLOP/s = 2 N^3 / time.
// twig allocates its output each call (that is its API); the raw call writes a preallocated C, and
// "raw+alloc" shows the raw call paying for a fresh output buffer as twig does.
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_timer.h"
#include "twig/core.h"

using namespace twig;

// With --rows, prints only rows in run_all.sh's common format (no header).
int main(int argc, char** argv) {
  const bool rows_only = argc > 1 && std::string(argv[1]) == "--rows";
  const std::vector<int64_t> sizes = {256, 512, 1024, 2048};
  if (!rows_only) {
    std::printf("matmul float32, square N x N; best-of-N wall time; ratio = twig GFLOP/s / raw GFLOP/s\n");
    std::printf("%-8s %6s %12s %12s %12s %12s %8s %14s\n", "threads", "N", "twig ms", "raw ms", "twig GF/s", "raw GF/s",
                "ratio", "raw+alloc ms");
  }
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (int64_t n : sizes) {
      Generator gen(static_cast<uint64_t>(n));
      Tensor a = randn({n, n}, kFloat32, &gen), b = randn({n, n}, kFloat32, &gen);
      std::vector<float> c(static_cast<size_t>(n * n));
      const float* pa = a.data_ptr<float>();
      const float* pb = b.data_ptr<float>();
      const int ni = static_cast<int>(n);
      Tensor sink;
      auto twig_run = [&] { sink = matmul(a, b); };
      auto raw_run = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, pa, ni, pb, ni, 0.0f, c.data(), ni);
      };
      const double flops = 2.0 * static_cast<double>(n) * n * n;
      // Budget per size: ~2 s at most, at least 3 rounds.
      auto [t_twig, t_raw] = bench::best_of_interleaved(twig_run, raw_run, 3, 50, 1.0);
      // The same sgemm into a fresh buffer from twig's allocator call, as twig's matmul must do:
      // the gap to "raw" is the first-touch cost of new output memory.
      auto raw_alloc_run = [&] {
        void* fresh = nullptr;
        if (posix_memalign(&fresh, 64, c.size() * sizeof(float)) != 0) std::abort();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, pa, ni, pb, ni, 0.0f,
                    static_cast<float*>(fresh), ni);
        std::free(fresh);
      };
      auto [t_raw_alloc, t_unused] = bench::best_of_interleaved(
          raw_alloc_run, [] {}, 3, 50, 0.5);
      (void)t_unused;
      const double gf_twig = flops / t_twig * 1e-9, gf_raw = flops / t_raw * 1e-9;
      if (rows_only) {
        std::printf("%-10s %-24s %7d %10.3f %10.3f %7.3f  twig %.1f / raw %.1f GFLOP/s; raw+alloc %.3f ms\n", "matmul",
                    ("sgemm N=" + std::to_string(n)).c_str(), threads, t_twig * 1e3, t_raw * 1e3, gf_twig / gf_raw,
                    gf_twig, gf_raw, t_raw_alloc * 1e3);
      } else {
        std::printf("%-8d %6lld %12.3f %12.3f %12.1f %12.1f %8.3f %14.3f\n", threads, static_cast<long long>(n),
                    t_twig * 1e3, t_raw * 1e3, gf_twig, gf_raw, gf_twig / gf_raw, t_raw_alloc * 1e3);
      }
      // Same answer check (not timed): the outputs must agree.
      const float* pt = sink.data_ptr<float>();
      double max_diff = 0;
      for (size_t i = 0; i < c.size(); ++i) max_diff = std::max(max_diff, static_cast<double>(std::abs(pt[i] - c[i])));
      if (max_diff > 1e-3 * static_cast<double>(n)) std::printf("  WARNING: twig and raw differ by %g\n", max_diff);
    }
  }
  return 0;
}
