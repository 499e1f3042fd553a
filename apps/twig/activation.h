// `twig eval --activation-sparsity LEVELS`: torch.ao's ActivationSparsifier on the inputs of a
// model's Linear layers, calibrated on training batches, then evaluated on the test set.
//
// For each level s, a copy of the model gets an ActivationSparsifier on the chosen Linear layers
// (features None: one mask entry per input feature) with the functions of PyTorch's own test:
//   aggregate_fn(agg, x) = agg + |x|        (a running sum over the calibration batches)
//   reduce_fn(data)      = data.mean(0) / N (the mean |x| of each input feature over the N*B
//                                            calibration examples)
//   mask_fn(data, sparsity_level = s)       the test's vanilla norm sparsifier: a float mask of
//                                           ones with the round-half-even(s * features) smallest
//                                           mean |x| zeroed (a stable sort: ties by index)
// A calibration pass runs the first N batches of B training images (in file order, no shuffle;
// the mask is made at the first forward with the batch's shape, so every batch is a full one),
// then step() computes the masks and squash_mask() attaches the sparsify pre-hooks: each layer's
// input is multiplied by its mask from then on (and in a saved whole-module file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "twig/nn/data.h"
#include "twig/nn/module.h"

namespace twig::cli {

struct ActivationRequest {
  std::vector<double> levels;         // sparsity levels, each in [0, 1]
  std::vector<std::string> layers;    // the Linear layers sparsified (empty: every one)
  int64_t calibration_batches = 100;  // N
  int64_t batch_size = 64;            // B
};

// The model's Linear layers by name, in registration order.
std::vector<std::string> linear_layers(nn::Module& model);

// What can be checked against the model before any work, as a message for a usage error (empty
// when fine): a model without Linear layers, a named layer the model does not have, one that is
// not a Linear layer, a layer named twice.
std::string check_activation_layers(nn::Module& model, const std::vector<std::string>& layers);

struct SparsifiedModel {
  nn::ModulePtr model;        // the hooked copy
  std::vector<Tensor> masks;  // each layer's mask (in_features), float 0/1, as its hook applies it
};

// A copy of model whose `layers` have their sparsify pre-hooks at `level`, calibrated on the first
// `batches` full batches of `batch_size` examples of `train` (ValueError when it has fewer).
// The model is not changed.
SparsifiedModel sparsify_activations(const nn::Module& model, const std::vector<std::string>& layers, double level,
                                     const data::Dataset& train, int64_t batches, int64_t batch_size);

struct ActivationRow {
  double level = 0;
  double accuracy = 0;              // test accuracy of the hooked model
  std::vector<double> mask_zeros;   // per layer: the fraction of its mask that is zero
  std::vector<double> input_zeros;  // per layer: the fraction of its test-set inputs that are zero, as it sees
                                    // them (after the mask; at level 0 the ReLU's own zeros)
};

// Test accuracy of a hooked model (sparsify_activations) and the zeros its layers see.
ActivationRow evaluate_activations(const SparsifiedModel& sparsified, const std::vector<std::string>& layers,
                                   const data::Dataset& test);

}  // namespace twig::cli
