// Data loading: IDX files (MNIST / Fashion-MNIST), datasets and a batching DataLoader.
//
//   data::FashionMNIST train_set("/usr/share/datasets/fashion-mnist", true);
//   data::DataLoader loader(train_set, 64, /*shuffle=*/true);
//   for (const auto& batch : loader) { ... batch.input (64, 1, 28, 28), batch.target (64) ... }
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "twig/tensor/random.h"
#include "twig/tensor/tensor.h"

namespace twig::data {

// Reads an IDX file (plain or gzip-compressed, by content): a tensor with the file's shape and
// dtype (uint8 -> UInt8, int8 / int16 / int32 -> Int32, float -> Float32, double -> Float64).
// RuntimeError naming the path when the file is missing or malformed (bad magic, unknown type
// code, truncated data, trailing bytes).
Tensor read_idx(const std::string& path);
// Writes t (UInt8, Int32, Float32 or Float64) as IDX; gzip-compressed when gzip is true.
void write_idx(const std::string& path, const Tensor& t, bool gzip = false);

struct Example {
  Tensor input;
  Tensor target;
};

// torch.utils.data.Dataset: a size and indexed examples.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // IndexError when i is outside [0, size()).
  virtual Example get(int64_t i) const = 0;
};

// Examples are rows of two tensors with the same first dimension.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor inputs, Tensor targets);
  int64_t size() const override { return inputs_.size(0); }
  Example get(int64_t i) const override;
  const Tensor& inputs() const { return inputs_; }
  const Tensor& targets() const { return targets_; }

 private:
  Tensor inputs_;   // (N, ...)
  Tensor targets_;  // (N, ...)
};

// Fashion-MNIST from the four IDX files under root (…-idx3-ubyte[.gz], …-idx1-ubyte[.gz]).
// Images float32 (N, 1, 28, 28) in [0, 1], labels int64 (N) in 0..9. A missing root is a
// RuntimeError naming the path and the Debian package that installs it.
class FashionMNIST : public TensorDataset {
 public:
  static constexpr const char* kDefaultRoot = "/usr/share/datasets/fashion-mnist";
  explicit FashionMNIST(const std::string& root = kDefaultRoot, bool train = true);
};

struct Batch {
  Tensor input;   // (B, ...)
  Tensor target;  // (B, ...)
};

// Batches of batch_size examples, stacked along a new dim 0. With shuffle, each pass (each
// begin()) draws a new permutation from a Generator seeded once with `seed`, so runs repeat.
// A TensorDataset is batched with one index_select per tensor; other datasets stack get(i).
// The loader refers to the dataset (no copy): keep the dataset alive while iterating.
class DataLoader {
 public:
  DataLoader(const Dataset& dataset, int64_t batch_size = 1, bool shuffle = false, bool drop_last = false,
             uint64_t seed = 0);

  class Iterator {
   public:
    Iterator(const DataLoader* loader, Tensor order, int64_t batch)
        : loader_(loader), order_(std::move(order)), batch_(batch) {}
    Batch operator*() const;
    Iterator& operator++() {
      ++batch_;
      return *this;
    }
    bool operator==(const Iterator& other) const { return batch_ == other.batch_; }
    bool operator!=(const Iterator& other) const { return batch_ != other.batch_; }

   private:
    const DataLoader* loader_;
    Tensor order_;  // (N) int64 sample order of this pass
    int64_t batch_;
  };

  // Starts a pass (a new shuffle when shuffle is on).
  Iterator begin();
  Iterator end() const { return Iterator(this, Tensor(), size()); }
  // Number of batches per pass.
  int64_t size() const;
  // The examples at `indices` (int64 (B)) stacked into a batch.
  Batch collate(const Tensor& indices) const;

  int64_t batch_size() const { return batch_size_; }

 private:
  const Dataset& dataset_;
  const TensorDataset* tensor_dataset_;  // the fast path, when the dataset is one
  int64_t batch_size_;
  bool shuffle_;
  bool drop_last_;
  Generator gen_;
};

}  // namespace twig::data
