// Everything a twig user needs: #include <twig/twig.h>. Tensors and autograd (<twig/core.h>),
// twig::nn with twig::optim and twig::data (<twig/nn/nn.h>), twig::prune (<twig/prune/prune.h>)
// twig::serialize (<twig/serialize/serialize.h>) and twig::ao, torch.ao.pruning (<twig/ao/ao.h>);
// include those for less.
#pragma once

#include "twig/ao/ao.h"
#include "twig/core.h"
#include "twig/nn/nn.h"
#include "twig/prune/prune.h"
#include "twig/serialize/serialize.h"
