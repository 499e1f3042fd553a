// Per-tensor autograd state, allocated only for tensors that take part in autograd.
#pragma once

#include <memory>

#include "twig/autograd/node.h"
#include "twig/tensor/tensor.h"

namespace twig::autograd {

// Implements tensor/'s AutogradMetaInterface; TensorImpl::autograd always holds one of these.
struct AutogradMeta final : AutogradMetaInterface {
  bool requires_grad = false;
  Tensor grad;                                     // accumulated gradient (leaves, or retain_grad)
  std::shared_ptr<Node> grad_fn;                   // null for leaves
  uint32_t output_nr = 0;                          // which output of grad_fn this tensor is
  std::weak_ptr<AccumulateGrad> grad_accumulator;  // leaves: created on first use
  bool retains_grad = false;
  RemovableHandle retain_grad_hook;  // on grad_fn; moved when an in-place op rebases history
  HookDict<TensorHook> hooks;        // leaf hooks (non-leaf hooks live on grad_fn)

  bool requires_grad_flag() const override { return requires_grad; }
  const Tensor& accumulated_grad() const override { return grad; }
  std::string grad_fn_name() const override { return grad_fn ? grad_fn->name() : std::string(); }
};

// The tensor's metadata, created if absent.
AutogradMeta& meta(const Tensor& t);
// Points t's history at (grad_fn, output_nr) after an in-place op; a retained gradient follows.
void rebase_history(const Tensor& t, std::shared_ptr<Node> grad_fn, uint32_t output_nr);
// Null when the tensor has none.
AutogradMeta* meta_or_null(const Tensor& t);
// The edge a gradient for t flows into: its grad_fn, or its leaf accumulator; empty if t does
// not require grad.
Edge gradient_edge(const Tensor& t);

}  // namespace twig::autograd
