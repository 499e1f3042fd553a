// The narrow interface between twig's ops and a device. Ops (autograd/ops/) check arguments, decide
// shapes and dtypes, allocate outputs and record autograd; a Backend only runs kernels on tensors
// whose shapes already agree. The CPU backend always builds and is the reference; cuda/ registers
// a CUDA backend when it is built. Every tensor a kernel receives is on that backend's device.
//
// A backend need not implement every kernel: supports_op(op, dtype) says which it does, and backend_for
// runs the others on the CPU backend with copies (a one-time note says so). Backends are registered
// explicitly, per (device type, index), at the bottom of this file. tests/tensor/conformance/ runs every
// kernel of every registered backend against the CPU backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig {

class Generator;

enum class UnaryOp {
  Neg,
  Abs,
  Sign,
  Exp,
  Log,
  Log1p,
  Expm1,
  Sqrt,
  Rsqrt,
  Reciprocal,
  Square,
  Sin,
  Cos,
  Tanh,
  Sigmoid,
  Relu,
  Floor,
  Ceil,
  Round,
  Trunc,
  Erf,
  LogicalNot,
  BitwiseNot,
  IsNan,
  IsInf,
  IsFinite,
};

enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Remainder,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  LogicalAnd,
  LogicalOr,
  LogicalXor,
  BitwiseAnd,
  BitwiseOr,
  BitwiseXor,
};

// True for ops whose result is bool whatever the input dtype.
bool is_comparison(BinaryOp op);

enum class ReduceOp { Sum, Prod, Max, Min, Any, All, CountNonzero, NormP, NormInf, NormNegInf, Norm0 };

// The geometry of an N-d convolution (N = 2 or 3; 2-D passes kernel/stride/... of length 2).
// Per spatial dim d: out[d] = (in[d] + 2 padding[d] - dilation[d] (kernel[d] - 1) - 1) / stride[d] + 1.
struct ConvGeometry {
  Shape in, out, kernel, stride, padding, dilation;  // one entry per spatial dim
};

// The geometry of a 2-D pooling window over (H, W) planes, PyTorch's conventions. For average
// pooling dilation is 1; divisor_override 0 means "none".
struct Pool2dGeometry {
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  bool count_include_pad = true;
  int64_t divisor_override = 0;
};

// The scalars of one Adam/AdamW step (torch.optim.Adam's single-tensor algorithm), those that depend
// on the step count already derived: step_size = lr / (1 - beta1^step),
// bias_correction2_sqrt = sqrt(1 - beta2^step).
struct AdamStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double step_size = 0, bias_correction2_sqrt = 1;
  bool decoupled = false, amsgrad = false, maximize = false;
};

// ---- activations and the LSTM cell ----
// The pointwise activations with a fused backward (nn/activation.cpp). The scalars each op reads
// from ActivationParams are named beside it.
enum class ActivationOp {
  Hardtanh,     // min_val, max_val
  Hardsigmoid,  //
  Silu,         //
  Mish,         //
  Hardswish,    //
  Elu,          // alpha
  Celu,         // alpha (nonzero)
  Selu,         //
  Hardshrink,   // lambd
  LeakyRelu,    // negative_slope
  LogSigmoid,   //
  Softplus,     // beta, threshold
  Gelu,         // the erf form (approximate='none')
  GeluTanh,     // approximate='tanh'
};

// PyTorch's defaults; each op reads only its own fields.
struct ActivationParams {
  double min_val = -1, max_val = 1;  // hardtanh
  double alpha = 1;                  // elu, celu
  double lambd = 0.5;                // hardshrink
  double negative_slope = 0.01;      // leaky_relu
  double beta = 1, threshold = 20;   // softplus
};
// ---- end activations ----

// One entry per Backend kernel (allocate and deallocate are no kernels). supports_op is asked with
// the op and its key dtype, named here per entry: the dtype of the first input for most.
enum class BackendOp : int16_t {
  Copy,                       // dst; every backend implements copy (the CPU fallback is made of it)
  Fill,                       // dst
  Unary,                      // in
  Binary,                     // a
  Where,                      // a
  ThresholdBackward,          // self
  Addcmul,                    // self
  AdamStep,                   // param
  Clamp,                      // in
  Reduce,                     // in
  ArgReduce,                  // in
  Cumsum,                     // in
  Gemm,                       // a
  GemmSum,                    // a
  Sort,                       // in
  Topk,                       // in
  Kthvalue,                   // in
  IndexSelect,                // in
  Gather,                     // in
  Scatter,                    // self
  IndexPut,                   // self
  Nonzero,                    // in
  MaxPool2d,                  // in
  MaxPool2dBackward,          // grad_out
  AvgPool2d,                  // in
  AvgPool2dBackward,          // grad_out
  AdaptiveAvgPool2d,          // in
  AdaptiveAvgPool2dBackward,  // grad_out
  AdaptiveMaxPool2d,          // in
  Uniform,                    // out
  Normal,                     // out
  Bernoulli,                  // out
  ConvForward,                // in
  ConvBackward,               // grad_out
  Activation,                 // in
  ActivationBackward,         // in
  RreluWithNoise,             // in
  LstmCell,                   // gates
  LstmCellBackward,           // act
  TopkMask,                   // in
  Count                       // not an op: the number of entries
};
constexpr int kNumBackendOps = static_cast<int>(BackendOp::Count);
// "unary", "max_pool2d", ...: the Backend method's name.
const char* backend_op_name(BackendOp op);

class Backend {
 public:
  virtual ~Backend() = default;

  // Whether this backend implements op for the op's key dtype (BackendOp names it). The default
  // claims everything; a backend under construction declines what it lacks, and backend_for runs
  // those on the CPU. Copy cannot be declined.
  virtual bool supports_op(BackendOp /*op*/, Dtype /*dtype*/) const { return true; }

  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr) = 0;

  // dst[i] = convert(src[i]); same shape, any strides and dtypes; src may be on another device.
  virtual void copy(const Tensor& dst, const Tensor& src) = 0;
  virtual void fill(const Tensor& dst, Scalar value) = 0;

  // out and in have the same shape; in has the compute dtype; out has it too, or bool for
  // the IsNan/IsInf/IsFinite/LogicalNot family.
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in) = 0;
  // a and b are broadcast to out's shape (stride 0 where expanded) and share the compute dtype;
  // out has that dtype, or bool for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out = cond ? a : b, all broadcast to out's shape; a, b, out share a dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // ReLU's backward in one pass: out = self > threshold ? grad : 0 (PyTorch's threshold_backward);
  // out, grad, self share a shape and a floating dtype.
  virtual void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& self, Scalar threshold) = 0;
  // Fused updates of a floating self, in place: self += value * t1 * t2, or t1 / t2 with divide,
  // or value * t1 alone when t2 is undefined (add_ with alpha). t1, t2 broadcast to self; same dtype.
  virtual void addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide) = 0;
  // The whole Adam update in one pass over memory. All tensors contiguous, same shape and floating
  // dtype; max_exp_avg_sq is used (and updated) only when s.amsgrad.
  virtual void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                         const Tensor& max_exp_avg_sq, const AdamStep& s) = 0;
  virtual void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) = 0;

  // out has in's shape with reduced dims of size 1; `reduced[d]` marks them. p is used by NormP.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) = 0;
  // Max/Min with indices along dim; values/indices have in's shape with dim of size 1.
  virtual void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) = 0;
  virtual void cumsum(const Tensor& out, const Tensor& in, int64_t dim) = 0;

  // out (B, M, N) contiguous = alpha * a (B, M, K) @ b (B, K, N) + beta * out. a and b may be
  // transposed views (either of the last two strides 1); batch strides may be 0 (broadcast).
  virtual void gemm(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) = 0;
  // out (1, M, N) contiguous = alpha * Σ_s a[s] @ b[s] + beta * out over the S >= 1 entries of
  // a (S, M, K) and b (S, K, N), strided like gemm's: a conv's weight gradient over a chunk of
  // samples, summed inside the product instead of through S partial outputs.
  virtual void gemm_sum(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) = 0;

  // Sorting along the last dim of contiguous tensors (ops move dim last). The CPU backend leaves
  // equal values where PyTorch's CPU kernels leave them (tensor/cpu/selection.h).
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending, bool stable) = 0;
  virtual void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest,
                    bool sorted) = 0;
  // The k-th smallest (1-based, NaN largest) of each row and its position; values and indices
  // have in's shape with a last dim of size 1. 1 <= k <= the row length.
  virtual void kthvalue(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k) = 0;

  // Index kernels along `dim`; index is int64, already bounds-checked by the op.
  virtual void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) = 0;
  // out[i][j] = in[i][index[i][j]] (dim = 1 example); index has out's shape.
  virtual void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) = 0;
  // self[i][index[i][j]] += src[i][j]  (accumulate) or = src[i][j]; index has src's shape.
  virtual void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) = 0;
  // self.index_select(dim, index) (+)= source along dim.
  virtual void index_put(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source,
                         bool accumulate) = 0;
  // Coordinates of nonzero elements, (n, ndim) int64.
  virtual Tensor nonzero(const Tensor& in) = 0;

  // ---- convolution: float32/float64, contiguous tensors ----
  // Letters: N batch, C input channels, O output channels, G = groups (C and O divisible by it),
  // S... spatial input dims (2 or 3 of them), K = prod(kernel), L = prod(out dims).
  // out (N, O, out...) = the G-way grouped convolution of in (N, C, S...) with w (O, C/G, kernel...),
  // plus bias (O) on every output position where bias is defined. out is overwritten.
  virtual void conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias,
                            const ConvGeometry& g, int64_t groups) = 0;
  // conv_forward's gradients from grad_out (N, O, out...): grad_in (N, C, S...), grad_w
  // (O, C/G, kernel...) and grad_bias (O) are overwritten; an undefined one is not computed. `in`
  // is read only for grad_w and `w` only for grad_in (either may be undefined when not read).
  virtual void conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias,
                             const Tensor& grad_out, const Tensor& in, const Tensor& w, const ConvGeometry& g,
                             int64_t groups) = 0;
  // ---- end convolution ----

  // ---- pooling (float32/float64, contiguous tensors) ----
  // Planes: in (B, H, W), out and indices (B, out_h, out_w); indices (int64) are h * W + w within
  // the plane. The window max (NaN wins); its first position on ties.
  virtual void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dGeometry& g) = 0;
  // grad_in (B, H, W) is overwritten: grad_in[b, indices[b, i]] += grad_out[b, i] (max pool, adaptive
  // max pool).
  virtual void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) = 0;
  virtual void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dGeometry& g) = 0;
  // grad_in (B, H, W) overwritten.
  virtual void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) = 0;
  // Adaptive bins: start = floor(i * in / out), end = ceil((i + 1) * in / out), per dim.
  virtual void adaptive_avg_pool2d(const Tensor& out, const Tensor& in) = 0;
  virtual void adaptive_avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out) = 0;
  virtual void adaptive_max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in) = 0;

  virtual void uniform(const Tensor& out, double lo, double hi, Generator& gen) = 0;
  virtual void normal(const Tensor& out, double mean, double std, Generator& gen) = 0;
  // out[i] = 1 with probability p[i]; p broadcast to out.
  virtual void bernoulli(const Tensor& out, const Tensor& p, Generator& gen) = 0;

  // ---- activations and the LSTM cell ----
  // Activations compute in double and store in the tensors' floating dtype (float32/float64).
  // out = op(in); out and in have one shape and dtype, any strides.
  virtual void activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) = 0;
  // grad_in = grad_out * op'(in), in being the forward's input; one shape and dtype, any strides
  // (grad_out may be broadcast, stride 0).
  virtual void activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                                   const ActivationParams& p) = 0;
  // rrelu in training: noise[i] = lower + (upper - lower) * U[0, 1) for in[i] <= 0, else 1, drawn
  // from gen serially in row-major order (a seed gives one result whatever the thread count);
  // out = in * noise. One shape and floating dtype, any strides.
  virtual void rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                                Generator& gen) = 0;
  // The pointwise half of one LSTM step. Letters: N batch, H hidden size.
  //   i, f, g, o = σ(gates[:, 0:H]), σ(gates[:, H:2H]), tanh(gates[:, 2H:3H]), σ(gates[:, 3H:4H])
  //   c = f·c_prev + i·g,  h = o·tanh(c)
  // gates (N, 4H) and c_prev (N, H) any strides; the outputs are contiguous: act (N, 4H) holds
  // i, f, g, o; c, tanh_c, h (N, H). One floating dtype; computed in double.
  virtual void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c, const Tensor& gates,
                         const Tensor& c_prev) = 0;
  // Its backward from the saved act, c_prev, tanh_c and the gradients of h and c (N, H), any
  // strides: d_gates (N, 4H) and d_c_prev (N, H), contiguous, overwritten.
  virtual void lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h,
                                  const Tensor& grad_c, const Tensor& act, const Tensor& c_prev,
                                  const Tensor& tanh_c) = 0;
  // ---- end activations ----

  // ---- selection masks (prune/'s mask computation) ----
  // mask (bool, contiguous, in's numel) = true at the k positions of in (contiguous, read flat) that
  // topk(in.view(-1), k, largest) returns (NaN largest; among equal values the ones this backend's
  // topk returns), false elsewhere. 0 <= k <= in.numel().
  virtual void topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) = 0;
};

// ---- the registry: one backend per (device type, index) ----------------------------------------
// The CPU backend is always there: the registry installs it when first used, from code every
// build links (no static initializer a linker could drop). A device library registers its
// backends explicitly at start-up from an init function (cuda/: cuda::init(), which twig::init()
// in twig/core.h calls), never from a static initializer.

// Device indices run from 0 to kMaxDeviceIndex - 1.
constexpr int kMaxDeviceIndex = 64;

// Makes backend (not owned: it must outlive every tensor on device) serve device, replacing an
// earlier registration. ValueError for the CPU, a null backend or an index out of range.
void register_backend(Device device, Backend* backend);
// Removes device's backend (tests); tensors still on the device must not be used afterwards.
void unregister_backend(Device device);
// Whether device has a backend.
bool has_backend(Device device);
// Every device with a backend: the CPU first, then by type and index.
std::vector<Device> registered_devices();
// The backend registered for device, as it is: what the conformance harness tests.
// RuntimeError naming the device when there is none.
Backend& registered_backend(Device device);
// The backend ops use for device d. For the CPU, the CPU backend. For another device, its backend
// behind the CPU fallback: a kernel whose (op, dtype) the backend declines runs on the CPU backend
// with each tensor argument copied to the CPU and the written ones copied back, and twig::warn
// notes it once per (backend, op). RuntimeError naming d when no backend is registered for it.
Backend& backend_for(Device d);

}  // namespace twig
