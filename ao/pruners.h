// torch.ao.pruning._experimental.pruner's structured pruners: SaliencyPruner (saliency_pruner.py),
// LSTMSaliencyPruner (lstm_saliency_pruner.py) and FPGMPruner (FPGM_pruner.py). Each decides the
// row mask of a BaseStructuredSparsifier at step(); prune() then shrinks the model.
//
//   ao::SaliencyPruner p({{"sparsity_level", 0.5}});   // the half of the rows with least L1 norm
//   p.prepare(model, std::vector<ao::Dict>{{{"tensor_fqn", "linear1.weight"}}});
//   model->call({x});                                 // prune() traces with the last inputs
//   p.step();
//   auto small = p.prune();
//
//   ao::FPGMPruner f(0.3);                            // the rows nearest the geometric median
//   ao::FPGMPruner g(0.3, 1);                         // ... by L1 distance
//
// The rules (spec §6), all in tensor ops on the weight's device, on the **masked** weight (so
// rows pruned before score 0). Masks are changed in place: the tensor object stays the one in
// state[fqn]["mask"] and in the parametrization. Everything that can fail is computed before the
// mask changes, so a failed update_mask leaves it as it was.
// - Saliency: n = int(rows * level) (truncated, Python's int()); the n rows of least
//   sum |W[r, ...]| are pruned, as topk(n) of the negated sums picks them (its tie order).
// - LSTM saliency: the mask and the sums are split into chunks of rows / 4 rows (one per gate i,
//   f, g, o; torch.split, so 10 rows give five chunks of 2); in each chunk
//   k = int(chunk_rows * level) rows of least sum, as topk(k, largest=false, sorted=false) picks.
// - FPGM: level <= 0 sets the whole mask true, level >= 1 false (rows pruned before come back at
//   0). Otherwise k = round(level * rows) (half to even: 2.5 -> 2), clamped to [0, rows], rows of
//   least total distance sum_j |D[r, j]| (D = dist of the flattened rows) are pruned, as
//   topk(k, largest=false) picks them: the rows nearest the others, not the smallest ones.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "twig/ao/base_structured_sparsifier.h"

namespace twig::ao {

// Saliency rule on a weight (rows, ...) and its bool mask (rows): prunes, in place, the
// int(rows * sparsity_level) rows of least L1 norm. `weight` is the masked weight. ValueError
// (PyTorch: Exception) for a weight of fewer than 2 dims, AssertionError when the mask is not
// (rows), ValueError for a NaN or infinite level, RuntimeError (topk's) when the count is
// negative or above rows (a level below 0 or above 1).
void saliency_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level);

// LSTM saliency rule on a packed weight (4 * hidden, ...) and its mask, gate chunk by gate chunk.
// Errors as saliency_update_mask, and RuntimeError for a mask of fewer than 4 rows (torch.split
// by a size of 0).
void lstm_saliency_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level);

// FPGM's pairwise distance of the flattened rows: (rows, numel / rows) -> (rows, rows).
using DistanceFn = std::function<Tensor(const Tensor&)>;

// FPGM's total distance of each row of t to all rows: sum_j |dist(T)[r, j]| with T = the rows of
// t flattened, (rows). PyTorch's FPGMPruner._compute_distance. IndexError for a 0-dim t,
// RuntimeError for a t of no rows.
Tensor fpgm_distance(const Tensor& t, const DistanceFn& dist);

// FPGM rule on a weight (rows, ...) (the masked weight) and its bool mask (rows).
void fpgm_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level, const DistanceFn& dist);

// FPGMPruner's `dist` argument: None (the default) or 2 is torch.cdist(x, x, p=2), 1 is
// cdist(x, x, p=1), a callable is used as given. Other numbers are accepted here and rejected by
// the pruner's constructor with NotImplementedError "Distance function is not yet implemented."
// (as Python, where `dist == 1` also holds for 1.0 and True).
class FPGMDistance {
 public:
  FPGMDistance() = default;  // None
  FPGMDistance(std::nullopt_t) {}
  template <typename T>
  requires(std::is_arithmetic_v<T>) FPGMDistance(T p) : p_(static_cast<double>(p)) {}
  template <typename F>
  requires(std::is_invocable_r_v<Tensor, F, const Tensor&> && !std::is_arithmetic_v<F>) FPGMDistance(F fn)
      : p_(DistanceFn(std::move(fn))) {}

  bool is_none() const { return std::holds_alternative<std::monostate>(p_); }
  bool is_callable() const { return std::holds_alternative<DistanceFn>(p_); }
  // The number given (None: 2). TypeError for a callable.
  double p() const;
  const DistanceFn& fn() const { return std::get<DistanceFn>(p_); }

 private:
  std::variant<std::monostate, double, DistanceFn> p_;
};

class SaliencyPruner : public BaseStructuredSparsifier {
 public:
  explicit SaliencyPruner(Dict defaults = {}, std::optional<PatternTable> patterns = std::nullopt)
      : BaseStructuredSparsifier(std::move(defaults), std::move(patterns)) {}
  // saliency_update_mask on module.<tensor_name> (masked) and the mask of its first
  // parametrization. KeyError naming "sparsity_level" when the group has none (Python's
  // kwargs["sparsity_level"]).
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override;
  std::string type_name() const override { return "SaliencyPruner"; }
};

class LSTMSaliencyPruner : public BaseStructuredSparsifier {
 public:
  explicit LSTMSaliencyPruner(Dict defaults = {}, std::optional<PatternTable> patterns = std::nullopt)
      : BaseStructuredSparsifier(std::move(defaults), std::move(patterns)) {}
  // lstm_saliency_update_mask on module.<tensor_name> (masked) and the mask of every
  // FakeStructuredSparsity on it (the same saliencies for each). KeyError as SaliencyPruner.
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override;
  std::string type_name() const override { return "LSTMSaliencyPruner"; }
};

class FPGMPruner : public BaseStructuredSparsifier {
 public:
  // defaults = {"sparsity_level": sparsity_level}. NotImplementedError for a dist other than
  // None, 1, 2 or a callable. `patterns` is twig's addition (PyTorch's FPGMPruner takes the
  // default table only).
  explicit FPGMPruner(double sparsity_level = 0.5, FPGMDistance dist = {},
                      std::optional<PatternTable> patterns = std::nullopt);
  // fpgm_update_mask on module.<tensor_name> (masked) and the mask of its first
  // parametrization. TypeError naming "sparsity_level" when the group has none (Python's
  // update_mask(module, tensor_name, sparsity_level, **kwargs)).
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override;
  std::string type_name() const override { return "FPGMPruner"; }

  // PyTorch's _compute_distance: fpgm_distance(t, dist_fn).
  Tensor compute_distance(const Tensor& t) const { return fpgm_distance(t, dist_fn); }

  // The distance the constructor chose.
  DistanceFn dist_fn;
};

}  // namespace twig::ao
