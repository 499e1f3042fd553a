// The backend registry, the CPU fallback and the conformance harness. The harness runs as one
// ctest per (registered backend other than the CPU, table entry): here the fake test backends
// (fake_backend.h), and in a build with cuda/ the CUDA backend too.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tensor/conformance/fake_backend.h"
#include "tensor/conformance/harness.h"
#include "twig/core.h"

namespace twig::conformance {
namespace {

// Every registered device but the CPU, the fake ones included; registration is explicit and
// happens here, before gtest enumerates the cases.
std::vector<Device> devices_under_test() {
  init();
  register_fake_backends();
  std::vector<Device> out;
  for (Device d : registered_devices()) {
    if (!d.is_cpu()) out.push_back(d);
  }
  return out;
}

struct Param {
  Device device;
  size_t entry;
};

std::vector<Param> params() {
  std::vector<Param> out;
  for (Device d : devices_under_test()) {
    for (size_t i = 0; i < conformance_table().entries().size(); ++i) out.push_back({d, i});
  }
  return out;
}

std::string param_name(const testing::TestParamInfo<Param>& info) {
  std::string s = info.param.device.str() + "_" + conformance_table().entries()[info.param.entry].name;
  std::replace_if(
      s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s;
}

class Conformance : public testing::TestWithParam<Param> {};

TEST_P(Conformance, MatchesTheCpuBackend) {
  const Entry& e = conformance_table().entries()[GetParam().entry];
  for (const std::string& f : check_entry(e, GetParam().device)) ADD_FAILURE() << f;
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance, testing::ValuesIn(params()), param_name);

TEST(ConformanceTable, HasAnEntryForEveryBackendOp) {
  std::set<BackendOp> covered;
  for (const Entry& e : conformance_table().entries()) covered.insert(e.op);
  for (int i = 0; i < kNumBackendOps; ++i) {
    const auto op = static_cast<BackendOp>(i);
    EXPECT_TRUE(covered.count(op)) << "no conformance entry for " << backend_op_name(op);
  }
}

TEST(ConformanceHarness, ReportsAWrongKernel) {
  // The fake backend with binary Sub computing b - a: the harness names that entry and only it.
  const Device d = fake_device(2);
  register_backend(d, &wrong_fake_backend());
  std::vector<std::string> failures = check_backend(d, 2);
  unregister_backend(d);
  ASSERT_FALSE(failures.empty());
  for (const std::string& f : failures) EXPECT_EQ(f.rfind("binary.sub ", 0), 0u) << f;
  EXPECT_NE(failures[0].find("differ"), std::string::npos) << failures[0];
}

TEST(ConformanceHarness, SkipsWhatTheBackendDeclines) {
  register_fake_backends();
  // privateuseone:1 declines unary: nothing runs, nothing fails.
  const Entry* exp_entry = nullptr;
  for (const Entry& e : conformance_table().entries()) {
    if (e.name == "unary.exp") exp_entry = &e;
  }
  ASSERT_NE(exp_entry, nullptr);
  auto& fake = static_cast<FakeBackend&>(registered_backend(fake_device(1)));
  const int before = fake.unary_calls();
  EXPECT_TRUE(check_entry(*exp_entry, fake_device(1)).empty());
  EXPECT_EQ(fake.unary_calls(), before);
}

TEST(BackendRegistry, IsKeyedByTypeAndIndex) {
  register_fake_backends();
  EXPECT_TRUE(has_backend(Device::cpu()));
  EXPECT_TRUE(has_backend(fake_device(0)));
  EXPECT_TRUE(has_backend(fake_device(1)));
  EXPECT_FALSE(has_backend(fake_device(5)));
  EXPECT_NE(&registered_backend(fake_device(0)), &registered_backend(fake_device(1)));
  const std::vector<Device> ds = registered_devices();
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds[0], Device::cpu());
  EXPECT_NE(std::find(ds.begin(), ds.end(), fake_device(1)), ds.end());
  EXPECT_EQ(Device("privateuseone:1"), fake_device(1));
  EXPECT_EQ(fake_device(3).str(), "privateuseone:3");
}

TEST(BackendRegistry, NamesTheDeviceWhenNoneIsRegistered) {
  try {
    backend_for(fake_device(7));
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("privateuseone:7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(zeros({2}, TensorOptions().device(fake_device(7))), RuntimeError);
  EXPECT_THROW(registered_backend(Device::cuda(3)), RuntimeError);
  EXPECT_THROW(register_backend(Device::cpu(), &wrong_fake_backend()), ValueError);
  EXPECT_THROW(register_backend(fake_device(4), nullptr), ValueError);
  EXPECT_THROW(register_backend(fake_device(kMaxDeviceIndex), &wrong_fake_backend()), ValueError);
  EXPECT_THROW(backend_for(fake_device(-1)), RuntimeError);
}

TEST(BackendFallback, RunsDeclinedOpsOnTheCpuWithANoteOnce) {
  register_fake_backends();
  auto& fake = static_cast<FakeBackend&>(registered_backend(fake_device(1)));
  Tensor x = randn({3, 4});
  Tensor xf = x.to(fake_device(1));
  ASSERT_EQ(xf.device(), fake_device(1));
  const int before = fake.unary_calls();
  WarningRecorder rec;
  Tensor y = xf.exp();
  EXPECT_EQ(y.device(), fake_device(1));
  EXPECT_TRUE(equal(y.to(Device::cpu()), x.exp()));
  EXPECT_EQ(fake.unary_calls(), before) << "a declined kernel ran on the backend";
  EXPECT_EQ(rec.count("does not implement unary"), 1u);
  // Non-contiguous and in place: the written view is copied back into its storage.
  Tensor t = xf.t();
  Tensor z = t.sin();
  EXPECT_TRUE(equal(z.to(Device::cpu()), x.t().sin()));
  xf.neg_();
  EXPECT_TRUE(equal(xf.to(Device::cpu()), x.neg()));
  EXPECT_EQ(rec.count("does not implement unary"), 1u) << "noted once per (backend, op)";
  // A kernel that returns a tensor, and one with two outputs.
  Tensor m = (xf > 0);
  Tensor nz = m.nonzero();
  EXPECT_EQ(nz.device(), fake_device(1));
  EXPECT_TRUE(equal(nz.to(Device::cpu()), (x.neg() > 0).nonzero()));
  auto [v, i] = xf.sort(1);
  auto [cv, ci] = x.neg().sort(1);
  EXPECT_TRUE(equal(v.to(Device::cpu()), cv));
  EXPECT_TRUE(equal(i.to(Device::cpu()), ci));
  EXPECT_EQ(rec.count("does not implement sort"), 1u);
  // Every op on float64 is declined there; binary runs on the CPU too.
  Tensor d = x.to(kFloat64);
  Tensor df = d.to(fake_device(1));
  EXPECT_TRUE(equal((df * df + 1).to(Device::cpu()), d * d + 1));
  EXPECT_EQ(rec.count("does not implement binary for float64"), 1u);
}

TEST(BackendFallback, ClaimedOpsRunOnTheBackend) {
  register_fake_backends();
  auto& fake = static_cast<FakeBackend&>(registered_backend(fake_device(0)));
  const int before = fake.unary_calls();
  WarningRecorder rec;
  Tensor x = randn({5});
  EXPECT_TRUE(equal(x.to(fake_device(0)).exp().to(Device::cpu()), x.exp()));
  EXPECT_EQ(fake.unary_calls(), before + 1);
  EXPECT_EQ(rec.count("does not implement"), 0u);
}

}  // namespace
}  // namespace twig::conformance
