// Day-one features against PyTorch 1.13 (tests/fixtures/nn_day1.json, written by
// tools/gen_nn_day1_fixtures.py): Conv padding="same"/"valid" and padding_mode, F::pad,
// MaxPool2d(return_indices), clip_grad_norm_, StepLR and CosineAnnealingLR.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "fixture_file.h"
#include "testing.h"
#include "twig/autograd/gradcheck.h"
#include "twig/nn/clip_grad.h"
#include "twig/nn/conv.h"
#include "twig/nn/functional.h"
#include "twig/nn/lr_scheduler.h"
#include "twig/nn/pooling.h"

using namespace twig;
using namespace twig::nn;
using nlohmann::json;
namespace F = twig::nn::functional;

namespace {

const json& fixtures() { return twig::testing::load_fixture("nn_day1.json", "gen_nn_day1_fixtures.py"); }

Tensor as_tensor(const json& j, Dtype dtype = kFloat64) {
  return from_vector(j.at("data").get<std::vector<double>>(), j.at("shape").get<Shape>()).to(dtype);
}

Tensor as_int_tensor(const json& j) {
  return from_vector(j.at("data").get<std::vector<int64_t>>(), j.at("shape").get<Shape>());
}

SpatialInts spatial(const json& j) {
  if (j.is_array()) return SpatialInts(j.get<std::vector<int64_t>>());
  return SpatialInts(j.get<int64_t>());
}

template <size_t D>
std::shared_ptr<ConvNd<D>> make_conv(const json& c) {
  ConvOptions<D> o(c.at("in_channels").get<int64_t>(), c.at("out_channels").get<int64_t>(),
                   spatial(c.at("kernel_size")));
  o.stride(spatial(c.at("stride"))).dilation(spatial(c.at("dilation"))).groups(c.at("groups").get<int64_t>());
  o.bias(c.at("bias").get<bool>()).padding_mode(c.at("padding_mode").get<std::string>());
  if (c.at("padding").is_string()) {
    o.padding(c.at("padding").get<std::string>());
  } else {
    o.padding(spatial(c.at("padding")));
  }
  auto m = std::make_shared<ConvNd<D>>(o);
  m->to(kFloat64);
  return m;
}

template <size_t D>
void check_conv_case(const json& c) {
  SCOPED_TRACE(c.at("name").get<std::string>());
  auto m = make_conv<D>(c.at("config"));
  EXPECT_EQ(m->repr(), c.at("repr").get<std::string>());
  {
    NoGradGuard no_grad;
    m->get("weight").copy_(as_tensor(c.at("weight")));
    if (!c.at("bias").is_null()) m->get("bias").copy_(as_tensor(c.at("bias")));
  }
  Tensor x = as_tensor(c.at("x")).requires_grad_();
  Tensor out = (*m)(x);
  EXPECT_EQ(out.dtype(), kFloat64);
  EXPECT_EQ(out.sizes(), as_tensor(c.at("out")).sizes());
  EXPECT_TENSOR_CLOSE(out, as_tensor(c.at("out")), 1e-12, 1e-12);
  (out * as_tensor(c.at("out_weight"))).sum().backward();
  EXPECT_TENSOR_CLOSE(x.grad(), as_tensor(c.at("grad_x")), 1e-12, 1e-12);
  EXPECT_TENSOR_CLOSE(m->get("weight").grad(), as_tensor(c.at("grad_weight")), 1e-12, 1e-12);
  if (!c.at("bias").is_null()) {
    EXPECT_TENSOR_CLOSE(m->get("bias").grad(), as_tensor(c.at("grad_bias")), 1e-12, 1e-12);
  }
}

}  // namespace

// ---- Conv padding ----------------------------------------------------------------------------------

TEST(ConvPaddingFixture, ForwardAndBackwardMatchPyTorch) {
  int n = 0;
  for (const json& c : fixtures().at("conv")) {
    if (c.at("dims").get<int>() == 2) {
      check_conv_case<2>(c);
    } else {
      check_conv_case<3>(c);
    }
    ++n;
  }
  EXPECT_EQ(n, 13);
}

TEST(ConvPadding, SameKeepsTheSizeAndPutsTheOddZeroOnTheRight) {
  // Even kernel: total pad 3 = 1 left + 2 right. Compare with an explicit F::pad + valid conv.
  Generator g(3);
  Tensor x = randn({1, 1, 5, 6}, kFloat64, &g), w = randn({1, 1, 4, 4}, kFloat64, &g);
  Tensor same = F::conv2d(x, w, Tensor(), {1}, "same");
  EXPECT_EQ(same.sizes(), (Shape{1, 1, 5, 6}));
  Tensor manual = F::conv2d(F::pad(x, {1, 2, 1, 2}), w);
  EXPECT_TENSOR_EQ(same, manual);
  EXPECT_TENSOR_EQ(F::conv2d(x, w, Tensor(), {1}, "valid"), F::conv2d(x, w));
}

TEST(ConvPadding, BadArgumentsAreValueErrors) {
  EXPECT_ERROR(Conv2d(Conv2dOptions(1, 1, 3).padding("same").stride(2)), ValueError,
               "padding='same' is not supported for strided convolutions");
  EXPECT_ERROR(Conv2d(Conv2dOptions(1, 1, 3).padding("full")), ValueError, "Invalid padding string 'full'");
  EXPECT_ERROR(Conv2d(Conv2dOptions(1, 1, 3).padding_mode("mirror")), ValueError, "padding_mode='mirror'");
  Tensor x = zeros({1, 1, 4, 4}), w = zeros({1, 1, 3, 3});
  EXPECT_ERROR(F::conv2d(x, w, Tensor(), {2}, "same"), ValueError, "strided");
  EXPECT_ERROR(F::conv2d(x, w, Tensor(), {1}, "half"), ValueError, "'half'");
  // padding(0) is still the integer padding
  EXPECT_EQ(Conv2dOptions(1, 1, 3).padding(0).padding_, (std::vector<int64_t>{0, 0}));
}

// float64 finite differences through each padding mode: the module (input gradient) and the
// same computation in functional form (input and weight gradients).
TEST(ConvPadding, Gradcheck) {
  for (const char* mode : {"zeros", "reflect", "replicate", "circular"}) {
    SCOPED_TRACE(mode);
    auto conv = std::make_shared<Conv2d>(Conv2dOptions(2, 2, {2, 3}).padding("same").padding_mode(mode));
    conv->to(kFloat64);
    auto through_module = [conv](const TensorList& in) { return TensorList{(*conv)(in[0])}; };
    EXPECT_GRADCHECK(through_module, (TensorList{twig::testing::leaf({1, 2, 4, 5}, 7)}));
    const std::vector<int64_t> pads = conv->reversed_padding_repeated_twice();
    EXPECT_EQ(pads, (std::vector<int64_t>{1, 1, 0, 1}));
    const std::string pad_mode = std::string(mode) == "zeros" ? "constant" : mode;
    auto functional = [pads, pad_mode](const TensorList& in) {
      return TensorList{F::conv2d(F::pad(in[0], pads, pad_mode), in[1])};
    };
    EXPECT_GRADCHECK(functional,
                     (TensorList{twig::testing::leaf({1, 2, 4, 5}, 8), twig::testing::leaf({2, 2, 2, 3}, 9)}));
  }
  for (const char* mode : {"constant", "reflect", "replicate", "circular"}) {
    SCOPED_TRACE(mode);
    auto padded = [mode](const TensorList& in) { return TensorList{F::pad(in[0], {2, 1, 0, 3}, mode)}; };
    EXPECT_GRADCHECK(padded, (TensorList{twig::testing::leaf({2, 4, 3}, 11)}));
  }
  auto same_dilated = [](const TensorList& in) {
    return TensorList{F::conv2d(in[0], in[1], Tensor(), {1}, "same", {2})};
  };
  EXPECT_GRADCHECK(same_dilated,
                   (TensorList{twig::testing::leaf({1, 1, 5, 4}, 1), twig::testing::leaf({2, 1, 2, 3}, 2)}));
}

TEST(Pad, ModesValuesAndErrors) {
  Tensor x = arange(4.0).reshape({1, 4});  // [0, 1, 2, 3]
  EXPECT_TENSOR_EQ(F::pad(x, {2, 1}, "reflect"), tensor({{2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0}}));
  EXPECT_TENSOR_EQ(F::pad(x, {2, 1}, "replicate"), tensor({{0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0}}));
  EXPECT_TENSOR_EQ(F::pad(x, {2, 1}, "circular"), tensor({{2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0}}));
  EXPECT_TENSOR_EQ(F::pad(x, {1, 1}, "constant", 9.0), tensor({{9.0, 0.0, 1.0, 2.0, 3.0, 9.0}}));
  EXPECT_TENSOR_EQ(F::pad(x, {-1, 0}), tensor({{1.0, 2.0, 3.0}}));
  EXPECT_ERROR(F::pad(x, {4, 0}, "reflect"), ValueError, "Padding size should be less than");
  EXPECT_ERROR(F::pad(x, {5, 0}, "circular"), ValueError, "wrapping around more than once");
  EXPECT_ERROR(F::pad(x, {1}), ValueError, "divisible by 2");
  EXPECT_ERROR(F::pad(x, {1, 1}, "wrap"), ValueError, "'wrap'");
}

// ---- MaxPool2d(return_indices) ----------------------------------------------------------------------

TEST(MaxPoolIndicesFixture, OutputIndicesAndGradientMatchPyTorch) {
  for (const json& c : fixtures().at("max_pool")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const json& cfg = c.at("config");
    MaxPool2dOptions o(spatial(cfg.at("kernel_size")));
    if (!cfg.at("stride").is_null()) o.stride(spatial(cfg.at("stride")));
    o.padding(spatial(cfg.at("padding"))).dilation(spatial(cfg.at("dilation"))).ceil_mode(cfg.at("ceil_mode"));
    o.return_indices(true);
    MaxPool2d pool(o);
    EXPECT_EQ(pool.repr(), c.at("repr").get<std::string>());
    Tensor x = as_tensor(c.at("x"), kFloat32).requires_grad_();
    Value result = pool.call({Value(x)});
    ASSERT_TRUE(result.is_tuple());
    ASSERT_EQ(result.size(), 2u);
    Tensor out = result.items()[0].tensor(), idx = result.items()[1].tensor();
    EXPECT_EQ(c.at("indices_dtype").get<std::string>(), "torch.int64");
    EXPECT_EQ(idx.dtype(), kInt64);
    EXPECT_TENSOR_EQ(out, as_tensor(c.at("out"), kFloat32));
    EXPECT_TENSOR_EQ(idx, as_int_tensor(c.at("indices")));
    (out * as_tensor(c.at("out_weight"), kFloat32)).sum().backward();
    EXPECT_TENSOR_EQ(x.grad(), as_tensor(c.at("grad_x"), kFloat32));
    // The functional form and the module's plain forward agree.
    auto [out2, idx2] = pool.forward_with_indices(x);
    EXPECT_TENSOR_EQ(idx2, idx);
    EXPECT_TENSOR_EQ(pool.forward(x), out);
  }
}

TEST(MaxPoolIndices, ModuleCallReturnsATuple) {
  MaxPool2d pool(MaxPool2dOptions(2).return_indices(true));
  // One tensor out was asked for, but the module returns (output, indices).
  EXPECT_THROW(pool(zeros({1, 1, 2, 2})), TypeError);
  MaxPool2d plain(MaxPool2dOptions(2));
  EXPECT_EQ(plain(zeros({1, 1, 2, 2})).sizes(), (Shape{1, 1, 1, 1}));
}

// ---- clip_grad_norm_ ---------------------------------------------------------------------------------

TEST(ClipGradNormFixture, TotalNormAndClippedGradientsMatchPyTorch) {
  for (const json& c : fixtures().at("clip")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    TensorList params;
    for (const json& g : c.at("grads")) {
      Tensor p = zeros(g.at("shape").get<Shape>()).requires_grad_();
      p.set_grad(as_tensor(g, kFloat32));
      params.push_back(p);
    }
    const double norm_type = c.at("norm_type").is_string() ? utils::kInf : c.at("norm_type").get<double>();
    Tensor total = utils::clip_grad_norm_(params, c.at("max_norm").get<double>(), norm_type);
    EXPECT_EQ(c.at("total_dtype").get<std::string>(), "torch.float32");
    EXPECT_EQ(total.dtype(), kFloat32);
    EXPECT_EQ(total.dim(), 0);
    EXPECT_NEAR(total.item<double>(), c.at("total_norm").get<double>(), 2e-6 * c.at("total_norm").get<double>());
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TENSOR_CLOSE(params[i].grad(), as_tensor(c.at("clipped")[i], kFloat32), 1e-6, 1e-7);
    }
  }
}

TEST(ClipGradNorm, EdgeCases) {
  // No gradients: a zero of the default dtype, nothing touched.
  Tensor p = zeros({3}).requires_grad_();
  Tensor none = utils::clip_grad_norm_(TensorList{p}, 1.0);
  EXPECT_EQ(none.item<double>(), 0.0);
  EXPECT_EQ(none.dtype(), kFloat32);
  // Norm 5 clipped to 1: coefficient 1 / (5 + 1e-6) in float32.
  p.set_grad(tensor({3.0f, 4.0f, 0.0f}));
  Tensor total = utils::clip_grad_norm_(p, 1.0);
  EXPECT_FLOAT_EQ(total.item<float>(), 5.0f);
  const float coef = 1.0f / (5.0f + 1e-6f);
  EXPECT_FLOAT_EQ(p.grad()[0].item<float>(), 3.0f * coef);
  // Non-finite total: error_if_nonfinite raises and changes nothing; otherwise NaN propagates.
  Tensor q = zeros({2}).requires_grad_();
  q.set_grad(tensor({INFINITY, 1.0f}));
  EXPECT_ERROR(utils::clip_grad_norm_(q, 1.0, 2.0, true), RuntimeError, "non-finite");
  EXPECT_EQ(q.grad()[1].item<float>(), 1.0f);
  EXPECT_TRUE(std::isinf(utils::clip_grad_norm_(q, 1.0).item<double>()));
}

// ---- LR schedulers ------------------------------------------------------------------------------------

namespace {
std::unique_ptr<optim::LRScheduler> make_scheduler(optim::Optimizer& opt, const json& c) {
  const json& a = c.at("args");
  if (c.at("kind") == "step") {
    return std::make_unique<optim::StepLR>(opt, a.at("step_size").get<int64_t>(), a.at("gamma").get<double>());
  }
  return std::make_unique<optim::CosineAnnealingLR>(opt, a.at("T_max").get<int64_t>(), a.value("eta_min", 0.0));
}
}  // namespace

TEST(LRSchedulerFixture, ThirtyStepsMatchPyTorchExactly) {
  for (const json& c : fixtures().at("schedulers")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    Tensor p = zeros({2}).requires_grad_();
    optim::SGD opt(TensorList{p}, optim::SGDOptions(c.at("lr").get<double>()));
    auto sched = make_scheduler(opt, c);
    const auto want = c.at("last_lr").get<std::vector<double>>();
    const auto want_group = c.at("group_lr").get<std::vector<double>>();
    EXPECT_EQ(sched->get_last_lr().at(0), want[0]);
    EXPECT_EQ(sched->last_epoch(), 0);
    for (size_t k = 1; k < want.size(); ++k) {
      opt.step();
      sched->step();
      EXPECT_EQ(sched->get_last_lr().at(0), want[k]) << "step " << k;  // bit for bit
      EXPECT_EQ(opt.param_groups()[0].get("lr"), want_group[k]) << "step " << k;
    }
    EXPECT_EQ(sched->last_epoch(), c.at("final_last_epoch").get<int64_t>());
    EXPECT_EQ(sched->state_dict().step_count, c.at("final_step_count").get<int64_t>());
    EXPECT_EQ(opt.param_groups()[0].get("initial_lr"), c.at("lr").get<double>());
  }
}

TEST(LRScheduler, StateDictResumes) {
  Tensor p = zeros({2}).requires_grad_();
  optim::SGD opt(TensorList{p}, optim::SGDOptions(0.1));
  optim::CosineAnnealingLR sched(opt, 10, 0.001);
  for (int i = 0; i < 13; ++i) sched.step();
  const optim::SchedulerState st = sched.state_dict();
  EXPECT_EQ(st.last_epoch, 13);
  EXPECT_EQ(st.options.at("T_max"), 10.0);

  // A second optimizer at the same lr and a scheduler loaded from the state continue identically.
  Tensor p2 = zeros({2}).requires_grad_();
  optim::SGD opt2(TensorList{p2}, optim::SGDOptions(0.1));
  optim::CosineAnnealingLR sched2(opt2, 3);  // other options: replaced by the loaded ones
  opt2.param_groups()[0].options["lr"] = opt.param_groups()[0].get("lr");
  sched2.load_state_dict(st);
  EXPECT_EQ(sched2.T_max(), 10);
  EXPECT_EQ(sched2.eta_min(), 0.001);
  for (int i = 0; i < 20; ++i) {
    sched.step();
    sched2.step();
    EXPECT_EQ(sched.get_last_lr(), sched2.get_last_lr());
  }
  // Another scheduler's state is refused, leaving this one as it was.
  optim::StepLR step(opt2, 5);
  EXPECT_ERROR(step.load_state_dict(st), ValueError, "scheduler state has no option");
  EXPECT_EQ(step.step_size(), 5);
  EXPECT_EQ(step.last_epoch(), 0);
}

TEST(LRScheduler, ArgumentsAndResuming) {
  Tensor p = zeros({2}).requires_grad_();
  optim::SGD opt(TensorList{p}, optim::SGDOptions(0.1));
  EXPECT_ERROR(optim::StepLR(opt, 0), ValueError, "step_size must be a positive integer, got 0");
  EXPECT_ERROR(optim::CosineAnnealingLR(opt, -1), ValueError, "T_max");
  EXPECT_FALSE(opt.param_groups()[0].options.contains("initial_lr"));  // refused before any change
  EXPECT_ERROR(optim::StepLR(opt, 3, 0.1, 4), KeyError, "param 'initial_lr' is not specified in param_groups[0]");
  // Resuming at epoch 4 with initial_lr present: CosineAnnealingLR takes the closed form once.
  opt.param_groups()[0].options["initial_lr"] = 0.1;
  optim::CosineAnnealingLR resumed(opt, 10, 0.0, 4);
  EXPECT_EQ(resumed.last_epoch(), 5);
  EXPECT_DOUBLE_EQ(resumed.get_last_lr()[0], 0.1 * (1 + std::cos(5 * M_PI / 10)) / 2);
}
