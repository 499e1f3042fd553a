// The CPU backend: always built, and the reference every other backend is tested against.
#pragma once

#include "twig/tensor/backend.h"

namespace twig::cpu {

class CpuBackend final : public Backend {
 public:
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr) override;
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& dst, Scalar value) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
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
  Tensor nonzero(const Tensor& in) override;
  // ---- convolution ----
  void conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    int64_t groups) override;
  void conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias, const Tensor& grad_out,
                     const Tensor& in, const Tensor& w, const ConvGeometry& g, int64_t groups) override;
  // ---- end convolution ----
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
  // activations and the LSTM cell (cpu_activation.cpp)
  void activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) override;
  void activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                           const ActivationParams& p) override;
  void rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                        Generator& gen) override;
  void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c, const Tensor& gates,
                 const Tensor& c_prev) override;
  void lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h, const Tensor& grad_c,
                          const Tensor& act, const Tensor& c_prev, const Tensor& tanh_c) override;
  // selection masks (cpu_topk_mask.cpp)
  void topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) override;
};

CpuBackend& cpu_backend();

// The CPU allocator keeps freed blocks of 64 KiB and more (up to 1 GiB in all) for reuse;
// empty_cache() returns them to the system. cached_bytes() is what it holds now.
void empty_cache();
size_t cached_bytes();

}  // namespace twig::cpu
