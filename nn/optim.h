// torch.optim in C++: Optimizer with parameter groups, SGD, Adam, AdamW.
//
//   optim::Adam opt(model->parameters(), optim::AdamOptions().lr(1e-3));
//   opt.zero_grad(); loss.backward(); opt.step();
//
// A group's hyperparameters live in a name -> double map (PyTorch's param_group dict): "lr",
// "momentum", "beta1", "beta2", ...; booleans are stored as 0 / 1. Changing
// `opt.param_groups()[0].options["lr"]` takes effect at the next step, like a scheduler would.
// The optimizer holds the very Tensor objects it was given (identity, not copies).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig::optim {

using GroupOptions = std::map<std::string, double>;

struct ParamGroup {
  ParamGroup(TensorList params_, GroupOptions options_ = {})
      : params(std::move(params_)), options(std::move(options_)) {}
  TensorList params;
  GroupOptions options;  // missing keys are filled from the optimizer's defaults
  // KeyError naming the key when absent.
  double get(const std::string& key) const;
};

// Per-parameter state: "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq", "step" (a
// 0-d float32 tensor, as in PyTorch 1.13).
using ParamState = std::map<std::string, Tensor>;

// optimizer.state_dict(): state keyed by parameter index (numbered across groups in order), and
// each group's options with the indices of its parameters.
struct OptimizerStateDict {
  struct Group {
    GroupOptions options;
    std::vector<int64_t> params;
  };
  std::map<int64_t, ParamState> state;
  std::vector<Group> param_groups;
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamGroup> groups, GroupOptions defaults);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // ValueError for an empty group, a non-leaf or non-floating tensor, or a parameter that is
  // already in another group.
  void add_param_group(ParamGroup group);
  // set_to_none (default, as in PyTorch 2) drops .grad; otherwise zeroes it in place.
  void zero_grad(bool set_to_none = true);
  // One update of every parameter that has a gradient, under no_grad.
  void step();

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const GroupOptions& defaults() const { return defaults_; }
  // State of a parameter (empty before its first step).
  const ParamState& state(const Tensor& param) const;

  // Copies of the state tensors (later steps do not change a saved state dict).
  OptimizerStateDict state_dict() const;
  // Checks group count, group sizes, state keys and shapes first; ValueError naming the problem
  // leaves the optimizer unchanged. Group options are replaced by the loaded ones.
  void load_state_dict(const OptimizerStateDict& sd);

 protected:
  // Updates one parameter (grad defined) with its group's options and state.
  virtual void update(const Tensor& param, const Tensor& grad, const ParamGroup& group, ParamState& state) = 0;
  // Names of the state entries this optimizer keeps for a group (for load validation).
  virtual std::vector<std::string> state_keys(const ParamGroup& group) const = 0;

 private:
  std::vector<ParamGroup> groups_;
  GroupOptions defaults_;
  std::map<const TensorImpl*, ParamState> state_;
};

// ---- SGD -------------------------------------------------------------------------------------

struct SGDOptions {
  explicit SGDOptions(double lr) : lr_(lr) {}
  SGDOptions& lr(double v) {
    lr_ = v;
    return *this;
  }
  SGDOptions& momentum(double v) {
    momentum_ = v;
    return *this;
  }
  SGDOptions& dampening(double v) {
    dampening_ = v;
    return *this;
  }
  SGDOptions& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  SGDOptions& nesterov(bool v) {
    nesterov_ = v;
    return *this;
  }
  SGDOptions& maximize(bool v) {
    maximize_ = v;
    return *this;
  }
  GroupOptions to_map() const;
  double lr_;
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  double weight_decay_ = 0.0;
  bool nesterov_ = false;
  bool maximize_ = false;
};

class SGD : public Optimizer {
 public:
  SGD(const TensorList& params, const SGDOptions& options);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options);

 protected:
  void update(const Tensor& param, const Tensor& grad, const ParamGroup& group, ParamState& state) override;
  std::vector<std::string> state_keys(const ParamGroup& group) const override;
};

// ---- Adam / AdamW ----------------------------------------------------------------------------

struct AdamOptions {
  AdamOptions& lr(double v) {
    lr_ = v;
    return *this;
  }
  AdamOptions& betas(double b1, double b2) {
    beta1_ = b1;
    beta2_ = b2;
    return *this;
  }
  AdamOptions& eps(double v) {
    eps_ = v;
    return *this;
  }
  AdamOptions& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  AdamOptions& amsgrad(bool v) {
    amsgrad_ = v;
    return *this;
  }
  AdamOptions& maximize(bool v) {
    maximize_ = v;
    return *this;
  }
  GroupOptions to_map() const;
  double lr_ = 1e-3;
  double beta1_ = 0.9, beta2_ = 0.999;
  double eps_ = 1e-8;
  double weight_decay_ = 0.0;
  bool amsgrad_ = false;
  bool maximize_ = false;
};

// AdamW: the same knobs, decoupled weight decay defaulting to 1e-2. Start chains from
// AdamWOptions() (the setters return AdamOptions&, which AdamW accepts); a plain AdamOptions()
// passed to AdamW means weight_decay 0.
struct AdamWOptions : AdamOptions {
  AdamWOptions() { weight_decay_ = 1e-2; }
};

class Adam : public Optimizer {
 public:
  Adam(const TensorList& params, const AdamOptions& options = {});
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = {});

 protected:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled);
  void update(const Tensor& param, const Tensor& grad, const ParamGroup& group, ParamState& state) override;
  std::vector<std::string> state_keys(const ParamGroup& group) const override;
  bool decoupled_;  // AdamW: param *= 1 - lr * weight_decay instead of grad += weight_decay * param
};

class AdamW : public Adam {
 public:
  AdamW(const TensorList& params, const AdamOptions& options = AdamWOptions());
  AdamW(std::vector<ParamGroup> groups, const AdamOptions& options = AdamWOptions());
};

}  // namespace twig::optim
