#include "twig/tensor/random.h"

#include <cmath>
#include <new>
#include <random>

#include "twig/tensor/backend.h"
#include "twig/tensor/ops.h"
#include "twig/tensor/ops/internal.h"

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

namespace {
Generator& gen_or_default(Generator* gen) { return gen ? *gen : default_generator(); }

Tensor random_like_factory(const Shape& shape, const TensorOptions& options, Dtype fallback) {
  Tensor t = detail::make_empty(shape, options.dtype_or(fallback), options.device_);
  return t;
}

void finish(const Tensor& t, const TensorOptions& options) {
  if (options.requires_grad_) t.requires_grad_(true);
}
}  // namespace

Tensor rand(const Shape& shape, const TensorOptions& options, Generator* gen) {
  Tensor t = random_like_factory(shape, options, default_dtype());
  TWIG_CHECK(is_floating(t.dtype()), TypeError, "rand: expected a floating dtype, got ", dtype_name(t.dtype()));
  backend_for(t.device()).uniform(t, 0.0, 1.0, gen_or_default(gen));
  finish(t, options);
  return t;
}

Tensor randn(const Shape& shape, const TensorOptions& options, Generator* gen) {
  Tensor t = random_like_factory(shape, options, default_dtype());
  TWIG_CHECK(is_floating(t.dtype()), TypeError, "randn: expected a floating dtype, got ", dtype_name(t.dtype()));
  backend_for(t.device()).normal(t, 0.0, 1.0, gen_or_default(gen));
  finish(t, options);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& options, Generator* gen) {
  TWIG_CHECK(low < high, ValueError, "randint: expected low < high, but got low=", low, " and high=", high);
  Tensor t = random_like_factory(shape, options, kInt64);
  Generator& g = gen_or_default(gen);
  Tensor tmp = detail::make_empty(shape, kInt64, Device::cpu());
  int64_t* p = tmp.data_ptr<int64_t>();
  uint64_t span = static_cast<uint64_t>(high - low);
  for (int64_t i = 0; i < tmp.numel(); ++i) p[i] = low + static_cast<int64_t>(g.below(span));
  backend_for(t.device()).copy(t, tmp);
  return t;
}

Tensor randperm(int64_t n, const TensorOptions& options, Generator* gen) {
  TWIG_CHECK(n >= 0, ValueError, "randperm: n must be non-negative, got ", n);
  Generator& g = gen_or_default(gen);
  Tensor tmp = detail::make_empty({n}, kInt64, Device::cpu());
  int64_t* p = tmp.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  // Fisher-Yates.
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[static_cast<int64_t>(g.below(static_cast<uint64_t>(i + 1)))]);
  Tensor t = detail::make_empty({n}, options.dtype_or(kInt64), options.device_);
  backend_for(t.device()).copy(t, tmp);
  return t;
}

Tensor bernoulli(const Tensor& p, Generator* gen) {
  detail::check_defined(p, "bernoulli");
  TWIG_CHECK(is_floating(p.dtype()), TypeError, "bernoulli: p must be floating, got ", dtype_name(p.dtype()));
  Tensor out = detail::make_empty(p.sizes(), p.dtype(), p.device());
  backend_for(p.device()).bernoulli(out, p, gen_or_default(gen));
  return out;
}

Tensor bernoulli(const Shape& shape, double p, const TensorOptions& options, Generator* gen) {
  TWIG_CHECK(p >= 0.0 && p <= 1.0, ValueError, "bernoulli: p must be in [0, 1], got ", p);
  Tensor out = random_like_factory(shape, options, default_dtype());
  backend_for(out.device()).bernoulli(out, detail::scalar_to_tensor(p, kFloat64, Device::cpu()), gen_or_default(gen));
  return out;
}

Tensor rand_like(const Tensor& t, Generator* gen) { return rand(t.sizes(), t.options(), gen); }
Tensor randn_like(const Tensor& t, Generator* gen) { return randn(t.sizes(), t.options(), gen); }

const Tensor& Tensor::uniform_(double from, double to) const {
  detail::check_defined(*this, "uniform_");
  TWIG_CHECK(from <= to, ValueError, "uniform_: expects from <= to, but got from=", from, " to=", to);
  backend_for(device()).uniform(*this, from, to, default_generator());
  bump_version();
  return *this;
}

const Tensor& Tensor::normal_(double mean, double std) const {
  detail::check_defined(*this, "normal_");
  TWIG_CHECK(std >= 0.0, ValueError, "normal_: expects std >= 0.0, but found std ", std);
  backend_for(device()).normal(*this, mean, std, default_generator());
  bump_version();
  return *this;
}

const Tensor& Tensor::bernoulli_(double p) const {
  detail::check_defined(*this, "bernoulli_");
  TWIG_CHECK(p >= 0.0 && p <= 1.0, ValueError, "bernoulli_: p must be in [0, 1], got ", p);
  backend_for(device()).bernoulli(*this, detail::scalar_to_tensor(p, kFloat64, Device::cpu()), default_generator());
  bump_version();
  return *this;
}

}  // namespace twig
