// The conformance table: one or more entries per Backend kernel (harness.h says how to add one).
#include <cmath>
#include <numeric>
#include <utility>

#include "tensor/conformance/harness.h"
#include "twig/tensor/cpu/cpu_backend.h"
#include "twig/tensor/random.h"
#include "twig/tensor/raw.h"

namespace twig::conformance {

namespace {

Shape random_shape(Case& c, int64_t ndim_lo = 1, int64_t ndim_hi = 3, int64_t lo = 1, int64_t hi = 6) {
  Shape s(c.size(ndim_lo, ndim_hi));
  for (auto& d : s) d = c.size(lo, hi);
  return s;
}

// A CPU tensor of shape holding a random permutation of 0..numel-1 in dtype: distinct values, so
// sorting and arg-max have one answer.
Tensor distinct(Case& c, const Shape& shape, Dtype dtype) {
  Tensor v = detail::make_empty(shape, kInt64, Device::cpu());
  int64_t* p = v.data_ptr<int64_t>();
  std::iota(p, p + v.numel(), int64_t{0});
  std::shuffle(p, p + v.numel(), c.rng());
  return detail::copy_raw(v, dtype, Device::cpu());
}

// Random int64 indices in [0, bound) of shape.
Tensor indices(Case& c, const Shape& shape, int64_t bound) {
  Tensor v = detail::make_empty(shape, kInt64, Device::cpu());
  int64_t* p = v.data_ptr<int64_t>();
  for (int64_t i = 0; i < v.numel(); ++i) p[i] = c.size(0, bound - 1);
  return v;
}

// The first n of a random permutation of 0..bound-1 (distinct indices).
std::vector<int64_t> distinct_indices(Case& c, int64_t n, int64_t bound) {
  std::vector<int64_t> v(bound);
  std::iota(v.begin(), v.end(), int64_t{0});
  std::shuffle(v.begin(), v.end(), c.rng());
  v.resize(n);
  return v;
}

Tensor from_vector(const std::vector<int64_t>& v, const Shape& shape) {
  Tensor t = detail::make_empty(shape, kInt64, Device::cpu());
  std::copy(v.begin(), v.end(), t.data_ptr<int64_t>());
  return t;
}

Scalar scalar_for(Dtype d, double v) {
  if (d == kFloat32 || d == kFloat64) return Scalar(v);
  if (d == kBool) return Scalar(v != 0);
  return Scalar(static_cast<int64_t>(v));
}

void add_memory_cases(Table& t) {
  t.add(BackendOp::Copy, "copy", kAllDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    const Dtype from = kAllDtypes[c.size(0, 5)];
    auto src = c.input(s, from, c.layout());
    auto dst = c.output(s, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.copy(a[dst], a[src]); });
  });
  t.add(BackendOp::Fill, "fill", kAllDtypes, [](Case& c) {
    auto dst = c.output(random_shape(c), c.dtype(), c.dense_layout());
    const Scalar v = scalar_for(c.dtype(), 2.5);
    c.run([=](Backend& b, const Args& a) { b.fill(a[dst], v); });
  });
}

void add_elementwise_cases(Table& t) {
  const std::pair<UnaryOp, const char*> unary[] = {{UnaryOp::Neg, "neg"},
                                                   {UnaryOp::Abs, "abs"},
                                                   {UnaryOp::Sign, "sign"},
                                                   {UnaryOp::Exp, "exp"},
                                                   {UnaryOp::Log, "log"},
                                                   {UnaryOp::Log1p, "log1p"},
                                                   {UnaryOp::Expm1, "expm1"},
                                                   {UnaryOp::Sqrt, "sqrt"},
                                                   {UnaryOp::Rsqrt, "rsqrt"},
                                                   {UnaryOp::Reciprocal, "reciprocal"},
                                                   {UnaryOp::Square, "square"},
                                                   {UnaryOp::Sin, "sin"},
                                                   {UnaryOp::Cos, "cos"},
                                                   {UnaryOp::Tanh, "tanh"},
                                                   {UnaryOp::Sigmoid, "sigmoid"},
                                                   {UnaryOp::Relu, "relu"},
                                                   {UnaryOp::Floor, "floor"},
                                                   {UnaryOp::Ceil, "ceil"},
                                                   {UnaryOp::Round, "round"},
                                                   {UnaryOp::Trunc, "trunc"},
                                                   {UnaryOp::Erf, "erf"},
                                                   {UnaryOp::LogicalNot, "logical_not"},
                                                   {UnaryOp::BitwiseNot, "bitwise_not"},
                                                   {UnaryOp::IsNan, "isnan"},
                                                   {UnaryOp::IsInf, "isinf"},
                                                   {UnaryOp::IsFinite, "isfinite"}};
  for (auto [op, name] : unary) {
    const bool to_bool =
        op == UnaryOp::IsNan || op == UnaryOp::IsInf || op == UnaryOp::IsFinite || op == UnaryOp::LogicalNot;
    t.add(BackendOp::Unary, std::string("unary.") + name, kAllDtypes, [op, to_bool](Case& c) {
      const Shape s = random_shape(c);
      auto in = c.input(s, c.dtype(), c.layout());
      auto out = c.output(s, to_bool ? kBool : c.dtype(), c.dense_layout());
      c.run([=](Backend& b, const Args& a) { b.unary(op, a[out], a[in]); });
    });
  }
  const std::pair<BinaryOp, const char*> binary[] = {{BinaryOp::Add, "add"},
                                                     {BinaryOp::Sub, "sub"},
                                                     {BinaryOp::Mul, "mul"},
                                                     {BinaryOp::Div, "div"},
                                                     {BinaryOp::Pow, "pow"},
                                                     {BinaryOp::Maximum, "maximum"},
                                                     {BinaryOp::Minimum, "minimum"},
                                                     {BinaryOp::Remainder, "remainder"},
                                                     {BinaryOp::Eq, "eq"},
                                                     {BinaryOp::Ne, "ne"},
                                                     {BinaryOp::Lt, "lt"},
                                                     {BinaryOp::Le, "le"},
                                                     {BinaryOp::Gt, "gt"},
                                                     {BinaryOp::Ge, "ge"},
                                                     {BinaryOp::LogicalAnd, "logical_and"},
                                                     {BinaryOp::LogicalOr, "logical_or"},
                                                     {BinaryOp::LogicalXor, "logical_xor"},
                                                     {BinaryOp::BitwiseAnd, "bitwise_and"},
                                                     {BinaryOp::BitwiseOr, "bitwise_or"},
                                                     {BinaryOp::BitwiseXor, "bitwise_xor"}};
  for (auto [op, name] : binary) {
    t.add(BackendOp::Binary, std::string("binary.") + name, op == BinaryOp::Remainder ? kNumericDtypes : kAllDtypes,
          [op](Case& c) {
            const Shape s = random_shape(c, 1, 3);
            // No zero divisors (integer division by zero is undefined) and no negative integer powers.
            const bool positive = op == BinaryOp::Div || op == BinaryOp::Remainder || op == BinaryOp::Pow;
            auto x = c.input(s, c.dtype(), c.dense_layout());
            auto y = positive ? c.input(s, c.dtype(), c.layout(), 1, 4) : c.input(s, c.dtype(), c.layout());
            auto out = c.output(s, is_comparison(op) ? kBool : c.dtype(), c.dense_layout());
            c.run([=](Backend& b, const Args& a) { b.binary(op, a[out], a[x], a[y]); });
          });
  }
  t.add(BackendOp::Where, "where", kAllDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    auto cond = c.input(s, kBool, c.layout());
    auto x = c.input(s, c.dtype(), c.dense_layout());
    auto y = c.input(s, c.dtype(), c.layout());
    auto out = c.output(s, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.where(a[out], a[cond], a[x], a[y]); });
  });
  t.add(BackendOp::ThresholdBackward, "threshold_backward", kFloatingDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    auto grad = c.input(s, c.dtype(), c.layout());
    auto self = c.input(s, c.dtype(), c.dense_layout());
    auto out = c.output(s, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.threshold_backward(a[out], a[grad], a[self], 0); });
  });
  for (int variant = 0; variant < 3; ++variant) {
    const char* names[] = {"addcmul.mul", "addcmul.div", "addcmul.add"};
    t.add(BackendOp::Addcmul, names[variant], kFloatingDtypes, [variant](Case& c) {
      const Shape s = random_shape(c);
      auto self = c.input(s, c.dtype(), c.dense_layout());
      c.written(self);
      auto t1 = c.input(s, c.dtype(), c.layout());
      auto t2 = variant == 2 ? c.undefined() : c.input(s, c.dtype(), c.layout(), 0.5, 4);
      c.run([=](Backend& b, const Args& a) { b.addcmul(a[self], a[t1], a[t2], 0.75, variant == 1); });
    });
  }
  t.add(BackendOp::AdamStep, "adam_step", kFloatingDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    AdamStep st;
    st.lr = 0.01, st.weight_decay = c.round() % 2 ? 0.1 : 0.0, st.step_size = 0.02, st.bias_correction2_sqrt = 0.3;
    st.decoupled = c.round() % 3 == 1, st.amsgrad = c.round() % 2 == 1, st.maximize = c.round() == 2;
    auto param = c.input(s, c.dtype());
    auto grad = c.input(s, c.dtype());
    auto m = c.input(s, c.dtype());
    auto v = c.input(s, c.dtype(), ArgLayout::Contiguous, 0, 1);
    auto vmax = st.amsgrad ? c.input(s, c.dtype(), ArgLayout::Contiguous, 0, 1) : c.undefined();
    for (size_t w : {param, m, v}) c.written(w);
    if (st.amsgrad) c.written(vmax);
    c.run([=](Backend& b, const Args& a) { b.adam_step(a[param], a[grad], a[m], a[v], a[vmax], st); });
  });
  for (int variant = 0; variant < 3; ++variant) {
    const char* names[] = {"clamp", "clamp.min", "clamp.max"};
    t.add(BackendOp::Clamp, names[variant], kNumericDtypes, [variant](Case& c) {
      const Shape s = random_shape(c);
      auto in = c.input(s, c.dtype(), c.layout());
      auto out = c.output(s, c.dtype(), c.dense_layout());
      std::optional<Scalar> lo, hi;
      if (variant != 2) lo = scalar_for(c.dtype(), -1.5);
      if (variant != 1) hi = scalar_for(c.dtype(), 2.0);
      c.run([=](Backend& b, const Args& a) { b.clamp(a[out], a[in], lo, hi); });
    });
  }
}

void add_reduce_cases(Table& t) {
  const std::pair<ReduceOp, const char*> reduce[] = {{ReduceOp::Sum, "sum"},
                                                     {ReduceOp::Prod, "prod"},
                                                     {ReduceOp::Max, "max"},
                                                     {ReduceOp::Min, "min"},
                                                     {ReduceOp::Any, "any"},
                                                     {ReduceOp::All, "all"},
                                                     {ReduceOp::CountNonzero, "count_nonzero"},
                                                     {ReduceOp::NormP, "norm_p"},
                                                     {ReduceOp::NormInf, "norm_inf"},
                                                     {ReduceOp::NormNegInf, "norm_neg_inf"},
                                                     {ReduceOp::Norm0, "norm_0"}};
  for (auto [op, name] : reduce) {
    t.add(
        BackendOp::Reduce, std::string("reduce.") + name, kAllDtypes,
        [op](Case& c) {
          const Shape s = random_shape(c, 1, 3, 1, 7);
          std::vector<bool> reduced(s.size());
          Shape out_shape = s;
          for (size_t d = 0; d < s.size(); ++d) {
            reduced[d] = c.size(0, 1) == 1 || d + 1 == s.size();
            if (reduced[d]) out_shape[d] = 1;
          }
          const Dtype out_dtype = op == ReduceOp::Any || op == ReduceOp::All ? kBool
                                  : op == ReduceOp::CountNonzero             ? kInt64
                                                                             : c.dtype();
          // Products of values near 1, and some zeros for any/all/count_nonzero.
          auto in = op == ReduceOp::Prod ? c.input(s, c.dtype(), c.layout(), 0.5, 1.5)
                                         : c.input_whole(s, c.dtype(), c.layout(), -2, 3);
          auto out = c.output(out_shape, out_dtype, c.dense_layout());
          c.run([=](Backend& b, const Args& a) { b.reduce(op, a[out], a[in], reduced, 2.5); });
        },
        1e-4, 1e-5);
  }
  for (auto op : {ReduceOp::Max, ReduceOp::Min}) {
    t.add(BackendOp::ArgReduce, op == ReduceOp::Max ? "arg_reduce.max" : "arg_reduce.min", kNumericDtypes,
          [op](Case& c) {
            const Shape s = random_shape(c, 1, 3, 1, 6);
            const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1);
            Shape out_shape = s;
            out_shape[dim] = 1;
            auto in = c.input(distinct(c, s, c.dtype()), c.layout());
            auto values = c.output(out_shape, c.dtype(), c.dense_layout());
            auto idx = c.output(out_shape, kInt64, c.dense_layout());
            c.run([=](Backend& b, const Args& a) { b.arg_reduce(op, a[values], a[idx], a[in], dim); });
          });
  }
  t.add(BackendOp::Cumsum, "cumsum", kNumericDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1);
    auto in = c.input_whole(s, c.dtype(), c.layout(), -3, 4);
    auto out = c.output(s, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.cumsum(a[out], a[in], dim); });
  });
}

void add_linalg_cases(Table& t) {
  for (bool sum : {false, true}) {
    t.add(
        sum ? BackendOp::GemmSum : BackendOp::Gemm, sum ? "gemm_sum" : "gemm", kNumericDtypes,
        [sum](Case& c) {
          const int64_t B = c.size(1, 3), M = c.size(1, 9), K = c.size(1, 9), N = c.size(1, 9);
          // gemm takes either of the last two strides 1 and a batch stride 0; not a step of 2.
          const ArgLayout la = c.round() % 4 == 2 ? ArgLayout::Contiguous : c.layout();
          const ArgLayout lb = c.round() % 4 == 1 ? ArgLayout::Contiguous : ArgLayout::Transposed;
          auto x = c.input_whole({B, M, K}, c.dtype(), sum ? ArgLayout::Contiguous : la, 0, 4);
          auto y = c.input_whole({B, K, N}, c.dtype(), lb, 0, 4);
          auto out = c.output({sum ? 1 : B, M, N}, c.dtype());
          c.run([=](Backend& b, const Args& a) {
            if (sum) {
              b.gemm_sum(a[out], a[x], a[y], 1.5, 0.5);
            } else {
              b.gemm(a[out], a[x], a[y], 1.5, 0.5);
            }
          });
        },
        1e-4, 1e-4);
  }
}

void add_sort_index_cases(Table& t) {
  t.add(BackendOp::Sort, "sort", kNumericDtypes, [](Case& c) {
    const Shape s = random_shape(c, 1, 3, 1, 6);
    auto in = c.input(distinct(c, s, c.dtype()));
    auto v = c.output(s, c.dtype());
    auto i = c.output(s, kInt64);
    const bool descending = c.round() % 2 == 1, stable = c.round() % 3 == 0;
    c.run([=](Backend& b, const Args& a) { b.sort(a[v], a[i], a[in], descending, stable); });
  });
  t.add(BackendOp::Topk, "topk", kNumericDtypes, [](Case& c) {
    Shape s = random_shape(c, 1, 3, 1, 6);
    auto in = c.input(distinct(c, s, c.dtype()));
    const int64_t k = c.size(1, s.back());
    s.back() = k;
    auto v = c.output(s, c.dtype());
    auto i = c.output(s, kInt64);
    const bool largest = c.round() % 2 == 0;
    c.run([=](Backend& b, const Args& a) { b.topk(a[v], a[i], a[in], k, largest, true); });
  });
  t.add(BackendOp::Kthvalue, "kthvalue", kNumericDtypes, [](Case& c) {
    Shape s = random_shape(c, 1, 3, 1, 6);
    auto in = c.input(distinct(c, s, c.dtype()));
    const int64_t k = c.size(1, s.back());
    s.back() = 1;
    auto v = c.output(s, c.dtype());
    auto i = c.output(s, kInt64);
    c.run([=](Backend& b, const Args& a) { b.kthvalue(a[v], a[i], a[in], k); });
  });
  t.add(BackendOp::IndexSelect, "index_select", kAllDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1), n = c.size(0, 6);
    auto in = c.input(s, c.dtype(), c.layout());
    auto idx = c.input(indices(c, {n}, s[dim]));
    Shape os = s;
    os[dim] = n;
    auto out = c.output(os, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.index_select(a[out], a[in], dim, a[idx]); });
  });
  t.add(BackendOp::Gather, "gather", kAllDtypes, [](Case& c) {
    const Shape s = random_shape(c);
    const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1);
    Shape is = s;
    is[dim] = c.size(1, 6);
    auto in = c.input(s, c.dtype(), c.layout());
    auto idx = c.input(indices(c, is, s[dim]), c.dense_layout());
    auto out = c.output(is, c.dtype(), c.dense_layout());
    c.run([=](Backend& b, const Args& a) { b.gather(a[out], a[in], dim, a[idx]); });
  });
  for (bool accumulate : {false, true}) {
    t.add(
        BackendOp::Scatter, accumulate ? "scatter.accumulate" : "scatter", kAllDtypes,
        [accumulate](Case& c) {
          const Shape s = random_shape(c);
          const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1);
          Shape ss = s;
          ss[dim] = c.size(1, s[dim]);
          Tensor index;
          if (accumulate) {
            index = indices(c, ss, s[dim]);
          } else {  // distinct targets along dim (the same for every line), so the result is unique
            std::vector<int64_t> pick = distinct_indices(c, ss[dim], s[dim]);
            index = detail::make_empty(ss, kInt64, Device::cpu());
            int64_t* p = index.data_ptr<int64_t>();
            const int64_t inner = shape_numel(Shape(ss.begin() + dim + 1, ss.end()));
            for (int64_t i = 0; i < index.numel(); ++i) p[i] = pick[(i / inner) % ss[dim]];
          }
          auto self = c.input_whole(s, c.dtype(), c.dense_layout(), -3, 4);
          c.written(self);
          auto idx = c.input(index, c.dense_layout());
          auto src = c.input_whole(ss, c.dtype(), c.layout(), -3, 4);
          c.run([=](Backend& b, const Args& a) { b.scatter(a[self], dim, a[idx], a[src], accumulate); });
        },
        1e-5, 1e-5);
  }
  for (bool accumulate : {false, true}) {
    t.add(BackendOp::IndexPut, accumulate ? "index_put.accumulate" : "index_put", kAllDtypes, [accumulate](Case& c) {
      const Shape s = random_shape(c);
      const int64_t dim = c.size(0, static_cast<int64_t>(s.size()) - 1), n = c.size(1, s[dim]);
      Tensor index = accumulate ? indices(c, {n}, s[dim]) : from_vector(distinct_indices(c, n, s[dim]), {n});
      Shape ss = s;
      ss[dim] = n;
      auto self = c.input_whole(s, c.dtype(), c.dense_layout(), -3, 4);
      c.written(self);
      auto idx = c.input(index);
      auto src = c.input_whole(ss, c.dtype(), c.layout(), -3, 4);
      c.run([=](Backend& b, const Args& a) { b.index_put(a[self], dim, a[idx], a[src], accumulate); });
    });
  }
  t.add(BackendOp::Nonzero, "nonzero", kAllDtypes, [](Case& c) {
    auto in = c.input_whole(random_shape(c, 0, 3), c.dtype(), c.layout(), -1, 2);
    c.run_returning([=](Backend& b, const Args& a) { return b.nonzero(a[in]); });
  });
}

// A random conv geometry over `dims` (2 or 3) spatial dims with output at least 1 per dim.
ConvGeometry conv_geometry(Case& c, int dims) {
  ConvGeometry g;
  for (int d = 0; d < dims; ++d) {
    const int64_t k = c.size(1, 3), s = c.size(1, 2), p = c.size(0, k / 2), dil = c.size(1, 2);
    const int64_t in = c.size(dil * (k - 1) + 1, dims == 2 ? 9 : 5);
    g.kernel.push_back(k), g.stride.push_back(s), g.padding.push_back(p), g.dilation.push_back(dil);
    g.in.push_back(in);
    g.out.push_back((in + 2 * p - dil * (k - 1) - 1) / s + 1);
  }
  return g;
}

// The shapes of one random grouped convolution: in (N, C, S...), w (O, C/G, kernel...), out.
struct ConvShapes {
  ConvGeometry g;
  int64_t groups;
  Shape in, w, out;
};

ConvShapes conv_shapes(Case& c, int dims) {
  ConvShapes s;
  s.g = conv_geometry(c, dims);
  s.groups = c.round() % 3 == 2 ? 2 : 1;
  const int64_t N = c.size(1, 3), C = s.groups * c.size(1, 3), O = s.groups * c.size(1, 3);
  s.in = {N, C}, s.w = {O, C / s.groups}, s.out = {N, O};
  for (int d = 0; d < dims; ++d) {
    s.in.push_back(s.g.in[d]), s.w.push_back(s.g.kernel[d]), s.out.push_back(s.g.out[d]);
  }
  return s;
}

void add_conv_cases(Table& t) {
  for (int dims : {2, 3}) {
    const std::string nd = dims == 2 ? "2d" : "3d";
    t.add(
        BackendOp::ConvForward, "conv_forward." + nd, kFloatingDtypes,
        [dims](Case& c) {
          const ConvShapes s = conv_shapes(c, dims);
          auto in = c.input(s.in, c.dtype());
          auto w = c.input(s.w, c.dtype());
          // Odd rounds leave the bias out.
          auto bias = c.round() % 2 == 0 ? c.input({s.out[1]}, c.dtype()) : c.undefined();
          auto out = c.output(s.out, c.dtype());
          const ConvGeometry g = s.g;
          const int64_t groups = s.groups;
          c.run([=](Backend& b, const Args& a) { b.conv_forward(a[out], a[in], a[w], a[bias], g, groups); });
        },
        1e-4, 1e-4);
    t.add(
        BackendOp::ConvBackward, "conv_backward." + nd, kFloatingDtypes,
        [dims](Case& c) {
          const ConvShapes s = conv_shapes(c, dims);
          auto grad_out = c.input(s.out, c.dtype());
          auto in = c.input(s.in, c.dtype());
          auto w = c.input(s.w, c.dtype());
          // Each round asks for a different subset of the three gradients (all first, never none).
          static constexpr int kWant[] = {7, 1, 2, 4, 3, 6, 5};
          const int want = kWant[c.round() % 7];
          auto grad_in = want & 1 ? c.output(s.in, c.dtype()) : c.undefined();
          auto grad_w = want & 2 ? c.output(s.w, c.dtype()) : c.undefined();
          auto grad_bias = want & 4 ? c.output({s.out[1]}, c.dtype()) : c.undefined();
          const ConvGeometry g = s.g;
          const int64_t groups = s.groups;
          c.run([=](Backend& b, const Args& a) {
            b.conv_backward(a[grad_in], a[grad_w], a[grad_bias], a[grad_out], a[in], a[w], g, groups);
          });
        },
        1e-4, 1e-4);
  }
}

Pool2dGeometry pool_geometry(Case& c, bool dilated) {
  Pool2dGeometry g;
  g.kernel_h = c.size(1, 3), g.kernel_w = c.size(1, 3);
  g.stride_h = c.size(1, 2), g.stride_w = c.size(1, 2);
  g.pad_h = c.size(0, g.kernel_h / 2), g.pad_w = c.size(0, g.kernel_w / 2);
  if (dilated) g.dilation_h = c.size(1, 2), g.dilation_w = c.size(1, 2);
  g.in_h = c.size(g.dilation_h * (g.kernel_h - 1) + 1, 9), g.in_w = c.size(g.dilation_w * (g.kernel_w - 1) + 1, 9);
  g.out_h = (g.in_h + 2 * g.pad_h - g.dilation_h * (g.kernel_h - 1) - 1) / g.stride_h + 1;
  g.out_w = (g.in_w + 2 * g.pad_w - g.dilation_w * (g.kernel_w - 1) - 1) / g.stride_w + 1;
  g.count_include_pad = c.round() % 2 == 0;
  g.divisor_override = c.round() == 3 ? 5 : 0;
  return g;
}

void add_pool_cases(Table& t) {
  t.add(BackendOp::MaxPool2d, "max_pool2d", kFloatingDtypes, [](Case& c) {
    const Pool2dGeometry g = pool_geometry(c, true);
    const int64_t B = c.size(1, 4);
    auto in = c.input({B, g.in_h, g.in_w}, c.dtype());
    auto out = c.output({B, g.out_h, g.out_w}, c.dtype());
    auto idx = c.output({B, g.out_h, g.out_w}, kInt64);
    c.run([=](Backend& b, const Args& a) { b.max_pool2d(a[out], a[idx], a[in], g); });
  });
  t.add(
      BackendOp::MaxPool2dBackward, "max_pool2d_backward", kFloatingDtypes,
      [](Case& c) {
        const int64_t B = c.size(1, 4), H = c.size(1, 8), W = c.size(1, 8), OH = c.size(1, H), OW = c.size(1, W);
        auto go = c.input({B, OH, OW}, c.dtype());
        auto idx = c.input(indices(c, {B, OH, OW}, H * W));
        auto gi = c.output({B, H, W}, c.dtype());
        c.run([=](Backend& b, const Args& a) { b.max_pool2d_backward(a[gi], a[go], a[idx]); });
      },
      1e-5, 1e-5);
  t.add(BackendOp::AvgPool2d, "avg_pool2d", kFloatingDtypes, [](Case& c) {
    const Pool2dGeometry g = pool_geometry(c, false);
    const int64_t B = c.size(1, 4);
    auto in = c.input({B, g.in_h, g.in_w}, c.dtype());
    auto out = c.output({B, g.out_h, g.out_w}, c.dtype());
    c.run([=](Backend& b, const Args& a) { b.avg_pool2d(a[out], a[in], g); });
  });
  t.add(
      BackendOp::AvgPool2dBackward, "avg_pool2d_backward", kFloatingDtypes,
      [](Case& c) {
        const Pool2dGeometry g = pool_geometry(c, false);
        const int64_t B = c.size(1, 4);
        auto go = c.input({B, g.out_h, g.out_w}, c.dtype());
        auto gi = c.output({B, g.in_h, g.in_w}, c.dtype());
        c.run([=](Backend& b, const Args& a) { b.avg_pool2d_backward(a[gi], a[go], g); });
      },
      1e-5, 1e-5);
  t.add(BackendOp::AdaptiveAvgPool2d, "adaptive_avg_pool2d", kFloatingDtypes, [](Case& c) {
    const int64_t B = c.size(1, 4), H = c.size(1, 9), W = c.size(1, 9), OH = c.size(1, H + 2), OW = c.size(1, W);
    auto in = c.input({B, H, W}, c.dtype());
    auto out = c.output({B, OH, OW}, c.dtype());
    c.run([=](Backend& b, const Args& a) { b.adaptive_avg_pool2d(a[out], a[in]); });
  });
  t.add(
      BackendOp::AdaptiveAvgPool2dBackward, "adaptive_avg_pool2d_backward", kFloatingDtypes,
      [](Case& c) {
        const int64_t B = c.size(1, 4), H = c.size(1, 9), W = c.size(1, 9), OH = c.size(1, H), OW = c.size(1, W + 2);
        auto go = c.input({B, OH, OW}, c.dtype());
        auto gi = c.output({B, H, W}, c.dtype());
        c.run([=](Backend& b, const Args& a) { b.adaptive_avg_pool2d_backward(a[gi], a[go]); });
      },
      1e-5, 1e-5);
  t.add(BackendOp::AdaptiveMaxPool2d, "adaptive_max_pool2d", kFloatingDtypes, [](Case& c) {
    const int64_t B = c.size(1, 4), H = c.size(1, 9), W = c.size(1, 9), OH = c.size(1, H), OW = c.size(1, W);
    auto in = c.input({B, H, W}, c.dtype());
    auto out = c.output({B, OH, OW}, c.dtype());
    auto idx = c.output({B, OH, OW}, kInt64);
    c.run([=](Backend& b, const Args& a) { b.adaptive_max_pool2d(a[out], a[idx], a[in]); });
  });
}

// Mean and standard deviation of a contiguous CPU tensor's values.
std::pair<double, double> moments(const Tensor& t) {
  Tensor d = detail::copy_raw(t, kFloat64, Device::cpu());
  const double* p = d.data_ptr<double>();
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < d.numel(); ++i) sum += p[i], sq += p[i] * p[i];
  const double mean = sum / d.numel();
  return {mean, std::sqrt(std::max(0.0, sq / d.numel() - mean * mean))};
}

void add_random_cases(Table& t) {
  // The stream differs from the CPU's, so these check the distribution (4000 draws).
  t.add(BackendOp::Uniform, "uniform", kFloatingDtypes, [](Case& c) {
    auto out = c.output({40, 100}, c.dtype(), c.dense_layout());
    c.run_checked(
        [=](Backend& b, const Args& a) {
          Generator gen(7);
          b.uniform(a[out], -1.0, 3.0, gen);
        },
        [=](const Args& a) -> std::string {
          Tensor d = detail::copy_raw(a[out], kFloat64, Device::cpu());
          const double* p = d.data_ptr<double>();
          for (int64_t i = 0; i < d.numel(); ++i) {
            if (!(p[i] >= -1.0 && p[i] < 3.0)) return detail::str_cat("value ", p[i], " outside [-1, 3)");
          }
          auto [mean, sd] = moments(a[out]);
          if (std::abs(mean - 1.0) > 0.15 || std::abs(sd - 4 / std::sqrt(12.0)) > 0.15)
            return detail::str_cat("mean ", mean, ", std ", sd, " (expected 1, 1.155)");
          return "";
        });
  });
  t.add(BackendOp::Normal, "normal", kFloatingDtypes, [](Case& c) {
    auto out = c.output({40, 100}, c.dtype(), c.dense_layout());
    c.run_checked(
        [=](Backend& b, const Args& a) {
          Generator gen(7);
          b.normal(a[out], 2.0, 0.5, gen);
        },
        [=](const Args& a) -> std::string {
          auto [mean, sd] = moments(a[out]);
          if (std::abs(mean - 2.0) > 0.1 || std::abs(sd - 0.5) > 0.1)
            return detail::str_cat("mean ", mean, ", std ", sd, " (expected 2, 0.5)");
          return "";
        });
  });
  t.add(BackendOp::Bernoulli, "bernoulli", kAllDtypes, [](Case& c) {
    // p is 0 in the first row, 1 in the second and 0.5 in the rest, broadcast along the columns.
    Tensor p = detail::make_full({40, 1}, 0.5, kFloat64, Device::cpu());
    p.data_ptr<double>()[0] = 0.0;
    p.data_ptr<double>()[1] = 1.0;
    auto prob = c.input(p);
    auto out = c.output({40, 100}, c.dtype(), c.dense_layout());
    c.run_checked(
        [=](Backend& b, const Args& a) {
          Generator gen(7);
          b.bernoulli(a[out], detail::broadcast_raw(a[prob], {40, 100}), gen);
        },
        [=](const Args& a) -> std::string {
          Tensor d = detail::copy_raw(a[out], kFloat64, Device::cpu());
          const double* v = d.data_ptr<double>();
          double ones = 0;
          for (int64_t i = 0; i < d.numel(); ++i) {
            if (v[i] != 0 && v[i] != 1) return detail::str_cat("value ", v[i], " is not 0 or 1");
            if (i < 100 && v[i] != 0) return "p = 0 drew a 1";
            if (i >= 100 && i < 200 && v[i] != 1) return "p = 1 drew a 0";
            if (i >= 200) ones += v[i];
          }
          const double rate = ones / (d.numel() - 200);
          if (std::abs(rate - 0.5) > 0.06) return detail::str_cat("p = 0.5 drew ones at rate ", rate);
          return "";
        });
  });
}

// masks: the set topk selects, over a whole contiguous input (distinct values: no tie to resolve).
void add_masks_cases(Table& t) {
  t.add(BackendOp::TopkMask, "topk_mask", kNumericDtypes, [](Case& c) {
    const Shape s = random_shape(c, 1, 3, 1, 6);
    auto in = c.input(distinct(c, s, c.dtype()));
    const int64_t k = c.size(0, shape_numel(s));
    auto mask = c.output(s, kBool);
    const bool largest = c.round() % 2 == 0;
    c.run([=](Backend& b, const Args& a) { b.topk_mask(a[mask], a[in], k, largest); });
  });
}

}  // namespace

// activation_cases.cpp
void add_activation_cases(Table& t);

const Table& conformance_table() {
  static const Table table = [] {
    Table t;
    add_memory_cases(t);
    add_elementwise_cases(t);
    add_reduce_cases(t);
    add_linalg_cases(t);
    add_sort_index_cases(t);
    add_conv_cases(t);
    add_pool_cases(t);
    add_random_cases(t);
    add_activation_cases(t);
    add_masks_cases(t);
    return t;
  }();
  return table;
}

}  // namespace twig::conformance
