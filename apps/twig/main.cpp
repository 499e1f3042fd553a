// twig: train, prune, fine-tune and evaluate models on Fashion-MNIST from the command line.
//
//   twig demo  [--epochs N] [--out DIR] [--data DIR] [--seed S]
//   twig train --model {mlp,lenet} --out MODEL.twig [--epochs N] [--batch-size B] [--optimizer {sgd,adam}]
//              [--lr X] [--momentum M] [--seed S] [--data DIR] [--state-dict FILE.safetensors]
//   twig prune --in MODEL.twig --out MODEL.twig [--method M --amount A] [--global] [--n N] [--dim D]
//              [--finetune-epochs E] [--remove] [--lr X] [--seed S] [--data DIR]
//   twig eval  --in MODEL.twig [--data DIR]
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
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "apps/twig/args.h"
#include "apps/twig/fashion.h"
#include "apps/twig/model_ops.h"
#include "apps/twig/outputs.h"
#include "apps/twig/svg_plot.h"
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
    "  eval   test accuracy, sparsity and inference time of a saved model\n"
    "  info   the tensors, module tree and pruning hooks of a .twig or .safetensors file\n"
    "  twig --version, twig --help\n";

const std::map<std::string, std::string> kCommandHelp = {
    {"demo",
     "usage: twig demo [--epochs N] [--out DIR] [--data DIR] [--seed S]\n"
     "Trains LeNet-5 on Fashion-MNIST for N epochs (default 3; Adam lr 1e-3, batch 64, seed S, default 0).\n"
     "From that model it prunes with global L1 unstructured to 50, 80 and 90% sparsity and with L2\n"
     "structured pruning (dim 0) of 50% of the channels of every conv/linear layer but the last, and\n"
     "fine-tunes each one epoch with the masks fixed; the dense row gets the same extra epoch, so every\n"
     "row has trained N+1 epochs. Prints a table and writes DIR (default twig-demo): the models (.twig),\n"
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
     "                  [--dim D] [--finetune-epochs E] [--remove] [--lr X] [--seed S] [--data DIR]\n"
     "--method     l1_unstructured, random_unstructured (every conv/linear weight; --global: all\n"
     "             together), ln_structured, random_structured (every conv/linear weight but the last)\n"
     "--amount A   a count of units per tensor (2) or a fraction of them (0.5, 2.0), as in Python\n"
     "--n N        ln_structured's norm: a number, inf, -inf or fro (default 2)\n"
     "--dim D      the structured methods' dim (default 0: output channels)\n"
     "--seed S     seeds the random methods and the fine-tuning (default 0)\n"
     "--finetune-epochs E  trains E epochs with the masks fixed (Adam, --lr, default 1e-3)\n"
     "--remove     makes the pruning permanent (prune.remove); alone, without --method, it only does that\n"
     "--data DIR   with it (or with fine-tuning) the test accuracy is measured\n"
     "--out may be the same file as --in: it is replaced only when everything has succeeded.\n"},
    {"eval",
     "usage: twig eval --in MODEL.twig [--data DIR]\n"
     "Test accuracy, inference time, sparsity and nonzero parameters of a saved model. Needs only the\n"
     "test files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in DIR.\n"},
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

int cmd_eval(const std::vector<std::string>& argv) {
  Args args(argv, with_common({"in", "data"}), with_common_switches({}));
  Output out = common_setup(args);
  std::string in = args.require("in");
  nn::ModulePtr model = load_model(in);
  FashionData data(args.get("data", data::FashionMNIST::kDefaultRoot), /*with_train=*/false);
  EvalResult r = evaluate(*model, data.test);
  Sparsity s = measure_sparsity(*model);
  out.line(format("%s: test accuracy %.2f%%  inference %.3f s  sparsity %.1f%%  nonzero parameters %lld", in.c_str(),
                  100 * r.accuracy, r.seconds, 100 * s.fraction(), (long long)s.nonzero_params));
  if (out.json_mode) {
    json j = {{"command", "eval"},
              {"in", in},
              {"accuracy", r.accuracy},
              {"inference_s", r.seconds},
              {"epoch_s", nullptr},
              {"sparsity", s.fraction()},
              {"nonzero_params", s.nonzero_params},
              {"threads", get_num_threads()}};
    std::printf("%s\n", j.dump().c_str());
  }
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

int cmd_prune(const std::vector<std::string>& argv) {
  Args args(
      argv,
      with_common({"in", "out", "method", "amount", "n", "dim", "finetune-epochs", "lr", "seed", "data", "batch-size"}),
      with_common_switches({"global", "remove"}));
  Output out = common_setup(args);
  std::string in = args.require("in"), out_path = args.require("out");
  const bool remove_only = args.has("remove") && !args.has("method") && !args.has("amount");
  PruneRequest req;
  std::string amount_text;
  if (!remove_only) {
    req.method = args.require("method");
    static const std::set<std::string> kMethods = {"l1_unstructured", "random_unstructured", "ln_structured",
                                                   "random_structured"};
    if (!kMethods.contains(req.method))
      throw UsageError(
          "--method must be one of l1_unstructured, random_unstructured, ln_structured, random_structured; got '" +
          req.method + "'");
    amount_text = args.require("amount");
    req.amount = parse_amount(amount_text);
  } else {
    for (const char* opt : {"global", "n", "dim"})
      if (args.has(opt)) throw UsageError(std::string("--") + opt + " needs --method");
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
  if (!remove_only) check_request(*model, req, amount_text);
  Outputs outputs;
  std::string out_tmp = outputs.file(out_path, "--out");
  if (need_data) check_fashion_files(data_dir, finetune > 0);

  Sparsity before = measure_sparsity(*model);
  json result = {{"command", "prune"}, {"threads", get_num_threads()}};
  if (!remove_only) {
    manual_seed(topt.seed);  // the random methods draw from the default generator
    std::vector<std::string> layers = apply_pruning(*model, req);
    Sparsity after = measure_sparsity(*model);
    out.line(format("pruned %s: sparsity %.2f%% -> %.2f%%", req.method.c_str(), 100 * before.fraction(),
                    100 * after.fraction()));
    result["method"] = req.method;
    result["layers"] = layers;
  }
  if (need_data) {
    FashionData data(data_dir, /*with_train=*/finetune > 0);
    if (finetune > 0) {
      manual_seed(topt.seed);
      data::DataLoader loader(*data.train, topt.batch_size, true, false, topt.seed);
      auto opt = make_optimizer(*model, topt);
      for (int64_t e = 1; e <= finetune; ++e) {
        EpochResult r =
            train_epoch(*model, loader, *opt, format("fine-tune %lld/%lld", (long long)e, (long long)finetune));
        out.line(format("fine-tune epoch %lld  loss %.4f  %.2f s", (long long)e, r.loss, r.seconds));
        result["epoch_s"] = r.seconds;
      }
    }
    EvalResult ev = evaluate(*model, data.test);
    out.line(format("test accuracy %.2f%%  inference %.3f s", 100 * ev.accuracy, ev.seconds));
    result["accuracy"] = ev.accuracy;
    result["inference_s"] = ev.seconds;
  }
  if (args.has("remove")) {
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
  std::string method;               // dense, global_l1_unstructured, ln_structured
  std::optional<double> target;     // target sparsity (of the pruned weights)
  std::vector<std::string> layers;  // the layers it pruned
  std::string stem;                 // file names: STEM.twig, STEM.safetensors
  int64_t epochs = 0;               // epochs trained in all
  double sparsity = 0, accuracy = 0, inference_s = 0;
  int64_t nonzero = 0;
};

const char* kInferenceNote =
    "inference runs the dense kernels on the masked weights (twig has no sparse kernels yet), so pruning does not make "
    "it faster";

int cmd_demo(const std::vector<std::string>& argv) {
  Args args(argv, with_common({"epochs", "out", "data", "seed"}), with_common_switches({}));
  Output out = common_setup(args);
  int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  std::string dir = args.get("out", "twig-demo");
  TrainOptions topt;
  topt.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  std::string data_dir = args.get("data", data::FashionMNIST::kDefaultRoot);
  const std::vector<std::string> stems = {"lenet_dense", "lenet_global_l1_50", "lenet_global_l1_80",
                                          "lenet_global_l1_90", "lenet_ln_structured_50"};
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
  auto run_row = [&](DemoRow row, const std::optional<PruneRequest>& req) {
    nn::ModulePtr m = copy_model(*dense);
    if (req) row.layers = apply_pruning(*m, *req);
    data::DataLoader loader(*data.train, topt.batch_size, true, false, topt.seed + 1);
    auto opt = make_optimizer(*m, topt);
    EpochResult r = train_epoch(*m, loader, *opt, "fine-tune " + row.stem);
    row.epochs = epochs + 1;
    EvalResult ev = evaluate(*m, data.test);
    Sparsity s = measure_sparsity(*m);
    row.sparsity = s.fraction();
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

  // The table, the plot, the JSON.
  out.line("");
  out.line(format("every row trained %lld epochs: %lld dense + 1 fine-tune (pruned rows with their masks fixed)",
                  (long long)epochs + 1, (long long)epochs));
  int label_w = 30;
  for (const DemoRow& r : rows) label_w = std::max(label_w, static_cast<int>(r.label.size()));
  out.line(format("%-*s %6s %9s %9s %15s %13s", label_w, "row (method, target sparsity)", "target", "sparsity",
                  "accuracy", "nonzero params", "inference s*"));
  json runs = json::array();
  for (const DemoRow& r : rows) {
    std::string target = r.target ? format("%.0f%%", 100 * *r.target) : "-";
    out.line(format("%-*s %6s %8.1f%% %8.2f%% %15lld %13.3f", label_w, r.label.c_str(), target.c_str(),
                    100 * r.sparsity, 100 * r.accuracy, (long long)r.nonzero, r.inference_s));
    runs.push_back({{"label", r.label},
                    {"method", r.method},
                    {"target_sparsity", r.target ? json(*r.target) : json(nullptr)},
                    {"layers", r.layers},
                    {"epochs", r.epochs},
                    {"sparsity", r.sparsity},
                    {"accuracy", r.accuracy},
                    {"nonzero_params", r.nonzero},
                    {"inference_s", r.inference_s},
                    {"model", r.stem + ".twig"},
                    {"state_dict", r.stem + ".safetensors"}});
  }
  out.line(std::string("* ") + kInferenceNote + ".");

  PlotSeries l1{"global L1 unstructured", "#1f77b4", {}};
  std::string ln_layers;
  for (const std::string& layer : rows.back().layers) ln_layers += (ln_layers.empty() ? "" : " ") + layer;
  PlotSeries ln{"L2 structured, dim 0 (" + ln_layers + ")", "#d62728", {}};
  l1.points.push_back({rows[0].sparsity, rows[0].accuracy, format("dense %.1f%%", 100 * rows[0].accuracy)});
  ln.points.push_back({rows[0].sparsity, rows[0].accuracy, ""});
  for (size_t i = 1; i < rows.size(); ++i) {
    PlotPoint p{rows[i].sparsity, rows[i].accuracy, format("%.1f%%", 100 * rows[i].accuracy)};
    (rows[i].method == "ln_structured" ? ln : l1).points.push_back(p);
  }
  write_text_file(tmp + "/accuracy_vs_sparsity.svg",
                  accuracy_plot_svg({l1, ln}, "LeNet-5 on Fashion-MNIST: test accuracy after pruning",
                                    format("every model trained %lld epochs (%lld + 1 fine-tune with the masks fixed)",
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
