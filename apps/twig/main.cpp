// twig: train, prune, fine-tune and evaluate models on Fashion-MNIST from the command line.
//
//   twig demo  [--epochs N] [--out DIR] [--data DIR] [--seed S]
//   twig train --model {mlp,lenet} --out MODEL.twig [--epochs N] [--batch-size B] [--optimizer {sgd,adam}]
//              [--lr X] [--momentum M] [--seed S] [--data DIR] [--state-dict FILE.safetensors]
//   twig prune --in MODEL.twig --out MODEL.twig [--method M --amount A] [--global] [--n N] [--dim D]
//              [--block HxW] [--zeros-per-block Z] [--schedule cubic --steps N]
//              [--finetune-epochs E] [--remove] [--lr X] [--seed S] [--data DIR]
//   twig prune --in MODEL.twig --out MODEL.twig --method {saliency,fpgm} --amount A --structured
//              [--finetune-epochs E] [--lr X] [--seed S] [--data DIR]
//   twig eval  --in MODEL.twig [--data DIR]
//   twig eval  --in MODEL.twig --activation-sparsity LEVELS [--layers L1,L2] [--calibration-batches N]
//              [--batch-size B] [--out HOOKED.twig] [--data DIR]
//   twig info  FILE
// Everywhere: --threads N, --json (one JSON object on stdout), --help. Exit status 0 on success,
// 2 on a usage error, 1 on any other error (one line on stderr naming the problem). Outputs are
// made all together at the end or not at all (outputs.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <variant>
#include <vector>

#include "apps/twig/activation.h"
#include "apps/twig/args.h"
#include "apps/twig/fashion.h"
#include "apps/twig/model_ops.h"
#include "apps/twig/outputs.h"
#include "apps/twig/sparsify.h"
#include "apps/twig/structured.h"
#include "apps/twig/svg_plot.h"
#include "twig/nn/parametrize.h"
#include "twig/tensor/error.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"

#ifndef TWIG_VERSION
#define TWIG_VERSION "unknown"
#endif

using json = nlohmann::json;

namespace twig::cli {
namespace {

const char* kCommonHelp =
    "Every command also takes:\n"
    "  --threads N   threads for the kernels: a positive integer, capped at 4 x the hardware threads\n"
    "                (default: TWIG_NUM_THREADS, which must be a positive integer too, else the cores)\n"
    "  --json        one JSON object with the results on stdout (the progress lines go to stderr)\n"
    "  --help        this help\n"
    "Exit status: 0 on success, 2 on a usage error, 1 on any other error (one line on stderr).\n"
    "Outputs are written to temporaries beside their targets and put in place only when the whole\n"
    "command has succeeded: a failed or interrupted command (Ctrl-C) changes no existing file and\n"
    "leaves nothing behind.\n";

const char* kUsage =
    "usage: twig <command> [options]     twig <command> --help for its options\n"
    "commands:\n"
    "  demo   train LeNet-5, prune it four ways, fine-tune, compare (table, results.json, plot)\n"
    "  train  train an MLP or LeNet-5 on Fashion-MNIST and save it\n"
    "  prune  prune a saved model (optionally fine-tune, make permanent) and save it\n"
    "  eval   test accuracy, sparsity and inference time of a saved model (--activation-sparsity: vs level)\n"
    "  info   the tensors, module tree and pruning hooks of a .twig or .safetensors file\n"
    "  twig --version, twig --help\n";

const std::map<std::string, std::string> kCommandHelp = {
    {"demo",
     "usage: twig demo [--epochs N] [--out DIR] [--data DIR] [--seed S]\n"
     "Trains LeNet-5 on Fashion-MNIST for N epochs (default 3; Adam lr 1e-3, batch 64, seed S, default 0).\n"
     "From that model it prunes with global L1 unstructured to 50, 80 and 90% sparsity and with L2\n"
     "structured pruning (dim 0) of 50% of the channels of every conv/linear layer but the last, and\n"
     "fine-tunes each one epoch with the masks fixed; the dense row gets the same extra epoch, so every\n"
     "row has trained N+1 epochs. A last row sparsifies during that epoch instead: WeightNormSparsifier\n"
     "with 1x4 blocks on the Linear layers, rising to 80% on the cubic schedule (AGP, CubicSL) in 10\n"
     "steps spread over the epoch. Another row shrinks the model: SaliencyPruner removes 50% of the rows of every\n"
     "conv/linear layer but the last and prune() rewrites it into a smaller LeNet-5 (twig prune --structured),\n"
     "then fine-tunes it one epoch. Prints a table and writes DIR (default twig-demo): the models (.twig),\n"
     "state dicts (.safetensors), results.json and accuracy_vs_sparsity.svg.\n"
     "DIR's parent must exist. A new DIR appears only at the end, whole. In a DIR that exists already\n"
     "only the files named above are replaced (each atomically, all at the end); other files stay.\n"
     "--data DIR   the Fashion-MNIST files (default /usr/share/datasets/fashion-mnist)\n"},
    {"train",
     "usage: twig train --model {mlp,lenet} --out MODEL.twig [--epochs N] [--batch-size B]\n"
     "                  [--optimizer {sgd,adam}] [--lr X] [--momentum M] [--seed S] [--data DIR]\n"
     "                  [--state-dict FILE.safetensors]\n"
     "Trains on Fashion-MNIST (default: 3 epochs, batch 64, Adam lr 1e-3, or SGD lr 0.01, seed 0) and\n"
     "saves the whole model to --out (and its state dict to --state-dict). Both outputs are checked\n"
     "before training starts (a file, in a folder that exists and can be written).\n"},
    {"prune",
     "usage: twig prune --in MODEL.twig --out MODEL.twig [--method M --amount A] [--global] [--n N]\n"
     "                  [--dim D] [--block HxW] [--zeros-per-block Z] [--schedule cubic --steps N]\n"
     "                  [--finetune-epochs E] [--remove] [--lr X] [--seed S] [--data DIR]\n"
     "       twig prune --in MODEL.twig --out MODEL.twig --method {saliency,fpgm} --amount A --structured\n"
     "                  [--finetune-epochs E] [--lr X] [--seed S] [--data DIR]\n"
     "--method     l1_unstructured, random_unstructured (every conv/linear weight; --global: all\n"
     "             together), ln_structured, random_structured (every conv/linear weight but the last),\n"
     "             weight_norm (torch.ao.pruning's WeightNormSparsifier on every Linear weight, the layers\n"
     "             PyTorch's make_config_from_model picks; conv weights stay dense: PyTorch 1.13's\n"
     "             WeightNormSparsifier fails on 4-D weights). The masks are saved as parametrizations\n"
     "--structured with --method saliency or fpgm: torch.ao.pruning's SaliencyPruner (rows of the smallest\n"
     "             L1 norm) or FPGMPruner (rows nearest the geometric median) removes the fraction A of the\n"
     "             rows of every Linear/Conv2d weight but the last, then prune() rewrites the model into a\n"
     "             physically smaller one (the next layers lose the matching columns; twig's extended\n"
     "             pattern table, so LeNet-5's conv -> pool -> flatten -> linear shrinks too). The saved model\n"
     "             has no masks: twig info shows the new shapes. Not with --remove, --global, --n, --dim\n"
     "--amount A   a count of units per tensor (2) or a fraction of them (0.5, 2.0), as in Python;\n"
     "             for weight_norm the sparsity_level, a fraction of the blocks in [0, 1]; with\n"
     "             --structured the sparsity_level, the fraction of rows removed, in [0, 1)\n"
     "--block HxW  weight_norm's sparse_block_shape (default 1x4: 1 output x 4 input features)\n"
     "--zeros-per-block Z  weight_norm's zeros in each sparse block (default H*W: whole blocks)\n"
     "--schedule cubic --steps N  weight_norm during fine-tuning with Zhu & Gupta's cubic schedule\n"
     "             (AGP, CubicSL): N sparsifier steps spread evenly over the fine-tuning batches, step k\n"
     "             at level A*(1-(1-k/N)^3), so the last one reaches A; masks fixed in between; needs\n"
     "             --finetune-epochs >= 1 and N <= the fine-tuning batches. Without it: one step at A\n"
     "             before fine-tuning (one-shot)\n"
     "--n N        ln_structured's norm: a number, inf, -inf or fro (default 2)\n"
     "--dim D      the structured methods' dim (default 0: output channels)\n"
     "--seed S     seeds the random methods and the fine-tuning (default 0)\n"
     "--finetune-epochs E  trains E epochs with the masks fixed (Adam, --lr, default 1e-3)\n"
     "--remove     makes the pruning permanent (prune.remove; squash_mask for weight_norm's masks); alone,\n"
     "             without --method, it only does that\n"
     "--data DIR   with it (or with fine-tuning) the test accuracy is measured\n"
     "--out may be the same file as --in: it is replaced only when everything has succeeded.\n"},
    {"eval",
     "usage: twig eval --in MODEL.twig [--data DIR]\n"
     "       twig eval --in MODEL.twig --activation-sparsity LEVELS [--layers L1,L2] [--calibration-batches N]\n"
     "                 [--batch-size B] [--out HOOKED.twig] [--data DIR]\n"
     "Test accuracy, inference time, sparsity and nonzero parameters of a saved model. Needs only the\n"
     "test files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in DIR.\n"
     "--activation-sparsity LEVELS  levels in [0, 1] separated by commas (e.g. 0,0.25,0.5,0.75,0.9): for each,\n"
     "             torch.ao's ActivationSparsifier zeroes that fraction of the input features of every Linear\n"
     "             layer (or of --layers), the ones with the smallest mean |x| over a calibration pass of the\n"
     "             first N training batches of B images (default 100 x 64, in file order); then a table: level,\n"
     "             test accuracy, and the fraction of each layer's test-set inputs that are zero as it gets them\n"
     "             (the ReLU's zeros and the mask's). The masks multiply the inputs (sparsify pre-hooks);\n"
     "             the weights are not changed. Needs the training files too\n"
     "--layers L1,L2  the Linear layers sparsified, by name (twig info shows them; default: all)\n"
     "--out HOOKED.twig  with one level: saves the model with its sparsify hooks (twig eval --in it applies\n"
     "             them)\n"},
    {"info",
     "usage: twig info FILE\n"
     "Every tensor of a safetensors file (name, dtype, shape, sparsity) and, for a .twig file, the\n"
     "module tree and its pruning hooks.\n"},
};

void print_help(const std::string& cmd, FILE* to) {
  std::fputs(kCommandHelp.at(cmd).c_str(), to);
  std::fputs(kCommonHelp, to);
}

std::string command_list() {
  std::string out;
  for (const auto& [name, help] : kCommandHelp) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Human-readable lines go to stdout, or to stderr when stdout carries the --json result.
struct Output {
  bool json_mode = false;
  FILE* text() const { return json_mode ? stderr : stdout; }
  void line(const std::string& s) const {
    std::fprintf(text(), "%s\n", s.c_str());
    std::fflush(text());
  }
};

std::string format(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof(buf), fmt, args...);
  return buf;
}

// Options every command accepts.
std::set<std::string> with_common(std::set<std::string> options) {
  options.insert("threads");
  return options;
}
std::set<std::string> with_common_switches(std::set<std::string> switches) {
  switches.insert("json");
  return switches;
}

// More threads than this only adds switching: 4 x the hardware threads.
int thread_cap() {
  unsigned hc = std::thread::hardware_concurrency();
  return 4 * static_cast<int>(hc == 0 ? 1 : hc);
}

// --threads, else TWIG_NUM_THREADS: a positive integer (a usage error otherwise), capped at
// thread_cap(). Runs before any tensor work, so the thread pool starts with the checked count.
void setup_threads(const Args& args) {
  std::string text, source;
  if (auto t = args.get("threads")) {
    text = *t;
    source = "--threads";
  } else if (const char* env = std::getenv("TWIG_NUM_THREADS"); env && *env) {
    text = env;
    source = "TWIG_NUM_THREADS";
  } else {
    return;
  }
  auto n = parse_int(text);
  if (!n || *n < 1) throw UsageError(source + " must be a positive integer, got '" + text + "'");
  if (*n > thread_cap()) {
    std::fprintf(stderr, "twig: %s %s is more than 4 x %u hardware threads; using %d\n", source.c_str(), text.c_str(),
                 std::thread::hardware_concurrency(), thread_cap());
    *n = thread_cap();
  }
  // The pool reads TWIG_NUM_THREADS when it starts: give it the checked value.
  ::setenv("TWIG_NUM_THREADS", std::to_string(*n).c_str(), 1);
  set_num_threads(static_cast<int>(*n));
}

Output common_setup(const Args& args) {
  setup_threads(args);
  return Output{args.has("json")};
}

TrainOptions train_options(const Args& args) {
  TrainOptions o;
  o.optimizer = args.get("optimizer", "adam");
  if (o.optimizer != "adam" && o.optimizer != "sgd")
    throw UsageError("--optimizer must be sgd or adam, got '" + o.optimizer + "'");
  o.lr = args.get_double("lr", o.optimizer == "adam" ? 1e-3 : 0.01);
  if (!(o.lr > 0)) throw UsageError("--lr must be positive, got " + args.get("lr", ""));
  o.momentum = args.get_double("momentum", 0.0);
  if (!(o.momentum >= 0)) throw UsageError("--momentum must be >= 0, got " + args.get("momentum", ""));
  if (args.has("momentum") && o.optimizer != "sgd") throw UsageError("--momentum is for --optimizer sgd");
  o.batch_size = args.get_int("batch-size", 64, 1, 1 << 20);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  return o;
}

// Writes text to path; RuntimeError naming it on any failure (a full disk included).
void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) TWIG_THROW(RuntimeError, "cannot write '", path, "'");
}

// Runs a save into a temporary; an error names the output the user asked for.
template <typename F>
void saving(const std::string& target, const std::string& option, F&& save) {
  try {
    save();
  } catch (const Error& e) {
    throw RuntimeError("cannot write " + option + " '" + target + "': " + e.what());
  }
}

// ---- twig train -------------------------------------------------------------------------------

int cmd_train(const std::vector<std::string>& argv) {
  Args args(argv,
            with_common(
                {"model", "epochs", "batch-size", "optimizer", "lr", "momentum", "seed", "data", "out", "state-dict"}),
            with_common_switches({}));
  Output out = common_setup(args);
  std::string model_name = args.require("model");
  if (model_name != "mlp" && model_name != "lenet")
    throw UsageError("--model must be mlp or lenet, got '" + model_name + "'");
  std::string out_path = args.require("out");
  int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  TrainOptions topt = train_options(args);
  std::string data_dir = args.get("data", data::FashionMNIST::kDefaultRoot);

  // Everything checkable before the training: the outputs, then the dataset.
  Outputs outputs;
  std::string out_tmp = outputs.file(out_path, "--out");
  std::optional<std::string> sd_path = args.get("state-dict"), sd_tmp;
  if (sd_path) sd_tmp = outputs.file(*sd_path, "--state-dict");
  FashionData data(data_dir, /*with_train=*/true);

  manual_seed(topt.seed);
  nn::ModulePtr model = make_model(model_name);
  auto opt = make_optimizer(*model, topt);
  data::DataLoader loader(*data.train, topt.batch_size, /*shuffle=*/true, /*drop_last=*/false, topt.seed);
  json epochs_json = json::array();
  EvalResult eval;
  double epoch_s = 0;
  for (int64_t e = 1; e <= epochs; ++e) {
    EpochResult r = train_epoch(*model, loader, *opt, format("epoch %lld/%lld", (long long)e, (long long)epochs));
    eval = evaluate(*model, data.test);
    epoch_s = r.seconds;
    out.line(format("epoch %lld  loss %.4f  test accuracy %.2f%%  %.2f s", (long long)e, r.loss, 100 * eval.accuracy,
                    r.seconds));
    epochs_json.push_back({{"epoch", e}, {"loss", r.loss}, {"accuracy", eval.accuracy}, {"epoch_s", r.seconds}});
  }
  saving(out_path, "--out", [&] { save_model(*model, out_tmp); });
  if (sd_path) saving(*sd_path, "--state-dict", [&] { save_weights(*model, *sd_tmp); });
  outputs.commit();
  out.line("saved " + out_path + (sd_path ? " and " + *sd_path : ""));
  if (out.json_mode) {
    json j = {{"command", "train"}, {"model", model_name},         {"accuracy", eval.accuracy},
              {"epoch_s", epoch_s}, {"inference_s", eval.seconds}, {"epochs", epochs_json},
              {"out", out_path},    {"threads", get_num_threads()}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

// ---- twig eval ----------------------------------------------------------------------------------

// "0,0.25,0.5": each level a fraction in [0, 1].
std::vector<double> parse_levels(const std::string& text) {
  std::vector<double> levels;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto level = parse_double(item);
    if (!level || !(*level >= 0.0 && *level <= 1.0))
      throw UsageError(
          "--activation-sparsity expects sparsity levels in [0, 1] separated by commas (e.g. 0,0.5,0.9), got '" + item +
          "' in '" + text + "'");
    levels.push_back(*level);
    if (comma == std::string::npos) return levels;
    start = comma + 1;
  }
}

// "fc1,fc2": layer names.
std::vector<std::string> parse_names(const std::string& text, const std::string& option) {
  std::vector<std::string> names;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    names.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (names.back().empty()) throw UsageError(option + " expects names separated by commas, got '" + text + "'");
    if (comma == std::string::npos) return names;
    start = comma + 1;
  }
}

// The --activation-sparsity table: per level, a calibrated copy of the model (activation.h), its
// test accuracy and the zeros in each layer's inputs. With out_tmp (one level) the hooked copy is
// saved there. Returns the JSON of the table.
json activation_table(const nn::Module& model, const ActivationRequest& req, const FashionData& data, const Output& out,
                      const std::optional<std::string>& out_path, const std::optional<std::string>& out_tmp) {
  std::string layers;
  for (const std::string& name : req.layers) layers += (layers.empty() ? "" : " ") + name;
  out.line(
      format("activation sparsity of the inputs of %s: masks from %lld calibration batches of %lld training images",
             layers.c_str(), (long long)req.calibration_batches, (long long)req.batch_size));
  std::string header = format("%6s %9s   zero inputs:", "level", "accuracy");
  for (const std::string& name : req.layers) header += format(" %7s", name.c_str());
  out.line(header);
  json rows = json::array();
  for (double level : req.levels) {
    SparsifiedModel sm =
        sparsify_activations(model, req.layers, level, *data.train, req.calibration_batches, req.batch_size);
    ActivationRow row = evaluate_activations(sm, req.layers, data.test);
    std::string line = format("%6.2f %8.2f%%  %12s", level, 100 * row.accuracy, "");
    json mask_zeros = json::object(), input_zeros = json::object();
    for (size_t i = 0; i < req.layers.size(); ++i) {
      line += format(" %6.1f%%", 100 * row.input_zeros[i]);
      mask_zeros[req.layers[i]] = row.mask_zeros[i];
      input_zeros[req.layers[i]] = row.input_zeros[i];
    }
    out.line(line);
    rows.push_back(
        {{"level", level}, {"accuracy", row.accuracy}, {"mask_zeros", mask_zeros}, {"input_zeros", input_zeros}});
    if (out_tmp) saving(*out_path, "--out", [&] { save_model(*sm.model, *out_tmp); });
  }
  out.line(
      "zero inputs: the fraction of each layer's inputs over the test set that are zero as the layer gets them (the "
      "ReLU's zeros and the mask's; level 0 keeps every feature)");
  return {{"layers", req.layers},
          {"calibration_batches", req.calibration_batches},
          {"batch_size", req.batch_size},
          {"aggregate", "sum of |x|"},
          {"reduce", "mean over the calibration examples"},
          {"mask", "vanilla norm: the round(level * features) smallest zeroed"},
          {"rows", rows}};
}

const char* kActivationOptions[] = {"layers", "calibration-batches", "batch-size", "out"};

int cmd_eval(const std::vector<std::string>& argv) {
  Args args(argv,
            with_common({"in", "data", "activation-sparsity", "layers", "calibration-batches", "batch-size", "out"}),
            with_common_switches({}));
  Output out = common_setup(args);
  std::string in = args.require("in");
  std::optional<ActivationRequest> areq;
  std::optional<std::string> out_path;
  if (auto levels = args.get("activation-sparsity")) {
    areq.emplace();
    areq->levels = parse_levels(*levels);
    if (auto layers = args.get("layers")) areq->layers = parse_names(*layers, "--layers");
    areq->calibration_batches = args.get_int("calibration-batches", areq->calibration_batches, 1, 1 << 30);
    areq->batch_size = args.get_int("batch-size", areq->batch_size, 1, 1 << 20);
    out_path = args.get("out");
    if (out_path && areq->levels.size() != 1)
      throw UsageError("--out saves the model sparsified at one level: give --activation-sparsity one level, not '" +
                       *levels + "'");
  } else {
    for (const char* opt : kActivationOptions)
      if (args.has(opt)) throw UsageError(std::string("--") + opt + " needs --activation-sparsity");
  }
  const std::string data_dir = args.get("data", data::FashionMNIST::kDefaultRoot);

  // Before any work: the input, the layers against it, the output, the dataset.
  nn::ModulePtr model = load_model(in);
  if (areq) {
    if (std::string problem = check_activation_layers(*model, areq->layers); !problem.empty())
      throw UsageError(problem);
    if (areq->layers.empty()) areq->layers = linear_layers(*model);
  }
  Outputs outputs;
  std::optional<std::string> out_tmp;
  if (out_path) out_tmp = outputs.file(*out_path, "--out");
  check_fashion_files(data_dir, /*with_train=*/areq.has_value());
  FashionData data(data_dir, /*with_train=*/areq.has_value());
  if (areq) {
    const int64_t full = data.train->size() / areq->batch_size;
    if (areq->calibration_batches > full)
      throw UsageError("--calibration-batches " + std::to_string(areq->calibration_batches) + " is more than the " +
                       std::to_string(full) + " full batches of " + std::to_string(areq->batch_size) +
                       " in the training set (" + std::to_string(data.train->size()) + " images)");
  }

  EvalResult r = evaluate(*model, data.test);
  Sparsity s = measure_sparsity(*model);
  out.line(format("%s: test accuracy %.2f%%  inference %.3f s  sparsity %.1f%%  nonzero parameters %lld", in.c_str(),
                  100 * r.accuracy, r.seconds, 100 * s.fraction(), (long long)s.nonzero_params));
  json j = {{"command", "eval"},
            {"in", in},
            {"accuracy", r.accuracy},
            {"inference_s", r.seconds},
            {"epoch_s", nullptr},
            {"sparsity", s.fraction()},
            {"nonzero_params", s.nonzero_params},
            {"threads", get_num_threads()}};
  if (areq) {
    j["activation_sparsity"] = activation_table(*model, *areq, data, out, out_path, out_tmp);
    if (out_path) {
      outputs.commit();
      out.line("saved " + *out_path + " (the model with its sparsify hooks at level " +
               format("%g", areq->levels.front()) + ")");
      j["activation_sparsity"]["out"] = *out_path;
    }
  }
  if (out.json_mode) std::printf("%s\n", j.dump().c_str());
  return 0;
}

// ---- twig prune ---------------------------------------------------------------------------------

std::variant<int64_t, double> parse_amount(const std::string& text) {
  // Python's int vs float: "2" prunes two units, "2.0" or "0.5" is a fraction.
  if (auto i = parse_int(text)) {
    if (*i < 0) throw UsageError("--amount must not be negative, got " + text);
    return *i;
  }
  if (auto d = parse_double(text)) {
    if (!(*d >= 0.0 && *d <= 1.0)) throw UsageError("--amount as a fraction must be in [0, 1], got " + text);
    return *d;
  }
  throw UsageError("--amount expects a count (e.g. 100) or a fraction (e.g. 0.5), got '" + text + "'");
}

NormP parse_norm(const std::string& text) {
  if (text == "fro" || text == "inf" || text == "-inf") return NormP(text);
  if (auto d = parse_double(text)) return NormP(*d);
  throw UsageError("--n expects a number, inf, -inf or fro, got '" + text + "'");
}

// The request against the model, before anything is pruned: --dim within every pruned weight's
// dims, a count --amount within the units it counts (Python raises the same ValueErrors, later).
void check_request(nn::Module& model, const PruneRequest& req, const std::string& amount_text) {
  auto targets = pruning_targets(model, req);
  if (targets.empty()) TWIG_THROW(ValueError, "the model has no conv or linear layer that ", req.method, " prunes");
  for (const auto& [name, layer] : prunable_layers(model))
    if (nn::is_parametrized(*layer, "weight"))
      throw UsageError(name +
                       ".weight has a weight_norm mask (a parametrization); make it permanent first: twig prune "
                       "--in MODEL --out MODEL --remove");
  const bool structured = req.method.find("_structured") != std::string::npos;
  int64_t total = 0;
  for (const auto& [name, w] : targets) {
    int64_t units = w.numel();
    if (structured) {
      if (req.dim < -w.dim() || req.dim >= w.dim())
        throw UsageError("--dim " + std::to_string(req.dim) + " is out of range for " + name + ".weight with " +
                         std::to_string(w.dim()) + " dims");
      units = w.size(req.dim < 0 ? req.dim + w.dim() : req.dim);
    }
    total += units;
    if (!req.global && std::holds_alternative<int64_t>(req.amount) && std::get<int64_t>(req.amount) > units)
      throw UsageError("--amount " + amount_text + " is more than the " + std::to_string(units) +
                       (structured ? " channels" : " weights") + " of " + name + ".weight along the pruned dim");
  }
  if (req.global && std::holds_alternative<int64_t>(req.amount) && std::get<int64_t>(req.amount) > total)
    throw UsageError("--amount " + amount_text + " is more than the " + std::to_string(total) +
                     " weights pruned together");
}

// "HxW" with positive H and W.
std::pair<int64_t, int64_t> parse_block(const std::string& text) {
  auto x = text.find('x');
  std::optional<int64_t> h, w;
  if (x != std::string::npos) {
    h = parse_int(text.substr(0, x));
    w = parse_int(text.substr(x + 1));
  }
  if (!h || !w || *h < 1 || *w < 1)
    throw UsageError("--block expects HxW with positive integers H and W (e.g. 1x4), got '" + text + "'");
  return {*h, *w};
}

// weight_norm's flags, checked before any work; the schedule's step count against the batches
// comes later, once the data set is read.
WeightNormRequest weight_norm_request(const Args& args, const std::string& amount_text) {
  WeightNormRequest r;
  auto level = parse_double(amount_text);
  if (!level || !(*level >= 0.0 && *level <= 1.0))
    throw UsageError("--amount for weight_norm is the sparsity level, a fraction in [0, 1], got '" + amount_text + "'");
  r.level = *level;
  std::tie(r.block_h, r.block_w) = parse_block(args.get("block", "1x4"));
  if (args.has("zeros-per-block")) r.zeros_per_block = args.get_int("zeros-per-block", 0);
  if (auto schedule = args.get("schedule")) {
    if (*schedule != "cubic") throw UsageError("--schedule must be cubic (CubicSL, AGP), got '" + *schedule + "'");
    if (!args.has("steps")) throw UsageError("--schedule cubic needs --steps N (the sparsifier steps)");
    r.steps = args.get_int("steps", 0, 1, 1 << 30);
    if (args.get_int("finetune-epochs", 0, 0, 1000) < 1)
      throw UsageError("--schedule cubic sparsifies during fine-tuning: it needs --finetune-epochs 1 or more");
  } else if (args.has("steps")) {
    throw UsageError("--steps needs --schedule cubic");
  }
  return r;
}

int cmd_prune(const std::vector<std::string>& argv) {
  Args args(argv,
            with_common({"in", "out", "method", "amount", "n", "dim", "block", "zeros-per-block", "schedule", "steps",
                         "finetune-epochs", "lr", "seed", "data", "batch-size"}),
            with_common_switches({"global", "remove", "structured"}));
  Output out = common_setup(args);
  std::string in = args.require("in"), out_path = args.require("out");
  const bool remove_only = args.has("remove") && !args.has("method") && !args.has("amount") && !args.has("structured");
  PruneRequest req;
  std::string amount_text;
  if (!remove_only) {
    req.method = args.require("method");
    static const std::set<std::string> kMethods = {"l1_unstructured",
                                                   "random_unstructured",
                                                   "ln_structured",
                                                   "random_structured",
                                                   "weight_norm",
                                                   "saliency",
                                                   "fpgm"};
    if (!kMethods.contains(req.method))
      throw UsageError(
          "--method must be one of l1_unstructured, random_unstructured, ln_structured, random_structured, "
          "weight_norm, saliency, fpgm; got '" +
          req.method + "'");
    amount_text = args.require("amount");
    if (req.method != "weight_norm" && !args.has("structured")) req.amount = parse_amount(amount_text);
  } else {
    for (const char* opt : {"global", "n", "dim", "block", "zeros-per-block", "schedule", "steps"})
      if (args.has(opt)) throw UsageError(std::string("--") + opt + " needs --method");
  }
  const bool weight_norm = req.method == "weight_norm";
  // --structured: SaliencyPruner / FPGMPruner, then prune() into a smaller model (structured.h).
  const bool shrink = args.has("structured");
  const bool shrink_method = req.method == "saliency" || req.method == "fpgm";
  std::optional<StructuredRequest> sreq;
  if (shrink_method && !shrink)
    throw UsageError("--method " + req.method +
                     " is a structured pruner that shrinks the model: it needs --structured");
  if (shrink) {
    if (!shrink_method)
      throw UsageError("--structured is for --method saliency or fpgm (the pruners that shrink the model), not " +
                       req.method);
    for (const char* opt : {"global", "n", "dim", "remove", "block", "zeros-per-block", "schedule", "steps"})
      if (args.has(opt))
        throw UsageError(std::string("--") + opt + " is not used by --structured" +
                         (std::string(opt) == "remove" ? " (the saved model has no masks to make permanent)" : ""));
    auto level = parse_double(amount_text);
    if (!level || !(*level >= 0.0 && *level < 1.0))
      throw UsageError(
          "--amount with --structured is the sparsity level, the fraction of rows removed, in [0, 1); "
          "got '" +
          amount_text + "'");
    sreq = StructuredRequest{req.method, *level};
  }
  std::optional<WeightNormRequest> wn;
  if (weight_norm) {
    wn = weight_norm_request(args, amount_text);
    if (args.has("global")) throw UsageError("--global is for the unstructured methods, not weight_norm");
  } else {
    for (const char* opt : {"block", "zeros-per-block", "schedule", "steps"})
      if (args.has(opt)) throw UsageError(std::string("--") + opt + " is for --method weight_norm");
  }
  const bool structured = req.method.find("_structured") != std::string::npos;
  req.global = args.has("global");
  if (req.global && structured)
    throw UsageError("--global works with the unstructured methods only, not " + req.method);
  if (auto n = args.get("n")) {
    if (req.method != "ln_structured") throw UsageError("--n is ln_structured's norm; not used by " + req.method);
    req.n = parse_norm(*n);
  }
  if (args.has("dim") && !structured)
    throw UsageError("--dim is for the structured methods; not used by " + req.method);
  req.dim = args.get_int("dim", 0);
  int64_t finetune = args.get_int("finetune-epochs", 0, 0, 1000);
  TrainOptions topt = train_options(args);
  std::string data_dir = args.get("data", data::FashionMNIST::kDefaultRoot);
  const bool need_data = finetune > 0 || args.has("data");

  // Before any work: the input, the request against it, the output, the dataset.
  nn::ModulePtr model = load_model(in);
  if (weight_norm) {
    if (std::string problem = check_weight_norm(*model, *wn); !problem.empty()) throw UsageError(problem);
  } else if (sreq) {
    if (std::string problem = check_structured(*model); !problem.empty()) throw UsageError(problem);
  } else if (!remove_only) {
    check_request(*model, req, amount_text);
  }
  Outputs outputs;
  std::string out_tmp = outputs.file(out_path, "--out");
  if (need_data) check_fashion_files(data_dir, finetune > 0);
  std::optional<FashionData> data;
  std::optional<data::DataLoader> loader;
  if (need_data) data.emplace(data_dir, /*with_train=*/finetune > 0);
  if (finetune > 0) loader.emplace(*data->train, topt.batch_size, true, false, topt.seed);
  const int64_t finetune_batches = loader ? finetune * static_cast<int64_t>(loader->size()) : 0;
  if (wn && wn->steps > finetune_batches)
    throw UsageError("--steps " + std::to_string(wn->steps) + " is more than the " + std::to_string(finetune_batches) +
                     " fine-tuning batches (" + std::to_string(finetune) + " epochs of " +
                     std::to_string(loader->size()) + ")");

  Sparsity before = measure_sparsity(*model);
  json result = {{"command", "prune"}, {"threads", get_num_threads()}};
  std::unique_ptr<WeightNormRun> wn_run;
  if (weight_norm) {
    wn_run = std::make_unique<WeightNormRun>(model, *wn, finetune_batches);
    result["method"] = req.method;
    result["layers"] = wn_run->layers();
    result["block"] = format("%lldx%lld", (long long)wn->block_h, (long long)wn->block_w);
    result["zeros_per_block"] = wn->zeros_per_block.value_or(wn->block_h * wn->block_w);
    result["sparsity_level"] = wn->level;
    result["schedule"] = wn->steps > 0 ? json("cubic") : json(nullptr);
    if (wn->steps == 0) {
      wn_run->step_once();
      Sparsity after = measure_sparsity(*model);
      out.line(format("sparsified weight_norm (one-shot): sparsity %.2f%% -> %.2f%%", 100 * before.fraction(),
                      100 * after.fraction()));
    } else {
      result["steps"] = wn->steps;
      out.line(format("weight_norm with the cubic schedule: %lld steps over %lld fine-tuning batches",
                      (long long)wn->steps, (long long)finetune_batches));
    }
  } else if (sreq) {
    StructuredResult sr = prune_structured(model, *sreq);
    out.line(format("pruned %s --structured %g: parameters %lld -> %lld", req.method.c_str(), sreq->level,
                    (long long)sr.params_before, (long long)sr.params_after));
    json shapes = json::object(), shapes_before = json::object();
    for (const auto& [name, shape] : sr.shapes) shapes[name] = shape;
    for (const auto& [name, shape] : sr.shapes_before) shapes_before[name] = shape;
    for (const auto& [name, shape] : sr.shapes) {
      std::string text;
      for (int64_t d : shape) text += (text.empty() ? "" : ", ") + std::to_string(d);
      out.line("  " + name + ".weight (" + text + ")");
    }
    result["method"] = req.method;
    result["structured"] = true;
    result["sparsity_level"] = sreq->level;
    result["layers"] = sr.layers;
    result["params_before"] = sr.params_before;
    result["params_after"] = sr.params_after;
    result["shapes_before"] = shapes_before;
    result["shapes"] = shapes;
  } else if (!remove_only) {
    manual_seed(topt.seed);  // the random methods draw from the default generator
    std::vector<std::string> layers = apply_pruning(*model, req);
    Sparsity after = measure_sparsity(*model);
    out.line(format("pruned %s: sparsity %.2f%% -> %.2f%%", req.method.c_str(), 100 * before.fraction(),
                    100 * after.fraction()));
    result["method"] = req.method;
    result["layers"] = layers;
  }
  if (need_data) {
    if (finetune > 0) {
      manual_seed(topt.seed);
      auto opt = make_optimizer(*model, topt);
      std::function<void()> before_batch;
      if (wn_run) before_batch = [&] { wn_run->before_batch(); };
      for (int64_t e = 1; e <= finetune; ++e) {
        EpochResult r = train_epoch(*model, *loader, *opt,
                                    format("fine-tune %lld/%lld", (long long)e, (long long)finetune), before_batch);
        out.line(format("fine-tune epoch %lld  loss %.4f  %.2f s", (long long)e, r.loss, r.seconds));
        result["epoch_s"] = r.seconds;
      }
    }
    EvalResult ev = evaluate(*model, data->test);
    out.line(format("test accuracy %.2f%%  inference %.3f s", 100 * ev.accuracy, ev.seconds));
    result["accuracy"] = ev.accuracy;
    result["inference_s"] = ev.seconds;
  }
  if (wn_run) result["levels"] = wn_run->levels();
  if (args.has("remove")) {
    if (wn_run)
      wn_run->squash();
    else
      remove_pruning(*model);
    out.line("made the pruning permanent");
  }
  Sparsity after = measure_sparsity(*model);
  result["sparsity"] = after.fraction();
  result["nonzero_params"] = after.nonzero_params;
  saving(out_path, "--out", [&] { save_model(*model, out_tmp); });
  outputs.commit();
  out.line("saved " + out_path);
  if (out.json_mode) std::printf("%s\n", result.dump().c_str());
  return 0;
}

// ---- twig info ----------------------------------------------------------------------------------

int cmd_info(const std::vector<std::string>& argv) {
  Args args(argv, with_common({}), with_common_switches({}), 1);
  Output out = common_setup(args);
  if (args.positional().empty()) throw UsageError("missing FILE");
  std::string text = describe_file(args.positional()[0], out.json_mode);
  std::fputs(text.c_str(), stdout);
  return 0;
}

// ---- twig demo ----------------------------------------------------------------------------------

struct DemoRow {
  std::string label;                // method and target, as the table shows it
  std::string method;               // dense, global_l1_unstructured, ln_structured, weight_norm
  std::optional<double> target;     // target sparsity (of the pruned weights)
  std::vector<std::string> layers;  // the layers it pruned
  std::string stem;                 // file names: STEM.twig, STEM.safetensors
  int64_t epochs = 0;               // epochs trained in all
  double sparsity = 0, accuracy = 0, inference_s = 0;
  int64_t nonzero = 0;
  int64_t steps = 0;   // weight_norm: the cubic schedule's sparsifier steps
  int64_t params = 0;  // every parameter's numel (the shrunk row's model is smaller)
  bool shrunk = false;
};

// The demo's AGP row: weight_norm 1x4 at 80% with the cubic schedule over the fine-tune epoch, in
// this many sparsifier steps (fewer when the epoch has fewer batches).
constexpr int64_t kDemoAgpSteps = 10;

const char* kInferenceNote =
    "inference runs the dense kernels on the masked weights (twig has no sparse kernels yet), so masks do not make it "
    "faster; the shrunk row's model is physically smaller (its sparsity: the dense conv/linear weights it no longer "
    "has)";

int cmd_demo(const std::vector<std::string>& argv) {
  Args args(argv, with_common({"epochs", "out", "data", "seed"}), with_common_switches({}));
  Output out = common_setup(args);
  int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  std::string dir = args.get("out", "twig-demo");
  TrainOptions topt;
  topt.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  std::string data_dir = args.get("data", data::FashionMNIST::kDefaultRoot);
  const std::vector<std::string> stems = {"lenet_dense",
                                          "lenet_global_l1_50",
                                          "lenet_global_l1_80",
                                          "lenet_global_l1_90",
                                          "lenet_ln_structured_50",
                                          "lenet_weight_norm_agp_80",
                                          "lenet_saliency_shrunk_50"};
  std::vector<std::string> names = {"results.json", "accuracy_vs_sparsity.svg"};
  for (const std::string& stem : stems) names.insert(names.end(), {stem + ".twig", stem + ".safetensors"});

  // Before any work: the output folder (and that no file the demo writes is a folder there), the data.
  Outputs outputs;
  const std::string tmp = outputs.folder(dir, "--out");
  std::error_code ec;
  for (const std::string& name : names)
    if (std::filesystem::is_directory(std::filesystem::path(dir) / name, ec))
      TWIG_THROW(RuntimeError, "cannot write --out '", dir, "': '", (std::filesystem::path(dir) / name).string(),
                 "' is a folder, and the demo writes a file there");
  FashionData data(data_dir, /*with_train=*/true);

  out.line(format(
      "twig demo: LeNet-5 on Fashion-MNIST (%lld train / %lld test), Adam lr %.0e, batch %lld, seed %llu, %d threads",
      (long long)data.train->size(), (long long)data.test.size(), topt.lr, (long long)topt.batch_size,
      (unsigned long long)topt.seed, get_num_threads()));
  manual_seed(topt.seed);
  nn::ModulePtr dense = make_model("lenet");
  {
    data::DataLoader loader(*data.train, topt.batch_size, true, false, topt.seed);
    auto opt = make_optimizer(*dense, topt);
    for (int64_t e = 1; e <= epochs; ++e) {
      EpochResult r = train_epoch(*dense, loader, *opt, format("train %lld/%lld", (long long)e, (long long)epochs));
      out.line(format("  epoch %lld  loss %.4f  %.2f s", (long long)e, r.loss, r.seconds));
    }
  }

  // Every row starts from the dense model and trains one more epoch (a fresh Adam, the same batch
  // order for every row), the pruned ones with their masks fixed: all rows trained epochs + 1.
  std::vector<DemoRow> rows;
  const Sparsity dense_sparsity = measure_sparsity(*dense);
  auto run_row = [&](DemoRow row, const std::optional<PruneRequest>& req,
                     const std::optional<WeightNormRequest>& agp = std::nullopt,
                     const std::optional<StructuredRequest>& shrink = std::nullopt) {
    nn::ModulePtr m = copy_model(*dense);
    if (req) row.layers = apply_pruning(*m, *req);
    if (shrink) {
      row.layers = prune_structured(m, *shrink).layers;
      row.shrunk = true;
    }
    data::DataLoader loader(*data.train, topt.batch_size, true, false, topt.seed + 1);
    std::unique_ptr<WeightNormRun> wn_run;
    std::function<void()> before_batch;
    if (agp) {
      wn_run = std::make_unique<WeightNormRun>(m, *agp, static_cast<int64_t>(loader.size()));
      row.layers = wn_run->layers();
      row.steps = agp->steps;
      before_batch = [&] { wn_run->before_batch(); };
    }
    auto opt = make_optimizer(*m, topt);
    EpochResult r = train_epoch(*m, loader, *opt, "fine-tune " + row.stem, before_batch);
    row.epochs = epochs + 1;
    EvalResult ev = evaluate(*m, data.test);
    Sparsity s = measure_sparsity(*m);
    row.sparsity = s.fraction();
    // The shrunk model: the fraction of the dense model's conv/linear weights it no longer has (or has as zeros).
    if (row.shrunk)
      row.sparsity =
          1.0 - static_cast<double>(s.prunable - s.prunable_zeros) / static_cast<double>(dense_sparsity.prunable);
    for (const Tensor& t : m->parameters()) row.params += t.numel();
    row.accuracy = ev.accuracy;
    row.inference_s = ev.seconds;
    row.nonzero = s.nonzero_params;
    out.line(format("  %-36s loss %.4f  sparsity %5.1f%%  accuracy %.2f%%  %.2f s", row.label.c_str(), r.loss,
                    100 * row.sparsity, 100 * row.accuracy, r.seconds));
    save_model(*m, tmp + "/" + row.stem + ".twig");
    save_weights(*m, tmp + "/" + row.stem + ".safetensors");
    rows.push_back(row);
  };
  run_row({"dense (no pruning)", "dense", std::nullopt, {}, "lenet_dense"}, std::nullopt);
  for (int target : {50, 80, 90}) {
    PruneRequest req;
    req.method = "l1_unstructured";
    req.global = true;
    req.amount = target / 100.0;  // of all conv/linear weights together
    run_row({format("global L1 unstructured %d%%", target),
             "global_l1_unstructured",
             target / 100.0,
             {},
             format("lenet_global_l1_%d", target)},
            req);
  }
  {
    PruneRequest req;
    req.method = "ln_structured";
    req.amount = 0.5;  // of the output channels of each layer but the last
    req.n = NormP(2.0);
    req.dim = 0;
    std::string layers;
    for (const auto& [name, w] : pruning_targets(*dense, req)) layers += (layers.empty() ? "" : " ") + name;
    run_row({"L2 structured 50% (" + layers + ")", "ln_structured", 0.5, {}, "lenet_ln_structured_50"}, req);
  }
  {
    // AGP: the sparsity rises during the fine-tune epoch, the other rows start it pruned.
    WeightNormRequest agp;
    agp.level = 0.8;
    agp.block_h = 1;
    agp.block_w = 4;
    agp.steps = std::min<int64_t>(kDemoAgpSteps, (data.train->size() + topt.batch_size - 1) / topt.batch_size);
    std::string layers;
    for (const auto& [name, w] : weight_norm_targets(*dense)) layers += (layers.empty() ? "" : " ") + name;
    run_row({"weight_norm 1x4 80% AGP (" + layers + ")", "weight_norm", 0.8, {}, "lenet_weight_norm_agp_80"},
            std::nullopt, agp);
  }
  {
    // Shrunk: SaliencyPruner at 50% of the rows, prune() into a smaller LeNet-5, then the fine-tune epoch.
    StructuredRequest shrink{"saliency", 0.5};
    std::string layers;
    for (const std::string& name : structured_targets(*dense)) layers += (layers.empty() ? "" : " ") + name;
    run_row({"saliency 50% shrunk (" + layers + ")", "saliency_structured", 0.5, {}, "lenet_saliency_shrunk_50"},
            std::nullopt, std::nullopt, shrink);
  }

  // The table, the plot, the JSON.
  out.line("");
  out.line(
      format("every row trained %lld epochs: %lld dense + 1 fine-tune (pruned rows with their masks fixed; the "
             "AGP row sparsifying during it)",
             (long long)epochs + 1, (long long)epochs));
  int label_w = 30;
  for (const DemoRow& r : rows) label_w = std::max(label_w, static_cast<int>(r.label.size()));
  out.line(format("%-*s %6s %9s %9s %10s %15s %13s", label_w, "row (method, target sparsity)", "target", "sparsity",
                  "accuracy", "params", "nonzero params", "inference s*"));
  json runs = json::array();
  for (const DemoRow& r : rows) {
    std::string target = r.target ? format("%.0f%%", 100 * *r.target) : "-";
    out.line(format("%-*s %6s %8.1f%% %8.2f%% %10lld %15lld %13.3f", label_w, r.label.c_str(), target.c_str(),
                    100 * r.sparsity, 100 * r.accuracy, (long long)r.params, (long long)r.nonzero, r.inference_s));
    runs.push_back({{"label", r.label},
                    {"method", r.method},
                    {"target_sparsity", r.target ? json(*r.target) : json(nullptr)},
                    {"layers", r.layers},
                    {"epochs", r.epochs},
                    {"sparsity", r.sparsity},
                    {"accuracy", r.accuracy},
                    {"nonzero_params", r.nonzero},
                    {"params", r.params},
                    {"shrunk", r.shrunk},
                    {"inference_s", r.inference_s},
                    {"model", r.stem + ".twig"},
                    {"state_dict", r.stem + ".safetensors"}});
    if (r.method == "weight_norm") {
      runs.back()["block"] = "1x4";
      runs.back()["schedule"] = "cubic";
      runs.back()["steps"] = r.steps;
    }
  }
  out.line(std::string("* ") + kInferenceNote + ".");

  auto layer_list = [&](const std::string& method) {
    std::string out;
    for (const DemoRow& r : rows)
      if (r.method == method)
        for (const std::string& layer : r.layers) out += (out.empty() ? "" : " ") + layer;
    return out;
  };
  PlotSeries l1{"global L1 unstructured", "#1f77b4", {}};
  PlotSeries ln{"L2 structured, dim 0 (" + layer_list("ln_structured") + ")", "#d62728", {}};
  PlotSeries wn{"weight_norm 1x4, AGP cubic (" + layer_list("weight_norm") + ")", "#2ca02c", {}};
  PlotSeries sh{"saliency 50%, shrunk (" + layer_list("saliency_structured") + ")", "#9467bd", {}};
  l1.points.push_back({rows[0].sparsity, rows[0].accuracy, format("dense %.1f%%", 100 * rows[0].accuracy)});
  ln.points.push_back({rows[0].sparsity, rows[0].accuracy, ""});
  wn.points.push_back({rows[0].sparsity, rows[0].accuracy, ""});
  sh.points.push_back({rows[0].sparsity, rows[0].accuracy, ""});
  for (size_t i = 1; i < rows.size(); ++i) {
    PlotPoint p{rows[i].sparsity, rows[i].accuracy, format("%.1f%%", 100 * rows[i].accuracy)};
    const std::string& m = rows[i].method;
    (m == "ln_structured" ? ln : m == "weight_norm" ? wn : m == "saliency_structured" ? sh : l1).points.push_back(p);
  }
  write_text_file(
      tmp + "/accuracy_vs_sparsity.svg",
      accuracy_plot_svg({l1, ln, wn, sh}, "LeNet-5 on Fashion-MNIST: test accuracy after pruning",
                        format("every model trained %lld epochs (%lld + 1 fine-tune: masks fixed, or rising with AGP)",
                               (long long)epochs + 1, (long long)epochs)));
  json result = {{"command", "demo"},
                 {"epochs", epochs},
                 {"finetune_epochs", 1},
                 {"epochs_per_row", epochs + 1},
                 {"seed", topt.seed},
                 {"threads", get_num_threads()},
                 {"out", dir},
                 {"inference_kernels", "dense"},
                 {"inference_note", kInferenceNote},
                 {"runs", runs}};
  write_text_file(tmp + "/results.json", result.dump(2) + "\n");
  outputs.commit();
  out.line("wrote " + dir + "/ (models, state dicts, accuracy_vs_sparsity.svg, results.json)");
  if (out.json_mode) std::printf("%s\n", result.dump().c_str());
  return 0;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

}  // namespace
}  // namespace twig::cli

int main(int argc, char** argv) {
  using namespace twig::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string cmd = args[0];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    if (args.size() > 1 && kCommandHelp.contains(args[1])) {
      print_help(args[1], stdout);
    } else {
      std::fputs(kUsage, stdout);
      std::fputs(kCommonHelp, stdout);
    }
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    std::printf("twig %s\n", TWIG_VERSION);
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (kCommandHelp.contains(cmd)) {
    for (const std::string& a : rest) {
      if (a == "--help" || a == "-h") {
        print_help(cmd, stdout);
        return 0;
      }
    }
  }
  try {
    register_model_types();
    if (cmd == "demo") return cmd_demo(rest);
    if (cmd == "train") return cmd_train(rest);
    if (cmd == "prune") return cmd_prune(rest);
    if (cmd == "eval") return cmd_eval(rest);
    if (cmd == "info") return cmd_info(rest);
    std::fprintf(stderr, "twig: unknown command '%s'; the commands are %s\n%s", cmd.c_str(), command_list().c_str(),
                 kUsage);
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "twig %s: %s\n(twig %s --help for its options)\n", cmd.c_str(), e.what(), cmd.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twig %s: error: %s\n", cmd.c_str(), one_line(e.what()).c_str());
    return 1;
  }
}
