// The lowest layer of the tracer (ao::trace builds a graph from it): while a Recorder is active on
// this thread, every instrumented op reports itself once, with its inputs, constants, outputs and a
// closure that re-runs it on new tensors. Not tracing costs one thread_local load and a branch.
//
// A Scope opens a depth level; only an op whose scope is the outermost records, so a composite
// function (F::relu6 calling clamp) is one record, and nothing inside a leaf module call (which
// opens a Scope too) is recorded.
//
// Instrumented, each under its PyTorch name: Tensor add/sub/mul/div (tensor and scalar forms, and
// so the operators), neg, pow, matmul/mm/bmm, view/reshape/flatten/unflatten, permute/transpose/t,
// squeeze/unsqueeze, contiguous/clone, select ("select"), sum/mean, relu/sigmoid/tanh/exp/log,
// softmax/log_softmax, cat/stack, split/chunk (list outputs); the in-place add_/sub_/mul_/div_
// (tensor and scalar forms, and so +=, -=, *=, /=), pow_, clamp_, relu_, neg_, abs_, sqrt_, exp_
// (their output is self); in nn/: every F:: function of nn/functional.h. Other in-place ops
// (copy_, fill_, masked_fill_, index_put_, ...) and factories are not recorded, and nothing inside
// any in-place op is (detail::inplace opens a Scope); ao::trace refuses a result of theirs that
// depends on the traced inputs or parameters.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "twig/tensor/tensor.h"

namespace twig::trace {

// One positional argument of a recorded op: a tensor (undefined prints None), a list of tensors
// (cat's), or a constant already in its printable form.
struct Arg {
  enum class Kind { Tensor, List, Constant };
  Kind kind;
  Tensor tensor;
  TensorList list;
  std::string text;
  Arg(const Tensor& t) : kind(Kind::Tensor), tensor(t) {}
  Arg(const TensorList& l) : kind(Kind::List), list(l) {}
  static Arg constant(std::string printable) {
    Arg a{Tensor()};
    a.kind = Kind::Constant;
    a.text = std::move(printable);
    return a;
  }
};

// Python-like printable constants: 2, 0.5, True, None, 'none', [2, 2].
std::string repr(int64_t v);
std::string repr(double v);
std::string repr(bool v);
std::string repr(const Scalar& v);
std::string repr(const std::string& v);
std::string repr(const char* v);
std::string repr(const std::vector<int64_t>& v);
template <typename T>
std::string repr(const std::optional<T>& v) {
  return v ? repr(*v) : std::string("None");
}
inline std::string repr(int v) { return repr(static_cast<int64_t>(v)); }
template <typename T>
Arg constant(const T& v) {
  return Arg::constant(repr(v));
}

using Kwargs = std::vector<std::pair<std::string, std::string>>;
// Re-runs the op: takes the tensors of the args in order (a list's elements in place of the list,
// an undefined tensor as itself), returns the outputs.
using Replay = std::function<TensorList(const TensorList& inputs)>;

struct Op {
  const char* target;  // "relu", "add", "cat", ...
  std::vector<Arg> args;
  Kwargs kwargs;  // constants by name, printable
  TensorList outputs;
  bool list_output;  // split/chunk: a list even of one element (getitem nodes)
  Replay replay;
};

// What the tracer implements.
class Recorder {
 public:
  virtual ~Recorder() = default;
  virtual void record(Op op) = 0;
};

namespace detail {
struct State {
  Recorder* recorder = nullptr;
  int depth = 0;
};
extern constinit thread_local State t_state;
}  // namespace detail

// The active recorder of this thread, or null.
inline Recorder* active() { return detail::t_state.recorder; }
// Nesting depth of open Scopes while tracing (0 outside any op or leaf module).
inline int depth() { return detail::t_state.depth; }

// Makes `r` the active recorder for its lifetime (depth 0), then restores the previous one, also
// when an exception leaves the traced forward.
class ActiveRecorder {
 public:
  explicit ActiveRecorder(Recorder* r) : saved_(detail::t_state) { detail::t_state = detail::State{r, 0}; }
  ~ActiveRecorder() { detail::t_state = saved_; }
  ActiveRecorder(const ActiveRecorder&) = delete;
  ActiveRecorder& operator=(const ActiveRecorder&) = delete;

 private:
  detail::State saved_;
};

// One op (or leaf module) call: opens a depth level while tracing, nothing otherwise.
class Scope {
 public:
  Scope() : recorder_(detail::t_state.recorder) {
    if (recorder_) [[unlikely]]
      ++detail::t_state.depth;
  }
  ~Scope() {
    if (recorder_) [[unlikely]]
      --detail::t_state.depth;
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  // Whether this op is the outermost one while tracing: then it must record itself.
  bool recording() const { return recorder_ && detail::t_state.depth == 1; }

  void record(const char* target, std::vector<Arg> args, Kwargs kwargs, TensorList outputs, bool list_output,
              Replay replay) const {
    recorder_->record(
        Op{target, std::move(args), std::move(kwargs), std::move(outputs), list_output, std::move(replay)});
  }
  // One tensor out; `fn(inputs)` returns the re-run op's tensor.
  template <typename Fn>
  void record1(const char* target, std::vector<Arg> args, Kwargs kwargs, const Tensor& out, Fn fn) const {
    record(target, std::move(args), std::move(kwargs), {out}, false,
           [fn = std::move(fn)](const TensorList& in) { return TensorList{fn(in)}; });
  }

 private:
  Recorder* recorder_;
};

}  // namespace twig::trace
