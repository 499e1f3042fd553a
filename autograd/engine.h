// Runs backward over the graph with an explicit stack and a ready queue: no recursion, so graphs
// of any depth (an LSTM over a long sequence) are safe.
#pragma once

#include "twig/tensor/tensor.h"

namespace twig::autograd {

// Accumulates d(roots)/d(leaf) · grad_roots into every reachable leaf's .grad. grad_roots may be
// empty (or hold undefined entries) for one-element roots, meaning ones.
void backward(const TensorList& roots, const TensorList& grad_roots = {}, bool retain_graph = false);

// torch.autograd.grad: the gradients of roots with respect to inputs, without touching any .grad.
// An input the roots do not depend on gets an undefined tensor if allow_unused, else RuntimeError.
TensorList grad(const TensorList& roots, const TensorList& inputs, const TensorList& grad_roots = {},
                bool retain_graph = false, bool allow_unused = false);

}  // namespace twig::autograd
