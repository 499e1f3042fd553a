// LSTM with PyTorch's parameter layout: per layer k, weight_ih_l{k} (4H, in_k), weight_hh_l{k}
// (4H, H), bias_ih_l{k} (4H), bias_hh_l{k} (4H), rows stacked in gate order i, f, g, o.
//
// Dimension letters: L sequence length, N batch, H hidden size, I input size.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "twig/nn/module.h"

namespace twig::nn {

struct LSTMOptions {
  LSTMOptions(int64_t input_size, int64_t hidden_size) : input_size_(input_size), hidden_size_(hidden_size) {}
  LSTMOptions& num_layers(int64_t n) {
    num_layers_ = n;
    return *this;
  }
  LSTMOptions& bias(bool b) {
    bias_ = b;
    return *this;
  }
  LSTMOptions& batch_first(bool b) {
    batch_first_ = b;
    return *this;
  }
  // Not implemented: the constructor raises NotImplementedError for nonzero values.
  LSTMOptions& dropout(double p) {
    dropout_ = p;
    return *this;
  }
  LSTMOptions& bidirectional(bool b) {
    bidirectional_ = b;
    return *this;
  }
  LSTMOptions& proj_size(int64_t p) {
    proj_size_ = p;
    return *this;
  }
  int64_t input_size_;
  int64_t hidden_size_;
  int64_t num_layers_ = 1;
  bool bias_ = true;
  bool batch_first_ = false;
  double dropout_ = 0.0;
  bool bidirectional_ = false;
  int64_t proj_size_ = 0;
};

// forward_values({x}) or ({x, (h0, c0)}): x is (L, N, I), (N, L, I) with batch_first, or unbatched
// (L, I); h0 and c0 are (num_layers, N, H), or (num_layers, H) when unbatched, zeros if omitted.
// Returns (output, (h_n, c_n)): output (L, N, H) / (N, L, H) / (L, H), h_n and c_n like h0.
//
// Every forward reads the weights through get(), so pruning hooks and parametrizations apply.
// options.hidden_size_ is public: structured pruning shrinks it together with the weights.
class LSTM : public Module {
 public:
  explicit LSTM(const LSTMOptions& options);
  LSTM(int64_t input_size, int64_t hidden_size, int64_t num_layers = 1)
      : LSTM(LSTMOptions(input_size, hidden_size).num_layers(num_layers)) {}
  Value forward_values(const Values& inputs) override;
  // The typed form: output and (h_n, c_n); h0/c0 both undefined means zeros.
  std::tuple<Tensor, Tensor, Tensor> forward(const Tensor& x, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor());
  // U(-1/√H, 1/√H) for every weight and bias, as PyTorch.
  void reset_parameters();
  // PyTorch's _flat_weights_names: weight_ih_l0, weight_hh_l0[, bias_ih_l0, bias_hh_l0], l1, ...
  std::vector<std::string> flat_weight_names() const;
  // PyTorch's _flat_weights: what each name currently resolves to (a parameter, a pruned plain
  // attribute, a parametrized value), undefined when absent.
  TensorList flat_weights() const;
  std::string extra_repr() const override;

  LSTMOptions options;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
