// F::pad: constant, reflect, replicate and circular padding of the trailing dims.
//
// The non-constant modes are a gather along each padded dim: output position j of a dim of size n
// padded by (l, r) reads input position src(j - l), where src mirrors (reflect), clamps
// (replicate) or wraps (circular) the index. index_select's backward adds each output gradient
// into the position it read, which is exactly the backward of these paddings (an edge element
// read twice gets both gradients). Constant padding concatenates filled blocks (or narrows, for
// negative pads).
#include <string>
#include <vector>

#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"

namespace twig::nn::functional {

namespace {

// Where output position j (0 <= j < l + n + r) of a padded dim reads from.
Tensor source_index(const std::string& mode, int64_t n, int64_t l, int64_t r) {
  std::vector<int64_t> idx(static_cast<size_t>(l + n + r));
  for (int64_t j = 0; j < l + n + r; ++j) {
    int64_t i = j - l;
    if (mode == "reflect") {
      if (i < 0) i = -i;
      if (i >= n) i = 2 * (n - 1) - i;
    } else if (mode == "replicate") {
      i = i < 0 ? 0 : (i >= n ? n - 1 : i);
    } else {  // circular
      i = ((i % n) + n) % n;
    }
    idx[static_cast<size_t>(j)] = i;
  }
  return from_vector(idx, {l + n + r});
}

Tensor constant_pad_dim(const Tensor& x, int64_t d, int64_t l, int64_t r, double value) {
  Tensor t = x;
  // Negative pads crop.
  if (l < 0) t = t.narrow(d, -l, t.size(d) + l);
  if (r < 0) t = t.narrow(d, 0, t.size(d) + r);
  TensorList parts;
  auto block = [&](int64_t size) {
    Shape s = t.sizes();
    s[static_cast<size_t>(d)] = size;
    return full(s, value, TensorOptions(t.dtype()).device(t.device()));
  };
  if (l > 0) parts.push_back(block(l));
  parts.push_back(t);
  if (r > 0) parts.push_back(block(r));
  return parts.size() == 1 ? t : cat(parts, d);
}

}  // namespace

Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, const std::string& mode, double value) {
  TWIG_CHECK(x.defined(), TypeError, "pad(): input is an undefined tensor");
  TWIG_CHECK(pad.size() % 2 == 0, ValueError, "Padding length must be divisible by 2, got pad=", pad);
  const int64_t pairs = static_cast<int64_t>(pad.size() / 2);
  TWIG_CHECK(pairs <= x.dim(), ValueError, "Padding length too large: pad=", pad, " has ", pairs,
             " pairs for a tensor of ", x.dim(), " dims");
  TWIG_CHECK(mode == "constant" || mode == "reflect" || mode == "replicate" || mode == "circular", ValueError,
             "Unrecognised padding mode '", mode, "' (expected 'constant', 'reflect', 'replicate' or 'circular')");
  TWIG_CHECK(mode == "constant" || value == 0.0, ValueError, "Padding mode \"", mode,
             "\" doesn't take in value argument (got value=", value, ")");
  Tensor out = x;
  for (int64_t k = 0; k < pairs; ++k) {
    const int64_t d = x.dim() - 1 - k;
    const int64_t l = pad[static_cast<size_t>(2 * k)], r = pad[static_cast<size_t>(2 * k + 1)];
    const int64_t n = x.size(d);
    if (mode == "constant") {
      TWIG_CHECK(n + l + r >= 0, ValueError, "pad(): padding (", l, ", ", r, ") of dim ", d, " of size ", n,
                 " leaves a negative size");
      if (l != 0 || r != 0) out = constant_pad_dim(out, d, l, r, value);
      continue;
    }
    TWIG_CHECK(l >= 0 && r >= 0, ValueError, "pad(): ", mode, " padding must be non-negative, got (", l, ", ", r,
               ") for dim ", d);
    if (l == 0 && r == 0) continue;
    if (mode == "reflect") {
      TWIG_CHECK(l < n && r < n, ValueError,
                 "Padding size should be less than the corresponding input dimension, "
                 "but got: padding (",
                 l, ", ", r, ") at dimension ", d, " of input ", x.sizes());
    } else if (mode == "replicate") {
      TWIG_CHECK(n > 0, ValueError, "pad(): replicate padding of dim ", d, " of size 0 of input ", x.sizes());
    } else {
      TWIG_CHECK(l <= n && r <= n, ValueError, "Padding value causes wrapping around more than once: padding (", l,
                 ", ", r, ") at dimension ", d, " of input ", x.sizes());
    }
    out = out.index_select(d, source_index(mode, n, l, r).to(out.device()));
  }
  return out;
}

}  // namespace twig::nn::functional
