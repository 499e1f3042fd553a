#include "fashion.h"

#include <chrono>
#include <filesystem>
#include <vector>

#include "apps/twig/progress.h"
#include "twig/autograd/grad_mode.h"
#include "twig/nn/loss.h"
#include "twig/nn/parametrize.h"

namespace twig::cli {

namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool is_prunable(const nn::Module& m) {
  const std::string& t = m.type_name();
  return t == "Linear" || t == "Conv2d" || t == "Conv3d";
}

const std::string kOrig = "_orig";
}  // namespace

void check_fashion_files(const std::string& root, bool with_train) {
  std::vector<std::string> stems = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  if (with_train) stems.insert(stems.begin(), {"train-images-idx3-ubyte", "train-labels-idx1-ubyte"});
  std::string missing;
  std::error_code ec;
  for (const std::string& stem : stems) {
    const std::string path = root + "/" + stem;
    if (std::filesystem::is_regular_file(path + ".gz", ec) || std::filesystem::is_regular_file(path, ec)) continue;
    missing += (missing.empty() ? "" : ", ") + stem + ".gz";
  }
  if (missing.empty()) return;
  TWIG_THROW(RuntimeError, "Fashion-MNIST is not in '", root, "': missing ", missing,
             " (uncompressed files without .gz work too); install the Debian package dataset-fashion-mnist "
             "(apt-get install dataset-fashion-mnist) or pass --data DIR");
}

namespace {
const std::string& checked_root(const std::string& root, bool with_train) {
  check_fashion_files(root, with_train);
  return root;
}
}  // namespace

FashionData::FashionData(const std::string& root, bool with_train)
    : test(checked_root(root, with_train), false),
      train(with_train ? std::optional<data::FashionMNIST>(std::in_place, root, true) : std::nullopt) {}

std::unique_ptr<optim::Optimizer> make_optimizer(nn::Module& model, const TrainOptions& options) {
  if (options.optimizer == "adam")
    return std::make_unique<optim::Adam>(model.parameters(), optim::AdamOptions().lr(options.lr));
  if (options.optimizer == "sgd")
    return std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions(options.lr).momentum(options.momentum));
  TWIG_THROW(ValueError, "unknown optimizer '", options.optimizer, "' (expected adam or sgd)");
}

EpochResult train_epoch(nn::Module& model, data::DataLoader& loader, optim::Optimizer& opt, const std::string& label,
                        const std::function<void()>& before_batch) {
  nn::CrossEntropyLoss criterion;
  model.train();
  auto start = std::chrono::steady_clock::now();
  Progress progress(label, loader.size(), loader.batch_size());
  double total = 0;
  int64_t batches = 0;
  for (const data::Batch& b : loader) {
    if (before_batch) before_batch();
    opt.zero_grad();
    Tensor loss = criterion(model(b.input), b.target);
    loss.backward();
    opt.step();
    double l = loss.item<double>();
    total += l;
    ++batches;
    progress.step(l);
  }
  progress.finish();
  return {batches ? total / static_cast<double>(batches) : 0.0, seconds_since(start)};
}

EvalResult evaluate(nn::Module& model, const data::Dataset& test) {
  NoGradGuard no_grad;
  bool was_training = model.is_training();
  model.eval();
  data::DataLoader loader(test, 1000);
  // One untimed batch first: the first pass over fresh buffers pays for page faults (the demo's
  // first evaluation took 0.68 s against 0.2-0.3 s for the later ones).
  if (loader.size() > 0) (void)model((*loader.begin()).input);
  auto start = std::chrono::steady_clock::now();
  int64_t correct = 0;
  for (const data::Batch& b : loader) {
    Tensor logits = model(b.input);
    correct += logits.argmax(1).eq(b.target).count_nonzero().item<int64_t>();
  }
  double secs = seconds_since(start);
  model.train(was_training);
  return {static_cast<double>(correct) / static_cast<double>(test.size()), secs};
}

std::vector<std::pair<std::string, nn::ModulePtr>> prunable_layers(nn::Module& model) {
  std::vector<std::pair<std::string, nn::ModulePtr>> out;
  for (auto& [name, m] : model.named_modules())
    if (is_prunable(*m)) out.emplace_back(name, m);
  return out;
}

Sparsity measure_sparsity(nn::Module& model) {
  NoGradGuard no_grad;
  Sparsity s;
  for (auto& [prefix, m] : model.named_modules()) {
    (void)prefix;
    // A parametrized tensor's original is counted through its owner, as the value it computes.
    if (dynamic_cast<const nn::ParametrizationList*>(m.get())) continue;
    std::vector<std::pair<std::string, Tensor>> values;
    for (const auto& [pname, p] : m->parameters_dict()) {
      if (!p.defined()) continue;
      // A pruned tensor's effective value is the attribute the pruning hook computes.
      std::string name = pname;
      Tensor value = p;
      if (name.size() > kOrig.size() && name.ends_with(kOrig)) {
        std::string base = name.substr(0, name.size() - kOrig.size());
        Tensor mask = m->get_or_undefined(base + "_mask");
        if (mask.defined()) {
          value = p.mul(mask);
          name = base;
        }
      }
      values.emplace_back(name, value);
    }
    // A parametrized parameter (a sparsifier's mask: FakeSparsity) counts as the value it computes.
    if (nn::is_parametrized(*m)) {
      for (const auto& [cname, child] : m->child("parametrizations")->children_dict()) {
        auto list = std::dynamic_pointer_cast<nn::ParametrizationList>(child);
        if (list && !list->original_is_buffer()) values.emplace_back(cname, m->get(cname));
      }
    }
    for (const auto& [name, value] : values) {
      int64_t nonzero = value.count_nonzero().item<int64_t>();
      s.nonzero_params += nonzero;
      if (name == "weight" && is_prunable(*m)) {
        s.prunable += value.numel();
        s.prunable_zeros += value.numel() - nonzero;
      }
    }
  }
  return s;
}

}  // namespace twig::cli
