#include "twig/ao/extended_patterns.h"

#include <string>
#include <vector>

#include "twig/ao/prune_functions.h"
#include "twig/nn/conv.h"
#include "twig/nn/linear.h"
#include "twig/nn/pooling.h"
#include "twig/tensor/error.h"

namespace twig::ao {

namespace {

using E = PatternElement;

// The shape a node produced in the tracing run (empty when it was no tensor).
Shape traced_shape(const MatchedItem& item) {
  const nn::Value& v = item.node->example();
  return v.is_tensor() && v.tensor().defined() ? v.tensor().sizes() : Shape();
}

// The activations of PyTorch's table, in its order: the middle elements of its (Linear, A, Linear).
std::vector<E> table_activations(const PatternTable& table) {
  const E linear = E::module<nn::Linear>();
  std::vector<E> out;
  for (const auto& [pattern, fn] : table.entries()) {
    if (pattern.size() == 3 && pattern[0] == linear && pattern[2] == linear) out.push_back(pattern[1]);
  }
  return out;
}

// (Conv2d, ..., F, Linear): checks that the flatten turns the (N, C, H, W) map of the conv's C
// channels into the Linear's C*H*W columns, then converts with the activation (if any) applied to
// the propagated biases.
void convert_flatten_linear(const std::vector<MatchedItem>& m, int activation_at) {
  TWIG_CHECK(m.size() >= 3, ValueError, "prune_conv2d_activation_pool_flatten_linear takes at least 3 matched nodes");
  nn::Conv2d& conv = m.front().module_as<nn::Conv2d>();
  nn::Linear& linear = m.back().module_as<nn::Linear>();
  const MatchedItem& flatten = m[m.size() - 2];
  const Shape in = traced_shape(m[m.size() - 3]), out = traced_shape(flatten);
  const int64_t channels = conv.options.out_channels_;
  const int64_t columns = linear.options.in_features_;
  TWIG_CHECK(
      in.size() == 4 && in[1] == channels && out.size() == 2 && out[1] == in[1] * in[2] * in[3] && columns == out[1],
      ValueError, "structured pruning: '", flatten.node->name(), "' must flatten the (N, ", channels,
      ", H, W) map of '", m.front().node->name(), "' into the ", columns, " inputs of '", m.back().node->name(),
      "'; it turns ", in, " into ", out);
  Activation activation = activation_at > 0 ? m[static_cast<size_t>(activation_at)].as_function() : Activation();
  prune_conv2d_activation_pool_flatten_linear(conv, activation, Activation(), flatten.as_function(), linear);
}

}  // namespace

PatternTable extended_patterns() {
  PatternTable table = default_patterns();
  const E linear = E::module<nn::Linear>();
  const E conv = E::module<nn::Conv2d>();
  const std::vector<E> activations = table_activations(table);
  const std::vector<E> pools = {E::module<nn::AvgPool2d>(),         E::fn("avg_pool2d"),
                                E::module<nn::MaxPool2d>(),         E::fn("max_pool2d"),
                                E::module<nn::AdaptiveAvgPool2d>(), E::fn("adaptive_avg_pool2d"),
                                E::module<nn::AdaptiveMaxPool2d>(), E::fn("adaptive_max_pool2d")};
  const std::vector<E> flattens = {E::module<nn::Flatten>(), E::fn("flatten")};

  // Patterns PyTorch's table has keep its function.
  auto add = [&table](const Pattern& pattern, ConvertFn fn) {
    if (!table.contains(pattern)) table.set(pattern, std::move(fn));
  };
  for (const E& act : activations) {
    add({linear, act, E::output()},
        [](const std::vector<MatchedItem>& m) { prune_linear(m[0].module_as<nn::Linear>()); });
    add({conv, act, E::output()},
        [](const std::vector<MatchedItem>& m) { prune_conv2d(m[0].module_as<nn::Conv2d>()); });
  }
  for (const E& flatten : flattens) {
    add({conv, flatten, linear}, [](const std::vector<MatchedItem>& m) { convert_flatten_linear(m, -1); });
    for (const E& pool : pools)
      add({conv, pool, flatten, linear}, [](const std::vector<MatchedItem>& m) { convert_flatten_linear(m, -1); });
    for (const E& act : activations) {
      add({conv, act, flatten, linear}, [](const std::vector<MatchedItem>& m) { convert_flatten_linear(m, 1); });
      for (const E& pool : pools) {
        add({conv, act, pool, flatten, linear},
            [](const std::vector<MatchedItem>& m) { convert_flatten_linear(m, 1); });
        add({conv, pool, act, flatten, linear},
            [](const std::vector<MatchedItem>& m) { convert_flatten_linear(m, 2); });
      }
    }
  }
  return table;
}

}  // namespace twig::ao
