#include "apps/twig/activation.h"

#include <cmath>
#include <set>

#include "twig/ao/activation_sparsifier.h"
#include "twig/ao/utils.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/linear.h"
#include "twig/serialize/module_io.h"
#include "twig/tensor/error.h"

namespace twig::cli {

namespace {

bool is_linear(const nn::Module& m) { return ao::type_before_parametrizations(m) == typeid(nn::Linear); }

// The module called `name` in model (dotted names for nested ones), or null.
nn::ModulePtr find_module(nn::Module& model, const std::string& name) {
  for (auto& [n, m] : model.named_modules())
    if (n == name) return m;
  return nullptr;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// PyTorch's test's _vanilla_norm_sparsifier: ones with the round-half-even(level * n) smallest
// |data| zeroed, in data's shape. A stable sort, so ties (features that never fired) go by index.
Tensor vanilla_norm_mask(const Tensor& data, const nn::Dict& sparse_config) {
  const double level = sparse_config.at("sparsity_level").to_double();
  Tensor v = data.abs().flatten();
  Tensor order = v.argsort(/*dim=*/-1, /*descending=*/false, /*stable=*/true);
  const auto t = static_cast<int64_t>(std::nearbyint(level * static_cast<double>(v.numel())));
  Tensor mask = ones_like(v, kFloat32);
  if (t > 0) mask.index_fill_(0, order.slice(0, 0, t), 0.0);
  return mask.reshape(data.sizes());
}

}  // namespace

std::vector<std::string> linear_layers(nn::Module& model) {
  std::vector<std::string> out;
  for (auto& [name, m] : model.named_modules())
    if (!name.empty() && is_linear(*m)) out.push_back(name);
  return out;
}

std::string check_activation_layers(nn::Module& model, const std::vector<std::string>& layers) {
  const std::vector<std::string> linears = linear_layers(model);
  if (linears.empty())
    return "the model (" + model.type_name() +
           ") has no Linear layer whose inputs --activation-sparsity could sparsify";
  std::set<std::string> seen;
  for (const std::string& name : layers) {
    if (!seen.insert(name).second) return "--layers names '" + name + "' twice";
    nn::ModulePtr m = name.empty() ? nullptr : find_module(model, name);
    if (!m) return "--layers '" + name + "': the model has no such layer (its Linear layers: " + joined(linears) + ")";
    if (!is_linear(*m))
      return "--layers '" + name + "' is a " + m->type_name() + "; --activation-sparsity sparsifies the inputs of " +
             "Linear layers (" + joined(linears) + ")";
  }
  return "";
}

SparsifiedModel sparsify_activations(const nn::Module& model, const std::vector<std::string>& layers, double level,
                                     const data::Dataset& train, int64_t batches, int64_t batch_size) {
  TWIG_CHECK(level >= 0.0 && level <= 1.0, ValueError, "the sparsity level must be in [0, 1], got ", level);
  TWIG_CHECK(batches >= 1 && batch_size >= 1, ValueError,
             "the calibration needs at least one batch of one example, got ", batches, " batches of ", batch_size);
  // drop_last: the mask is made with the first batch's shape, so every batch must be a full one.
  data::DataLoader loader(train, batch_size, /*shuffle=*/false, /*drop_last=*/true);
  TWIG_CHECK(loader.size() >= batches, ValueError, "the calibration needs ", batches, " batches of ", batch_size,
             " examples, and the training set (", train.size(), " examples) has ", loader.size());

  SparsifiedModel out;
  out.model = serialize::copy_module(model);
  ao::ActivationArgs args;
  args.aggregate_fn = ao::aggregate_function([](const Tensor& agg, const Tensor& x) { return agg + x.abs(); });
  args.reduce_fn =
      ao::reduce_function([batches](const Tensor& data) { return data.mean({0}).div(static_cast<double>(batches)); });
  args.mask_fn = ao::mask_function(vanilla_norm_mask);
  args.sparse_config = nn::Dict{{"sparsity_level", level}};
  ao::ActivationSparsifier sparsifier(out.model, args);
  for (const std::string& name : layers) {
    nn::ModulePtr m = find_module(*out.model, name);
    TWIG_CHECK(m && is_linear(*m), ValueError, "'", name, "' is not a Linear layer of the model");
    sparsifier.register_layer(m);
  }

  NoGradGuard no_grad;
  const bool was_training = out.model->is_training();
  out.model->eval();
  int64_t done = 0;
  for (const data::Batch& b : loader) {
    if (done++ == batches) break;
    (void)(*out.model)(b.input);
  }
  out.model->train(was_training);
  sparsifier.step();
  for (const std::string& name : layers) out.masks.push_back(sparsifier.get_mask(name).to_tensor());
  sparsifier.squash_mask(/*attach_sparsify_hook=*/true);
  return out;
}

ActivationRow evaluate_activations(const SparsifiedModel& sparsified, const std::vector<std::string>& layers,
                                   const data::Dataset& test) {
  nn::Module& model = *sparsified.model;
  ActivationRow row;
  // A counting pre-hook after each sparsify hook sees the input as the layer gets it.
  std::vector<int64_t> zeros(layers.size(), 0), total(layers.size(), 0);
  std::vector<RemovableHandle> handles;
  for (size_t i = 0; i < layers.size(); ++i) {
    nn::ModulePtr m = find_module(model, layers[i]);
    TWIG_CHECK(m != nullptr, ValueError, "the model has no layer '", layers[i], "'");
    handles.push_back(m->register_forward_pre_hook([&zeros, &total, i](nn::Module&, const nn::Values& inputs) {
      const Tensor& x = inputs.at(0).tensor();
      total[i] += x.numel();
      zeros[i] += x.numel() - x.count_nonzero().item<int64_t>();
      return std::optional<nn::Values>();
    }));
  }
  NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  int64_t correct = 0;
  data::DataLoader loader(test, 1000);
  for (const data::Batch& b : loader) {
    Tensor logits = model(b.input);
    correct += logits.argmax(1).eq(b.target).count_nonzero().item<int64_t>();
  }
  model.train(was_training);
  for (RemovableHandle& h : handles) h.remove();

  row.accuracy = test.size() ? static_cast<double>(correct) / static_cast<double>(test.size()) : 0.0;
  for (size_t i = 0; i < layers.size(); ++i) {
    row.input_zeros.push_back(total[i] ? static_cast<double>(zeros[i]) / static_cast<double>(total[i]) : 0.0);
    const Tensor& mask = sparsified.masks.at(i);
    row.mask_zeros.push_back(static_cast<double>(mask.numel() - mask.count_nonzero().item<int64_t>()) /
                             static_cast<double>(mask.numel()));
  }
  return row;
}

}  // namespace twig::cli
