// Seedable random number generation. One global default generator (manual_seed) and explicit
// Generator objects for reproducible streams (data shuffling, random pruning).
#pragma once

#include <cstddef>
#include <cstdint>

namespace twig {

class Generator {
 public:
  // The stream is std::mt19937_64's, seeded with `seed`. The engine lives in the storage below
  // and is only touched in random.cpp, so <random> stays out of every user's translation unit.
  explicit Generator(uint64_t seed = 67280421310721ULL);
  Generator(const Generator& other);
  Generator& operator=(const Generator& other);
  ~Generator();
  void manual_seed(uint64_t seed);
  uint64_t initial_seed() const { return seed_; }
  // 64 random bits.
  uint64_t next();
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller, the spare value kept for the next call).
  double normal();
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);

 private:
  // Room for one std::mt19937_64 (312 64-bit words and an index); random.cpp checks the size.
  static constexpr std::size_t kEngineBytes = 313 * sizeof(uint64_t);
  uint64_t seed_ = 0;
  alignas(8) unsigned char engine_[kEngineBytes];
  bool has_spare_normal_ = false;
  double spare_normal_ = 0.0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace twig
