// State dicts as safetensors: round trips, the byte layout, the catalogue of malformed files (one
// test each, bytes built here), atomic saving, and interop with an independent NumPy reader/writer.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "serialize/serialize_testing.h"
#include "twig/nn/linear.h"
#include "twig/serialize/safetensors.h"

namespace twig::testing {
namespace {

using serialize::from_safetensors_bytes;
using serialize::load_safetensors;
using serialize::load_state_dict_file;
using serialize::save_state_dict;
using serialize::to_safetensors_bytes;

Tensor sample(Dtype dtype, const Shape& shape, uint64_t seed = 3) {
  Generator g(seed);
  if (dtype == kBool) return rand(shape, kFloat64, &g) > 0.5;
  if (is_floating(dtype)) return randn(shape, dtype, &g);
  return randint(0, 200, shape, dtype, &g);
}

// ---- round trips -----------------------------------------------------------------------------------

TEST(SafetensorsRoundTrip, EveryDtypeBitwiseThroughAFile) {
  TempDir dir;
  nn::StateDict sd;
  for (Dtype d : {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64}) sd.insert(dtype_name(d), sample(d, {3, 5}));
  save_state_dict(sd, dir.file("a.safetensors"));
  nn::StateDict back = load_state_dict_file(dir.file("a.safetensors"));
  ASSERT_EQ(back.keys(), sd.keys());
  for (const auto& [name, t] : sd) EXPECT_TRUE(bitwise_equal(back.at(name), t)) << name;
}

TEST(SafetensorsRoundTrip, EveryDtypeBitwiseInMemory) {
  nn::StateDict sd;
  for (Dtype d : {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64}) sd.insert(dtype_name(d), sample(d, {7}));
  std::string bytes = to_safetensors_bytes(sd);
  auto back = from_safetensors_bytes(bytes.data(), bytes.size());
  for (const auto& [name, t] : sd) EXPECT_TRUE(bitwise_equal(back.tensors.at(name), t)) << name;
}

TEST(SafetensorsRoundTrip, SpecialFloatsKeepTheirBits) {
  TempDir dir;
  Tensor t = tensor({0.0, -0.0, 1e-310, std::numeric_limits<double>::infinity(),
                     -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()},
                    kFloat64);
  save_state_dict(nn::StateDict{{"x", t}}, dir.file("f"));
  EXPECT_TRUE(bitwise_equal(load_state_dict_file(dir.file("f")).at("x"), t));
}

TEST(SafetensorsRoundTrip, EmptyAndZeroDimTensors) {
  TempDir dir;
  nn::StateDict sd{{"scalar", tensor(3.5, kFloat64)},
                   {"empty", empty({0}, kFloat32)},
                   {"empty3d", empty({3, 0, 2}, kInt64)},
                   {"after", tensor({1, 2, 3}, kInt32)},
                   {"bool0d", tensor(true)}};
  save_state_dict(sd, dir.file("e"));
  nn::StateDict back = load_state_dict_file(dir.file("e"));
  ASSERT_EQ(back.keys(), sd.keys());
  for (const auto& [name, t] : sd) EXPECT_TRUE(bitwise_equal(back.at(name), t)) << name;
  EXPECT_EQ(back.at("scalar").dim(), 0);
  EXPECT_EQ(back.at("empty3d").sizes(), (Shape{3, 0, 2}));
}

TEST(SafetensorsRoundTrip, NonContiguousInputsArePacked) {
  TempDir dir;
  Tensor base = sample(kFloat32, {4, 6});
  Tensor transposed = base.t();
  Tensor strided = base.slice(1, 0, 6, 2);
  Tensor expanded = tensor({1.0, 2.0}, kFloat64).unsqueeze(0).expand({3, 2});
  ASSERT_FALSE(transposed.is_contiguous());
  ASSERT_FALSE(strided.is_contiguous());
  save_state_dict(nn::StateDict{{"t", transposed}, {"s", strided}, {"e", expanded}}, dir.file("n"));
  auto back = load_safetensors(dir.file("n"));
  EXPECT_TRUE(bitwise_equal(back.tensors.at("t"), transposed.contiguous()));
  EXPECT_TRUE(bitwise_equal(back.tensors.at("s"), strided.contiguous()));
  EXPECT_TRUE(bitwise_equal(back.tensors.at("e"), expanded.contiguous()));
  EXPECT_TRUE(back.tensors.at("t").is_contiguous());
}

TEST(SafetensorsRoundTrip, MetadataComesBack) {
  TempDir dir;
  serialize::Metadata meta{{"format", "pt"}, {"note", "h\u00e9llo \"quoted\"\n"}};
  save_state_dict(nn::StateDict{{"w", ones({2})}}, dir.file("m"), meta);
  EXPECT_EQ(load_safetensors(dir.file("m")).metadata, meta);
}

TEST(SafetensorsRoundTrip, ModuleStateDictAndLoadIntoModule) {
  TempDir dir;
  nn::Linear a(4, 3), b(4, 3);
  save_state_dict(a, dir.file("lin"));
  serialize::load_state_dict_file(b, dir.file("lin"));
  EXPECT_TRUE(bitwise_equal(b.weight(), a.weight()));
  EXPECT_TRUE(bitwise_equal(b.bias(), a.bias()));
  EXPECT_TRUE(b.weight().requires_grad());
}

TEST(SafetensorsRoundTrip, FailingLoadIntoModuleLeavesItAsItWas) {
  TempDir dir;
  nn::Linear small(2, 2), big(4, 3);
  Tensor before = big.weight().clone();
  save_state_dict(small, dir.file("small"));
  EXPECT_ERROR(serialize::load_state_dict_file(big, dir.file("small")), RuntimeError, "size mismatch for weight");
  EXPECT_TRUE(bitwise_equal(big.weight(), before));
}

TEST(SafetensorsLoad, LoadedTensorsAreWritableAndTheFileStaysAsItWas) {
  TempDir dir;
  Tensor t = arange(16, kFloat32);
  save_state_dict(nn::StateDict{{"t", t}}, dir.file("w"));
  const std::string before = read_bytes(dir.file("w"));
  Tensor loaded = load_state_dict_file(dir.file("w")).at("t");
  loaded.add_(1.0);
  EXPECT_EQ(loaded[0].item<float>(), 1.0f);
  EXPECT_EQ(read_bytes(dir.file("w")), before);
  EXPECT_TRUE(bitwise_equal(load_state_dict_file(dir.file("w")).at("t"), t));
}

TEST(SafetensorsLoad, TensorsOutliveTheFile) {
  TempDir dir;
  Tensor t = sample(kFloat64, {100});
  save_state_dict(nn::StateDict{{"t", t}}, dir.file("gone"));
  Tensor loaded = load_state_dict_file(dir.file("gone")).at("t");
  std::remove(dir.file("gone").c_str());
  EXPECT_TRUE(bitwise_equal(loaded, t));
}

TEST(SafetensorsLayout, HeaderIsPaddedJsonWithContiguousOffsets) {
  std::string bytes =
      to_safetensors_bytes(nn::StateDict{{"b", tensor({1, 2, 3}, kUInt8)}, {"a", ones({2}, kFloat64)}}, {{"k", "v"}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["k"], "v");
  EXPECT_EQ(header["b"]["dtype"], "U8");
  EXPECT_EQ(header["b"]["data_offsets"], nlohmann::json({0, 3}));
  EXPECT_EQ(header["a"]["dtype"], "F64");
  EXPECT_EQ(header["a"]["shape"], nlohmann::json({2}));
  EXPECT_EQ(header["a"]["data_offsets"], nlohmann::json({3, 19}));
  EXPECT_EQ(bytes.size(), 8 + n + 19);
}

TEST(SafetensorsLayout, UnalignedTensorsFromOtherWritersAreCopied) {
  // No padding: the F64 starts at an odd file offset.
  std::string data = std::string("\x07", 1);
  double v = 2.5;
  data.append(reinterpret_cast<const char*>(&v), 8);
  std::string bytes = safetensors_bytes(
      R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"d":{"dtype":"F64","shape":[],"data_offsets":[1,9]}})",
      data);
  TempDir dir;
  write_bytes(dir.file("odd"), bytes);
  auto sd = load_state_dict_file(dir.file("odd"));
  EXPECT_EQ(sd.at("d").item<double>(), 2.5);
  EXPECT_EQ(sd.at("u").item<int64_t>(), 7);
}

TEST(SafetensorsSave, RejectsUndefinedReservedAndNonUtf8Names) {
  TempDir dir;
  EXPECT_ERROR(save_state_dict(nn::StateDict{{"x", Tensor()}}, dir.file("x")), ValueError, "'x' is undefined");
  EXPECT_ERROR(save_state_dict(nn::StateDict{{"__metadata__", ones({1})}}, dir.file("x")), ValueError, "reserved");
  EXPECT_ERROR(save_state_dict(nn::StateDict{{"bad\xff", ones({1})}}, dir.file("x")), ValueError, "not valid UTF-8");
  EXPECT_TRUE(dir.entries().empty());
}

// ---- the catalogue of malformed files ---------------------------------------------------------------

// The same error from the in-memory parser and from a file.
void expect_bad(const std::string& bytes, const std::string& needle) {
  expect_error<ValueError>([&] { from_safetensors_bytes(bytes.data(), bytes.size()); }, needle);
  TempDir dir;
  write_bytes(dir.file("bad"), bytes);
  expect_error<ValueError>([&] { load_safetensors(dir.file("bad")); }, std::vector<std::string>{needle, "bad"});
}

const char* kGoodEntry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

TEST(SafetensorsMalformed, ShorterThanEightBytes) { expect_bad(std::string("\x01\x00\x00", 3), "file too short"); }

TEST(SafetensorsMalformed, EmptyFile) { expect_bad("", "file too short"); }

TEST(SafetensorsMalformed, HeaderLengthPastTheEnd) {
  std::string b = safetensors_bytes("{}");
  b[0] = 50;
  expect_bad(b, "header length 50 runs past the end");
}

TEST(SafetensorsMalformed, HeaderLengthOverTheCap) {
  std::string b = safetensors_bytes("{}");
  uint64_t n = serialize::kMaxHeaderBytes + 1;
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  expect_bad(b, "over the cap");
}

TEST(SafetensorsMalformed, HeaderLengthHuge) {
  std::string b = safetensors_bytes("{}");
  for (int i = 0; i < 8; ++i) b[i] = '\xff';
  expect_bad(b, "over the cap");
}

TEST(SafetensorsMalformed, HeaderNotUtf8) { expect_bad(safetensors_bytes("{\"\xc3\x28\":1}"), "not valid UTF-8"); }

TEST(SafetensorsMalformed, HeaderOverlongUtf8) { expect_bad(safetensors_bytes("{\"\xc0\xaf\":1}"), "not valid UTF-8"); }

TEST(SafetensorsMalformed, HeaderNotJson) { expect_bad(safetensors_bytes("{\"a\": "), "not valid JSON"); }

TEST(SafetensorsMalformed, HeaderTrailingGarbage) { expect_bad(safetensors_bytes("{} x"), "not valid JSON"); }

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  expect_bad(safetensors_bytes("[1, 2]"), "must be a JSON object, got array");
}

TEST(SafetensorsMalformed, EntryNotAnObject) {
  expect_bad(safetensors_bytes(R"({"a": 3})"), "tensor 'a' must be an object");
}

TEST(SafetensorsMalformed, MissingField) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, '\0')),
             "tensor 'a' has no 'shape'");
}

TEST(SafetensorsMalformed, ExtraField) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", std::string(8, '\0')),
             "unexpected field 'x'");
}

TEST(SafetensorsMalformed, UnknownDtype) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F17","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             "unknown dtype 'F17'");
}

TEST(SafetensorsMalformed, DtypeTwigCannotHold) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')),
             "'F16' is valid safetensors but twig has no such dtype");
}

TEST(SafetensorsMalformed, DtypeNotAString) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             "dtype must be a string");
}

TEST(SafetensorsMalformed, NegativeShape) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             "negative value -2");
}

TEST(SafetensorsMalformed, NonIntegerShape) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", std::string(8, '\0')),
             "non-negative integers");
}

TEST(SafetensorsMalformed, OverflowingElementCount) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                               std::string(8, '\0')),
             "overflows");
}

TEST(SafetensorsMalformed, OverflowingByteCount) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})",
                               std::string(8, '\0')),
             "overflows");
}

TEST(SafetensorsMalformed, OffsetsOutOfOrder) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", std::string(8, '\0')),
             "out of order");
}

TEST(SafetensorsMalformed, OffsetsNotAPair) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", std::string(8, '\0')),
             "data_offsets must be [begin, end]");
}

TEST(SafetensorsMalformed, OffsetsOverlap) {
  expect_bad(
      safetensors_bytes(std::string("{") + kGoodEntry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                        std::string(12, '\0')),
      "overlap tensor 'a'");
}

TEST(SafetensorsMalformed, OffsetsWithAHole) {
  expect_bad(
      safetensors_bytes(std::string("{") + kGoodEntry + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                        std::string(16, '\0')),
      "hole in the data: bytes [8, 12)");
}

TEST(SafetensorsMalformed, OffsetsNotStartingAtZero) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0')),
             "hole in the data: bytes [0, 4)");
}

TEST(SafetensorsMalformed, OffsetsPastTheEnd) {
  expect_bad(safetensors_bytes(std::string("{") + kGoodEntry + "}", std::string(5, '\0')),
             "run past the end of the file");
}

TEST(SafetensorsMalformed, OffsetsNotMatchingDtypeTimesShape) {
  expect_bad(safetensors_bytes(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", std::string(8, '\0')),
             "span 8 bytes but F64 x [2] needs 16");
}

TEST(SafetensorsMalformed, TrailingBytesAfterTheLastTensor) {
  expect_bad(safetensors_bytes(std::string("{") + kGoodEntry + "}", std::string(12, '\0')),
             "4 bytes after the last tensor");
}

TEST(SafetensorsMalformed, DuplicateNames) {
  expect_bad(safetensors_bytes(std::string("{") + kGoodEntry + "," + kGoodEntry + "}", std::string(8, '\0')),
             "has the name 'a' twice");
}

TEST(SafetensorsMalformed, MetadataValueNotAString) {
  expect_bad(safetensors_bytes(R"({"__metadata__":{"k":1}})"), "__metadata__ value of 'k' must be a string");
}

TEST(SafetensorsMalformed, MetadataNotAnObject) {
  expect_bad(safetensors_bytes(R"({"__metadata__":"x"})"), "__metadata__ must be an object");
}

TEST(SafetensorsMalformed, BoolBytesOtherThanZeroOrOne) {
  expect_bad(
      safetensors_bytes(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x01\x00\x02", 3)),
      "holds byte 2 at element 2");
}

TEST(SafetensorsMalformed, MissingFileAndFolderAreIoErrors) {
  TempDir dir;
  EXPECT_ERROR(load_safetensors(dir.file("nope")), RuntimeError, "No such file");
  EXPECT_ERROR(load_safetensors(dir.path()), RuntimeError, "not a regular file");
}

TEST(SafetensorsMalformed, AllGoodAfterTheCatalogue) {
  // The same builder makes a valid file: the catalogue's errors come from the defects alone.
  std::string b = safetensors_bytes(std::string("{") + kGoodEntry + "}", std::string(8, '\0'));
  EXPECT_EQ(from_safetensors_bytes(b.data(), b.size()).tensors.at("a").sizes(), (Shape{2}));
}

// ---- atomic saving ----------------------------------------------------------------------------------------

struct FaultGuard {
  explicit FaultGuard(int64_t after) { serialize::detail::fail_writes_after(after); }
  ~FaultGuard() { serialize::detail::fail_writes_after(-1); }
};

TEST(SafetensorsAtomicSave, AWriteFailingHalfWayLeavesThePreviousFileIntact) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  save_state_dict(nn::StateDict{{"old", arange(10, kFloat32)}}, path);
  const std::string before = read_bytes(path);
  nn::StateDict big{{"new", sample(kFloat64, {1000})}};
  for (int64_t after : {0, 5, 100, 4000}) {
    FaultGuard fault(after);
    EXPECT_ERROR(save_state_dict(big, path), RuntimeError, "No space left on device");
    EXPECT_EQ(read_bytes(path), before) << "after " << after << " bytes";
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"}) << "a temporary file was left";
  }
  save_state_dict(big, path);
  EXPECT_TRUE(bitwise_equal(load_state_dict_file(path).at("new"), big.at("new")));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(SafetensorsAtomicSave, AMissingFolderIsAnIoErrorNamingThePath) {
  TempDir dir;
  EXPECT_ERROR(save_state_dict(nn::StateDict{{"x", ones({1})}}, dir.file("no/such/f")), RuntimeError, "no/such/f");
}

// Places the OS refuses to write whoever asks, root included (a chmod'ed folder does not stop root,
// so a permission test would only skip in CI): a path through a regular file, a target that is a
// folder, and /proc. Each fails with the OS's reason and leaves everything as it was.
TEST(SafetensorsAtomicSave, AnUnwritableTargetLeavesEverythingIntact) {
  TempDir dir;
  const std::string path = dir.file("f");
  save_state_dict(nn::StateDict{{"x", ones({1})}}, path);
  const std::string before = read_bytes(path);
  const nn::StateDict other{{"x", zeros({4})}};

  // f is a regular file, so f/g cannot be created (ENOTDIR)
  EXPECT_ERROR(save_state_dict(other, path + "/g"), RuntimeError, "Not a directory");
  EXPECT_EQ(read_bytes(path), before);

  // a folder (with a file in it) as the target: the rename over it is refused (EISDIR)
  const std::string folder = dir.file("folder");
  ASSERT_EQ(::mkdir(folder.c_str(), 0700), 0);
  save_state_dict(nn::StateDict{{"y", ones({2})}}, folder + "/inside");
  const std::string inside = read_bytes(folder + "/inside");
  EXPECT_ERROR(save_state_dict(other, folder), RuntimeError, "Is a directory");
  EXPECT_EQ(read_bytes(folder + "/inside"), inside);
  EXPECT_EQ(read_bytes(path), before);
  std::vector<std::string> names = dir.entries();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"f", "folder"})) << "a temporary file was left";

  // /proc takes no new files, not even root's
  EXPECT_ERROR(save_state_dict(other, "/proc/twig_cannot_write_here.safetensors"), RuntimeError,
               "/proc/twig_cannot_write_here.safetensors");
  EXPECT_FALSE(std::filesystem::exists("/proc/twig_cannot_write_here.safetensors"));
}

// ---- interop with an independent NumPy reader / writer ------------------------------------------------

// A python3 that has NumPy, or "" (the interop tests then skip).
std::string python_with_numpy() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    std::string cmd = std::string(py) + " -c 'import numpy' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

std::string script() { return std::string(TWIG_FIXTURE_DIR) + "/../serialize/numpy_safetensors.py"; }

// The tensors both sides compute independently (numpy_safetensors.py builds the same).
nn::StateDict interop_tensors() {
  nn::StateDict sd;
  sd.insert("f32", arange(12, kFloat32).reshape({3, 4}).div(8.0));
  sd.insert("f64", linspace(-1.0, 1.0, 5, kFloat64));
  sd.insert("i64", arange(6, kInt64).mul(-3));
  sd.insert("i32", arange(4, kInt32).add(1000));
  sd.insert("u8", arange(5, kUInt8).mul(50));
  sd.insert("bool", tensor({true, false, true}));
  sd.insert("empty", empty({0, 3}, kFloat32));
  sd.insert("scalar", tensor(7.25, kFloat64));
  return sd;
}

TEST(SafetensorsInterop, NumpyReadsTwigsFile) {
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with NumPy";
  TempDir dir;
  save_state_dict(interop_tensors(), dir.file("twig.safetensors"), {{"writer", "twig"}});
  std::string cmd = py + " " + script() + " check " + dir.file("twig.safetensors");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST(SafetensorsInterop, TwigReadsNumpysFile) {
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with NumPy";
  TempDir dir;
  std::string cmd = py + " " + script() + " write " + dir.file("numpy.safetensors");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto f = load_safetensors(dir.file("numpy.safetensors"));
  EXPECT_EQ(f.metadata.at("writer"), "numpy");
  nn::StateDict expected = interop_tensors();
  ASSERT_EQ(f.tensors.size(), expected.size());
  for (const auto& [name, t] : expected) EXPECT_TRUE(bitwise_equal(f.tensors.at(name), t)) << name;
}

}  // namespace
}  // namespace twig::testing
