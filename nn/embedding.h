// Embedding: a lookup table of num_embeddings rows of embedding_dim, read through get("weight").
#pragma once

#include <memory>
#include <optional>

#include "twig/nn/module.h"

namespace twig::nn {

// weight (num_embeddings, embedding_dim) ~ N(0, 1), the padding row zeroed. The padding row gets
// no gradient. A negative padding_idx counts from the end, as in PyTorch.
class Embedding : public UnaryModule {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt);
  Tensor forward(const Tensor& indices) override;
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t num_embeddings;
  int64_t embedding_dim;
  std::optional<int64_t> padding_idx;

 protected:
  ModulePtr clone_instance() const override;
};

}  // namespace twig::nn
