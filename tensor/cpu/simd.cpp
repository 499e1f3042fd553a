// The run-time choice of vector width for twig's own CPU kernels.
#include "tensor/cpu/simd.h"

namespace twig::cpu {

SimdLevel best_simd_level() {
#if TWIG_SIMD_X86
  static const SimdLevel level = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return SimdLevel::kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
    return SimdLevel::kNone;
  }();
  return level;
#else
  return SimdLevel::kNone;
#endif
}

}  // namespace twig::cpu
