// torch.nn.functional in C++: the stateless forms of every layer, loss and activation.
// `namespace F = twig::nn::functional;` then F::relu(x), F::conv2d(x, w, b, ...).
#pragma once

#include <concepts>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig::nn::functional {

using IntPair = std::vector<int64_t>;  // one value (applied to every spatial dim) or one per dim

// ---- linear and convolution ------------------------------------------------------------------
// x (..., in) @ weight (out, in)ᵀ + bias (out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// x (N, C, H, W) or (C, H, W); weight (O, C/groups, kH, kW); bias (O) or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const IntPair& stride = {1},
              const IntPair& padding = {0}, const IntPair& dilation = {1}, int64_t groups = 1);
// x (N, C, D, H, W) or (C, D, H, W); weight (O, C/groups, kD, kH, kW).
Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), const IntPair& stride = {1},
              const IntPair& padding = {0}, const IntPair& dilation = {1}, int64_t groups = 1);
// padding="valid" (none) or "same" (output size = input size; stride must be 1). For "same" each
// spatial dim gets dilation * (kernel - 1) zeros in all, half on the left and the rest (one more
// when odd) on the right, as PyTorch. ValueError for another string or a stride other than 1.
// (A template so that a braced `{0}` still picks the integer padding above.)
Tensor conv_string_padding(const char* op, size_t dims, const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const IntPair& stride, const std::string& padding, const IntPair& dilation, int64_t groups);
template <typename S>
requires std::convertible_to<const S&, std::string_view> Tensor conv2d(const Tensor& x, const Tensor& weight,
                                                                       const Tensor& bias, const IntPair& stride,
                                                                       const S& padding, const IntPair& dilation = {1},
                                                                       int64_t groups = 1) {
  return conv_string_padding("conv2d", 2, x, weight, bias, stride, std::string(std::string_view(padding)), dilation,
                             groups);
}
template <typename S>
requires std::convertible_to<const S&, std::string_view> Tensor conv3d(const Tensor& x, const Tensor& weight,
                                                                       const Tensor& bias, const IntPair& stride,
                                                                       const S& padding, const IntPair& dilation = {1},
                                                                       int64_t groups = 1) {
  return conv_string_padding("conv3d", 3, x, weight, bias, stride, std::string(std::string_view(padding)), dilation,
                             groups);
}

// F.pad(x, pad, mode, value): `pad` holds (left, right) pairs for the last dim, then the one
// before it, ... (at most x.dim() pairs). mode "constant" (fills `value`; negative pads crop),
// "reflect" (mirror without repeating the edge; each pad < that dim's size), "replicate" (repeat
// the edge) or "circular" (wrap around; each pad <= that dim's size). Differentiable.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, const std::string& mode = "constant", double value = 0.0);

// ---- pooling ---------------------------------------------------------------------------------
// stride empty means stride = kernel_size.
Tensor max_pool2d(const Tensor& x, const IntPair& kernel_size, const IntPair& stride = {}, const IntPair& padding = {0},
                  const IntPair& dilation = {1}, bool ceil_mode = false);
// F.max_pool2d(..., return_indices=True): (output, indices); indices int64, the shape of output,
// each the flat index h * W + w of the maximum within its (H, W) input plane, as PyTorch.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, const IntPair& kernel_size,
                                                  const IntPair& stride = {}, const IntPair& padding = {0},
                                                  const IntPair& dilation = {1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, const IntPair& kernel_size, const IntPair& stride = {}, const IntPair& padding = {0},
                  bool ceil_mode = false, bool count_include_pad = true,
                  std::optional<int64_t> divisor_override = std::nullopt);
Tensor adaptive_avg_pool2d(const Tensor& x, const IntPair& output_size);
Tensor adaptive_max_pool2d(const Tensor& x, const IntPair& output_size);

// ---- normalization and regularization --------------------------------------------------------
Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// Training mode updates running stats in place (momentum), eval mode uses them.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx = std::nullopt);
Tensor flatten(const Tensor& x, int64_t start_dim = 1, int64_t end_dim = -1);

// ---- activations (the 21 of the structured-pruning pattern table, and friends) ---------------
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor rrelu(const Tensor& x, double lower = 1.0 / 8, double upper = 1.0 / 3, bool training = false);
Tensor hardtanh(const Tensor& x, double min_val = -1.0, double max_val = 1.0);
Tensor sigmoid(const Tensor& x);
Tensor hardsigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor mish(const Tensor& x);
Tensor hardswish(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor celu(const Tensor& x, double alpha = 1.0);
Tensor selu(const Tensor& x);
Tensor hardshrink(const Tensor& x, double lambd = 0.5);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor logsigmoid(const Tensor& x);
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor prelu(const Tensor& x, const Tensor& weight);
Tensor softsign(const Tensor& x);
Tensor tanhshrink(const Tensor& x);
// approximate: "none" (erf) or "tanh".
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- losses (reduction: "mean", "sum" or "none") ----------------------------------------------
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
// input (N, C) log-probabilities, target (N) class indices.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                const std::string& reduction = "mean", int64_t ignore_index = -100);
// input (N, C) logits, target (N) class indices.
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     const std::string& reduction = "mean", int64_t ignore_index = -100, double label_smoothing = 0.0);

}  // namespace twig::nn::functional

namespace twig::nn {
namespace F = functional;
}
