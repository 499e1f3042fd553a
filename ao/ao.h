// twig::ao, PyTorch's torch.ao.pruning: the traced graph of a forward, BaseSparsifier and its
// WeightNorm / NearlyDiagonal sparsifiers, FakeSparsity, the sparsity schedulers, and sparsifier
// state files. #include <twig/ao/ao.h> (twig.h includes it).
#pragma once

#include "twig/ao/base_sparsifier.h"
#include "twig/ao/nearly_diagonal_sparsifier.h"
#include "twig/ao/scheduler.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/ao/utils.h"
#include "twig/ao/weight_norm_sparsifier.h"
