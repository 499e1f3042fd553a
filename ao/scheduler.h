// torch.ao.pruning's sparsity schedulers (scheduler/*.py): BaseScheduler, LambdaSL and CubicSL,
// which set every group's "sparsity_level" of a sparsifier once per epoch.
//
//   ao::CubicSL scheduler(sparsifier, /*init_sl=*/0.0, /*init_t=*/0, /*delta_t=*/10, /*total_t=*/100);
//   for (epoch ...) { train(...); sparsifier.step(); scheduler.step(); }
//
// As in PyTorch, constructing a scheduler takes its first step (last_epoch -1 -> 0), the base
// levels are the groups' sparsity levels at construction, and a scheduler.step() that comes
// before the sparsifier's first step() warns (twig::warn, UserWarning). Levels are nn::Objects,
// as Python holds them: CubicSL gives the int 0 before init_t with initially_zero, and an int
// base level times an int factor stays an int.
//
// PyTorch 1.13 (torch.ao.sparsity.scheduler) and the newest torch.ao.pruning.scheduler compute the
// same levels; they differ in words only: 1.13's step-order warning says "scheduer.step()", later
// versions (and twig) "scheduler.step()"; the newest names BasePruner in the TypeError for a
// sparsifier of the wrong type (a compile error here); and its CubicSL.get_sl passes an undefined
// `stacklevel=TO_BE_DETERMINED` to warnings.warn (so that warning raises NameError there), where
// twig warns as 1.13 does. PyTorch's other step() warning, for a sparsifier.step replaced after
// the scheduler wrapped it, has no C++ counterpart (step() is a member function).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "twig/ao/base_sparsifier.h"
#include "twig/nn/object.h"

namespace twig::ao {

class BaseScheduler {
 public:
  virtual ~BaseScheduler();
  BaseScheduler(const BaseScheduler&) = delete;
  BaseScheduler& operator=(const BaseScheduler&) = delete;

  // last_epoch += 1, then group i's "sparsity_level" = get_sl()[i] (over as many groups as both
  // have, Python's zip), printed when verbose (`epoch` is only printed), then last_sl = every
  // group's level and sparsifier.enable_mask_update = true. The second step() of a scheduler
  // warns when the sparsifier has not stepped since the scheduler was attached. A step that
  // fails (get_sl() throws; a verbose level that is not a number: ValueError, as Python's
  // '{:.4e}') changes nothing, the scheduler's counters included.
  void step(std::optional<int64_t> epoch = std::nullopt);
  // The new level of each group for the current last_epoch. Abstract: a scheduler type that
  // does not implement it cannot be instantiated. LambdaSL and CubicSL warn when it is called
  // from outside step() ("To get the last sparsity level ... use `get_last_sl()`."), as PyTorch.
  virtual std::vector<Object> get_sl() = 0;
  // The levels the groups had after the last step() (empty before the first one).
  const std::vector<Object>& get_last_sl() const { return last_sl_; }

  BaseSparsifier& sparsifier() const { return *sparsifier_; }
  // Python's _step_count: 1 after construction, +1 per step().
  int64_t step_count() const { return step_count_; }
  // Python's _get_sl_called_within_step: true only while step() calls get_sl().
  bool get_sl_called_within_step() const { return get_sl_called_within_step_; }

  // Every attribute but the sparsifier, in Python's order: the subclass's own (set before the
  // base constructor), then base_sl, last_epoch, _step_count, verbose,
  // _get_sl_called_within_step, _last_sl. Lists are tuples, LambdaSL's functions function
  // objects. Keys load_state_dict was given beyond these come back too.
  Dict state_dict() const;
  // Python's __dict__.update(sd): each key of sd replaces that attribute; a key the scheduler
  // does not have is kept (state_dict() returns it) and has no effect. Every value is checked
  // first (TypeError naming the key and the value; ValueError for "sparsifier", which is not
  // state), so a bad dict changes nothing. Like PyTorch it does not touch the sparsifier.
  void load_state_dict(const Dict& sd);

  // Python's print_sl: "Adjusting sparsity level of group 1 to 2.5000e-01." to stdout, or
  // "Epoch     3: adjusting sparsity level of group 1 to 2.5000e-01." with an epoch.
  void print_sl(bool is_verbose, int64_t group, const Object& sl, std::optional<int64_t> epoch = std::nullopt) const;
  // Python's _make_sure_a_list: a tuple must have one item per group (ValueError "Expected
  // variable of length 2, but got 3"); anything else is repeated once per group.
  std::vector<Object> make_sure_a_list(const Object& var) const;
  // "CubicSL (\nSparsifier <sparsifier.repr()>\n    base_sl: [0.8, 0.4]\n)".
  std::string repr() const;
  virtual std::string type_name() const { return "BaseScheduler"; }

  // The groups' sparsity levels at construction (the targets); LambdaSL multiplies them,
  // CubicSL moves towards them.
  std::vector<Object> base_sl;
  int64_t last_epoch;
  bool verbose;

 protected:
  // Reads base_sl from the groups (KeyError naming "sparsity_level" for a group without one).
  // It does not step: get_sl is not callable from here, so every concrete constructor calls
  // initial_step() last (as optim::LRScheduler's do).
  explicit BaseScheduler(BaseSparsifier& sparsifier, int64_t last_epoch = -1, bool verbose = false);
  // The constructor's step; then the sparsifier's step counter starts from 0 (PyTorch resets
  // it when it wraps sparsifier.step).
  void initial_step();
  // The warning LambdaSL's and CubicSL's get_sl() give outside step().
  void warn_if_get_sl_outside_step() const;
  // The subclass's own state_dict entries, and loading them: check_own_state throws for a bad
  // value of a key it owns and returns whether it owns the key; load_own_state sets it.
  virtual void own_state(Dict& sd) const;
  virtual bool check_own_state(const std::string& key, const Object& value) const;
  virtual void load_own_state(const std::string& key, const Object& value);

 private:
  BaseSparsifier* sparsifier_;
  int64_t step_count_ = 0;
  bool get_sl_called_within_step_ = false;
  std::vector<Object> last_sl_;
  Dict extra_state_;  // keys load_state_dict had that the scheduler does not own
};

// A factor for epoch `epoch` (an int or a float: the level is base_sl * factor, with Python's
// int/float arithmetic).
using SLLambda = std::function<Object(int64_t epoch)>;

// Level = base_sl * sl_lambda(last_epoch), one function for every group or one per group.
class LambdaSL : public BaseScheduler {
 public:
  LambdaSL(BaseSparsifier& sparsifier, SLLambda sl_lambda, int64_t last_epoch = -1, bool verbose = false);
  // ValueError "Expected 2 lr_lambdas, but got 3" (PyTorch's words) unless one per group.
  LambdaSL(BaseSparsifier& sparsifier, std::vector<SLLambda> sl_lambdas, int64_t last_epoch = -1, bool verbose = false);
  std::vector<Object> get_sl() override;
  std::string type_name() const override { return "LambdaSL"; }

  // One function object per group (one given function is the same object for every group).
  std::vector<Object> sl_lambdas;

 protected:
  void own_state(Dict& sd) const override;
  bool check_own_state(const std::string& key, const Object& value) const override;
  void load_own_state(const std::string& key, const Object& value) override;
};

// Zhu & Gupta's automated gradual pruning (https://arxiv.org/abs/1710.01878): per group,
//   s_t = s_f + (s_0 - s_f) * (1 - (t - t_0) / (delta_t * total_t))^3, clamped between s_0 and s_f,
// with s_f the group's base level, s_0 = init_sl, t = last_epoch, t_0 = init_t; before t_0 the
// level is s_0, or 0 with initially_zero. Each parameter is one number for every group or a
// tuple with one per group (`{0.1, 0.2}`). TypeError for a parameter that is not a number.
class CubicSL : public BaseScheduler {
 public:
  CubicSL(BaseSparsifier& sparsifier, const Object& init_sl = 0.0, const Object& init_t = 0, const Object& delta_t = 10,
          const Object& total_t = 100, const Object& initially_zero = false, int64_t last_epoch = -1,
          bool verbose = false);
  std::vector<Object> get_sl() override;
  std::string type_name() const override { return "CubicSL"; }

  // Python's sparsity_compute_fn, on numbers as Python holds them: the int 0 before t_0 with
  // initially_zero, otherwise the float s_t or, when clamped, s_0 or s_f themselves (Python's
  // min/max return their argument). ValueError where Python raises ZeroDivisionError
  // (dt * n == 0); TypeError for a non-number.
  static Object sparsity_compute_fn(const Object& s_0, const Object& s_f, int64_t t, const Object& t_0,
                                    const Object& dt, const Object& n, const Object& initially_zero = false);

  std::vector<Object> init_sl, init_t, delta_t, total_t, initially_zero;

 protected:
  void own_state(Dict& sd) const override;
  bool check_own_state(const std::string& key, const Object& value) const override;
  void load_own_state(const std::string& key, const Object& value) override;
};

}  // namespace twig::ao
