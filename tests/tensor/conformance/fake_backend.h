// A test-only device backend: "privateuseone:N" tensors whose memory is CPU memory, each kernel
// the CPU backend's run on CPU aliases of its tensors (a new Backend kernel needs a line here). It exercises the
// registry, the CPU fallback and the conformance harness without a GPU: it can decline ops (supports_op), count the
// kernels it runs, and get one kernel deliberately wrong.
#pragma once

#include <atomic>
#include <set>

#include "twig/tensor/cpu/cpu_backend.h"

namespace twig::conformance {

class FakeBackend : public Backend {
 public:
  struct Options {
    std::set<BackendOp> declined;   // ops it declines for every dtype
    bool declines_float64 = false;  // and every op on float64 (Copy excepted)
    bool wrong_sub = false;         // binary Sub computes b - a: a wrong kernel for the harness to catch
  };
  explicit FakeBackend(Options options) : options_(std::move(options)) {}

  bool supports_op(BackendOp op, Dtype dtype) const override;
  void* allocate(size_t nbytes) override { return cpu_.allocate(nbytes); }
  void deallocate(void* ptr) override { cpu_.deallocate(ptr); }
  // Between this device and the CPU, or within it: all of it is CPU memory.
  void copy(const Tensor& dst, const Tensor& src) override;
  Tensor nonzero(const Tensor& in) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;

  void fill(const Tensor& dst, Scalar value) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& self, Scalar threshold) override;
  void addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide) override;
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor& max_exp_avg_sq, const AdamStep& s) override;
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) override;
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) override;
  void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) override;
  void cumsum(const Tensor& out, const Tensor& in, int64_t dim) override;
  void gemm(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) override;
  void gemm_sum(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending, bool stable) override;
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest,
            bool sorted) override;
  void kthvalue(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k) override;
  void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override;
  void index_put(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, bool accumulate) override;
  void conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    int64_t groups) override;
  void conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias, const Tensor& grad_out,
                     const Tensor& in, const Tensor& w, const ConvGeometry& g, int64_t groups) override;
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dGeometry& g) override;
  void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) override;
  void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dGeometry& g) override;
  void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) override;
  void adaptive_avg_pool2d(const Tensor& out, const Tensor& in) override;
  void adaptive_avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out) override;
  void adaptive_max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in) override;
  void uniform(const Tensor& out, double lo, double hi, Generator& gen) override;
  void normal(const Tensor& out, double mean, double std, Generator& gen) override;
  void bernoulli(const Tensor& out, const Tensor& p, Generator& gen) override;
  void activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) override;
  void activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                           const ActivationParams& p) override;
  void rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                        Generator& gen) override;
  void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c, const Tensor& gates,
                 const Tensor& c_prev) override;
  void lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h, const Tensor& grad_c,
                          const Tensor& act, const Tensor& c_prev, const Tensor& tanh_c) override;
  void topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) override;

  int unary_calls() const { return unary_calls_; }

 private:
  Options options_;
  cpu::CpuBackend& cpu_ = cpu::cpu_backend();
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
