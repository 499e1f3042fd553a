#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "testing.h"
#include "twig/nn/data.h"

using namespace twig;
using namespace twig::data;

namespace {

// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("twig_data_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes, bool gzip) {
  gzFile f = gzopen(path.c_str(), gzip ? "wb" : "wbT");
  ASSERT_NE(f, nullptr);
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

template <typename E>
void expect_error_containing(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no throw; expected " << needle;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(DataIdx, RoundTripPlainAndGzip) {
  TempDir dir;
  Generator g(1);
  TensorList samples = {randint(0, 256, {5, 4, 3}, kInt64, &g).to(kUInt8),
                        randint(-1000, 1000, {7}, kInt64, &g).to(kInt32), randn({2, 3}, kFloat32, &g),
                        randn({4}, kFloat64, &g)};
  for (const Tensor& t : samples) {
    for (bool gz : {false, true}) {
      std::string path = dir.file(std::string("x.idx") + (gz ? ".gz" : ""));
      write_idx(path, t, gz);
      Tensor back = read_idx(path);
      EXPECT_EQ(back.dtype(), t.dtype());
      EXPECT_TENSOR_EQ(back, t);
    }
  }
  // The gzip file really is compressed (magic 1f 8b), the plain one starts with the IDX magic.
  write_idx(dir.file("a.gz"), samples[0], true);
  write_idx(dir.file("a"), samples[0], false);
  std::ifstream gz(dir.file("a.gz"), std::ios::binary), plain(dir.file("a"), std::ios::binary);
  EXPECT_EQ(gz.get(), 0x1f);
  EXPECT_EQ(plain.get(), 0x00);
}

TEST(DataIdx, HandWrittenBigEndianFile) {
  TempDir dir;
  // int16 (0x0B), shape (2, 2): 1, -2, 258, 32767 big-endian.
  write_bytes(dir.file("h.idx"), {0, 0, 0x0B, 2, 0, 0, 0, 2, 0, 0, 0, 2, 0, 1, 0xFF, 0xFE, 1, 2, 0x7F, 0xFF}, false);
  Tensor t = read_idx(dir.file("h.idx"));
  EXPECT_EQ(t.dtype(), kInt32);
  EXPECT_TENSOR_EQ(t, tensor({{1, -2}, {258, 32767}}, kInt32));
}

TEST(DataIdx, MalformedFilesRaiseTypedErrors) {
  TempDir dir;
  expect_error_containing<RuntimeError>([&] { read_idx(dir.file("missing.gz")); },
                                        "apt-get install dataset-fashion-mnist");
  expect_error_containing<RuntimeError>([&] { read_idx(dir.file("missing.gz")); }, dir.file("missing.gz"));
  for (bool gz : {false, true}) {
    SCOPED_TRACE(gz ? "gzip" : "plain");
    write_bytes(dir.file("bad_magic"), {1, 0, 8, 1, 0, 0, 0, 1, 7}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("bad_magic")); }, "bad IDX magic");
    write_bytes(dir.file("bad_type"), {0, 0, 0x0A, 1, 0, 0, 0, 1, 7}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("bad_type")); }, "bad IDX magic");
    write_bytes(dir.file("short_header"), {0, 0}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("short_header")); }, "too short");
    write_bytes(dir.file("short_dims"), {0, 0, 8, 3, 0, 0, 0, 2, 0, 0}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("short_dims")); }, "truncated");
    write_bytes(dir.file("short_data"), {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("short_data")); }, "is truncated: shape [2, 3]");
    write_bytes(dir.file("trailing"), {0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3}, gz);
    expect_error_containing<RuntimeError>([&] { read_idx(dir.file("trailing")); }, "trailing bytes");
  }
}

TEST(DataDataset, TensorDatasetAndErrors) {
  TensorDataset ds(arange(10, kFloat32).reshape({5, 2}), arange(5, kInt64));
  EXPECT_EQ(ds.size(), 5);
  Example e = ds.get(3);
  EXPECT_TENSOR_EQ(e.input, tensor({6.0f, 7.0f}));
  EXPECT_EQ(e.target.item<int64_t>(), 3);
  EXPECT_THROW(ds.get(5), IndexError);
  EXPECT_THROW(ds.get(-1), IndexError);
  EXPECT_THROW(TensorDataset(zeros({3, 2}), zeros({4})), ValueError);
}

namespace {
// A dataset that is not a TensorDataset: exercises the generic stacking path.
class Squares : public Dataset {
 public:
  explicit Squares(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    return {full({2}, static_cast<double>(i), kFloat32), scalar_tensor(i * i, kInt64)};
  }

 private:
  int64_t n_;
};

std::vector<int64_t> all_targets(DataLoader& loader) {
  std::vector<int64_t> out;
  for (const Batch& b : loader) {
    auto v = b.target.to_vector<int64_t>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}
}  // namespace

TEST(DataLoader, BatchCountsAndShapes) {
  TensorDataset ds(randn({10, 3, 2}), arange(10, kInt64));
  DataLoader keep(ds, 4);
  EXPECT_EQ(keep.size(), 3);
  std::vector<Shape> shapes;
  for (const Batch& b : keep) {
    shapes.push_back(b.input.sizes());
    EXPECT_EQ(b.target.size(0), b.input.size(0));
  }
  EXPECT_EQ(shapes, (std::vector<Shape>{{4, 3, 2}, {4, 3, 2}, {2, 3, 2}}));
  EXPECT_EQ(all_targets(keep), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));  // no shuffle: in order

  DataLoader drop(ds, 4, false, true);
  EXPECT_EQ(drop.size(), 2);
  int64_t n = 0;
  for (const Batch& b : drop) {
    EXPECT_EQ(b.input.size(0), 4);
    ++n;
  }
  EXPECT_EQ(n, 2);
  DataLoader exact(ds, 5, false, true);
  EXPECT_EQ(exact.size(), 2);
  DataLoader big(ds, 64, false, true);
  EXPECT_EQ(big.size(), 0);
  EXPECT_TRUE(big.begin() == big.end());
  EXPECT_THROW(DataLoader(ds, 0), ValueError);
}

TEST(DataLoader, ShuffleIsASeededPermutationPerEpoch) {
  TensorDataset ds(arange(100, kFloat32).reshape({100, 1}), arange(100, kInt64));
  DataLoader a(ds, 8, true, false, 42), b(ds, 8, true, false, 42), c(ds, 8, true, false, 7);
  std::vector<int64_t> a1 = all_targets(a), a2 = all_targets(a), b1 = all_targets(b), c1 = all_targets(c);
  EXPECT_EQ(a1, b1);  // same seed, same order
  EXPECT_NE(a1, a2);  // a new permutation each epoch
  EXPECT_EQ(a2, all_targets(b));
  EXPECT_NE(a1, c1);
  std::vector<int64_t> sorted = a1;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> expected(100);
  for (int64_t i = 0; i < 100; ++i) expected[static_cast<size_t>(i)] = i;
  EXPECT_EQ(sorted, expected);  // every index exactly once
  // Inputs travel with their targets.
  for (const Batch& batch : a) EXPECT_TENSOR_EQ(batch.input.squeeze(1), batch.target.to(kFloat32));
}

TEST(DataLoader, GenericDatasetStacks) {
  Squares ds(7);
  DataLoader loader(ds, 3, true, false, 1);
  int64_t seen = 0;
  for (const Batch& b : loader) {
    EXPECT_EQ(b.input.dim(), 2);
    EXPECT_EQ(b.input.size(1), 2);
    EXPECT_TENSOR_EQ(b.input.select(1, 0).to(kInt64).pow(2), b.target);
    seen += b.target.size(0);
  }
  EXPECT_EQ(seen, 7);
}

TEST(DataFashionMNIST, RealFiles) {
  const std::string root = FashionMNIST::kDefaultRoot;
  if (!std::filesystem::is_directory(root))
    GTEST_SKIP() << root << " is absent (apt-get install dataset-fashion-mnist)";
  FashionMNIST train(root, true);
  EXPECT_EQ(train.inputs().sizes(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(train.inputs().dtype(), kFloat32);
  EXPECT_EQ(train.targets().sizes(), (Shape{60000}));
  EXPECT_EQ(train.targets().dtype(), kInt64);
  EXPECT_EQ(train.targets().min().item<int64_t>(), 0);
  EXPECT_EQ(train.targets().max().item<int64_t>(), 9);
  EXPECT_GE(train.inputs().min().item<float>(), 0.0f);
  EXPECT_LE(train.inputs().max().item<float>(), 1.0f);
  EXPECT_EQ(train.inputs().max().item<float>(), 1.0f);
  // Balanced classes: 6000 each.
  EXPECT_EQ(train.targets().eq(3).count_nonzero().item<int64_t>(), 6000);
  FashionMNIST test(root, false);
  EXPECT_EQ(test.size(), 10000);
  DataLoader loader(test, 64, true);
  EXPECT_EQ(loader.size(), 157);
  Batch b = *loader.begin();
  EXPECT_EQ(b.input.sizes(), (Shape{64, 1, 28, 28}));
}

TEST(DataFashionMNIST, MissingRootNamesThePackage) {
  expect_error_containing<RuntimeError>([] { FashionMNIST("/nonexistent/fashion"); }, "dataset-fashion-mnist");
}
