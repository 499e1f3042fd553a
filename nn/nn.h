// All of twig::nn (torch.nn): Module and its registries, parametrize, the layers, losses,
// F:: functional forms, init, twig::optim (SGD, Adam, AdamW) and twig::data (IDX reader,
// DataLoader, FashionMNIST). #include <twig/nn/nn.h>; <twig/twig.h> includes it.
#pragma once

#include "nn/activation.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/data.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/module.h"
#include "nn/normalization.h"
#include "nn/optim.h"
#include "nn/parametrize.h"
#include "nn/pooling.h"
#include "nn/rnn.h"
