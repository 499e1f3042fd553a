// All of twig::nn (torch.nn): Module and its registries, parametrize, the layers, losses,
// F:: functional forms, init, twig::optim (SGD, Adam, AdamW) and twig::data (IDX reader,
// DataLoader, FashionMNIST). #include <twig/nn/nn.h>; <twig/twig.h> includes it.
#pragma once

#include "twig/nn/activation.h"
#include "twig/nn/container.h"
#include "twig/nn/conv.h"
#include "twig/nn/data.h"
#include "twig/nn/dropout.h"
#include "twig/nn/embedding.h"
#include "twig/nn/functional.h"
#include "twig/nn/init.h"
#include "twig/nn/linear.h"
#include "twig/nn/loss.h"
#include "twig/nn/module.h"
#include "twig/nn/normalization.h"
#include "twig/nn/optim.h"
#include "twig/nn/parametrize.h"
#include "twig/nn/pooling.h"
#include "twig/nn/rnn.h"
