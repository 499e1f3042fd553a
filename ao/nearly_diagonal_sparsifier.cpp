// NearlyDiagonalSparsifier: a band mask built with tensor ops (device-agnostic).
#include "twig/ao/nearly_diagonal_sparsifier.h"

#include <algorithm>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::ao {

Tensor nearly_diagonal_mask(int64_t height, int64_t width, int64_t nearliness, const TensorOptions& options) {
  const int64_t dist_to_diagonal = nearliness / 2;
  const TensorOptions index_options = TensorOptions(kInt64).device(options.device_);
  Tensor rows = arange(height, index_options).unsqueeze(1);  // (height, 1)
  Tensor cols = arange(width, index_options).unsqueeze(0);   // (1, width)
  return (rows - cols).abs().le(dist_to_diagonal).to(options.dtype_or(default_dtype()));
}

NearlyDiagonalSparsifier::NearlyDiagonalSparsifier(int64_t nearliness)
    : BaseSparsifier(Dict{{"nearliness", nearliness}}) {}

void NearlyDiagonalSparsifier::update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) {
  TWIG_CHECK(args.contains("nearliness"), TypeError,
             "update_mask() missing 1 required positional argument: 'nearliness'");
  const int64_t nearliness = args.at("nearliness").to_int();
  const Tensor mask = nn::parametrizations_of(module, tensor_name)->at(0)->get("mask");
  if (nearliness <= 0) {
    mask.set_data(zeros_like(mask));
    return;
  }
  const Tensor tensor = module.get(tensor_name);
  TWIG_CHECK(tensor.dim() <= 2, ValueError, "too many values to unpack (expected 2): ", tensor_name, " has shape ",
             tensor.sizes());
  TWIG_CHECK(tensor.dim() == 2, ValueError, "not enough values to unpack (expected 2, got ", tensor.dim(),
             "): ", tensor_name, " has shape ", tensor.sizes());
  const int64_t height = tensor.size(0), width = tensor.size(1);
  TWIG_CHECK(nearliness % 2 != 0, ValueError, "nearliness can only be an odd number (nearliness=", nearliness, ")");
  TWIG_CHECK(nearliness / 2 < std::min(height, width), ValueError,
             "nearliness cannot be larger than the dimensions of tensor. (nearliness=", nearliness, " for a ", height,
             "x", width, " tensor)");
  mask.set_data(nearly_diagonal_mask(height, width, nearliness, TensorOptions(mask.dtype()).device(mask.device())));
}

}  // namespace twig::ao
