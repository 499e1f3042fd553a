// How an op joins the graph. Each op computes its forward, then calls record() with a closure that
// computes the input gradients from the output gradients: forward and backward side by side.
//
//   Tensor out = ...forward...;
//   autograd::record("MulBackward0", {a, b}, {out},
//       [sa = SavedTensor(a), sb = SavedTensor(b)](const TensorList& g, const Node& n) -> TensorList {
//         return {n.needs_input_grad(0) ? g[0] * sb.get() : Tensor(),
//                 n.needs_input_grad(1) ? g[0] * sa.get() : Tensor()};
//       });
#pragma once

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/node.h"

namespace twig::autograd {

// True when grad mode is on and some input requires grad: the op must record.
bool should_record(const TensorList& inputs);

// If should_record(inputs): makes a FunctionNode with edges to the inputs and makes it the grad_fn
// of each output (outputs become requires_grad). Undefined inputs get empty edges. An output that
// is also an input (an in-place op) has its history rebased onto the new node.
void record(const char* name, const TensorList& inputs, const TensorList& outputs, FunctionNode::BackwardFn fn);

// Guard for in-place ops: RuntimeError for a leaf that requires grad (while grad mode is on) and
// for a view whose base requires grad.
void check_inplace(const Tensor& self, const char* op);

// Reduces a broadcast gradient back to `shape` (sums the expanded dims).
Tensor sum_to(const Tensor& grad, const Shape& shape);

}  // namespace twig::autograd
