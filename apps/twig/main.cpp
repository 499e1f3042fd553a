// twig: train, prune, fine-tune and evaluate models on Fashion-MNIST from the command line.
//
//   twig demo  [--epochs N] [--out DIR] [--data DIR] [--seed S]
//   twig train --model {mlp,lenet} --out MODEL.twig [--epochs N] [--batch-size B] [--optimizer {sgd,adam}]
//              [--lr X] [--momentum M] [--seed S] [--data DIR] [--state-dict FILE.safetensors]
//   twig prune --in MODEL.twig --method M --amount A --out MODEL.twig [--global] [--n N] [--dim D]
//              [--finetune-epochs E] [--remove] [--lr X] [--seed S] [--data DIR]
//   twig eval  --in MODEL.twig [--data DIR]
//   twig info  FILE
// Everywhere: --threads N, --json (one JSON object on stdout). Exit status 0 on success, 2 on a
// usage error, 1 on any other error (one line on stderr naming the problem).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "apps/twig/args.h"
#include "apps/twig/fashion.h"
#include "apps/twig/model_ops.h"
#include "apps/twig/svg_plot.h"
#include "tensor/error.h"
#include "tensor/parallel.h"
#include "tensor/random.h"

using json = nlohmann::json;

namespace twig::cli {
namespace {

const char* kUsage =
    "usage: twig <command> [options]   (--threads N and --json everywhere)\n"
    "  twig demo  [--epochs N] [--out DIR] [--data DIR] [--seed S]\n"
    "  twig train --model {mlp,lenet} --out MODEL.twig [--epochs N] [--batch-size B] [--optimizer {sgd,adam}]\n"
    "             [--lr X] [--momentum M] [--seed S] [--data DIR] [--state-dict FILE.safetensors]\n"
    "  twig prune --in MODEL.twig --method {l1_unstructured,random_unstructured,ln_structured,random_structured}\n"
    "             --amount A --out MODEL.twig [--global] [--n N] [--dim D] [--finetune-epochs E] [--remove]\n"
    "             [--lr X] [--seed S] [--data DIR]\n"
    "  twig eval  --in MODEL.twig [--data DIR]\n"
    "  twig info  FILE\n";

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

Output common_setup(const Args& args) {
  if (args.has("threads")) set_num_threads(static_cast<int>(args.get_int("threads", 1, 1, 1024)));
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
  o.batch_size = args.get_int("batch-size", 64, 1, 1 << 20);
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));
  return o;
}

// Output files of a command: made atomically by the serializer, and removed again if the
// command fails later, so a failed run leaves no partial results behind.
class OutputFiles {
 public:
  ~OutputFiles() {
    if (committed_) return;
    std::error_code ec;
    for (auto it = files_.rbegin(); it != files_.rend(); ++it) std::filesystem::remove(*it, ec);
    if (!made_dir_.empty()) std::filesystem::remove(made_dir_, ec);  // only if it is empty again
  }
  void make_dir(const std::string& dir) {
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    if (!std::filesystem::create_directories(dir, ec) || ec)
      TWIG_THROW(RuntimeError, "cannot create output folder '", dir, "': ", ec ? ec.message() : "exists and is not a folder");
    made_dir_ = dir;
  }
  // Registers path before it is written (a file that already existed is replaced atomically and
  // is only removed on failure if this run wrote it).
  const std::string& add(const std::string& path) {
    files_.push_back(path);
    return files_.back();
  }
  void commit() { committed_ = true; }

 private:
  std::vector<std::string> files_;
  std::string made_dir_;
  bool committed_ = false;
};

void write_text_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) TWIG_THROW(RuntimeError, "cannot write '", path, "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    TWIG_THROW(RuntimeError, "cannot write '", path, "'");
  }
}

void check_writable_target(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(parent, ec)) TWIG_THROW(RuntimeError, "output folder '", parent.string(), "' does not exist");
}

// ---- twig train -------------------------------------------------------------------------------

int cmd_train(const std::vector<std::string>& argv) {
  Args args(argv, with_common({"model", "epochs", "batch-size", "optimizer", "lr", "momentum", "seed", "data", "out", "state-dict"}),
            with_common_switches({}));
  Output out = common_setup(args);
  std::string model_name = args.require("model");
  if (model_name != "mlp" && model_name != "lenet") throw UsageError("--model must be mlp or lenet, got '" + model_name + "'");
  std::string out_path = args.require("out");
  int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  TrainOptions topt = train_options(args);
  check_writable_target(out_path);
  if (auto sd = args.get("state-dict")) check_writable_target(*sd);

  FashionData data(args.get("data", data::FashionMNIST::kDefaultRoot));
  manual_seed(topt.seed);
  nn::ModulePtr model = make_model(model_name);
  auto opt = make_optimizer(*model, topt);
  data::DataLoader loader(data.train, topt.batch_size, /*shuffle=*/true, /*drop_last=*/false, topt.seed);
  json epochs_json = json::array();
  EvalResult eval;
  double epoch_s = 0;
  for (int64_t e = 1; e <= epochs; ++e) {
    EpochResult r = train_epoch(*model, loader, *opt, format("epoch %lld/%lld", (long long)e, (long long)epochs));
    eval = evaluate(*model, data.test);
    epoch_s = r.seconds;
    out.line(format("epoch %lld  loss %.4f  test accuracy %.2f%%  %.2f s", (long long)e, r.loss, 100 * eval.accuracy, r.seconds));
    epochs_json.push_back({{"epoch", e}, {"loss", r.loss}, {"accuracy", eval.accuracy}, {"epoch_s", r.seconds}});
  }
  OutputFiles files;
  save_model(*model, files.add(out_path));
  if (auto sd = args.get("state-dict")) save_weights(*model, files.add(*sd));
  files.commit();
  out.line("saved " + out_path);
  if (out.json_mode) {
    json j = {{"command", "train"}, {"model", model_name}, {"accuracy", eval.accuracy}, {"epoch_s", epoch_s},
              {"inference_s", eval.seconds}, {"epochs", epochs_json}, {"out", out_path}};
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
  FashionData data(args.get("data", data::FashionMNIST::kDefaultRoot));
  EvalResult r = evaluate(*model, data.test);
  Sparsity s = measure_sparsity(*model);
  out.line(format("%s: test accuracy %.2f%%  inference %.3f s  sparsity %.1f%%  nonzero parameters %lld", in.c_str(),
                  100 * r.accuracy, r.seconds, 100 * s.fraction(), (long long)s.nonzero_params));
  if (out.json_mode) {
    json j = {{"command", "eval"}, {"in", in}, {"accuracy", r.accuracy}, {"inference_s", r.seconds}, {"epoch_s", nullptr},
              {"sparsity", s.fraction()}, {"nonzero_params", s.nonzero_params}};
    std::printf("%s\n", j.dump().c_str());
  }
  return 0;
}

// ---- twig prune ---------------------------------------------------------------------------------

std::variant<int64_t, double> parse_amount(const std::string& text) {
  // Python's int vs float: "2" prunes two units, "2.0" or "0.5" is a fraction.
  if (auto i = parse_int(text)) return *i;
  if (auto d = parse_double(text)) return *d;
  throw UsageError("--amount expects a count (e.g. 100) or a fraction (e.g. 0.5), got '" + text + "'");
}

int cmd_prune(const std::vector<std::string>& argv) {
  Args args(argv,
            with_common({"in", "out", "method", "amount", "n", "dim", "finetune-epochs", "lr", "seed", "data", "batch-size"}),
            with_common_switches({"global", "remove"}));
  Output out = common_setup(args);
  std::string in = args.require("in"), out_path = args.require("out");
  PruneRequest req;
  req.method = args.require("method");
  static const std::set<std::string> kMethods = {"l1_unstructured", "random_unstructured", "ln_structured", "random_structured"};
  if (!kMethods.contains(req.method)) throw UsageError("--method must be one of l1_unstructured, random_unstructured, ln_structured, random_structured; got '" + req.method + "'");
  req.amount = parse_amount(args.require("amount"));
  req.global = args.has("global");
  if (req.global && req.method.find("structured") != std::string::npos && req.method.find("unstructured") == std::string::npos)
    throw UsageError("--global works with the unstructured methods only, not " + req.method);
  if (auto n = args.get("n")) {
    if (*n == "inf") req.n = INFINITY;
    else if (*n == "-inf") req.n = -INFINITY;
    else req.n = args.get_double("n", 2.0);
  }
  req.dim = args.get_int("dim", 0);
  int64_t finetune = args.get_int("finetune-epochs", 0, 0, 1000);
  TrainOptions topt = train_options(args);
  check_writable_target(out_path);

  nn::ModulePtr model = load_model(in);
  Sparsity before = measure_sparsity(*model);
  apply_pruning(*model, req);
  Sparsity after = measure_sparsity(*model);
  out.line(format("pruned %s: sparsity %.2f%% -> %.2f%%", req.method.c_str(), 100 * before.fraction(), 100 * after.fraction()));
  json result = {{"command", "prune"}, {"method", req.method}, {"sparsity", after.fraction()}, {"nonzero_params", after.nonzero_params}};
  if (finetune > 0 || args.has("data")) {
    FashionData data(args.get("data", data::FashionMNIST::kDefaultRoot));
    manual_seed(topt.seed);
    data::DataLoader loader(data.train, topt.batch_size, true, false, topt.seed);
    auto opt = make_optimizer(*model, topt);
    for (int64_t e = 1; e <= finetune; ++e) {
      EpochResult r = train_epoch(*model, loader, *opt, format("fine-tune %lld/%lld", (long long)e, (long long)finetune));
      out.line(format("fine-tune epoch %lld  loss %.4f  %.2f s", (long long)e, r.loss, r.seconds));
      result["epoch_s"] = r.seconds;
    }
    EvalResult ev = evaluate(*model, data.test);
    out.line(format("test accuracy %.2f%%  inference %.3f s", 100 * ev.accuracy, ev.seconds));
    result["accuracy"] = ev.accuracy;
    result["inference_s"] = ev.seconds;
  }
  if (args.has("remove")) remove_pruning(*model);
  OutputFiles files;
  save_model(*model, files.add(out_path));
  files.commit();
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
  std::string method;
  double sparsity, accuracy, inference_s;
  int64_t nonzero;
};

int cmd_demo(const std::vector<std::string>& argv) {
  Args args(argv, with_common({"epochs", "out", "data", "seed"}), with_common_switches({}));
  Output out = common_setup(args);
  int64_t epochs = args.get_int("epochs", 3, 1, 1000);
  std::string dir = args.get("out", "twig-demo");
  TrainOptions topt;
  topt.seed = static_cast<uint64_t>(args.get_int("seed", 0, 0));

  FashionData data(args.get("data", data::FashionMNIST::kDefaultRoot));
  OutputFiles files;
  files.make_dir(dir);
  auto path = [&](const std::string& name) { return files.add((std::filesystem::path(dir) / name).string()); };

  out.line(format("twig demo: LeNet-5 on Fashion-MNIST (%lld train / %lld test), Adam lr %.0e, batch %lld, seed %llu, %d threads",
                  (long long)data.train.size(), (long long)data.test.size(), topt.lr, (long long)topt.batch_size,
                  (unsigned long long)topt.seed, get_num_threads()));
  manual_seed(topt.seed);
  nn::ModulePtr model = make_model("lenet");
  data::DataLoader loader(data.train, topt.batch_size, true, false, topt.seed);
  {
    auto opt = make_optimizer(*model, topt);
    for (int64_t e = 1; e <= epochs; ++e) {
      EpochResult r = train_epoch(*model, loader, *opt, format("train %lld/%lld", (long long)e, (long long)epochs));
      out.line(format("  epoch %lld  loss %.4f  %.2f s", (long long)e, r.loss, r.seconds));
    }
  }
  std::vector<DemoRow> rows;
  auto record = [&](const std::string& method, nn::Module& m) {
    EvalResult ev = evaluate(m, data.test);
    Sparsity s = measure_sparsity(m);
    rows.push_back({method, s.fraction(), ev.accuracy, ev.seconds, s.nonzero_params});
    out.line(format("  %-22s sparsity %5.1f%%  accuracy %.2f%%", method.c_str(), 100 * s.fraction(), 100 * ev.accuracy));
  };
  record("dense", *model);
  save_model(*model, path("lenet_dense.twig"));
  save_weights(*model, path("lenet_dense.safetensors"));

  // Global L1 to 50, 80, 90%: each step prunes the count that brings the total to the target
  // (later masks only prune what is still unpruned), then fine-tunes one epoch with the mask fixed.
  nn::ModulePtr pruned = copy_model(*model);
  for (double target : {0.5, 0.8, 0.9}) {
    Sparsity s = measure_sparsity(*pruned);
    PruneRequest req;
    req.method = "l1_unstructured";
    req.global = true;
    req.amount = static_cast<int64_t>(std::llround(target * static_cast<double>(s.prunable))) - s.prunable_zeros;
    apply_pruning(*pruned, req);
    auto opt = make_optimizer(*pruned, topt);
    std::string name = format("global_l1_%.0f", 100 * target);
    EpochResult r = train_epoch(*pruned, loader, *opt, "fine-tune " + name);
    out.line(format("  fine-tuned %s: loss %.4f  %.2f s", name.c_str(), r.loss, r.seconds));
    record("global L1 unstructured", *pruned);
    save_model(*pruned, path("lenet_" + name + ".twig"));
    save_weights(*pruned, path("lenet_" + name + ".safetensors"));
  }

  // ln_structured (n=2, dim=0) at 50% on every conv/linear except the last, from the dense model.
  nn::ModulePtr structured = copy_model(*model);
  {
    PruneRequest req;
    req.method = "ln_structured";
    req.amount = 0.5;
    req.n = 2;
    req.dim = 0;
    apply_pruning(*structured, req);
    auto opt = make_optimizer(*structured, topt);
    EpochResult r = train_epoch(*structured, loader, *opt, "fine-tune ln_structured");
    out.line(format("  fine-tuned ln_structured_50: loss %.4f  %.2f s", r.loss, r.seconds));
    record("L2 structured (dim 0)", *structured);
    save_model(*structured, path("lenet_ln_structured_50.twig"));
    save_weights(*structured, path("lenet_ln_structured_50.safetensors"));
  }

  // The table, the plot, the JSON.
  out.line("");
  out.line(format("%-24s %9s %9s %15s %12s", "method", "sparsity", "accuracy", "nonzero params", "inference s"));
  json runs = json::array();
  for (const DemoRow& r : rows) {
    out.line(format("%-24s %8.1f%% %8.2f%% %15lld %12.3f", r.method.c_str(), 100 * r.sparsity, 100 * r.accuracy,
                    (long long)r.nonzero, r.inference_s));
    runs.push_back({{"method", r.method}, {"sparsity", r.sparsity}, {"accuracy", r.accuracy}, {"nonzero_params", r.nonzero},
                    {"inference_s", r.inference_s}});
  }
  PlotSeries l1{"global L1 unstructured", "#1f77b4", {}}, ln{"L2 structured, dim 0", "#d62728", {}};
  l1.points.push_back({rows[0].sparsity, rows[0].accuracy, format("dense %.1f%%", 100 * rows[0].accuracy)});
  for (size_t i = 1; i < rows.size(); ++i) {
    PlotPoint p{rows[i].sparsity, rows[i].accuracy, format("%.1f%%", 100 * rows[i].accuracy)};
    (rows[i].method == "global L1 unstructured" ? l1 : ln).points.push_back(p);
  }
  write_text_file(path("accuracy_vs_sparsity.svg"),
                  accuracy_plot_svg({l1, ln}, "LeNet-5 on Fashion-MNIST: accuracy after pruning + 1 fine-tune epoch"));
  json result = {{"command", "demo"}, {"epochs", epochs}, {"seed", topt.seed}, {"threads", get_num_threads()}, {"out", dir}, {"runs", runs}};
  write_text_file(path("results.json"), result.dump(2) + "\n");
  files.commit();
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
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  try {
    register_model_types();
    if (cmd == "demo") return cmd_demo(rest);
    if (cmd == "train") return cmd_train(rest);
    if (cmd == "prune") return cmd_prune(rest);
    if (cmd == "eval") return cmd_eval(rest);
    if (cmd == "info") return cmd_info(rest);
    throw UsageError("unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "twig %s: %s\n%s", cmd.c_str(), e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "twig %s: error: %s\n", cmd.c_str(), one_line(e.what()).c_str());
    return 1;
  }
}
