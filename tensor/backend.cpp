// The backend registry, keyed by (device type, index), and the CPU fallback for kernels a
// backend declines (tensor/backend.h).
#include "twig/tensor/backend.h"

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/raw.h"
#include "twig/tensor/warning.h"

namespace twig {

const char* backend_op_name(BackendOp op) {
  switch (op) {
    case BackendOp::Copy:
      return "copy";
    case BackendOp::Fill:
      return "fill";
    case BackendOp::Unary:
      return "unary";
    case BackendOp::Binary:
      return "binary";
    case BackendOp::Where:
      return "where";
    case BackendOp::ThresholdBackward:
      return "threshold_backward";
    case BackendOp::Addcmul:
      return "addcmul";
    case BackendOp::AdamStep:
      return "adam_step";
    case BackendOp::Clamp:
      return "clamp";
    case BackendOp::Reduce:
      return "reduce";
    case BackendOp::ArgReduce:
      return "arg_reduce";
    case BackendOp::Cumsum:
      return "cumsum";
    case BackendOp::Gemm:
      return "gemm";
    case BackendOp::GemmSum:
      return "gemm_sum";
    case BackendOp::Sort:
      return "sort";
    case BackendOp::Topk:
      return "topk";
    case BackendOp::Kthvalue:
      return "kthvalue";
    case BackendOp::IndexSelect:
      return "index_select";
    case BackendOp::Gather:
      return "gather";
    case BackendOp::Scatter:
      return "scatter";
    case BackendOp::IndexPut:
      return "index_put";
    case BackendOp::Nonzero:
      return "nonzero";
    case BackendOp::MaxPool2d:
      return "max_pool2d";
    case BackendOp::MaxPool2dBackward:
      return "max_pool2d_backward";
    case BackendOp::AvgPool2d:
      return "avg_pool2d";
    case BackendOp::AvgPool2dBackward:
      return "avg_pool2d_backward";
    case BackendOp::AdaptiveAvgPool2d:
      return "adaptive_avg_pool2d";
    case BackendOp::AdaptiveAvgPool2dBackward:
      return "adaptive_avg_pool2d_backward";
    case BackendOp::AdaptiveMaxPool2d:
      return "adaptive_max_pool2d";
    case BackendOp::Uniform:
      return "uniform";
    case BackendOp::Normal:
      return "normal";
    case BackendOp::Bernoulli:
      return "bernoulli";
    case BackendOp::ConvForward:
      return "conv_forward";
    case BackendOp::ConvBackward:
      return "conv_backward";
    case BackendOp::Activation:
      return "activation";
    case BackendOp::ActivationBackward:
      return "activation_backward";
    case BackendOp::RreluWithNoise:
      return "rrelu_with_noise";
    case BackendOp::LstmCell:
      return "lstm_cell";
    case BackendOp::LstmCellBackward:
      return "lstm_cell_backward";
    case BackendOp::TopkMask:
      return "topk_mask";
    case BackendOp::Count:
      break;
  }
  return "unknown backend op";
}

bool is_comparison(BinaryOp op) {
  switch (op) {
    case BinaryOp::Eq:
    case BinaryOp::Ne:
    case BinaryOp::Lt:
    case BinaryOp::Le:
    case BinaryOp::Gt:
    case BinaryOp::Ge:
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr:
    case BinaryOp::LogicalXor:
      return true;
    default:
      return false;
  }
}

namespace {

// A registered backend as ops see it: every kernel goes through dispatch(), which runs it on the
// backend when it supports (op, dtype) and on the CPU backend with copies when it does not.
class FallbackBackend final : public Backend {
 public:
  FallbackBackend(Backend& inner, Device device) : inner_(inner), device_(device) {}

  bool supports_op(BackendOp op, Dtype dtype) const override { return inner_.supports_op(op, dtype); }
  void* allocate(size_t nbytes) override { return inner_.allocate(nbytes); }
  void deallocate(void* ptr) override { inner_.deallocate(ptr); }
  void copy(const Tensor& dst, const Tensor& src) override { inner_.copy(dst, src); }

  void fill(const Tensor& dst, Scalar value) override {
    dispatch(
        BackendOp::Fill, dst.dtype(), 0b1, [&](Backend& b, const Tensor& d) { b.fill(d, value); }, dst);
  }
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override {
    dispatch(
        BackendOp::Unary, in.dtype(), 0b01, [&](Backend& b, const Tensor& o, const Tensor& i) { b.unary(op, o, i); },
        out, in);
  }
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override {
    dispatch(
        BackendOp::Binary, a.dtype(), 0b001,
        [&](Backend& be, const Tensor& o, const Tensor& x, const Tensor& y) { be.binary(op, o, x, y); }, out, a, b);
  }
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override {
    dispatch(
        BackendOp::Where, a.dtype(), 0b0001,
        [&](Backend& be, const Tensor& o, const Tensor& c, const Tensor& x, const Tensor& y) { be.where(o, c, x, y); },
        out, cond, a, b);
  }
  void threshold_backward(const Tensor& out, const Tensor& grad, const Tensor& self, Scalar threshold) override {
    dispatch(
        BackendOp::ThresholdBackward, self.dtype(), 0b001,
        [&](Backend& b, const Tensor& o, const Tensor& g, const Tensor& s) {
          b.threshold_backward(o, g, s, threshold);
        },
        out, grad, self);
  }
  void addcmul(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide) override {
    dispatch(
        BackendOp::Addcmul, self.dtype(), 0b001,
        [&](Backend& b, const Tensor& s, const Tensor& x, const Tensor& y) { b.addcmul(s, x, y, value, divide); }, self,
        t1, t2);
  }
  void adam_step(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                 const Tensor& max_exp_avg_sq, const AdamStep& s) override {
    dispatch(
        BackendOp::AdamStep, param.dtype(), 0b11101,
        [&](Backend& b, const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax) {
          b.adam_step(p, g, m, v, vmax, s);
        },
        param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq);
  }
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) override {
    dispatch(
        BackendOp::Clamp, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& i) { b.clamp(o, i, lo, hi); }, out, in);
  }
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, const std::vector<bool>& reduced, double p) override {
    dispatch(
        BackendOp::Reduce, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& i) { b.reduce(op, o, i, reduced, p); }, out, in);
  }
  void arg_reduce(ReduceOp op, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) override {
    dispatch(
        BackendOp::ArgReduce, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& v, const Tensor& ix, const Tensor& i) { b.arg_reduce(op, v, ix, i, dim); },
        values, indices, in);
  }
  void cumsum(const Tensor& out, const Tensor& in, int64_t dim) override {
    dispatch(
        BackendOp::Cumsum, in.dtype(), 0b01, [&](Backend& b, const Tensor& o, const Tensor& i) { b.cumsum(o, i, dim); },
        out, in);
  }
  void gemm(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) override {
    dispatch(
        BackendOp::Gemm, a.dtype(), 0b001,
        [&](Backend& be, const Tensor& o, const Tensor& x, const Tensor& y) { be.gemm(o, x, y, alpha, beta); }, out, a,
        b);
  }
  void gemm_sum(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha, Scalar beta) override {
    dispatch(
        BackendOp::GemmSum, a.dtype(), 0b001,
        [&](Backend& be, const Tensor& o, const Tensor& x, const Tensor& y) { be.gemm_sum(o, x, y, alpha, beta); }, out,
        a, b);
  }
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending, bool stable) override {
    dispatch(
        BackendOp::Sort, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& v, const Tensor& ix, const Tensor& i) { b.sort(v, ix, i, descending, stable); },
        values, indices, in);
  }
  void topk(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k, bool largest,
            bool sorted) override {
    dispatch(
        BackendOp::Topk, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& v, const Tensor& ix, const Tensor& i) { b.topk(v, ix, i, k, largest, sorted); },
        values, indices, in);
  }
  void kthvalue(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t k) override {
    dispatch(
        BackendOp::Kthvalue, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& v, const Tensor& ix, const Tensor& i) { b.kthvalue(v, ix, i, k); }, values,
        indices, in);
  }
  void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override {
    dispatch(
        BackendOp::IndexSelect, in.dtype(), 0b001,
        [&](Backend& b, const Tensor& o, const Tensor& i, const Tensor& ix) { b.index_select(o, i, dim, ix); }, out, in,
        index);
  }
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override {
    dispatch(
        BackendOp::Gather, in.dtype(), 0b001,
        [&](Backend& b, const Tensor& o, const Tensor& i, const Tensor& ix) { b.gather(o, i, dim, ix); }, out, in,
        index);
  }
  void scatter(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src, bool accumulate) override {
    dispatch(
        BackendOp::Scatter, self.dtype(), 0b001,
        [&](Backend& b, const Tensor& s, const Tensor& ix, const Tensor& x) { b.scatter(s, dim, ix, x, accumulate); },
        self, index, src);
  }
  void index_put(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source, bool accumulate) override {
    dispatch(
        BackendOp::IndexPut, self.dtype(), 0b001,
        [&](Backend& b, const Tensor& s, const Tensor& ix, const Tensor& x) { b.index_put(s, dim, ix, x, accumulate); },
        self, index, source);
  }
  Tensor nonzero(const Tensor& in) override {
    if (inner_.supports_op(BackendOp::Nonzero, in.dtype())) return inner_.nonzero(in);
    note_fallback(BackendOp::Nonzero, in.dtype());
    Tensor on_cpu = cpu::cpu_backend().nonzero(to_cpu(in));
    Tensor out = detail::make_empty(on_cpu.sizes(), on_cpu.dtype(), device_);
    inner_.copy(out, on_cpu);
    return out;
  }
  void conv_forward(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    int64_t groups) override {
    dispatch(
        BackendOp::ConvForward, in.dtype(), 0b0001,
        [&](Backend& be, const Tensor& o, const Tensor& i, const Tensor& wt, const Tensor& b) {
          be.conv_forward(o, i, wt, b, g, groups);
        },
        out, in, w, bias);
  }
  void conv_backward(const Tensor& grad_in, const Tensor& grad_w, const Tensor& grad_bias, const Tensor& grad_out,
                     const Tensor& in, const Tensor& w, const ConvGeometry& g, int64_t groups) override {
    dispatch(
        BackendOp::ConvBackward, grad_out.dtype(), 0b000111,
        [&](Backend& be, const Tensor& gi, const Tensor& gw, const Tensor& gb, const Tensor& go, const Tensor& i,
            const Tensor& wt) { be.conv_backward(gi, gw, gb, go, i, wt, g, groups); },
        grad_in, grad_w, grad_bias, grad_out, in, w);
  }
  void max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in, const Pool2dGeometry& g) override {
    dispatch(
        BackendOp::MaxPool2d, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& o, const Tensor& ix, const Tensor& i) { b.max_pool2d(o, ix, i, g); }, out,
        indices, in);
  }
  void max_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& indices) override {
    dispatch(
        BackendOp::MaxPool2dBackward, grad_out.dtype(), 0b001,
        [&](Backend& b, const Tensor& gi, const Tensor& go, const Tensor& ix) { b.max_pool2d_backward(gi, go, ix); },
        grad_in, grad_out, indices);
  }
  void avg_pool2d(const Tensor& out, const Tensor& in, const Pool2dGeometry& g) override {
    dispatch(
        BackendOp::AvgPool2d, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& i) { b.avg_pool2d(o, i, g); }, out, in);
  }
  void avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out, const Pool2dGeometry& g) override {
    dispatch(
        BackendOp::AvgPool2dBackward, grad_out.dtype(), 0b01,
        [&](Backend& b, const Tensor& gi, const Tensor& go) { b.avg_pool2d_backward(gi, go, g); }, grad_in, grad_out);
  }
  void adaptive_avg_pool2d(const Tensor& out, const Tensor& in) override {
    dispatch(
        BackendOp::AdaptiveAvgPool2d, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& i) { b.adaptive_avg_pool2d(o, i); }, out, in);
  }
  void adaptive_avg_pool2d_backward(const Tensor& grad_in, const Tensor& grad_out) override {
    dispatch(
        BackendOp::AdaptiveAvgPool2dBackward, grad_out.dtype(), 0b01,
        [&](Backend& b, const Tensor& gi, const Tensor& go) { b.adaptive_avg_pool2d_backward(gi, go); }, grad_in,
        grad_out);
  }
  void adaptive_max_pool2d(const Tensor& out, const Tensor& indices, const Tensor& in) override {
    dispatch(
        BackendOp::AdaptiveMaxPool2d, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& o, const Tensor& ix, const Tensor& i) { b.adaptive_max_pool2d(o, ix, i); }, out,
        indices, in);
  }
  void uniform(const Tensor& out, double lo, double hi, Generator& gen) override {
    dispatch(
        BackendOp::Uniform, out.dtype(), 0b1, [&](Backend& b, const Tensor& o) { b.uniform(o, lo, hi, gen); }, out);
  }
  void normal(const Tensor& out, double mean, double std, Generator& gen) override {
    dispatch(
        BackendOp::Normal, out.dtype(), 0b1, [&](Backend& b, const Tensor& o) { b.normal(o, mean, std, gen); }, out);
  }
  void bernoulli(const Tensor& out, const Tensor& p, Generator& gen) override {
    dispatch(
        BackendOp::Bernoulli, out.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& q) { b.bernoulli(o, q, gen); }, out, p);
  }
  void activation(ActivationOp op, const Tensor& out, const Tensor& in, const ActivationParams& p) override {
    dispatch(
        BackendOp::Activation, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& o, const Tensor& i) { b.activation(op, o, i, p); }, out, in);
  }
  void activation_backward(ActivationOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& in,
                           const ActivationParams& p) override {
    dispatch(
        BackendOp::ActivationBackward, in.dtype(), 0b001,
        [&](Backend& b, const Tensor& gi, const Tensor& go, const Tensor& i) {
          b.activation_backward(op, gi, go, i, p);
        },
        grad_in, grad_out, in);
  }
  void rrelu_with_noise(const Tensor& out, const Tensor& noise, const Tensor& in, double lower, double upper,
                        Generator& gen) override {
    dispatch(
        BackendOp::RreluWithNoise, in.dtype(), 0b011,
        [&](Backend& b, const Tensor& o, const Tensor& n, const Tensor& i) {
          b.rrelu_with_noise(o, n, i, lower, upper, gen);
        },
        out, noise, in);
  }
  void lstm_cell(const Tensor& h, const Tensor& c, const Tensor& act, const Tensor& tanh_c, const Tensor& gates,
                 const Tensor& c_prev) override {
    dispatch(
        BackendOp::LstmCell, gates.dtype(), 0b001111,
        [&](Backend& b, const Tensor& h_, const Tensor& c_, const Tensor& a, const Tensor& t, const Tensor& g,
            const Tensor& cp) { b.lstm_cell(h_, c_, a, t, g, cp); },
        h, c, act, tanh_c, gates, c_prev);
  }
  void lstm_cell_backward(const Tensor& d_gates, const Tensor& d_c_prev, const Tensor& grad_h, const Tensor& grad_c,
                          const Tensor& act, const Tensor& c_prev, const Tensor& tanh_c) override {
    dispatch(
        BackendOp::LstmCellBackward, act.dtype(), 0b0000011,
        [&](Backend& b, const Tensor& dg, const Tensor& dc, const Tensor& gh, const Tensor& gc, const Tensor& a,
            const Tensor& cp, const Tensor& t) { b.lstm_cell_backward(dg, dc, gh, gc, a, cp, t); },
        d_gates, d_c_prev, grad_h, grad_c, act, c_prev, tanh_c);
  }
  void topk_mask(const Tensor& mask, const Tensor& in, int64_t k, bool largest) override {
    dispatch(
        BackendOp::TopkMask, in.dtype(), 0b01,
        [&](Backend& b, const Tensor& m, const Tensor& i) { b.topk_mask(m, i, k, largest); }, mask, in);
  }

 private:
  // The one helper every kernel goes through: call(backend, tensors...) on inner_ when it supports
  // (op, dtype); otherwise on the CPU backend with a CPU copy of each tensor, then the tensors whose
  // bit is set in `written` (bit i for the i-th tensor) are copied back.
  template <typename F, typename... T>
  void dispatch(BackendOp op, Dtype dtype, unsigned written, F&& call, const T&... tensors) {
    if (inner_.supports_op(op, dtype)) [[likely]] {
      call(inner_, tensors...);
      return;
    }
    note_fallback(op, dtype);
    std::array<const Tensor*, sizeof...(T)> given = {&tensors...};
    std::array<Tensor, sizeof...(T)> on_cpu = {to_cpu(tensors)...};
    std::apply([&](const auto&... c) { call(cpu::cpu_backend(), c...); }, on_cpu);
    for (size_t i = 0; i < given.size(); ++i) {
      if ((written >> i & 1u) && !given[i]->is_same(on_cpu[i])) inner_.copy(*given[i], on_cpu[i]);
    }
  }

  // A contiguous CPU copy of t (t itself when it is undefined or already on the CPU).
  Tensor to_cpu(const Tensor& t) {
    if (!t.defined() || t.device().is_cpu()) return t;
    Tensor c = detail::make_empty(t.sizes(), t.dtype(), Device::cpu());
    inner_.copy(c, t);
    return c;
  }

  void note_fallback(BackendOp op, Dtype dtype) {
    static std::mutex mutex;
    static std::set<std::pair<const Backend*, BackendOp>>* noted = new std::set<std::pair<const Backend*, BackendOp>>();
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!noted->insert({&inner_, op}).second) return;
    }
    warn(detail::str_cat("the backend of ", device_, " does not implement ", backend_op_name(op), " for ",
                         dtype_name(dtype), ": it runs on the CPU with copies (noted once per backend and op)"));
  }

  Backend& inner_;
  Device device_;
};

// One slot per (device type, index). Lookups read atomics; registration takes the mutex. Replaced
// and removed entries are kept (a storage's deleter may still call through them), so a slot's
// pointers stay valid for the life of the process.
class Registry {
 public:
  Registry() {
    slots_[0][0].backend = &cpu::cpu_backend();
    slots_[0][0].ops = &cpu::cpu_backend();
  }

  void set(Device d, Backend* backend) {
    Slot& s = slot(d);
    std::lock_guard<std::mutex> lock(mutex_);
    Backend* ops = nullptr;
    if (backend != nullptr) {
      kept_.push_back(std::make_unique<FallbackBackend>(*backend, d));
      ops = kept_.back().get();
    }
    s.ops.store(ops);
    s.backend.store(backend);
  }

  Backend* backend(Device d) { return in_range(d) ? slot(d).backend.load(std::memory_order_acquire) : nullptr; }
  Backend* ops(Device d) { return in_range(d) ? slot(d).ops.load(std::memory_order_acquire) : nullptr; }

  std::vector<Device> devices() {
    std::vector<Device> out;
    for (int type = 0; type < kNumDeviceTypes; ++type) {
      for (int index = 0; index < kMaxDeviceIndex; ++index) {
        if (slots_[type][index].backend.load() != nullptr) out.emplace_back(static_cast<DeviceType>(type), index);
      }
    }
    return out;
  }

  static bool in_range(Device d) {
    const int type = static_cast<int>(d.type());
    return type >= 0 && type < kNumDeviceTypes && d.index() >= 0 && d.index() < kMaxDeviceIndex;
  }

 private:
  struct Slot {
    std::atomic<Backend*> backend{nullptr};  // as registered
    std::atomic<Backend*> ops{nullptr};      // what backend_for returns: backend behind the fallback
  };
  Slot& slot(Device d) { return slots_[static_cast<int>(d.type())][d.index()]; }

  std::array<std::array<Slot, kMaxDeviceIndex>, kNumDeviceTypes> slots_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<FallbackBackend>> kept_;
};

Registry& registry() {
  static Registry* r = new Registry();  // outlives every static tensor
  return *r;
}

[[noreturn]] void throw_unregistered(Device d) {
  if (d.is_cuda()) {
    TWIG_THROW(
        RuntimeError, "no backend for device ", d,
        ": twig was built without CUDA support, or no CUDA device is available (or twig::init() was not called)");
  }
  TWIG_THROW(RuntimeError, "no backend is registered for device ", d);
}

}  // namespace

void register_backend(Device device, Backend* backend) {
  TWIG_CHECK(!device.is_cpu(), ValueError, "register_backend: the CPU backend is built in and cannot be replaced");
  TWIG_CHECK(backend != nullptr, ValueError, "register_backend: null backend for device ", device,
             " (unregister_backend removes one)");
  TWIG_CHECK(Registry::in_range(device), ValueError, "register_backend: device index ", device.index(), " of ", device,
             " is outside [0, ", kMaxDeviceIndex, ")");
  registry().set(device, backend);
}

void unregister_backend(Device device) {
  TWIG_CHECK(!device.is_cpu(), ValueError, "unregister_backend: the CPU backend cannot be removed");
  if (Registry::in_range(device)) registry().set(device, nullptr);
}

bool has_backend(Device device) { return registry().backend(device) != nullptr; }

std::vector<Device> registered_devices() { return registry().devices(); }

Backend& registered_backend(Device device) {
  Backend* b = registry().backend(device);
  if (b == nullptr) throw_unregistered(device);
  return *b;
}

Backend& backend_for(Device d) {
  if (d.is_cpu()) return cpu::cpu_backend();
  Backend* b = registry().ops(d);
  if (b == nullptr) [[unlikely]]
    throw_unregistered(d);
  return *b;
}

}  // namespace twig
