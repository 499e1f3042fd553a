// twig_core alone: tensors, ops, random numbers, threads and autograd, without nn/, prune/ and
// serialize/. #include <twig/core.h>; <twig/twig.h> includes it and everything else.
#pragma once

#include "twig/autograd/engine.h"
#include "twig/autograd/grad_mode.h"
#include "twig/autograd/gradcheck.h"
#include "twig/autograd/ops/ops.h"
#include "twig/tensor/error.h"
#include "twig/tensor/parallel.h"
#include "twig/tensor/random.h"
#include "twig/tensor/tensor.h"
#include "twig/tensor/warning.h"
