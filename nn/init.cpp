#include "twig/nn/init.h"

#include <cmath>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"

namespace twig::nn::init {

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  TWIG_CHECK(t.dim() >= 2, ValueError,
             "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions (got ", t.dim(), ")");
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl.rfind("conv", 0) == 0 || nl == "sigmoid") return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  TWIG_THROW(ValueError, "Unsupported nonlinearity ", nl);
}

namespace {
thread_local bool skip_random_init = false;
}  // namespace

SkipRandomInitGuard::SkipRandomInitGuard() : previous_(skip_random_init) { skip_random_init = true; }
SkipRandomInitGuard::~SkipRandomInitGuard() { skip_random_init = previous_; }

void uniform_(const Tensor& t, double a, double b, Generator* gen) {
  if (skip_random_init) return;
  NoGradGuard no_grad;
  t.copy_(rand(t.sizes(), TensorOptions(t.dtype()).device(t.device()), gen) * (b - a) + a);
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  if (skip_random_init) return;
  NoGradGuard no_grad;
  t.copy_(randn(t.sizes(), TensorOptions(t.dtype()).device(t.device()), gen) * std + mean);
}

void constant_(const Tensor& t, double value) {
  NoGradGuard no_grad;
  t.fill_(value);
}
void zeros_(const Tensor& t) { constant_(t, 0.0); }
void ones_(const Tensor& t) { constant_(t, 1.0); }

namespace {
int64_t fan(const Tensor& t, const std::string& mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  TWIG_CHECK(mode == "fan_in" || mode == "fan_out", ValueError, "Mode ", mode,
             " not supported, please use one of fan_in, fan_out");
  return mode == "fan_in" ? fan_in : fan_out;
}
}  // namespace

void kaiming_uniform_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                      Generator* gen) {
  double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(t, mode)));
  double bound = std::sqrt(3.0) * std;
  uniform_(t, -bound, bound, gen);
}

void kaiming_normal_(const Tensor& t, double a, const std::string& mode, const std::string& nonlinearity,
                     Generator* gen) {
  normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan(t, mode))), gen);
}

void xavier_uniform_(const Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double a = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  uniform_(t, -a, a, gen);
}

void xavier_normal_(const Tensor& t, double gain, Generator* gen) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), gen);
}

}  // namespace twig::nn::init
