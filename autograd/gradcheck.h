// Finite-difference gradient checking (torch.autograd.gradcheck): compares the Jacobian from
// backward with central differences, input by input, element by element.
#pragma once

#include <functional>
#include <string>

#include "twig/tensor/tensor.h"

namespace twig::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // first mismatch: input, element, numerical and analytical values
  explicit operator bool() const { return ok; }
};

// fn maps the inputs to one or more outputs. Inputs that require grad (float64 recommended) are
// checked; others are held constant. Inputs may be non-contiguous views.
GradcheckResult gradcheck(const std::function<TensorList(const TensorList&)>& fn, const TensorList& inputs,
                          const GradcheckOptions& options = {});

}  // namespace twig::autograd
