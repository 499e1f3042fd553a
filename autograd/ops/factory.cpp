// Factories: empty/zeros/ones/full, ranges, eye, *_like, and tensors from C++ values.
#include <cmath>
#include <cstring>

#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/random.h"

namespace twig {

namespace {
Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad_) t.requires_grad_(true);
  return t;
}
}  // namespace

Tensor empty(const Shape& shape, const TensorOptions& options) {
  return finish(detail::make_empty(shape, options.dtype_or(default_dtype()), options.device_), options);
}

Tensor full(const Shape& shape, Scalar value, const TensorOptions& options) {
  Tensor t = detail::make_empty(shape, options.dtype_or(value.dtype()), options.device_);
  backend_for(t.device()).fill(t, value);
  return finish(t, options);
}

Tensor zeros(const Shape& shape, const TensorOptions& options) {
  return full(shape, 0, TensorOptions(options).dtype(options.dtype_or(default_dtype())));
}

Tensor ones(const Shape& shape, const TensorOptions& options) {
  return full(shape, 1, TensorOptions(options).dtype(options.dtype_or(default_dtype())));
}

Tensor scalar_tensor(Scalar value, const TensorOptions& options) {
  return full({}, value, TensorOptions(options).dtype(options.dtype_or(value.is_bool() ? kBool : default_dtype())));
}

Tensor arange(Scalar end, const TensorOptions& options) { return arange(0, end, 1, options); }

Tensor arange(Scalar start, Scalar end, Scalar step, const TensorOptions& options) {
  bool any_float = start.is_floating() || end.is_floating() || step.is_floating();
  Dtype dt = options.dtype_or(any_float ? default_dtype() : kInt64);
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  TWIG_CHECK(st != 0.0, RuntimeError, "arange: step must be nonzero");
  TWIG_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), RuntimeError,
             "arange: upper bound and larger bound inconsistent with step sign (start=", start, ", end=", end,
             ", step=", step, ")");
  int64_t n = static_cast<int64_t>(std::ceil((e - s) / st));
  Tensor cpu = detail::make_empty({n}, dt, Device::cpu());
  TWIG_DISPATCH_NUMERIC(dt, "arange", [&] {
    scalar_t* p = static_cast<scalar_t*>(cpu.raw_data_ptr());
    if (any_float) {
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(s + static_cast<double>(i) * st);
    } else {
      const int64_t b = start.to_int(), k = step.to_int();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<scalar_t>(b + i * k);
    }
  });
  Tensor out = options.device_.is_cpu() ? cpu : cpu.to(options.device_);
  return finish(out, options);
}

Tensor linspace(double start, double end, int64_t steps, const TensorOptions& options) {
  TWIG_CHECK(steps >= 0, RuntimeError, "linspace: number of steps must be non-negative, got ", steps);
  Tensor cpu = detail::make_empty({steps}, kFloat64, Device::cpu());
  double* p = cpu.data_ptr<double>();
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Symmetric fill from both ends, as PyTorch does, so the last value is exactly `end`.
  int64_t half = steps / 2;
  for (int64_t i = 0; i < steps; ++i) {
    p[i] = i < half ? start + step * static_cast<double>(i) : end - step * static_cast<double>(steps - 1 - i);
  }
  if (steps == 1) p[0] = start;  // a single step is `start` (the fill from the end would give `end`)
  Tensor out = detail::make_empty({steps}, options.dtype_or(default_dtype()), options.device_);
  backend_for(out.device()).copy(out, cpu);
  return finish(out, options);
}

Tensor eye(int64_t n, std::optional<int64_t> m, const TensorOptions& options) {
  int64_t cols = m.value_or(n);
  TWIG_CHECK(n >= 0 && cols >= 0, RuntimeError, "eye: n and m must be non-negative, got n=", n, ", m=", cols);
  Tensor out = zeros({n, cols}, TensorOptions(options).requires_grad(false));
  Tensor diag = out.as_strided({std::min(n, cols)}, {cols + 1}, 0);
  backend_for(out.device()).fill(diag, 1);
  return finish(out, options);
}

namespace {
// (A sparse t would get a dense result: refused, as PyTorch's *_like would make a sparse one.)
TensorOptions like(const Tensor& t, const TensorOptions& options, const char* op) {
  detail::check_defined(t, op);
  TensorOptions o = options;
  if (!o.dtype_) o.dtype_ = t.dtype();
  // An explicit device in options wins only when it differs from the CPU default.
  if (o.device_ == Device::cpu()) o.device_ = t.device();
  return o;
}
}  // namespace

Tensor empty_like(const Tensor& t, const TensorOptions& options) {
  return empty(t.sizes(), like(t, options, "empty_like"));
}
Tensor zeros_like(const Tensor& t, const TensorOptions& options) {
  return zeros(t.sizes(), like(t, options, "zeros_like"));
}
Tensor ones_like(const Tensor& t, const TensorOptions& options) {
  return ones(t.sizes(), like(t, options, "ones_like"));
}
Tensor full_like(const Tensor& t, Scalar value, const TensorOptions& options) {
  return full(t.sizes(), value, like(t, options, "full_like"));
}

template <typename T>
Tensor from_vector(const std::vector<T>& data, const Shape& shape, const TensorOptions& options) {
  int64_t n = shape_numel(shape);
  TWIG_CHECK(n == static_cast<int64_t>(data.size()), ValueError, "from_vector: ", data.size(),
             " values do not fill shape ", shape, " (", n, " elements)");
  Tensor cpu = detail::make_empty(shape, dtype_of<T>::value, Device::cpu());
  if (n > 0) {
    if constexpr (std::is_same_v<T, bool>) {
      bool* p = cpu.data_ptr<bool>();
      for (int64_t i = 0; i < n; ++i) p[i] = data[static_cast<size_t>(i)];
    } else {
      std::memcpy(cpu.raw_data_ptr(), data.data(), static_cast<size_t>(n) * sizeof(T));
    }
  }
  Dtype dt = options.dtype_or(dtype_of<T>::value);
  Tensor out = dt == cpu.dtype() && options.device_.is_cpu() ? cpu : cpu.to(TensorOptions(dt).device(options.device_));
  return finish(out, options);
}

template Tensor from_vector<bool>(const std::vector<bool>&, const Shape&, const TensorOptions&);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, const TensorOptions&);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, const TensorOptions&);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, const TensorOptions&);
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, const TensorOptions&);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, const TensorOptions&);

Tensor from_blob(void* data, const Shape& shape, Dtype dtype) {
  int64_t n = shape_numel(shape);
  TWIG_CHECK(data != nullptr || n == 0, ValueError, "from_blob: null data for shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<StorageImpl>(data, static_cast<size_t>(n) * itemsize(dtype), Device::cpu(), nullptr);
  impl->sizes = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

namespace {

void infer_shape(const NestedList& v, size_t depth, Shape& shape, bool& any_float, bool& all_bool) {
  if (v.is_scalar()) {
    TWIG_CHECK(depth == shape.size(), ValueError, "tensor(): expected a sequence at depth ", depth,
               " but found a number (ragged nested list)");
    any_float = any_float || v.scalar().is_floating();
    all_bool = all_bool && v.scalar().is_bool();
    return;
  }
  int64_t n = static_cast<int64_t>(v.items().size());
  if (depth == shape.size()) {
    shape.resize(depth + 1);
    shape[depth] = n;
  } else {
    TWIG_CHECK(shape[depth] == n, ValueError, "tensor(): expected sequence of length ", shape[depth], " at dim ", depth,
               " (got ", n, ")");
  }
  for (const NestedList& item : v.items()) infer_shape(item, depth + 1, shape, any_float, all_bool);
}

void flatten_values(const NestedList& v, std::vector<double>& out, std::vector<int64_t>& ints) {
  if (v.is_scalar()) {
    out.push_back(v.scalar().to_double());
    ints.push_back(v.scalar().to_int());
    return;
  }
  for (const NestedList& item : v.items()) flatten_values(item, out, ints);
}

}  // namespace

Tensor tensor(const NestedList& values, const TensorOptions& options) {
  Shape shape;
  bool any_float = false, all_bool = true;
  // Infer the full shape along the first path, then check every branch against it.
  infer_shape(values, 0, shape, any_float, all_bool);
  std::vector<double> flat;
  std::vector<int64_t> ints;
  flatten_values(values, flat, ints);
  TWIG_CHECK(static_cast<int64_t>(flat.size()) == shape_numel(shape), ValueError,
             "tensor(): ragged nested list cannot form shape ", shape);
  Dtype inferred = any_float ? default_dtype() : (all_bool && !flat.empty() ? kBool : kInt64);
  if (flat.empty()) inferred = default_dtype();
  Dtype dt = options.dtype_or(inferred);
  Tensor out;
  if (!any_float && is_integral(dt, true)) {
    out = from_vector(ints, shape).to(dt);
  } else {
    out = from_vector(flat, shape).to(dt);
  }
  if (!options.device_.is_cpu()) out = out.to(options.device_);
  return finish(out, options);
}

// ---- random factories (the Generator is tensor/random.cpp's, the kernels the backend's) ----

namespace {
Generator& gen_or_default(Generator* gen) { return gen ? *gen : default_generator(); }

Tensor random_like_factory(const Shape& shape, const TensorOptions& options, Dtype fallback) {
  Tensor t = detail::make_empty(shape, options.dtype_or(fallback), options.device_);
  return t;
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
  for (int64_t i = 0, n = tmp.numel(); i < n; ++i) p[i] = low + static_cast<int64_t>(g.below(span));
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
