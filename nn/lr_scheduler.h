// torch.optim.lr_scheduler in C++: StepLR and CosineAnnealingLR with PyTorch 1.13's step()
// semantics (the recursive forms, so values match torch's to the last bit).
//
//   optim::SGD opt(model->parameters(), optim::SGDOptions(0.1));
//   optim::StepLR sched(opt, /*step_size=*/30, /*gamma=*/0.1);
//   for (epoch ...) { train(...); opt.step(); ...; sched.step(); }
//
// Constructing a scheduler with last_epoch = -1 stores each group's lr as "initial_lr" (if not
// there yet) and takes one step to epoch 0, as PyTorch. A scheduler writes the group's "lr" on
// every step; get_last_lr() is what it last wrote.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "twig/nn/optim.h"

namespace twig::optim {

// scheduler.state_dict(): Python's __dict__ without the optimizer.
struct SchedulerState {
  int64_t last_epoch = -1;
  int64_t step_count = 0;  // _step_count
  std::vector<double> base_lrs;
  std::vector<double> last_lr;            // _last_lr
  std::map<std::string, double> options;  // step_size, gamma / T_max, eta_min
};

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // last_epoch += 1, then every group's lr = get_lr().
  void step();
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  SchedulerState state_dict() const;
  // ValueError naming the problem (another scheduler's options, a different group count) leaves
  // the scheduler unchanged. Like PyTorch it does not touch the optimizer's lr.
  void load_state_dict(const SchedulerState& state);

 protected:
  // KeyError when last_epoch != -1 and a group has no "initial_lr" (resuming needs it).
  LRScheduler(Optimizer& optimizer, int64_t last_epoch);
  // The constructor's first step; derived constructors call it last (get_lr is virtual).
  void initial_step() { step(); }
  // The new lr of every group, from the state after last_epoch was advanced.
  virtual std::vector<double> get_lr() const = 0;
  virtual std::map<std::string, double> options() const = 0;
  virtual void set_options(const std::map<std::string, double>& options) = 0;
  std::vector<double> group_lrs() const;

  Optimizer& optimizer_;
  int64_t last_epoch_;
  int64_t step_count_ = 0;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
};

// lr = lr * gamma every step_size epochs (ValueError for step_size < 1).
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, int64_t step_size, double gamma = 0.1, int64_t last_epoch = -1);
  int64_t step_size() const { return step_size_; }
  double gamma() const { return gamma_; }

 protected:
  std::vector<double> get_lr() const override;
  std::map<std::string, double> options() const override;
  void set_options(const std::map<std::string, double>& options) override;

 private:
  int64_t step_size_;
  double gamma_;
};

// Cosine from the initial lr down to eta_min over T_max epochs, then back up (the recursive form
// PyTorch's step() uses; ValueError for T_max < 1).
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, int64_t T_max, double eta_min = 0.0, int64_t last_epoch = -1);
  int64_t T_max() const { return T_max_; }
  double eta_min() const { return eta_min_; }

 protected:
  std::vector<double> get_lr() const override;
  std::map<std::string, double> options() const override;
  void set_options(const std::map<std::string, double>& options) override;

 private:
  int64_t T_max_;
  double eta_min_;
};

}  // namespace twig::optim
