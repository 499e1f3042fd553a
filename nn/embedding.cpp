#include "twig/nn/embedding.h"

#include "twig/autograd/function.h"
#include "twig/autograd/ops/ops.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/tensor/trace.h"

namespace twig::nn {

namespace functional {

// out[..., :] = weight[indices[...], :], one recorded node. The backward scatters the gradient rows
// into a zero (V, D) matrix with index_add_ and zeroes the padding row.
Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  trace::Scope scope;
  TWIG_CHECK(indices.defined() && (indices.dtype() == kInt64 || indices.dtype() == kInt32), RuntimeError,
             "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
             "but got ",
             indices.defined() ? dtype_tensor_name(indices.dtype()) : "None", " instead");
  TWIG_CHECK(weight.defined() && weight.dim() == 2, RuntimeError, "'weight' must be 2-D, got ",
             weight.defined() ? weight.sizes() : Shape{});
  const int64_t v = weight.size(0), d = weight.size(1);
  std::optional<int64_t> pad = padding_idx;
  if (pad && *pad < 0) *pad += v;
  TWIG_CHECK(!pad || (*pad >= 0 && *pad < v), AssertionError, "Padding_idx must be within num_embeddings");
  Tensor idx = indices.to(kInt64).reshape({-1});
  if (idx.numel() > 0) {
    int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    TWIG_CHECK(lo >= 0 && hi < v, IndexError, "index out of range in self (got index ", lo < 0 ? lo : hi, " for ", v,
               " embeddings)");
  }
  Shape out_shape = indices.sizes();
  out_shape.push_back(d);
  Tensor out = weight.detach().index_select(0, idx).reshape(out_shape);
  autograd::record("EmbeddingBackward0", {weight}, {out},
                   [sidx = autograd::SavedTensor(idx), v, d, pad](const TensorList& g, const autograd::Node&) {
                     Tensor g2 = g[0].reshape({-1, d});
                     Tensor gw = zeros({v, d}, g2.dtype());
                     gw.index_add_(0, sidx.get(), g2);
                     if (pad) gw.select(0, *pad).zero_();
                     return TensorList{gw};
                   });
  if (scope.recording()) [[unlikely]]
    scope.record1("embedding", {indices, weight}, {{"padding_idx", trace::repr(padding_idx)}}, out,
                  [padding_idx](const TensorList& in) { return embedding(in[0], in[1], padding_idx); });
  return out;
}

}  // namespace functional

Embedding::Embedding(int64_t num_embeddings_, int64_t embedding_dim_, std::optional<int64_t> padding_idx_)
    : UnaryModule("Embedding"),
      num_embeddings(num_embeddings_),
      embedding_dim(embedding_dim_),
      padding_idx(padding_idx_) {
  TWIG_CHECK(num_embeddings >= 0 && embedding_dim >= 0, ValueError, "Embedding: num_embeddings=", num_embeddings,
             " and embedding_dim=", embedding_dim, " must be non-negative");
  if (padding_idx) {
    TWIG_CHECK(*padding_idx < num_embeddings && *padding_idx >= -num_embeddings, AssertionError,
               "Padding_idx must be within num_embeddings");
    if (*padding_idx < 0) *padding_idx += num_embeddings;
  }
  register_parameter("weight", empty({num_embeddings, embedding_dim}));
  reset_parameters();
}

void Embedding::reset_parameters() {
  Tensor w = get("weight");
  init::normal_(w, 0.0, 1.0);
  if (padding_idx) w.detach().select(0, *padding_idx).zero_();
}

Tensor Embedding::forward(const Tensor& indices) { return F::embedding(indices, get("weight"), padding_idx); }

std::string Embedding::extra_repr() const {
  std::string s = detail::str_cat(num_embeddings, ", ", embedding_dim);
  if (padding_idx) s += detail::str_cat(", padding_idx=", *padding_idx);
  return s;
}

// Copies for clone(); out of line so no user translation unit instantiates make_shared for them.
ModulePtr Embedding::clone_instance() const { return std::make_shared<Embedding>(*this); }

}  // namespace twig::nn
