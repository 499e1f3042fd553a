#include "twig/autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "twig/autograd/engine.h"
#include "twig/autograd/grad_mode.h"
#include "twig/tensor/raw.h"

namespace twig::autograd {

namespace {

// The floating outputs (integer outputs such as indices have no gradient).
TensorList floating_outputs(const TensorList& outs) {
  TensorList f;
  for (const Tensor& o : outs) {
    if (o.defined() && is_floating(o.dtype())) f.push_back(o);
  }
  return f;
}

// The floating outputs flattened into one float64 vector.
std::vector<double> flat_outputs(const TensorList& all) {
  std::vector<double> v;
  for (const Tensor& o : floating_outputs(all)) {
    std::vector<double> part = o.to_vector<double>();
    v.insert(v.end(), part.begin(), part.end());
  }
  return v;
}

// Byte address of element `flat` (row-major position) of t, honoring its strides.
char* element_address(const Tensor& t, int64_t flat) {
  int64_t offset = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (flat % t.size(d)) * t.stride(d);
    flat /= t.size(d);
  }
  return static_cast<char*>(t.raw_data_ptr()) + offset * static_cast<int64_t>(t.element_size());
}

double read(const Tensor& t, int64_t flat) {
  char* p = element_address(t, flat);
  return t.dtype() == kFloat64 ? *reinterpret_cast<double*>(p) : *reinterpret_cast<float*>(p);
}

void write(const Tensor& t, int64_t flat, double v) {
  char* p = element_address(t, flat);
  if (t.dtype() == kFloat64) {
    *reinterpret_cast<double*>(p) = v;
  } else {
    *reinterpret_cast<float*>(p) = static_cast<float>(v);
  }
}

}  // namespace

GradcheckResult gradcheck(const std::function<TensorList(const TensorList&)>& fn, const TensorList& inputs,
                          const GradcheckOptions& options) {
  GradcheckResult result;
  std::vector<size_t> diff_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      TWIG_CHECK(inputs[i].device().is_cpu() && is_floating(inputs[i].dtype()), ValueError, "gradcheck: input ", i,
                 " must be a floating CPU tensor");
      diff_inputs.push_back(i);
    }
  }
  TWIG_CHECK(!diff_inputs.empty(), ValueError, "gradcheck: no input requires grad");

  TensorList outs = floating_outputs(fn(inputs));
  std::vector<double> out0 = flat_outputs(outs);
  const int64_t n_out = static_cast<int64_t>(out0.size());

  // Analytical Jacobian rows: one backward per output element with a one-hot gradient.
  TensorList diff;
  for (size_t i : diff_inputs) diff.push_back(inputs[i]);
  std::vector<std::vector<double>> analytical(diff.size());  // [input][out * numel + elem]
  for (size_t k = 0; k < diff.size(); ++k) analytical[k].assign(static_cast<size_t>(n_out * diff[k].numel()), 0.0);
  for (int64_t o = 0; o < n_out; ++o) {
    TensorList roots, grads;
    int64_t base = 0;
    for (const Tensor& out : outs) {
      Tensor g = detail::make_full(out.sizes(), 0, out.dtype(), out.device());
      if (o >= base && o < base + out.numel()) write(g, o - base, 1.0);
      base += out.numel();
      if (out.requires_grad()) {
        roots.push_back(out);
        grads.push_back(g);
      }
    }
    if (roots.empty()) continue;
    TensorList g = grad(roots, diff, grads, /*retain_graph=*/true, /*allow_unused=*/true);
    for (size_t k = 0; k < diff.size(); ++k) {
      if (!g[k].defined()) continue;
      TWIG_CHECK(g[k].sizes() == diff[k].sizes(), RuntimeError, "gradcheck: gradient for input ", diff_inputs[k],
                 " has shape ", g[k].sizes(), " but the input has shape ", diff[k].sizes());
      std::vector<double> row = g[k].to_vector<double>();
      for (size_t e = 0; e < row.size(); ++e) analytical[k][static_cast<size_t>(o) * row.size() + e] = row[e];
    }
  }

  // Numerical Jacobian by central differences, perturbing each element in place.
  NoGradGuard no_grad;
  for (size_t k = 0; k < diff.size(); ++k) {
    const Tensor& x = diff[k];
    const int64_t n_in = x.numel();
    for (int64_t e = 0; e < n_in; ++e) {
      double orig = read(x, e);
      write(x, e, orig + options.eps);
      std::vector<double> plus = flat_outputs(fn(inputs));
      write(x, e, orig - options.eps);
      std::vector<double> minus = flat_outputs(fn(inputs));
      write(x, e, orig);
      for (int64_t o = 0; o < n_out; ++o) {
        double numerical = (plus[o] - minus[o]) / (2 * options.eps);
        double a = analytical[k][static_cast<size_t>(o * n_in + e)];
        if (!(std::abs(a - numerical) <= options.atol + options.rtol * std::abs(numerical))) {
          std::ostringstream os;
          os << "Jacobian mismatch for output " << o << " with respect to input " << diff_inputs[k] << " element " << e
             << ": numerical " << numerical << " vs analytical " << a;
          result.ok = false;
          result.message = os.str();
          return result;
        }
      }
    }
  }
  return result;
}

}  // namespace twig::autograd
