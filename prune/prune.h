// twig::prune: PyTorch's torch.nn.utils.prune, native to twig.
//
// Pruning `name` of a module reparametrizes it through nn's generic mechanisms only:
//   - the parameter `name` is re-registered, as the very same tensor object, as `name_orig`;
//   - a buffer `name_mask` holds the mask (1 keeps, 0 prunes);
//   - a forward pre-hook (the pruning method itself, a nn::ForwardPreHook) recomputes the plain
//     attribute `name = name_orig * name_mask` before every forward, so gradients reaching
//     `name_orig` are zero where the mask is.
// Pruning the same tensor again combines the methods in a PruningContainer, whose mask only
// prunes entries (or channels) that are still unpruned. remove() makes the pruning permanent and
// restores `name` as a parameter (again the same tensor object).
//
// Amounts follow Python: an integer is a number of units, a floating value a fraction
// (`2` prunes two units, `1.0` prunes all of them, `1` prunes one). prune::Amount carries that
// through C++ literal types.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "twig/nn/module.h"
#include "twig/tensor/error.h"
#include "twig/tensor/tensor.h"

namespace twig::prune {

// ---- amounts -----------------------------------------------------------------------------------

// How much to prune: an integer count of units, or a fraction of them. Integral C++ types give a
// count, floating types a fraction (Python's int / float distinction). Text is never an amount:
// constructing one from a string throws TypeError, as Python's check does for a str.
class Amount {
 public:
  template <std::integral I>
  Amount(I count) : is_count_(true), count_(static_cast<int64_t>(count)) {}
  template <std::floating_point F>
  Amount(F fraction) : is_count_(false), fraction_(static_cast<double>(fraction)) {}
  // Always TypeError ("Invalid type for amount: <text>. Must be int or float.").
  Amount(const char* text);
  Amount(const std::string& text);

  static Amount count(int64_t n) { return Amount(n); }
  static Amount fraction(double f) { return Amount(f); }

  bool is_count() const { return is_count_; }
  bool is_fraction() const { return !is_count_; }
  int64_t count() const;    // TypeError unless is_count()
  double fraction() const;  // TypeError unless is_fraction()
  // Python's repr: "2", "0.5", "20.0".
  std::string str() const;
  bool operator==(const Amount& other) const = default;

 private:
  bool is_count_ = true;
  int64_t count_ = 0;
  double fraction_ = 0.0;
};

std::ostream& operator<<(std::ostream& os, const Amount& a);

// ---- validators and helpers (Python's underscored module functions) ----------------------------

// TypeError for a non-number (see Amount), ValueError for a negative count or a fraction outside
// [0, 1] (NaN included).
void validate_pruning_amount_init(const Amount& amount);
// ValueError when a count exceeds tensor_size (fractions always pass).
void validate_pruning_amount(const Amount& amount, int64_t tensor_size);
// ValueError for tensors with fewer than 2 dims.
void validate_structured_pruning(const Tensor& t);
// IndexError when dim is not a valid (possibly negative) dim of t.
void validate_pruning_dim(const Tensor& t, int64_t dim);
// A count as is; a fraction as round(amount * tensor_size), halves to even like Python's round.
int64_t compute_nparams_toprune(const Amount& amount, int64_t tensor_size);
// The L_n norm of t over every dim except `dim` (negative allowed): shape [t.size(dim)].
Tensor compute_norm(const Tensor& t, NormP n, int64_t dim);

// The same functions under their Python names.
inline void _validate_pruning_amount_init(const Amount& amount) { validate_pruning_amount_init(amount); }
inline void _validate_pruning_amount(const Amount& amount, int64_t tensor_size) {
  validate_pruning_amount(amount, tensor_size);
}
inline void _validate_structured_pruning(const Tensor& t) { validate_structured_pruning(t); }
inline void _validate_pruning_dim(const Tensor& t, int64_t dim) { validate_pruning_dim(t, dim); }
inline int64_t _compute_nparams_toprune(const Amount& amount, int64_t tensor_size) {
  return compute_nparams_toprune(amount, tensor_size);
}
inline Tensor _compute_norm(const Tensor& t, NormP n, int64_t dim) { return compute_norm(t, n, dim); }

// ---- pruning methods -----------------------------------------------------------------------------

class BasePruningMethod;
using PruningMethodPtr = std::shared_ptr<BasePruningMethod>;

// The base of every pruning technique (and a forward pre-hook). A new technique overrides
// compute_mask, pruning_type (and structured_dim for "structured" ones), type_name and clone_method.
class BasePruningMethod : public nn::ForwardPreHook {
 public:
  // Python's _tensor_name: the name of the pruned tensor in its module ("" until applied).
  std::string tensor_name;

  // The mask for importance scores t, on top of default_mask (the mask of earlier pruning, ones
  // if none; same shape as t). 1 keeps, 0 prunes.
  virtual Tensor compute_mask(const Tensor& t, const Tensor& default_mask) = 0;
  // Python's PRUNING_TYPE: "unstructured", "structured" or "global".
  virtual std::string pruning_type() const = 0;
  // The channel dim of a structured method (Python's `dim` attribute); none by default.
  virtual std::optional<int64_t> structured_dim() const { return std::nullopt; }
  // A deep copy (the hook a cloned module gets).
  virtual PruningMethodPtr clone_method() const = 0;

  // module.name_orig * module.name_mask (the mask converted to the original's dtype).
  Tensor apply_mask(const nn::Module& module) const;
  // t pruned by compute_mask(importance_scores or t, default_mask or ones).
  Tensor prune(const Tensor& t, const Tensor& default_mask = Tensor(), const Tensor& importance_scores = Tensor());
  // Makes the pruning of module.tensor_name permanent: name_orig (the same tensor object, now
  // holding the pruned values) becomes the parameter `name` again; name_mask is removed. The
  // hook itself is removed by prune::remove(module, name).
  void remove(nn::Module& module);

  // The forward pre-hook: module.name = apply_mask(module), a plain attribute.
  std::optional<nn::Values> operator()(nn::Module& module, const nn::Values& inputs) override;
  std::shared_ptr<nn::ForwardPreHook> clone_hook() const override { return clone_method(); }

  // Python's classmethod apply: prunes module.name with `method` (combining it with any pruning
  // already there into a PruningContainer) and returns the method now attached as the hook.
  // importance_scores (same shape as the tensor) replace the tensor's values when computing the
  // mask. If compute_mask throws, the module and any existing container are left exactly as
  // they were.
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, PruningMethodPtr method,
                                const Tensor& importance_scores = Tensor());
};

// A sequence of pruning methods acting on one tensor, applied one after the other; the last
// one's mask is computed over the part of the tensor that earlier ones left unpruned.
class PruningContainer : public BasePruningMethod {
 public:
  PruningContainer() = default;
  // Takes the method's tensor_name.
  explicit PruningContainer(PruningMethodPtr method);
  // Takes the first method's tensor_name.
  explicit PruningContainer(const std::vector<PruningMethodPtr>& methods);

  // ValueError when method acts on another tensor name; TypeError for a null method.
  void add_pruning_method(PruningMethodPtr method);
  // Python checks the type at run time: a hook that is not a pruning method, or anything else
  // (add_pruning_method(10), add_pruning_method("ugh")), is a TypeError.
  template <typename T>
  requires(!std::is_convertible_v<const T&, PruningMethodPtr>) void add_pruning_method(const T& other) {
    if constexpr (std::is_convertible_v<const T&, std::shared_ptr<nn::ForwardPreHook>>) {
      add_pruning_hook(other);
    } else {
      TWIG_THROW(TypeError, "<class '", typeid(T).name(), "'> is not a BasePruningMethod subclass");
    }
  }
  // The run-time checked form for any forward pre-hook.
  void add_pruning_hook(const std::shared_ptr<nn::ForwardPreHook>& hook);

  size_t size() const { return methods_.size(); }
  // Python indexing: negative counts from the end; IndexError out of range.
  const PruningMethodPtr& operator[](int64_t index) const;
  std::vector<PruningMethodPtr>::const_iterator begin() const { return methods_.begin(); }
  std::vector<PruningMethodPtr>::const_iterator end() const { return methods_.end(); }
  const std::vector<PruningMethodPtr>& methods() const { return methods_; }
  // Removes and returns the last method (undoing a failed add).
  PruningMethodPtr pop_back();

  // The last method's mask over the slots default_mask leaves unpruned: for an unstructured
  // method the entries equal to 1, for a structured one the channels not entirely zero, for a
  // global one everything. Returns a new mask of t's dtype.
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return "container"; }
  std::string type_name() const override { return "PruningContainer"; }
  PruningMethodPtr clone_method() const override;

 private:
  std::vector<PruningMethodPtr> methods_;
};

// A mask of ones: the reparametrization without pruning anything.
class Identity : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "unstructured";
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::string type_name() const override { return "Identity"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name);
};

// Prunes `amount` entries chosen uniformly at random (twig's default generator, so
// twig::manual_seed makes it reproducible).
class RandomUnstructured : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "unstructured";
  explicit RandomUnstructured(Amount amount);
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::string type_name() const override { return "RandomUnstructured"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, Amount amount);
  Amount amount;
};

// Prunes the `amount` entries of smallest magnitude.
class L1Unstructured : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "unstructured";
  explicit L1Unstructured(Amount amount);
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::string type_name() const override { return "L1Unstructured"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, Amount amount,
                                const Tensor& importance_scores = Tensor());
  Amount amount;
};

// Prunes `amount` whole channels along `dim`, chosen at random.
class RandomStructured : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "structured";
  explicit RandomStructured(Amount amount, int64_t dim = -1);
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::optional<int64_t> structured_dim() const override { return dim; }
  std::string type_name() const override { return "RandomStructured"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, Amount amount, int64_t dim = -1);
  Amount amount;
  int64_t dim;
};

// Prunes the `amount` channels along `dim` of smallest L_n norm (n: any real, ±inf, "fro").
class LnStructured : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "structured";
  LnStructured(Amount amount, NormP n, int64_t dim = -1);
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::optional<int64_t> structured_dim() const override { return dim; }
  std::string type_name() const override { return "LnStructured"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, Amount amount, NormP n, int64_t dim,
                                const Tensor& importance_scores = Tensor());
  Amount amount;
  NormP n;
  int64_t dim;
};

// Prunes exactly where a given mask is zero (on top of the default mask).
class CustomFromMask : public BasePruningMethod {
 public:
  static constexpr const char* PRUNING_TYPE = "global";
  explicit CustomFromMask(Tensor mask);
  Tensor compute_mask(const Tensor& t, const Tensor& default_mask) override;
  std::string pruning_type() const override { return PRUNING_TYPE; }
  std::string type_name() const override { return "CustomFromMask"; }
  PruningMethodPtr clone_method() const override;
  static PruningMethodPtr apply(nn::Module& module, const std::string& name, const Tensor& mask);
  Tensor mask;
};

// ---- functions -----------------------------------------------------------------------------------
// Each prunes module.name in place and returns the module.

nn::Module& identity(nn::Module& module, const std::string& name);
nn::Module& random_unstructured(nn::Module& module, const std::string& name, Amount amount);
nn::Module& l1_unstructured(nn::Module& module, const std::string& name, Amount amount,
                            const Tensor& importance_scores = Tensor());
nn::Module& random_structured(nn::Module& module, const std::string& name, Amount amount, int64_t dim);
nn::Module& ln_structured(nn::Module& module, const std::string& name, Amount amount, NormP n, int64_t dim,
                          const Tensor& importance_scores = Tensor());
nn::Module& custom_from_mask(nn::Module& module, const std::string& name, const Tensor& mask);

// A (module, tensor name) pair: an entry of global_unstructured's parameters and the key of its
// importance scores (compared by module identity, like Python's tuple of (module, name)).
struct TensorRef {
  TensorRef(nn::Module& m, std::string n) : module(&m), name(std::move(n)) {}
  TensorRef(const nn::ModulePtr& m, std::string n) : module(m.get()), name(std::move(n)) {}
  nn::Module* module;
  std::string name;
  auto operator<=>(const TensorRef&) const = default;
};
using ImportanceScores = std::map<TensorRef, Tensor>;

// Python's class object passed as `pruning_method`: PruningType<L1Unstructured>{}.
template <typename Method>
struct PruningType {
  using type = Method;
};

// prune.global_unstructured(parameters, pruning_method=Method, importance_scores=None, **kwargs):
// prunes all `parameters` together. A new Method is built from `args` (Python's kwargs, e.g. the
// amount) and decides over the concatenation of the parameters (or of their importance scores);
// each tensor gets its slice of the result as a CustomFromMask. TypeError unless Method's
// pruning type is "unstructured". Two spellings:
//   prune::global_unstructured(params, prune::PruningType<prune::L1Unstructured>{}, 0.2);
//   prune::global_unstructured<prune::L1Unstructured>(params, 0.2);
// and either with importance scores before the method's arguments:
//   prune::global_unstructured<prune::L1Unstructured>(params, scores, 4);
template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, PruningType<Method>, Args&&... args);
template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, PruningType<Method>,
                         const ImportanceScores& importance_scores, Args&&... args);
template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, Args&&... args);
template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, const ImportanceScores& importance_scores,
                         Args&&... args);

// The same with a configured method object (e.g. std::make_shared<L1Unstructured>(4)) standing
// for the class and its arguments: a copy of it does the work (clone_method()), so the object the
// caller passed is never changed.
void global_unstructured(const std::vector<TensorRef>& parameters, const PruningMethodPtr& pruning_method,
                         const ImportanceScores& importance_scores = {});

// Makes the pruning of module.name permanent and removes its hook; ValueError when module.name
// is not pruned.
nn::Module& remove(nn::Module& module, const std::string& name);
// Whether module or any submodule carries a pruning hook.
bool is_pruned(const nn::Module& module);

// The pruning hook attached to module.name (a method or a PruningContainer), or null.
PruningMethodPtr pruning_hook(const nn::Module& module, const std::string& name);

// ---- global_unstructured's templates ----------------------------------------------------------------

template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, PruningType<Method>, Args&&... args) {
  global_unstructured(parameters, std::make_shared<Method>(std::forward<Args>(args)...), ImportanceScores{});
}

template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, PruningType<Method>,
                         const ImportanceScores& importance_scores, Args&&... args) {
  global_unstructured(parameters, std::make_shared<Method>(std::forward<Args>(args)...), importance_scores);
}

template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, Args&&... args) {
  global_unstructured(parameters, PruningType<Method>{}, std::forward<Args>(args)...);
}

template <typename Method, typename... Args>
requires std::derived_from<Method, BasePruningMethod> && std::constructible_from<Method, Args...>
void global_unstructured(const std::vector<TensorRef>& parameters, const ImportanceScores& importance_scores,
                         Args&&... args) {
  global_unstructured(parameters, PruningType<Method>{}, importance_scores, std::forward<Args>(args)...);
}

// ---- serialization ---------------------------------------------------------------------------------
// Registers the codecs of every method type above (and PruningContainer) with serialize/'s type
// registry, so whole-module files keep their pruning hooks. Returns whether serialize/ was built;
// a no-op otherwise. It runs at program start wherever twig_prune is linked (twig::twig links it
// whole), so a program that only loads models needs no prune header; calling it again is
// harmless (a program that links twig_prune's archive by hand, without twig::twig, calls it).
bool register_serialization();

namespace detail {
inline const bool kRegistered = register_serialization();
}

}  // namespace twig::prune
