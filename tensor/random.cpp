#include "twig/tensor/random.h"

#include <cmath>
#include <new>
#include <random>

#include "twig/tensor/error.h"

namespace twig {

namespace {
using Engine = std::mt19937_64;

Engine& engine_at(unsigned char* storage) { return *std::launder(reinterpret_cast<Engine*>(storage)); }
}  // namespace

Generator::Generator(uint64_t seed) {
  static_assert(sizeof(Engine) <= kEngineBytes && alignof(Engine) <= 8,
                "Generator::engine_ has no room for std::mt19937_64");
  new (engine_) Engine();
  manual_seed(seed);
}

Generator::Generator(const Generator& other)
    : seed_(other.seed_), has_spare_normal_(other.has_spare_normal_), spare_normal_(other.spare_normal_) {
  new (engine_) Engine(engine_at(const_cast<unsigned char*>(other.engine_)));
}

Generator& Generator::operator=(const Generator& other) {
  if (this == &other) return *this;
  seed_ = other.seed_;
  engine_at(engine_) = engine_at(const_cast<unsigned char*>(other.engine_));
  has_spare_normal_ = other.has_spare_normal_;
  spare_normal_ = other.spare_normal_;
  return *this;
}

Generator::~Generator() { engine_at(engine_).~Engine(); }

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  engine_at(engine_).seed(seed);
  has_spare_normal_ = false;
}

uint64_t Generator::next() { return engine_at(engine_)(); }

double Generator::normal() {
  if (has_spare_normal_) {
    has_spare_normal_ = false;
    return spare_normal_;
  }
  double u1 = uniform();
  double u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(1.0 - u1));  // 1 - u1 is in (0, 1]
  double theta = 2.0 * M_PI * u2;
  spare_normal_ = r * std::sin(theta);
  has_spare_normal_ = true;
  return r * std::cos(theta);
}

uint64_t Generator::below(uint64_t n) {
  TWIG_CHECK(n > 0, ValueError, "Generator::below: n must be positive");
  // Rejection sampling keeps the result unbiased.
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do {
    v = next();
  } while (v >= limit);
  return v % n;
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace twig
