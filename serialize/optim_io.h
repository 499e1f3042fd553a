// Optimizer state to and from a file: torch.save(optimizer.state_dict()) for twig, keyed by
// parameter name instead of position.
//
//   serialize::save_optimizer(opt, *model, "opt.safetensors");
//   ... a new process, a fresh model and optimizer built the same way ...
//   serialize::load_optimizer(opt2, *model2, "opt.safetensors");   // training resumes exactly
//
// The file is safetensors: each per-parameter state tensor is "state.<parameter name>.<key>"
// (state.fc1.weight.exp_avg, state.fc1.weight.step, ...), and __metadata__["twig.optimizer"] holds
// JSON with the optimizer type, a format version and every parameter group's hyper-parameters
// (lr, betas, ..., a scheduler's initial_lr) with its parameters' names. Doubles are written so
// that they read back bit for bit.
#pragma once

#include <string>

#include "twig/nn/module.h"
#include "twig/nn/optim.h"
#include "twig/serialize/safetensors.h"

namespace twig::serialize {

// Names every optimizer parameter by the module's named_parameters() (ValueError for a parameter
// the module does not have). Atomic like save_state_dict: a failed save leaves any previous file.
void save_optimizer(const optim::Optimizer& optimizer, const nn::Module& module, const std::string& path,
                    const SaveOptions& options = {});
void save_optimizer(const optim::Optimizer& optimizer, const nn::NamedTensors& named_parameters,
                    const std::string& path, const SaveOptions& options = {});

// Reads the file and loads it into `optimizer`, matching parameters by name: each saved group
// must name exactly the parameters of the optimizer's group at the same position. Everything is
// validated before anything changes, so on any error (RuntimeError for I/O, ValueError for a
// malformed file, another optimizer type, unknown or missing names, wrong shapes) the optimizer
// is exactly as it was.
void load_optimizer(optim::Optimizer& optimizer, const nn::Module& module, const std::string& path);
void load_optimizer(optim::Optimizer& optimizer, const nn::NamedTensors& named_parameters, const std::string& path);

// "SGD", "Adam", "AdamW" (the Python class name), or "Optimizer" for another subclass.
std::string optimizer_type_name(const optim::Optimizer& optimizer);

}  // namespace twig::serialize
