// The data behind a Tensor handle: {shared storage, sizes, strides, offset, dtype} plus optional
// autograd metadata and a version counter shared with every view of the same storage. A sparse COO
// tensor has no storage and no strides: its data are two strided tensors, indices and values.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "twig/tensor/dtype.h"
#include "twig/tensor/layout.h"
#include "twig/tensor/storage.h"

namespace twig {

class Tensor;
using Shape = std::vector<int64_t>;

// What tensor/ knows of a tensor's autograd state (c10's AutogradMetaInterface). autograd/
// implements it (autograd::AutogradMeta) and is the only code that creates one; tensor/ only owns
// and destroys it.
struct AutogradMetaInterface {
  virtual ~AutogradMetaInterface() = default;
  virtual bool requires_grad_flag() const = 0;
  // The accumulated gradient (undefined when none).
  virtual const Tensor& accumulated_grad() const = 0;
  // The name of the node that made the tensor ("AddBackward0"); empty for leaves.
  virtual std::string grad_fn_name() const = 0;
};

// Counts in-place modifications; a tensor and all its views hold the same counter, so a tensor
// saved for backward notices when any alias of it was written.
struct VersionCounter {
  std::atomic<uint32_t> value{0};
};

struct TensorImpl {
  Storage storage;
  Shape sizes;         // one entry per dim
  Shape strides;       // in elements, one per dim
  int64_t offset = 0;  // in elements, from storage->data()
  Dtype dtype = kFloat32;
  std::shared_ptr<VersionCounter> version = std::make_shared<VersionCounter>();
  // Null until the tensor takes part in autograd (requires_grad, a grad_fn, a hook).
  std::unique_ptr<AutogradMetaInterface> autograd;
  // Set for views: the tensor whose storage this one aliases (used to refuse unsafe in-place ops).
  std::shared_ptr<TensorImpl> view_base;

  // Sparse COO (layout == SparseCoo): storage and strides stay empty; sizes is the dense size and
  // dtype the values' dtype. sparse_dim = coo_indices' rows; the values' trailing dims are dense.
  Layout layout = Layout::Strided;
  std::shared_ptr<TensorImpl> coo_indices;  // int64 (sparse_dim, nnz)
  std::shared_ptr<TensorImpl> coo_values;   // (nnz, dense dims...)
  bool coo_coalesced = false;               // sorted by linear index, no duplicates

  TensorImpl();
  ~TensorImpl();
  int64_t numel() const;
  bool is_contiguous() const;
};

}  // namespace twig
