#include "twig/nn/rnn.h"

#include <cmath>

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/init.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/raw.h"

namespace twig::nn {

namespace {

using autograd::Node;
using autograd::SavedTensor;

// The pointwise half of one LSTM step, one Backend lstm_cell call recorded as one node whose
// backward is one lstm_cell_backward call:
//   i, f, g, o = σ(gates[:, 0:H]), σ(gates[:, H:2H]), tanh(gates[:, 2H:3H]), σ(gates[:, 3H:4H])
//   c = f·c_prev + i·g,  h = o·tanh(c)
// gates (N, 4H), c_prev (N, H), one floating dtype. Returns {h, c}, each (N, H).
TensorList lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev) {
  const int64_t n = gates.size(0), h4 = gates.size(1), hs = h4 / 4;
  const Dtype dtype = gates.dtype();
  const Device device = gates.device();
  Tensor gin = gates.detach(), cin = c_prev.detach();
  Tensor act = detail::make_empty({n, h4}, dtype, device);  // (N, 4H) activated gates, kept for backward
  Tensor c = detail::make_empty({n, hs}, dtype, device);    // (N, H)
  Tensor tc = detail::make_empty({n, hs}, dtype, device);   // (N, H) tanh(c), kept for backward
  Tensor h = detail::make_empty({n, hs}, dtype, device);    // (N, H)
  backend_for(device).lstm_cell(h, c, act, tc, gin, cin);
  if (!autograd::should_record({gates, c_prev})) return {h, c};
  autograd::record(
      "LstmCellBackward", {gates, c_prev}, {h, c},
      [sa = SavedTensor(act), sc = SavedTensor(cin), stc = SavedTensor(tc)](const TensorList& grads, const Node&) {
        Tensor a_t = sa.get();
        const int64_t n = a_t.size(0), hs = a_t.size(1) / 4;
        Tensor dgates = detail::make_empty({n, 4 * hs}, a_t.dtype(), a_t.device());
        Tensor dc_prev = detail::make_empty({n, hs}, a_t.dtype(), a_t.device());
        backend_for(a_t.device())
            .lstm_cell_backward(dgates, dc_prev, grads[0].to(a_t.dtype()), grads[1].to(a_t.dtype()), a_t, sc.get(),
                                stc.get());
        return TensorList{dgates, dc_prev};
      });
  return {h, c};
}

std::string layer_name(const char* what, int64_t k) { return std::string(what) + "_l" + std::to_string(k); }

}  // namespace

LSTM::LSTM(const LSTMOptions& opts) : Module("LSTM"), options(opts) {
  TWIG_CHECK(opts.input_size_ >= 0 && opts.hidden_size_ > 0, ValueError, "LSTM: hidden_size must be positive and ",
             "input_size non-negative, got input_size=", opts.input_size_, ", hidden_size=", opts.hidden_size_);
  TWIG_CHECK(opts.num_layers_ >= 1, ValueError, "LSTM: num_layers must be at least 1, got ", opts.num_layers_);
  TWIG_CHECK(opts.dropout_ >= 0 && opts.dropout_ <= 1, ValueError,
             "dropout should be a number in range [0, 1] representing the probability of an element being zeroed");
  TWIG_CHECK(opts.dropout_ == 0, NotImplementedError, "LSTM: dropout between layers is not implemented (got ",
             opts.dropout_, ")");
  TWIG_CHECK(!opts.bidirectional_, NotImplementedError, "LSTM: bidirectional is not implemented");
  TWIG_CHECK(opts.proj_size_ == 0, NotImplementedError, "LSTM: proj_size is not implemented (got ", opts.proj_size_,
             ")");
  const int64_t h = opts.hidden_size_;
  for (int64_t k = 0; k < opts.num_layers_; ++k) {
    const int64_t in = k == 0 ? opts.input_size_ : h;
    register_parameter(layer_name("weight_ih", k), empty({4 * h, in}));
    register_parameter(layer_name("weight_hh", k), empty({4 * h, h}));
    if (opts.bias_) {
      register_parameter(layer_name("bias_ih", k), empty({4 * h}));
      register_parameter(layer_name("bias_hh", k), empty({4 * h}));
    }
  }
  reset_parameters();
}

void LSTM::reset_parameters() {
  const double bound = 1.0 / std::sqrt(static_cast<double>(options.hidden_size_));
  for (const Tensor& p : parameters(false)) init::uniform_(p, -bound, bound);
}

std::vector<std::string> LSTM::flat_weight_names() const {
  std::vector<std::string> names;
  for (int64_t k = 0; k < options.num_layers_; ++k) {
    names.push_back(layer_name("weight_ih", k));
    names.push_back(layer_name("weight_hh", k));
    if (options.bias_) {
      names.push_back(layer_name("bias_ih", k));
      names.push_back(layer_name("bias_hh", k));
    }
  }
  return names;
}

TensorList LSTM::flat_weights() const {
  TensorList out;
  for (const std::string& name : flat_weight_names()) out.push_back(get_or_undefined(name));
  return out;
}

Value LSTM::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 1 || inputs.size() == 2, TypeError, "LSTM.forward takes (input) or (input, (h0, c0)), ",
             "got ", inputs.size(), " arguments");
  Tensor h0, c0;
  if (inputs.size() == 2 && !inputs[1].is_none()) {
    const Value& hx = inputs[1];
    TWIG_CHECK(hx.is_tuple() && hx.size() == 2, TypeError, "LSTM: hx must be a tuple (h0, c0), got a ", hx.kind(),
               " of size ", hx.size());
    h0 = hx[0].tensor();
    c0 = hx[1].tensor();
  }
  auto [output, h_n, c_n] = forward(inputs[0].tensor(), h0, c0);
  return Value::tuple({Value(output), Value::tuple({Value(h_n), Value(c_n)})});
}

std::tuple<Tensor, Tensor, Tensor> LSTM::forward(const Tensor& input, const Tensor& h0_in, const Tensor& c0_in) {
  TWIG_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3), ValueError,
             "LSTM: Expected input to be 2-D or 3-D but received ", input.defined() ? input.dim() : 0, "-D tensor");
  const bool batched = input.dim() == 3;
  const int64_t layers = options.num_layers_, hs = options.hidden_size_;
  TWIG_CHECK(h0_in.defined() == c0_in.defined(), ValueError, "LSTM: give both h0 and c0, or neither");
  if (h0_in.defined()) {
    const int64_t want = batched ? 3 : 2;
    TWIG_CHECK(h0_in.dim() == want && c0_in.dim() == want, RuntimeError, "For ",
               batched ? "batched 3-D" : "unbatched 2-D", " input, hx and cx should also be ", want, "-D but got (",
               h0_in.dim(), "-D, ", c0_in.dim(), "-D) tensors");
  }
  // Work in (L, N, I).
  Tensor x = batched ? input : input.unsqueeze(options.batch_first_ ? 0 : 1);
  if (options.batch_first_) x = x.transpose(0, 1);
  const int64_t steps = x.size(0), batch = x.size(1);
  TWIG_CHECK(x.size(2) == options.input_size_, RuntimeError, "input.size(-1) must be equal to input_size. Expected ",
             options.input_size_, ", got ", x.size(2));
  TWIG_CHECK(steps > 0, RuntimeError, "Expected sequence length to be larger than 0 in RNN");

  Tensor h0 = h0_in, c0 = c0_in;
  if (h0.defined()) {
    if (!batched) {
      h0 = h0.unsqueeze(1);
      c0 = c0.unsqueeze(1);
    }
    const Shape want{layers, batch, hs};
    auto shape_str = [&] { return detail::str_cat("(", layers, ", ", batch, ", ", hs, ")"); };
    TWIG_CHECK(h0.sizes() == want, RuntimeError, "Expected hidden[0] size ", shape_str(), ", got ", h0.sizes());
    TWIG_CHECK(c0.sizes() == want, RuntimeError, "Expected hidden[1] size ", shape_str(), ", got ", c0.sizes());
  } else {
    h0 = zeros({layers, batch, hs}, x.dtype());
    c0 = zeros({layers, batch, hs}, x.dtype());
  }

  TensorList h_last, c_last;
  Tensor layer_in = x;  // (L, N, I) for layer 0, (L, N, H) after
  for (int64_t k = 0; k < layers; ++k) {
    Tensor w_ih = get(layer_name("weight_ih", k));                                        // (4H, in_k)
    Tensor w_hh = get(layer_name("weight_hh", k));                                        // (4H, H)
    Tensor b_ih = options.bias_ ? get_or_undefined(layer_name("bias_ih", k)) : Tensor();  // (4H)
    Tensor b_hh = options.bias_ ? get_or_undefined(layer_name("bias_hh", k)) : Tensor();  // (4H)
    TWIG_CHECK(w_ih.dtype() == x.dtype(), RuntimeError, "LSTM: input must have the type ", dtype_name(w_ih.dtype()),
               ", got type ", dtype_name(x.dtype()));
    const int64_t in_k = layer_in.size(2);
    // All timesteps' input projections in one matmul: (L·N, in_k) @ (in_k, 4H).
    Tensor x2 = layer_in.reshape({steps * batch, in_k});
    Tensor xw;
    if (b_ih.defined() && b_hh.defined()) {
      xw = addmm(b_ih + b_hh, x2, w_ih.t());
    } else {
      xw = x2.matmul(w_ih.t());
      if (b_ih.defined()) xw = xw + b_ih;
      if (b_hh.defined()) xw = xw + b_hh;
    }
    xw = xw.view({steps, batch, xw.size(1)});  // (L, N, 4H)
    Tensor w_hh_t = w_hh.t();                  // (H, 4H)
    Tensor h = h0.select(0, k), c = c0.select(0, k);
    TensorList outs;
    outs.reserve(static_cast<size_t>(steps));
    for (int64_t t = 0; t < steps; ++t) {
      Tensor gates = addmm(xw.select(0, t), h, w_hh_t);  // (N, 4H)
      TensorList hc = lstm_cell_pointwise(gates, c);
      h = hc[0];
      c = hc[1];
      outs.push_back(h);
    }
    h_last.push_back(h);
    c_last.push_back(c);
    layer_in = stack(outs, 0);  // (L, N, H)
  }
  Tensor output = layer_in, h_n = stack(h_last, 0), c_n = stack(c_last, 0);
  if (options.batch_first_) output = output.transpose(0, 1);
  if (!batched) {
    output = output.squeeze(options.batch_first_ ? 0 : 1);
    h_n = h_n.squeeze(1);
    c_n = c_n.squeeze(1);
  }
  return {output, h_n, c_n};
}

std::string LSTM::extra_repr() const {
  std::string s = detail::str_cat(options.input_size_, ", ", options.hidden_size_);
  if (options.num_layers_ != 1) s += detail::str_cat(", num_layers=", options.num_layers_);
  if (!options.bias_) s += ", bias=False";
  if (options.batch_first_) s += ", batch_first=True";
  return s;
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr LSTM::clone_instance() const { return std::make_shared<LSTM>(*this); }

}  // namespace twig::nn
