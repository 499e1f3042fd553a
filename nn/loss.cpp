// Losses. nll_loss and cross_entropy share one kernel that records a single node over the
// flattened (M, C) input: the forward is composed from tensor ops under no_grad, the backward
// builds d loss / d log-probabilities as a dense (M, C) coefficient matrix and, for logits, maps
// it through log_softmax's Jacobian (g - softmax * rowsum(g)).
//
// Letters: M rows (batch × spatial positions), C classes.
#include "twig/nn/loss.h"

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

Reduction parse_reduction(const std::string& reduction) {
  if (reduction == "mean") return Reduction::Mean;
  if (reduction == "sum") return Reduction::Sum;
  if (reduction == "none") return Reduction::None;
  TWIG_THROW(ValueError, reduction, " is not a valid value for reduction");
}

namespace {

Tensor reduce(const Tensor& t, Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return t.mean();
    case Reduction::Sum:
      return t.sum();
    case Reduction::None:
      break;
  }
  return t;
}

// input (C) with target (), (N, C) with (N), or (N, C, d1, ...) with (N, d1, ...), flattened to
// x (M, C) (autograd-aware views) and t (M); out_shape is the shape of an unreduced loss.
struct Flattened {
  Tensor x;         // (M, C)
  Tensor t;         // (M) int64
  Shape out_shape;  // target's shape
};

Flattened flatten_class_dims(const Tensor& input, const Tensor& target, const char* op) {
  TWIG_CHECK(input.defined() && target.defined(), RuntimeError, op, ": input and target must be defined");
  TWIG_CHECK(is_floating(input.dtype()), RuntimeError, op, ": expected a floating-point input, got ",
             dtype_tensor_name(input.dtype()));
  TWIG_CHECK(target.dtype() == kInt64, RuntimeError, "expected scalar type Long but found ",
             dtype_tensor_name(target.dtype()), " (", op, " takes int64 class indices as target)");
  const int64_t nd = input.dim();
  TWIG_CHECK(nd >= 1, ValueError, "Expected 1 or more dimensions (got ", nd, ")");
  if (nd == 1) {
    TWIG_CHECK(target.dim() == 0, RuntimeError,
               "0D target tensor expected for a 1D input, multi-target not supported (got target of shape ",
               target.sizes(), ")");
    return {input.unsqueeze(0), target.reshape({1}), Shape{}};
  }
  TWIG_CHECK(target.dim() >= 1 && input.size(0) == target.size(0), ValueError, "Expected input batch_size (",
             input.size(0), ") to match target batch_size (", target.dim() >= 1 ? target.size(0) : 0, ").");
  if (nd == 2) {
    TWIG_CHECK(target.dim() == 1, RuntimeError,
               "1D target tensor expected, multi-target not supported (got target of shape ", target.sizes(), ")");
    return {input, target, target.sizes()};
  }
  Shape expected = input.sizes();
  expected.erase(expected.begin() + 1);
  TWIG_CHECK(target.sizes() == expected, ValueError, "Expected target size ", expected, ", got ", target.sizes());
  const int64_t c = input.size(1);
  Tensor x = input.movedim(1, nd - 1).reshape({input.numel() / std::max<int64_t>(c, 1), c});
  return {x, target.reshape({target.numel()}), target.sizes()};
}

// The shared kernel: -w[t] * logp[t] (scaled by 1 - eps) plus, for eps > 0, the label-smoothing
// term -(eps / C) * Σ_c w[c] * logp[c], with PyTorch 1.13's normalizations for "mean": the
// NLL part divides by Σ w[t] over non-ignored rows, the smoothing part by the same sum when a
// weight is given and by the number of non-ignored rows when not (all checked against 1.13).
Tensor class_loss(const Tensor& input, const Tensor& target, const Tensor& weight, const std::string& reduction,
                  int64_t ignore_index, double eps, bool from_logits, const char* op) {
  const Reduction red = parse_reduction(reduction);
  TWIG_CHECK(eps >= 0.0 && eps <= 1.0, ValueError, "label_smoothing must be between 0.0 and 1.0. Got: ", eps);
  Flattened f = flatten_class_dims(input, target, op);
  const Tensor& x = f.x;
  const int64_t c = x.size(1);
  const Dtype dt = x.dtype();
  TWIG_CHECK(!weight.defined() || (weight.dim() == 1 && weight.numel() == c), RuntimeError,
             "weight tensor should be defined either for all ", c,
             " classes or no classes but got weight tensor of shape: ", weight.sizes());

  Tensor out, logp, safe_t, valid_f, w_all, w_t, total_w, smooth_denom;
  {
    NoGradGuard no_grad;
    Tensor t = f.t.contiguous();
    Tensor valid = t.ne(ignore_index);  // (M) bool
    Tensor bad = valid.logical_and(t.lt(0).logical_or(t.ge(c)));
    if (bad.any().item<bool>()) {
      TWIG_THROW(IndexError, "Target ", t.masked_select(bad)[0].item<int64_t>(), " is out of bounds.");
    }
    safe_t = where(valid, t, Scalar(int64_t{0}));
    Tensor ignored = valid.logical_not();
    valid_f = valid.to(dt);
    logp = from_logits ? x.detach().log_softmax(1) : x.detach();
    w_all = weight.defined() ? weight.detach().to(dt).contiguous() : ones({c}, dt);
    w_t = w_all.index_select(0, safe_t).masked_fill(ignored, 0.0);  // (M)
    Tensor picked = logp.gather(1, safe_t.unsqueeze(1)).squeeze(1);
    Tensor nll = (w_t * picked).neg().masked_fill(ignored, 0.0);  // (M)
    total_w = w_t.sum();
    Tensor smooth;
    if (eps > 0.0) {
      smooth = (logp * w_all.view({1, c})).sum({1}).neg().masked_fill(ignored, 0.0);  // (M)
      smooth_denom = weight.defined() ? total_w : valid_f.sum();
    }
    const double a = 1.0 - eps, b = eps / static_cast<double>(c);
    switch (red) {
      case Reduction::None:
        out = eps > 0.0 ? nll * a + smooth * b : nll;
        break;
      case Reduction::Sum:
        out = eps > 0.0 ? nll.sum() * a + smooth.sum() * b : nll.sum();
        break;
      case Reduction::Mean:
        out = nll.sum() / total_w;
        if (eps > 0.0) out = out * a + smooth.sum() / smooth_denom * b;
        break;
    }
  }

  // Backward: d loss / d logp (M, C), then through log_softmax for logits.
  autograd::record(
      from_logits ? "CrossEntropyLossBackward0" : "NllLossBackward0", {x}, {out},
      [red, eps, c, from_logits, slp = autograd::SavedTensor(logp), st = safe_t, wa = w_all, wt = w_t, vf = valid_f,
       tw = total_w, sd = smooth_denom](const TensorList& g, const autograd::Node&) -> TensorList {
        Tensor lp = slp.get();
        const int64_t rows = lp.size(0);
        // Upstream gradient per row, for the NLL part (ga) and the smoothing part (gb).
        Tensor ga = g[0], gb = g[0];
        if (red == Reduction::Mean) {
          ga = g[0] / tw;
          if (eps > 0.0) gb = g[0] / sd;
        }
        Tensor onehot = arange(c, kInt64).view({1, c}).eq(st.unsqueeze(1)).to(lp.dtype());  // (M, C)
        Tensor dlogp = onehot * (wt * ga * (eps - 1.0)).unsqueeze(1);
        if (eps > 0.0) {
          Tensor row = (vf * gb * (-eps / static_cast<double>(c))).expand({rows});  // (M)
          dlogp = dlogp + wa.view({1, c}) * row.unsqueeze(1);
        }
        if (from_logits) dlogp = dlogp - lp.exp() * dlogp.sum({1}, true);
        return {dlogp};
      });
  return red == Reduction::None ? out.reshape(f.out_shape) : out;
}

}  // namespace

namespace functional {

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  trace::Scope scope;
  const Reduction red = parse_reduction(reduction);
  TWIG_CHECK(input.defined() && target.defined(), RuntimeError, "mse_loss: input and target must be defined");
  TWIG_CHECK(is_floating(input.dtype()) && is_floating(target.dtype()), RuntimeError,
             "mse_loss: expected floating-point input and target, got ", dtype_tensor_name(input.dtype()), " and ",
             dtype_tensor_name(target.dtype()));
  // Different shapes broadcast (PyTorch warns); non-broadcastable shapes raise from the subtraction.
  Tensor diff = input - target;
  Tensor out = reduce(diff * diff, red);
  if (scope.recording()) [[unlikely]]
    scope.record1("mse_loss", {input, target}, {{"reduction", trace::repr(reduction)}}, out,
                  [reduction](const TensorList& in) { return mse_loss(in[0], in[1], reduction); });
  return out;
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, const std::string& reduction,
                int64_t ignore_index) {
  trace::Scope scope;
  Tensor out = class_loss(input, target, weight, reduction, ignore_index, 0.0, false, "nll_loss");
  if (scope.recording()) [[unlikely]]
    scope.record1("nll_loss", {input, target, weight},
                  {{"reduction", trace::repr(reduction)}, {"ignore_index", trace::repr(ignore_index)}}, out,
                  [reduction, ignore_index](const TensorList& in) {
                    return nll_loss(in[0], in[1], in[2], reduction, ignore_index);
                  });
  return out;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, const std::string& reduction,
                     int64_t ignore_index, double label_smoothing) {
  trace::Scope scope;
  TWIG_CHECK(!(target.defined() && is_floating(target.dtype())), NotImplementedError,
             "cross_entropy: class-probability (floating) targets are not supported; pass int64 class indices");
  Tensor out = class_loss(input, target, weight, reduction, ignore_index, label_smoothing, true, "cross_entropy");
  if (scope.recording()) [[unlikely]]
    scope.record1("cross_entropy", {input, target, weight},
                  {{"reduction", trace::repr(reduction)},
                   {"ignore_index", trace::repr(ignore_index)},
                   {"label_smoothing", trace::repr(label_smoothing)}},
                  out, [reduction, ignore_index, label_smoothing](const TensorList& in) {
                    return cross_entropy(in[0], in[1], in[2], reduction, ignore_index, label_smoothing);
                  });
  return out;
}

}  // namespace functional

// ---- modules ---------------------------------------------------------------------------------

LossModule::LossModule(std::string type_name, std::string reduction_)
    : Module(std::move(type_name)), reduction(std::move(reduction_)) {
  parse_reduction(reduction);
}

Value LossModule::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 2 && inputs[0].is_tensor() && inputs[1].is_tensor(), TypeError, type_name(),
             ".forward() takes two tensors (input, target), got ", inputs.size(), " values");
  return forward(inputs[0].tensor(), inputs[1].tensor());
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) { return F::mse_loss(input, target, reduction); }

NLLLoss::NLLLoss(const NLLLossOptions& o) : LossModule("NLLLoss", o.reduction_), ignore_index(o.ignore_index_) {
  register_buffer("weight", o.weight_);
}

Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return F::nll_loss(input, target, get_or_undefined("weight"), reduction, ignore_index);
}

CrossEntropyLoss::CrossEntropyLoss(const CrossEntropyLossOptions& o)
    : LossModule("CrossEntropyLoss", o.reduction_), ignore_index(o.ignore_index_), label_smoothing(o.label_smoothing_) {
  register_buffer("weight", o.weight_);
}

Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return F::cross_entropy(input, target, get_or_undefined("weight"), reduction, ignore_index, label_smoothing);
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr MSELoss::clone_instance() const { return std::make_shared<MSELoss>(*this); }
ModulePtr NLLLoss::clone_instance() const { return std::make_shared<NLLLoss>(*this); }
ModulePtr CrossEntropyLoss::clone_instance() const { return std::make_shared<CrossEntropyLoss>(*this); }

}  // namespace twig::nn
