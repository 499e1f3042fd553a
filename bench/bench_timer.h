// Best-of-N wall-clock timing shared by the benchmarks.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace twig::bench {

inline double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// Times fn once (seconds).
template <typename F>
double time_once(F&& fn) {
  double t0 = now_seconds();
  fn();
  return now_seconds() - t0;
}

// Best time of two competitors, run alternately (so load from other processes hits both alike)
// after one warm-up each: at least min_reps rounds, more while under budget_s, at most max_reps.
template <typename F, typename G>
std::pair<double, double> best_of_interleaved(F&& f, G&& g, int min_reps, int max_reps, double budget_s) {
  f();
  g();
  double best_f = std::numeric_limits<double>::infinity(), best_g = best_f;
  double start = now_seconds();
  for (int r = 0; r < max_reps && (r < min_reps || now_seconds() - start < budget_s); ++r) {
    best_f = std::min(best_f, time_once(f));
    best_g = std::min(best_g, time_once(g));
  }
  return {best_f, best_g};
}

}  // namespace twig::bench
