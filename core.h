// twig_core alone: tensors, ops, random numbers, threads and autograd, without nn/, prune/ and
// serialize/. #include <twig/core.h>; <twig/twig.h> includes it and everything else.
#pragma once

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
