// A broadcasting float32 add, twig against a plain C++ loop doing the same.
//   a + b:  twig allocates its output every call, so its peer is "loop+alloc": the loop writing a
//           fresh buffer from the same allocator call (posix_memalign, 64 bytes) each time. "loop"
//           (a preallocated, warm buffer) is shown too: the gap between the two is the cost of
//           first-touch page faults on fresh output memory, not of the kernel.
//   add_:   in place, c += b, against the loop doing c[i, j] += b[...]: kernel against kernel.
// ratio = peer time / twig time (twig's speed relative to the loop; 1.0 = as fast, lower is slower).
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_timer.h"
#include "twig/core.h"

using namespace twig;

namespace {

struct Case {
  std::string name;
  int64_t rows, cols;
  bool per_row;  // b is (rows, 1) broadcast along columns; else b is (cols) broadcast along rows
};

// Keeps the compiler from dropping writes to memory it can see is freed right after.
void escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// out[i, j] = a[i, j] + b[i] (per_row) or a[i, j] + b[j]; out may be a (in place).
void loop_add(const float* a, const float* b, float* out, int64_t rows, int64_t cols, bool per_row) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* ai = a + i * cols;
    float* oi = out + i * cols;
    if (per_row) {
      const float bi = b[i];
      for (int64_t j = 0; j < cols; ++j) oi[j] = ai[j] + bi;
    } else {
      for (int64_t j = 0; j < cols; ++j) oi[j] = ai[j] + b[j];
    }
  }
}

}  // namespace

// With --rows, prints only rows in run_all.sh's common format (no header).
int main(int argc, char** argv) {
  const bool rows_only = argc > 1 && std::string(argv[1]) == "--rows";
  const std::vector<Case> cases = {
      {"(1024,1024)+(1024,1)", 1024, 1024, true},
      {"(1024,1024)+(1024)", 1024, 1024, false},
      {"(4096,4096)+(4096,1)", 4096, 4096, true},
      {"(4096,4096)+(4096)", 4096, 4096, false},
  };
  if (!rows_only) {
    std::printf("broadcast add float32; best-of-N wall time (ms); ratio = peer time / twig time\n");
    std::printf("%-8s %-22s %10s %10s %12s %8s %10s %10s %8s\n", "threads", "case", "twig a+b", "loop", "loop+alloc",
                "ratio", "twig add_", "loop +=", "ratio");
  }
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& c : cases) {
      Generator gen(1);
      Tensor a = randn({c.rows, c.cols}, kFloat32, &gen);
      Tensor b = c.per_row ? randn({c.rows, 1}, kFloat32, &gen) : randn({c.cols}, kFloat32, &gen);
      const size_t n = static_cast<size_t>(c.rows * c.cols);
      const int min_reps = n > (1u << 22) ? 2 : 10;  // keeps the whole run near 30 s on a loaded box
      std::vector<float> out(n);
      const float* pa = a.data_ptr<float>();
      const float* pb = b.data_ptr<float>();
      Tensor sink;
      auto twig_run = [&] { sink = a + b; };
      auto loop_run = [&] { loop_add(pa, pb, out.data(), c.rows, c.cols, c.per_row); };
      auto alloc_run = [&] {
        void* fresh = nullptr;
        if (posix_memalign(&fresh, 64, n * sizeof(float)) != 0) std::abort();
        loop_add(pa, pb, static_cast<float*>(fresh), c.rows, c.cols, c.per_row);
        escape(fresh);
        std::free(fresh);
      };
      auto [t_twig, t_alloc] = bench::best_of_interleaved(twig_run, alloc_run, min_reps, 200, 0.5);
      auto [t_loop, t_unused] = bench::best_of_interleaved(
          loop_run, [] {}, 10, 200, 0.2);
      (void)t_unused;
      // In place: both add b into their own copy of a, repeatedly (values drift; speed does not).
      Tensor ct = a.clone();
      std::vector<float> cl(pa, pa + n);
      auto twig_inplace = [&] { ct.add_(b); };
      auto loop_inplace = [&] {
        loop_add(cl.data(), pb, cl.data(), c.rows, c.cols, c.per_row);
        escape(cl.data());
      };
      auto [t_twig_ip, t_loop_ip] = bench::best_of_interleaved(twig_inplace, loop_inplace, min_reps, 200, 0.5);
      if (rows_only) {
        std::printf("%-10s %-24s %7d %10.3f %10.3f %7.3f  peer = loop+alloc; warm-buffer loop %.3f ms\n", "add",
                    c.name.c_str(), threads, t_twig * 1e3, t_alloc * 1e3, t_alloc / t_twig, t_loop * 1e3);
        std::printf("%-10s %-24s %7d %10.3f %10.3f %7.3f  in place, peer = loop in place\n", "add_", c.name.c_str(),
                    threads, t_twig_ip * 1e3, t_loop_ip * 1e3, t_loop_ip / t_twig_ip);
      } else {
        std::printf("%-8d %-22s %10.3f %10.3f %12.3f %8.2f %10.3f %10.3f %8.2f\n", threads, c.name.c_str(),
                    t_twig * 1e3, t_loop * 1e3, t_alloc * 1e3, t_alloc / t_twig, t_twig_ip * 1e3, t_loop_ip * 1e3,
                    t_loop_ip / t_twig_ip);
      }
      const std::vector<float> got = sink.to_vector<float>();
      for (size_t i = 0; i < n; i += 4099) {
        if (got[i] != out[i]) {
          std::printf("  WARNING: twig and loop differ at %zu\n", i);
          break;
        }
      }
    }
  }
  return 0;
}
