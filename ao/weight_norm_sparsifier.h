// torch.ao.pruning's WeightNormSparsifier (sparsifier/weight_norm_sparsifier.py), as PyTorch 1.13
// behaves: block masks of a 2-D tensor scored by an elementwise norm.
//
//   ao::WeightNormSparsifier s(0.5, {1, 4});           // half the 1x4 blocks, by x²
//   ao::WeightNormSparsifier nm(1.0, {1, 4}, 2, 1);    // 2:4 (two zeros per block), by |x|
//   s.prepare(model, std::nullopt);                    // every nn::Linear's weight
//   s.step();
//
// update_mask, for a (h, w) tensor and a block (bh, bw) of vpb = bh*bw values:
// - zeros_per_block > vpb or < 0: ValueError (the mask is left as it was).
// - sparsity_level <= 0 or zeros_per_block == 0: the mask becomes ones (its dtype kept).
// - sparsity_level >= 1 and zeros_per_block == vpb: the mask becomes zeros (its dtype kept).
// - otherwise scores = norm(module.<tensor_name>) (the masked tensor) and the mask becomes
//   weight_norm_tensor_mask(scores), OR-ed with weight_norm_block_mask(scores) when
//   zeros_per_block < vpb. So the mask is float32 (the default dtype, whatever the weight's) in
//   the first case and **bool** in the second, as in 1.13.
// In every case the mask tensor object is the same (its data replaced), so the parametrization's
// buffer and state[fqn]["mask"] stay one tensor. 1.13 raises RuntimeError (from a reshape) when h or
// w is not a multiple of the block, in the last case only; so does twig, with the same message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "twig/ao/base_sparsifier.h"

namespace twig::ao {

// The per-element score of a tensor (Python's norm_fn).
using NormFn = std::function<Tensor(const Tensor&)>;

// PyTorch's `norm` argument: None (the default) or 2 scores x*x (no square root), 1 scores |x|, a
// callable is used as given. Other numbers are accepted here and rejected by the sparsifier's
// constructor with NotImplementedError "L-<p> is not yet implemented." (as Python, where
// `norm == 1` also holds for 1.0 and True).
class WeightNorm {
 public:
  WeightNorm() = default;  // None
  WeightNorm(std::nullopt_t) {}
  template <typename T>
  requires(std::is_arithmetic_v<T>) WeightNorm(T p) {
    if constexpr (std::is_floating_point_v<T>) {
      p_ = static_cast<double>(p);
    } else {
      p_ = static_cast<int64_t>(p);
    }
  }
  template <typename F>
  requires(std::is_invocable_r_v<Tensor, F, const Tensor&> && !std::is_arithmetic_v<F>) WeightNorm(F fn)
      : p_(NormFn(std::move(fn))) {}

  bool is_none() const { return std::holds_alternative<std::monostate>(p_); }
  bool is_callable() const { return std::holds_alternative<NormFn>(p_); }
  // The number given (None: 2); the callable has none.
  double p() const;
  // The number as Python prints it: 3, -1, 2.5.
  std::string repr() const;
  const NormFn& fn() const { return std::get<NormFn>(p_); }

 private:
  std::variant<std::monostate, int64_t, double, NormFn> p_;
};

class WeightNormSparsifier : public BaseSparsifier {
 public:
  // defaults = {"sparsity_level", "sparse_block_shape" (a tuple), "zeros_per_block"} in this
  // order; zeros_per_block defaults to the block's volume. Nothing else is checked here (PyTorch
  // checks zeros_per_block at step()).
  explicit WeightNormSparsifier(double sparsity_level = 0.5, std::vector<int64_t> sparse_block_shape = {1, 4},
                                std::optional<int64_t> zeros_per_block = std::nullopt, WeightNorm norm = {});

  // Python's update_mask(module, tensor_name, sparsity_level, sparse_block_shape,
  // zeros_per_block, **kwargs): the three keys are read from args (TypeError naming a missing one).
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override;
  std::string type_name() const override { return "WeightNormSparsifier"; }

  // The score function the constructor chose.
  NormFn norm_fn;
};

// Python's _make_tensor_mask for a (h, w) score tensor: the blocks (row-major, averaged scores,
// each a bh x bw patch from the top-left corner) get k = round-half-even(level * num_blocks),
// clamped to [0, num_blocks - 1], zeroed: the k smallest scores as torch.topk(largest=False)
// picks them (its tie order). A float mask of the default dtype on the scores' device; all zeros
// for level >= 1, all ones for level <= 0. Errors as 1.13: ValueError for a tensor of fewer than
// two dims or a block that is not a pair, RuntimeError for more dims, a non-positive block, or a
// shape that is not a multiple of the block.
Tensor weight_norm_tensor_mask(const Tensor& scores, double sparsity_level, const std::vector<int64_t>& block);

// Python's _make_block_mask: in every block the zeros_per_block smallest scores (topk,
// largest=False) are zeroed. A float mask (default dtype) of the scores' shape; all zeros when
// zeros_per_block is the block's volume. Errors as weight_norm_tensor_mask.
Tensor weight_norm_block_mask(const Tensor& scores, const std::vector<int64_t>& block, int64_t zeros_per_block);

}  // namespace twig::ao
