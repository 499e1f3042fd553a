// Elementwise ops: type promotion, broadcasting, the kernels, and each op's backward beside it.
#include <cmath>

#include "twig/autograd/autograd_meta.h"
#include "twig/autograd/function.h"
#include "twig/autograd/ops/inplace.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig {

using autograd::Node;
using autograd::SavedTensor;
using autograd::sum_to;

// ---- type promotion ---------------------------------------------------------------------------

namespace {

int category(Dtype t) { return t == kBool ? 0 : is_integral(t) ? 1 : 2; }

// PyTorch's rule for operands of different priority (dimensioned tensors > 0-d tensors > Python
// numbers): a lower-priority operand only matters if it is of a higher category.
Dtype combine(Dtype higher, Dtype lower) {
  return category(lower) > category(higher) ? promote_types(higher, lower) : higher;
}

}  // namespace

Dtype result_type(const Tensor& a, const Tensor& b) {
  bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  return a0 ? combine(b.dtype(), a.dtype()) : combine(a.dtype(), b.dtype());
}

Dtype result_type(const Tensor& a, Scalar b) { return combine(a.dtype(), b.dtype()); }

Shape broadcast_shapes(const Shape& a, const Shape& b) { return broadcast_shape(a, b); }

namespace {

// out = op(a, b) with promotion and broadcasting; no autograd.
Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, Dtype compute) {
  detail::check_same_device(a, b, "binary op");
  Shape shape = broadcast_shape(a.sizes(), b.sizes());
  Tensor out = detail::make_empty(shape, is_comparison(op) ? kBool : compute, a.device());
  backend_for(a.device())
      .binary(op, out, detail::broadcast_raw(detail::converted(a, compute), shape),
              detail::broadcast_raw(detail::converted(b, compute), shape));
  return out;
}

Tensor unary_raw(UnaryOp op, const Tensor& a, Dtype compute, Dtype out_dtype) {
  Tensor out = detail::make_empty(a.sizes(), out_dtype, a.device());
  backend_for(a.device()).unary(op, out, detail::converted(a, compute));
  return out;
}

Tensor wrap(Scalar s, const Tensor& like) { return detail::scalar_to_tensor(s, result_type(like, s), like.device()); }

// Ops that only make sense on floats promote integers to the default float dtype (torch.exp(int)).
Dtype float_compute(const Tensor& a) { return is_floating(a.dtype()) ? a.dtype() : default_dtype(); }

// In-place binary kernel without autograd: checks shape and dtype, then writes into self.
void binary_direct(BinaryOp op, const Tensor& self, const Tensor& other, const char* name) {
  Dtype compute = result_type(self, other);
  TWIG_CHECK(detail::can_cast(compute, self.dtype()), RuntimeError, name, ": result type ", dtype_tensor_name(compute),
             " can't be cast to the desired output type ", dtype_tensor_name(self.dtype()));
  Shape shape = broadcast_shape(self.sizes(), other.sizes());
  TWIG_CHECK(shape == self.sizes(), RuntimeError, name, ": output with shape ", self.sizes(),
             " doesn't match the broadcast shape ", shape);
  detail::check_same_device(self, other, name);
  if (compute == self.dtype()) {
    backend_for(self.device()).binary(op, self, self, detail::broadcast_raw(detail::converted(other, compute), shape));
  } else {
    backend_for(self.device()).copy(self, binary_raw(op, self, other, compute));
  }
}

TensorList grads_of(Tensor ga, Tensor gb) { return {std::move(ga), std::move(gb)}; }

// The fused in-place kernels apply: a floating self, operands of its dtype and device that broadcast
// to its shape.
bool fusable(const Tensor& self, const TensorList& operands) {
  if (!is_floating(self.dtype())) return false;
  for (const Tensor& t : operands) {
    if (t.dtype() != self.dtype() || t.device() != self.device()) return false;
    if (broadcast_shape(self.sizes(), t.sizes()) != self.sizes()) return false;
  }
  return true;
}

// -alpha, keeping an integer alpha integral (so int tensors accept sub_).
Scalar negated(Scalar s) { return s.is_floating() ? Scalar(-s.to_double()) : Scalar(-s.to_int()); }

}  // namespace

// ---- binary arithmetic ------------------------------------------------------------------------

Tensor Tensor::add(const Tensor& other, Scalar alpha) const {
  trace::Scope scope;
  detail::check_defined(*this, "add");
  detail::check_defined(other, "add");
  Dtype compute = result_type(*this, other);
  TWIG_CHECK(!(alpha.is_floating() && !is_floating(compute)), TypeError,
             "add: for integral input tensors, argument alpha must not be a floating point number (got ", alpha, ")");
  bool unit = alpha.to_double() == 1.0;
  Tensor out =
      unit ? binary_raw(BinaryOp::Add, *this, other, compute)
           : binary_raw(BinaryOp::Add, *this, binary_raw(BinaryOp::Mul, other, wrap(alpha, other), compute), compute);
  autograd::record("AddBackward0", {*this, other}, {out},
                   [sa = sizes(), sb = other.sizes(), alpha, unit](const TensorList& g, const Node& n) {
                     return grads_of(n.needs_input_grad(0) ? sum_to(g[0], sa) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(unit ? g[0] : g[0] * alpha, sb) : Tensor());
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("add", {*this, other}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return in[0].add(in[1], alpha); });
  return out;
}

Tensor Tensor::sub(const Tensor& other, Scalar alpha) const {
  trace::Scope scope;
  TWIG_CHECK(!(dtype() == kBool && other.dtype() == kBool), RuntimeError,
             "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
             "`logical_xor()` operator instead.");
  detail::check_defined(other, "sub");
  Dtype compute = result_type(*this, other);
  bool unit = alpha.to_double() == 1.0;
  Tensor out =
      unit ? binary_raw(BinaryOp::Sub, *this, other, compute)
           : binary_raw(BinaryOp::Sub, *this, binary_raw(BinaryOp::Mul, other, wrap(alpha, other), compute), compute);
  autograd::record("SubBackward0", {*this, other}, {out},
                   [sa = sizes(), sb = other.sizes(), alpha](const TensorList& g, const Node& n) {
                     return grads_of(n.needs_input_grad(0) ? sum_to(g[0], sa) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(g[0] * (-alpha.to_double()), sb) : Tensor());
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("sub", {*this, other}, {{"alpha", trace::repr(alpha)}}, out,
                  [alpha](const TensorList& in) { return in[0].sub(in[1], alpha); });
  return out;
}

Tensor Tensor::mul(const Tensor& other) const {
  trace::Scope scope;
  detail::check_defined(*this, "mul");
  detail::check_defined(other, "mul");
  Tensor out = binary_raw(BinaryOp::Mul, *this, other, result_type(*this, other));
  autograd::record("MulBackward0", {*this, other}, {out},
                   [sa = SavedTensor(*this), sb = SavedTensor(other)](const TensorList& g, const Node& n) {
                     Tensor a = sa.get(), b = sb.get();
                     return grads_of(n.needs_input_grad(0) ? sum_to(g[0] * b, a.sizes()) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(g[0] * a, b.sizes()) : Tensor());
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("mul", {*this, other}, {}, out, [](const TensorList& in) { return in[0].mul(in[1]); });
  return out;
}

Tensor Tensor::div(const Tensor& other) const {
  trace::Scope scope;
  detail::check_defined(*this, "div");
  detail::check_defined(other, "div");
  Dtype compute = result_type(*this, other);
  if (!is_floating(compute)) compute = default_dtype();  // true division
  Tensor out = binary_raw(BinaryOp::Div, *this, other, compute);
  autograd::record("DivBackward0", {*this, other}, {out},
                   [sa = SavedTensor(*this), sb = SavedTensor(other)](const TensorList& g, const Node& n) {
                     Tensor a = sa.get(), b = sb.get();
                     return grads_of(n.needs_input_grad(0) ? sum_to(g[0] / b, a.sizes()) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(-g[0] * a / (b * b), b.sizes()) : Tensor());
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("div", {*this, other}, {}, out, [](const TensorList& in) { return in[0].div(in[1]); });
  return out;
}

Tensor Tensor::pow(const Tensor& exponent) const {
  trace::Scope scope;
  detail::check_defined(exponent, "pow");
  Tensor out = binary_raw(BinaryOp::Pow, *this, exponent, result_type(*this, exponent));
  autograd::record(
      "PowBackward1", {*this, exponent}, {out},
      [sa = SavedTensor(*this), sb = SavedTensor(exponent), so = SavedTensor(out)](const TensorList& g, const Node& n) {
        Tensor a = sa.get(), b = sb.get();
        Tensor ga, gb;
        if (n.needs_input_grad(0)) {
          // d/da a^b = b * a^(b-1); defined as 0 where b == 0.
          ga = sum_to(where(b == 0, zeros_like(g[0]), g[0] * b * a.pow(b - 1)), a.sizes());
        }
        if (n.needs_input_grad(1)) {
          // d/db a^b = a^b * log(a); 0 where a == 0 and b >= 0.
          Tensor d = g[0] * so.get() * a.log();
          gb = sum_to(where((a == 0) & (b >= 0), zeros_like(d), d), b.sizes());
        }
        return grads_of(ga, gb);
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("pow", {*this, exponent}, {}, out, [](const TensorList& in) { return in[0].pow(in[1]); });
  return out;
}

Tensor Tensor::pow(Scalar exponent) const {
  trace::Scope scope;
  Dtype compute = result_type(*this, exponent);
  TWIG_CHECK(!(is_integral(compute, true) && exponent.is_integral() && exponent.to_int() < 0), RuntimeError,
             "Integers to negative integer powers are not allowed (exponent ", exponent, ")");
  Tensor out = binary_raw(BinaryOp::Pow, *this, detail::scalar_to_tensor(exponent, compute, device()), compute);
  autograd::record("PowBackward0", {*this}, {out},
                   [sa = SavedTensor(*this), exponent](const TensorList& g, const Node&) {
                     double e = exponent.to_double();
                     if (e == 0.0) return TensorList{zeros_like(g[0])};
                     return TensorList{g[0] * e * sa.get().pow(e - 1.0)};
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("pow", {*this, trace::constant(exponent)}, {}, out,
                  [exponent](const TensorList& in) { return in[0].pow(exponent); });
  return out;
}

Tensor Tensor::remainder(Scalar other) const {
  Dtype compute = result_type(*this, other);
  TWIG_CHECK(is_floating(compute) || other.to_int() != 0, RuntimeError, "ZeroDivisionError: remainder by zero");
  Tensor out = binary_raw(BinaryOp::Remainder, *this, detail::scalar_to_tensor(other, compute, device()), compute);
  autograd::record("RemainderBackward0", {*this}, {out},
                   [](const TensorList& g, const Node&) { return TensorList{g[0]}; });
  return out;
}

namespace {
// max/min backward: the gradient goes to the larger (smaller) input, split evenly on ties.
Tensor minmax(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  detail::check_defined(b, name);
  Tensor out = binary_raw(op, a, b, result_type(a, b));
  autograd::record(name, {a, b}, {out},
                   [sa = SavedTensor(a), sb = SavedTensor(b), op](const TensorList& g, const Node& n) {
                     Tensor x = sa.get(), y = sb.get();
                     Tensor x_wins = op == BinaryOp::Maximum ? (x > y) : (x < y);
                     Tensor tie = (x == y);
                     Tensor half = g[0] * 0.5;
                     Tensor gx = where(tie, half, where(x_wins, g[0], zeros_like(g[0])));
                     Tensor gy = where(tie, half, where(x_wins, zeros_like(g[0]), g[0]));
                     return grads_of(n.needs_input_grad(0) ? sum_to(gx, x.sizes()) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(gy, y.sizes()) : Tensor());
                   });
  return out;
}
}  // namespace

Tensor Tensor::maximum(const Tensor& other) const {
  return minmax(*this, other, BinaryOp::Maximum, "MaximumBackward0");
}
Tensor Tensor::minimum(const Tensor& other) const {
  return minmax(*this, other, BinaryOp::Minimum, "MinimumBackward0");
}
Tensor maximum(const Tensor& a, const Tensor& b) { return a.maximum(b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return a.minimum(b); }
Tensor pow(const Tensor& a, const Tensor& b) { return a.pow(b); }
Tensor pow(const Tensor& a, Scalar b) { return a.pow(b); }
Tensor pow(Scalar a, const Tensor& b) { return wrap(a, b).pow(b); }

// Scalar forms: the scalar becomes a 0-d tensor of the promoted dtype (it never requires grad).
Tensor Tensor::add(Scalar other, Scalar alpha) const {
  trace::Scope scope;
  Tensor out = add(wrap(other, *this), alpha);
  if (scope.recording()) [[unlikely]]
    scope.record1("add", {*this, trace::constant(other)}, {{"alpha", trace::repr(alpha)}}, out,
                  [other, alpha](const TensorList& in) { return in[0].add(other, alpha); });
  return out;
}
Tensor Tensor::sub(Scalar other, Scalar alpha) const {
  trace::Scope scope;
  Tensor out = sub(wrap(other, *this), alpha);
  if (scope.recording()) [[unlikely]]
    scope.record1("sub", {*this, trace::constant(other)}, {{"alpha", trace::repr(alpha)}}, out,
                  [other, alpha](const TensorList& in) { return in[0].sub(other, alpha); });
  return out;
}
Tensor Tensor::mul(Scalar other) const {
  trace::Scope scope;
  Tensor out = mul(wrap(other, *this));
  if (scope.recording()) [[unlikely]]
    scope.record1("mul", {*this, trace::constant(other)}, {}, out,
                  [other](const TensorList& in) { return in[0].mul(other); });
  return out;
}
Tensor Tensor::div(Scalar other) const {
  trace::Scope scope;
  Tensor out = div(wrap(other, *this));
  if (scope.recording()) [[unlikely]]
    scope.record1("div", {*this, trace::constant(other)}, {}, out,
                  [other](const TensorList& in) { return in[0].div(other); });
  return out;
}

// ---- in-place arithmetic ----------------------------------------------------------------------

// Recorded in-place ops: the node's output is self (the same tensor), so later uses of self see
// the node, and replay runs the op in place as the forward did.
const Tensor& Tensor::add_(const Tensor& other, Scalar alpha) const {
  trace::Scope scope;
  detail::inplace(
      *this, "add_", {other}, [&](const Tensor& s) { return s.add(other, alpha); },
      [&] {
        if (alpha.to_double() == 1.0) {
          binary_direct(BinaryOp::Add, *this, other, "add_");
        } else if (fusable(*this, {other})) {
          backend_for(device()).addcmul(*this, detail::broadcast_raw(other, sizes()), Tensor(), alpha, false);
        } else {
          binary_direct(BinaryOp::Add, *this,
                        binary_raw(BinaryOp::Mul, other, wrap(alpha, other), result_type(other, alpha)), "add_");
        }
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("add_", {*this, other}, {{"alpha", trace::repr(alpha)}}, *this,
                  [alpha](const TensorList& in) { return in[0].add_(in[1], alpha); });
  return *this;
}
const Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) const {
  trace::Scope scope;
  TWIG_CHECK(!(dtype() == kBool && other.dtype() == kBool), RuntimeError,
             "Subtraction, the `-` operator, with two bool tensors is not supported.");
  add_(other, negated(alpha));
  if (scope.recording()) [[unlikely]]
    scope.record1("sub_", {*this, other}, {{"alpha", trace::repr(alpha)}}, *this,
                  [alpha](const TensorList& in) { return in[0].sub_(in[1], alpha); });
  return *this;
}
const Tensor& Tensor::mul_(const Tensor& other) const {
  trace::Scope scope;
  detail::inplace(
      *this, "mul_", {other}, [&](const Tensor& s) { return s.mul(other); },
      [&] { binary_direct(BinaryOp::Mul, *this, other, "mul_"); });
  if (scope.recording()) [[unlikely]]
    scope.record1("mul_", {*this, other}, {}, *this, [](const TensorList& in) { return in[0].mul_(in[1]); });
  return *this;
}
const Tensor& Tensor::div_(const Tensor& other) const {
  trace::Scope scope;
  detail::inplace(
      *this, "div_", {other}, [&](const Tensor& s) { return s.div(other); },
      [&] {
        TWIG_CHECK(is_floating(dtype()), RuntimeError,
                   "div_: result type Float can't be cast to the desired output type ", dtype_tensor_name(dtype()));
        binary_direct(BinaryOp::Div, *this, other, "div_");
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("div_", {*this, other}, {}, *this, [](const TensorList& in) { return in[0].div_(in[1]); });
  return *this;
}
const Tensor& Tensor::add_(Scalar other, Scalar alpha) const {
  trace::Scope scope;
  add_(wrap(other, *this), alpha);
  if (scope.recording()) [[unlikely]]
    scope.record1("add_", {*this, trace::constant(other)}, {{"alpha", trace::repr(alpha)}}, *this,
                  [other, alpha](const TensorList& in) { return in[0].add_(other, alpha); });
  return *this;
}
const Tensor& Tensor::sub_(Scalar other, Scalar alpha) const {
  trace::Scope scope;
  sub_(wrap(other, *this), alpha);
  if (scope.recording()) [[unlikely]]
    scope.record1("sub_", {*this, trace::constant(other)}, {{"alpha", trace::repr(alpha)}}, *this,
                  [other, alpha](const TensorList& in) { return in[0].sub_(other, alpha); });
  return *this;
}
const Tensor& Tensor::mul_(Scalar other) const {
  trace::Scope scope;
  mul_(wrap(other, *this));
  if (scope.recording()) [[unlikely]]
    scope.record1("mul_", {*this, trace::constant(other)}, {}, *this,
                  [other](const TensorList& in) { return in[0].mul_(other); });
  return *this;
}
const Tensor& Tensor::div_(Scalar other) const {
  trace::Scope scope;
  div_(wrap(other, *this));
  if (scope.recording()) [[unlikely]]
    scope.record1("div_", {*this, trace::constant(other)}, {}, *this,
                  [other](const TensorList& in) { return in[0].div_(other); });
  return *this;
}
const Tensor& Tensor::pow_(Scalar exponent) const {
  trace::Scope scope;
  detail::inplace(
      *this, "pow_", {}, [&](const Tensor& s) { return s.pow(exponent); },
      [&] {
        TWIG_CHECK(!(is_integral(dtype(), true) && exponent.is_integral() && exponent.to_int() < 0), RuntimeError,
                   "Integers to negative integer powers are not allowed (exponent ", exponent, ")");
        binary_direct(BinaryOp::Pow, *this, wrap(exponent, *this), "pow_");
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("pow_", {*this, trace::constant(exponent)}, {}, *this,
                  [exponent](const TensorList& in) { return in[0].pow_(exponent); });
  return *this;
}
namespace {
// self += value * (t1 op t2) through the backend's fused kernel when no autograd is recorded.
const Tensor& add_combined(const Tensor& self, const Tensor& t1, const Tensor& t2, Scalar value, bool divide,
                           const char* name) {
  detail::check_defined(t1, name);
  detail::check_defined(t2, name);
  if (!autograd::should_record({self, t1, t2}) && fusable(self, {t1, t2})) {
    backend_for(self.device())
        .addcmul(self, detail::broadcast_raw(t1, self.sizes()), detail::broadcast_raw(t2, self.sizes()), value, divide);
    self.bump_version();
    return self;
  }
  return self.add_(divide ? t1 / t2 : t1 * t2, value);
}
}  // namespace

const Tensor& Tensor::addcmul_(const Tensor& t1, const Tensor& t2, Scalar value) const {
  return add_combined(*this, t1, t2, value, false, "addcmul_");
}
const Tensor& Tensor::addcdiv_(const Tensor& t1, const Tensor& t2, Scalar value) const {
  return add_combined(*this, t1, t2, value, true, "addcdiv_");
}
const Tensor& Tensor::lerp_(const Tensor& end, Scalar weight) const { return add_(end - *this, weight); }

// ---- unary ------------------------------------------------------------------------------------

namespace {

// A floating unary op whose backward is g * dfdx(input, output).
template <typename Deriv>
Tensor unary_float_op(const Tensor& a, UnaryOp op, const char* name, Deriv deriv) {
  detail::check_defined(a, name);
  Dtype compute = float_compute(a);
  Tensor out = unary_raw(op, a, compute, compute);
  autograd::record(name, {a}, {out},
                   [sa = SavedTensor(a), so = SavedTensor(out), deriv](const TensorList& g, const Node&) {
                     return TensorList{deriv(g[0], sa.get(), so.get())};
                   });
  return out;
}

// An op keeping the input dtype whose gradient is zero almost everywhere (sign, floor, ...).
Tensor unary_flat_op(const Tensor& a, UnaryOp op, const char* name) {
  detail::check_defined(a, name);
  Tensor out = unary_raw(op, a, a.dtype(), a.dtype());
  autograd::record(name, {a}, {out}, [](const TensorList& g, const Node&) { return TensorList{zeros_like(g[0])}; });
  return out;
}

Tensor bool_unary(const Tensor& a, UnaryOp op) { return unary_raw(op, a, a.dtype(), kBool); }

}  // namespace

Tensor Tensor::neg() const {
  trace::Scope scope;
  detail::check_defined(*this, "neg");
  TWIG_CHECK(dtype() != kBool, RuntimeError,
             "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert a mask, "
             "use the `~` or `logical_not()` operator instead.");
  Tensor out = unary_raw(UnaryOp::Neg, *this, dtype(), dtype());
  autograd::record("NegBackward0", {*this}, {out}, [](const TensorList& g, const Node&) { return TensorList{-g[0]}; });
  if (scope.recording()) [[unlikely]]
    scope.record1("neg", {*this}, {}, out, [](const TensorList& in) { return in[0].neg(); });
  return out;
}

Tensor Tensor::abs() const {
  detail::check_defined(*this, "abs");
  Tensor out = unary_raw(UnaryOp::Abs, *this, dtype(), dtype());
  autograd::record("AbsBackward0", {*this}, {out}, [sa = SavedTensor(*this)](const TensorList& g, const Node&) {
    return TensorList{g[0] * sa.get().sign()};
  });
  return out;
}

Tensor Tensor::relu() const {
  trace::Scope scope;
  detail::check_defined(*this, "relu");
  Tensor out = unary_raw(UnaryOp::Relu, *this, dtype(), dtype());
  autograd::record("ReluBackward0", {*this}, {out}, [so = SavedTensor(out)](const TensorList& g, const Node&) {
    // One fused select pass (no bool mask tensor, no multiply by a converted mask).
    const Tensor y = so.get();
    Tensor gx = detail::make_empty(y.sizes(), y.dtype(), y.device());
    backend_for(y.device()).threshold_backward(gx, g[0].to(y.dtype()), y, 0);
    return TensorList{gx};
  });
  if (scope.recording()) [[unlikely]]
    scope.record1("relu", {*this}, {}, out, [](const TensorList& in) { return in[0].relu(); });
  return out;
}

Tensor Tensor::square() const {
  Tensor out =
      unary_raw(UnaryOp::Square, *this, dtype() == kBool ? kInt64 : dtype(), dtype() == kBool ? kInt64 : dtype());
  autograd::record("PowBackward0", {*this}, {out}, [sa = SavedTensor(*this)](const TensorList& g, const Node&) {
    return TensorList{g[0] * sa.get() * 2.0};
  });
  return out;
}

Tensor Tensor::sign() const { return unary_flat_op(*this, UnaryOp::Sign, "SignBackward0"); }
Tensor Tensor::floor() const { return unary_flat_op(*this, UnaryOp::Floor, "FloorBackward0"); }
Tensor Tensor::ceil() const { return unary_flat_op(*this, UnaryOp::Ceil, "CeilBackward0"); }
Tensor Tensor::round() const { return unary_flat_op(*this, UnaryOp::Round, "RoundBackward0"); }
Tensor Tensor::trunc() const { return unary_flat_op(*this, UnaryOp::Trunc, "TruncBackward0"); }

Tensor Tensor::exp() const {
  trace::Scope scope;
  Tensor out = unary_float_op(*this, UnaryOp::Exp, "ExpBackward0",
                              [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; });
  if (scope.recording()) [[unlikely]]
    scope.record1("exp", {*this}, {}, out, [](const TensorList& in) { return in[0].exp(); });
  return out;
}
Tensor Tensor::log() const {
  trace::Scope scope;
  Tensor out = unary_float_op(*this, UnaryOp::Log, "LogBackward0",
                              [](const Tensor& g, const Tensor& x, const Tensor&) { return g / x; });
  if (scope.recording()) [[unlikely]]
    scope.record1("log", {*this}, {}, out, [](const TensorList& in) { return in[0].log(); });
  return out;
}
Tensor Tensor::log1p() const {
  return unary_float_op(*this, UnaryOp::Log1p, "Log1PBackward0",
                        [](const Tensor& g, const Tensor& x, const Tensor&) { return g / (x + 1.0); });
}
Tensor Tensor::expm1() const {
  return unary_float_op(*this, UnaryOp::Expm1, "Expm1Backward0",
                        [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (y + 1.0); });
}
Tensor Tensor::sqrt() const {
  return unary_float_op(*this, UnaryOp::Sqrt, "SqrtBackward0",
                        [](const Tensor& g, const Tensor&, const Tensor& y) { return g / (y * 2.0); });
}
Tensor Tensor::rsqrt() const {
  return unary_float_op(*this, UnaryOp::Rsqrt, "RsqrtBackward0",
                        [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y * y * y * -0.5; });
}
Tensor Tensor::reciprocal() const {
  return unary_float_op(*this, UnaryOp::Reciprocal, "ReciprocalBackward0",
                        [](const Tensor& g, const Tensor&, const Tensor& y) { return -g * y * y; });
}
Tensor Tensor::sin() const {
  return unary_float_op(*this, UnaryOp::Sin, "SinBackward0",
                        [](const Tensor& g, const Tensor& x, const Tensor&) { return g * x.cos(); });
}
Tensor Tensor::cos() const {
  return unary_float_op(*this, UnaryOp::Cos, "CosBackward0",
                        [](const Tensor& g, const Tensor& x, const Tensor&) { return -g * x.sin(); });
}
Tensor Tensor::tanh() const {
  trace::Scope scope;
  Tensor out = unary_float_op(*this, UnaryOp::Tanh, "TanhBackward0",
                              [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (1.0 - y * y); });
  if (scope.recording()) [[unlikely]]
    scope.record1("tanh", {*this}, {}, out, [](const TensorList& in) { return in[0].tanh(); });
  return out;
}
Tensor Tensor::sigmoid() const {
  trace::Scope scope;
  Tensor out = unary_float_op(*this, UnaryOp::Sigmoid, "SigmoidBackward0",
                              [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y * (1.0 - y); });
  if (scope.recording()) [[unlikely]]
    scope.record1("sigmoid", {*this}, {}, out, [](const TensorList& in) { return in[0].sigmoid(); });
  return out;
}
Tensor Tensor::erf() const {
  return unary_float_op(*this, UnaryOp::Erf, "ErfBackward0", [](const Tensor& g, const Tensor& x, const Tensor&) {
    return g * (x * x).neg().exp() * (2.0 / std::sqrt(M_PI));
  });
}

Tensor Tensor::clamp(std::optional<Scalar> lo, std::optional<Scalar> hi) const {
  detail::check_defined(*this, "clamp");
  TWIG_CHECK(lo.has_value() || hi.has_value(), RuntimeError,
             "torch.clamp: At least one of 'min' or 'max' must not be None");
  TWIG_CHECK(dtype() != kBool, RuntimeError, "clamp is not supported for bool tensors");
  Dtype compute = dtype();
  if ((lo && lo->is_floating()) || (hi && hi->is_floating())) compute = float_compute(*this);
  Tensor out = detail::make_empty(sizes(), compute, device());
  backend_for(device()).clamp(out, detail::converted(*this, compute), lo, hi);
  autograd::record("ClampBackward1", {*this}, {out},
                   [sa = SavedTensor(*this), lo, hi](const TensorList& g, const Node&) {
                     Tensor x = sa.get();
                     Tensor keep = ones_like(x, kBool);
                     if (lo) keep = keep & (x >= *lo);
                     if (hi) keep = keep & (x <= *hi);
                     return TensorList{g[0] * keep};
                   });
  return out;
}

const Tensor& Tensor::clamp_(std::optional<Scalar> lo, std::optional<Scalar> hi) const {
  trace::Scope scope;
  detail::inplace(
      *this, "clamp_", {}, [&](const Tensor& s) { return s.clamp(lo, hi); },
      [&] {
        TWIG_CHECK(dtype() != kBool, RuntimeError, "clamp_ is not supported for bool tensors");
        TWIG_CHECK(is_floating(dtype()) || !((lo && lo->is_floating()) || (hi && hi->is_floating())), RuntimeError,
                   "clamp_: result type Float can't be cast to the desired output type ", dtype_tensor_name(dtype()));
        backend_for(device()).clamp(*this, *this, lo, hi);
      });
  if (scope.recording()) [[unlikely]]
    scope.record1("clamp_", {*this}, {{"min", trace::repr(lo)}, {"max", trace::repr(hi)}}, *this,
                  [lo, hi](const TensorList& in) { return in[0].clamp_(lo, hi); });
  return *this;
}

namespace {
// `f` is the out-of-place op, `f_` the public in-place one (what a replay runs).
const Tensor& unary_inplace(const Tensor& self, UnaryOp op, const char* name, Tensor (Tensor::*f)() const,
                            const Tensor& (Tensor::*f_)() const) {
  trace::Scope scope;
  detail::inplace(
      self, name, {}, [&](const Tensor& s) { return (s.*f)(); },
      [&] {
        TWIG_CHECK(is_floating(self.dtype()) || op == UnaryOp::Relu || op == UnaryOp::Neg || op == UnaryOp::Abs,
                   RuntimeError, name, ": result type Float can't be cast to the desired output type ",
                   dtype_tensor_name(self.dtype()));
        TWIG_CHECK(!(op == UnaryOp::Neg && self.dtype() == kBool), RuntimeError, name,
                   ": negation of a bool tensor is not supported; use logical_not()");
        backend_for(self.device()).unary(op, self, self);
      });
  if (scope.recording()) [[unlikely]]
    scope.record1(name, {self}, {}, self, [f_](const TensorList& in) { return (in[0].*f_)(); });
  return self;
}
}  // namespace

const Tensor& Tensor::relu_() const {
  return unary_inplace(*this, UnaryOp::Relu, "relu_", &Tensor::relu, &Tensor::relu_);
}
const Tensor& Tensor::neg_() const { return unary_inplace(*this, UnaryOp::Neg, "neg_", &Tensor::neg, &Tensor::neg_); }
const Tensor& Tensor::abs_() const { return unary_inplace(*this, UnaryOp::Abs, "abs_", &Tensor::abs, &Tensor::abs_); }
const Tensor& Tensor::sqrt_() const {
  return unary_inplace(*this, UnaryOp::Sqrt, "sqrt_", &Tensor::sqrt, &Tensor::sqrt_);
}
const Tensor& Tensor::exp_() const { return unary_inplace(*this, UnaryOp::Exp, "exp_", &Tensor::exp, &Tensor::exp_); }

// ---- comparisons and logic (never differentiable) ----------------------------------------------

#define TWIG_COMPARISON(method, OP)                                           \
  Tensor Tensor::method(const Tensor& other) const {                          \
    detail::check_defined(*this, #method);                                    \
    detail::check_defined(other, #method);                                    \
    return binary_raw(BinaryOp::OP, *this, other, result_type(*this, other)); \
  }                                                                           \
  Tensor Tensor::method(Scalar other) const { return method(wrap(other, *this)); }
TWIG_COMPARISON(eq, Eq)
TWIG_COMPARISON(ne, Ne)
TWIG_COMPARISON(lt, Lt)
TWIG_COMPARISON(le, Le)
TWIG_COMPARISON(gt, Gt)
TWIG_COMPARISON(ge, Ge)
#undef TWIG_COMPARISON

Tensor Tensor::logical_and(const Tensor& other) const {
  return binary_raw(BinaryOp::LogicalAnd, *this, other, result_type(*this, other));
}
Tensor Tensor::logical_or(const Tensor& other) const {
  return binary_raw(BinaryOp::LogicalOr, *this, other, result_type(*this, other));
}
Tensor Tensor::logical_xor(const Tensor& other) const {
  return binary_raw(BinaryOp::LogicalXor, *this, other, result_type(*this, other));
}
Tensor Tensor::logical_not() const { return bool_unary(*this, UnaryOp::LogicalNot); }
Tensor Tensor::bitwise_not() const {
  TWIG_CHECK(!is_floating(dtype()), TypeError, "bitwise_not (~) is only supported for integer and bool tensors, got ",
             dtype_name(dtype()));
  return unary_raw(UnaryOp::BitwiseNot, *this, dtype(), dtype());
}
Tensor Tensor::isnan() const { return bool_unary(*this, UnaryOp::IsNan); }
Tensor Tensor::isinf() const { return bool_unary(*this, UnaryOp::IsInf); }
Tensor Tensor::isfinite() const { return bool_unary(*this, UnaryOp::IsFinite); }

namespace {
Tensor bitwise(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
  Dtype compute = result_type(a, b);
  TWIG_CHECK(!is_floating(compute), TypeError, name, " is only supported for integer and bool tensors, got ",
             dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  return binary_raw(op, a, b, compute);
}
}  // namespace

// ---- where ------------------------------------------------------------------------------------

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::check_defined(cond, "where");
  detail::check_defined(a, "where");
  detail::check_defined(b, "where");
  TWIG_CHECK(cond.dtype() == kBool, TypeError,
             "where expected condition to be a boolean tensor, but got a tensor with dtype ", dtype_name(cond.dtype()));
  Dtype compute = result_type(a, b);
  Shape shape = broadcast_shape(cond.sizes(), broadcast_shape(a.sizes(), b.sizes()));
  Tensor out = detail::make_empty(shape, compute, a.device());
  backend_for(a.device())
      .where(out, detail::broadcast_raw(cond, shape), detail::broadcast_raw(detail::converted(a, compute), shape),
             detail::broadcast_raw(detail::converted(b, compute), shape));
  autograd::record("WhereBackward0", {a, b}, {out},
                   [sc = SavedTensor(cond), sa = a.sizes(), sb = b.sizes()](const TensorList& g, const Node& n) {
                     Tensor c = sc.get();
                     Tensor z = zeros_like(g[0]);
                     return grads_of(n.needs_input_grad(0) ? sum_to(where(c, g[0], z), sa) : Tensor(),
                                     n.needs_input_grad(1) ? sum_to(where(c, z, g[0]), sb) : Tensor());
                   });
  return out;
}
Tensor where(const Tensor& cond, Scalar a, const Tensor& b) { return where(cond, wrap(a, b), b); }
Tensor where(const Tensor& cond, const Tensor& a, Scalar b) { return where(cond, a, wrap(b, a)); }
Tensor where(const Tensor& cond, Scalar a, Scalar b) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return where(cond, detail::scalar_to_tensor(a, t, cond.device()), detail::scalar_to_tensor(b, t, cond.device()));
}

// ---- operators --------------------------------------------------------------------------------

Tensor operator-(const Tensor& a) { return a.neg(); }
Tensor operator+(const Tensor& a, const Tensor& b) { return a.add(b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return a.sub(b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return a.mul(b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return a.div(b); }
Tensor operator+(const Tensor& a, Scalar b) { return a.add(b); }
Tensor operator-(const Tensor& a, Scalar b) { return a.sub(b); }
Tensor operator*(const Tensor& a, Scalar b) { return a.mul(b); }
Tensor operator/(const Tensor& a, Scalar b) { return a.div(b); }
Tensor operator+(Scalar a, const Tensor& b) { return b.add(a); }
Tensor operator-(Scalar a, const Tensor& b) {
  trace::Scope scope;
  Tensor out = wrap(a, b).sub(b);
  if (scope.recording()) [[unlikely]]
    scope.record1("rsub", {b, trace::constant(a)}, {}, out, [a](const TensorList& in) { return a - in[0]; });
  return out;
}
Tensor operator*(Scalar a, const Tensor& b) { return b.mul(a); }
Tensor operator/(Scalar a, const Tensor& b) {
  trace::Scope scope;
  Tensor out = wrap(a, b).div(b);
  if (scope.recording()) [[unlikely]]
    scope.record1("truediv", {trace::constant(a), b}, {}, out, [a](const TensorList& in) { return a / in[0]; });
  return out;
}
Tensor operator==(const Tensor& a, const Tensor& b) { return a.eq(b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return a.ne(b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return a.lt(b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return a.le(b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return a.gt(b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return a.ge(b); }
Tensor operator==(const Tensor& a, Scalar b) { return a.eq(b); }
Tensor operator!=(const Tensor& a, Scalar b) { return a.ne(b); }
Tensor operator<(const Tensor& a, Scalar b) { return a.lt(b); }
Tensor operator<=(const Tensor& a, Scalar b) { return a.le(b); }
Tensor operator>(const Tensor& a, Scalar b) { return a.gt(b); }
Tensor operator>=(const Tensor& a, Scalar b) { return a.ge(b); }
Tensor operator!(const Tensor& a) { return a.logical_not(); }
Tensor operator~(const Tensor& a) { return a.bitwise_not(); }
Tensor operator&(const Tensor& a, const Tensor& b) { return bitwise(a, b, BinaryOp::BitwiseAnd, "bitwise_and (&)"); }
Tensor operator|(const Tensor& a, const Tensor& b) { return bitwise(a, b, BinaryOp::BitwiseOr, "bitwise_or (|)"); }
Tensor operator^(const Tensor& a, const Tensor& b) { return bitwise(a, b, BinaryOp::BitwiseXor, "bitwise_xor (^)"); }
const Tensor& operator+=(const Tensor& a, const Tensor& b) { return a.add_(b); }
const Tensor& operator-=(const Tensor& a, const Tensor& b) { return a.sub_(b); }
const Tensor& operator*=(const Tensor& a, const Tensor& b) { return a.mul_(b); }
const Tensor& operator/=(const Tensor& a, const Tensor& b) { return a.div_(b); }
const Tensor& operator+=(const Tensor& a, Scalar b) { return a.add_(b); }
const Tensor& operator-=(const Tensor& a, Scalar b) { return a.sub_(b); }
const Tensor& operator*=(const Tensor& a, Scalar b) { return a.mul_(b); }
const Tensor& operator/=(const Tensor& a, Scalar b) { return a.div_(b); }

}  // namespace twig
