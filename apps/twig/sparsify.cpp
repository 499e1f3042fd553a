#include "apps/twig/sparsify.h"

#include <sstream>

#include "twig/ao/utils.h"
#include "twig/nn/linear.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"

namespace twig::cli {

namespace {

std::string shape_text(const Tensor& t) {
  std::ostringstream s;
  s << '(';
  for (int64_t d = 0; d < t.dim(); ++d) s << (d ? ", " : "") << t.size(d);
  s << ')';
  return s.str();
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> weight_norm_targets(nn::Module& model) {
  // make_config_from_model's picks: modules whose exact type is nn::Linear. (The order of the
  // sparsifier's groups is its DFS; this list is in registration order, for messages.)
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, m] : model.named_modules())
    if (ao::type_before_parametrizations(*m) == typeid(nn::Linear)) out.emplace_back(name, m->get("weight"));
  return out;
}

std::string check_weight_norm(nn::Module& model, const WeightNormRequest& r) {
  const int64_t per_block = r.block_h * r.block_w;
  if (r.zeros_per_block && (*r.zeros_per_block < 0 || *r.zeros_per_block > per_block))
    return "--zeros-per-block must be between 0 and " + std::to_string(per_block) + " (the block's " +
           std::to_string(r.block_h) + "x" + std::to_string(r.block_w) + " values), got " +
           std::to_string(*r.zeros_per_block);
  if (weight_norm_targets(model).empty()) return "the model has no Linear layer for weight_norm to sparsify";
  for (const auto& [name, m] : model.named_modules()) {
    if (ao::type_before_parametrizations(*m) != typeid(nn::Linear)) continue;
    if (nn::is_parametrized(*m, "weight"))
      return name +
             ".weight already has a mask (an earlier weight_norm run); make it permanent first: twig prune "
             "--in MODEL --out MODEL --remove";
    if (m->has("weight_orig") || m->has("weight_mask"))
      return name +
             ".weight is already pruned (weight_orig, weight_mask); make it permanent first: twig prune --in "
             "MODEL --out MODEL --remove";
    const Tensor w = m->get("weight");
    if (w.dim() != 2 || w.size(0) % r.block_h != 0 || w.size(1) % r.block_w != 0)
      return "--block " + std::to_string(r.block_h) + "x" + std::to_string(r.block_w) + " does not tile " + name +
             ".weight of shape " + shape_text(w) + " (PyTorch 1.13's WeightNormSparsifier needs whole blocks)";
  }
  return "";
}

WeightNormRun::WeightNormRun(const nn::ModulePtr& model, const WeightNormRequest& request, int64_t total_batches)
    : request_(request), total_batches_(total_batches) {
  TWIG_CHECK(request.steps == 0 || (request.steps >= 1 && request.steps <= total_batches), ValueError, "a schedule of ",
             request.steps, " steps needs 1 to ", total_batches, " fine-tuning batches");
  sparsifier_ = std::make_unique<ao::WeightNormSparsifier>(
      request.level, std::vector<int64_t>{request.block_h, request.block_w}, request.zeros_per_block);
  sparsifier_->prepare(model, std::nullopt);
  if (request.steps > 0) {
    // Level of step k = s_f (1 - (1 - k/N)^3): t = k - 1 when step k runs, t_0 = -1, n * dt = N.
    scheduler_ = std::make_unique<ao::CubicSL>(*sparsifier_, /*init_sl=*/0.0, /*init_t=*/-1, /*delta_t=*/1,
                                               /*total_t=*/request.steps);
  }
}

WeightNormRun::~WeightNormRun() = default;

std::vector<std::string> WeightNormRun::layers() const {
  std::vector<std::string> out;
  for (const ao::Dict& g : sparsifier_->groups) out.push_back(g.at("module_fqn").to_string());
  return out;
}

void WeightNormRun::step_once() {
  levels_.push_back(sparsifier_->groups.at(0).at("sparsity_level").to_double());
  sparsifier_->step();
}

void WeightNormRun::before_batch() {
  if (!scheduler_) return;
  // Step k (1-based) before batch floor((k - 1) * T / N).
  while (steps_taken_ < request_.steps && batch_ == steps_taken_ * total_batches_ / request_.steps) {
    levels_.push_back(sparsifier_->groups.at(0).at("sparsity_level").to_double());
    sparsifier_->step();
    scheduler_->step();
    ++steps_taken_;
  }
  ++batch_;
}

void WeightNormRun::squash() { sparsifier_->squash_mask(); }

int64_t squash_fake_sparsity(nn::Module& model) {
  int64_t removed = 0;
  for (auto& [prefix, m] : model.named_modules()) {
    (void)prefix;
    if (!nn::is_parametrized(*m)) continue;
    std::vector<std::string> names;
    for (const auto& [name, child] : m->child("parametrizations")->children_dict()) {
      auto list = std::dynamic_pointer_cast<nn::ParametrizationList>(child);
      if (!list) continue;
      for (size_t i = 0; i < list->size(); ++i)
        if (dynamic_cast<const ao::FakeSparsity*>(list->at(i).get())) {
          names.push_back(name);
          break;
        }
    }
    for (const std::string& name : names) {
      nn::remove_parametrizations(*m, name, /*leave_parametrized=*/true);
      ++removed;
    }
  }
  return removed;
}

}  // namespace twig::cli
