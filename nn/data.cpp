// IDX reading/writing through zlib (gzread reads plain files unchanged), datasets, DataLoader.
#include "twig/nn/data.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "twig/autograd/grad_mode.h"
#include "twig/autograd/ops/ops.h"

namespace twig::data {

namespace {

constexpr const char* kInstallHint = " (Fashion-MNIST is installed by `apt-get install dataset-fashion-mnist`)";

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// Reads exactly n bytes; false on a short read.
bool read_exact(gzFile f, void* dst, size_t n) {
  auto* p = static_cast<unsigned char*>(dst);
  while (n > 0) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
    int got = gzread(f, p, chunk);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

// IDX type code -> (bytes per element in the file, twig dtype).
struct IdxType {
  int bytes;
  Dtype dtype;
};
bool idx_type(unsigned char code, IdxType& out) {
  switch (code) {
    case 0x08:
      out = {1, kUInt8};
      return true;
    case 0x09:
      out = {1, kInt32};
      return true;  // int8, widened
    case 0x0B:
      out = {2, kInt32};
      return true;  // int16, widened
    case 0x0C:
      out = {4, kInt32};
      return true;
    case 0x0D:
      out = {4, kFloat32};
      return true;
    case 0x0E:
      out = {8, kFloat64};
      return true;
    default:
      return false;
  }
}

// Big-endian element i of `bytes` width from raw into dst (native order).
void byteswap_copy(const unsigned char* src, unsigned char* dst, int64_t n, int width) {
  for (int64_t i = 0; i < n; ++i)
    for (int b = 0; b < width; ++b) dst[i * width + b] = src[i * width + (width - 1 - b)];
}

}  // namespace

Tensor read_idx(const std::string& path) {
  TWIG_CHECK(std::filesystem::exists(path), RuntimeError, "read_idx: no such file: ", path, kInstallHint);
  GzFile f(gzopen(path.c_str(), "rb"));
  TWIG_CHECK(f != nullptr, RuntimeError, "read_idx: cannot open ", path);
  unsigned char magic[4];
  TWIG_CHECK(read_exact(f.get(), magic, 4), RuntimeError, "read_idx: ", path, " is too short for an IDX header");
  IdxType type{};
  TWIG_CHECK(magic[0] == 0 && magic[1] == 0 && idx_type(magic[2], type) && magic[3] >= 1, RuntimeError,
             "read_idx: ", path, " has a bad IDX magic number (bytes ", int(magic[0]), " ", int(magic[1]), " ",
             int(magic[2]), " ", int(magic[3]), "; expected 0 0 <type code 0x08..0x0E> <ndim >= 1>)");
  Shape shape;
  int64_t numel = 1;
  for (int d = 0; d < magic[3]; ++d) {
    unsigned char b[4];
    TWIG_CHECK(read_exact(f.get(), b, 4), RuntimeError, "read_idx: ", path, " is truncated in its dimension sizes");
    int64_t size = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | int64_t{b[3]};
    shape.push_back(size);
    numel *= size;
  }
  TWIG_CHECK(numel <= (int64_t{1} << 36), RuntimeError, "read_idx: ", path, " declares an implausible shape ", shape);
  std::vector<unsigned char> raw(static_cast<size_t>(numel * type.bytes));
  TWIG_CHECK(read_exact(f.get(), raw.data(), raw.size()), RuntimeError, "read_idx: ", path, " is truncated: shape ",
             shape, " needs ", raw.size(), " data bytes");
  unsigned char extra;
  TWIG_CHECK(gzread(f.get(), &extra, 1) == 0, RuntimeError, "read_idx: ", path, " has trailing bytes after shape ",
             shape);

  Tensor out = empty(shape, type.dtype);
  if (numel == 0) return out;
  switch (magic[2]) {
    case 0x08:
      std::memcpy(out.data_ptr<uint8_t>(), raw.data(), raw.size());
      break;
    case 0x09: {
      int32_t* dst = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < numel; ++i) dst[i] = static_cast<int8_t>(raw[static_cast<size_t>(i)]);
      break;
    }
    case 0x0B: {
      std::vector<int16_t> tmp(static_cast<size_t>(numel));
      byteswap_copy(raw.data(), reinterpret_cast<unsigned char*>(tmp.data()), numel, 2);
      int32_t* dst = out.data_ptr<int32_t>();
      for (int64_t i = 0; i < numel; ++i) dst[i] = tmp[static_cast<size_t>(i)];
      break;
    }
    default:
      byteswap_copy(raw.data(), static_cast<unsigned char*>(out.raw_data_ptr()), numel, type.bytes);
      break;
  }
  return out;
}

void write_idx(const std::string& path, const Tensor& t, bool gzip) {
  unsigned char code = 0;
  switch (t.dtype()) {
    case kUInt8:
      code = 0x08;
      break;
    case kInt32:
      code = 0x0C;
      break;
    case kFloat32:
      code = 0x0D;
      break;
    case kFloat64:
      code = 0x0E;
      break;
    default:
      TWIG_THROW(TypeError, "write_idx: unsupported dtype ", dtype_tensor_name(t.dtype()));
  }
  TWIG_CHECK(t.dim() >= 1 && t.dim() <= 255, ValueError, "write_idx: need 1..255 dims, got ", t.dim());
  std::vector<unsigned char> bytes = {0, 0, code, static_cast<unsigned char>(t.dim())};
  for (int64_t s : t.sizes()) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<unsigned char>((s >> shift) & 0xFF));
  }
  Tensor c = t.detach().contiguous();
  const int width = static_cast<int>(c.element_size());
  const size_t header = bytes.size();
  bytes.resize(header + c.nbytes());
  byteswap_copy(static_cast<const unsigned char*>(c.raw_data_ptr()), bytes.data() + header, c.numel(), width);
  GzFile f(gzopen(path.c_str(), gzip ? "wb" : "wbT"));  // "T": write uncompressed
  TWIG_CHECK(f != nullptr, RuntimeError, "write_idx: cannot open ", path, " for writing");
  TWIG_CHECK(gzwrite(f.get(), bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()),
             RuntimeError, "write_idx: short write to ", path);
}

// ---- datasets --------------------------------------------------------------------------------

TensorDataset::TensorDataset(Tensor inputs, Tensor targets) : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  TWIG_CHECK(inputs_.defined() && targets_.defined() && inputs_.dim() >= 1 && targets_.dim() >= 1, ValueError,
             "TensorDataset: inputs and targets must be tensors with at least one dim");
  TWIG_CHECK(inputs_.size(0) == targets_.size(0), ValueError, "Size mismatch between tensors: inputs have ",
             inputs_.size(0), " rows, targets ", targets_.size(0));
}

Example TensorDataset::get(int64_t i) const {
  TWIG_CHECK(i >= 0 && i < size(), IndexError, "index ", i, " is out of range for a dataset of size ", size());
  return {inputs_[i], targets_[i]};
}

namespace {

std::string idx_path(const std::string& root, const std::string& stem) {
  std::string plain = root + "/" + stem;
  if (std::filesystem::exists(plain + ".gz")) return plain + ".gz";
  TWIG_CHECK(std::filesystem::exists(plain), RuntimeError, "FashionMNIST: ", root, " has neither ", stem, ".gz nor ",
             stem, kInstallHint);
  return plain;
}

Tensor load_images(const std::string& root, bool train) {
  TWIG_CHECK(std::filesystem::is_directory(root), RuntimeError, "FashionMNIST: dataset directory ", root,
             " does not exist", kInstallHint);
  Tensor raw = read_idx(idx_path(root, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte"));
  TWIG_CHECK(raw.dim() == 3 && raw.dtype() == kUInt8, RuntimeError,
             "FashionMNIST: images must be uint8 (N, H, W), got ", raw.sizes());
  NoGradGuard no_grad;
  return raw.to(kFloat32).div_(255.0).unsqueeze(1).contiguous();
}

Tensor load_labels(const std::string& root, bool train) {
  Tensor raw = read_idx(idx_path(root, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte"));
  TWIG_CHECK(raw.dim() == 1, RuntimeError, "FashionMNIST: labels must be 1-D, got ", raw.sizes());
  return raw.to(kInt64);
}

}  // namespace

FashionMNIST::FashionMNIST(const std::string& root, bool train)
    : TensorDataset(load_images(root, train), load_labels(root, train)) {}

// ---- DataLoader ------------------------------------------------------------------------------

DataLoader::DataLoader(const Dataset& dataset, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed)
    : dataset_(dataset),
      tensor_dataset_(dynamic_cast<const TensorDataset*>(&dataset)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      drop_last_(drop_last),
      gen_(seed) {
  TWIG_CHECK(batch_size >= 1, ValueError,
             "batch_size should be a positive integer value, but got batch_size=", batch_size);
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

DataLoader::Iterator DataLoader::begin() {
  const int64_t n = dataset_.size();
  Tensor order = shuffle_ ? randperm(n, kInt64, &gen_) : arange(n, kInt64);
  return Iterator(this, order, 0);
}

Batch DataLoader::Iterator::operator*() const {
  const int64_t n = order_.size(0), bs = loader_->batch_size();
  const int64_t start = batch_ * bs;
  return loader_->collate(order_.narrow(0, start, std::min(bs, n - start)));
}

Batch DataLoader::collate(const Tensor& indices) const {
  NoGradGuard no_grad;
  if (tensor_dataset_ != nullptr) {
    return {tensor_dataset_->inputs().index_select(0, indices), tensor_dataset_->targets().index_select(0, indices)};
  }
  TensorList inputs, targets;
  for (int64_t i : indices.to_vector<int64_t>()) {
    Example e = dataset_.get(i);
    inputs.push_back(e.input);
    targets.push_back(e.target);
  }
  return {stack(inputs), stack(targets)};
}

}  // namespace twig::data
