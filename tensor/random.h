// Seedable random number generation. One global default generator (manual_seed) and explicit
// Generator objects for reproducible streams (data shuffling, random pruning).
#pragma once

#include <cstdint>
#include <random>

namespace twig {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) { manual_seed(seed); }
  void manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
    has_spare_normal_ = false;
  }
  uint64_t initial_seed() const { return seed_; }
  // 64 random bits.
  uint64_t next() { return engine_(); }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller, the spare value kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);

 private:
  uint64_t seed_ = 0;
  std::mt19937_64 engine_;
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace twig
