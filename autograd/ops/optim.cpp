// Fused optimizer steps: the per-parameter update of torch.optim's algorithms as one kernel call.
#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"

namespace twig {

void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const Tensor& max_exp_avg_sq, const AdamStep& s) {
  const char* op = "adam_step_";
  std::vector<std::pair<const char*, const Tensor*>> all = {
      {"param", &param}, {"grad", &grad}, {"exp_avg", &exp_avg}, {"exp_avg_sq", &exp_avg_sq}};
  if (s.amsgrad) all.emplace_back("max_exp_avg_sq", &max_exp_avg_sq);
  for (const auto& [name, t] : all) {
    TWIG_CHECK(t->defined(), RuntimeError, op, ": ", name, " is an undefined tensor");
    TWIG_CHECK(is_floating(t->dtype()), TypeError, op, ": ", name, " must be floating, got ", dtype_name(t->dtype()));
    TWIG_CHECK(t->dtype() == param.dtype(), TypeError, op, ": ", name, " has dtype ", dtype_name(t->dtype()),
               " but param has ", dtype_name(param.dtype()));
    TWIG_CHECK(t->sizes() == param.sizes(), ValueError, op, ": ", name, " has shape ", t->sizes(), " but param has ",
               param.sizes());
    detail::check_same_device(param, *t, op);
  }
  TWIG_CHECK(!autograd::should_record({param, grad, exp_avg, exp_avg_sq}), RuntimeError, op,
             ": a leaf that requires grad can't be updated in place while grad mode records; run it under "
             "NoGradGuard");
  // The kernel wants contiguous memory; strided tensors are updated through contiguous copies.
  auto dense = [](const Tensor& t) { return t.defined() && !t.is_contiguous() ? t.contiguous() : t; };
  Tensor p = dense(param), m = dense(exp_avg), v = dense(exp_avg_sq),
         vmax = s.amsgrad ? dense(max_exp_avg_sq) : Tensor();
  backend_for(param.device()).adam_step(p, dense(grad), m, v, vmax, s);
  const std::pair<const Tensor*, const Tensor*> written[] = {
      {&param, &p}, {&exp_avg, &m}, {&exp_avg_sq, &v}, {&max_exp_avg_sq, &vmax}};
  for (const auto& [target, result] : written) {
    if (!result->defined()) continue;
    if (!result->is_same(*target)) backend_for(param.device()).copy(*target, *result);
    target->bump_version();
  }
}

}  // namespace twig
