// The backward graph: a Node per recorded op, Edges to the nodes of its inputs, and SavedTensor
// for what backward needs (with the version check that catches in-place modification).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "twig/tensor/hooks.h"
#include "twig/tensor/tensor.h"

namespace twig::autograd {

class Node;

// Where a gradient goes: input slot `input_nr` of `node`. An empty edge means "not needed".
struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;
  bool valid() const { return node != nullptr; }
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(std::string name);
  // Releases the chain of nodes only this one keeps alive iteratively: a graph 100000 ops deep
  // must not recurse through 100000 shared_ptr destructors.
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  // Creation order; the engine runs later nodes first, as PyTorch does.
  uint64_t sequence_nr() const { return sequence_nr_; }

  // One edge per forward input.
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  bool needs_input_grad(size_t i) const { return i < next_edges_.size() && next_edges_[i].valid(); }

  // What each forward output looked like, so missing gradients become zeros of the right shape
  // and a wrong-shaped gradient is caught.
  struct OutputMeta {
    Shape shape;
    Dtype dtype;
    Device device;
  };
  const std::vector<OutputMeta>& outputs() const { return outputs_; }
  void add_output(const Tensor& t);

  // Hooks on the gradient of forward output `output_nr` (a non-leaf tensor's register_hook).
  RemovableHandle register_grad_hook(uint32_t output_nr, TensorHook hook);
  // Runs those hooks on grads (in place).
  void run_grad_hooks(TensorList& grads);

  // grads has one entry per forward output; returns one per forward input (undefined = none).
  virtual TensorList apply(TensorList grads) = 0;
  // Drops saved tensors after a backward without retain_graph.
  virtual void release_saved() {}

 private:
  std::string name_;
  uint64_t sequence_nr_;
  std::vector<Edge> next_edges_;
  std::vector<OutputMeta> outputs_;
  std::vector<HookDict<TensorHook>> grad_hooks_;
};

// A tensor kept for backward: an alias without autograd plus the version it had when saved.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t);
  // The saved value; RuntimeError if it was modified in place since it was saved, or released.
  Tensor get() const;
  bool defined() const { return defined_; }
  void reset();

 private:
  Tensor data_;
  uint32_t saved_version_ = 0;
  bool defined_ = false;
  bool released_ = false;
};

// A node whose backward is a closure written next to the forward (see record in function.h).
class FunctionNode : public Node {
 public:
  using BackwardFn = std::function<TensorList(const TensorList& grads, const Node& node)>;
  FunctionNode(std::string name, BackwardFn fn) : Node(std::move(name)), fn_(std::move(fn)) {}
  TensorList apply(TensorList grads) override;
  void release_saved() override;

 private:
  BackwardFn fn_;
  bool released_ = false;
};

// Sink for a leaf: runs the leaf's hooks and accumulates into its .grad.
class AccumulateGrad : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  TensorList apply(TensorList grads) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

}  // namespace twig::autograd
