// Files for a sparsifier's state_dict(): tensors (masks, tensor-valued state) in a safetensors
// file, everything else (groups, plain state values) as JSON in its __metadata__.
#pragma once

#include <optional>
#include <string>

#include "twig/nn/object.h"

namespace twig::ao {

// Python pickles functions by qualified name; these files store a function (an ActivationSparsifier's
// aggregate_fn, reduce_fn, mask_fn) by the name it was registered under, and loading gives back the
// very Object registered. Registering a name again replaces its function. ValueError for an empty
// name, TypeError for an fn that is not a function.
void register_function(const std::string& name, const nn::Object& fn);
// The name fn (by identity) was registered under, or nullopt.
std::optional<std::string> registered_function_name(const nn::Object& fn);
// The function registered as name, or nullopt.
std::optional<nn::Object> registered_function(const std::string& name);

// Writes sd (a BaseSparsifier's or ActivationSparsifier's state_dict()) to `path` atomically: a
// failure leaves an existing file untouched. Values may be None, bool, int, float, str, Tensor
// (sparse COO too), registered functions, tuples and dicts of these (a module, a hook handle or an
// unregistered function is a TypeError naming its key).
void save_sparsifier_state(const nn::Dict& sd, const std::string& path);
// Reads a file written by save_sparsifier_state: the same structure, tensors with their dtype,
// shape and values (tuples come back as tuples, ints as ints, floats as floats, sparse tensors
// sparse, functions as the very registered Object; an unknown function name is a ValueError).
nn::Dict load_sparsifier_state(const std::string& path);

}  // namespace twig::ao
