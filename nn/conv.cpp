// F::conv2d / F::conv3d and the Conv2d / Conv3d modules.
//
// Convolution as gemm. For groups == 1 and a batch (the common case), the batch is cut into fixed
// chunks of samples that run on the thread pool. Each chunk writes out (ns, O, L) = weight
// (O, C*K) @ cols[n] in place, no permuting copy: either Backend::conv2d_direct reads the input
// windows where they lie (2-D, where the backend has it), or im2col lays the chunk out as cols
// (ns, C*K, L) and gemms read it while it is hot. No cols outlive the chunk. Backward, chunk by
// chunk:
//   grad_cols[n] = weightᵀ @ grad_out[n] → col2im (grad_cols only lives inside the chunk),
//   grad_weight = Σn grad_out[n] @ cols[n]ᵀ over the chunk's cols built again from x (one
//     gemm_sum per chunk; partial sums added in chunk order),
//   grad_bias = grad_out summed over N and L.
// Grouped convs and single samples use cols (C*K, N*L) and one gemm per group over the whole
// batch (out (O, N*L), then one strided copy into (N, O, L) when N > 1). bench/bench_conv measured
// both on LeNet at batch 64 (2 threads, shared machine): per-sample 5.9-6.7 ms per conv+pool
// fwd+bwd iteration against 9.3-10.7 ms for the one-big-gemm layout (1 thread: 5.4-5.9 vs
// 5.7-5.8), so the per-sample layout is the default where it applies.
// Forward and backward run on raw tensors and record a single autograd node per call.
//
// Dimension letters: N batch, C input channels, O output channels, G groups (Cg = C/G, Og = O/G),
// S... input spatial dims, K = prod(kernel), L = prod(output spatial dims).
#include "twig/nn/conv.h"

#include <algorithm>
#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/internal.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

using functional::IntPair;

namespace {

using autograd::Node;
using autograd::SavedTensor;

// Per-sample cols (N, C*K, L) where groups == 1 (see the file comment); false forces the
// one-big-gemm layout everywhere (for benchmarking).
constexpr bool kPerSampleLayout = true;

// The per-sample path works on chunks of this many samples, spread over the thread pool. The
// chunking is fixed (not per thread) so the weight-gradient partial sums are the same whatever
// the thread count; 4 LeNet samples' cols stay within a core's L2 between im2col and gemm.
constexpr int64_t kSampleChunk = 4;
int64_t num_chunks(int64_t n) { return (n + kSampleChunk - 1) / kSampleChunk; }

int64_t contiguous_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// One value for every spatial dim, or one per dim.
Shape expand_param(const std::vector<int64_t>& v, size_t dims, const char* name) {
  TWIG_CHECK(v.size() == 1 || v.size() == dims, RuntimeError, "expected ", name,
             " to be a single integer value or a list of ", dims,
             " values to match the convolution dimensions, but got ", name, "=", v);
  return v.size() == 1 ? Shape(dims, v[0]) : Shape(v);
}

// "2 x 3" for the kernel-size message.
std::string join_x(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? " x " : "") + std::to_string(s[i]);
  return r;
}

Tensor contiguous_raw(const Tensor& t) {
  if (t.is_contiguous()) return t;
  Tensor c = detail::make_empty(t.sizes(), t.dtype(), t.device());
  backend_for(t.device()).copy(c, t);
  return c;
}

// A contiguous (1, rows, cols) matrix view of `t` starting at element `offset` of t's storage
// region (t contiguous), for Backend::gemm.
Tensor mat(const Tensor& t, int64_t offset, int64_t rows, int64_t cols) {
  return detail::make_alias(t, {1, rows, cols}, {rows * cols, cols, 1}, t.storage_offset() + offset);
}
// The transpose of the contiguous (rows, cols) block at `offset`: a (1, cols, rows) view.
Tensor mat_t(const Tensor& t, int64_t offset, int64_t rows, int64_t cols) {
  return detail::make_alias(t, {1, cols, rows}, {rows * cols, 1, cols}, t.storage_offset() + offset);
}

struct ConvPlan {
  int64_t N, C, O, G, K, L;
  bool batched;
  ConvGeometry geom;
  Shape out_shape;
};

ConvPlan plan_conv(const char* op, size_t D, const Tensor& x, const Tensor& w, const Tensor& b, const IntPair& stride,
                   const IntPair& padding, const IntPair& dilation, int64_t groups) {
  detail::check_defined(x, op);
  TWIG_CHECK(w.defined(), RuntimeError, op, ": weight is undefined");
  const int64_t nd = static_cast<int64_t>(D);
  TWIG_CHECK(x.dim() == nd + 1 || x.dim() == nd + 2, RuntimeError, "Expected ", nd + 1, "D (unbatched) or ", nd + 2,
             "D (batched) input to ", op, ", but got input of size: ", x.sizes());
  ConvPlan p;
  p.batched = x.dim() == nd + 2;
  Shape xs = x.sizes();
  if (!p.batched) xs.insert(xs.begin(), 1);

  ConvGeometry& g = p.geom;
  g.stride = expand_param(stride, D, "stride");
  g.padding = expand_param(padding, D, "padding");
  g.dilation = expand_param(dilation, D, "dilation");
  TWIG_CHECK(groups > 0, RuntimeError, "non-positive groups is not supported");
  for (size_t d = 0; d < D; ++d) {
    TWIG_CHECK(g.padding[d] >= 0, RuntimeError, "negative padding is not supported");
    TWIG_CHECK(g.stride[d] > 0, RuntimeError, "non-positive stride is not supported");
    TWIG_CHECK(g.dilation[d] > 0, RuntimeError, "dilation should be greater than zero");
  }
  const Shape& ws = w.sizes();
  TWIG_CHECK(w.dim() == nd + 2, RuntimeError, "Expected ", w.dim(), "-dimensional input for ", w.dim(),
             "-dimensional weight ", ws, ", but got ", nd + 2, "-dimensional input of size ", xs, " instead");
  TWIG_CHECK(ws[0] >= groups, RuntimeError, "Given groups=", groups, ", expected weight to be at least ", groups,
             " at dimension 0, but got weight of size ", ws, " instead");
  TWIG_CHECK(ws[0] % groups == 0, RuntimeError, "Given groups=", groups, ", expected weight to be divisible by ",
             groups, " at dimension 0, but got weight of size ", ws, " instead");
  TWIG_CHECK(xs[1] == ws[1] * groups, RuntimeError, "Given groups=", groups, ", weight of size ", ws,
             ", expected input", xs, " to have ", ws[1] * groups, " channels, but got ", xs[1], " channels instead");
  if (b.defined()) {
    TWIG_CHECK(b.dim() == 1 && b.size(0) == ws[0], RuntimeError, "Given weight of size ", ws,
               ", expected bias to be 1-dimensional with ", ws[0], " elements, but got bias of size ", b.sizes(),
               " instead");
  }
  TWIG_CHECK(is_floating(x.dtype()), RuntimeError, op, ": expected a floating input, got ",
             dtype_tensor_name(x.dtype()), " (input of size ", x.sizes(), ")");
  TWIG_CHECK(x.dtype() == w.dtype(), RuntimeError, "Input type (", dtype_tensor_name(x.dtype()), ") and weight type (",
             dtype_tensor_name(w.dtype()), ") should be the same");
  TWIG_CHECK(!b.defined() || b.dtype() == x.dtype(), RuntimeError, "Input type (", dtype_tensor_name(x.dtype()),
             ") and bias type (", dtype_tensor_name(b.dtype()), ") should be the same");
  detail::check_same_device(x, w, op);
  if (b.defined()) detail::check_same_device(x, b, op);

  Shape padded(D), kernel(D);
  bool fits = true;
  for (size_t d = 0; d < D; ++d) {
    padded[d] = xs[2 + d] + 2 * g.padding[d];
    kernel[d] = g.dilation[d] * (ws[2 + d] - 1) + 1;
    fits = fits && padded[d] >= kernel[d];
  }
  TWIG_CHECK(fits, RuntimeError, "Calculated padded input size per channel: (", join_x(padded), "). Kernel size: (",
             join_x(kernel), "). Kernel size can't be greater than actual input size");

  p.N = xs[0];
  p.C = xs[1];
  p.O = ws[0];
  p.G = groups;
  p.K = 1;
  p.L = 1;
  for (size_t d = 0; d < D; ++d) {
    g.in.push_back(xs[2 + d]);
    g.kernel.push_back(ws[2 + d]);
    g.out.push_back((padded[d] - kernel[d]) / g.stride[d] + 1);
    p.K *= ws[2 + d];
    p.L *= g.out.back();
  }
  if (p.batched) p.out_shape.push_back(p.N);
  p.out_shape.push_back(p.O);
  for (int64_t o : g.out) p.out_shape.push_back(o);
  return p;
}

// The cols (ns, C*K, L) of samples [s0, s0 + ns) of xc (N, C, S...) contiguous, in a fresh buffer
// that a chunk's gemm reads while it is in L2. A whole batch's cols kept from the forward for the
// weight gradient (5 MB for LeNet-5's conv1) went out to memory and back; building a chunk's again
// costs less, and lets the forward skip cols entirely where the backend has a direct conv.
Tensor chunk_cols(const Tensor& xc, const Shape& xs, const ConvPlan& p, int64_t s0, int64_t ns) {
  const int64_t CK = p.C * p.K, S = contiguous_numel(p.geom.in);
  Tensor cols = detail::make_empty({ns, CK, p.L}, xc.dtype(), xc.device());
  if (cols.numel() == 0) return cols;
  Shape xs_c = xs;
  xs_c[0] = ns;
  backend_for(xc.device())
      .im2col(cols, detail::make_alias(xc, xs_c, contiguous_strides(xs_c), xc.storage_offset() + s0 * p.C * S), p.geom);
  return cols;
}

Tensor convnd(const char* op, const char* node_name, size_t D, const Tensor& x, const Tensor& w, const Tensor& b,
              const IntPair& stride, const IntPair& padding, const IntPair& dilation, int64_t groups) {
  const ConvPlan p = plan_conv(op, D, x, w, b, stride, padding, dilation, groups);
  const int64_t N = p.N, C = p.C, O = p.O, G = p.G, K = p.K, L = p.L;
  const int64_t Cg = C / G, Og = O / G, NL = N * L;
  Backend& be = backend_for(x.device());
  const Dtype dt = x.dtype();

  // x as (N, C, S...) contiguous.
  Shape xs = x.sizes();
  if (!p.batched) xs.insert(xs.begin(), 1);
  Tensor xc = contiguous_raw(x);
  xc = detail::make_alias(xc, xs, contiguous_strides(xs), xc.storage_offset());
  const Tensor wc = contiguous_raw(w);

  Tensor out = detail::make_empty(p.out_shape, dt, x.device());
  if (out.numel() > 0) {
    // Two layouts (see the file comment).
    const bool per_sample = G == 1 && N > 1 && kPerSampleLayout;
    // The per-sample path keeps no cols: a chunk's live only while its gemm runs, and the
    // backward builds them again (see chunk_cols).
    Tensor cols = per_sample ? Tensor() : detail::make_empty({C * K, NL}, dt, x.device());
    if (per_sample) {
      // Chunks of samples over the pool: each writes its cols, then its outputs while they are
      // hot; or, where the backend has a direct kernel, reads its input windows in place.
      const int64_t CK = C * K, S = contiguous_numel(p.geom.in);
      parallel_for(0, num_chunks(N), 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t s0 = c * kSampleChunk, ns = std::min(kSampleChunk, N - s0);
          const Tensor out_c = detail::make_alias(out, {ns, O, L}, {O * L, L, 1}, s0 * O * L);
          Scalar beta = 0;
          if (b.defined()) {
            be.copy(out_c, detail::make_alias(b, {ns, O, L}, {0, b.stride(0), 0}, b.storage_offset()));
            beta = 1;
          }
          Shape xs_c = xs, os_c = p.out_shape;  // per-sample means batched: both lead with N
          xs_c[0] = ns;
          os_c[0] = ns;
          if (be.conv2d_direct(detail::make_alias(out, os_c, contiguous_strides(os_c), s0 * O * L),
                               detail::make_alias(xc, xs_c, contiguous_strides(xs_c), xc.storage_offset() + s0 * C * S),
                               wc, p.geom, b.defined())) {
            continue;
          }
          const Tensor cols_c = chunk_cols(xc, xs, p, s0, ns);
          be.gemm(out_c, detail::make_alias(wc, {ns, O, CK}, {0, CK, 1}, wc.storage_offset()), cols_c, 1, beta);
        }
      });
    } else {
      if (cols.numel() > 0) be.im2col(cols, xc, p.geom);
      Tensor out_onl =
          N == 1 ? detail::make_alias(out, {O, NL}, {NL, 1}, 0) : detail::make_empty({O, NL}, dt, x.device());
      Scalar beta = 0;
      if (b.defined()) {
        be.copy(out_onl, detail::make_alias(b, {O, NL}, {b.stride(0), 0}, b.storage_offset()));
        beta = 1;
      }
      for (int64_t gi = 0; gi < G; ++gi) {
        be.gemm(mat(out_onl, gi * Og * NL, Og, NL), mat(wc, gi * Og * Cg * K, Og, Cg * K),
                mat(cols, gi * Cg * K * NL, Cg * K, NL), 1, beta);
      }
      if (N > 1) {
        be.copy(detail::make_alias(out, {N, O, L}, {O * L, L, 1}, 0),
                detail::make_alias(out_onl, {N, O, L}, {L, NL, 1}, 0));
      }
    }
    if (autograd::should_record({x, w, b})) {
      // cols is needed only for grad_weight; it is internal, so no version check is needed on it.
      // The per-sample path builds each chunk's cols again from x in the backward instead.
      Tensor saved_cols = w.requires_grad() && !per_sample ? cols : Tensor();
      autograd::record(
          node_name, {x, w, b}, {out},
          [sx = SavedTensor(x), sw = SavedTensor(w), saved_cols, p, per_sample, x_shape = x.sizes(), xs,
           w_shape = w.sizes()](const TensorList& grads, const Node& n) -> TensorList {
            const int64_t N = p.N, C = p.C, O = p.O, G = p.G, K = p.K, L = p.L;
            const int64_t Cg = C / G, Og = O / G, NL = N * L;
            sx.get();  // raises if x was modified in place since the forward
            const Tensor wt = contiguous_raw(sw.get());
            Backend& be = backend_for(wt.device());
            const Tensor go = contiguous_raw(grads[0]);
            if (per_sample) {
              // Chunks of samples over the pool. Each chunk writes its own rows of grad_x (its
              // grad_cols live only inside the task) and its own partial grad_weight; the partials
              // are summed in chunk order, so results do not depend on the thread count.
              const int64_t CK = C * K, S = contiguous_numel(p.geom.in);
              const int64_t chunks = num_chunks(N);
              Tensor xc;  // x as (N, C, S...) contiguous, for the chunks' cols
              if (n.needs_input_grad(1)) {
                xc = contiguous_raw(sx.get());
                xc = detail::make_alias(xc, xs, contiguous_strides(xs), xc.storage_offset());
              }
              const Tensor go3 = detail::make_alias(go, {N, O, L}, {O * L, L, 1}, go.storage_offset());
              const bool need_gx = n.needs_input_grad(0), need_gw = n.needs_input_grad(1);
              Tensor gx, gw, gb, gw_parts;
              if (need_gx) gx = detail::make_empty(xs, go.dtype(), go.device());
              if (need_gw) gw_parts = detail::make_empty({chunks, O, CK}, go.dtype(), go.device());
              if (need_gx || need_gw) {
                parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
                  for (int64_t c = c0; c < c1; ++c) {
                    const int64_t s0 = c * kSampleChunk, ns = std::min(kSampleChunk, N - s0);
                    if (need_gx) {
                      Tensor gcols = detail::make_empty({ns, CK, L}, go.dtype(), go.device());
                      be.gemm(gcols, detail::make_alias(wt, {ns, CK, O}, {0, 1, CK}, wt.storage_offset()),
                              detail::make_alias(go, {ns, O, L}, {O * L, L, 1}, go.storage_offset() + s0 * O * L), 1,
                              0);
                      Shape xs_c = xs;
                      xs_c[0] = ns;
                      be.col2im(detail::make_alias(gx, xs_c, contiguous_strides(xs_c), s0 * C * S), gcols, p.geom);
                    }
                    if (need_gw) {
                      // Σ over the chunk's samples of grad_out[s] (O, L) @ cols[s]ᵀ (L, CK).
                      const Tensor cols_c = chunk_cols(xc, xs, p, s0, ns);
                      be.gemm_sum(mat(gw_parts, c * O * CK, O, CK),
                                  detail::make_alias(go, {ns, O, L}, {O * L, L, 1}, go.storage_offset() + s0 * O * L),
                                  detail::make_alias(cols_c, {ns, L, CK}, {CK * L, 1, L}, 0), 1, 0);
                    }
                  }
                });
              }
              if (need_gx) gx = detail::make_alias(gx, x_shape, contiguous_strides(x_shape), 0);
              if (need_gw) gw = (chunks == 1 ? gw_parts : gw_parts.sum({0})).view(w_shape);
              if (n.needs_input_grad(2)) gb = go3.sum({0, 2});
              return {gx, gw, gb};
            }
            // grad_out as (O, N*L), the layout of the forward's gemm.
            Tensor go_onl = go;
            if (N > 1) {
              go_onl = detail::make_empty({O, NL}, go.dtype(), go.device());
              be.copy(detail::make_alias(go_onl, {N, O, L}, {L, NL, 1}, 0),
                      detail::make_alias(go, {N, O, L}, {O * L, L, 1}, go.storage_offset()));
            } else {
              go_onl = detail::make_alias(go, {O, NL}, {NL, 1}, go.storage_offset());
            }
            Tensor gx, gw, gb;
            if (n.needs_input_grad(0)) {
              Tensor gcols = detail::make_empty({C * K, NL}, go.dtype(), go.device());
              for (int64_t gi = 0; gi < G; ++gi) {
                be.gemm(mat(gcols, gi * Cg * K * NL, Cg * K, NL), mat_t(wt, gi * Og * Cg * K, Og, Cg * K),
                        mat(go_onl, gi * Og * NL, Og, NL), 1, 0);
              }
              gx = detail::make_empty(xs, go.dtype(), go.device());
              be.col2im(gx, gcols, p.geom);
              gx = detail::make_alias(gx, x_shape, contiguous_strides(x_shape), 0);
            }
            if (n.needs_input_grad(1)) {
              gw = detail::make_empty(w_shape, go.dtype(), go.device());
              for (int64_t gi = 0; gi < G; ++gi) {
                be.gemm(mat(gw, gi * Og * Cg * K, Og, Cg * K), mat(go_onl, gi * Og * NL, Og, NL),
                        mat_t(saved_cols, gi * Cg * K * NL, Cg * K, NL), 1, 0);
              }
            }
            if (n.needs_input_grad(2)) gb = go_onl.sum({1});
            return {gx, gw, gb};
          });
    }
  } else if (autograd::should_record({x, w, b})) {
    // Empty output (N == 0 or O == 0): zero gradients.
    autograd::record(node_name, {x, w, b}, {out},
                     [xsz = x.sizes(), wsz = w.sizes(), bsz = b.defined() ? b.sizes() : Shape{}, dt](
                         const TensorList&, const Node& n) -> TensorList {
                       return {n.needs_input_grad(0) ? zeros(xsz, dt) : Tensor(),
                               n.needs_input_grad(1) ? zeros(wsz, dt) : Tensor(),
                               n.needs_input_grad(2) ? zeros(bsz, dt) : Tensor()};
                     });
  }
  return out;
}

}  // namespace

namespace functional {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const IntPair& stride, const IntPair& padding,
              const IntPair& dilation, int64_t groups) {
  trace::Scope scope;
  Tensor out = convnd("conv2d", "ConvolutionBackward0", 2, x, weight, bias, stride, padding, dilation, groups);
  if (scope.recording()) [[unlikely]]
    scope.record1("conv2d", {x, weight, bias},
                  {{"stride", trace::repr(stride)},
                   {"padding", trace::repr(padding)},
                   {"dilation", trace::repr(dilation)},
                   {"groups", trace::repr(groups)}},
                  out, [stride, padding, dilation, groups](const TensorList& in) {
                    return conv2d(in[0], in[1], in[2], stride, padding, dilation, groups);
                  });
  return out;
}

Tensor conv3d(const Tensor& x, const Tensor& weight, const Tensor& bias, const IntPair& stride, const IntPair& padding,
              const IntPair& dilation, int64_t groups) {
  trace::Scope scope;
  Tensor out = convnd("conv3d", "ConvolutionBackward0", 3, x, weight, bias, stride, padding, dilation, groups);
  if (scope.recording()) [[unlikely]]
    scope.record1("conv3d", {x, weight, bias},
                  {{"stride", trace::repr(stride)},
                   {"padding", trace::repr(padding)},
                   {"dilation", trace::repr(dilation)},
                   {"groups", trace::repr(groups)}},
                  out, [stride, padding, dilation, groups](const TensorList& in) {
                    return conv3d(in[0], in[1], in[2], stride, padding, dilation, groups);
                  });
  return out;
}

Tensor conv_string_padding(const char* op, size_t dims, const Tensor& x, const Tensor& weight, const Tensor& bias,
                           const IntPair& stride, const std::string& padding, const IntPair& dilation, int64_t groups) {
  TWIG_CHECK(padding == "same" || padding == "valid", ValueError, "Invalid padding string '", padding,
             "', should be one of {'valid', 'same'}");
  const char* node = "ConvolutionBackward0";
  if (padding == "valid") return convnd(op, node, dims, x, weight, bias, stride, {0}, dilation, groups);
  const Shape st = expand_param(stride, dims, "stride");
  for (int64_t s : st) {
    TWIG_CHECK(s == 1, ValueError, op, ": padding='same' is not supported for strided convolutions (stride=", stride,
               ")");
  }
  TWIG_CHECK(weight.defined() && weight.dim() == static_cast<int64_t>(dims) + 2, RuntimeError, op, ": expected a ",
             dims + 2, "-D weight for padding='same'");
  const Shape dil = expand_param(dilation, dims, "dilation");
  // Total pad of each dim: dilation * (kernel - 1); left half, right the rest.
  Shape left(dims), right(dims);
  bool symmetric = true;
  for (size_t i = 0; i < dims; ++i) {
    const int64_t total = dil[i] * (weight.size(static_cast<int64_t>(i) + 2) - 1);
    left[i] = total / 2;
    right[i] = total - left[i];
    symmetric = symmetric && left[i] == right[i];
  }
  if (symmetric) return convnd(op, node, dims, x, weight, bias, stride, left, dilation, groups);
  // Uneven: one extra zero on the right (bottom, back) of the dims that need it, then the
  // symmetric part as the conv's own padding.
  std::vector<int64_t> extra;
  for (size_t k = 0; k < dims; ++k) {
    const size_t i = dims - 1 - k;
    extra.push_back(0);
    extra.push_back(right[i] - left[i]);
  }
  return convnd(op, node, dims, pad(x, extra), weight, bias, stride, left, dilation, groups);
}

}  // namespace functional

// ---- modules ------------------------------------------------------------------------------------

template <size_t D>
ConvNd<D>::ConvNd(const ConvOptions<D>& opts) : UnaryModule(D == 2 ? "Conv2d" : "Conv3d"), options(opts) {
  const char* name = D == 2 ? "Conv2d" : "Conv3d";
  TWIG_CHECK(opts.groups_ > 0, ValueError, "groups must be a positive integer (", name, " got groups=", opts.groups_,
             ")");
  TWIG_CHECK(opts.in_channels_ % opts.groups_ == 0, ValueError, "in_channels must be divisible by groups (", name,
             " got in_channels=", opts.in_channels_, ", groups=", opts.groups_, ")");
  TWIG_CHECK(opts.out_channels_ % opts.groups_ == 0, ValueError, "out_channels must be divisible by groups (", name,
             " got out_channels=", opts.out_channels_, ", groups=", opts.groups_, ")");
  for (const auto* v : {&opts.kernel_size_, &opts.stride_, &opts.padding_, &opts.dilation_}) {
    TWIG_CHECK(v->size() == D, ValueError, name, ": expected ", D, " values per spatial argument, got ", *v);
  }
  const std::string& pm = opts.padding_mode_;
  TWIG_CHECK(pm == "zeros" || pm == "reflect" || pm == "replicate" || pm == "circular", ValueError,
             "padding_mode must be one of ['zeros', 'reflect', 'replicate', 'circular'], but got padding_mode='", pm,
             "'");
  if (!opts.padding_str_.empty()) {
    const std::string& ps = opts.padding_str_;
    TWIG_CHECK(ps == "same" || ps == "valid", ValueError, "Invalid padding string '", ps,
               "', should be one of {'valid', 'same'}");
    if (ps == "same") {
      for (int64_t s : opts.stride_) {
        TWIG_CHECK(s == 1, ValueError, name,
                   ": padding='same' is not supported for strided convolutions (stride=", opts.stride_, ")");
      }
      for (size_t i = 0; i < D; ++i) options.padding_[i] = opts.dilation_[i] * (opts.kernel_size_[i] - 1) / 2;
    }
  }
  Shape wshape{opts.out_channels_, opts.in_channels_ / opts.groups_};
  wshape.insert(wshape.end(), opts.kernel_size_.begin(), opts.kernel_size_.end());
  register_parameter("weight", empty(wshape));
  register_parameter("bias", opts.bias_ ? empty({opts.out_channels_}) : Tensor());
  reset_parameters();
}

template <size_t D>
void ConvNd<D>::reset_parameters() {
  Tensor w = get("weight");
  init::kaiming_uniform_(w, std::sqrt(5.0));
  Tensor b = bias();
  if (b.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(w).first;
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(b, -bound, bound);
  }
}

template <size_t D>
std::vector<int64_t> ConvNd<D>::reversed_padding_repeated_twice() const {
  std::vector<int64_t> pads;
  for (size_t k = 0; k < D; ++k) {
    const size_t i = D - 1 - k;
    if (options.padding_str_ == "same") {
      const int64_t total = options.dilation_[i] * (options.kernel_size_[i] - 1);
      pads.push_back(total / 2);
      pads.push_back(total - total / 2);
    } else {
      pads.push_back(options.padding_[i]);
      pads.push_back(options.padding_[i]);
    }
  }
  return pads;
}

template <size_t D>
Tensor ConvNd<D>::forward(const Tensor& x) {
  const Tensor w = get("weight"), b = get_or_undefined("bias");
  const char* op = D == 2 ? "conv2d" : "conv3d";
  const auto& o = options;
  if (o.padding_mode_ != "zeros") {
    return convnd(op, "ConvolutionBackward0", D, F::pad(x, reversed_padding_repeated_twice(), o.padding_mode_), w, b,
                  o.stride_, {0}, o.dilation_, o.groups_);
  }
  if (!o.padding_str_.empty()) {
    return F::conv_string_padding(op, D, x, w, b, o.stride_, o.padding_str_, o.dilation_, o.groups_);
  }
  return convnd(op, "ConvolutionBackward0", D, x, w, b, o.stride_, o.padding_, o.dilation_, o.groups_);
}

template <size_t D>
std::string ConvNd<D>::extra_repr() const {
  const auto& o = options;
  std::string s =
      detail::str_cat(o.in_channels_, ", ", o.out_channels_, ", kernel_size=", python_repr(o.kernel_size_, true),
                      ", stride=", python_repr(o.stride_, true));
  if (!o.padding_str_.empty()) {
    s += ", padding=" + o.padding_str_;
  } else if (o.padding_ != std::vector<int64_t>(D, 0)) {
    s += ", padding=" + python_repr(o.padding_, true);
  }
  if (o.dilation_ != std::vector<int64_t>(D, 1)) s += ", dilation=" + python_repr(o.dilation_, true);
  if (o.groups_ != 1) s += detail::str_cat(", groups=", o.groups_);
  if (!bias().defined()) s += ", bias=False";
  if (o.padding_mode_ != "zeros") s += ", padding_mode=" + o.padding_mode_;
  return s;
}

template <size_t D>
ModulePtr ConvNd<D>::clone_instance() const {
  return std::make_shared<ConvNd<D>>(*this);
}

template class ConvNd<2>;
template class ConvNd<3>;

}  // namespace twig::nn
