// The structured pruners' mask rules, in tensor ops (device-agnostic). Shapes: rows = the
// weight's dim 0 (output channels / 4 * hidden for a packed LSTM weight), mask (rows).
#include "twig/ao/pruners.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::ao {

namespace {

// Dims 1 .. dim-1: the norm of each row.
Dims row_dims(const Tensor& t) {
  Dims dims;
  for (int64_t d = 1; d < t.dim(); ++d) dims.push_back(d);
  return dims;
}

void check_rows_weight(const Tensor& weight) {
  TWIG_CHECK(weight.dim() > 1, ValueError,
             "Structured pruning can only be applied to a 2+dim weight tensor! (got shape ", weight.sizes(), ")");
}

void check_mask_matches(const Tensor& scores, const Tensor& mask) {
  TWIG_CHECK(scores.sizes() == mask.sizes(), AssertionError, "the row scores have shape ", scores.sizes(),
             " but the mask has shape ", mask.sizes(), " (the mask needs one entry per row of the weight)");
}

// Python's int(x): truncation toward zero; ValueError / OverflowError (here ValueError) for NaN / inf.
int64_t python_int(double x, double sparsity_level) {
  TWIG_CHECK(std::isfinite(x), ValueError, "cannot convert float ", x, " to integer (sparsity_level=", sparsity_level,
             ")");
  return static_cast<int64_t>(std::trunc(x));
}

// The row indices topk selects; its own RuntimeError when k is out of range.
Tensor lowest(const Tensor& scores, int64_t k, bool sorted = true) {
  return std::get<1>(scores.topk(k, 0, /*largest=*/false, sorted));
}

// A pruner's `sparsity_level` from its update_mask arguments.
double level_of(const Dict& args, bool keyword_argument) {
  if (keyword_argument) {
    TWIG_CHECK(args.contains("sparsity_level"), TypeError,
               "update_mask() missing 1 required positional argument: 'sparsity_level'");
  } else {
    TWIG_CHECK(args.contains("sparsity_level"), KeyError,
               "'sparsity_level' (the group has no sparsity_level: give it in the defaults or the config)");
  }
  const Object& level = args.at("sparsity_level");
  TWIG_CHECK(level.is_number(), TypeError, "sparsity_level must be a number, got ", level.repr());
  return level.to_double();
}

// The mask of module.<tensor_name>'s first parametrization (Python's parametrizations[name][0].mask).
Tensor first_mask(nn::Module& module, const std::string& tensor_name) {
  const auto list = nn::parametrizations_of(module, tensor_name);
  TWIG_CHECK(list->size() > 0 && list->at(0)->has("mask"), AttributeError, "the first parametrization of '",
             tensor_name, "' on ", module.type_name(), " has no attribute 'mask'");
  return list->at(0)->get("mask");
}

}  // namespace

void saliency_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level) {
  autograd::NoGradGuard no_grad;
  check_rows_weight(weight);
  // Python takes topk (largest) of the negated norms; the same rows in the same tie order.
  const Tensor saliency = weight.norm(1.0, row_dims(weight)).neg();  // (rows)
  check_mask_matches(saliency, mask);
  const int64_t n = python_int(static_cast<double>(mask.size(0)) * sparsity_level, sparsity_level);
  const Tensor prune = std::get<1>(saliency.topk(n, 0, /*largest=*/true));
  // Python writes through mask.data: the mask's version is not bumped.
  mask.data().index_fill_(0, prune, false);
}

void lstm_saliency_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level) {
  autograd::NoGradGuard no_grad;
  check_rows_weight(weight);
  const Tensor saliency = weight.norm(1.0, row_dims(weight));  // (rows)
  check_mask_matches(saliency, mask);
  const int64_t rows = mask.size(0);
  const int64_t split_size = rows / 4;
  TWIG_CHECK(split_size > 0, RuntimeError,
             "split_size can only be 0 if dimension size is 0, but got dimension size of ", rows,
             " (a packed LSTM weight has 4 * hidden_size rows)");
  const TensorList masks = mask.data().split(split_size);  // views: writing them writes the mask
  const TensorList saliencies = saliency.split(split_size);
  // Every chunk's rows are chosen before any is written, so an error changes nothing.
  std::vector<Tensor> prune;
  for (size_t c = 0; c < masks.size(); ++c) {
    const int64_t k = python_int(static_cast<double>(masks[c].size(0)) * sparsity_level, sparsity_level);
    prune.push_back(lowest(saliencies[c], k, /*sorted=*/false));
  }
  for (size_t c = 0; c < masks.size(); ++c) masks[c].index_fill_(0, prune[c], false);
}

Tensor fpgm_distance(const Tensor& t, const DistanceFn& dist) {
  TWIG_CHECK(t.dim() > 0, IndexError, "dimension specified as 0 but tensor has no dimensions (FPGM needs rows)");
  const int64_t rows = t.size(0);
  TWIG_CHECK(rows > 0, RuntimeError, "stack expects a non-empty TensorList (the tensor of shape ", t.sizes(),
             " has no rows)");
  const Tensor flat = t.reshape({rows, t.numel() / rows});  // (rows, numel / rows)
  const Tensor d = dist(flat);                              // (rows, rows)
  return d.abs().sum(Dims{1});
}

void fpgm_update_mask(const Tensor& weight, const Tensor& mask, double sparsity_level, const DistanceFn& dist) {
  autograd::NoGradGuard no_grad;
  // Python replaces mask.data; the tensor object stays the same.
  if (sparsity_level <= 0) {
    mask.set_data(ones_like(mask, kBool));
    return;
  }
  if (sparsity_level >= 1.0) {
    mask.set_data(zeros_like(mask, kBool));
    return;
  }
  TWIG_CHECK(!std::isnan(sparsity_level), ValueError, "cannot convert float NaN to integer (sparsity_level=nan)");
  const Tensor distance = fpgm_distance(weight, dist);  // (rows)
  const int64_t rows = weight.size(0);
  // Python's round(): half to even (nearbyint in the default rounding mode), then clamped.
  const auto k =
      std::clamp(static_cast<int64_t>(std::nearbyint(sparsity_level * static_cast<double>(rows))), int64_t{0}, rows);
  const Tensor prune = lowest(distance, k);
  TWIG_CHECK(mask.dim() == 1 && mask.size(0) == rows, AssertionError, "the mask has shape ", mask.sizes(),
             " but the weight has ", rows, " rows");
  // Python's mask[indices] = False: an ordinary in-place write (the version is bumped).
  mask.index_fill_(0, prune, false);
}

double FPGMDistance::p() const {
  if (is_none()) return 2.0;
  TWIG_CHECK(!is_callable(), TypeError, "a callable distance has no number");
  return std::get<double>(p_);
}

void SaliencyPruner::update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) {
  const double level = level_of(args, /*keyword_argument=*/false);
  saliency_update_mask(module.get(tensor_name), first_mask(module, tensor_name), level);
}

void LSTMSaliencyPruner::update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) {
  const auto list = nn::parametrizations_of(module, tensor_name);
  std::vector<Tensor> masks;
  for (size_t i = 0; i < list->size(); ++i) {
    if (const auto* p = dynamic_cast<const FakeStructuredSparsity*>(list->at(i).get())) masks.push_back(p->mask());
  }
  if (masks.empty()) return;  // Python reads kwargs["sparsity_level"] only inside the loop
  const double level = level_of(args, /*keyword_argument=*/false);
  const Tensor weight = module.get(tensor_name);
  if (masks.size() == 1) {
    lstm_saliency_update_mask(weight, masks[0], level);
    return;
  }
  // Several: all chosen on copies first, then written, so an error leaves every mask as it was.
  std::vector<Tensor> updated;
  for (const Tensor& m : masks) {
    Tensor copy = m.clone();
    lstm_saliency_update_mask(weight, copy, level);
    updated.push_back(copy);
  }
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < masks.size(); ++i) masks[i].data().copy_(updated[i]);
}

namespace {

DistanceFn choose_distance(const FPGMDistance& dist) {
  if (dist.is_callable()) return dist.fn();
  const double p = dist.p();
  if (p == 1.0) return [](const Tensor& x) { return cdist(x, x, 1.0); };
  if (p == 2.0) return [](const Tensor& x) { return cdist(x, x, 2.0); };
  TWIG_THROW(NotImplementedError, "Distance function is not yet implemented. (dist=", p, "; FPGMPruner takes 1, 2, ",
             "None or a callable)");
}

}  // namespace

FPGMPruner::FPGMPruner(double sparsity_level, FPGMDistance dist, std::optional<PatternTable> patterns)
    : BaseStructuredSparsifier(Dict{{"sparsity_level", sparsity_level}}, std::move(patterns)),
      dist_fn(choose_distance(dist)) {}

void FPGMPruner::update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) {
  const double level = level_of(args, /*keyword_argument=*/true);
  fpgm_update_mask(module.get(tensor_name), first_mask(module, tensor_name), level, dist_fn);
}

}  // namespace twig::ao
