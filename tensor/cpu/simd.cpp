// The run-time choice of vector width for twig's own CPU kernels: the widest the CPU has, or less
// when TWIG_CPU_CAPABILITY asks (like PyTorch's ATEN_CPU_CAPABILITY), so the narrower kernels and
// the BLAS fallback can be run, and tested, on a machine that has more.
#include "twig/tensor/cpu/simd.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "twig/tensor/error.h"

namespace twig::cpu {

namespace {

SimdLevel cpu_level() {
#if TWIG_SIMD_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kNone;
}

// The level TWIG_CPU_CAPABILITY caps the kernels at; nullopt when its value means nothing.
std::optional<SimdLevel> requested_level(const std::string& v) {
  if (v.empty() || v == "avx512") return SimdLevel::kAvx512;
  if (v == "avx2") return SimdLevel::kAvx2;
  if (v == "none" || v == "default") return SimdLevel::kNone;
  return std::nullopt;
}

std::string capability_env() {
  const char* v = std::getenv("TWIG_CPU_CAPABILITY");
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

SimdLevel best_simd_level() {
  // Read once (this runs on every small gemm); a bad value raises on every call, not just the first.
  static const SimdLevel cpu = cpu_level();
  static const std::string env = capability_env();
  static const std::optional<SimdLevel> requested = requested_level(env);
  TWIG_CHECK(requested.has_value(), ValueError, "TWIG_CPU_CAPABILITY=", env, ": expected none, avx2 or avx512");
  return std::min(cpu, *requested);
}

}  // namespace twig::cpu
