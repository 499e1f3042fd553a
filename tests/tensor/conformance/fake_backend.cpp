// The test-only fake device backend (fake_backend.h).
#include "tensor/conformance/fake_backend.h"

#include "twig/tensor/raw.h"
#include "twig/tensor/storage.h"
#include "twig/tensor/tensor_impl.h"

namespace twig::conformance {

namespace {

// t as a CPU tensor over the same memory (keeping t's storage alive).
Tensor cpu_alias(const Tensor& t) {
  if (!t.defined() || t.device().is_cpu()) return t;
  const TensorImpl& src = *t.impl();
  Storage keep = src.storage;
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<StorageImpl>(keep->data(), keep->nbytes(), Device::cpu(), [keep](void*) {});
  impl->sizes = src.sizes;
  impl->strides = src.strides;
  impl->offset = src.offset;
  impl->dtype = src.dtype;
  return Tensor(std::move(impl));
}

Tensor A(const Tensor& t) { return cpu_alias(t); }

}  // namespace

bool FakeBackend::supports_op(BackendOp op, Dtype dtype) const {
  if (op == BackendOp::Copy) return true;
  if (options_.declines_float64 && dtype == kFloat64) return false;
  return options_.declined.count(op) == 0;
}

void FakeBackend::copy(const Tensor& dst, const Tensor& src) { cpu_.copy(A(dst), A(src)); }

Tensor FakeBackend::nonzero(const Tensor& in) {
  Tensor on_cpu = cpu_.nonzero(A(in));
  Tensor out = detail::make_empty(on_cpu.sizes(), on_cpu.dtype(), in.device());
  copy(out, on_cpu);
  return out;
}

void FakeBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  ++unary_calls_;
  cpu_.unary(op, A(out), A(in));
}

void FakeBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (options_.wrong_sub && op == BinaryOp::Sub) {
    cpu_.binary(op, A(out), A(b), A(a));
    return;
  }
  cpu_.binary(op, A(out), A(a), A(b));
}

void FakeBackend::fill(const Tensor& dst, Scalar value) { cpu_.fill(A(dst), value); }

void FakeBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  cpu_.where(A(out), A(cond), A(a), A(b));
}

void FakeBackend::threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& self, Scalar threshold) {
  cpu_.threshold_backward(A(out), A(grad), A(self), threshold);
}

void FakeBackend::addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide) {
  cpu_.addcmul(A(self), A(t1), A(t2), value, divide);
}

void FakeBackend::adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                            const Tensor& max_exp_avg_sq, const AdamStep& s) {
  cpu_.adam_step(A(param), A(grad), A(exp_avg), A(exp_avg_sq), A(max_exp_avg_sq), s);
}

void FakeBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  cpu_.clamp(A(out), A(in), lo, hi);
}

void FakeBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) {
  cpu_.reduce(op, A(out), A(in), reduced, p);
}

void FakeBackend::arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) {
  cpu_.arg_reduce(op, A(values), A(indices), A(in), dim);
}

void FakeBackend::cumsum(const Tensor& out, const Tensor& in, int64_t dim) { cpu_.cumsum(A(out), A(in), dim); }

void FakeBackend::gemm(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) {
  cpu_.gemm(A(out), A(a), A(b), alpha, beta);
}

void FakeBackend::gemm_sum(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) {
  cpu_.gemm_sum(A(out), A(a), A(b), alpha, beta);
}

void FakeBackend::sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending, bool stable) {
  cpu_.sort(A(values), A(indices), A(in), descending, stable);
}

void FakeBackend::topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest,
                       bool sorted) {
  cpu_.topk(A(values), A(indices), A(in), k, largest, sorted);
}

void FakeBackend::kthvalue(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k) {
  cpu_.kthvalue(A(values), A(indices), A(in), k);
}

void FakeBackend::index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  cpu_.index_select(A(out), A(in), dim, A(index));
}

void FakeBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  cpu_.gather(A(out), A(in), dim, A(index));
}

void FakeBackend::scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) {
  cpu_.scatter(A(self), dim, A(index), A(src), accumulate);
}

void FakeBackend::index_put(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                            bool accumulate) {
  cpu_.index_put(A(self), dim, A(index), A(source), accumulate);
}

void FakeBackend::conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias,
                               const ConvGeometry& g, int64_t groups) {
  cpu_.conv_forward(A(out), A(in), A(w), A(bias), g, groups);
}

void FakeBackend::conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias,
                                const Tensor& grad_out, const Tensor& in, const Tensor& w, const ConvGeometry& g,
                                int64_t groups) {
  cpu_.conv_backward(A(grad_in), A(grad_w), A(grad_bias), A(grad_out), A(in), A(w), g, groups);
}

void FakeBackend::max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dGeometry& g) {
  cpu_.max_pool2d(A(out), A(indices), A(in), g);
}

void FakeBackend::max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) {
  cpu_.max_pool2d_backward(A(grad_in), A(grad_out), A(indices));
}

void FakeBackend::avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dGeometry& g) {
  cpu_.avg_pool2d(A(out), A(in), g);
}

void FakeBackend::avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) {
  cpu_.avg_pool2d_backward(A(grad_in), A(grad_out), g);
}

void FakeBackend::adaptive_avg_pool2d(const Tensor& out, const Tensor& in) { cpu_.adaptive_avg_pool2d(A(out), A(in)); }

void FakeBackend::adaptive_avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out) {
  cpu_.adaptive_avg_pool2d_backward(A(grad_in), A(grad_out));
}

void FakeBackend::adaptive_max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in) {
  cpu_.adaptive_max_pool2d(A(out), A(indices), A(in));
}

void FakeBackend::uniform(const Tensor& out, double lo, double hi, Generator& gen) {
  cpu_.uniform(A(out), lo, hi, gen);
}

void FakeBackend::normal(const Tensor& out, double mean, double std, Generator& gen) {
  cpu_.normal(A(out), mean, std, gen);
}

void FakeBackend::bernoulli(const Tensor& out, const Tensor& p, Generator& gen) { cpu_.bernoulli(A(out), A(p), gen); }

void FakeBackend::activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) {
  cpu_.activation(op, A(out), A(in), p);
}

void FakeBackend::activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                      const ActivationParams& p) {
  cpu_.activation_backward(op, A(grad_in), A(grad_out), A(in), p);
}

void FakeBackend::rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                                   Generator& gen) {
  cpu_.rrelu_with_noise(A(out), A(noise), A(in), lower, upper, gen);
}

void FakeBackend::lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c,
                            const Tensor& gates, const Tensor& c_prev) {
  cpu_.lstm_cell(A(h), A(c), A(act), A(tanh_c), A(gates), A(c_prev));
}

void FakeBackend::lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h,
                                     const Tensor& grad_c, const Tensor& act, const Tensor& c_prev,
                                     const Tensor& tanh_c) {
  cpu_.lstm_cell_backward(A(d_gates), A(d_c_prev), A(grad_h), A(grad_c), A(act), A(c_prev), A(tanh_c));
}

void FakeBackend::topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) {
  cpu_.topk_mask(A(mask), A(in), k, largest);
}

std::vector<Device> register_fake_backends() {
  static FakeBackend* faithful = new FakeBackend({});
  static FakeBackend* declining = new FakeBackend({.declined = {BackendOp::Unary, BackendOp::Sort, BackendOp::Nonzero},
                                                   .declines_float64 = true,
                                                   .wrong_sub = false});
  static const bool registered = [] {
    register_backend(fake_device(0), faithful);
    register_backend(fake_device(1), declining);
    return true;
  }();
  (void)registered;
  return {fake_device(0), fake_device(1)};
}

FakeBackend& wrong_fake_backend() {
  static FakeBackend* wrong = new FakeBackend({.declined = {}, .declines_float64 = false, .wrong_sub = true});
  return *wrong;
}

}  // namespace twig::conformance
