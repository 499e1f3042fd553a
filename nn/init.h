// Parameter initialization, PyTorch's torch.nn.init (in place, without autograd).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "twig/tensor/random.h"
#include "twig/tensor/tensor.h"

namespace twig::nn::init {

// (fan_in, fan_out) of a weight: dims 1 and 0, times the receptive field (dims 2...).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);
// torch.nn.init.calculate_gain for "linear", "conv*", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
void uniform_(const Tensor& t, double a, double b, Generator* gen = nullptr);
void normal_(const Tensor& t, double mean, double std, Generator* gen = nullptr);
void constant_(const Tensor& t, double value);
void zeros_(const Tensor& t);
void ones_(const Tensor& t);
// kaiming_uniform_(a, mode="fan_in", nonlinearity="leaky_relu"): bound = gain * sqrt(3 / fan).
void kaiming_uniform_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                      const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
void kaiming_normal_(const Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                     const std::string& nonlinearity = "leaky_relu", Generator* gen = nullptr);
void xavier_uniform_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(const Tensor& t, double gain = 1.0, Generator* gen = nullptr);

// While one is alive on this thread, the random initializers (uniform_, normal_ and the kaiming /
// xavier ones built on them) leave tensors as they are and draw nothing from the generator.
// Module::clone builds its fresh instances under one: the copy overwrites every value anyway, and
// cloning must not move the global random state. Nests.
class SkipRandomInitGuard {
 public:
  SkipRandomInitGuard();
  ~SkipRandomInitGuard();
  SkipRandomInitGuard(const SkipRandomInitGuard&) = delete;
  SkipRandomInitGuard& operator=(const SkipRandomInitGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace twig::nn::init
