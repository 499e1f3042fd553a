// twig_core alone: tensors, ops, random numbers, threads and autograd, without nn/, prune/ and
// serialize/. #include <twig/core.h>; <twig/twig.h> includes it and everything else.
#pragma once

#include "twig/autograd/engine.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/gradcheck.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/backend.h"
#include "twig/tensor/error.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"
#include "twig/tensor/tensor.h"
#include "twig/tensor/warning.h"

namespace twig {

// Registers the backends this build has, explicitly: call it once at start-up, before the first
// tensor on a device other than the CPU. The CPU backend needs nothing (the registry installs it on
// first use); a build with cuda/ registers a CUDA backend per visible GPU here (cuda::init()).
// Calling it again does nothing more.
inline void init() { (void)registered_devices(); }

}  // namespace twig
