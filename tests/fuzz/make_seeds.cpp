// Writes the fuzzer's seed corpus into the folder given: valid state dicts of every dtype, empty
// and 0-d tensors, whole-module files (a Sequential of layers, an LSTM model, a parametrized
// Linear), and a few near-misses.
#include <fstream>
#include <string>

#include "models/common_pruning.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/parametrize.h"
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

using namespace twig;

namespace {
void put(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}
class Double : public nn::UnaryModule {
 public:
  Double() : nn::UnaryModule("Identity") {}
  Tensor forward(const Tensor& x) override { return x; }

 protected:
  nn::ModulePtr clone_instance() const override { return std::make_shared<Double>(*this); }
};
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  nn::StateDict sd;
  sd.insert("b", tensor({true, false}));
  sd.insert("u8", arange(3, kUInt8));
  sd.insert("i32", arange(2, kInt32));
  sd.insert("i64", arange(2, kInt64));
  sd.insert("f32", ones({2, 2}));
  sd.insert("f64", tensor(1.5, kFloat64));
  sd.insert("empty", empty({0, 4}));
  put(dir, "state_dict", serialize::to_safetensors_bytes(sd, {{"k", "v"}}));
  put(dir, "empty_file", serialize::to_safetensors_bytes({}));
  auto seq = std::make_shared<nn::Sequential>(std::initializer_list<nn::ModulePtr>{
      std::make_shared<nn::Linear>(3, 2), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(2, 1, false)});
  put(dir, "sequential", serialize::module_to_bytes(*seq));
  auto lin = std::make_shared<nn::Linear>(2, 2);
  nn::register_parametrization(*lin, "weight", std::make_shared<Double>());
  put(dir, "parametrized", serialize::module_to_bytes(*lin));
  put(dir, "lstm", serialize::module_to_bytes(nn::LSTM(2, 2)));
  auto norm = std::make_shared<nn::BatchNorm2d>(2);
  put(dir, "batchnorm", serialize::module_to_bytes(*norm));
  return 0;
}
