// All of twig::serialize: safetensors state dicts (save_file / load_file), whole-module files
// (save_module / load_module) and the type registry user modules and hooks register with.
// #include <twig/serialize/serialize.h>; <twig/twig.h> includes it.
#pragma once

#include "twig/serialize/module_io.h"
#include "twig/serialize/registry.h"
#include "twig/serialize/safetensors.h"
