// twig::ao, PyTorch's torch.ao.pruning: the traced graph of a forward, BaseSparsifier and its
// WeightNorm / NearlyDiagonal sparsifiers, the ActivationSparsifier, FakeSparsity, the sparsity schedulers, sparsifier
// state files, and structured pruning (BaseStructuredSparsifier, the Saliency / LSTMSaliency / FPGM pruners and the
// functions that shrink a model). #include <twig/ao/ao.h> (twig.h includes it).
#pragma once

#include "twig/ao/activation_sparsifier.h"
#include "twig/ao/base_sparsifier.h"
#include "twig/ao/base_structured_sparsifier.h"
#include "twig/ao/extended_patterns.h"
#include "twig/ao/fake_structured_sparsity.h"
#include "twig/ao/graph.h"
#include "twig/ao/nearly_diagonal_sparsifier.h"
#include "twig/ao/prune_functions.h"
#include "twig/ao/pruners.h"
#include "twig/ao/scheduler.h"
#include "twig/ao/sparsifier_io.h"
#include "twig/ao/utils.h"
#include "twig/ao/weight_norm_sparsifier.h"
