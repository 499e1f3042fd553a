#include "models/common_pruning.h"

#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/parametrize.h"

namespace twig::testing::models {

using namespace twig::nn;

namespace {

std::shared_ptr<Linear> lin(int64_t in, int64_t out, bool bias) { return std::make_shared<Linear>(in, out, bias); }

std::shared_ptr<Conv2d> conv(int64_t in, int64_t out, bool bias, int64_t padding = 0) {
  return std::make_shared<Conv2d>(Conv2dOptions(in, out, 3).padding(padding).bias(bias));
}

std::shared_ptr<MaxPool2d> maxpool() { return std::make_shared<MaxPool2d>(MaxPool2dOptions(2).stride(2).padding(1)); }
std::shared_ptr<AvgPool2d> avgpool() { return std::make_shared<AvgPool2d>(AvgPool2dOptions(2).stride(2).padding(1)); }

Tensor run(const Module& m, const std::string& child, const Tensor& x) { return m.child(child)->call({x}).tensor(); }

}  // namespace

SimpleLinear::SimpleLinear() : UnaryModule("SimpleLinear") {
  register_module("seq", std::make_shared<Sequential>(
                             std::initializer_list<ModulePtr>{lin(7, 5, false), lin(5, 6, false), lin(6, 4, false)}));
  register_module("linear1", lin(4, 4, false));
  register_module("linear2", lin(4, 10, false));
}
Tensor SimpleLinear::forward(const Tensor& x) {
  return run(*this, "linear2", run(*this, "linear1", run(*this, "seq", x)));
}

LinearBias::LinearBias() : UnaryModule("LinearBias") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             lin(7, 5, true), lin(5, 6, false), lin(6, 3, true), lin(3, 3, true), lin(3, 10, false)}));
}
Tensor LinearBias::forward(const Tensor& x) { return run(*this, "seq", x); }

LinearActivation::LinearActivation() : UnaryModule("LinearActivation") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             lin(7, 5, true), std::make_shared<ReLU>(), lin(5, 6, false), std::make_shared<Tanh>(),
                             lin(6, 4, true)}));
  register_module("linear1", lin(4, 3, true));
  register_module("act1", std::make_shared<ReLU>());
  register_module("linear2", lin(3, 10, false));
  register_module("act2", std::make_shared<Tanh>());
}
Tensor LinearActivation::forward(const Tensor& x) {
  Tensor y = run(*this, "seq", x);
  for (const char* name : {"linear1", "act1", "linear2", "act2"}) y = run(*this, name, y);
  return y;
}

LinearActivationFunctional::LinearActivationFunctional() : UnaryModule("LinearActivationFunctional") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             lin(7, 5, true), std::make_shared<ReLU>(), lin(5, 6, false), std::make_shared<ReLU>(),
                             lin(6, 4, true)}));
  register_module("linear1", lin(4, 3, true));
  register_module("linear2", lin(3, 8, false));
  register_module("linear3", lin(8, 10, false));
  register_module("act1", std::make_shared<ReLU>());
}
Tensor LinearActivationFunctional::forward(const Tensor& x) {
  Tensor y = run(*this, "seq", x);
  y = F::relu(run(*this, "linear1", y));
  y = F::relu(run(*this, "linear2", y));
  return F::relu(run(*this, "linear3", y));
}

SimpleConv2d::SimpleConv2d() : UnaryModule("SimpleConv2d") {
  register_module(
      "seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{conv(1, 32, false), conv(32, 64, false)}));
  register_module("conv2d1", conv(64, 48, false));
  register_module("conv2d2", conv(48, 52, false));
}
Tensor SimpleConv2d::forward(const Tensor& x) {
  return run(*this, "conv2d2", run(*this, "conv2d1", run(*this, "seq", x)));
}

Conv2dBias::Conv2dBias() : UnaryModule("Conv2dBias") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             conv(1, 32, true), conv(32, 32, true), conv(32, 64, false)}));
  register_module("conv2d1", conv(64, 48, true));
  register_module("conv2d2", conv(48, 52, false));
}
Tensor Conv2dBias::forward(const Tensor& x) {
  return run(*this, "conv2d2", run(*this, "conv2d1", run(*this, "seq", x)));
}

Conv2dActivation::Conv2dActivation() : UnaryModule("Conv2dActivation") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             conv(1, 32, true), std::make_shared<ReLU>(), conv(32, 64, true), std::make_shared<Tanh>(),
                             conv(64, 64, false), std::make_shared<ReLU>()}));
  register_module("conv2d1", conv(64, 48, false));
  register_module("conv2d2", conv(48, 52, true));
}
Tensor Conv2dActivation::forward(const Tensor& x) {
  Tensor y = F::relu(run(*this, "conv2d1", run(*this, "seq", x)));
  return F::hardtanh(run(*this, "conv2d2", y));
}

Conv2dPadBias::Conv2dPadBias() : UnaryModule("Conv2dPadBias") {
  register_module("seq",
                  std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                      conv(1, 32, true, 1), std::make_shared<ReLU>(), conv(32, 32, false), std::make_shared<ReLU>(),
                      conv(32, 32, true, 1), std::make_shared<ReLU>(), conv(32, 32, true, 1), std::make_shared<ReLU>(),
                      conv(32, 64, true), std::make_shared<Tanh>()}));
  register_module("conv2d1", conv(64, 48, true, 1));
  register_module("act1", std::make_shared<ReLU>());
  register_module("conv2d2", conv(48, 52, true, 1));
  register_module("act2", std::make_shared<Tanh>());
}
Tensor Conv2dPadBias::forward(const Tensor& x) {
  Tensor y = run(*this, "seq", x);
  for (const char* name : {"conv2d1", "act1", "conv2d2", "act2"}) y = run(*this, name, y);
  return y;
}

Conv2dPool::Conv2dPool() : UnaryModule("Conv2dPool") {
  register_module("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                             conv(1, 32, true, 1), maxpool(), std::make_shared<ReLU>(), conv(32, 64, true, 1),
                             std::make_shared<Tanh>(), avgpool()}));
  register_module("conv2d1", conv(64, 48, true, 1));
  register_module("maxpool", maxpool());
  register_module("af1", std::make_shared<ReLU>());
  register_module("conv2d2", conv(48, 52, true, 1));
  register_module("conv2d3", conv(52, 52, true, 1));
}
Tensor Conv2dPool::forward(const Tensor& x) {
  Tensor y = run(*this, "seq", x);
  y = run(*this, "af1", run(*this, "maxpool", run(*this, "conv2d1", y)));
  y = run(*this, "conv2d2", y);
  y = F::relu(F::avg_pool2d(y, {2}, {2}, {1}));
  return run(*this, "conv2d3", y);
}

namespace {
void pool_flatten_layers(Module& m, int64_t pool_out, int64_t fc_in) {
  m.register_child("seq", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                              conv(1, 3, true, 1), maxpool(), std::make_shared<ReLU>(), conv(3, 5, true, 1),
                              std::make_shared<Tanh>(), avgpool()}));
  m.register_child("conv2d1", conv(5, 7, true, 1));
  m.register_child("af1", std::make_shared<ReLU>());
  m.register_child("conv2d2", conv(7, 11, true, 1));
  m.register_child("avg_pool", std::make_shared<AdaptiveAvgPool2d>(SpatialInts{pool_out, pool_out}));
  if (pool_out == 2) m.register_child("flatten", std::make_shared<Flatten>());
  m.register_child("fc", lin(fc_in, 13, true));
}

// seq -> conv2d1 -> F.max_pool2d -> af1 -> conv2d2 -> avg_pool.
Tensor pool_flatten_trunk(const Module& m, const Tensor& x) {
  Tensor y = run(m, "conv2d1", run(m, "seq", x));
  y = run(m, "af1", F::max_pool2d(y, {2}, {2}, {1}));
  return run(m, "avg_pool", run(m, "conv2d2", y));
}
}  // namespace

Conv2dPoolFlattenFunctional::Conv2dPoolFlattenFunctional() : UnaryModule("Conv2dPoolFlattenFunctional") {
  pool_flatten_layers(*this, 1, 11);
}
Tensor Conv2dPoolFlattenFunctional::forward(const Tensor& x) {
  return run(*this, "fc", pool_flatten_trunk(*this, x).flatten(1));
}

Conv2dPoolFlatten::Conv2dPoolFlatten() : UnaryModule("Conv2dPoolFlatten") { pool_flatten_layers(*this, 2, 44); }
Tensor Conv2dPoolFlatten::forward(const Tensor& x) {
  return run(*this, "fc", run(*this, "flatten", pool_flatten_trunk(*this, x)));
}

LSTMLinearModel::LSTMLinearModel(int64_t input_dim, int64_t hidden_dim, int64_t output_dim, int64_t num_layers)
    : Module("LSTMLinearModel") {
  register_module("lstm", std::make_shared<LSTM>(input_dim, hidden_dim, num_layers));
  register_module("linear", lin(hidden_dim, output_dim, true));
}
std::pair<Tensor, Tensor> LSTMLinearModel::forward(const Tensor& x) {
  Tensor output = child("lstm")->call({x})[0].tensor();
  return {run(*this, "linear", output), output};
}
Value LSTMLinearModel::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 1, TypeError, "LSTMLinearModel.forward() takes 1 input but ", inputs.size(),
             " were given");
  auto [decoded, output] = forward(inputs[0].tensor());
  return Value::tuple({decoded, output});
}

LSTMLayerNormLinearModel::LSTMLayerNormLinearModel(int64_t input_dim, int64_t hidden_dim, int64_t output_dim,
                                                   int64_t num_layers)
    : Module("LSTMLayerNormLinearModel") {
  register_module("lstm", std::make_shared<LSTM>(input_dim, hidden_dim, num_layers));
  register_module("norm", std::make_shared<LayerNorm>(hidden_dim));
  register_module("linear", lin(hidden_dim, output_dim, true));
}
Value LSTMLayerNormLinearModel::forward_values(const Values& inputs) {
  TWIG_CHECK(inputs.size() == 1, TypeError, "LSTMLayerNormLinearModel.forward() takes 1 input but ", inputs.size(),
             " were given");
  Value out = child("lstm")->call({inputs[0]});
  Tensor x = run(*this, "linear", run(*this, "norm", out[0].tensor()));
  return Value::tuple({x, out[1]});
}

bool rows_are_subset(const Tensor& sub, const Tensor& sup) {
  int64_t i = 0;
  const int64_t n = sup.dim() == 0 ? 0 : sup.size(0);
  for (int64_t r = 0; r < (sub.dim() == 0 ? 0 : sub.size(0)); ++r) {
    Tensor row = sub[r];
    while (i < n && !equal(sup[i], row)) ++i;
    if (i >= n) return false;
  }
  return true;
}

}  // namespace twig::testing::models

// ---- serialize/ registration --------------------------------------------------------------------

#include <nlohmann/json.hpp>

#include "twig/serialize/registry.h"

namespace twig::testing::models {

namespace {

// The LSTM models: their dimensions are read back from their children.
template <typename M>
serialize::ModuleCodec lstm_model_codec(const char* type) {
  return serialize::ModuleCodec{
      [](const nn::Module& m) {
        auto lstm = std::dynamic_pointer_cast<nn::LSTM>(m.child("lstm"));
        auto linear = std::dynamic_pointer_cast<nn::Linear>(m.child("linear"));
        TWIG_CHECK(lstm && linear, TypeError, m.type_name(), ": expected children 'lstm' and 'linear'");
        return serialize::json{{"input_dim", lstm->options.input_size_},
                               {"hidden_dim", lstm->options.hidden_size_},
                               {"output_dim", linear->options.out_features_},
                               {"num_layers", lstm->options.num_layers_}};
      },
      [type](const serialize::json& j) -> nn::ModulePtr {
        for (const char* k : {"input_dim", "hidden_dim", "output_dim", "num_layers"}) {
          TWIG_CHECK(j.is_object() && j.contains(k) && j[k].is_number_unsigned() && j[k].get<uint64_t>() < 4096,
                     ValueError, type, " options: '", k, "' must be a size below 4096");
        }
        TWIG_CHECK(j.size() == 4, ValueError, type, " options: unexpected option");
        return std::make_shared<M>(j["input_dim"].get<int64_t>(), j["hidden_dim"].get<int64_t>(),
                                   j["output_dim"].get<int64_t>(), j["num_layers"].get<int64_t>());
      }};
}

}  // namespace

void register_test_models() {
  serialize::register_module_type<SimpleLinear>("SimpleLinear");
  serialize::register_module_type<LinearBias>("LinearBias");
  serialize::register_module_type<LinearActivation>("LinearActivation");
  serialize::register_module_type<LinearActivationFunctional>("LinearActivationFunctional");
  serialize::register_module_type<SimpleConv2d>("SimpleConv2d");
  serialize::register_module_type<Conv2dBias>("Conv2dBias");
  serialize::register_module_type<Conv2dActivation>("Conv2dActivation");
  serialize::register_module_type<Conv2dPadBias>("Conv2dPadBias");
  serialize::register_module_type<Conv2dPool>("Conv2dPool");
  serialize::register_module_type<Conv2dPoolFlattenFunctional>("Conv2dPoolFlattenFunctional");
  serialize::register_module_type<Conv2dPoolFlatten>("Conv2dPoolFlatten");
  serialize::register_module_type("LSTMLinearModel", lstm_model_codec<LSTMLinearModel>("LSTMLinearModel"));
  serialize::register_module_type("LSTMLayerNormLinearModel",
                                  lstm_model_codec<LSTMLayerNormLinearModel>("LSTMLayerNormLinearModel"));
}

void ImplementedSparsifier::update_mask(nn::Module& module, const std::string& tensor_name, const ao::Dict&) {
  // module.parametrizations.weight[0].mask[0] = 0
  auto p = std::dynamic_pointer_cast<ao::FakeSparsity>(nn::parametrizations_of(module, tensor_name)->at(0));
  TWIG_CHECK(p != nullptr, TypeError, "ImplementedSparsifier: the first parametrization of ", tensor_name,
             " is not a FakeSparsity");
  p->mask().select(0, 0).fill_(0);
  ao::Dict linear_state = state_for("linear1.weight");
  linear_state.set("step_count", linear_state.get("step_count", 0).to_int() + 1);
}

nn::ModulePtr MockSparseLinear::from_dense(const nn::Module& mod) {
  const auto& linear = dynamic_cast<const nn::Linear&>(mod);
  return std::make_shared<MockSparseLinear>(linear.options.in_features_, linear.options.out_features_);
}

}  // namespace twig::testing::models
