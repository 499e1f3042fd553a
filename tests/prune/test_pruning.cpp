// PyTorch's test/nn/test_pruning.py (seed 000): one test per Python test, same names, same
// assertions. subTest loops are loops with SCOPED_TRACE; mock.patch("...Method.compute_mask") is a
// prune::PatchComputeMask<Method> guard (prune/patch.h) around a call of the public prune function;
// pickle / torch.save are serialize/'s whole-module and state-dict files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/prune/prune_testing.h"
#include "tests/testing.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/rnn.h"
#include "twig/prune/patch.h"
#include "twig/prune/prune.h"
#include "twig/tensor/random.h"

#if defined(TWIG_HAS_SERIALIZE) && __has_include("twig/serialize/module_io.h")
#define TWIG_PRUNE_TEST_SERIALIZE 1
#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"
#endif

namespace twig {
namespace {

using indexing::Slice;
using nn::Module;
using nn::ModulePtr;
using testing::buffer_names;
using testing::parameter_names;
using testing::set_parameter;

// [nn.Linear(5, 7), nn.Conv3d(2, 2, 2)]
std::vector<ModulePtr> linear_and_conv3d() {
  return {std::make_shared<nn::Linear>(5, 7), std::make_shared<nn::Conv3d>(2, 2, 2)};
}
const std::vector<std::string> kNames = {"weight", "bias"};

Tensor ones_input() { return ones({1, 5}); }

// A temporary file name removed on scope exit (Python's TemporaryFileName).
struct TemporaryFileName {
  std::string path;
  TemporaryFileName() {
    static int counter = 0;
    path = (std::filesystem::temp_directory_path() /
            ("twig_prune_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++)))
               .string();
  }
  ~TemporaryFileName() { std::remove(path.c_str()); }
};

TEST(TestPruningNN, test_validate_pruning_amount_init) {
  // neither float nor int: TypeError
  EXPECT_ERROR(prune::_validate_pruning_amount_init("I'm a string"), TypeError, "Invalid type for amount");
  // float not in [0, 1]: ValueError
  EXPECT_ERROR(prune::_validate_pruning_amount_init(1.1), ValueError, "amount=1.1");
  EXPECT_ERROR(prune::_validate_pruning_amount_init(20.), ValueError, "amount=20.0");
  // negative int: ValueError
  EXPECT_ERROR(prune::_validate_pruning_amount_init(-10), ValueError, "amount=-10");
  // all valid
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(0.34));
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(1500));
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(0));
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(0.0));
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(1));
  EXPECT_NO_THROW(prune::_validate_pruning_amount_init(1.0));
}

TEST(TestPruningNN, test_validate_pruning_amount) {
  // an int amount larger than tensor_size: ValueError
  EXPECT_ERROR(prune::_validate_pruning_amount(20, 19), ValueError, "amount=20");
  // a float amount never raises
  EXPECT_NO_THROW(prune::_validate_pruning_amount(0.3, 0));
  // normal cases
  EXPECT_NO_THROW(prune::_validate_pruning_amount(19, 20));
  EXPECT_NO_THROW(prune::_validate_pruning_amount(0, 0));
  EXPECT_NO_THROW(prune::_validate_pruning_amount(1, 1));
}

TEST(TestPruningNN, test_compute_nparams_to_prune) {
  EXPECT_EQ(prune::_compute_nparams_toprune(0, 15), 0);
  EXPECT_EQ(prune::_compute_nparams_toprune(10, 15), 10);
  // 1 is an int: one unit
  EXPECT_EQ(prune::_compute_nparams_toprune(1, 15), 1);
  // 1.0 is a float: 100% of the units
  EXPECT_EQ(prune::_compute_nparams_toprune(1.0, 15), 15);
  EXPECT_EQ(prune::_compute_nparams_toprune(0.4, 17), 7);
}

TEST(TestPruningNN, test_random_pruning_sizes) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      Tensor original = m->get(name);
      prune::random_unstructured(*m, name, 0.1);
      EXPECT_EQ(original.sizes(), m->get(name + "_mask").sizes());
      EXPECT_EQ(original.sizes(), m->get(name + "_orig").sizes());
      EXPECT_EQ(original.sizes(), m->get(name).sizes());
    }
  }
}

TEST(TestPruningNN, test_random_pruning_orig) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      Tensor original = m->get(name);
      prune::random_unstructured(*m, name, 0.1);
      EXPECT_TENSOR_EQ(original, m->get(name + "_orig"));
      EXPECT_TRUE(original.is_same(m->get(name + "_orig")));
    }
  }
}

TEST(TestPruningNN, test_random_pruning_new_weight) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      Tensor original = m->get(name);
      prune::random_unstructured(*m, name, 0.1);
      EXPECT_TENSOR_EQ(m->get(name), m->get(name + "_orig") * m->get(name + "_mask").to(original.dtype()));
    }
  }
}

TEST(TestPruningNN, test_identity_pruning) {
  Tensor input = ones_input();
  auto m = std::make_shared<nn::Linear>(5, 2);
  Tensor y_prepruning = (*m)(input);
  y_prepruning.sum().backward();
  Tensor old_grad_weight = m->get("weight").grad().clone();
  EXPECT_TENSOR_EQ(old_grad_weight, ones_like(m->get("weight")));
  Tensor old_grad_bias = m->get("bias").grad().clone();
  EXPECT_TENSOR_EQ(old_grad_bias, ones_like(m->get("bias")));
  m->zero_grad();

  prune::identity(*m, "weight");

  // with a mask of ones, the output and the gradients are unchanged
  Tensor y_postpruning = (*m)(input);
  EXPECT_TENSOR_EQ(y_prepruning, y_postpruning);
  y_postpruning.sum().backward();
  EXPECT_TENSOR_EQ(old_grad_weight, m->get("weight_orig").grad());
  EXPECT_TENSOR_EQ(old_grad_bias, m->get("bias").grad());

  // two forward passes give the same output
  Tensor y1 = (*m)(input);
  Tensor y2 = (*m)(input);
  EXPECT_TENSOR_EQ(y1, y2);
}

TEST(TestPruningNN, test_random_pruning_0perc) {
  Tensor input = ones_input();
  auto m = std::make_shared<nn::Linear>(5, 2);
  Tensor y_prepruning = (*m)(input);
  y_prepruning.sum().backward();
  Tensor old_grad_weight = m->get("weight").grad().clone();
  EXPECT_TENSOR_EQ(old_grad_weight, ones_like(m->get("weight")));
  Tensor old_grad_bias = m->get("bias").grad().clone();
  EXPECT_TENSOR_EQ(old_grad_bias, ones_like(m->get("bias")));
  m->zero_grad();

  // compute_mask patched to a mask of ones: the amount does not count
  {
    Tensor ones_mask = ones_like(m->get("weight"));
    prune::PatchComputeMask<prune::RandomUnstructured> compute_mask(
        [&](const Tensor&, const Tensor&) { return ones_mask; });
    prune::random_unstructured(*m, "weight", 0.9);  // amount won't count
    EXPECT_EQ(compute_mask.call_count(), 1);
    // Beyond the seed: the buffer is the mask compute_mask returned (Python registers that object).
    EXPECT_TENSOR_EQ(m->get("weight_mask"), ones_mask);
  }

  Tensor y_postpruning = (*m)(input);
  EXPECT_TENSOR_EQ(y_prepruning, y_postpruning);
  y_postpruning.sum().backward();
  EXPECT_TENSOR_EQ(old_grad_weight, m->get("weight_orig").grad());
  EXPECT_TENSOR_EQ(old_grad_bias, m->get("bias").grad());

  Tensor y1 = (*m)(input);
  Tensor y2 = (*m)(input);
  EXPECT_TENSOR_EQ(y1, y2);
}

TEST(TestPruningNN, test_random_pruning) {
  Tensor input = ones_input();
  auto m = std::make_shared<nn::Linear>(5, 2);
  Tensor mask = ones_like(m->get("weight"));
  mask.index_put_({1, 0}, Scalar(0));
  mask.index_put_({0, 3}, Scalar(0));

  // the gradient of the masked weight is zero where the mask is
  {
    prune::PatchComputeMask<prune::RandomUnstructured> compute_mask([&](const Tensor&, const Tensor&) { return mask; });
    prune::random_unstructured(*m, "weight", 0.9);
    EXPECT_EQ(compute_mask.call_count(), 1);
  }
  // Beyond the seed: the buffer is the mask compute_mask returned (Python registers that object).
  EXPECT_TENSOR_EQ(m->get("weight_mask"), mask);
  Tensor y_postpruning = (*m)(input);
  y_postpruning.sum().backward();
  EXPECT_TENSOR_EQ(m->get("weight_orig").grad(), mask);  // all 1 except the masked units
  EXPECT_TENSOR_EQ(m->get("bias").grad(), ones_like(m->get("bias")));

  // an SGD step leaves weight_orig[1, 0] and [0, 3] unchanged
  Tensor old_weight_orig = m->get("weight_orig").clone();
  const double learning_rate = 1.0;
  for (const Tensor& p : m->parameters()) p.data().sub_(p.grad().data() * learning_rate);
  EXPECT_TENSOR_EQ(old_weight_orig.index({1, 0}), m->get("weight_orig").index({1, 0}));
  EXPECT_TENSOR_EQ(old_weight_orig.index({0, 3}), m->get("weight_orig").index({0, 3}));
}

TEST(TestPruningNN, test_random_pruning_forward) {
  Tensor input = ones_input();
  auto m = std::make_shared<nn::Linear>(5, 2);
  Tensor mask = zeros_like(m->get("weight"));
  mask.index_put_({1, 0}, Scalar(1));
  mask.index_put_({0, 3}, Scalar(1));
  {
    prune::PatchComputeMask<prune::RandomUnstructured> compute_mask([&](const Tensor&, const Tensor&) { return mask; });
    prune::random_unstructured(*m, "weight", 0.9);
    EXPECT_EQ(compute_mask.call_count(), 1);
  }
  // Beyond the seed: the buffer is the mask compute_mask returned (Python registers that object).
  EXPECT_TENSOR_EQ(m->get("weight_mask"), mask);
  Tensor yhat = (*m)(input);
  Tensor w = m->get("weight_orig"), b = m->get("bias");
  // assertEqual's float32 tolerances (rtol 1.3e-6, atol 1e-5); dtype and 0-d shape must match too
  EXPECT_TENSOR_CLOSE(yhat.index({0, 0}), w.index({0, 3}) + b.index({0}), 1.3e-6, 1e-5);
  EXPECT_TENSOR_CLOSE(yhat.index({0, 1}), w.index({1, 0}) + b.index({1}), 1.3e-6, 1e-5);
}

TEST(TestPruningNN, test_remove_pruning_forward) {
  Tensor input = ones_input();
  auto m = std::make_shared<nn::Linear>(5, 2);
  Tensor mask = ones_like(m->get("weight"));
  mask.index_put_({1, 0}, Scalar(0));
  mask.index_put_({0, 3}, Scalar(0));
  {
    prune::PatchComputeMask<prune::RandomUnstructured> compute_mask([&](const Tensor&, const Tensor&) { return mask; });
    prune::random_unstructured(*m, "weight", 0.9);
    EXPECT_EQ(compute_mask.call_count(), 1);
  }
  // Beyond the seed: the buffer is the mask compute_mask returned (Python registers that object).
  EXPECT_TENSOR_EQ(m->get("weight_mask"), mask);
  Tensor y_postpruning = (*m)(input);
  prune::remove(*m, "weight");
  Tensor y_postremoval = (*m)(input);
  EXPECT_TENSOR_EQ(y_postpruning, y_postremoval);
}

TEST(TestPruningNN, test_pruning_id_consistency) {
  auto m = std::make_shared<nn::Linear>(5, 2, /*bias=*/false);
  const TensorImpl* tensor_id = m->parameters().front().impl();
  prune::random_unstructured(*m, "weight", 0.9);
  EXPECT_EQ(tensor_id, m->parameters().front().impl());
  prune::remove(*m, "weight");
  EXPECT_EQ(tensor_id, m->parameters().front().impl());
}

TEST(TestPruningNN, test_random_pruning_pickle) {
#if defined(TWIG_PRUNE_TEST_SERIALIZE)
  std::vector<ModulePtr> modules = linear_and_conv3d();
  for (size_t i = 0; i < modules.size(); ++i) {
    const ModulePtr& m = modules[i];
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      prune::random_unstructured(*m, name, 0.1);
      TemporaryFileName file;
      serialize::save_module(*m, file.path);
      ModulePtr m_new = serialize::load_module(file.path);
      // assertIsInstance(m_new, type(m))
      ASSERT_NE(m_new, nullptr);
      EXPECT_EQ(m_new->type_name(), m->type_name());
      if (i == 0) {
        EXPECT_NE(std::dynamic_pointer_cast<nn::Linear>(m_new), nullptr);
      } else {
        EXPECT_NE(std::dynamic_pointer_cast<nn::Conv3d>(m_new), nullptr);
      }
      // Beyond the seed: the copy is pruned the same way.
      EXPECT_TRUE(prune::is_pruned(*m_new));
      EXPECT_TENSOR_EQ(m_new->get(name + "_mask"), m->get(name + "_mask"));
      EXPECT_TENSOR_EQ(m_new->get(name), m->get(name));
    }
  }
#else
  GTEST_SKIP() << "twig built without serialize/ (the whole-module serializer of the serialize issue)";
#endif
}

TEST(TestPruningNN, test_multiple_pruning_calls) {
  auto m = std::make_shared<nn::Conv3d>(2, 2, 2);
  prune::l1_unstructured(*m, "weight", 0.1);
  Tensor weight_mask0 = m->get("weight_mask");  // kept for the check below

  prune::ln_structured(*m, "weight", 0.3, 2, 0);
  ASSERT_EQ(m->forward_pre_hooks().size(), 1u);
  auto hook = m->forward_pre_hooks().items().begin()->second;
  auto container = std::dynamic_pointer_cast<prune::PruningContainer>(hook);
  ASSERT_NE(container, nullptr);
  EXPECT_EQ(container->tensor_name, "weight");

  // m.weight has been pruned twice
  EXPECT_EQ(container->size(), 2u);
  EXPECT_NE(std::dynamic_pointer_cast<prune::L1Unstructured>((*container)[0]), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<prune::LnStructured>((*container)[1]), nullptr);

  // everything pruned by the first mask is pruned by the second
  EXPECT_TRUE(m->get("weight_mask").masked_select(weight_mask0 == 0).eq(0).all().item<bool>());

  prune::ln_structured(*m, "weight", 0.1, INFINITY, 1);
  hook = m->forward_pre_hooks().items().begin()->second;
  EXPECT_EQ(std::dynamic_pointer_cast<prune::BasePruningMethod>(hook)->tensor_name, "weight");
}

TEST(TestPruningNN, test_pruning_container) {
  prune::PruningContainer container;
  container.tensor_name = "test";
  EXPECT_EQ(container.size(), 0u);

  auto p = std::make_shared<prune::L1Unstructured>(2);
  p->tensor_name = "test";
  container.add_pruning_method(p);

  // a method acting on another tensor: ValueError
  auto q = std::make_shared<prune::L1Unstructured>(2);
  q->tensor_name = "another_test";
  EXPECT_ERROR(container.add_pruning_method(q), ValueError, "another_test");

  // not a pruning method: TypeError
  EXPECT_ERROR(container.add_pruning_method(10), TypeError, "is not a BasePruningMethod subclass");
  EXPECT_ERROR(container.add_pruning_method("ugh"), TypeError, "is not a BasePruningMethod subclass");
}

// (The seed holds this test twice, the second copy at module level after a stray line; it is one test.)
TEST(TestPruningNN, test_pruning_container_compute_mask) {
  prune::PruningContainer container;
  container.tensor_name = "test";

  // 1) unstructured pruning
  auto p = std::make_shared<prune::L1Unstructured>(2);
  p->tensor_name = "test";
  container.add_pruning_method(p);
  Tensor t = tensor({{1, 2, 3, 4}, {5, 6, 7, 8}}).to(kFloat32);
  Tensor default_mask = tensor({{1, 1, 1, 0}, {1, 1, 0, 1}});
  // pruning the two lowest magnitude units among those still unpruned
  Tensor expected_mask = tensor({{0, 0, 1, 0}, {1, 1, 0, 1}}, kFloat32);
  Tensor computed_mask = container.compute_mask(t, default_mask);
  EXPECT_TENSOR_EQ(expected_mask, computed_mask);
  EXPECT_EQ(computed_mask.dtype(), kFloat32);

  // 2) structured pruning
  auto q = std::make_shared<prune::LnStructured>(1, 2, 0);
  q->tensor_name = "test";
  container.add_pruning_method(q);
  // the lowest-norm of the two rows goes
  expected_mask = tensor({{0, 0, 0, 0}, {1, 1, 0, 1}}, kFloat32);
  computed_mask = container.compute_mask(t, default_mask);
  EXPECT_TENSOR_EQ(expected_mask, computed_mask);

  // 3) structured pruning along another axis
  auto r = std::make_shared<prune::LnStructured>(1, 2, 1);
  r->tensor_name = "test";
  container.add_pruning_method(r);
  // the lowest-norm of the four columns goes
  expected_mask = tensor({{0, 1, 1, 0}, {0, 1, 0, 1}}, kFloat32);
  computed_mask = container.compute_mask(t, default_mask);
  EXPECT_TENSOR_EQ(expected_mask, computed_mask);
}

TEST(TestPruningNN, test_l1_unstructured_pruning) {
  auto m = std::make_shared<nn::Linear>(4, 2);
  set_parameter(*m, "weight", tensor({{1, 2, 3, 4}, {-4, -3, -2, -1}}, kFloat32));

  prune::l1_unstructured(*m, "weight", 2);
  Tensor expected_weight = tensor({{0, 2, 3, 4}, {-4, -3, -2, 0}}, kFloat32);
  EXPECT_TENSOR_EQ(expected_weight, m->get("weight"));

  // again: the next two smallest go
  prune::l1_unstructured(*m, "weight", 2);
  expected_weight = tensor({{0, 0, 3, 4}, {-4, -3, 0, 0}}, kFloat32);
  EXPECT_TENSOR_EQ(expected_weight, m->get("weight"));
}

TEST(TestPruningNN, test_l1_unstructured_pruning_with_importance_scores) {
  auto m = std::make_shared<nn::Linear>(4, 2);
  set_parameter(*m, "weight", tensor({{1, 2, 3, 4}, {-4, -3, -2, -1}}, kFloat32));
  Tensor importance_scores = tensor({{4, 2, 1, 3}, {-3, -1, -2, -4}}, kFloat32);

  prune::l1_unstructured(*m, "weight", 2, importance_scores);
  Tensor expected_weight = tensor({{1, 2, 0, 4}, {-4, 0, -2, -1}}, kFloat32);
  EXPECT_TENSOR_EQ(expected_weight, m->get("weight"));

  prune::l1_unstructured(*m, "weight", 2, importance_scores);
  expected_weight = tensor({{1, 0, 0, 4}, {-4, 0, 0, -1}}, kFloat32);
  EXPECT_TENSOR_EQ(expected_weight, m->get("weight"));
}

TEST(TestPruningNN, test_unstructured_pruning_same_magnitude) {
  // Entries of equal magnitude: exactly the requested number goes, not every entry at the threshold.
  const double AMOUNT = 0.2;
  prune::L1Unstructured p(AMOUNT);
  Tensor t = randint(-1, 2, {10, 7}) * 2;  // values in {-2, 0, 2}
  int64_t nparams_toprune = prune::_compute_nparams_toprune(AMOUNT, t.numel());
  Tensor computed_mask = p.compute_mask(t, ones_like(t));
  int64_t nparams_pruned = (computed_mask == 0).sum().item<int64_t>();
  EXPECT_EQ(nparams_toprune, nparams_pruned);
}

TEST(TestPruningNN, test_random_structured_pruning_amount) {
  const double AMOUNT = 0.6;
  const int64_t AXIS = 2;
  prune::RandomStructured p(AMOUNT, AXIS);
  Tensor t = (randint(-1, 2, {5, 4, 2}) * 2).to(kFloat32);
  int64_t nparams_toprune = prune::_compute_nparams_toprune(AMOUNT, t.size(AXIS));
  EXPECT_EQ(nparams_toprune, 1);

  Tensor computed_mask = p.compute_mask(t, ones_like(t));
  // exactly one column entirely pruned, the other untouched
  Dims remaining_axes;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d != AXIS) remaining_axes.push_back(d);
  }
  std::vector<int64_t> per_column_sums = (computed_mask == 0).sum(remaining_axes).to_vector<int64_t>();
  std::sort(per_column_sums.begin(), per_column_sums.end());
  EXPECT_EQ(per_column_sums, (std::vector<int64_t>{0, 20}));
}

Tensor ln_test_weight() {
  return tensor({{{{1.0, 2.0}, {1.0, 2.5}}, {{0.5, 1.0}, {0.1, 0.1}}, {{-3.0, -5.0}, {0.1, -1.0}}}});
}

TEST(TestPruningNN, test_ln_structured_pruning) {
  auto m = std::make_shared<nn::Conv2d>(3, 1, 2);
  m->get("weight").set_data(ln_test_weight());
  // the L2 norm prunes one of the three channels
  Tensor expected_mask_axis1 = ones_like(m->get("weight"));
  expected_mask_axis1.index_put_({Slice(), 1}, Scalar(0.0));
  prune::ln_structured(*m, "weight", 1, 2, 1);
  EXPECT_TENSOR_EQ(expected_mask_axis1, m->get("weight_mask"));

  // the L1 norm prunes one of the two columns
  Tensor expected_mask_axis3 = expected_mask_axis1;
  expected_mask_axis3.index_put_({Slice(), Slice(), Slice(), 0}, Scalar(0.0));
  prune::ln_structured(*m, "weight", 1, 1, -1);
  EXPECT_TENSOR_EQ(expected_mask_axis3, m->get("weight_mask"));
}

TEST(TestPruningNN, test_ln_structured_pruning_importance_scores) {
  auto m = std::make_shared<nn::Conv2d>(3, 1, 2);
  m->get("weight").set_data(ln_test_weight());
  Tensor importance_scores =
      tensor({{{{10.0, 1.0}, {10.0, 1.0}}, {{30.0, 3.0}, {30.0, 3.0}}, {{-20.0, -2.0}, {-20.0, -2.0}}}});
  Tensor expected_mask_axis1 = ones_like(m->get("weight"));
  expected_mask_axis1.index_put_({Slice(), 0}, Scalar(0.0));
  prune::ln_structured(*m, "weight", 1, 2, 1, importance_scores);
  EXPECT_TENSOR_EQ(expected_mask_axis1, m->get("weight_mask"));

  Tensor expected_mask_axis3 = expected_mask_axis1;
  expected_mask_axis3.index_put_({Slice(), Slice(), Slice(), 1}, Scalar(0.0));
  prune::ln_structured(*m, "weight", 1, 1, -1, importance_scores);
  EXPECT_TENSOR_EQ(expected_mask_axis3, m->get("weight_mask"));
}

TEST(TestPruningNN, test_remove_pruning) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      prune::random_unstructured(*m, name, 0.5);
      EXPECT_TRUE(parameter_names(*m).count(name + "_orig"));
      EXPECT_TRUE(buffer_names(*m).count(name + "_mask"));
      EXPECT_FALSE(parameter_names(*m).count(name));
      EXPECT_TRUE(m->has(name));
      Tensor pruned_t = m->get(name);

      prune::remove(*m, name);
      EXPECT_TRUE(parameter_names(*m).count(name));
      EXPECT_FALSE(parameter_names(*m).count(name + "_orig"));
      EXPECT_FALSE(buffer_names(*m).count(name + "_mask"));
      Tensor final_t = m->get(name);
      EXPECT_TENSOR_EQ(pruned_t, final_t);
    }
  }
}

TEST(TestPruningNN, test_remove_pruning_exception) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      EXPECT_FALSE(prune::is_pruned(*m));
      EXPECT_ERROR(prune::remove(*m, name), ValueError, "has to be pruned before pruning can be removed");
    }
  }
}

TEST(TestPruningNN, test_global_pruning) {
  auto m = std::make_shared<nn::Linear>(4, 2);
  auto n = std::make_shared<nn::Linear>(3, 1);
  set_parameter(*m, "weight", tensor({{1, 2, 3, 4}, {-4, -3, -2, -1}}).to(kFloat32));
  set_parameter(*n, "weight", tensor({{0, 0.1, -2}}).to(kFloat32));

  std::vector<prune::TensorRef> params_to_prune = {{m, "weight"}, {n, "weight"}};
  // the 4 smallest magnitudes over both tensors
  prune::global_unstructured(params_to_prune, prune::PruningType<prune::L1Unstructured>{}, 4);

  EXPECT_TENSOR_EQ(tensor({{0, 2, 3, 4}, {-4, -3, -2, 0}}, kFloat32), m->get("weight"));
  EXPECT_TENSOR_EQ(tensor({{0, 0, -2}}).to(kFloat32), n->get("weight"));
}

TEST(TestPruningNN, test_global_pruning_importance_scores) {
  auto m = std::make_shared<nn::Linear>(4, 2);
  set_parameter(*m, "weight", tensor({{1, 2, 3, 4}, {-4, -3, -2, -1}}).to(kFloat32));
  Tensor m_importance_scores = tensor({{4, 2, 1, 3}, {-3, -1, -2, -4}}, kFloat32);
  auto n = std::make_shared<nn::Linear>(3, 1);
  set_parameter(*n, "weight", tensor({{0, 0.1, -2}}).to(kFloat32));
  Tensor n_importance_scores = tensor({{0, 10.0, -0.2}}).to(kFloat32);

  std::vector<prune::TensorRef> params_to_prune = {{m, "weight"}, {n, "weight"}};
  prune::ImportanceScores importance_scores = {{{m, "weight"}, m_importance_scores},
                                               {{n, "weight"}, n_importance_scores}};
  prune::global_unstructured<prune::L1Unstructured>(params_to_prune, importance_scores, 4);

  EXPECT_TENSOR_EQ(tensor({{1, 2, 0, 4}, {-4, 0, -2, -1}}, kFloat32), m->get("weight"));
  EXPECT_TENSOR_EQ(tensor({{0, 0.1, 0}}).to(kFloat32), n->get("weight"));
}

// twig: the method object form is kept, but a copy does the work, so the caller's object is
// never changed (Python builds a fresh method from the class for every call); all spellings agree.
TEST(TestPruningNN, global_unstructured_spellings_and_no_mutation) {
  auto make = [] {
    auto m = std::make_shared<nn::Linear>(4, 2);
    auto n = std::make_shared<nn::Linear>(3, 1);
    set_parameter(*m, "weight", tensor({{1, 2, 3, 4}, {-4, -3, -2, -1}}).to(kFloat32));
    set_parameter(*n, "weight", tensor({{0, 0.1, -2}}).to(kFloat32));
    return std::make_pair(m, n);
  };
  const Tensor want_m = tensor({{0, 2, 3, 4}, {-4, -3, -2, 0}}, kFloat32);
  const Tensor want_n = tensor({{0, 0, -2}}).to(kFloat32);
  {
    auto [m, n] = make();
    auto method = std::make_shared<prune::L1Unstructured>(0.36);  // round(3.96): 4 of 11
    prune::global_unstructured({{m, "weight"}, {n, "weight"}}, method);
    EXPECT_EQ(method->tensor_name, "");
    for (const auto& [id, hook] : m->forward_pre_hooks().items()) EXPECT_NE(hook, method);
    EXPECT_TENSOR_EQ(want_m, m->get("weight"));
    EXPECT_TENSOR_EQ(want_n, n->get("weight"));
  }
  {
    auto [m, n] = make();
    prune::global_unstructured({{m, "weight"}, {n, "weight"}}, prune::PruningType<prune::L1Unstructured>{}, 0.36);
    EXPECT_TENSOR_EQ(want_m, m->get("weight"));
    EXPECT_TENSOR_EQ(want_n, n->get("weight"));
    EXPECT_EQ(prune::pruning_hook(*m, "weight")->type_name(), "CustomFromMask");
  }
  {
    auto [m, n] = make();
    prune::global_unstructured<prune::L1Unstructured>({{m, "weight"}, {n, "weight"}}, prune::Amount(4));
    EXPECT_TENSOR_EQ(want_m, m->get("weight"));
    EXPECT_TENSOR_EQ(want_n, n->get("weight"));
  }
  {
    // A structured method is refused before anything is pruned.
    auto [m, n] = make();
    EXPECT_ERROR((prune::global_unstructured<prune::LnStructured>({{m, "weight"}}, 1, 2.0, 0)), TypeError,
                 "Only \"unstructured\" PRUNING_TYPE supported");
    EXPECT_FALSE(prune::is_pruned(*m));
  }
}

TEST(TestPruningNN, test_custom_from_mask_pruning) {
  Tensor mask = tensor({{0, 1, 1, 0}, {0, 0, 1, 1}});
  Tensor default_mask = tensor({{0, 0, 0, 0}, {1, 1, 1, 1}});
  Tensor t = rand_like(mask.to(kFloat32));  // not used by the method
  prune::CustomFromMask p(mask);
  Tensor computed_mask = p.compute_mask(t, default_mask);
  Tensor expected_mask = tensor({{0, 0, 0, 0}, {0, 0, 1, 1}}).to(computed_mask.dtype());
  EXPECT_TENSOR_EQ(computed_mask, expected_mask);
}

TEST(TestPruningNN, test_pruning_rollback) {
  for (const ModulePtr& m : linear_and_conv3d()) {
    for (const std::string& name : kNames) {
      SCOPED_TRACE(m->repr() + " " + name);
      prune::PatchComputeMask<prune::L1Unstructured> compute_mask(
          [](const Tensor&, const Tensor&) -> Tensor { throw std::runtime_error("HA!"); });
      EXPECT_ERROR(prune::l1_unstructured(*m, name, 0.9), std::runtime_error, "HA!");
      EXPECT_EQ(compute_mask.call_count(), 1);
      // back to the state before pruning
      EXPECT_TRUE(parameter_names(*m).count(name));
      EXPECT_FALSE(buffer_names(*m).count(name + "_mask"));
      EXPECT_FALSE(parameter_names(*m).count(name + "_orig"));
    }
  }
}

TEST(TestPruningNN, test_pruning_serialization_model) {
#if defined(TWIG_PRUNE_TEST_SERIALIZE)
  auto model = std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<nn::Linear>(10, 10), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(10, 1)});
  // before pruning
  EXPECT_FALSE(model->state_dict().contains("0.weight_orig"));
  EXPECT_FALSE(model->state_dict().contains("0.weight_mask"));
  EXPECT_TRUE(model->state_dict().contains("0.weight"));

  prune::l1_unstructured(*(*model)[0], "weight", 0.9);

  EXPECT_TRUE(model->state_dict().contains("0.weight_orig"));
  EXPECT_TRUE(model->state_dict().contains("0.weight_mask"));
  EXPECT_FALSE(model->state_dict().contains("0.weight"));
  EXPECT_TRUE((*model)[0]->has("weight"));
  Tensor pruned_weight = (*model)[0]->get("weight");

  ModulePtr loaded;
  {
    TemporaryFileName file;
    serialize::save_module(*model, file.path);
    loaded = serialize::load_module(file.path);
  }
  auto new_model = std::dynamic_pointer_cast<nn::Sequential>(loaded);
  ASSERT_NE(new_model, nullptr);
  EXPECT_TRUE(new_model->state_dict().contains("0.weight_orig"));
  EXPECT_TRUE(new_model->state_dict().contains("0.weight_mask"));
  EXPECT_FALSE(new_model->state_dict().contains("0.weight"));
  EXPECT_TRUE((*new_model)[0]->has("weight"));
  EXPECT_TENSOR_EQ(pruned_weight, (*new_model)[0]->get("weight"));
#else
  GTEST_SKIP() << "twig built without serialize/ (the whole-module serializer of the serialize issue)";
#endif
}

TEST(TestPruningNN, test_pruning_serialization_state_dict) {
#if defined(TWIG_PRUNE_TEST_SERIALIZE)
  auto make_model = [] {
    return std::make_shared<nn::Sequential>(std::initializer_list<ModulePtr>{
        std::make_shared<nn::Linear>(10, 10), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(10, 1)});
  };
  auto model = make_model();
  EXPECT_FALSE(model->state_dict().contains("0.weight_orig"));
  EXPECT_FALSE(model->state_dict().contains("0.weight_mask"));
  EXPECT_TRUE(model->state_dict().contains("0.weight"));

  prune::l1_unstructured(*(*model)[0], "weight", 0.9);
  EXPECT_TRUE(model->state_dict().contains("0.weight_orig"));
  EXPECT_TRUE(model->state_dict().contains("0.weight_mask"));
  EXPECT_FALSE(model->state_dict().contains("0.weight"));
  EXPECT_TRUE((*model)[0]->has("weight"));
  Tensor pruned_weight = (*model)[0]->get("weight");

  // make the pruning permanent: the original parameter names again
  prune::remove(*(*model)[0], "weight");
  EXPECT_FALSE(model->state_dict().contains("0.weight_orig"));
  EXPECT_FALSE(model->state_dict().contains("0.weight_mask"));
  EXPECT_TRUE(model->state_dict().contains("0.weight"));

  auto new_model = make_model();
  {
    TemporaryFileName file;
    serialize::save_state_dict(model->state_dict(), file.path);
    new_model->load_state_dict(serialize::load_state_dict_file(file.path));
  }
  EXPECT_FALSE(new_model->state_dict().contains("0.weight_orig"));
  EXPECT_FALSE(new_model->state_dict().contains("0.weight_mask"));
  EXPECT_TRUE(new_model->state_dict().contains("0.weight"));
  EXPECT_TENSOR_EQ(pruned_weight, (*new_model)[0]->get("weight"));
#else
  GTEST_SKIP() << "twig built without serialize/ (the state-dict serializer of the serialize issue)";
#endif
}

TEST(TestPruningNN, test_prune) {
  prune::L1Unstructured p(2);
  Tensor t = tensor({{1, 2, 3, 4}, {5, 6, 7, 8}}).to(kFloat32);
  Tensor default_mask = tensor({{1, 1, 1, 0}, {1, 1, 0, 1}});
  // the two lowest magnitude units go
  Tensor expected_mask = tensor({{0, 0, 1, 0}, {1, 1, 0, 1}});
  Tensor pruned_tensor = p.prune(t, default_mask);
  EXPECT_TENSOR_EQ(t * expected_mask, pruned_tensor);
}

TEST(TestPruningNN, test_prune_importance_scores) {
  prune::L1Unstructured p(2);
  Tensor t = tensor({{1, 2, 3, 4}, {5, 6, 7, 8}}).to(kFloat32);
  Tensor importance_scores = tensor({{1, 2, 3, 4}, {1.5, 1.6, 1.7, 1.8}}).to(kFloat32);
  Tensor default_mask = tensor({{1, 1, 1, 0}, {1, 1, 0, 1}});
  Tensor expected_mask = tensor({{0, 1, 1, 0}, {0, 1, 0, 1}});
  Tensor pruned_tensor = p.prune(t, default_mask, importance_scores);
  EXPECT_TENSOR_EQ(t * expected_mask, pruned_tensor);
}

TEST(TestPruningNN, test_prune_importance_scores_mimic_default) {
  prune::L1Unstructured p(2);
  Tensor t = tensor({{1, 2, 3, 4}, {5, 6, 7, 8}}).to(kFloat32);
  Tensor default_mask = tensor({{1, 1, 1, 0}, {1, 1, 0, 1}});
  Tensor expected_mask = tensor({{0, 0, 1, 0}, {1, 1, 0, 1}});
  Tensor pruned_tensor_without_importance_scores = p.prune(t, default_mask);
  Tensor pruned_tensor_with_importance_scores = p.prune(t, default_mask, t);
  EXPECT_TENSOR_EQ(pruned_tensor_without_importance_scores, pruned_tensor_with_importance_scores);
  EXPECT_TENSOR_EQ(t * expected_mask, pruned_tensor_without_importance_scores);
}

TEST(TestPruningNN, test_rnn_pruning) {
  auto l = std::make_shared<nn::LSTM>(32, 32);
  auto count_parameters = [&] {
    int n = 0;
    for (const Tensor& w : l->flat_weights()) n += testing::is_parameter_object(*l, w);
    return n;
  };
  // one of the weights becomes a plain tensor
  prune::l1_unstructured(*l, "weight_ih_l0", 0.5);
  EXPECT_EQ(count_parameters(), 3);

  // removing the reparametrization makes it a parameter again
  prune::remove(*l, "weight_ih_l0");
  EXPECT_EQ(count_parameters(), 4);

  // the parameter registries hold weight_ih_l0 again, and no weight_ih_l0_orig
  EXPECT_TRUE(l->is_parameter("weight_ih_l0"));
  EXPECT_TRUE(l->parameters_dict().at("weight_ih_l0").defined());
  EXPECT_FALSE(l->is_parameter("weight_ih_l0_orig"));
  EXPECT_TRUE(parameter_names(*l).count("weight_ih_l0"));
  bool found_defined = false;
  for (const auto& [name, p] : l->named_parameters()) {
    if (name == "weight_ih_l0") found_defined = p.defined();
  }
  EXPECT_TRUE(found_defined);
  EXPECT_FALSE(parameter_names(*l).count("weight_ih_l0_orig"));
}

}  // namespace
}  // namespace twig
