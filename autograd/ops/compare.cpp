// Comparison helpers with PyTorch 1.13 semantics: equal, isclose, allclose. Built from existing
// ops; none of them is differentiable, so the work runs without recording a graph.
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

namespace twig {

bool equal(const Tensor& a, const Tensor& b) {
  detail::check_defined(a, "equal");
  detail::check_defined(b, "equal");
  if (a.sizes() != b.sizes()) return false;
  NoGradGuard no_grad;
  for (bool v : a.eq(b).to_vector<bool>()) {
    if (!v) return false;
  }
  return true;
}

Tensor isclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  detail::check_defined(a, "isclose");
  detail::check_defined(b, "isclose");
  // torch 1.13: "Float did not match Double" (no promotion between the two inputs).
  TWIG_CHECK(a.dtype() == b.dtype(), RuntimeError, dtype_tensor_name(a.dtype()), " did not match ",
             dtype_tensor_name(b.dtype()));
  TWIG_CHECK(rtol >= 0, RuntimeError, "rtol must be greater than or equal to zero, but got ", rtol);
  TWIG_CHECK(atol >= 0, RuntimeError, "atol must be greater than or equal to zero, but got ", atol);
  NoGradGuard no_grad;
  // Exact equality first: it makes inf == inf (same sign) close.
  Tensor close = a.eq(b);
  if (equal_nan && a.is_floating_point()) close = close.logical_or(a.isnan().logical_and(b.isnan()));
  if (rtol == 0 && atol == 0) return close;
  // Floating inputs compute the error in their own dtype, as PyTorch does; integers and bools in
  // float64 (so uint8 differences do not wrap around).
  Tensor x = a.is_floating_point() ? a : a.to(kFloat64);
  Tensor y = b.is_floating_point() ? b : b.to(kFloat64);
  Tensor allowed = (y * rtol).abs() + atol;
  Tensor actual = (x - y).abs();
  return close.logical_or(actual.isfinite().logical_and(actual <= allowed));
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  Tensor close = isclose(a, b, rtol, atol, equal_nan);
  for (bool v : close.to_vector<bool>()) {
    if (!v) return false;
  }
  return true;
}

}  // namespace twig
