// WeightNormSparsifier: block masks by an elementwise norm, in tensor ops (device-agnostic).
// Shapes: h, w the tensor's two dims; bh, bw the block; nb the number of blocks; vpb = bh * bw.
#include "twig/ao/weight_norm_sparsifier.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::ao {

namespace F = nn::functional;

double WeightNorm::p() const {
  if (is_none()) return 2.0;
  if (const auto* i = std::get_if<int64_t>(&p_)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&p_)) return *d;
  TWIG_THROW(TypeError, "a callable norm has no number");
}

std::string WeightNorm::repr() const {
  if (is_none()) return "None";
  if (is_callable()) return "<function>";
  if (const auto* i = std::get_if<int64_t>(&p_)) return std::to_string(*i);
  return Object(std::get<double>(p_)).repr();
}

namespace {

std::string block_repr(const std::vector<int64_t>& block) { return Object(block).repr(); }

// Python's reduce(mul, sparse_block_shape): TypeError for an empty shape, as reduce raises.
int64_t block_volume(const std::vector<int64_t>& block) {
  TWIG_CHECK(!block.empty(), TypeError, "reduce() of empty iterable with no initial value: sparse_block_shape is ()");
  int64_t v = 1;
  for (int64_t b : block) v *= b;
  return v;
}

// update_mask's named arguments: TypeError naming a missing one, as a Python call does.
const Object& required(const Dict& args, const char* key) {
  TWIG_CHECK(args.contains(key), TypeError, "update_mask() missing 1 required positional argument: '", key, "'");
  return args.at(key);
}

// The float mask factories of 1.13 use the default dtype on the data's device.
TensorOptions mask_options(const Tensor& scores) { return TensorOptions(default_dtype()).device(scores.device()); }

struct Geometry {
  int64_t h, w;    // the tensor's last two dims
  int64_t bh, bw;  // the block
  int64_t vpb() const { return bh * bw; }
};

// `h, w = data.shape[-2:]` then `block_h, block_w = sparse_block_shape`, with Python's errors.
Geometry unpack(const Tensor& scores, const std::vector<int64_t>& block) {
  TWIG_CHECK(scores.dim() >= 2, ValueError, "not enough values to unpack (expected 2, got ", scores.dim(),
             "): the weight norm masks need a 2-D tensor, got shape ", scores.sizes());
  TWIG_CHECK(block.size() <= 2, ValueError, "too many values to unpack (expected 2): sparse_block_shape ",
             block_repr(block));
  TWIG_CHECK(block.size() == 2, ValueError, "not enough values to unpack (expected 2, got ", block.size(),
             "): sparse_block_shape ", block_repr(block));
  return {scores.size(-2), scores.size(-1), block[0], block[1]};
}

// What 1.13's pooling / unfold reject, and its reshape of the (h, w) mask into
// (1, vpb, num_blocks), which holds only when h and w are multiples of the block.
void check_blocks(const Tensor& scores, const Geometry& g) {
  TWIG_CHECK(scores.dim() == 2, RuntimeError, "the weight norm masks need a 2-D tensor, got shape ", scores.sizes());
  TWIG_CHECK(g.bh > 0 && g.bw > 0, RuntimeError, "sparse_block_shape must be positive, got (", g.bh, ", ", g.bw, ")");
  const int64_t nb = ((g.h + g.bh - 1) / g.bh) * ((g.w + g.bw - 1) / g.bw);
  TWIG_CHECK(g.h % g.bh == 0 && g.w % g.bw == 0, RuntimeError, "shape '[1, ", g.vpb(), ", ", nb,
             "]' is invalid for input of size ", g.h * g.w, " (a ", g.h, "x", g.w, " tensor is not a whole number of ",
             g.bh, "x", g.bw, " blocks; PyTorch 1.13 fails the same way)");
}

}  // namespace

Tensor weight_norm_tensor_mask(const Tensor& scores, double sparsity_level, const std::vector<int64_t>& block) {
  const Geometry g = unpack(scores, block);
  const TensorOptions opts = mask_options(scores);
  if (sparsity_level >= 1.0) return zeros({g.h, g.w}, opts);
  if (sparsity_level <= 0.0) return ones({g.h, g.w}, opts);
  check_blocks(scores, g);
  // Block scores, row-major over the block grid: the mean of each block (a plain sum in window
  // order divided by the count, as avg_pool2d computes it).
  Tensor block_scores =
      g.vpb() > 1 ? F::avg_pool2d(scores.unsqueeze(0).unsqueeze(0), {g.bh, g.bw}, {g.bh, g.bw}, {0}, /*ceil_mode=*/true)
                  : scores;
  block_scores = block_scores.flatten();
  const int64_t nb = block_scores.numel();
  // Python's int(round(level * nb)): half to even (the default rounding mode), then clamped.
  const auto k =
      std::clamp(static_cast<int64_t>(std::nearbyint(sparsity_level * static_cast<double>(nb))), int64_t{0}, nb - 1);
  Tensor keep = ones({nb}, opts);  // (nb)
  if (k > 0) {
    auto [values, lowest] = block_scores.topk(k, 0, /*largest=*/false);
    keep.index_fill_(0, lowest, 0.0);
  }
  const int64_t rows = g.h / g.bh, cols = g.w / g.bw;
  return keep.reshape({rows, 1, cols, 1}).expand({rows, g.bh, cols, g.bw}).reshape({g.h, g.w});
}

Tensor weight_norm_block_mask(const Tensor& scores, const std::vector<int64_t>& block, int64_t zeros_per_block) {
  const Geometry g = unpack(scores, block);
  const TensorOptions opts = mask_options(scores);
  if (g.vpb() == zeros_per_block) return zeros(scores.sizes(), opts);
  check_blocks(scores, g);
  TWIG_CHECK(zeros_per_block >= 0 && zeros_per_block <= g.vpb(), RuntimeError,
             "selected index k out of range: zeros_per_block=", zeros_per_block, " for a block of ", g.vpb());
  const int64_t rows = g.h / g.bh, cols = g.w / g.bw, nb = rows * cols;
  // (nb, vpb): block by block, each block's values row-major (what F.unfold lays out per column).
  Tensor blocks = scores.reshape({rows, g.bh, cols, g.bw}).permute({0, 2, 1, 3}).reshape({nb, g.vpb()});
  Tensor keep = ones({nb, g.vpb()}, opts);
  if (zeros_per_block > 0) {
    auto [values, lowest] = blocks.topk(zeros_per_block, 1, /*largest=*/false);  // (nb, zeros_per_block)
    keep = zeros({nb, g.vpb()}, opts).scatter_add(1, lowest, ones({nb, zeros_per_block}, opts)).eq(0).to(keep.dtype());
  }
  return keep.reshape({rows, cols, g.bh, g.bw}).permute({0, 2, 1, 3}).reshape({g.h, g.w});
}

namespace {

Dict weight_norm_defaults(double sparsity_level, const std::vector<int64_t>& block,
                          std::optional<int64_t> zeros_per_block) {
  const int64_t zeros = zeros_per_block.has_value() ? *zeros_per_block : block_volume(block);
  return Dict{{"sparsity_level", sparsity_level}, {"sparse_block_shape", Object(block)}, {"zeros_per_block", zeros}};
}

NormFn choose_norm(const WeightNorm& norm) {
  if (norm.is_callable()) return norm.fn();
  const double p = norm.p();
  if (p == 1.0) return [](const Tensor& t) { return t.abs(); };
  if (p == 2.0) return [](const Tensor& t) { return t * t; };
  TWIG_THROW(NotImplementedError, "L-", norm.repr(), " is not yet implemented.");
}

}  // namespace

WeightNormSparsifier::WeightNormSparsifier(double sparsity_level, std::vector<int64_t> sparse_block_shape,
                                           std::optional<int64_t> zeros_per_block, WeightNorm norm)
    : BaseSparsifier(weight_norm_defaults(sparsity_level, sparse_block_shape, zeros_per_block)),
      norm_fn(choose_norm(norm)) {}

void WeightNormSparsifier::update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) {
  const double sparsity_level = required(args, "sparsity_level").to_double();
  const std::vector<int64_t> block = required(args, "sparse_block_shape").to_int_vector();
  const int64_t zeros_per_block = required(args, "zeros_per_block").to_int();
  const int64_t values_per_block = block_volume(block);
  TWIG_CHECK(
      zeros_per_block <= values_per_block, ValueError,
      "Number of zeros per block cannot be more than the total number of elements in that block. (zeros_per_block=",
      zeros_per_block, ", sparse_block_shape=", block_repr(block), " holds ", values_per_block, ")");
  TWIG_CHECK(zeros_per_block >= 0, ValueError,
             "Number of zeros per block should be positive. (zeros_per_block=", zeros_per_block, ")");

  // The mask of the tensor's first parametrization: the same tensor as state[fqn]["mask"]. Its
  // data is replaced (set_data), never the object.
  const Tensor mask = nn::parametrizations_of(module, tensor_name)->at(0)->get("mask");
  if (sparsity_level <= 0.0 || zeros_per_block == 0) {
    mask.set_data(ones_like(mask));
    return;
  }
  if (sparsity_level >= 1.0 && zeros_per_block == values_per_block) {
    mask.set_data(zeros_like(mask));
    return;
  }
  // Everything that can fail runs before the mask changes.
  const Tensor scores = norm_fn(module.get(tensor_name));  // the masked tensor
  Tensor new_mask = weight_norm_tensor_mask(scores, sparsity_level, block);
  if (values_per_block != zeros_per_block) {
    new_mask = new_mask.logical_or(weight_norm_block_mask(scores, block, zeros_per_block));  // bool, as 1.13
  }
  mask.set_data(new_mask);
}

}  // namespace twig::ao
