// PyTorch's test/ao/sparsity/test_scheduler.py (TestScheduler, TestCubicScheduler), every
// assertion it makes, warnings included; then LambdaSL and CubicSL against trajectories PyTorch
// 1.13 produced (tools/gen_ao_scheduler_fixtures.py -> tests/fixtures/ao_scheduler.json), and
// bad input.
//
// PyTorch's test attaches the schedulers to a WeightNormSparsifier; here it is one that also counts
// its update_mask calls.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "tests/fixture_file.h"
#include "tests/testing.h"
#include "twig/ao/scheduler.h"
#include "twig/ao/weight_norm_sparsifier.h"
#include "twig/nn/container.h"
#include "twig/nn/dropout.h"
#include "twig/nn/linear.h"
#include "twig/tensor/warning.h"

namespace twig {
namespace {

using ao::Dict;
using ao::Object;
using json = nlohmann::json;

class LevelSparsifier : public ao::WeightNormSparsifier {
 public:
  void update_mask(nn::Module& module, const std::string& tensor_name, const Dict& args) override {
    ++update_mask_calls;
    WeightNormSparsifier::update_mask(module, tensor_name, args);
  }
  std::string type_name() const override { return "LevelSparsifier"; }
  int update_mask_calls = 0;
};

// The test file's ImplementedScheduler: the base levels first, then half the current level.
class ImplementedScheduler : public ao::BaseScheduler {
 public:
  explicit ImplementedScheduler(ao::BaseSparsifier& sparsifier) : BaseScheduler(sparsifier) { initial_step(); }
  std::vector<Object> get_sl() override {
    if (last_epoch > 0) {
      std::vector<Object> levels;
      for (const auto& group : sparsifier().groups) levels.push_back(group.at("sparsity_level").to_double() * 0.5);
      return levels;
    }
    return base_sl;
  }
  std::string type_name() const override { return "ImplementedScheduler"; }
};

static_assert(std::is_abstract_v<ao::BaseScheduler>, "get_sl is abstract: BaseScheduler cannot be instantiated");
static_assert(!std::is_abstract_v<ao::LambdaSL> && !std::is_abstract_v<ao::CubicSL>);

// nn.Sequential(nn.Linear(16, 16)) prepared with config None: one group at the default 0.5.
nn::ModulePtr one_linear() {
  return std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(16, 16)});
}

nn::ModulePtr linear_dropout_linear(int64_t in, int64_t hidden, int64_t out) {
  return std::make_shared<nn::Sequential>(nn::Sequential{std::make_shared<nn::Linear>(in, hidden),
                                                         std::make_shared<nn::Dropout>(0.5),
                                                         std::make_shared<nn::Linear>(hidden, out)});
}

double level(const ao::BaseSparsifier& s, size_t i) { return s.groups.at(i).at("sparsity_level").to_double(); }

std::vector<double> levels(const ao::BaseSparsifier& s) {
  std::vector<double> out;
  for (size_t i = 0; i < s.groups.size(); ++i) out.push_back(level(s, i));
  return out;
}

// Python's round(x, digits) for the few digits the tests use.
double round_to(double x, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::nearbyint(x * scale) / scale;
}

std::vector<double> doubles(const std::vector<Object>& objects) {
  std::vector<double> out;
  for (const auto& o : objects) out.push_back(o.to_double());
  return out;
}

// ---- TestScheduler ---------------------------------------------------------------------------

TEST(TestScheduler, test_constructor) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ImplementedScheduler scheduler(sparsifier);
  EXPECT_EQ(&scheduler.sparsifier(), &sparsifier);
  EXPECT_EQ(scheduler.step_count(), 1);
  ASSERT_EQ(scheduler.base_sl.size(), 1u);
  EXPECT_EQ(scheduler.base_sl[0], sparsifier.groups[0].at("sparsity_level"));
  EXPECT_TRUE(scheduler.base_sl[0].is_float());
  EXPECT_EQ(scheduler.last_epoch, 0);
}

TEST(TestScheduler, test_order_of_steps) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ImplementedScheduler scheduler(sparsifier);
  {
    // Sparsifier step is not called: assertWarns(UserWarning).
    WarningRecorder recorder;
    scheduler.step();
    ASSERT_EQ(recorder.warnings().size(), 1u);
    EXPECT_EQ(recorder.warnings()[0].category, "UserWarning");
    EXPECT_EQ(recorder.warnings()[0].message,
              "Detected call of `scheduler.step()` before `sparsifier.step()`. You have to make sure you run the "
              "sparsifier.step() BEFORE any calls to the scheduler.step().");
  }
  {
    // The correct order has no warnings.
    WarningRecorder recorder;
    sparsifier.step();
    scheduler.step();
    EXPECT_TRUE(recorder.warnings().empty());
  }
}

// The same order from a fresh scheduler (PyTorch's second block runs after the scheduler's second
// step, where no check is made): a sparsifier step first means no warning.
TEST(TestScheduler, correct_order_from_the_start_does_not_warn) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  sparsifier.step();
  sparsifier.step();
  ImplementedScheduler scheduler(sparsifier);  // counts the sparsifier's steps from here
  EXPECT_EQ(sparsifier.step_count, 0);
  {
    WarningRecorder recorder;
    scheduler.step();
    EXPECT_EQ(recorder.count("Detected call of `scheduler.step()` before `sparsifier.step()`"), 1u);
  }
  LevelSparsifier sparsifier2;
  sparsifier2.prepare(one_linear(), std::nullopt);
  ImplementedScheduler scheduler2(sparsifier2);
  WarningRecorder recorder;
  sparsifier2.step();
  EXPECT_EQ(sparsifier2.step_count, 1);
  EXPECT_EQ(sparsifier2.update_mask_calls, 1);
  scheduler2.step();
  scheduler2.step();
  EXPECT_TRUE(recorder.warnings().empty());
}

TEST(TestScheduler, test_step) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  EXPECT_EQ(level(sparsifier, 0), 0.5);
  ImplementedScheduler scheduler(sparsifier);
  EXPECT_EQ(level(sparsifier, 0), 0.5);

  sparsifier.step();
  sparsifier.enable_mask_update = false;
  scheduler.step();
  EXPECT_EQ(level(sparsifier, 0), 0.25);
  EXPECT_TRUE(sparsifier.enable_mask_update);  // every scheduler step turns mask updates back on
  EXPECT_EQ(doubles(scheduler.get_last_sl()), std::vector<double>{0.25});
}

TEST(TestScheduler, test_lambda_scheduler) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  EXPECT_EQ(level(sparsifier, 0), 0.5);
  ao::LambdaSL scheduler(sparsifier, [](int64_t epoch) { return epoch * 10; });
  EXPECT_EQ(level(sparsifier, 0), 0.0);  // Epoch 0
  scheduler.step();
  EXPECT_EQ(level(sparsifier, 0), 5.0);  // Epoch 1
  EXPECT_TRUE(sparsifier.groups[0].at("sparsity_level").is_float());
}

// ---- TestCubicScheduler ----------------------------------------------------------------------

class TestCubicScheduler : public ::testing::Test {
 protected:
  const std::vector<Dict> model_sparse_config{{{"tensor_fqn", "0.weight"}, {"sparsity_level", 0.8}},
                                              {{"tensor_fqn", "2.weight"}, {"sparsity_level", 0.4}}};
  const std::vector<double> sorted_sparse_levels{0.8, 0.4};
  const double initial_sparsity = 0.1;
  const int64_t initial_step = 3;

  static nn::ModulePtr make_model() { return linear_dropout_linear(13, 17, 3); }

  // init_sl = initial_sparsity, init_t = initial_step unless given.
  std::unique_ptr<ao::CubicSL> make_scheduler(LevelSparsifier& sparsifier, const nn::ModulePtr& model,
                                              Object initially_zero, Object init_t = Object(), Object delta_t = 10,
                                              Object total_t = 100) {
    sparsifier.prepare(model, model_sparse_config);
    if (init_t.is_none()) init_t = initial_step;
    return std::make_unique<ao::CubicSL>(sparsifier, initial_sparsity, init_t, delta_t, total_t, initially_zero);
  }

  static std::vector<double> get_sparsity_levels(const ao::BaseSparsifier& s, int precision = -1) {
    std::vector<double> out = levels(s);
    if (precision >= 0) {
      for (double& v : out) v = round_to(v, precision);
    }
    return out;
  }
};

TEST_F(TestCubicScheduler, test_constructor) {
  LevelSparsifier sparsifier;
  auto scheduler = make_scheduler(sparsifier, make_model(), true);
  EXPECT_EQ(&scheduler->sparsifier(), &sparsifier) << "Sparsifier is not properly attached";
  EXPECT_EQ(scheduler->step_count(), 1) << "Scheduler is initialized with incorrect step count";
  EXPECT_EQ(doubles(scheduler->base_sl), sorted_sparse_levels)
      << "Scheduler did not store the target sparsity levels correctly";
  // Value before t_0 is 0
  EXPECT_EQ(get_sparsity_levels(sparsifier), doubles(scheduler->make_sure_a_list(0.0)))
      << "Sparsifier is not reset correctly after attaching to the Scheduler";

  // Value before t_0 is s_0
  LevelSparsifier sparsifier2;
  auto scheduler2 = make_scheduler(sparsifier2, make_model(), false);
  EXPECT_EQ(get_sparsity_levels(sparsifier2), doubles(scheduler2->make_sure_a_list(initial_sparsity)))
      << "Sparsifier is not reset correctly after attaching to the Scheduler";
}

TEST_F(TestCubicScheduler, test_step) {
  // For n=5, dt=2, there will be totally 10 steps between s_0 and s_f, starting from t_0
  LevelSparsifier sparsifier;
  auto scheduler = make_scheduler(sparsifier, make_model(), true, /*init_t=*/3, /*delta_t=*/2, /*total_t=*/5);

  scheduler->step();
  scheduler->step();
  EXPECT_EQ(scheduler->step_count(), 3) << "Scheduler step_count is expected to increment";
  // Value before t_0 is supposed to be 0
  EXPECT_EQ(get_sparsity_levels(sparsifier), doubles(scheduler->make_sure_a_list(0.0)))
      << "Scheduler step updating the sparsity level before t_0";

  scheduler->step();  // Step = 3  =>  sparsity = initial_sparsity
  EXPECT_EQ(get_sparsity_levels(sparsifier), doubles(scheduler->make_sure_a_list(initial_sparsity)))
      << "Sparsifier is not reset to initial sparsity at the first step";

  scheduler->step();  // Step = 4  =>  sparsity ~ [0.3, 0.2]
  EXPECT_EQ(get_sparsity_levels(sparsifier, 1), (std::vector<double>{0.3, 0.2}))
      << "Sparsity level is not set correctly after the first step";

  const int64_t current_step = scheduler->step_count() - scheduler->init_t[0].to_int() - 1;
  const int64_t more_steps_needed = scheduler->delta_t[0].to_int() * scheduler->total_t[0].to_int() - current_step;
  for (int64_t i = 0; i < more_steps_needed; ++i) scheduler->step();  // More steps needed to final sparsity level
  EXPECT_EQ(get_sparsity_levels(sparsifier), sorted_sparse_levels)
      << "Sparsity level is not reaching the target level afer delta_t * n steps ";
}

// ---- PyTorch 1.13 trajectories -----------------------------------------------------------------

const json& fixture() { return testing::load_fixture("ao_scheduler.json", "gen_ao_scheduler_fixtures.py"); }

// A JSON scalar or list as the Python value it was: an int, a float, a bool or a tuple.
Object from_json(const json& j) {
  if (j.is_boolean()) return Object(j.get<bool>());
  if (j.is_number_integer()) return Object(j.get<int64_t>());
  if (j.is_number_float()) return Object(j.get<double>());
  if (j.is_array()) {
    nn::Tuple items;
    for (const auto& x : j) items.push_back(from_json(x));
    return Object(items);
  }
  ADD_FAILURE() << "unexpected fixture value " << j.dump();
  return Object();
}

// The same Python value: same type (int, float, bool, tuple) and the very same number.
void expect_same(const Object& got, const json& want, const std::string& where) {
  if (want.is_array()) {
    ASSERT_TRUE(got.is_tuple()) << where << ": " << got.repr() << " vs " << want.dump();
    ASSERT_EQ(got.to_tuple().size(), want.size()) << where;
    for (size_t i = 0; i < want.size(); ++i)
      expect_same(got.to_tuple()[i], want[i], where + "[" + std::to_string(i) + "]");
  } else if (want.is_boolean()) {
    ASSERT_TRUE(got.is_bool()) << where << ": " << got.repr() << " vs " << want.dump();
    EXPECT_EQ(got.to_bool(), want.get<bool>()) << where;
  } else if (want.is_number_integer()) {
    ASSERT_TRUE(got.is_int()) << where << ": " << got.repr() << " (" << got.type_name() << ") vs int " << want.dump();
    EXPECT_EQ(got.to_int(), want.get<int64_t>()) << where;
  } else {
    ASSERT_TRUE(want.is_number_float()) << where << ": " << want.dump();
    ASSERT_TRUE(got.is_float()) << where << ": " << got.repr() << " (" << got.type_name() << ") vs float "
                                << want.dump();
    EXPECT_EQ(got.to_double(), want.get<double>()) << where;  // bit for bit
  }
}

// The functions the generator names.
ao::SLLambda named_lambda(const std::string& name) {
  if (name == "mul10") return [](int64_t e) { return Object(e * 10); };
  if (name == "mul2") return [](int64_t e) { return Object(e * 2); };
  if (name == "floordiv3") return [](int64_t e) { return Object(e / 3); };  // epochs are >= 0 here
  if (name == "pow095") return [](int64_t e) { return Object(std::pow(0.95, static_cast<double>(e))); };
  if (name == "tenth") return [](int64_t e) { return Object(static_cast<double>(e) * 0.1); };
  ADD_FAILURE() << "unknown lambda " << name;
  return nullptr;
}

// PyTorch 1.13's message has a typo ("scheduer.step()") that later versions fixed; twig uses the
// fixed text.
std::string fixed_typo(std::string message) {
  const std::string typo = "scheduer.step()";
  auto at = message.find(typo);
  if (at != std::string::npos) message.replace(at, typo.size(), "scheduler.step()");
  return message;
}

struct Recorded {
  std::vector<Object> levels;
  std::vector<Warning> warnings;
  std::string stdout_text;
};

void expect_matches(const Recorded& got, const json& want, const std::string& where) {
  const json& want_levels = want.at("levels");
  ASSERT_EQ(got.levels.size(), want_levels.size()) << where;
  for (size_t g = 0; g < want_levels.size(); ++g) {
    expect_same(got.levels[g], want_levels[g], where + " group " + std::to_string(g));
  }
  const json& want_warnings = want.at("warnings");
  ASSERT_EQ(got.warnings.size(), want_warnings.size()) << where;
  for (size_t w = 0; w < want_warnings.size(); ++w) {
    EXPECT_EQ(got.warnings[w].category, want_warnings[w].at("category").get<std::string>()) << where;
    EXPECT_EQ(got.warnings[w].message, fixed_typo(want_warnings[w].at("message").get<std::string>())) << where;
  }
  EXPECT_EQ(got.stdout_text, want.at("stdout").get<std::string>()) << where;
}

// Runs `action` recording the groups' levels after it, its warnings and what it printed.
template <typename F>
Recorded record(const ao::BaseSparsifier& sparsifier, F action) {
  Recorded r;
  WarningRecorder recorder;
  ::testing::internal::CaptureStdout();
  try {
    action();
  } catch (...) {
    ::testing::internal::GetCapturedStdout();
    throw;
  }
  r.stdout_text = ::testing::internal::GetCapturedStdout();
  r.warnings = recorder.warnings();
  for (const auto& group : sparsifier.groups) r.levels.push_back(group.at("sparsity_level"));
  return r;
}

void run_fixture_case(const json& c) {
  const std::string name = c.at("name").get<std::string>();
  SCOPED_TRACE(name);
  LevelSparsifier sparsifier;
  if (c.at("model") == "one") {
    sparsifier.prepare(one_linear(), std::nullopt);
  } else {
    const json& lv = c.at("levels");
    sparsifier.prepare(linear_dropout_linear(16, 8, 4),
                       std::vector<Dict>{{{"tensor_fqn", "0.weight"}, {"sparsity_level", from_json(lv[0])}},
                                         {{"tensor_fqn", "2.weight"}, {"sparsity_level", from_json(lv[1])}}});
  }
  const json kwargs = c.value("kwargs", json::object());
  const int64_t last_epoch = kwargs.value("last_epoch", int64_t{-1});
  const bool verbose = kwargs.value("verbose", false);
  auto kw = [&](const char* key, Object fallback) {
    return kwargs.contains(key) ? from_json(kwargs.at(key)) : fallback;
  };

  std::unique_ptr<ao::BaseScheduler> scheduler;
  const json& trajectory = c.at("trajectory");
  Recorded constructed = record(sparsifier, [&] {
    if (c.at("scheduler") == "lambda") {
      const json& fns = c.at("lambda");
      if (fns.is_array()) {
        std::vector<ao::SLLambda> list;
        for (const auto& f : fns) list.push_back(named_lambda(f.get<std::string>()));
        scheduler = std::make_unique<ao::LambdaSL>(sparsifier, list, last_epoch, verbose);
      } else {
        scheduler =
            std::make_unique<ao::LambdaSL>(sparsifier, named_lambda(fns.get<std::string>()), last_epoch, verbose);
      }
    } else {
      scheduler = std::make_unique<ao::CubicSL>(sparsifier, kw("init_sl", 0.0), kw("init_t", 0), kw("delta_t", 10),
                                                kw("total_t", 100), kw("initially_zero", false), last_epoch, verbose);
    }
  });
  expect_matches(constructed, trajectory[0], "after construction");

  std::vector<std::optional<int64_t>> epochs;
  if (c.contains("step_epochs")) {
    for (const auto& e : c.at("step_epochs"))
      epochs.push_back(e.is_null() ? std::nullopt : std::optional(e.get<int64_t>()));
  } else {
    epochs.assign(c.at("steps").get<size_t>(), std::nullopt);
  }
  ASSERT_EQ(trajectory.size(), epochs.size() + 1);
  const bool sparsifier_step = c.value("sparsifier_step", false);
  for (size_t i = 0; i < epochs.size(); ++i) {
    if (sparsifier_step) sparsifier.step();
    Recorded stepped = record(sparsifier, [&] { scheduler->step(epochs[i]); });
    expect_matches(stepped, trajectory[i + 1], "after step " + std::to_string(i + 1));
  }

  // base_sl, get_last_sl() and the state_dict, keys in Python's order.
  expect_same(Object(nn::Tuple(scheduler->base_sl.begin(), scheduler->base_sl.end())), c.at("base_sl"), "base_sl");
  const auto& last = scheduler->get_last_sl();
  expect_same(Object(nn::Tuple(last.begin(), last.end())), c.at("last_sl"), "get_last_sl()");
  Dict sd = scheduler->state_dict();
  EXPECT_EQ(sd.keys(), c.at("state_dict_keys").get<std::vector<std::string>>());
  for (const auto& [key, want] : c.at("state_dict").items()) {
    ASSERT_TRUE(sd.contains(key)) << key;
    if (key == "sl_lambdas") {
      ASSERT_TRUE(sd.at(key).is_tuple());
      EXPECT_EQ(sd.at(key).to_tuple().size(), sparsifier.groups.size());
      for (const auto& f : sd.at(key).to_tuple()) EXPECT_TRUE(f.is_function());
    } else {
      expect_same(sd.at(key), want, "state_dict " + key);
    }
  }
}

TEST(SchedulerGolden, FixtureIsFromTorch113) {
  EXPECT_EQ(fixture().at("torch_version").get<std::string>().rfind("1.13", 0), 0u);
  EXPECT_GE(fixture().at("cases").size(), 15u);
}

TEST(SchedulerGolden, LambdaSLTrajectoriesMatchPyTorch) {
  size_t n = 0;
  for (const auto& c : fixture().at("cases")) {
    if (c.at("scheduler") != "lambda") continue;
    run_fixture_case(c);
    ++n;
  }
  EXPECT_EQ(n, 5u);
}

TEST(SchedulerGolden, CubicSLTrajectoriesMatchPyTorch) {
  size_t n = 0;
  for (const auto& c : fixture().at("cases")) {
    if (c.at("scheduler") != "cubic") continue;
    run_fixture_case(c);
    ++n;
  }
  EXPECT_EQ(n, 10u);
}

// ---- sparsity_compute_fn, get_sl, state_dict, repr ------------------------------------------------

TEST(CubicSL, SparsityComputeFnKeepsPythonTypes) {
  // Before t_0 with initially_zero: the int 0.
  Object zero = ao::CubicSL::sparsity_compute_fn(0.1, 0.8, 2, 3, 2, 5, true);
  EXPECT_TRUE(zero.is_int());
  EXPECT_EQ(zero.to_int(), 0);
  // Before t_0 without: s_0 itself (an int stays an int).
  Object s0 = ao::CubicSL::sparsity_compute_fn(0, 0.8, 2, 3, 2, 5, false);
  EXPECT_TRUE(s0.is_int());
  // At t_0 + dt * n and beyond: s_f itself.
  EXPECT_EQ(ao::CubicSL::sparsity_compute_fn(0.1, 0.8, 13, 3, 2, 5).to_double(), 0.8);
  EXPECT_EQ(ao::CubicSL::sparsity_compute_fn(0.1, 0.8, 1000, 3, 2, 5).to_double(), 0.8);
  // In between: Zhu & Gupta's cubic, 0.8 + (0.1 - 0.8) * (1 - 1/10)^3.
  Object mid = ao::CubicSL::sparsity_compute_fn(0.1, 0.8, 4, 3, 2, 5);
  EXPECT_TRUE(mid.is_float());
  EXPECT_EQ(mid.to_double(), 0.8 + (0.1 - 0.8) * std::pow(1.0 - 1.0 / 10.0, 3.0));
}

TEST(CubicSL, GetSlOutsideStepWarns) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ao::CubicSL cubic(sparsifier, 0.1, 0, 1, 4);
  ao::LambdaSL lambda(sparsifier, [](int64_t) { return 1.0; });
  WarningRecorder recorder;
  sparsifier.step();
  cubic.step();
  lambda.step();
  EXPECT_TRUE(recorder.warnings().empty());  // get_sl from step() does not warn
  const auto cubic_levels = cubic.get_sl();
  const auto lambda_levels = lambda.get_sl();
  EXPECT_EQ(recorder.count("To get the last sparsity level computed by the scheduler, please use `get_last_sl()`."),
            2u);
  EXPECT_FALSE(cubic.get_sl_called_within_step());
  // It still computes: the same values step() set for the current epoch.
  EXPECT_EQ(doubles(cubic_levels), doubles(cubic.get_last_sl()));
  EXPECT_EQ(doubles(lambda_levels), doubles(lambda.get_last_sl()));
}

TEST(BaseScheduler, StateDictRoundTripContinuesTheSchedule) {
  LevelSparsifier a_sparsifier;
  a_sparsifier.prepare(linear_dropout_linear(16, 8, 4),
                       std::vector<Dict>{{{"tensor_fqn", "0.weight"}, {"sparsity_level", 0.8}},
                                         {{"tensor_fqn", "2.weight"}, {"sparsity_level", 0.4}}});
  ao::CubicSL a(a_sparsifier, 0.1, 1, 2, 5);
  for (int i = 0; i < 4; ++i) a.step();
  // A scheduler over the same number of groups, other settings.
  LevelSparsifier c_sparsifier;
  c_sparsifier.prepare(linear_dropout_linear(16, 8, 4),
                       std::vector<Dict>{{{"tensor_fqn", "0.weight"}, {"sparsity_level", 0.3}},
                                         {{"tensor_fqn", "2.weight"}, {"sparsity_level", 0.3}}});
  ao::CubicSL c(c_sparsifier, 0.0, 0, 1, 1);
  const std::vector<double> c_levels = levels(c_sparsifier);  // s_0 = 0.0 at t = t_0
  c.load_state_dict(a.state_dict());
  EXPECT_EQ(c.last_epoch, a.last_epoch);
  EXPECT_EQ(c.step_count(), a.step_count());
  EXPECT_EQ(doubles(c.base_sl), (std::vector<double>{0.8, 0.4}));
  EXPECT_EQ(doubles(c.delta_t), (std::vector<double>{2, 2}));
  EXPECT_EQ(doubles(c.get_last_sl()), doubles(a.get_last_sl()));
  // Loading does not touch the sparsifier; the next steps agree.
  EXPECT_EQ(levels(c_sparsifier), c_levels);
  for (int i = 0; i < 3; ++i) {
    a.step();
    c.step();
    EXPECT_EQ(levels(c_sparsifier), levels(a_sparsifier));
  }
}

TEST(BaseScheduler, LoadStateDictKeepsUnknownKeysAndRejectsBadValuesWithoutChanges) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ao::LambdaSL scheduler(sparsifier, [](int64_t e) { return 0.1 * static_cast<double>(e); });
  scheduler.step();
  Dict before = scheduler.state_dict();

  // Python's __dict__.update: an unknown key is kept and comes back.
  scheduler.load_state_dict(Dict{{"my_note", "x"}});
  EXPECT_EQ(scheduler.state_dict().at("my_note"), Object("x"));
  EXPECT_EQ(scheduler.state_dict().keys().back(), "my_note");

  EXPECT_ERROR((scheduler.load_state_dict(Dict{{"last_epoch", 7}, {"base_sl", "0.5"}})), TypeError, "base_sl");
  EXPECT_ERROR((scheduler.load_state_dict(Dict{{"last_epoch", 2.5}})), TypeError, "last_epoch");
  EXPECT_ERROR((scheduler.load_state_dict(Dict{{"sl_lambdas", Object{1, 2}}})), TypeError, "sl_lambdas");
  EXPECT_ERROR((scheduler.load_state_dict(Dict{{"sparsifier", 1}})), ValueError, "sparsifier");
  EXPECT_EQ(scheduler.last_epoch, 1);  // the first dict's valid last_epoch was not applied either
  Dict after = scheduler.state_dict();
  for (const auto& key : before.keys()) EXPECT_TRUE(after.at(key) == before.at(key)) << key;
}

TEST(BaseScheduler, VerbosePrintsLikePython) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ::testing::internal::CaptureStdout();
  ao::LambdaSL scheduler(
      sparsifier, [](int64_t) { return 0.5; }, -1, /*verbose=*/true);
  scheduler.step(3);
  scheduler.verbose = false;
  scheduler.step();
  EXPECT_EQ(::testing::internal::GetCapturedStdout(),
            "Adjusting sparsity level of group 0 to 2.5000e-01.\n"
            "Epoch     3: adjusting sparsity level of group 0 to 2.5000e-01.\n");
}

TEST(BaseScheduler, Repr) {
  LevelSparsifier sparsifier;
  sparsifier.prepare(one_linear(), std::nullopt);
  ao::CubicSL scheduler(sparsifier);
  EXPECT_EQ(scheduler.repr(), "CubicSL (\nSparsifier " + sparsifier.repr() + "\n    base_sl: [0.5]\n)");
}

// ---- bad input ---------------------------------------------------------------------------------

class SchedulerErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    sparsifier.prepare(linear_dropout_linear(16, 8, 4),
                       std::vector<Dict>{{{"tensor_fqn", "0.weight"}, {"sparsity_level", 0.8}},
                                         {{"tensor_fqn", "2.weight"}, {"sparsity_level", 0.4}}});
  }
  // The groups' levels and the sparsifier's counter are unchanged by a failed construction.
  void expect_unchanged() {
    EXPECT_EQ(levels(sparsifier), (std::vector<double>{0.8, 0.4}));
    EXPECT_EQ(sparsifier.step_count, 5);
  }
  LevelSparsifier sparsifier;
};

TEST_F(SchedulerErrors, LambdaCountMismatch) {
  for (int i = 0; i < 5; ++i) sparsifier.step();
  auto f = [](int64_t) { return 1.0; };
  EXPECT_ERROR((ao::LambdaSL(sparsifier, std::vector<ao::SLLambda>{f, f, f})), ValueError,
               "Expected 2 lr_lambdas, but got 3");
  EXPECT_ERROR((ao::LambdaSL(sparsifier, std::vector<ao::SLLambda>{f})), ValueError,
               "Expected 2 lr_lambdas, but got 1");
  EXPECT_ERROR(ao::LambdaSL(sparsifier, ao::SLLambda()), TypeError, "empty function");
  // A factor that is not a number: Python's TypeError for `*`.
  EXPECT_ERROR(ao::LambdaSL(sparsifier, [](int64_t) { return Object("x"); }), TypeError, "'x'");
  expect_unchanged();
}

TEST_F(SchedulerErrors, CubicListLengthAndTypes) {
  for (int i = 0; i < 5; ++i) sparsifier.step();
  EXPECT_ERROR((ao::CubicSL(sparsifier, Object{0.1, 0.2, 0.3})), ValueError,
               "Expected variable of length 2, but got 3");
  EXPECT_ERROR((ao::CubicSL(sparsifier, 0.0, 0, Object{1})), ValueError, "Expected variable of length 2, but got 1");
  EXPECT_ERROR(ao::CubicSL(sparsifier, 0.0, "3"), TypeError, "init_t");
  EXPECT_ERROR(ao::CubicSL(sparsifier, 0.0, 0, 10, Object()), TypeError, "total_t");
  // Python: ZeroDivisionError; twig: ValueError naming delta_t and total_t.
  EXPECT_ERROR(ao::CubicSL(sparsifier, 0.0, 0, 0, 100), ValueError, "delta_t=0, total_t=100");
  expect_unchanged();
}

TEST_F(SchedulerErrors, GroupWithoutSparsityLevel) {
  LevelSparsifier other;
  other.defaults = Dict{};
  other.prepare(one_linear(), std::vector<Dict>{{{"tensor_fqn", "0.weight"}}});
  EXPECT_ERROR(ao::CubicSL(other), KeyError, "sparsity_level");
}

TEST_F(SchedulerErrors, FailedStepChangesNothing) {
  ao::CubicSL scheduler(sparsifier, 0.1, 0, 2, 5);
  scheduler.step();
  const std::vector<double> before = levels(sparsifier);
  const int64_t epoch = scheduler.last_epoch, count = scheduler.step_count();
  scheduler.delta_t[1] = 0;  // dt * n == 0 for group 1
  EXPECT_ERROR(scheduler.step(), ValueError, "division by zero");
  EXPECT_EQ(levels(sparsifier), before);  // group 0 was not written either
  EXPECT_EQ(scheduler.last_epoch, epoch);
  EXPECT_EQ(scheduler.step_count(), count);
  EXPECT_FALSE(scheduler.get_sl_called_within_step());
}

// A scheduler that gives a level of another type. Python sets it; printed ('{:.4e}'), it is a
// ValueError, which here comes before any group is written.
class StringLevelScheduler : public ao::BaseScheduler {
 public:
  explicit StringLevelScheduler(ao::BaseSparsifier& sparsifier) : BaseScheduler(sparsifier) { initial_step(); }
  std::vector<Object> get_sl() override {
    if (last_epoch == 0) return base_sl;
    return {Object(0.25), Object("dense")};
  }
};

TEST_F(SchedulerErrors, VerboseNonNumberLevelChangesNothing) {
  StringLevelScheduler scheduler(sparsifier);
  scheduler.verbose = true;
  const std::vector<double> before = levels(sparsifier);
  ::testing::internal::CaptureStdout();
  EXPECT_ERROR(scheduler.step(), ValueError, "Unknown format code 'e' for object of type 'str'");
  EXPECT_EQ(::testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(levels(sparsifier), before);
  EXPECT_EQ(scheduler.last_epoch, 0);
  scheduler.verbose = false;  // not printed, the str is set as Python sets it
  scheduler.step();
  EXPECT_EQ(sparsifier.groups[1].at("sparsity_level"), Object("dense"));
}

}  // namespace
}  // namespace twig
