// The twig command's surface (issue 12 §4): help and version, exit statuses, thread counts, the
// prune flags (--seed, --remove alone, --n fro), eval with only the test files, the
// missing-dataset message, and `twig demo`'s fair comparison, table, results.json and plot.
#include <regex>
#include <thread>

#include "apps/cli_fixture.h"

namespace twig {
namespace {

TEST_F(CliTest, HelpAndVersionExitZero) {
  RunResult r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* cmd : {"demo", "train", "prune", "eval", "info"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd;
  for (const char* cmd : {"demo", "train", "prune", "eval", "info"}) {
    SCOPED_TRACE(cmd);
    r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("usage: twig ") + cmd), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--threads N"), std::string::npos) << r.out;
  }
  r = run("demo --help");
  EXPECT_NE(r.out.find("only the files named above are replaced"), std::string::npos) << r.out;
  r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(std::regex_match(r.out, std::regex("twig [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << r.out;
}

TEST_F(CliTest, UnknownCommandListsTheCommands) {
  RunResult r = run("fly");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("demo, eval, info, prune, train"), std::string::npos) << r.err;
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  write_dataset(128, 64);
  ASSERT_EQ(run("train --model mlp --epochs 1 --data " + data() + " --out " + file("m.twig")).status, 0);
  const std::string prune = "prune --in " + file("m.twig") + " --out " + file("p.twig") + " ";
  for (const std::string& args :
       {prune + "--method l1_unstructured --amount 1.5", prune + "--method l1_unstructured --amount -1",
        prune + "--method l1_unstructured --amount 235201",  // more than fc1's 235200 weights
        prune + "--method l1_unstructured --global --amount 300000", prune + "--method ln_structured --amount 301",
        prune + "--method ln_structured --amount 0.5 --dim 2", prune + "--method ln_structured --amount 0.5 --n p3",
        prune + "--method l1_unstructured --amount 0.5 --n 1", prune + "--method l1_unstructured",
        prune + "--amount 0.5", prune, std::string("train --model mlp --out x.twig --lr 0"),
        std::string("train --model mlp --out x.twig --momentum -1 --optimizer sgd"), std::string("info"),
        std::string("eval --in m.twig --threads 0"), std::string("eval --in m.twig --threads -2"),
        std::string("eval --in m.twig --threads two")}) {
    SCOPED_TRACE(args);
    RunResult r = run(args);
    EXPECT_EQ(r.status, 2) << r.err;
  }
  EXPECT_FALSE(fs::exists(file("p.twig")));
  RunResult r = run(prune + "--method l1_unstructured --amount 1.5");
  EXPECT_NE(r.err.find("1.5"), std::string::npos) << r.err;
  r = run(prune + "--method ln_structured --amount 0.5 --dim 2");
  EXPECT_NE(r.err.find("--dim 2"), std::string::npos) << r.err;
}

TEST_F(CliTest, ThreadCountsAreCheckedAndCapped) {
  write_dataset(128, 64);
  ASSERT_EQ(run("train --model mlp --epochs 1 --data " + data() + " --out " + file("m.twig")).status, 0);
  const std::string eval = "eval --in " + file("m.twig") + " --data " + data() + " --json";
  for (const char* bad : {"abc", "0", "-4", "2x"}) {
    SCOPED_TRACE(bad);
    RunResult r = run(eval, std::string("TWIG_NUM_THREADS=") + bad);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find(std::string("TWIG_NUM_THREADS must be a positive integer, got '") + bad + "'"),
              std::string::npos)
        << r.err;
  }
  RunResult r = run(eval, "TWIG_NUM_THREADS=2");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["threads"], 2);
  r = run(eval + " --threads 1", "TWIG_NUM_THREADS=2");  // the flag wins
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["threads"], 1);
  // More than 4 x the hardware threads is capped there, with a note.
  const int cap = 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  r = run(eval + " --threads 100000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["threads"], cap);
  EXPECT_NE(r.err.find("using " + std::to_string(cap)), std::string::npos) << r.err;
  r = run(eval, "TWIG_NUM_THREADS=100000");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["threads"], cap);
}

TEST_F(CliTest, PruneSeedRemoveAloneAndFroNorm) {
  write_dataset(128, 64);
  ASSERT_EQ(run("train --model mlp --epochs 1 --data " + data() + " --out " + file("m.twig")).status, 0);
  auto prune = [&](const std::string& args, const std::string& out) {
    RunResult r = run("prune --in " + file("m.twig") + " --out " + file(out) + " " + args);
    EXPECT_EQ(r.status, 0) << args << ": " << r.err;
    return slurp(file(out));
  };
  // --seed seeds the random methods: the same seed, the same masks; another seed, others.
  for (const char* method : {"random_unstructured", "random_structured"}) {
    SCOPED_TRACE(method);
    const std::string args = std::string("--method ") + method + " --amount 0.5";
    std::string a = prune(args + " --seed 1", "a.twig"), b = prune(args + " --seed 1", "b.twig");
    std::string c = prune(args + " --seed 2", "c.twig");
    ASSERT_FALSE(a.empty());
    EXPECT_TRUE(a == b);
    EXPECT_FALSE(a == c);
  }
  // --n fro is ln_structured's Frobenius norm (the 2-norm over the rest of each channel).
  std::string fro = prune("--method ln_structured --amount 0.5 --n fro", "fro.twig");
  std::string two = prune("--method ln_structured --amount 0.5 --n 2", "two.twig");
  EXPECT_FALSE(fro.empty());
  EXPECT_FALSE(two.empty());
  RunResult r = run("info " + file("fro.twig"));
  EXPECT_NE(r.out.find("LnStructured"), std::string::npos) << r.out;

  // --remove alone makes the pruning permanent: same sparsity, no masks left.
  r = run("prune --in " + file("fro.twig") + " --out " + file("perm.twig") + " --remove --data " + data() + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json removed = json::parse(r.out);
  r = run("eval --in " + file("fro.twig") + " --data " + data() + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json masked = json::parse(r.out);
  EXPECT_NEAR(removed["sparsity"].get<double>(), masked["sparsity"].get<double>(), 1e-12);
  EXPECT_GT(removed["sparsity"].get<double>(), 0.3);
  EXPECT_EQ(removed["accuracy"], masked["accuracy"]);
  r = run("info " + file("perm.twig"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("weight_mask"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("weight_orig"), std::string::npos) << r.out;
}

TEST_F(CliTest, EvalNeedsOnlyTheTestFiles) {
  write_dataset(128, 64);
  ASSERT_EQ(run("train --model mlp --epochs 1 --data " + data() + " --out " + file("m.twig")).status, 0);
  write_dataset(0, 64, "test_only");
  RunResult r = run("eval --in " + file("m.twig") + " --data " + file("test_only") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GT(json::parse(r.out)["accuracy"].get<double>(), 0.0);
  // train needs the training files, and says which are missing before any work.
  r = run("train --model mlp --epochs 1 --data " + file("test_only") + " --out " + file("t.twig"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(file("t.twig")));
}

TEST_F(CliTest, MissingDatasetNamesTheGzFilesAndThePackage) {
  for (const std::string& cmd : {"train --model mlp --out " + file("m.twig"), std::string("demo --out ") + file("d")}) {
    SCOPED_TRACE(cmd);
    RunResult r = run(cmd + " --data " + file("nowhere"));
    EXPECT_EQ(r.status, 1);
    for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                             "t10k-labels-idx1-ubyte.gz", "dataset-fashion-mnist", "nowhere"})
      EXPECT_NE(r.err.find(name), std::string::npos) << name << " in " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(file("m.twig")));
    EXPECT_FALSE(fs::exists(file("d")));
    EXPECT_TRUE(temporaries(dir_).empty());
  }
}

// Box of an SVG <text> as the plot lays it out (0.62 em per character, ascent 10, descent 3 at
// 12 px), from its x, y, anchor and font size.
struct TextBox {
  double x0, y0, x1, y1;
  std::string text, fill;
};
std::vector<TextBox> svg_texts(const std::string& svg) {
  std::vector<TextBox> out;
  std::regex re("<text x=\"([-0-9.]+)\" y=\"([-0-9.]+)\"([^>]*)>([^<]*)</text>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator(); ++it) {
    double x = std::stod((*it)[1]), y = std::stod((*it)[2]);
    std::string attrs = (*it)[3], text = (*it)[4];
    std::smatch m;
    double fs = std::regex_search(attrs, m, std::regex("font-size=\"([0-9.]+)\"")) ? std::stod(m[1]) : 12.0;
    std::string fill = std::regex_search(attrs, m, std::regex("fill=\"([^\"]+)\"")) ? std::string(m[1]) : "";
    double w = 0.62 * fs * static_cast<double>(text.size());
    double x0 = attrs.find("text-anchor=\"middle\"") != std::string::npos ? x - w / 2
                : attrs.find("text-anchor=\"end\"") != std::string::npos  ? x - w
                                                                          : x;
    out.push_back({x0, y - fs * 0.8, x0 + w, y + fs * 0.25, text, fill});
  }
  return out;
}

bool segment_crosses(double ax, double ay, double bx, double by, const TextBox& b) {
  for (int i = 0; i <= 200; ++i) {  // sampled: fine enough for 13 px boxes on short segments
    double t = i / 200.0, x = ax + t * (bx - ax), y = ay + t * (by - ay);
    if (x > b.x0 && x < b.x1 && y > b.y0 && y < b.y1) return true;
  }
  return false;
}

TEST_F(CliTest, DemoComparesFairlyAndDrawsAReadablePlot) {
  write_dataset(256, 64);
  RunResult r = run("demo --epochs 1 --data " + data() + " --out " + file("demo") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  json res = json::parse(slurp(file("demo") + "/results.json"));
  EXPECT_EQ(json::parse(r.out), res);
  EXPECT_EQ(res["epochs_per_row"], 2);
  EXPECT_EQ(res["inference_kernels"], "dense");
  EXPECT_NE(res["inference_note"].get<std::string>().find("dense"), std::string::npos);
  ASSERT_EQ(res["runs"].size(), 7u);
  std::vector<std::string> labels;
  for (const json& run : res["runs"]) {
    EXPECT_EQ(run["epochs"], 2) << run.dump();  // every row, the dense one included
    labels.push_back(run["label"]);
    EXPECT_TRUE(fs::exists(file("demo") + "/" + run["model"].get<std::string>()));
    EXPECT_TRUE(fs::exists(file("demo") + "/" + run["state_dict"].get<std::string>()));
  }
  EXPECT_EQ(labels[0], "dense (no pruning)");
  EXPECT_EQ(labels[1], "global L1 unstructured 50%");
  EXPECT_EQ(labels[3], "global L1 unstructured 90%");
  EXPECT_NEAR(res["runs"][3]["sparsity"].get<double>(), 0.9, 1e-3);
  EXPECT_EQ(res["runs"][3]["target_sparsity"], 0.9);
  EXPECT_TRUE(res["runs"][0]["target_sparsity"].is_null());
  // The structured row says which layers it pruned: all but the classifier.
  EXPECT_EQ(labels[4], "L2 structured 50% (conv1 conv2 fc1 fc2)");
  EXPECT_EQ(res["runs"][4]["layers"], json({"conv1", "conv2", "fc1", "fc2"}));
  // The AGP row: weight_norm 1x4 on the Linear layers, rising to 80% during the fine-tune epoch (4
  // batches here, so 4 steps), the conv weights left dense: 80% of each Linear's 1x4 blocks.
  const json& agp = res["runs"][5];
  EXPECT_EQ(labels[5], "weight_norm 1x4 80% AGP (fc1 fc2 fc3)");
  EXPECT_EQ(agp["method"], "weight_norm");
  EXPECT_EQ(agp["layers"], json({"fc1", "fc2", "fc3"}));
  EXPECT_EQ(agp["target_sparsity"], 0.8);
  EXPECT_EQ(agp["block"], "1x4");
  EXPECT_EQ(agp["schedule"], "cubic");
  EXPECT_EQ(agp["steps"], 4);
  EXPECT_EQ(agp["model"], "lenet_weight_norm_agp_80.twig");
  // Zeroed: 9600 of fc1's 12000 blocks, 2016 of fc2's 2520, 168 of fc3's 210, 4 weights each;
  // LeNet-5 has 61470 conv/linear weights.
  EXPECT_NEAR(agp["sparsity"].get<double>(), (9600 + 2016 + 168) * 4 / 61470.0, 1e-12);
  // The shrunk row: SaliencyPruner at 50% of the rows of conv1 conv2 fc1 fc2, prune() into a LeNet-5
  // of 3 and 8 channels and 60 and 42 units (fc3 keeps its 10 classes), fine-tuned, saved smaller.
  const json& shrunk = res["runs"][6];
  EXPECT_EQ(labels[6], "saliency 50% shrunk (conv1 conv2 fc1 fc2)");
  EXPECT_EQ(shrunk["method"], "saliency_structured");
  EXPECT_EQ(shrunk["shrunk"], true);
  EXPECT_EQ(shrunk["layers"], json({"conv1", "conv2", "fc1", "fc2"}));
  EXPECT_EQ(shrunk["model"], "lenet_saliency_shrunk_50.twig");
  const int64_t small = 3 * 25 + 3 + 8 * 3 * 25 + 8 + 60 * 200 + 60 + 42 * 60 + 42 + 10 * 42 + 10;
  EXPECT_EQ(shrunk["params"], small);
  EXPECT_EQ(res["runs"][0]["params"], 61706);  // LeNet-5
  // Its sparsity: the dense conv/linear weights it no longer has (none of its own are zero after fine-tuning).
  const int64_t small_weights = 3 * 25 + 8 * 3 * 25 + 60 * 200 + 42 * 60 + 10 * 42;
  EXPECT_NEAR(shrunk["sparsity"].get<double>(), 1.0 - small_weights / 61470.0, 1e-12);
  EXPECT_GT(shrunk["accuracy"].get<double>(), 0.0);
  {
    RunResult info = run("info " + file("demo") + "/lenet_saliency_shrunk_50.twig");
    ASSERT_EQ(info.status, 0) << info.err;
    EXPECT_NE(info.out.find("conv2.weight"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("[8, 3, 5, 5]"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("[60, 200]"), std::string::npos) << info.out;
  }
  // The table says the same, with the footnote on inference.
  EXPECT_NE(r.err.find("every row trained 2 epochs"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("weight_norm 1x4 80% AGP (fc1 fc2 fc3)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("saliency 50% shrunk (conv1 conv2 fc1 fc2)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("inference s*"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("* inference runs the dense kernels"), std::string::npos) << r.err;

  // The plot: every text inside the image, no point label on a line or on another label.
  std::string svg = slurp(file("demo") + "/accuracy_vs_sparsity.svg");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("<svg [^>]*width=\"([0-9.]+)\" height=\"([0-9.]+)\"")));
  const double width = std::stod(m[1]), height = std::stod(m[2]);
  std::vector<TextBox> texts = svg_texts(svg), point_labels;
  ASSERT_GE(texts.size(), 10u);
  for (const TextBox& t : texts) {
    EXPECT_GE(t.x0, 0) << t.text;
    EXPECT_LE(t.x1, width) << t.text;
    EXPECT_GE(t.y0, 0) << t.text;
    EXPECT_LE(t.y1, height) << t.text;
    if (!t.fill.empty() && t.fill[0] == '#' && t.fill != "#444444") point_labels.push_back(t);
  }
  EXPECT_EQ(point_labels.size(), 7u);  // one per row
  std::vector<std::vector<std::pair<double, double>>> lines;
  std::regex poly("<polyline points=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), poly); it != std::sregex_iterator(); ++it) {
    std::vector<std::pair<double, double>> pts;
    std::string p = (*it)[1];
    std::regex pt("([-0-9.]+),([-0-9.]+)");
    for (auto jt = std::sregex_iterator(p.begin(), p.end(), pt); jt != std::sregex_iterator(); ++jt)
      pts.emplace_back(std::stod((*jt)[1]), std::stod((*jt)[2]));
    lines.push_back(pts);
  }
  ASSERT_EQ(lines.size(), 4u);  // L1, L2 structured, weight_norm AGP, shrunk
  for (size_t i = 0; i < point_labels.size(); ++i) {
    const TextBox& t = point_labels[i];
    for (const auto& pts : lines)
      for (size_t k = 1; k < pts.size(); ++k)
        EXPECT_FALSE(segment_crosses(pts[k - 1].first, pts[k - 1].second, pts[k].first, pts[k].second, t)) << t.text;
    for (size_t j = 0; j < i; ++j) {
      const TextBox& o = point_labels[j];
      EXPECT_FALSE(t.x0 < o.x1 && o.x0 < t.x1 && t.y0 < o.y1 && o.y0 < t.y1) << t.text << " on " << o.text;
    }
  }
  EXPECT_NE(svg.find("global L1 unstructured"), std::string::npos);  // the legend
  EXPECT_NE(svg.find("weight_norm 1x4, AGP cubic (fc1 fc2 fc3)"), std::string::npos);
}

}  // namespace
}  // namespace twig
