// A test-only device backend: "privateuseone:N" tensors whose memory is CPU memory, served by the
// CPU backend's kernels. It exercises the registry, the CPU fallback and the conformance harness
// without a GPU: it can decline ops (supports_op), count the kernels it runs, and get one kernel
// deliberately wrong.
#pragma once

#include <atomic>
#include <set>

#include "twig/tensor/cpu/cpu_backend.h"

namespace twig::conformance {

class FakeBackend : public cpu::CpuBackend {
 public:
  struct Options {
    std::set<BackendOp> declined;   // ops it declines for every dtype
    bool declines_float64 = false;  // and every op on float64 (Copy excepted)
    bool wrong_sub = false;         // binary Sub computes b - a: a wrong kernel for the harness to catch
  };
  explicit FakeBackend(Options options) : options_(std::move(options)) {}

  bool supports_op(BackendOp op, Dtype dtype) const override;
  // Between this device and the CPU, or within it: all of it is CPU memory.
  void copy(const Tensor& dst, const Tensor& src) override;
  Tensor nonzero(const Tensor& in) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;

  int unary_calls() const { return unary_calls_; }

 private:
  Options options_;
  std::atomic<int> unary_calls_{0};
};

inline Device fake_device(int index) { return Device(DeviceType::PrivateUse1, index); }

// The fake backends the tests use, registered on first call (explicitly, as a device library's
// init function would): privateuseone:0 claims every op; privateuseone:1 declines unary, sort and
// nonzero, and everything on float64. Returns their devices.
std::vector<Device> register_fake_backends();
// The backend with the wrong Sub kernel (not registered; the test registers it under
// privateuseone:2 while it runs).
FakeBackend& wrong_fake_backend();

}  // namespace twig::conformance
