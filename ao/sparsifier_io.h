// Files for a sparsifier's state_dict(): tensors (masks, tensor-valued state) in a safetensors
// file, everything else (groups, plain state values) as JSON in its __metadata__.
#pragma once

#include <string>

#include "twig/nn/object.h"

namespace twig::ao {

// Writes sd (a BaseSparsifier::state_dict()) to `path` atomically: a failure leaves an existing
// file untouched. Values may be None, bool, int, float, str, Tensor, tuples and dicts of these
// (a module or function is a TypeError naming its key).
void save_sparsifier_state(const nn::Dict& sd, const std::string& path);
// Reads a file written by save_sparsifier_state: the same structure, tensors with their dtype,
// shape and values (tuples come back as tuples, ints as ints, floats as floats).
nn::Dict load_sparsifier_state(const std::string& path);

}  // namespace twig::ao
