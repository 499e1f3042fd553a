// libFuzzer target: any bytes through the safetensors parser and, when they parse and carry a
// module tree, through the whole-module loader. A twig::Error is the expected outcome for a bad
// file; anything else (a crash, a sanitizer report, another exception type) is a bug.
#include <cstddef>
#include <cstdint>
#include <new>

#include "twig/serialize/module_io.h"
#include "twig/serialize/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    twig::serialize::SafetensorsFile f = twig::serialize::from_safetensors_bytes(data, size);
    if (f.metadata.count(twig::serialize::kModuleTreeKey)) {
      twig::nn::ModulePtr m = twig::serialize::module_from_file_contents(f);
      (void)m->state_dict();
    }
  } catch (const twig::Error&) {
  }
  return 0;
}
