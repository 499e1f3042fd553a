// Sparse COO tensors in safetensors files: written as "<name>.indices" and "<name>.values" with the
// size and layout in __metadata__["twig.sparse"], read back as the sparse tensor, checked on load,
// and readable by NumPy alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "serialize/serialize_testing.h"
#include "twig/autograd/ops/ops.h"
#include "twig/serialize/safetensors.h"

namespace twig::testing {
namespace {

using json = nlohmann::ordered_json;
using namespace twig::serialize;

// Plain and sparse tensors: coalesced, hybrid, empty, uncoalesced with duplicates, bool, 0-d.
nn::StateDict sparse_tensors(bool with_scalar = true) {
  nn::StateDict sd;
  sd.insert("plain", arange(6, kFloat32).reshape({2, 3}));
  sd.insert("a", tensor({{0.0, 1.5, 0.0}, {-2.0, 0.0, 4.0}}).to_sparse());
  Tensor cube = arange(24, kFloat64).reshape({2, 3, 4});
  sd.insert("hybrid", cube.mul(cube.remainder(5).eq(0)).to_sparse(2));
  sd.insert("empty", zeros({2, 3}).to_sparse());
  sd.insert("dups", sparse_coo_tensor(tensor({{3, 0, 3}}), tensor({1, 2, 3}), Shape{5}));
  sd.insert("mask", tensor({{true, false}, {false, true}}).to_sparse());
  if (with_scalar) sd.insert("scalar", tensor(2.5).to_sparse());
  return sd;
}

void expect_same_sparse(const Tensor& got, const Tensor& want, const std::string& name) {
  SCOPED_TRACE(name);
  ASSERT_EQ(got.is_sparse(), want.is_sparse());
  if (!want.is_sparse()) {
    EXPECT_TRUE(bitwise_equal(got, want));
    return;
  }
  EXPECT_EQ(got.sizes(), want.sizes());
  EXPECT_EQ(got.dtype(), want.dtype());
  EXPECT_EQ(got.is_coalesced(), want.is_coalesced());
  EXPECT_TRUE(bitwise_equal(got._indices(), want._indices()));
  EXPECT_TRUE(bitwise_equal(got._values(), want._values()));
  EXPECT_EQ(got.to_string(), want.to_string());
}

void expect_round_trip(const SafetensorsFile& f, const nn::StateDict& want) {
  EXPECT_EQ(f.tensors.keys(), want.keys());  // same names, same order
  for (const auto& [name, t] : want) expect_same_sparse(f.tensors.at(name), t, name);
  EXPECT_EQ(f.metadata, (Metadata{{"writer", "twig"}}));  // the sparse description is not user metadata
}

// The header of safetensors bytes as JSON, and bytes with the header replaced (data unchanged).
json header_of(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  return json::parse(bytes.substr(8, n));
}

std::string with_header(const std::string& bytes, const json& header) {
  uint64_t old_n = 0;
  for (int i = 7; i >= 0; --i) old_n = (old_n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  return out + text + bytes.substr(8 + old_n);
}

TEST(SparseIo, RoundTripInMemoryAndThroughAFile) {
  nn::StateDict sd = sparse_tensors();
  std::string bytes = to_safetensors_bytes(sd, {{"writer", "twig"}});
  expect_round_trip(from_safetensors_bytes(bytes.data(), bytes.size()), sd);

  TempDir dir;
  save_state_dict(sd, dir.file("sparse.safetensors"), {{"writer", "twig"}});
  EXPECT_EQ(read_bytes(dir.file("sparse.safetensors")), bytes);
  expect_round_trip(load_safetensors(dir.file("sparse.safetensors")), sd);
}

TEST(SparseIo, StoredAsPlainTensorsAndMetadata) {
  std::string bytes = to_safetensors_bytes(sparse_tensors(), {{"writer", "twig"}});
  json h = header_of(bytes);
  EXPECT_FALSE(h.contains("a"));
  EXPECT_EQ(h["a.indices"]["dtype"], "I64");
  EXPECT_EQ(h["a.indices"]["shape"], json::parse("[2, 3]"));
  EXPECT_EQ(h["a.values"]["dtype"], "F32");
  EXPECT_EQ(h["hybrid.values"]["shape"], json::parse("[4, 4]"));  // (nnz, dense size)
  EXPECT_EQ(h["empty.indices"]["shape"], json::parse("[2, 0]"));
  EXPECT_EQ(h["mask.values"]["dtype"], "BOOL");
  json described = json::parse(h["__metadata__"]["twig.sparse"].get<std::string>());
  EXPECT_EQ(described["a"], json::parse(R"({"layout": "sparse_coo", "size": [2, 3], "coalesced": true})"));
  EXPECT_EQ(described["dups"], json::parse(R"({"layout": "sparse_coo", "size": [5], "coalesced": false})"));
  EXPECT_EQ(described["scalar"]["size"], json::array());
  EXPECT_FALSE(described.contains("plain"));
}

TEST(SparseIo, SaveRefusesClashesAndLeavesTheFile) {
  TempDir dir;
  const std::string path = dir.file("f.safetensors");
  save_state_dict(sparse_tensors(), path);
  const std::string before = read_bytes(path);

  nn::StateDict clash = sparse_tensors();
  clash.insert("a.values", ones({2}));
  EXPECT_ERROR(save_state_dict(clash, path), ValueError, "'a.values'");
  nn::StateDict clash_before;
  clash_before.insert("x.indices", ones({2}));
  clash_before.insert("x", ones({2}).to_sparse());
  EXPECT_ERROR(save_state_dict(clash_before, path), ValueError, "'x.indices'");
  EXPECT_ERROR(save_state_dict(sparse_tensors(), path, {{"twig.sparse", "{}"}}), ValueError, "twig.sparse");
  EXPECT_EQ(read_bytes(path), before);
  // Without sparse tensors nothing is added: user metadata round-trips unchanged.
  nn::StateDict plain;
  plain.insert("w", ones({2}));
  std::string bytes = to_safetensors_bytes(plain, {{"k", "v"}});
  EXPECT_EQ(from_safetensors_bytes(bytes.data(), bytes.size()).metadata, (Metadata{{"k", "v"}}));
}

TEST(SparseIo, LoadValidatesTheDescription) {
  nn::StateDict sd = sparse_tensors();
  const std::string bytes = to_safetensors_bytes(sd, {{"writer", "twig"}});
  const json good = header_of(bytes);
  auto load_with = [&](const std::function<void(json&)>& edit) {
    json h = good;
    edit(h);
    std::string b = with_header(bytes, h);
    (void)from_safetensors_bytes(b.data(), b.size());
  };
  auto describe = [&](json& h, const std::function<void(json&)>& edit) {
    json d = json::parse(h["__metadata__"]["twig.sparse"].get<std::string>());
    edit(d);
    h["__metadata__"]["twig.sparse"] = d.dump();
  };
  // Sanity: the unedited header loads.
  EXPECT_NO_THROW(load_with([](json&) {}));

  // A part missing (renamed away).
  EXPECT_ERROR(load_with([](json& h) {
                 h["zzz.values"] = h["a.values"];
                 h.erase("a.values");
               }),
               ValueError, "sparse tensor 'a': its part 'a.values' is missing");
  // A plain tensor under the sparse tensor's own name.
  EXPECT_ERROR(load_with([](json& h) {
                 h["a"] = h["plain"];
                 h.erase("plain");
               }),
               ValueError, "sparse tensor 'a' clashes with a plain tensor");
  // Sizes that do not fit the indices or the values.
  EXPECT_ERROR(load_with([&](json& h) { describe(h, [](json& d) { d["a"]["size"] = json::parse("[2, 2]"); }); }),
               ValueError,
               "sparse tensor 'a': size is inconsistent with indices: for dim 1, size is 2 but found index 2");
  EXPECT_ERROR(
      load_with([&](json& h) { describe(h, [](json& d) { d["hybrid"]["size"] = json::parse("[2, 3, 5]"); }); }),
      ValueError, "sparse tensor 'hybrid': values has incorrect size");
  EXPECT_ERROR(load_with([&](json& h) { describe(h, [](json& d) { d["a"]["size"] = json::parse("[2, -3]"); }); }),
               ValueError, "sparse tensor 'a': size must hold non-negative integers");
  EXPECT_ERROR(load_with([&](json& h) { describe(h, [](json& d) { d["a"].erase("size"); }); }), ValueError,
               "sparse tensor 'a': size must be an array");
  EXPECT_ERROR(load_with([&](json& h) { describe(h, [](json& d) { d["a"]["layout"] = "sparse_csr"; }); }), ValueError,
               "sparse tensor 'a': layout must be \"sparse_coo\"");
  // Marked coalesced but not: indices() would lie.
  EXPECT_ERROR(load_with([&](json& h) { describe(h, [](json& d) { d["dups"]["coalesced"] = true; }); }), ValueError,
               "sparse tensor 'dups': marked coalesced");
  // Indices of another dtype (the header says I32 for the same bytes, shape doubled).
  EXPECT_ERROR(load_with([](json& h) {
                 h["a.indices"]["dtype"] = "I32";
                 h["a.indices"]["shape"] = json::parse("[2, 6]");
               }),
               ValueError, "sparse tensor 'a': indices must be I64, got I32");
  EXPECT_ERROR(load_with([](json& h) { h["__metadata__"]["twig.sparse"] = "{not json"; }), ValueError,
               "__metadata__ entry 'twig.sparse' is not valid JSON");
  EXPECT_ERROR(load_with([](json& h) { h["__metadata__"]["twig.sparse"] = "[1]"; }), ValueError,
               "'twig.sparse' must be a JSON object");
}

// ---- NumPy alone rebuilds the dense arrays ------------------------------------------------------------

std::string python_with_numpy() {
  for (const char* py : {"python3", "/usr/bin/python3"}) {
    std::string cmd = std::string(py) + " -c 'import numpy' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

TEST(SparseIo, NumpyRebuildsTheDenseArrays) {
  std::string py = python_with_numpy();
  if (py.empty()) GTEST_SKIP() << "no python3 with NumPy";
  TempDir dir;
  nn::StateDict sd = sparse_tensors(/*with_scalar=*/false);
  sd.pop("plain");
  nn::StateDict dense;
  for (const auto& [name, t] : sd) dense.insert(name, t.to_dense());
  save_state_dict(sd, dir.file("sparse.safetensors"));
  save_state_dict(dense, dir.file("dense.safetensors"));
  std::string script = std::string(TWIG_FIXTURE_DIR) + "/../serialize/numpy_safetensors.py";
  std::string cmd =
      py + " " + script + " sparse " + dir.file("sparse.safetensors") + " " + dir.file("dense.safetensors");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // And the check can fail: a dense file that differs in one value.
  dense.at("dups").index_put_({0}, 1);
  save_state_dict(dense, dir.file("dense.safetensors"));
  EXPECT_NE(std::system((cmd + " >/dev/null").c_str()), 0) << cmd;
}

}  // namespace
}  // namespace twig::testing
