#include "twig/nn/lr_scheduler.h"

#include <cmath>
#include <numbers>

namespace twig::optim {

namespace {
// Python's % for a positive divisor: the result has the divisor's sign.
int64_t py_mod(int64_t a, int64_t b) { return ((a % b) + b) % b; }

// Checked before the base constructor writes "initial_lr" into the groups, so a refused
// scheduler leaves the optimizer as it was.
Optimizer& check_positive(Optimizer& optimizer, const char* who, const char* what, int64_t value) {
  TWIG_CHECK(value >= 1, ValueError, who, ": ", what, " must be a positive integer, got ", value);
  return optimizer;
}

// A positive integer option from a scheduler's state dict (stored as a double).
int64_t positive_int_option(const std::map<std::string, double>& options, const char* who, const char* what) {
  const double v = options.at(what);
  TWIG_CHECK(v >= 1 && v == std::floor(v), ValueError, who, ": ", what, " must be a positive integer, got ", v);
  return static_cast<int64_t>(v);
}
}  // namespace

// ---- LRScheduler ------------------------------------------------------------------------------

LRScheduler::LRScheduler(Optimizer& optimizer, int64_t last_epoch) : optimizer_(optimizer), last_epoch_(last_epoch) {
  auto& groups = optimizer.param_groups();
  if (last_epoch == -1) {
    for (ParamGroup& g : groups) g.options.try_emplace("initial_lr", g.get("lr"));
  } else {
    for (size_t i = 0; i < groups.size(); ++i) {
      TWIG_CHECK(groups[i].options.contains("initial_lr"), KeyError,
                 "param 'initial_lr' is not specified in param_groups[", i, "] when resuming an optimizer");
    }
  }
  for (const ParamGroup& g : groups) base_lrs_.push_back(g.get("initial_lr"));
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> lrs;
  for (const ParamGroup& g : optimizer_.param_groups()) lrs.push_back(g.get("lr"));
  return lrs;
}

void LRScheduler::step() {
  ++step_count_;
  ++last_epoch_;
  const std::vector<double> lrs = get_lr();
  auto& groups = optimizer_.param_groups();
  TWIG_INTERNAL_ASSERT(lrs.size() == groups.size());
  for (size_t i = 0; i < groups.size(); ++i) groups[i].options["lr"] = lrs[i];
  last_lr_ = group_lrs();
}

SchedulerState LRScheduler::state_dict() const {
  return SchedulerState{last_epoch_, step_count_, base_lrs_, last_lr_, options()};
}

void LRScheduler::load_state_dict(const SchedulerState& state) {
  const std::map<std::string, double> mine = options();
  for (const auto& [k, v] : mine) {
    TWIG_CHECK(state.options.contains(k), ValueError, "scheduler state has no option '", k, "'");
  }
  for (const auto& [k, v] : state.options) {
    TWIG_CHECK(mine.contains(k), ValueError, "scheduler state has an unknown option '", k, "'");
  }
  const size_t n = optimizer_.param_groups().size();
  TWIG_CHECK(state.base_lrs.size() == n, ValueError, "scheduler state has ", state.base_lrs.size(),
             " base_lrs for an optimizer with ", n, " param groups");
  TWIG_CHECK(state.last_lr.size() == n || state.last_lr.empty(), ValueError, "scheduler state has ",
             state.last_lr.size(), " last_lr values for an optimizer with ", n, " param groups");
  set_options(state.options);
  last_epoch_ = state.last_epoch;
  step_count_ = state.step_count;
  base_lrs_ = state.base_lrs;
  last_lr_ = state.last_lr;
}

// ---- StepLR -----------------------------------------------------------------------------------

StepLR::StepLR(Optimizer& optimizer, int64_t step_size, double gamma, int64_t last_epoch)
    : LRScheduler(check_positive(optimizer, "StepLR", "step_size", step_size), last_epoch),
      step_size_(step_size),
      gamma_(gamma) {
  initial_step();
}

std::vector<double> StepLR::get_lr() const {
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0 || py_mod(last_epoch_, step_size_) != 0) return lrs;
  for (double& lr : lrs) lr = lr * gamma_;
  return lrs;
}

std::map<std::string, double> StepLR::options() const {
  return {{"step_size", static_cast<double>(step_size_)}, {"gamma", gamma_}};
}

void StepLR::set_options(const std::map<std::string, double>& options) {
  step_size_ = positive_int_option(options, "StepLR", "step_size");
  gamma_ = options.at("gamma");
}

// ---- CosineAnnealingLR ------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min, int64_t last_epoch)
    : LRScheduler(check_positive(optimizer, "CosineAnnealingLR", "T_max", T_max), last_epoch),
      T_max_(T_max),
      eta_min_(eta_min) {
  initial_step();
}

std::vector<double> CosineAnnealingLR::get_lr() const {
  // The arithmetic is written in the order of PyTorch 1.13's expressions, so the doubles agree.
  constexpr double pi = std::numbers::pi;
  const double T = static_cast<double>(T_max_), e = static_cast<double>(last_epoch_);
  std::vector<double> lrs = group_lrs();
  if (last_epoch_ == 0) return lrs;
  if (step_count_ == 1 && last_epoch_ > 0) {  // resuming: the closed form
    for (size_t i = 0; i < lrs.size(); ++i) {
      lrs[i] = eta_min_ + (base_lrs_[i] - eta_min_) * (1 + std::cos(e * pi / T)) / 2;
    }
    return lrs;
  }
  if (py_mod(last_epoch_ - 1 - T_max_, 2 * T_max_) == 0) {
    for (size_t i = 0; i < lrs.size(); ++i) {
      lrs[i] = lrs[i] + (base_lrs_[i] - eta_min_) * (1 - std::cos(pi / T)) / 2;
    }
    return lrs;
  }
  for (double& lr : lrs) {
    lr = (1 + std::cos(pi * e / T)) / (1 + std::cos(pi * (e - 1) / T)) * (lr - eta_min_) + eta_min_;
  }
  return lrs;
}

std::map<std::string, double> CosineAnnealingLR::options() const {
  return {{"T_max", static_cast<double>(T_max_)}, {"eta_min", eta_min_}};
}

void CosineAnnealingLR::set_options(const std::map<std::string, double>& options) {
  T_max_ = positive_int_option(options, "CosineAnnealingLR", "T_max");
  eta_min_ = options.at("eta_min");
}

}  // namespace twig::optim
