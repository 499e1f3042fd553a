// Sparse COO tensors against PyTorch 1.13 (tests/fixtures/sparse.json, tools/gen_sparse_fixtures.py):
// to_sparse, sparse_coo_tensor, coalesce, to_dense and printing, PyTorch's errors, and that every
// other op refuses the layout with a typed error instead of reading data that is not there.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "tests/fixture_file.h"
#include "tests/testing.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/linear.h"
#include "twig/nn/object.h"

namespace twig {
namespace {

using json = nlohmann::json;

const json& fixture() { return testing::load_fixture("sparse.json", "gen_sparse_fixtures.py"); }

double element(const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return NAN;
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    if (s == "-0") return -0.0;
    ADD_FAILURE() << "unknown element " << s;
  }
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  return v.get<double>();
}

Tensor decode(const json& t) {
  std::vector<double> data;
  for (const json& v : t["data"]) data.push_back(element(v));
  Shape shape = t["shape"].get<Shape>();
  return from_vector(data, shape).to(dtype_from_name(t["dtype"].get<std::string>()));
}

// Same dtype, shape and elements, NaN matching NaN and the sign of zero compared.
::testing::AssertionResult same(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.sizes() != b.sizes() || a.layout() != b.layout()) {
    return ::testing::AssertionFailure() << "differ in dtype, shape or layout:\n" << a << "\nvs\n" << b;
  }
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    bool ok = std::isnan(x[i]) ? std::isnan(y[i]) : x[i] == y[i] && std::signbit(x[i]) == std::signbit(y[i]);
    if (!ok) return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(Sparse, ToSparseMatchesPyTorch) {
  ASSERT_GE(fixture()["to_sparse"].size(), 10u);
  for (const json& c : fixture()["to_sparse"]) {
    Tensor x = decode(c["input"]);
    SCOPED_TRACE(testing::str(x));
    Tensor s = c["sparse_dim"].is_null() ? x.to_sparse() : x.to_sparse(c["sparse_dim"].get<int64_t>());
    EXPECT_TRUE(s.is_sparse());
    EXPECT_EQ(s.layout(), Layout::SparseCoo);
    EXPECT_FALSE(x.is_sparse());
    EXPECT_EQ(x.layout(), Layout::Strided);
    EXPECT_EQ(s.dtype(), x.dtype());
    EXPECT_EQ(s.sizes(), x.sizes());
    EXPECT_EQ(s.numel(), x.numel());
    EXPECT_EQ(s.device(), x.device());
    EXPECT_EQ(testing::str(s), c["repr"].get<std::string>());
    EXPECT_EQ(s.is_coalesced(), c["is_coalesced"].get<bool>());
    EXPECT_EQ(s._nnz(), c["nnz"].get<int64_t>());
    EXPECT_TRUE(same(s.indices(), decode(c["indices"])));
    EXPECT_EQ(s.indices().dtype(), kInt64);
    EXPECT_TRUE(same(s.values(), decode(c["values"])));
    EXPECT_EQ(s.sparse_dim(), s.indices().size(0));
    EXPECT_EQ(s.sparse_dim() + s.dense_dim(), s.dim());
    Tensor dense = s.to_dense();
    EXPECT_FALSE(dense.is_sparse());
    EXPECT_TRUE(same(dense, decode(c["dense"])));
  }
}

TEST(Sparse, SparseCooTensorAndCoalesceMatchPyTorch) {
  ASSERT_GE(fixture()["coalesce"].size(), 8u);
  for (const json& c : fixture()["coalesce"]) {
    Tensor indices = decode(c["indices_in"]);
    Tensor values = decode(c["values_in"]);
    std::optional<Shape> size;
    if (!c["size"].is_null()) size = c["size"].get<Shape>();
    Tensor s = sparse_coo_tensor(indices, values, size);
    SCOPED_TRACE(testing::str(s));
    EXPECT_EQ(testing::str(s), c["repr"].get<std::string>());
    EXPECT_EQ(s.is_coalesced(), c["is_coalesced"].get<bool>());
    EXPECT_TRUE(s._indices().is_same(indices));  // no copy, like PyTorch
    EXPECT_TRUE(s._values().is_same(values));
    Tensor co = s.coalesce();
    EXPECT_TRUE(co.is_coalesced());
    EXPECT_EQ(testing::str(co), c["coalesced_repr"].get<std::string>());
    EXPECT_TRUE(same(co.indices(), decode(c["indices"])));
    EXPECT_TRUE(same(co.values(), decode(c["values"])));
    EXPECT_TRUE(co.coalesce().is_same(co));
    EXPECT_TRUE(same(s.to_dense(), decode(c["dense"])));
    EXPECT_TRUE(same(co.to_dense(), decode(c["dense"])));
    // The input was not touched by coalescing.
    EXPECT_TRUE(same(s._values(), decode(c["values_in"])));
  }
}

TEST(Sparse, ErrorsMatchPyTorch) {
  const json& errors = fixture()["errors"];
  Tensor i = tensor({{1, 0, 1}, {2, 0, 2}});
  Tensor v = tensor({3.0, 4.0, 5.0});
  std::map<std::string, std::function<void()>> calls = {
      {"sparse_coo_tensor_1d_indices",
       [&] {
         sparse_coo_tensor(tensor({1, 2}), v);
       }},
      {"sparse_coo_tensor_nnz",
       [&] {
         sparse_coo_tensor(i, tensor({1.0, 2.0}));
       }},
      {"sparse_coo_tensor_negative",
       [&] {
         sparse_coo_tensor(tensor({{-1, 0, 1}, {0, 0, 0}}), v, Shape{2, 3});
       }},
      {"sparse_coo_tensor_too_big",
       [&] {
         sparse_coo_tensor(i, v, Shape{2, 2});
       }},
      {"sparse_coo_tensor_ndim", [&] { sparse_coo_tensor(i, v, Shape{2}); }},
      {"sparse_coo_tensor_dense_size",
       [&] {
         sparse_coo_tensor(tensor({{0}}), ones({1, 3}), Shape{2, 4});
       }},
      {"to_sparse_too_many",
       [&] {
         ones({2, 3}).to_sparse(3);
       }},
      {"to_sparse_zero",
       [&] {
         ones({2, 3}).to_sparse(0);
       }},
      {"indices_uncoalesced", [&] { sparse_coo_tensor(i, v).indices(); }},
      {"values_uncoalesced", [&] { sparse_coo_tensor(i, v).values(); }},
  };
  ASSERT_EQ(errors.size(), calls.size());
  for (const auto& [name, call] : calls) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(errors.contains(name));
    EXPECT_EQ(errors[name]["type"], "RuntimeError");
    std::string message = testing::error_of<RuntimeError>(call);
    // PyTorch's message, sometimes followed by the values that broke it.
    EXPECT_EQ(message.rfind(errors[name]["message"].get<std::string>(), 0), 0u) << message;
  }
}

TEST(Sparse, ConstructionChecks) {
  Tensor v = tensor({3.0, 4.0});
  EXPECT_ERROR(sparse_coo_tensor(tensor({{0, 1}}, kInt32), v), RuntimeError, "indices must be an int64 tensor");
  EXPECT_ERROR(sparse_coo_tensor(tensor({{0}}), tensor(2.0)), RuntimeError, "values must have at least one dimension");
  EXPECT_ERROR(sparse_coo_tensor(tensor({{0, 1}}), v, std::nullopt, TensorOptions().requires_grad()), RuntimeError,
               "requires_grad is not supported");
  EXPECT_ERROR(sparse_coo_tensor(tensor({{0, 1}}), v.clone().requires_grad_()), RuntimeError,
               "requires_grad is not supported");
  // options convert the values; the size is max + 1 per sparse dim, then the dense sizes.
  Tensor s = sparse_coo_tensor(tensor({{0, 4}}), tensor({{1.0, 2.0}, {3.0, 4.0}}), std::nullopt, kFloat64);
  EXPECT_EQ(s.dtype(), kFloat64);
  EXPECT_EQ(s._values().dtype(), kFloat64);
  EXPECT_EQ(s.sizes(), (Shape{5, 2}));
  EXPECT_EQ(s.sparse_dim(), 1);
  EXPECT_EQ(s.dense_dim(), 1);
  // No entries: every sparse size inferred as 0.
  Tensor empty = sparse_coo_tensor(zeros({2, 0}, kInt64), zeros({0}));
  EXPECT_EQ(empty.sizes(), (Shape{0, 0}));
  EXPECT_EQ(empty._nnz(), 0);
  EXPECT_TRUE(empty.is_coalesced());
  // The sparse-only methods on a strided tensor: NotImplementedError naming the method, as PyTorch.
  Tensor d = ones({2});
  EXPECT_ERROR(d.indices(), NotImplementedError, "indices");
  EXPECT_ERROR(d.values(), NotImplementedError, "values");
  EXPECT_ERROR(d.coalesce(), NotImplementedError, "coalesce");
  EXPECT_ERROR(d.is_coalesced(), NotImplementedError, "is_coalesced");
  EXPECT_ERROR(d._nnz(), NotImplementedError, "_nnz");
  EXPECT_ERROR(d.sparse_dim(), NotImplementedError, "sparse_dim");
  EXPECT_TRUE(d.to_dense().is_same(d));
  Tensor sp = d.to_sparse();
  EXPECT_TRUE(sp.to_sparse().is_same(sp));
  EXPECT_ERROR(sp.to_sparse(1), NotImplementedError, "to_sparse(sparse_dim=1)");
}

TEST(Sparse, CloneToDetachAndDeepcopy) {
  Tensor s = sparse_coo_tensor(tensor({{1, 0, 1}}), tensor({1.5, 2.0, 3.0}), Shape{3});
  Tensor c = s.clone();
  EXPECT_TRUE(c.is_sparse());
  EXPECT_FALSE(c.is_coalesced());  // kept, as PyTorch's clone keeps it
  EXPECT_FALSE(c._values().is_same(s._values()));
  EXPECT_FALSE(c._indices().is_same(s._indices()));
  EXPECT_EQ(testing::str(c), testing::str(s));
  c._values().fill_(7.0);
  EXPECT_TRUE(same(s._values(), tensor({1.5, 2.0, 3.0})));  // a real copy

  Tensor i = s.to(kInt64);
  EXPECT_TRUE(i.is_sparse());
  EXPECT_EQ(i.dtype(), kInt64);
  EXPECT_TRUE(same(i.to_dense(), tensor({2, 4, 0})));  // 1.5 -> 1, then 1 + 3 at index 1
  EXPECT_TRUE(s.to(kFloat32).is_same(s));
  EXPECT_TRUE(s.cpu().is_same(s));

  Tensor d = s.detach();
  EXPECT_TRUE(d.is_sparse());
  EXPECT_FALSE(d.is_same(s));
  EXPECT_TRUE(d._values().is_same(s._values()));  // shares the data, like PyTorch's detach
  EXPECT_TRUE(s.requires_grad_(false).is_same(s));
  EXPECT_ERROR(s.requires_grad_(true), NotImplementedError, "layout torch.sparse_coo");

  nn::Object o(s);
  EXPECT_EQ(o.repr(), testing::str(s));
  Tensor copy = o.deepcopy().to_tensor();
  EXPECT_TRUE(copy.is_sparse());
  EXPECT_FALSE(copy._values().is_same(s._values()));
  EXPECT_EQ(testing::str(copy), testing::str(s));
}

TEST(Sparse, LayoutPrintsAsPyTorch) {
  std::ostringstream os;
  os << Layout::Strided << " " << Layout::SparseCoo;
  EXPECT_EQ(os.str(), "torch.strided torch.sparse_coo");
}

// Every op but the few above refuses a sparse tensor with a typed error (NotImplementedError naming
// the op and the layout where the op checks its input; RuntimeError from the data accessors) and never
// reads memory that is not there (this test runs under ASan in CI).
TEST(Sparse, OtherOpsRefuseTheLayout) {
  Tensor s = tensor({{0.0, 1.0}, {2.0, 0.0}}).to_sparse();
  Tensor d = ones({2, 2});
  auto linear = std::make_shared<nn::Linear>(2, 2);
  std::vector<std::pair<std::string, std::function<void()>>> ops = {
      {"add", [&] { (void)s.add(d); }},
      {"add", [&] { (void)d.add(s); }},
      {"add", [&] { (void)(s + 1.0); }},
      {"mul", [&] { (void)(s * d); }},
      {"sub", [&] { (void)(d - s); }},
      {"div", [&] { (void)s.div(2.0); }},
      {"neg", [&] { (void)s.neg(); }},
      {"abs", [&] { (void)s.abs(); }},
      {"exp", [&] { (void)s.exp(); }},
      {"relu", [&] { (void)s.relu(); }},
      {"clamp", [&] { (void)s.clamp(0.0); }},
      {"eq", [&] { (void)s.eq(0.0); }},
      {"ne", [&] { (void)d.ne(s); }},
      {"where", [&] { (void)where(d.gt(0), s, d); }},
      {"masked_fill", [&] { (void)s.masked_fill(d.gt(0), 0.0); }},
      {"sum", [&] { (void)s.sum(); }},
      {"sum", [&] { (void)s.sum({0}); }},
      {"mean", [&] { (void)s.mean(); }},
      {"max", [&] { (void)s.max(); }},
      {"argmax", [&] { (void)s.argmax(); }},
      {"norm", [&] { (void)s.norm(); }},
      {"count_nonzero", [&] { (void)s.count_nonzero(); }},
      {"all", [&] { (void)s.all(); }},
      {"softmax", [&] { (void)s.softmax(0); }},
      {"view", [&] { (void)s.view({4}); }},
      {"reshape", [&] { (void)s.reshape({4}); }},
      {"transpose", [&] { (void)s.transpose(0, 1); }},
      {"t", [&] { (void)s.t(); }},
      {"permute",
       [&] {
         (void)s.permute({1, 0});
       }},
      {"expand",
       [&] {
         (void)s.expand({2, 2});
       }},
      {"squeeze", [&] { (void)s.squeeze(); }},
      {"unsqueeze", [&] { (void)s.unsqueeze(0); }},
      {"flatten", [&] { (void)s.flatten(); }},
      {"narrow", [&] { (void)s.narrow(0, 0, 1); }},
      {"select", [&] { (void)s.select(0, 0); }},
      {"select", [&] { (void)s[0]; }},
      {"slice", [&] { (void)s.slice(0, 0, 1); }},
      {"index", [&] { (void)s.index({0}); }},
      {"index", [&] { (void)s.index({d.gt(0)}); }},
      {"index_put_", [&] { s.index_put_({0}, 1.0); }},
      {"index_put_",
       [&] {
         d.index_put_({0}, tensor({1.0, 1.0}).to_sparse());
       }},
      {"index_select", [&] { (void)s.index_select(0, tensor({0})); }},
      {"gather",
       [&] {
         (void)s.gather(0, tensor({{0, 0}}));
       }},
      {"nonzero", [&] { (void)s.nonzero(); }},
      {"topk", [&] { (void)s.topk(1); }},
      {"sort", [&] { (void)s.sort(); }},
      {"matmul", [&] { (void)s.matmul(d); }},
      {"matmul", [&] { (void)d.matmul(s); }},
      {"mm", [&] { (void)mm(s, d); }},
      {"cat",
       [&] {
         (void)cat({d, s});
       }},
      {"stack",
       [&] {
         (void)stack({s, d});
       }},
      {"contiguous", [&] { (void)s.contiguous(); }},
      {"copy_", [&] { d.copy_(s); }},
      {"copy_", [&] { s.copy_(d); }},
      {"fill_", [&] { s.fill_(1.0); }},
      {"fill_", [&] { s.zero_(); }},  // zero_ is fill_(0)
      {"add_", [&] { s.add_(d); }},
      {"add_", [&] { d.add_(s); }},
      {"mul_", [&] { s.mul_(2.0); }},
      {"relu_", [&] { s.relu_(); }},
      {"zeros_like", [&] { (void)zeros_like(s); }},
      {"equal", [&] { (void)equal(s, d); }},
      {"isclose", [&] { (void)allclose(d, s); }},  // allclose is isclose(...).all()
      {"item", [&] { (void)s.item(); }},
      {"item", [&] { (void)tensor({{1.0}}).to_sparse().item(); }},
      {"to_vector", [&] { (void)s.to_vector<float>(); }},
      {"data", [&] { (void)s.data_ptr<float>(); }},
      {"data", [&] { (void)s.raw_data_ptr(); }},
      {"storage", [&] { (void)s.storage(); }},
      {"storage_offset", [&] { (void)s.storage_offset(); }},
      {"strides", [&] { (void)s.strides(); }},
      {"strides", [&] { (void)s.stride(0); }},
      {"is_contiguous", [&] { (void)s.is_contiguous(); }},
      {"requires_grad_", [&] { s.requires_grad_(); }},
      {"set_data", [&] { d.clone().set_data(s); }},
      {"set_data", [&] { s.set_data(d); }},
      {"backward", [&] { s.backward(); }},
      {"backward", [&] { d.clone().requires_grad_().sum().backward(s); }},
      {"register_hook", [&] { s.register_hook([](const Tensor& g) { return g; }); }},
      {"detach_", [&] { s.detach_(); }},
      {"relu", [&] { (void)nn::functional::relu(s); }},
      {"linear", [&] { (void)linear->forward(s); }},
      {"linear", [&] { (void)nn::functional::linear(d, s); }},
      {"uniform_", [&] { s.uniform_(); }},
  };
  std::string before = testing::str(s);
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    try {
      op();
      ADD_FAILURE() << name << " accepted a sparse tensor";
    } catch (const RuntimeError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(name), std::string::npos) << what;
      EXPECT_NE(what.find("layout torch.sparse_coo"), std::string::npos) << what;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": not a RuntimeError: " << e.what();
    }
  }
  EXPECT_EQ(testing::str(s), before);  // nothing changed it
  EXPECT_TRUE(same(d, ones({2, 2})));
}

}  // namespace
}  // namespace twig
