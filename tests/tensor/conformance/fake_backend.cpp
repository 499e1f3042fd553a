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

}  // namespace

bool FakeBackend::supports_op(BackendOp op, Dtype dtype) const {
  if (op == BackendOp::Copy) return true;
  if (options_.declines_float64 && dtype == kFloat64) return false;
  return options_.declined.count(op) == 0;
}

void FakeBackend::copy(const Tensor& dst, const Tensor& src) { CpuBackend::copy(cpu_alias(dst), cpu_alias(src)); }

Tensor FakeBackend::nonzero(const Tensor& in) {
  Tensor on_cpu = CpuBackend::nonzero(cpu_alias(in));
  Tensor out = detail::make_empty(on_cpu.sizes(), on_cpu.dtype(), in.device());
  copy(out, on_cpu);
  return out;
}

void FakeBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  ++unary_calls_;
  CpuBackend::unary(op, out, in);
}

void FakeBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  if (options_.wrong_sub && op == BinaryOp::Sub) {
    CpuBackend::binary(op, out, b, a);
    return;
  }
  CpuBackend::binary(op, out, a, b);
}

std::vector<Device> register_fake_backends() {
  static FakeBackend* faithful = new FakeBackend({});
  static FakeBackend* declining =
      new FakeBackend({.declined = {BackendOp::Unary, BackendOp::Sort, BackendOp::Nonzero}, .declines_float64 = true});
  static const bool registered = [] {
    register_backend(fake_device(0), faithful);
    register_backend(fake_device(1), declining);
    return true;
  }();
  (void)registered;
  return {fake_device(0), fake_device(1)};
}

FakeBackend& wrong_fake_backend() {
  static FakeBackend* wrong = new FakeBackend({.wrong_sub = true});
  return *wrong;
}

}  // namespace twig::conformance
