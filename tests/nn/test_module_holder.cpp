// A bare nn::Module as a holder (Python's nn.Module()), set_default_dtype, and the Python class
// names of twig's exceptions.
#include <gtest/gtest.h>

#include <cmath>

#include "testing.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"

using namespace twig;
using namespace twig::nn;

// ---- a bare Module ------------------------------------------------------------------------------

TEST(BareModule, HoldsParametersBuffersAndChildren) {
  // holder = nn.Module(); holder.register_parameter("w", ...); holder.fc = nn.Linear(3, 2)
  auto holder = std::make_shared<Module>();
  EXPECT_EQ(holder->type_name(), "Module");
  Tensor w = ones({2, 2});
  holder->register_parameter("w", w);
  holder->register_buffer("running", zeros({3}));
  auto fc = holder->register_module("fc", std::make_shared<Linear>(3, 2));
  Module& inner = *holder->register_module("inner", std::make_shared<Module>());
  inner.register_parameter("v", full({1}, 5.0));

  std::vector<std::string> names;
  for (const auto& [n, t] : holder->named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"w", "fc.weight", "fc.bias", "inner.v"}));
  EXPECT_TRUE(holder->get("w").is_same(w));
  EXPECT_TRUE(w.requires_grad());
  StateDict sd = holder->state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, t] : sd.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"w", "running", "fc.weight", "fc.bias", "inner.v"}));
  EXPECT_EQ(holder->num_parameters(), 4 + 6 + 2 + 1);
  EXPECT_EQ(holder->repr(),
            "Module(\n  (fc): Linear(in_features=3, out_features=2, bias=True)\n  (inner): Module()\n)");

  // load_state_dict into a second holder of the same shape
  auto other = std::make_shared<Module>();
  other->register_parameter("w", zeros({2, 2}));
  other->register_buffer("running", ones({3}));
  other->register_module("fc", std::make_shared<Linear>(3, 2));
  other->register_module("inner", std::make_shared<Module>())->register_parameter("v", zeros({1}));
  other->load_state_dict(sd);
  EXPECT_TENSOR_EQ(other->get("w"), w);
  EXPECT_TENSOR_EQ(other->find_module("inner")->get("v"), full({1}, 5.0));
  EXPECT_TENSOR_EQ(other->find_module("fc")->get("weight"), fc->get("weight"));
}

TEST(BareModule, ForwardRaisesNotImplementedErrorNamingTheType) {
  Module holder;
  EXPECT_ERROR(holder.call({Value(ones({2}))}), NotImplementedError,
               "Module [Module] is missing the required \"forward\" function");
  Module named("MyHolder");
  EXPECT_ERROR(named(ones({2})), NotImplementedError, "Module [MyHolder]");
  // Python: NotImplementedError is a RuntimeError.
  EXPECT_THROW(holder.call({}), RuntimeError);
}

TEST(BareModule, ClonesDeeply) {
  auto holder = std::make_shared<Module>();
  holder->register_parameter("w", ones({2}));
  holder->register_module("fc", std::make_shared<Linear>(2, 1));
  ModulePtr copy = holder->clone();
  EXPECT_EQ(copy->type_name(), "Module");
  EXPECT_FALSE(copy->get("w").is_same(holder->get("w")));
  EXPECT_TENSOR_EQ(copy->get("w"), holder->get("w"));
  EXPECT_NE(copy->child("fc"), holder->child("fc"));
  EXPECT_TENSOR_EQ(copy->find_module("fc")->get("weight"), holder->find_module("fc")->get("weight"));
  copy->get("w").detach().fill_(3.0);
  EXPECT_TENSOR_EQ(holder->get("w"), ones({2}));
}

// A subclass that does not override clone_instance cannot be cloned (it would lose its type).
TEST(BareModule, SubclassWithoutCloneInstanceSaysSo) {
  struct Plain : Module {
    Plain() : Module("Plain") {}
  };
  auto p = std::make_shared<Plain>();
  EXPECT_ERROR(p->clone(), NotImplementedError, "Module [Plain] cannot be cloned");
}

// ---- set_default_dtype ----------------------------------------------------------------------------

TEST(DefaultDtype, FactoriesAndLayersFollowIt) {
  EXPECT_EQ(get_default_dtype(), kFloat32);
  {
    DefaultDtypeGuard guard(kFloat64);
    EXPECT_EQ(get_default_dtype(), kFloat64);
    EXPECT_EQ(zeros({2}).dtype(), kFloat64);
    EXPECT_EQ(ones({2}).dtype(), kFloat64);
    EXPECT_EQ(empty({2}).dtype(), kFloat64);
    EXPECT_EQ(rand({2}).dtype(), kFloat64);
    EXPECT_EQ(randn({2}).dtype(), kFloat64);
    EXPECT_EQ(tensor({1.5, 2.0}).dtype(), kFloat64);
    EXPECT_EQ(tensor({1, 2}).dtype(), kInt64);  // integers stay int64
    EXPECT_EQ(arange(0.0, 1.0, 0.25).dtype(), kFloat64);
    EXPECT_EQ(linspace(0, 1, 3).dtype(), kFloat64);
    EXPECT_EQ((tensor({1, 2}) * 1.5).dtype(), kFloat64);             // int tensor meets a Python float
    EXPECT_EQ((tensor({1, 2}) / tensor({2, 2})).dtype(), kFloat64);  // true division
    // A float64 value is not rounded through float32.
    EXPECT_EQ(tensor({0.1}).item<double>(), 0.1);
    Linear fc(3, 2);
    EXPECT_EQ(fc.get("weight").dtype(), kFloat64);
    EXPECT_EQ(fc.get("bias").dtype(), kFloat64);
    // kaiming_uniform_(a=sqrt(5)) on fan_in 3: U(-1/sqrt(3), 1/sqrt(3)), drawn in float64.
    EXPECT_LE(fc.get("weight").abs().max().item<double>(), 1.0 / std::sqrt(3.0));
    Conv2d conv(1, 2, 3);
    EXPECT_EQ(conv.get("weight").dtype(), kFloat64);
    EXPECT_EQ(conv(zeros({1, 1, 4, 4})).dtype(), kFloat64);
    // explicit dtypes still win
    EXPECT_EQ(zeros({2}, kFloat32).dtype(), kFloat32);
  }
  EXPECT_EQ(get_default_dtype(), kFloat32);
  EXPECT_EQ(zeros({2}).dtype(), kFloat32);
  EXPECT_EQ(Linear(2, 2).get("weight").dtype(), kFloat32);
}

TEST(DefaultDtype, OnlyFloatingTypes) {
  EXPECT_ERROR(set_default_dtype(kInt64), TypeError, "torch.int64");
  EXPECT_ERROR(set_default_dtype(kBool), TypeError, "torch.bool");
  EXPECT_ERROR(set_default_dtype(kUInt8), TypeError, "only floating-point types");
  EXPECT_EQ(get_default_dtype(), kFloat32);  // unchanged by the failed calls
  set_default_dtype(kFloat64);
  set_default_dtype(kFloat32);
  EXPECT_EQ(get_default_dtype(), kFloat32);
}

// ---- Python class names of exceptions ---------------------------------------------------------------

namespace {
template <typename E>
std::string python_name_of() {
  try {
    throw E("x");
  } catch (const Error& e) {  // caught through the base, so the name comes from the dynamic type
    return e.python_name();
  }
}
}  // namespace

TEST(ErrorPythonName, EveryClass) {
  EXPECT_EQ(python_name_of<Error>(), "Exception");
  EXPECT_EQ(python_name_of<TypeError>(), "TypeError");
  EXPECT_EQ(python_name_of<ValueError>(), "ValueError");
  EXPECT_EQ(python_name_of<LookupError>(), "LookupError");
  EXPECT_EQ(python_name_of<IndexError>(), "IndexError");
  EXPECT_EQ(python_name_of<KeyError>(), "KeyError");
  EXPECT_EQ(python_name_of<RuntimeError>(), "RuntimeError");
  EXPECT_EQ(python_name_of<NotImplementedError>(), "NotImplementedError");
  EXPECT_EQ(python_name_of<AssertionError>(), "AssertionError");
  EXPECT_EQ(python_name_of<AttributeError>(), "AttributeError");
}

TEST(ErrorPythonName, RaisedByTheLibrary) {
  Linear fc(2, 2);
  try {
    fc.get("nope");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.python_name(), "AttributeError");
  }
  try {
    zeros({2}).select(0, 5);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.python_name(), "IndexError");
  }
  try {
    fc.remove_parameter("nope");
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.python_name(), "KeyError");
  }
}
