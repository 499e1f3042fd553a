// Optimizers, following PyTorch 1.13's single-tensor (for-loop) implementations op for op, so
// trajectories match torch.optim to rounding. SGD's update is a few in-place tensor ops; Adam's is
// one fused kernel (adam_step_) that rounds like the op sequence.
#include "twig/nn/optim.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"

namespace twig::optim {

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  TWIG_CHECK(it != options.end(), KeyError, "param group has no option '", key, "'");
  return it->second;
}

// ---- Optimizer -------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<ParamGroup> groups, GroupOptions defaults) : defaults_(std::move(defaults)) {
  TWIG_CHECK(!groups.empty(), ValueError, "optimizer got an empty parameter list");
  for (ParamGroup& g : groups) add_param_group(std::move(g));
}

void Optimizer::add_param_group(ParamGroup group) {
  TWIG_CHECK(!group.params.empty(), ValueError, "optimizer got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    TWIG_CHECK(p.defined(), ValueError, "optimizer parameter ", i, " is undefined");
    TWIG_CHECK(is_floating(p.dtype()), ValueError, "optimizer can only optimize floating-point Tensors, but parameter ",
               i, " is ", dtype_tensor_name(p.dtype()));
    TWIG_CHECK(p.is_leaf(), ValueError, "can't optimize a non-leaf Tensor");
    TWIG_CHECK(seen.insert(p.impl()).second, ValueError, "some parameters appear in more than one parameter group");
  }
  for (const auto& [k, v] : defaults_) group.options.try_emplace(k, v);
  groups_.push_back(std::move(group));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const ParamGroup& g : groups_) {
    for (const Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        NoGradGuard no_grad;
        grad.detach().zero_();
      }
    }
  }
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (const ParamGroup& g : groups_) {
    for (const Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      update(p, grad, g, state_[p.impl()]);
    }
  }
}

const ParamState& Optimizer::state(const Tensor& param) const {
  static const ParamState kEmpty;
  auto it = state_.find(param.impl());
  return it == state_.end() ? kEmpty : it->second;
}

OptimizerStateDict Optimizer::state_dict() const {
  OptimizerStateDict sd;
  int64_t index = 0;
  for (const ParamGroup& g : groups_) {
    OptimizerStateDict::Group out{g.options, {}};
    for (const Tensor& p : g.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end() && !it->second.empty()) {
        ParamState copy;
        for (const auto& [k, t] : it->second) copy[k] = t.defined() ? t.detach().clone() : Tensor();
        sd.state[index] = std::move(copy);
      }
      out.params.push_back(index++);
    }
    sd.param_groups.push_back(std::move(out));
  }
  return sd;
}

void Optimizer::load_state_dict(const OptimizerStateDict& sd) {
  // Validate everything first.
  TWIG_CHECK(sd.param_groups.size() == groups_.size(), ValueError, "loaded state dict has a different number of ",
             "parameter groups (", sd.param_groups.size(), ") than the optimizer (", groups_.size(), ")");
  std::map<int64_t, std::pair<const Tensor*, const ParamGroup*>> by_index;  // saved index -> our parameter
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& saved = sd.param_groups[gi];
    TWIG_CHECK(saved.params.size() == groups_[gi].params.size(), ValueError,
               "loaded state dict contains a parameter group that doesn't match the size of optimizer's group (group ",
               gi, ": ", saved.params.size(), " vs ", groups_[gi].params.size(), " parameters)");
    for (size_t i = 0; i < saved.params.size(); ++i) {
      TWIG_CHECK(by_index.emplace(saved.params[i], std::make_pair(&groups_[gi].params[i], &groups_[gi])).second,
                 ValueError, "loaded state dict lists parameter index ", saved.params[i], " twice");
    }
  }
  std::map<const TensorImpl*, ParamState> new_state;
  for (const auto& [index, st] : sd.state) {
    auto it = by_index.find(index);
    TWIG_CHECK(it != by_index.end(), ValueError, "loaded state dict has state for parameter index ", index,
               " which is in no parameter group");
    const Tensor& p = *it->second.first;
    const std::vector<std::string> known = state_keys(*it->second.second);
    ParamState copy;
    for (const auto& [key, t] : st) {
      TWIG_CHECK(std::find(known.begin(), known.end(), key) != known.end(), ValueError, "loaded state of parameter ",
                 index, " has an unknown entry '", key, "' (this optimizer keeps ", known, ")");
      if (t.defined() && key != "step") {
        TWIG_CHECK(t.sizes() == p.sizes(), ValueError, "loaded state '", key, "' of parameter ", index, " has shape ",
                   t.sizes(), " but the parameter has shape ", p.sizes());
      }
      // Like PyTorch: state follows the parameter's dtype, except the step counter.
      copy[key] = !t.defined() ? Tensor() : key == "step" ? t.detach().clone() : t.detach().to(p.dtype(), true);
    }
    new_state[p.impl()] = std::move(copy);
  }
  // Then commit.
  for (size_t gi = 0; gi < groups_.size(); ++gi) groups_[gi].options = sd.param_groups[gi].options;
  state_ = std::move(new_state);
}

// ---- SGD -------------------------------------------------------------------------------------

GroupOptions SGDOptions::to_map() const {
  TWIG_CHECK(lr_ >= 0.0, ValueError, "Invalid learning rate: ", lr_);
  TWIG_CHECK(momentum_ >= 0.0, ValueError, "Invalid momentum value: ", momentum_);
  TWIG_CHECK(weight_decay_ >= 0.0, ValueError, "Invalid weight_decay value: ", weight_decay_);
  TWIG_CHECK(!nesterov_ || (momentum_ > 0.0 && dampening_ == 0.0), ValueError,
             "Nesterov momentum requires a momentum and zero dampening (momentum=", momentum_,
             ", dampening=", dampening_, ")");
  return {{"lr", lr_},
          {"momentum", momentum_},
          {"dampening", dampening_},
          {"weight_decay", weight_decay_},
          {"nesterov", nesterov_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

SGD::SGD(const TensorList& params, const SGDOptions& options)
    : SGD(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& options) : Optimizer(std::move(groups), options.to_map()) {}

std::vector<std::string> SGD::state_keys(const ParamGroup&) const { return {"momentum_buffer"}; }

void SGD::update(const Tensor& param, const Tensor& grad, const ParamGroup& g, ParamState& state) {
  const double lr = g.get("lr"), momentum = g.get("momentum"), dampening = g.get("dampening");
  const double weight_decay = g.get("weight_decay");
  const bool nesterov = g.get("nesterov") != 0.0, maximize = g.get("maximize") != 0.0;
  Tensor d_p = maximize ? grad.neg() : grad;
  if (weight_decay != 0.0) d_p = d_p.add(param, weight_decay);
  if (momentum != 0.0) {
    Tensor& buf = state["momentum_buffer"];
    if (!buf.defined()) {
      buf = d_p.detach().clone();
    } else {
      buf.mul_(momentum).add_(d_p, 1.0 - dampening);
    }
    d_p = nesterov ? d_p.add(buf, momentum) : buf;
  }
  param.add_(d_p, -lr);
}

// ---- Adam / AdamW ----------------------------------------------------------------------------

GroupOptions AdamOptions::to_map() const {
  TWIG_CHECK(lr_ >= 0.0, ValueError, "Invalid learning rate: ", lr_);
  TWIG_CHECK(eps_ >= 0.0, ValueError, "Invalid epsilon value: ", eps_);
  TWIG_CHECK(beta1_ >= 0.0 && beta1_ < 1.0, ValueError, "Invalid beta parameter at index 0: ", beta1_);
  TWIG_CHECK(beta2_ >= 0.0 && beta2_ < 1.0, ValueError, "Invalid beta parameter at index 1: ", beta2_);
  TWIG_CHECK(weight_decay_ >= 0.0, ValueError, "Invalid weight_decay value: ", weight_decay_);
  return {{"lr", lr_},
          {"beta1", beta1_},
          {"beta2", beta2_},
          {"eps", eps_},
          {"weight_decay", weight_decay_},
          {"amsgrad", amsgrad_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

Adam::Adam(const TensorList& params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup(params)}, options, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options) : Adam(std::move(groups), options, false) {}
Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(groups), options.to_map()), decoupled_(decoupled) {}

AdamW::AdamW(const TensorList& params, const AdamOptions& options)
    : Adam(std::vector<ParamGroup>{ParamGroup(params)}, options, true) {}
AdamW::AdamW(std::vector<ParamGroup> groups, const AdamOptions& options) : Adam(std::move(groups), options, true) {}

std::vector<std::string> Adam::state_keys(const ParamGroup& g) const {
  if (g.get("amsgrad") != 0.0) return {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"step", "exp_avg", "exp_avg_sq"};
}

void Adam::update(const Tensor& param, const Tensor& grad_in, const ParamGroup& g, ParamState& state) {
  const double lr = g.get("lr"), beta1 = g.get("beta1"), beta2 = g.get("beta2"), eps = g.get("eps");
  const double weight_decay = g.get("weight_decay");
  const bool amsgrad = g.get("amsgrad") != 0.0, maximize = g.get("maximize") != 0.0;
  if (state.empty()) {
    state["step"] = zeros({}, kFloat32);
    state["exp_avg"] = zeros_like(param);
    state["exp_avg_sq"] = zeros_like(param);
    if (amsgrad) state["max_exp_avg_sq"] = zeros_like(param);
  }
  auto slot = [&state](const char* key) -> Tensor& {
    auto it = state.find(key);
    TWIG_CHECK(it != state.end() && it->second.defined(), ValueError, "Adam: the parameter's state has no '", key,
               "' (a loaded optimizer state must hold step, exp_avg and exp_avg_sq)");
    return it->second;
  };
  Tensor& step_t = slot("step");
  const double step = step_t.item<double>() + 1;
  AdamStep s;
  s.lr = lr;
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.eps = eps;
  s.weight_decay = weight_decay;
  s.decoupled = decoupled_;
  s.amsgrad = amsgrad;
  s.maximize = maximize;
  s.step_size = lr / (1.0 - std::pow(beta1, step));
  s.bias_correction2_sqrt = std::sqrt(1.0 - std::pow(beta2, step));
  // Switching amsgrad on after the first step leaves no max_exp_avg_sq: a ValueError naming it.
  Tensor max_sq = amsgrad ? slot("max_exp_avg_sq") : Tensor();
  // One pass over memory instead of eight tensor ops (and two temporaries) per parameter. The step
  // count moves only once the update went through.
  adam_step_(param, grad_in, slot("exp_avg"), slot("exp_avg_sq"), max_sq, s);
  step_t.fill_(step);
}

}  // namespace twig::optim
