// nn::Object and nn::Dict: the Python-like values of sparsifier configs and module attributes.
#include <gtest/gtest.h>

#include "tests/testing.h"
#include "twig/nn/nn.h"

using namespace twig;
using nn::Dict;
using nn::Object;

TEST(Object, DictLiteralKeepsOrderKindsAndValues) {
  Dict d{{"tensor_fqn", "linear1.weight"},
         {"sparse_block_shape", {1, 4}},
         {"test", 3},
         {"level", 0.5},
         {"flag", true},
         {"none", nullptr}};
  EXPECT_EQ(d.keys(), (std::vector<std::string>{"tensor_fqn", "sparse_block_shape", "test", "level", "flag", "none"}));
  EXPECT_EQ(d.at("tensor_fqn").to_string(), "linear1.weight");
  EXPECT_EQ(d.at("sparse_block_shape").to_int_vector(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(d.at("test").kind(), Object::Kind::Int);
  EXPECT_EQ(d.at("level").kind(), Object::Kind::Float);
  EXPECT_TRUE(d.at("flag").to_bool());
  EXPECT_TRUE(d.at("none").is_none());
  EXPECT_EQ(d.repr(),
            "{'tensor_fqn': 'linear1.weight', 'sparse_block_shape': (1, 4), 'test': 3, 'level': 0.5, 'flag': True, "
            "'none': None}");
}

TEST(Object, TypedAccessAndMissingKeysRaisePythonErrors) {
  Dict d{{"a", 1}};
  EXPECT_THROW(d.at("b"), KeyError);
  EXPECT_THROW(d.pop("b"), KeyError);
  EXPECT_THROW(d.at("a").to_string(), TypeError);
  EXPECT_THROW(Object("x").to_int_vector(), TypeError);
  EXPECT_EQ(d.get("b", 7).to_int(), 7);
  EXPECT_DOUBLE_EQ(d.at("a").to_double(), 1.0);  // an int reads as a float, as in Python arithmetic
}

TEST(Object, DictIsAReferenceLikePythonsAndDeepcopyIsNot) {
  Dict a{{"x", 1}};
  Dict alias = a;
  alias.set("y", 2);
  EXPECT_TRUE(a.contains("y"));
  Dict nested{{"inner", a}};
  Dict deep = nested.deepcopy();
  deep.at("inner").to_dict().set("z", 3);
  EXPECT_FALSE(a.contains("z"));
  nested.at("inner").to_dict().set("w", 4);
  EXPECT_TRUE(a.contains("w"));
  Object popped = a.pop("x");
  EXPECT_EQ(popped.to_int(), 1);
  EXPECT_EQ(a.keys(), (std::vector<std::string>{"y", "w"}));
}

TEST(Object, EqualityFollowsPython) {
  EXPECT_TRUE(Object(1) == Object(1.0));
  EXPECT_TRUE(Object(true) == Object(1));
  EXPECT_FALSE(Object("1") == Object(1));
  EXPECT_TRUE((Object{1, 4}) == Object(std::vector<int64_t>{1, 4}));
  EXPECT_TRUE((Dict{{"a", 1}, {"b", 2}}) == (Dict{{"b", 2}, {"a", 1}}));
  EXPECT_FALSE((Dict{{"a", 1}}) == (Dict{{"a", 2}}));
  Tensor t = ones({2});
  EXPECT_TRUE(Object(t) == Object(t));
  EXPECT_FALSE(Object(t) == Object(ones({2})));  // tensors: identity
  auto f = Object::function([](const std::vector<Object>& args) { return Object(args.size()); });
  Object g = f;
  EXPECT_TRUE(f == g);
  EXPECT_FALSE(f == Object::function([](const std::vector<Object>&) { return Object(); }));
  EXPECT_EQ(f({1, 2}).to_int(), 2);
}

TEST(Object, ModuleCarriesPlainAttributesThroughClone) {
  nn::Linear lin(3, 2);
  EXPECT_FALSE(lin.has_object("sparse_params"));
  lin.set_object("sparse_params", Dict{{"foo", 3}});
  EXPECT_EQ(lin.object("sparse_params").to_dict().at("foo").to_int(), 3);
  EXPECT_THROW(lin.object("missing"), AttributeError);
  EXPECT_THROW(lin.set_object("weight", 1), KeyError);
  auto copy = std::static_pointer_cast<nn::Linear>(lin.clone());
  copy->object("sparse_params").to_dict().set("foo", 4);
  EXPECT_EQ(lin.object("sparse_params").to_dict().at("foo").to_int(), 3);
  lin.delete_name("sparse_params");
  EXPECT_FALSE(lin.has_object("sparse_params"));
}
