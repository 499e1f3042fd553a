// torch.ao.pruning's NearlyDiagonalSparsifier (sparsifier/nearly_diagonal_sparsifier.py): a mask
// that keeps the `nearliness` diagonals closest to the main one of a 2-D tensor.
//
//   ao::NearlyDiagonalSparsifier s(3);  // |row - col| <= 1 kept
//   s.prepare(model, std::nullopt);
//   s.step();
//
// update_mask: nearliness <= 0 gives an all-zero mask (any shape). Otherwise the tensor must be
// 2-D (ValueError), nearliness odd (ValueError "nearliness can only be an odd number") and
// nearliness / 2 < min(h, w) (ValueError "nearliness cannot be larger than the dimensions of
// tensor."); the mask becomes 1 where |row - col| <= nearliness / 2 and 0 elsewhere, in its own
// dtype, the same tensor object. PyTorch 1.13 zeroes the mask before these checks, so a failed step
// leaves it all zeros; twig checks first and leaves the mask as it was.
#pragma once

#include <cstdint>
#include <string>

#include "twig/ao/base_sparsifier.h"

namespace twig::ao {

class NearlyDiagonalSparsifier : public BaseSparsifier {
 public:
  // defaults = {"nearliness": nearliness}; nothing checked before step() (as PyTorch).
  explicit NearlyDiagonalSparsifier(int64_t nearliness = 1);

  // Python's update_mask(module, tensor_name, nearliness, **kwargs).
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override;
  std::string type_name() const override { return "NearlyDiagonalSparsifier"; }
};

// The (height, width) band mask |row - col| <= nearliness / 2 (nearliness > 0 and odd), with
// `options`' dtype and device.
Tensor nearly_diagonal_mask(int64_t height, int64_t width, int64_t nearliness, const TensorOptions& options);

}  // namespace twig::ao
