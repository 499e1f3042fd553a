// Non-recording helpers over the Backend: tensors made, aliased, converted and combined without
// autograd, without tracing and without the op API (autograd/ops/). tensor/ itself, the autograd
// engine and the ops use them; none of them records a graph node.
#pragma once

#include <string>
#include <vector>

#include "twig/tensor/backend.h"
#include "twig/tensor/shape.h"
#include "twig/tensor/tensor.h"

namespace twig::detail {

// A new contiguous tensor with uninitialized contents.
Tensor make_empty(const Shape& shape, Dtype dtype, Device device);
// A new contiguous tensor filled with value.
Tensor make_full(const Shape& shape, Scalar value, Dtype dtype, Device device);
// A tensor aliasing base's storage with other geometry (no autograd; views record their own).
// Shares base's version counter and remembers base as its view base.
Tensor make_alias(const Tensor& base, Shape sizes, Shape strides, int64_t offset);
// A view of t broadcast to shape (stride 0 on expanded dims), without autograd.
Tensor broadcast_raw(const Tensor& t, const Shape& shape);
// A 0-d tensor holding s in dtype.
Tensor scalar_to_tensor(Scalar s, Dtype dtype, Device device);
// RuntimeError unless t is defined; NotImplementedError unless it is strided: nearly every op calls
// it, so an op that does not support sparse COO says so by name ("add: expected a strided tensor but got one with
// layout ...").
void check_defined(const Tensor& t, const char* op);
// RuntimeError when tensors are on different devices.
void check_same_device(const Tensor& a, const Tensor& b, const char* op);
// A view of t with t's data converted to dtype (t itself if it already has it); no autograd.
Tensor converted(const Tensor& t, Dtype dtype);
// A new contiguous copy of t in dtype on device (a cross-device copy is served by the non-CPU
// side's backend).
Tensor copy_raw(const Tensor& t, Dtype dtype, Device device);
// t itself when contiguous, else a contiguous copy.
Tensor contiguous_raw(const Tensor& t);
// t with shape (same numel): an alias when t is contiguous, else an alias of a contiguous copy.
Tensor reshape_raw(const Tensor& t, const Shape& shape);
// a + b broadcast, in the promoted dtype of the two.
Tensor add_raw(const Tensor& a, const Tensor& b);
// self += other (other broadcast to self's shape and converted to its dtype); bumps self's version.
void add_into_raw(const Tensor& self, const Tensor& other);
// Which dims a reduction removes, and the shapes around it. Empty dims means all of them.
struct ReduceDims {
  std::vector<bool> reduced;  // per input dim
  Shape keep_shape;           // input shape with reduced dims set to 1
  Shape out_shape;            // keep_shape, or without the reduced dims when !keepdim
  int64_t count = 1;          // elements reduced into each output
};
ReduceDims reduce_dims(const Tensor& t, const Dims& dims, bool keepdim);
// The backend reduction into a new tensor of out_shape (no autograd).
Tensor reduce_raw(ReduceOp op, const Tensor& in, const ReduceDims& rd, Dtype out_dtype, double p = 0.0);
// Sparse COO: a new sparse tensor over indices (sparse_dim, nnz) int64 and values (nnz, dense...),
// taking both as they are (no check, no copy); and one sharing t's indices and values (detach).
Tensor make_sparse(const Tensor& indices, const Tensor& values, const Shape& sizes, bool coalesced);
Tensor sparse_shallow_copy(const Tensor& t);
// Undefined-safe "Float[2, 3]" description for messages.
std::string describe(const Tensor& t);

}  // namespace twig::detail
