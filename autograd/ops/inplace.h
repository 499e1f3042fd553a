// The in-place driver shared by every in-place op (internal).
#pragma once

#include "twig/autograd/autograd_meta.h"
#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/tensor/trace.h"

namespace twig::detail {

// Whether a value of dtype `from` may be written into a tensor of dtype `to` (float into an
// integer tensor may not, like PyTorch's "result type can't be cast" rule).
inline bool can_cast(Dtype from, Dtype to) {
  auto category = [](Dtype t) { return t == kBool ? 0 : is_integral(t) ? 1 : 2; };
  return category(from) <= category(to);
}

// Shared in-place driver. Without autograd the kernel writes straight into self; with autograd
// the out-of-place op runs on a clone of self (so values it saves stay intact) and self takes over
// its result and its history.
template <typename OutOfPlace, typename Direct>
const Tensor& inplace(const Tensor& self, const char* name, const TensorList& others, OutOfPlace out_of_place,
                      Direct direct) {
  trace::Scope scope;  // what an in-place op runs inside is never recorded (the op itself may be)
  detail::check_defined(self, name);
  for (const Tensor& t : others) {
    if (t.defined()) detail::check_defined(t, name);  // (names the op when an operand is sparse)
  }
  TensorList inputs = others;
  inputs.push_back(self);
  if (autograd::should_record(inputs)) {
    autograd::check_inplace(self, name);
    Tensor r = out_of_place(self.clone());
    TWIG_CHECK(r.sizes() == self.sizes(), RuntimeError, name, ": output with shape ", self.sizes(),
               " doesn't match the broadcast shape ", r.sizes());
    TWIG_CHECK(can_cast(r.dtype(), self.dtype()), RuntimeError, name, ": result type ", dtype_tensor_name(r.dtype()),
               " can't be cast to the desired output type ", dtype_tensor_name(self.dtype()));
    backend_for(self.device()).copy(self, r);
    self.bump_version();
    autograd::rebase_history(self, r.grad_fn(), r.output_nr());
    return self;
  }
  direct();
  self.bump_version();
  return self;
}

}  // namespace twig::detail
